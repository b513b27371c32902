/*
 * Throughput statistics: percentiles, the cumulative counters and the
 * window that each report resets, the line format, resizing.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
/* daemon/ modules are not in a library: the test compiles its module in */
#include "../../daemon/log.c"
#include "../../daemon/stats.c"

static void test_percentile(void)
{
	uint32_t v[100];

	CHECK_INT_EQ(stats_percentile(v, 0, 50), 0);
	v[0] = 7;
	CHECK_INT_EQ(stats_percentile(v, 1, 50), 7);
	CHECK_INT_EQ(stats_percentile(v, 1, 99), 7);
	/* 1..100 shuffled: nearest rank gives p50 = 50, p99 = 99 */
	for (uint32_t i = 0; i < 100; i++) {
		v[i] = (i * 37) % 100 + 1;
	}
	CHECK_INT_EQ(stats_percentile(v, 100, 50), 50);
	CHECK_INT_EQ(stats_percentile(v, 100, 99), 99);
	CHECK_INT_EQ(stats_percentile(v, 100, 100), 100);
	CHECK_INT_EQ(stats_percentile(v, 100, 0), 1);
	uint32_t w[4] = { 40, 10, 30, 20 };
	CHECK_INT_EQ(stats_percentile(w, 4, 50), 20);
	CHECK_INT_EQ(stats_percentile(w, 4, 75), 30);
	CHECK_INT_EQ(stats_percentile(w, 4, 76), 40);
}

/* Run stats_report with stderr captured into @out. */
static void report_to(struct stats *st, uint64_t now, char *out, size_t cap)
{
	const char *path = tl_path("report.txt");
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	stats_report(st, now);
	dup2(saved, STDERR_FILENO);
	close(saved);
	size_t len = 0;
	uint8_t *data = tl_read(path, &len);
	CHECK(data);
	if (len >= cap) {
		len = cap - 1;
	}
	memcpy(out, data, len);
	out[len] = '\0';
	free(data);
}

static void test_window(void)
{
	struct stats st;
	char out[4096];
	const uint64_t s = 1000000000ull;

	CHECK_INT_EQ(stats_init(&st, 2, 100 * s), 0);
	CHECK_INT_EQ(st.n_workers, 2);
	CHECK(st.workers[1].id == 1 && st.workers[1].cpu == -1);
	st.workers[0].cpu = 0;
	/* worker 0: 9 ok at 1..9 ms and 1 failure at 100 ms, 1 MB each */
	for (int i = 1; i <= 9; i++) {
		stats_record(&st, 0, true, 0, 1000000, 5000, (uint64_t)i * 1000);
	}
	stats_record(&st, 0, false, 1, 1000000, 0, 100000);
	stats_record(&st, 7, true, 0, 1, 1, 1);   /* no such slot: ignored */
	CHECK_INT_EQ(st.workers[0].done, 9);
	CHECK_INT_EQ(st.workers[0].failed, 1);
	CHECK_INT_EQ(st.workers[0].failed_by_fault[1], 1);
	CHECK_INT_EQ(st.workers[0].bytes_out, 45000);
	CHECK_INT_EQ(st.workers[0].win_n, 10);
	/* histogram: <=5 ms: 5 samples; <=10 ms: 4; <=100 ms: 1 */
	CHECK_INT_EQ(st.workers[0].lat_hist[0], 5);
	CHECK_INT_EQ(st.workers[0].lat_hist[1], 4);
	CHECK_INT_EQ(st.workers[0].lat_hist[4], 1);

	st.queued = 130;
	st.in_flight = 2;
	log_init();
	report_to(&st, 102 * s, out, sizeof(out));   /* a 2 s window */
	CHECK_STR_CONTAINS(out, "worker 0 cpu 0: done 9 failed 1, 5.0 img/s, "
		"5.0 MB/s in, p50 5.0 ms, p99 100 ms");
	CHECK_STR_CONTAINS(out, "worker 1 cpu -: done 0 failed 0, 0.0 img/s, "
		"0.0 MB/s in, p50 -, p99 -");
	CHECK_STR_CONTAINS(out, "total: 5.0 img/s, 130 queued, 2 in flight");
	CHECK(st.last_rate > 4.99 && st.last_rate < 5.01);

	/* the window starts again; the cumulative counts stay */
	CHECK_INT_EQ(st.workers[0].win_n, 0);
	CHECK_INT_EQ(st.workers[0].win_done, 0);
	CHECK_INT_EQ(st.workers[0].done, 9);
	stats_record(&st, 1, true, 0, 0, 0, 2500);
	report_to(&st, 103 * s, out, sizeof(out));
	CHECK_STR_CONTAINS(out, "worker 0 cpu 0: done 9 failed 1, 0.0 img/s");
	CHECK_STR_CONTAINS(out, "worker 1 cpu -: done 1 failed 0, 1.0 img/s, "
		"0.0 MB/s in, p50 2.5 ms, p99 2.5 ms");

	/* more samples than the window holds: the latest are kept */
	for (uint32_t i = 0; i < STATS_WINDOW_SAMPLES + 100; i++) {
		stats_record(&st, 0, true, 0, 0, 0, i < STATS_WINDOW_SAMPLES ?
			1000 : 50000);
	}
	CHECK_INT_EQ(st.workers[0].win_n, STATS_WINDOW_SAMPLES);
	CHECK_INT_EQ(stats_percentile(st.workers[0].win_lat_us,
		st.workers[0].win_n, 99), 50000);

	/* resizing keeps what exists */
	CHECK_INT_EQ(stats_resize(&st, 4), 0);
	CHECK_INT_EQ(st.workers[0].done, 9 + STATS_WINDOW_SAMPLES + 100);
	CHECK(st.workers[3].id == 3 && st.workers[3].done == 0);
	CHECK_INT_EQ(stats_resize(&st, 1), 0);
	CHECK_INT_EQ(st.n_workers, 1);
	stats_finish(&st);
	stats_finish(&st);   /* twice is fine */
}

int main(void)
{
	test_percentile();
	test_window();
	fprintf(stderr, "stats: all checks passed\n");
	return 0;
}
