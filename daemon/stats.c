#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void stats_worker_init(struct stats_worker *w, uint32_t id)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cpu = -1;
}

int stats_init(struct stats *st, uint32_t n_workers, uint64_t now_ns)
{
	struct stats s = { 0 };

	s.start_ns = now_ns;
	s.win_start_ns = now_ns;
	*st = s;
	if (stats_resize(st, n_workers) < 0) {
		*st = (struct stats){ 0 };
		return -ENOMEM;
	}
	return 0;
}

void stats_finish(struct stats *st)
{
	if (!st) {
		return;
	}
	free(st->workers);
	st->workers = NULL;
	st->n_workers = 0;
}

int stats_resize(struct stats *st, uint32_t n)
{
	if (n == st->n_workers) {
		return 0;
	}
	if (n == 0) {
		free(st->workers);
		st->workers = NULL;
		st->n_workers = 0;
		return 0;
	}
	struct stats_worker *w = realloc(st->workers, (size_t)n * sizeof(*w));
	if (!w) {
		return -ENOMEM;
	}
	for (uint32_t i = st->n_workers; i < n; i++) {
		stats_worker_init(&w[i], i);
	}
	st->workers = w;
	st->n_workers = n;
	return 0;
}

void stats_record(struct stats *st, uint32_t slot, bool ok, uint32_t fault,
		uint64_t bytes_in, uint64_t bytes_out, uint64_t latency_us)
{
	static const uint64_t bounds[] = STATS_LAT_BOUNDS_MS;
	struct stats_worker *w;

	if (slot >= st->n_workers) {
		return;
	}
	w = &st->workers[slot];
	if (ok) {
		w->done++;
		w->win_done++;
	} else {
		w->failed++;
		w->win_failed++;
		if (fault < STATS_FAULTS) {
			w->failed_by_fault[fault]++;
		}
	}
	w->bytes_in += bytes_in;
	w->bytes_out += bytes_out;
	w->win_bytes_in += bytes_in;
	w->lat_sum_us += latency_us;

	size_t b = 0;
	while (b < sizeof(bounds) / sizeof(bounds[0]) &&
			latency_us > bounds[b] * 1000) {
		b++;
	}
	w->lat_hist[b]++;

	/* past the cap, overwrite in a ring: the window keeps its most
	 * recent samples, which is what a report describes */
	uint64_t seen = w->win_done + w->win_failed;
	if (w->win_n < STATS_WINDOW_SAMPLES) {
		w->win_lat_us[w->win_n++] = latency_us > UINT32_MAX ?
			UINT32_MAX : (uint32_t)latency_us;
	} else {
		w->win_lat_us[(seen - 1) % STATS_WINDOW_SAMPLES] =
			latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
	}
}

static int stats_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t stats_percentile(uint32_t *v, uint32_t n, double p)
{
	if (n == 0) {
		return 0;
	}
	qsort(v, n, sizeof(*v), stats_cmp_u32);
	if (p <= 0) {
		return v[0];
	}
	if (p >= 100) {
		return v[n - 1];
	}
	/* nearest rank: the smallest value with at least p% at or below it */
	double rank = ceil(p / 100.0 * n);
	uint32_t i = rank < 1 ? 0 : (uint32_t)rank - 1;
	return v[i < n ? i : n - 1];
}

/* "38 ms", "2.5 ms" or "0.04 ms": small latencies need the decimals. */
static void stats_fmt_ms(char *buf, size_t cap, uint32_t us)
{
	double ms = us / 1000.0;
	if (ms < 1) {
		snprintf(buf, cap, "%.2f ms", ms);
	} else if (ms < 10) {
		snprintf(buf, cap, "%.1f ms", ms);
	} else {
		snprintf(buf, cap, "%.0f ms", ms);
	}
}

void stats_report(struct stats *st, uint64_t now_ns)
{
	double secs = (double)(now_ns - st->win_start_ns) / 1e9;
	uint64_t total = 0;

	if (secs <= 0) {
		secs = 1e-9;
	}
	for (uint32_t i = 0; i < st->n_workers; i++) {
		struct stats_worker *w = &st->workers[i];
		uint64_t n = w->win_done + w->win_failed;
		char cpu[16], p50[24], p99[24];

		if (w->cpu >= 0) {
			snprintf(cpu, sizeof(cpu), "%d", w->cpu);
		} else {
			snprintf(cpu, sizeof(cpu), "-");
		}
		if (w->win_n > 0) {
			stats_fmt_ms(p99, sizeof(p99),
				stats_percentile(w->win_lat_us, w->win_n, 99));
			stats_fmt_ms(p50, sizeof(p50),
				stats_percentile(w->win_lat_us, w->win_n, 50));
		} else {
			snprintf(p50, sizeof(p50), "-");
			snprintf(p99, sizeof(p99), "-");
		}
		log_info("worker %u cpu %s: done %llu failed %llu, %.1f img/s, "
			"%.1f MB/s in, p50 %s, p99 %s", w->id, cpu,
			(unsigned long long)w->done, (unsigned long long)w->failed,
			n / secs, w->win_bytes_in / secs / 1e6, p50, p99);
		total += n;
		w->win_done = 0;
		w->win_failed = 0;
		w->win_bytes_in = 0;
		w->win_n = 0;
	}
	st->last_rate = total / secs;
	log_info("total: %.1f img/s, %llu queued, %llu in flight", st->last_rate,
		(unsigned long long)st->queued, (unsigned long long)st->in_flight);
	st->win_start_ns = now_ns;
}
