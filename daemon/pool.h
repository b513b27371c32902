#ifndef THUMBD_POOL_H
#define THUMBD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proto.h"
#include "stats.h"

/*
 * The worker processes: prefork with uv_spawn of /proc/self/exe in worker
 * mode (worker.h), one socketpair each, up to POOL_DEPTH jobs in flight per
 * worker. A worker that dies or overruns the job timeout is replaced at
 * once (with a growing delay if a slot keeps dying young) and its jobs are
 * handed back to the caller; a worker is recycled after max_jobs jobs. The
 * pool never looks inside a job: the caller encodes it and gets it back.
 */

/* Jobs in flight per worker: the next one waits in the socket while the
 * current one runs, so the worker never idles for a round trip. */
#define POOL_DEPTH 2

struct pool;

struct pool_callbacks {
	/* Job @job finished on worker @slot; @res is valid during the call. */
	void (*result)(void *arg, uint32_t slot, void *job,
			const struct proto_result *res);
	/*
	 * Job @job was lost with its worker. @started: it was the job the
	 * worker was running (a suspect, count an attempt), else it was only
	 * waiting behind it. @why says what happened ("worker crashed
	 * (signal 11)", "timed out after 30 s").
	 */
	void (*lost)(void *arg, uint32_t slot, void *job, bool started,
			const char *why);
	/* Capacity became available: submit more jobs. */
	void (*idle)(void *arg);
	/* pool_stop() finished: every worker is gone, handles closed. */
	void (*stopped)(void *arg);
	/* Workers keep failing to start (POOL_GIVE_UP times in a row without
	 * one success), e.g. a sandbox the kernel refuses. The pool keeps
	 * trying with back-off; a batch run may rather give up. May be NULL. */
	void (*failing)(void *arg, const char *why);
};

#define POOL_GIVE_UP 5

struct pool_opts {
	uint32_t workers;
	bool cpu_affinity;
	uint64_t job_timeout_ms;
	uint32_t max_jobs;      /* per process before recycling, 0 = never */
	uint64_t memory;        /* worker RLIMIT_AS, 0 = unlimited */
	bool seccomp;
	struct stats *stats;    /* per-slot pid, cpu and restarts are kept here */
};

/* A pool with no slots yet (pool_configure() sets the worker count from
 * its opts; @opts->workers is not used here). Returns 0 or -ENOMEM. */
int pool_create(uv_loop_t *loop, const struct pool_opts *opts,
		const struct pool_callbacks *cb, void *arg, struct pool **out);

/* Free a pool whose pool_stop() has reported stopped (or that never
 * started). NULL is fine. */
void pool_destroy(struct pool *p);

/*
 * The folders workers may read and write (their Landlock roots). Workers
 * already running keep their old sandbox: call pool_recycle() after a
 * change. Returns 0 or -ENOMEM / -E2BIG.
 */
int pool_set_roots(struct pool *p, const char *const *read_roots,
		uint32_t n_read, const char *const *write_roots, uint32_t n_write);

/* Start a process in every slot. Returns 0 or a negative errno if none
 * could be started. */
int pool_start(struct pool *p);

/*
 * Reconfigure: worker count (slots are added or retired gracefully),
 * timeout, recycling, memory. Takes effect for new jobs and new processes.
 */
int pool_configure(struct pool *p, const struct pool_opts *opts);

/* Replace every process gracefully (finish jobs in flight first), e.g.
 * after the sandbox roots changed. */
void pool_recycle(struct pool *p);

/* True if some worker can take a job now. */
bool pool_has_capacity(const struct pool *p);

/*
 * Send the encoded JOB message @msg (@len bytes, id @id) to the least busy
 * ready worker, not to slot @avoid (-1: any) while another slot has a
 * process (a retried job goes to another worker). The pool remembers @job
 * until result() or lost(). Returns 0, -EBUSY if no worker can take it,
 * -EAGAIN if only @avoid could, or a negative errno.
 */
int pool_submit(struct pool *p, void *job, uint64_t id, const uint8_t *msg,
		size_t len, int avoid);

/* Jobs currently sent to workers. */
uint64_t pool_in_flight(const struct pool *p);

/* Number of configured worker slots. */
uint32_t pool_size(const struct pool *p);

/*
 * Stop: send no more jobs, let jobs in flight finish within @grace_ms,
 * then SIGTERM and (2 s later) SIGKILL what is left. Jobs still in flight
 * then are handed to lost(). Calls stopped() when all is closed.
 */
void pool_stop(struct pool *p, uint64_t grace_ms);

#endif
