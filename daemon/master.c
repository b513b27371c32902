#include "master.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "actions.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "pool.h"
#include "progress.h"
#include "proto.h"
#include "queue.h"
#include "scan.h"
#include "stats.h"
#include "watch.h"

/* Temp-file walks of output trees use ids apart from the input walks so
 * that cancelling a rescan never cancels a clean-up. */
#define MASTER_TEMPS_ID (1u << 31)
/* Output faults (disk full, permissions): first retry after this, then
 * doubling up to scan_interval. */
#define MASTER_RETRY_MIN_MS 5000
/* Attempts of a job whose worker died under it before it is given up. */
#define MASTER_MAX_ATTEMPTS 2

struct master_watch {
	uint32_t id;
	struct config_watch *cw;
	dev_t out_dev;      /* the output folder the workers were given */
	ino_t out_ino;
};

struct master_job {
	struct queue_item *item;
	uint64_t sent_ns;
};

enum {
	MASTER_SIG_TERM,
	MASTER_SIG_INT,
	MASTER_SIG_HUP,
	MASTER_SIG_USR1,
	MASTER_N_SIGS,
};

struct master {
	uv_loop_t loop;
	const struct master_opts *opts;
	struct config *cfg;
	struct master_watch watches[CONFIG_MAX_WATCHES];
	uint32_t n_watches;
	uint32_t next_watch_id;
	struct queue *queue;
	struct pool *pool;
	struct watcher *watcher;
	struct scanner *scanner;
	struct stats stats;
	struct progress *progress;
	struct progress_counts counts;
	uv_signal_t sigs[MASTER_N_SIGS];
	uv_timer_t stats_timer;
	uv_timer_t watchdog_timer;
	uv_timer_t retry_timer;
	uv_timer_t progress_timer;
	uint8_t *msg;               /* one encoded job */
	uint64_t next_job_id;
	uint64_t start_ns;
	int64_t start_real_ns;
	uint64_t retry_ms;
	uint64_t output_faults;     /* since the last retry round */
	bool once;
	bool stopping;
	bool paused;                /* queue full: events not read */
	bool full_said;             /* "queue full" logged since it was empty */
	bool metrics_failed;
	int exit_code;
};

static uint64_t master_now_ns(void)
{
	return uv_hrtime();
}

static int64_t master_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t master_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static struct master_watch *master_find_watch(struct master *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n_watches; i++) {
		if (m->watches[i].id == id) {
			return &m->watches[i];
		}
	}
	return NULL;
}

/* "input/rel" for logs and actions. */
static const char *master_path(const struct master_watch *mw, const char *rel,
		char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", mw->cw->input, rel);
	return buf;
}

static void master_stop(struct master *m, const char *why);
static void master_dispatch(struct master *m);
static void master_rescan_all(struct master *m);

/* ---- configuration -------------------------------------------------------- */

static int master_apply_overrides(struct config *cfg,
		const struct master_opts *o, bool watch_keys, char *err,
		size_t errlen)
{
	for (uint32_t i = 0; i < o->n_ov; i++) {
		const struct master_override *ov = &o->ov[i];
		if (ov->watch != watch_keys) {
			continue;
		}
		if (!watch_keys) {
			int r = config_set(cfg, NULL, ov->key, ov->value, ov->origin,
				err, errlen);
			if (r < 0) {
				return r;
			}
			continue;
		}
		for (uint32_t w = 0; w < cfg->n_watches; w++) {
			int r = config_set(cfg, cfg->watches[w], ov->key, ov->value,
				ov->origin, err, errlen);
			if (r < 0) {
				return r;
			}
		}
	}
	return 0;
}

int master_load_config(const struct master_opts *o, struct config **out,
		char *err, size_t errlen)
{
	struct config *cfg = config_create();
	int r;

	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* [daemon] options first: the file does not override them */
	if ((r = master_apply_overrides(cfg, o, false, err, errlen)) < 0) {
		goto fail;
	}
	if (o->config_path &&
			(r = config_parse_file(cfg, o->config_path, err, errlen)) < 0) {
		goto fail;
	}
	if (o->input || o->output) {
		struct config_watch *w = config_add_watch(cfg, "default");
		if (!w) {
			snprintf(err, errlen, "cannot add the -i/-o watch "
				"(out of memory or too many watches)");
			r = -ENOMEM;
			goto fail;
		}
		if ((o->input && (r = config_set(cfg, w, "input", o->input,
				"-i", err, errlen)) < 0) ||
				(o->output && (r = config_set(cfg, w, "output",
				o->output, "-o", err, errlen)) < 0)) {
			goto fail;
		}
	}
	if ((r = master_apply_overrides(cfg, o, true, err, errlen)) < 0 ||
			(r = config_finish(cfg, err, errlen)) < 0) {
		goto fail;
	}
	*out = cfg;
	return 0;
fail:
	config_destroy(cfg);
	return r;
}

static uint32_t master_cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
		return (uint32_t)CPU_COUNT(&set);
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (uint32_t)n : 1;
}

static uint32_t master_workers(const struct config *cfg)
{
	return cfg->daemon.workers ? cfg->daemon.workers : master_cpu_count();
}

static void master_pool_opts(struct master *m, struct pool_opts *po)
{
	const struct config_daemon *d = &m->cfg->daemon;

	memset(po, 0, sizeof(*po));
	po->workers = master_workers(m->cfg);
	po->cpu_affinity = d->cpu_affinity;
	po->job_timeout_ms = d->job_timeout_ms;
	po->max_jobs = d->max_jobs_per_worker;
	po->memory = d->worker_memory;
	po->seccomp = true;
	po->stats = &m->stats;
}

/* mkdir -p @path; workers may write only below folders that exist when
 * they confine themselves. */
static int master_mkdirs(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		return -ENAMETOOLONG;
	}
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
				return -errno;
			}
			*p = c;
			if (!c) {
				return 0;
			}
		}
	}
}

/* Tell the pool which folders its workers may read and write. */
static int master_set_roots(struct master *m)
{
	const char *rd[CONFIG_MAX_WATCHES], *wr[CONFIG_MAX_WATCHES];
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->n_watches; i++) {
		const struct config_watch *cw = m->watches[i].cw;
		struct stat st;
		int r = master_mkdirs(cw->output);
		if (r < 0) {
			log_error("cannot create output folder %s: %s",
				log_path(cw->output), strerror(-r));
		}
		if (stat(cw->output, &st) == 0) {
			m->watches[i].out_dev = st.st_dev;
			m->watches[i].out_ino = st.st_ino;
		}
		rd[n] = cw->input;
		wr[n] = cw->output;
		n++;
	}
	return pool_set_roots(m->pool, rd, n, wr, n);
}

/* ---- queueing ----------------------------------------------------------- */

static void master_backpressure(struct master *m)
{
	if (m->paused) {
		return;
	}
	m->paused = true;
	if (m->watcher) {
		watch_pause(m->watcher);
	}
	/* a big backlog fills the queue again after each drain: say it once */
	if (!m->full_said) {
		m->full_said = true;
		log_warning("queue full (%" PRIu64 " paths): no longer reading "
			"events; everything is rescanned once it drains",
			queue_length(m->queue));
	} else {
		log_debug("queue full again (%" PRIu64 " paths)",
			queue_length(m->queue));
	}
}

/* Lift the back-pressure once the queue is half empty. */
static void master_check_drained(struct master *m)
{
	if (!m->paused && queue_length(m->queue) == 0 &&
			(!m->scanner || scan_active(m->scanner) == 0)) {
		m->full_said = false;
	}
	if (!m->paused || m->stopping ||
			queue_length(m->queue) > m->cfg->daemon.max_queue / 2) {
		return;
	}
	m->paused = false;
	if (m->watcher) {
		watch_resume(m->watcher);
	}
	if (queue_take_rescan(m->queue)) {
		if (m->full_said) {
			log_debug("queue drained to %" PRIu64 ": rescanning every "
				"watch", queue_length(m->queue));
		}
		master_rescan_all(m);
	}
}

static void master_push(struct master *m, struct master_watch *mw,
		const char *rel, bool changed)
{
	int r = queue_push(m->queue, mw->id, rel, changed);

	if (r == 0) {
		m->counts.total++;
		master_dispatch(m);
	} else if (r == -ENOBUFS) {
		master_backpressure(m);
	} else if (r == -ENOMEM) {
		log_error("out of memory queueing %s/%s", log_path(mw->cw->input),
			log_path(rel));
	}
}

/*
 * A scan found @rel, or it settled: queue it if it is wanted, not known
 * bad, and lacks up-to-date thumbnails. A file modified within settle_ms
 * may still be being written: the watcher looks again once it is quiet.
 */
static void master_consider(struct master *m, struct master_watch *mw,
		const char *rel, const struct stat *st, bool settled)
{
	const struct config_watch *cw = mw->cw;

	if (!config_watch_wants(cw, rel) ||
			queue_fail_known(m->queue, mw->id, rel,
				(uint64_t)st->st_size, master_mtime_ns(st)) ||
			!scan_needs_work(cw, rel, st)) {
		return;
	}
	if (!settled && m->watcher && master_realtime_ns() -
			master_mtime_ns(st) < (int64_t)m->cfg->daemon.settle_ms * 1000000) {
		watch_settle(m->watcher, mw->id, rel);
		return;
	}
	master_push(m, mw, rel, false);
}

static void master_rescan(struct master *m, struct master_watch *mw)
{
	if (!m->scanner) {
		return;
	}
	scan_cancel(m->scanner, mw->id);
	if (scan_start(m->scanner, mw->id, SCAN_INPUTS, mw->cw->input, "",
			mw->cw->recursive, 0) < 0) {
		log_error("out of memory starting a scan of %s",
			log_path(mw->cw->input));
	}
}

static void master_rescan_all(struct master *m)
{
	for (uint32_t i = 0; i < m->n_watches; i++) {
		master_rescan(m, &m->watches[i]);
	}
}

/* ---- outcomes ----------------------------------------------------------- */

static void master_once_check(struct master *m);

/* An input that cannot be thumbnailed: say so once per version of the
 * file, remember it so rescans leave it alone, apply on_failure. */
static void master_input_failed(struct master *m, struct master_watch *mw,
		const char *rel, const char *reason, bool quarantine)
{
	char path[PATH_MAX + 8];
	struct stat st;

	m->counts.failed++;
	master_path(mw, rel, path, sizeof(path));
	if (lstat(path, &st) < 0) {
		memset(&st, 0, sizeof(st));
	}
	int r = queue_fail_add(m->queue, mw->id, rel, (uint64_t)st.st_size,
		master_mtime_ns(&st));
	if (r == 0) {
		return;
	}
	log_warning("failed %s: %s", log_path(path), log_path(reason));
	if (quarantine) {
		actions_failure(mw->cw, rel);
	}
}

/*
 * An output folder removed (or replaced) under us cannot be written by the
 * workers, whose Landlock rules name the old one: recreate it and renew the
 * workers. Checked when outputs fail, so the retry can succeed.
 */
static void master_check_outputs(struct master *m)
{
	bool renew = false;

	for (uint32_t i = 0; i < m->n_watches; i++) {
		struct master_watch *mw = &m->watches[i];
		struct stat st;
		if (stat(mw->cw->output, &st) == 0 && st.st_dev == mw->out_dev &&
				st.st_ino == mw->out_ino) {
			continue;
		}
		log_warning("output folder %s was removed or replaced; "
			"recreating it", log_path(mw->cw->output));
		renew = true;
	}
	if (renew && master_set_roots(m) == 0) {
		pool_recycle(m->pool);
	}
}

static void master_retry_cb(uv_timer_t *t)
{
	struct master *m = t->data;

	if (m->output_faults > 1) {
		log_warning("%" PRIu64 " inputs could not be written since the last "
			"retry; retrying now", m->output_faults);
	}
	m->output_faults = 0;
	uint64_t max = m->cfg->daemon.scan_interval_ms ?
		m->cfg->daemon.scan_interval_ms : 60000;
	m->retry_ms = m->retry_ms * 2 > max ? max : m->retry_ms * 2;
	master_rescan_all(m);
}

/* Outputs could not be written (disk full, permissions): keep the input,
 * log the first of a round, and rescan after a back-off. */
static void master_output_fault(struct master *m, struct master_watch *mw,
		const char *rel, const char *reason)
{
	char path[PATH_MAX + 8];

	if (m->once) {
		m->counts.failed++;
		log_warning("failed %s: %s", log_path(master_path(mw, rel, path,
			sizeof(path))), log_path(reason));
		return;
	}
	if (m->output_faults == 0) {
		master_check_outputs(m);
	}
	if (m->output_faults++ == 0) {
		/* name the folder: that is what the operator has to fix */
		char dir[PATH_MAX + 8];
		const char *slash = strrchr(rel, '/');
		if (slash) {
			snprintf(dir, sizeof(dir), "%s/%.*s", mw->cw->output,
				(int)(slash - rel), rel);
		} else {
			snprintf(dir, sizeof(dir), "%s", mw->cw->output);
		}
		log_warning("cannot write the thumbnails of %s into %s: %s; the "
			"input is kept and retried in %" PRIu64 " s",
			log_path(master_path(mw, rel, path, sizeof(path))),
			log_path(dir), log_path(reason), m->retry_ms / 1000);
	}
	if (!uv_is_active((uv_handle_t *)&m->retry_timer)) {
		uv_timer_start(&m->retry_timer, master_retry_cb, m->retry_ms, 0);
	}
}

static void master_outcome(struct master *m, struct master_watch *mw,
		struct queue_item *it, uint32_t fault, const char *reason)
{
	char path[PATH_MAX + 8];

	switch (fault) {
	case THUMB_FAULT_NONE:
		m->counts.done++;
		m->retry_ms = MASTER_RETRY_MIN_MS;
		queue_fail_forget(m->queue, mw->id, it->rel);
		if (!it->rerun) {
			actions_success(mw->cw, it->rel);
		}
		break;
	case THUMB_FAULT_GONE:
		m->counts.skipped++;
		log_debug("%s went away before it could be read: %s",
			log_path(master_path(mw, it->rel, path, sizeof(path))),
			log_path(reason));
		break;
	case THUMB_FAULT_OUTPUT:
		master_output_fault(m, mw, it->rel, reason);
		break;
	case THUMB_FAULT_INPUT:
		master_input_failed(m, mw, it->rel, reason, !it->rerun);
		break;
	default:
		/* out of memory and the like: not the file's fault, so no
		 * quarantine, but remembered so rescans do not loop on it */
		master_input_failed(m, mw, it->rel, reason, false);
		break;
	}
}

static void master_on_result(void *arg, uint32_t slot, void *jobp,
		const struct proto_result *r)
{
	struct master *m = arg;
	struct master_job *job = jobp;
	struct queue_item *it = job->item;
	struct master_watch *mw = master_find_watch(m, it->watch);

	stats_record(&m->stats, slot, r->status == 0, r->res.fault,
		r->res.bytes_in, r->res.bytes_out, r->job_ns / 1000);
	if (mw) {
		master_outcome(m, mw, it, r->res.fault, r->res.error);
	}
	queue_done(m->queue, it);
	free(job);
	master_check_drained(m);
	master_once_check(m);
}

static void master_on_lost(void *arg, uint32_t slot, void *jobp, bool started,
		const char *why)
{
	struct master *m = arg;
	struct master_job *job = jobp;
	struct queue_item *it = job->item;
	struct master_watch *mw = master_find_watch(m, it->watch);
	char path[PATH_MAX + 8];
	uint64_t latency_us = (master_now_ns() - job->sent_ns) / 1000;

	free(job);
	if (started && mw) {
		/* the dead worker cannot remove its half-written temp files */
		scan_clean_job_temps(mw->cw, it->rel);
	}
	if (m->stopping || !mw) {
		queue_done(m->queue, it);
		return;
	}
	if (!started) {
		queue_retry(m->queue, it);
		return;
	}
	it->avoid_slot = (int32_t)slot;
	if (++it->attempts < MASTER_MAX_ATTEMPTS) {
		log_info("retrying %s on another worker (%s)",
			log_path(master_path(mw, it->rel, path, sizeof(path))), why);
		queue_retry(m->queue, it);
		return;
	}
	char reason[200];
	snprintf(reason, sizeof(reason), "%s twice", why);
	stats_record(&m->stats, slot, false, THUMB_FAULT_INPUT, 0, 0, latency_us);
	master_input_failed(m, mw, it->rel, reason, true);
	queue_done(m->queue, it);
	master_once_check(m);
}

static void master_on_idle(void *arg)
{
	master_dispatch(arg);
}

static void master_close_all(struct master *m);

static void master_on_failing(void *arg, const char *why)
{
	struct master *m = arg;

	if (m->once) {
		log_error("workers cannot start (%s): giving up", log_path(why));
		m->exit_code = 1;
		master_stop(m, NULL);
	} else {
		log_error("workers keep failing to start (%s); still trying",
			log_path(why));
	}
}

static void master_on_stopped(void *arg)
{
	master_close_all(arg);
}

static void master_dispatch(struct master *m)
{
	/* retried jobs that must wait for a worker other than the one that
	 * lost them; they go back to the front afterwards, in order */
	struct queue_item *deferred[8];
	uint32_t n_deferred = 0;

	if (m->stopping) {
		return;
	}
	while (pool_has_capacity(m->pool)) {
		struct queue_item *it = queue_pop(m->queue);
		if (!it) {
			break;
		}
		struct master_watch *mw = master_find_watch(m, it->watch);
		struct master_job *job = mw ? malloc(sizeof(*job)) : NULL;
		if (!job) {
			queue_done(m->queue, it);
			continue;
		}
		struct proto_job pj = {
			.id = ++m->next_job_id,
			.in_root = mw->cw->input,
			.rel = it->rel,
			.out_root = mw->cw->output,
			.spec = mw->cw->spec,
		};
		if (actions_need_durable(mw->cw)) {
			pj.spec.durable = true;
		}
		size_t len;
		int r = proto_encode_job(&pj, m->msg, PROTO_MAX_MSG, &len);
		if (r < 0) {
			free(job);
			master_input_failed(m, mw, it->rel, r == -EMSGSIZE ?
				"path too long" : "path not acceptable", false);
			queue_done(m->queue, it);
			continue;
		}
		job->item = it;
		job->sent_ns = master_now_ns();
		r = pool_submit(m->pool, job, pj.id, m->msg, len, it->avoid_slot);
		if (r == -EAGAIN && n_deferred < sizeof(deferred) / sizeof(deferred[0])) {
			free(job);
			deferred[n_deferred++] = it;
			continue;
		}
		if (r < 0) {
			free(job);
			queue_retry(m->queue, it);
			break;
		}
	}
	while (n_deferred > 0) {
		queue_retry(m->queue, deferred[--n_deferred]);
	}
	master_check_drained(m);
}

/* ---- --once -------------------------------------------------------------- */

static void master_progress_cb(uv_timer_t *t)
{
	struct master *m = t->data;
	m->counts.scanning = m->scanner && scan_active(m->scanner) > 0;
	progress_update(m->progress, &m->counts, master_now_ns());
}

/* In --once mode: stop when the scans are done and nothing is left. */
static void master_once_check(struct master *m)
{
	if (!m->once || m->stopping || !m->scanner ||
			scan_active(m->scanner) > 0 || queue_length(m->queue) > 0 ||
			queue_in_flight(m->queue) > 0) {
		return;
	}
	uint64_t now = master_now_ns();
	m->counts.scanning = false;
	progress_summary(m->progress, &m->counts, now);
	m->stats.queued = 0;
	m->stats.in_flight = 0;
	stats_report(&m->stats, now);
	m->exit_code = m->counts.failed > 0 ? 1 : 0;
	master_stop(m, NULL);
}

/* ---- callbacks of the watcher and the scanner ----------------------------- */

static bool master_w_wants(void *arg, uint32_t root, const char *rel)
{
	struct master_watch *mw = master_find_watch(arg, root);
	return mw && config_watch_wants(mw->cw, rel);
}

static void master_w_file(void *arg, uint32_t root, const char *rel,
		bool settled)
{
	struct master *m = arg;
	struct master_watch *mw = master_find_watch(m, root);
	char path[PATH_MAX + 8];
	struct stat st;

	if (!mw || lstat(master_path(mw, rel, path, sizeof(path)), &st) < 0) {
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		log_info("%s is a symbolic link: skipped", log_path(path));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		return;
	}
	if (settled) {
		master_consider(m, mw, rel, &st, true);
		return;
	}
	if (queue_fail_known(m->queue, mw->id, rel, (uint64_t)st.st_size,
			master_mtime_ns(&st))) {
		return;
	}
	master_push(m, mw, rel, true);
}

static void master_w_dir(void *arg, uint32_t root, const char *rel)
{
	struct master *m = arg;
	struct master_watch *mw = master_find_watch(m, root);

	if (mw && m->scanner && scan_start(m->scanner, mw->id, SCAN_INPUTS,
			mw->cw->input, rel, mw->cw->recursive, 0) < 0) {
		log_error("out of memory starting a scan of %s/%s",
			log_path(mw->cw->input), log_path(rel));
	}
}

static void master_w_rescan(void *arg, uint32_t root)
{
	struct master *m = arg;

	if (root == WATCH_ALL) {
		master_rescan_all(m);
		return;
	}
	struct master_watch *mw = master_find_watch(m, root);
	if (mw) {
		master_rescan(m, mw);
	}
}

static void master_w_root_back(void *arg, uint32_t root)
{
	struct master *m = arg;
	(void)root;

	/* the workers' Landlock rules name the old folder: renew them; jobs
	 * wait in the queue for the new processes */
	if (master_set_roots(m) == 0) {
		pool_recycle(m->pool);
	}
}

static void master_s_dir(void *arg, uint32_t root, const char *rel)
{
	struct master *m = arg;

	if (m->watcher) {
		int r = watch_add_dir(m->watcher, root, rel);
		if (r < 0 && r != -ENOENT && r != -ENOSPC) {
			struct master_watch *mw = master_find_watch(m, root);
			log_warning("cannot watch %s/%s: %s",
				mw ? log_path(mw->cw->input) : "?", log_path(rel),
				strerror(-r));
		}
	}
}

static void master_s_file(void *arg, uint32_t root, const char *rel,
		const struct stat *st)
{
	struct master *m = arg;
	struct master_watch *mw = master_find_watch(m, root);

	if (mw) {
		master_consider(m, mw, rel, st, false);
	}
}

static void master_s_done(void *arg, uint32_t root, enum scan_kind kind,
		uint64_t files)
{
	struct master *m = arg;

	if (kind == SCAN_INPUTS) {
		log_debug("scan of watch %u done: %" PRIu64 " files", root, files);
	}
	master_once_check(m);
}

/* ---- timers and signals ------------------------------------------------- */

/* Metrics file and STATUS=: at each stats tick, and also at ready and at
 * stop so that neither is missing when stats_interval is long or 0. */
static void master_publish(struct master *m)
{
	m->stats.queued = queue_length(m->queue);
	m->stats.in_flight = pool_in_flight(m->pool);
	if (m->cfg->daemon.metrics_file) {
		int r = metrics_write(m->cfg->daemon.metrics_file, &m->stats);
		if (r < 0 && !m->metrics_failed) {
			log_warning("cannot write metrics file %s: %s (said once)",
				log_path(m->cfg->daemon.metrics_file), strerror(-r));
		}
		m->metrics_failed = r < 0;
	}
	notify_status("%.0f img/s, %llu queued", m->stats.last_rate,
		(unsigned long long)m->stats.queued);
}

static void master_stats_now(struct master *m)
{
	m->stats.queued = queue_length(m->queue);
	m->stats.in_flight = pool_in_flight(m->pool);
	stats_report(&m->stats, master_now_ns());
	master_publish(m);
}

static void master_stats_cb(uv_timer_t *t)
{
	master_stats_now(t->data);
}

static void master_watchdog_cb(uv_timer_t *t)
{
	(void)t;
	notify_watchdog();
}

static void master_apply_daemon(struct master *m)
{
	const struct config_daemon *d = &m->cfg->daemon;

	log_set_level((enum log_level)d->log_level);
	queue_set_max(m->queue, d->max_queue);
	if (m->watcher) {
		watch_set_settle(m->watcher, d->settle_ms);
	}
	uv_timer_stop(&m->stats_timer);
	if (d->stats_interval_ms > 0 && !m->once) {
		uv_timer_start(&m->stats_timer, master_stats_cb,
			d->stats_interval_ms, d->stats_interval_ms);
	}
}

/* Give each watch of the current config a master_watch: the id of an
 * identical old watch (same name and folders) or a new one. Old watches
 * that are gone are dropped from the watcher, the scanner and the queue.
 * Returns true if the set of folders changed. */
static bool master_map_watches(struct master *m, bool *added)
{
	struct master_watch old[CONFIG_MAX_WATCHES];
	uint32_t n_old = m->n_watches;
	bool changed = false;

	memcpy(old, m->watches, sizeof(old[0]) * n_old);
	m->n_watches = 0;
	for (uint32_t i = 0; i < m->cfg->n_watches; i++) {
		struct config_watch *cw = m->cfg->watches[i];
		struct master_watch *mw = &m->watches[m->n_watches++];
		mw->cw = cw;
		mw->id = 0;
		for (uint32_t j = 0; j < n_old; j++) {
			if (old[j].id && strcmp(old[j].cw->name, cw->name) == 0 &&
					strcmp(old[j].cw->input, cw->input) == 0 &&
					strcmp(old[j].cw->output, cw->output) == 0 &&
					old[j].cw->recursive == cw->recursive) {
				mw->id = old[j].id;
				old[j].id = 0;
				break;
			}
		}
		added[i] = mw->id == 0;
		if (!mw->id) {
			mw->id = ++m->next_watch_id;
			changed = true;
		}
	}
	for (uint32_t j = 0; j < n_old; j++) {
		if (!old[j].id) {
			continue;
		}
		changed = true;
		log_info("watch %s removed: no longer watching %s",
			old[j].cw->name, log_path(old[j].cw->input));
		if (m->watcher) {
			watch_remove_root(m->watcher, old[j].id);
		}
		if (m->scanner) {
			scan_cancel(m->scanner, old[j].id);
			scan_cancel(m->scanner, old[j].id | MASTER_TEMPS_ID);
		}
		queue_drop_watch(m->queue, old[j].id);
	}
	return changed;
}

/* Watch, clean and scan the watch at index @i. */
static void master_start_watch(struct master *m, uint32_t i)
{
	struct master_watch *mw = &m->watches[i];
	const struct config_watch *cw = mw->cw;

	if (m->watcher && watch_add_root(m->watcher, mw->id, cw->input,
			cw->recursive, m->cfg->daemon.scan_interval_ms) < 0) {
		log_error("cannot watch %s: out of memory", log_path(cw->input));
	}
	if (scan_start(m->scanner, mw->id | MASTER_TEMPS_ID, SCAN_TEMPS,
			cw->output, "", true, m->start_real_ns) < 0 ||
			scan_start(m->scanner, mw->id, SCAN_INPUTS, cw->input, "",
				cw->recursive, 0) < 0) {
		log_error("out of memory starting a scan of %s",
			log_path(cw->input));
	}
}

/* True if jobs made with @a and @b write the same files the same way. */
static bool master_spec_equal(const struct thumb_spec *a,
		const struct thumb_spec *b)
{
	if (a->n_sizes != b->n_sizes || a->formats != b->formats ||
			a->quality != b->quality || a->fit != b->fit ||
			a->detail != b->detail ||
			a->progressive != b->progressive ||
			a->webp_lossless != b->webp_lossless ||
			a->durable != b->durable || strcmp(a->name, b->name) != 0 ||
			memcmp(&a->limits, &b->limits, sizeof(a->limits)) != 0) {
		return false;
	}
	for (uint32_t i = 0; i < a->n_sizes; i++) {
		if (a->sizes[i].width != b->sizes[i].width ||
				a->sizes[i].height != b->sizes[i].height) {
			return false;
		}
	}
	return true;
}

static void master_reload(struct master *m)
{
	struct config *ncfg = NULL;
	char err[1024];
	bool added[CONFIG_MAX_WATCHES];

	if (!m->opts->config_path) {
		log_info("SIGHUP: no configuration file (-c) to reload; carrying on");
		return;
	}
	notify_reloading();
	log_info("SIGHUP: reloading %s", log_path(m->opts->config_path));
	if (master_load_config(m->opts, &ncfg, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the old configuration: %s", err);
		notify_ready();
		return;
	}
	struct config *old = m->cfg;
	struct master_watch prev[CONFIG_MAX_WATCHES];
	uint32_t n_prev = m->n_watches;
	memcpy(prev, m->watches, sizeof(prev[0]) * n_prev);
	m->cfg = ncfg;
	bool changed = master_map_watches(m, added);
	/* jobs in flight with an old spec finish, then run again with the
	 * new one; queued jobs pick the new spec up when they are sent */
	for (uint32_t i = 0; i < m->n_watches; i++) {
		for (uint32_t j = 0; !added[i] && j < n_prev; j++) {
			if (prev[j].id == m->watches[i].id &&
					!master_spec_equal(&prev[j].cw->spec,
						&m->watches[i].cw->spec)) {
				queue_rerun_watch(m->queue, m->watches[i].id);
			}
		}
	}
	struct pool_opts po;
	master_pool_opts(m, &po);
	if (pool_configure(m->pool, &po) < 0) {
		log_error("reload: out of memory resizing the worker pool");
	}
	master_apply_daemon(m);
	if (changed) {
		if (master_set_roots(m) < 0) {
			log_error("reload: cannot update the workers' folders");
		}
		/* Landlock rules are fixed per process: new folders need new
		 * workers (jobs in flight finish first) */
		pool_recycle(m->pool);
	}
	for (uint32_t i = 0; i < m->n_watches; i++) {
		if (added[i]) {
			log_info("watch %s added: %s -> %s", m->watches[i].cw->name,
				log_path(m->watches[i].cw->input),
				log_path(m->watches[i].cw->output));
			master_start_watch(m, i);
		} else {
			/* sizes or formats may have changed: what lacks an
			 * output now is found by a scan */
			master_rescan(m, &m->watches[i]);
		}
	}
	config_destroy(old);
	log_info("reloaded: %u watch%s, %u worker%s", m->n_watches,
		m->n_watches == 1 ? "" : "es", pool_size(m->pool),
		pool_size(m->pool) == 1 ? "" : "s");
	notify_ready();
	master_dispatch(m);
}

static void master_signal_cb(uv_signal_t *h, int signum)
{
	struct master *m = h->data;

	switch (signum) {
	case SIGTERM:
	case SIGINT:
		if (m->stopping) {
			log_info("%s: already stopping", strsignal(signum));
			return;
		}
		if (m->once) {
			m->exit_code = 1;
		}
		master_stop(m, signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		if (!m->stopping) {
			master_reload(m);
		}
		break;
	case SIGUSR1:
		master_stats_now(m);
		break;
	}
}

/* ---- start and stop ----------------------------------------------------- */

static void master_stop(struct master *m, const char *why)
{
	if (m->stopping) {
		return;
	}
	m->stopping = true;
	notify_stopping();
	if (why) {
		log_info("%s: stopping; %" PRIu64 " jobs in flight, %" PRIu64
			" queued (found again by the next start)", why,
			pool_in_flight(m->pool), queue_length(m->queue));
	}
	uv_timer_stop(&m->stats_timer);
	uv_timer_stop(&m->retry_timer);
	uv_timer_stop(&m->progress_timer);
	if (m->watcher) {
		watch_close(m->watcher, NULL, NULL);
		m->watcher = NULL;
	}
	if (m->scanner) {
		scan_close(m->scanner);
		m->scanner = NULL;
	}
	uint64_t grace = m->cfg->daemon.job_timeout_ms;
	pool_stop(m->pool, grace ? grace : 30000);
}

/* The pool is down: close what keeps the loop alive. */
static void master_close_all(struct master *m)
{
	for (int i = 0; i < MASTER_N_SIGS; i++) {
		uv_close((uv_handle_t *)&m->sigs[i], NULL);
	}
	uv_close((uv_handle_t *)&m->stats_timer, NULL);
	uv_close((uv_handle_t *)&m->watchdog_timer, NULL);
	uv_close((uv_handle_t *)&m->retry_timer, NULL);
	uv_close((uv_handle_t *)&m->progress_timer, NULL);
}

static int master_init_handles(struct master *m)
{
	static const int signums[MASTER_N_SIGS] = {
		[MASTER_SIG_TERM] = SIGTERM, [MASTER_SIG_INT] = SIGINT,
		[MASTER_SIG_HUP] = SIGHUP, [MASTER_SIG_USR1] = SIGUSR1,
	};
	uv_timer_t *timers[] = { &m->stats_timer, &m->watchdog_timer,
		&m->retry_timer, &m->progress_timer };

	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(&m->loop, timers[i]);
		timers[i]->data = m;
	}
	for (int i = 0; i < MASTER_N_SIGS; i++) {
		uv_signal_init(&m->loop, &m->sigs[i]);
		m->sigs[i].data = m;
		int r = uv_signal_start(&m->sigs[i], master_signal_cb, signums[i]);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

/* Everything up to "ready". Returns 0 or a negative errno (logged). */
static int master_start(struct master *m)
{
	static const struct watch_callbacks wcb = {
		.wants = master_w_wants,
		.file = master_w_file,
		.dir = master_w_dir,
		.rescan = master_w_rescan,
		.root_back = master_w_root_back,
	};
	static const struct scan_callbacks scb = {
		.dir = master_s_dir,
		.file = master_s_file,
		.done = master_s_done,
	};
	struct pool_opts po;
	bool added[CONFIG_MAX_WATCHES];
	int r;

	master_map_watches(m, added);
	if ((r = master_set_roots(m)) < 0) {
		log_error("too many folders for the worker sandbox: %s",
			strerror(-r));
		return r;
	}
	master_pool_opts(m, &po);
	if ((r = stats_resize(&m->stats, po.workers)) < 0 ||
			(r = pool_configure(m->pool, &po)) < 0) {
		log_error("cannot set up %u workers: %s", po.workers, strerror(-r));
		return r;
	}
	if ((r = pool_start(m->pool)) < 0) {
		log_error("cannot start any worker");
		return r;
	}
	if (!m->once && (r = watch_create(&m->loop, &wcb, m,
			m->cfg->daemon.settle_ms, &m->watcher)) < 0) {
		log_error("cannot start inotify: %s", strerror(-r));
		return r;
	}
	if ((r = scan_create(&m->loop, &scb, m, &m->scanner)) < 0) {
		log_error("out of memory");
		return r;
	}
	for (uint32_t i = 0; i < m->n_watches; i++) {
		master_start_watch(m, i);
	}
	master_apply_daemon(m);
	uint64_t wd_usec = notify_init();
	if (wd_usec >= 2000) {
		uv_timer_start(&m->watchdog_timer, master_watchdog_cb,
			wd_usec / 2000, wd_usec / 2000);
	}
	if (m->once) {
		m->progress = progress_create(isatty(STDERR_FILENO), m->start_ns);
		if (!m->progress) {
			return -ENOMEM;
		}
		uint64_t period = progress_period_ms(m->progress);
		uv_timer_start(&m->progress_timer, master_progress_cb, period,
			period);
		log_info("processing %u watch%s with %u worker%s", m->n_watches,
			m->n_watches == 1 ? "" : "es", pool_size(m->pool),
			pool_size(m->pool) == 1 ? "" : "s");
	} else {
		for (uint32_t i = 0; i < m->n_watches; i++) {
			log_info("watch %s: %s -> %s", m->watches[i].cw->name,
				log_path(m->watches[i].cw->input),
				log_path(m->watches[i].cw->output));
		}
		log_info("ready: %u watch%s, %u worker%s (pid %d)", m->n_watches,
			m->n_watches == 1 ? "" : "es", pool_size(m->pool),
			pool_size(m->pool) == 1 ? "" : "s", (int)getpid());
		notify_ready();
		master_publish(m);
	}
	return 0;
}

int master_run(const struct master_opts *o, struct config *cfg)
{
	static const struct pool_callbacks pcb = {
		.result = master_on_result,
		.lost = master_on_lost,
		.idle = master_on_idle,
		.stopped = master_on_stopped,
		.failing = master_on_failing,
	};
	struct master *m = calloc(1, sizeof(*m));
	struct pool_opts po;
	int r;

	if (!m) {
		log_error("out of memory");
		config_destroy(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	m->opts = o;
	m->cfg = cfg;
	m->once = o->once;
	m->start_ns = master_now_ns();
	m->start_real_ns = master_realtime_ns();
	m->retry_ms = MASTER_RETRY_MIN_MS;
	log_set_level((enum log_level)cfg->daemon.log_level);
	if ((r = uv_loop_init(&m->loop)) < 0) {
		log_error("uv_loop_init: %s", uv_strerror(r));
		config_destroy(cfg);
		free(m);
		return 1;
	}
	m->msg = malloc(PROTO_MAX_MSG);
	m->queue = queue_create(cfg->daemon.max_queue);
	master_pool_opts(m, &po);
	po.workers = 0;
	if (!m->msg || !m->queue || stats_init(&m->stats, 0, m->start_ns) < 0 ||
			master_init_handles(m) < 0 ||
			pool_create(&m->loop, &po, &pcb, m, &m->pool) < 0) {
		/* only at start-up, before any work: no clean-up worth doing */
		log_error("cannot start: out of memory or signals unavailable");
		exit(1);
	}
	if (master_start(m) < 0) {
		m->exit_code = 1;
		master_stop(m, NULL);
	}
	uv_run(&m->loop, UV_RUN_DEFAULT);
	int status = m->exit_code;
	pool_destroy(m->pool);
	if (uv_loop_close(&m->loop) < 0) {
		log_debug("uv_loop_close: handles still open");
	}
	progress_destroy(m->progress);
	queue_destroy(m->queue);
	stats_finish(&m->stats);
	config_destroy(m->cfg);
	free(m->msg);
	free(m);
	return status;
}
