#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"

/* Label values for thumbd_failures_total{reason}, by enum thumb_fault. */
static const char *const metrics_reasons[STATS_FAULTS] = {
	NULL, "input", "gone", "output", "internal",
};

static void metrics_head(FILE *f, const char *name, const char *type,
		const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A worker's cpu label: the pinned CPU, or "none" when not pinned. */
static const char *metrics_cpu(const struct stats_worker *w, char *buf,
		size_t cap)
{
	if (w->cpu < 0) {
		return "none";
	}
	snprintf(buf, cap, "%d", w->cpu);
	return buf;
}

/* Prometheus parses Go floats; keep non-finite values out of gauges. */
static double metrics_finite(double v)
{
	return isfinite(v) ? v : 0.0;
}

static void metrics_counters(FILE *f, const struct stats *st)
{
	char cpu[16];

	metrics_head(f, "thumbd_images_total", "counter",
		"Images processed, by worker slot and result.");
	for (uint32_t i = 0; i < st->n_workers; i++) {
		const struct stats_worker *w = &st->workers[i];
		const char *c = metrics_cpu(w, cpu, sizeof(cpu));
		fprintf(f, "thumbd_images_total{worker=\"%" PRIu32 "\",cpu=\"%s\","
			"result=\"ok\"} %" PRIu64 "\n", w->id, c, w->done);
		fprintf(f, "thumbd_images_total{worker=\"%" PRIu32 "\",cpu=\"%s\","
			"result=\"failed\"} %" PRIu64 "\n", w->id, c, w->failed);
	}
	metrics_head(f, "thumbd_failures_total", "counter",
		"Failed images, by worker slot and reason.");
	for (uint32_t i = 0; i < st->n_workers; i++) {
		const struct stats_worker *w = &st->workers[i];
		for (uint32_t r = 1; r < STATS_FAULTS; r++) {
			fprintf(f, "thumbd_failures_total{worker=\"%" PRIu32 "\","
				"reason=\"%s\"} %" PRIu64 "\n", w->id,
				metrics_reasons[r], w->failed_by_fault[r]);
		}
	}
	metrics_head(f, "thumbd_bytes_in_total", "counter",
		"Bytes of input images read.");
	for (uint32_t i = 0; i < st->n_workers; i++) {
		fprintf(f, "thumbd_bytes_in_total{worker=\"%" PRIu32 "\"} %" PRIu64
			"\n", st->workers[i].id, st->workers[i].bytes_in);
	}
	metrics_head(f, "thumbd_bytes_out_total", "counter",
		"Bytes of thumbnails written.");
	for (uint32_t i = 0; i < st->n_workers; i++) {
		fprintf(f, "thumbd_bytes_out_total{worker=\"%" PRIu32 "\"} %" PRIu64
			"\n", st->workers[i].id, st->workers[i].bytes_out);
	}
	metrics_head(f, "thumbd_worker_restarts_total", "counter",
		"Times the worker process of a slot was replaced.");
	for (uint32_t i = 0; i < st->n_workers; i++) {
		fprintf(f, "thumbd_worker_restarts_total{worker=\"%" PRIu32 "\"} %"
			PRIu64 "\n", st->workers[i].id, st->workers[i].restarts);
	}
}

/* stats keeps one count per bucket; Prometheus wants cumulative "le". */
static void metrics_histogram(FILE *f, const struct stats *st)
{
	static const unsigned bounds_ms[] = STATS_LAT_BOUNDS_MS;
	_Static_assert(sizeof(bounds_ms) / sizeof(bounds_ms[0]) ==
		STATS_LAT_BUCKETS - 1, "one bound per bucket but +Inf");

	metrics_head(f, "thumbd_job_duration_seconds", "histogram",
		"Time from dispatch to result of each job, by worker slot.");
	for (uint32_t i = 0; i < st->n_workers; i++) {
		const struct stats_worker *w = &st->workers[i];
		uint64_t cum = 0;
		for (uint32_t b = 0; b < STATS_LAT_BUCKETS; b++) {
			cum += w->lat_hist[b];
			if (b + 1 < STATS_LAT_BUCKETS) {
				fprintf(f, "thumbd_job_duration_seconds_bucket{worker=\"%"
					PRIu32 "\",le=\"%g\"} %" PRIu64 "\n", w->id,
					bounds_ms[b] / 1000.0, cum);
			} else {
				fprintf(f, "thumbd_job_duration_seconds_bucket{worker=\"%"
					PRIu32 "\",le=\"+Inf\"} %" PRIu64 "\n", w->id, cum);
			}
		}
		fprintf(f, "thumbd_job_duration_seconds_sum{worker=\"%" PRIu32
			"\"} %.6f\n", w->id, (double)w->lat_sum_us / 1e6);
		fprintf(f, "thumbd_job_duration_seconds_count{worker=\"%" PRIu32
			"\"} %" PRIu64 "\n", w->id, cum);
	}
}

/*
 * Wall-clock time of st->start_ns, which is on CLOCK_MONOTONIC. Worked out
 * once per start so the gauge does not wobble from one write to the next.
 */
static double metrics_start_time(const struct stats *st)
{
	static uint64_t for_start_ns;
	static double start_time;
	struct timespec mono, real;

	if (start_time > 0 && for_start_ns == st->start_ns) {
		return start_time;
	}
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	double mono_now = (double)mono.tv_sec + (double)mono.tv_nsec / 1e9;
	double real_now = (double)real.tv_sec + (double)real.tv_nsec / 1e9;
	for_start_ns = st->start_ns;
	start_time = real_now - (mono_now - (double)st->start_ns / 1e9);
	return start_time;
}

static void metrics_gauges(FILE *f, const struct stats *st)
{
	metrics_head(f, "thumbd_up", "gauge", "1 while thumbd is running.");
	fprintf(f, "thumbd_up 1\n");
	metrics_head(f, "thumbd_start_time_seconds", "gauge",
		"Start time of thumbd since the Unix epoch, in seconds.");
	fprintf(f, "thumbd_start_time_seconds %.3f\n", metrics_start_time(st));
	metrics_head(f, "thumbd_queue_depth", "gauge",
		"Inputs waiting for a worker.");
	fprintf(f, "thumbd_queue_depth %" PRIu64 "\n", st->queued);
	metrics_head(f, "thumbd_jobs_in_flight", "gauge",
		"Jobs being processed by a worker.");
	fprintf(f, "thumbd_jobs_in_flight %" PRIu64 "\n", st->in_flight);
	metrics_head(f, "thumbd_workers", "gauge", "Worker slots.");
	fprintf(f, "thumbd_workers %" PRIu32 "\n", st->n_workers);
	metrics_head(f, "thumbd_rate_images_per_second", "gauge",
		"Images per second over the last stats interval.");
	fprintf(f, "thumbd_rate_images_per_second %.3f\n",
		metrics_finite(st->last_rate));
}

/* The whole exposition in a malloc'd buffer. Returns 0 or -ENOMEM. */
static int metrics_format(const struct stats *st, char **buf, size_t *len)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&b, &n);

	if (!f) {
		return -ENOMEM;
	}
	metrics_gauges(f, st);
	metrics_counters(f, st);
	metrics_histogram(f, st);
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(b);
		return -ENOMEM;
	}
	*buf = b;
	*len = n;
	return 0;
}

static int metrics_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Write @data to @path through a temp file in the same directory: the
 * textfile collector must never read a half-written file, and it skips
 * names that do not end in ".prom", so the dot-temp name is never scraped.
 */
static int metrics_replace(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0;

	if (snprintf(tmp, sizeof(tmp), "%.*s%smetrics.XXXXXX", dirlen, path,
			ATOMIC_TMP_PREFIX) >= (int)sizeof(tmp)) {
		return -ENAMETOOLONG;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	/* mkostemp makes 0600; node_exporter runs as another user */
	int ret = fchmod(fd, 0644) < 0 ? -errno : 0;
	if (ret == 0) {
		ret = metrics_write_all(fd, data, len);
	}
	if (close(fd) < 0 && ret == 0) {
		ret = -errno;
	}
	if (ret == 0 && rename(tmp, path) < 0) {
		ret = -errno;
	}
	if (ret < 0) {
		unlink(tmp);
	}
	return ret;
}

int metrics_write(const char *path, const struct stats *st)
{
	char *buf;
	size_t len;

	if (!path || !path[0] || !st) {
		return -EINVAL;
	}
	int ret = metrics_format(st, &buf, &len);
	if (ret < 0) {
		return ret;
	}
	ret = metrics_replace(path, buf, len);
	free(buf);
	return ret;
}
