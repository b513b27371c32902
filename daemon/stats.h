#ifndef THUMBD_STATS_H
#define THUMBD_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Throughput counters, per worker slot and in total. The master records one
 * sample per finished job; stats_report() logs one line per worker and a
 * total line, and metrics.c writes the same figures for Prometheus.
 * Cumulative counters never go back; the "window" part is reset by each
 * report and gives the rates and percentiles of the last interval.
 */

/* Latency histogram upper bounds, in milliseconds; the last bucket is +Inf. */
#define STATS_LAT_BOUNDS_MS { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 }
#define STATS_LAT_BUCKETS 12
/* Latency samples kept per worker per window for p50/p99. */
#define STATS_WINDOW_SAMPLES 4096
/* Failure classes, indexed by enum thumb_fault (0 unused). */
#define STATS_FAULTS 5

struct stats_worker {
	uint32_t id;
	int cpu;                /* pinned CPU, -1 if not pinned */
	pid_t pid;              /* current process, 0 while none */
	uint64_t done;          /* cumulative successes */
	uint64_t failed;        /* cumulative failures, all classes */
	uint64_t failed_by_fault[STATS_FAULTS];
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t restarts;      /* times this slot's process was replaced */
	uint64_t lat_hist[STATS_LAT_BUCKETS]; /* cumulative, not "le" summed */
	uint64_t lat_sum_us;
	/* window since the last report */
	uint64_t win_done;
	uint64_t win_failed;
	uint64_t win_bytes_in;
	uint32_t win_n;         /* samples in win_lat_us (capped) */
	uint32_t win_lat_us[STATS_WINDOW_SAMPLES];
};

struct stats {
	struct stats_worker *workers;
	uint32_t n_workers;
	uint64_t queued;        /* set by the master before a report */
	uint64_t in_flight;
	uint64_t start_ns;      /* CLOCK_MONOTONIC at start */
	uint64_t win_start_ns;  /* start of the current window */
	double last_rate;       /* img/s over the last complete window */
};

/* Allocate counters for @n worker slots. Returns 0 or -ENOMEM. */
int stats_init(struct stats *st, uint32_t n_workers, uint64_t now_ns);
void stats_finish(struct stats *st);

/* Grow or shrink to @n slots, keeping existing counters. 0 or -ENOMEM. */
int stats_resize(struct stats *st, uint32_t n);

/* Record one finished job of worker slot @slot. */
void stats_record(struct stats *st, uint32_t slot, bool ok, uint32_t fault,
		uint64_t bytes_in, uint64_t bytes_out, uint64_t latency_us);

/*
 * Log one line per worker (id, cpu, done, failed, img/s, MB/s, p50, p99)
 * and a total line (img/s, queued, in flight), then start a new window.
 */
void stats_report(struct stats *st, uint64_t now_ns);

/* Percentile @p (0-100) of @n samples, in microseconds; sorts @v. */
uint32_t stats_percentile(uint32_t *v, uint32_t n, double p);

#endif
