#include "pool.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "build-config.h"
#include "log.h"
#include "worker.h"

/* A process that dies younger than this without being asked to counts as
 * a crash loop: its slot waits longer before each new attempt. */
#define POOL_FAST_DEATH_NS (2ull * 1000 * 1000 * 1000)
#define POOL_FREE_RESPAWNS 3
#define POOL_BACKOFF_MIN_MS 50
#define POOL_BACKOFF_MAX_MS 30000
/* After SIGTERM at the end of a graceful stop, SIGKILL this much later. */
#define POOL_KILL_AFTER_MS 2000
/* A process must say HELLO, or exit when asked, within this. */
#define POOL_START_TIMEOUT_MS 10000
#define POOL_EXIT_TIMEOUT_MS 5000
/* Worker limits that are not configurable: output files stay far below
 * this, and a job needs a handful of descriptors. */
#define POOL_WORKER_FSIZE (1ull << 30)
#define POOL_WORKER_NOFILE 64

enum pool_state {
	POOL_DOWN = 0,  /* no process (maybe a respawn timer runs) */
	POOL_STARTING,  /* spawned, waiting for its HELLO */
	POOL_READY,
	POOL_DRAINING,  /* no new jobs; its socket is closed once empty */
	POOL_CLOSING,   /* socket closed or killed; waiting for the exit */
};

struct pool_inflight {
	void *job;
	uint64_t id;
};

struct pool_slot {
	struct pool *pool;
	uint32_t id;
	int cpu;
	enum pool_state state;
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t timer;     /* job timeout while up, respawn delay while down */
	bool proc_open;       /* handles initialised and not yet closed */
	bool pipe_open;
	int closing;          /* uv_close calls not yet called back */
	bool exited;
	pid_t pid;
	struct proto_reader rd;
	struct pool_inflight jobs[POOL_DEPTH];
	uint32_t n_jobs;
	uint64_t sent;        /* jobs sent to the current process */
	uint64_t completed;   /* results from the current process */
	uint64_t spawn_ns;
	uint32_t fast_deaths;
	uint64_t respawn_ms;  /* delay before the next spawn */
	bool planned;         /* we asked it to go: recycle, stop, retire */
	bool retire;          /* slot beyond the configured count */
	bool spawned_once;
	char why[96];         /* why we killed it, "" if we did not */
};

struct pool_write {
	uv_write_t req;
	char data[];
};

struct pool {
	uv_loop_t *loop;
	struct pool_opts opts;
	struct pool_callbacks cb;
	void *arg;
	struct pool_slot **slots;
	uint32_t n_slots;       /* allocated, >= opts.workers */
	int cpus[CPU_SETSIZE];  /* CPUs we may run on, in order */
	uint32_t n_cpus;
	char **read_roots;
	uint32_t n_read;
	char **write_roots;
	uint32_t n_write;
	uint32_t next;          /* round-robin start for pool_submit */
	uint64_t in_flight;
	bool started;
	bool stopping;
	bool stop_killed;       /* SIGTERM already sent */
	uv_timer_t stop_timer;
	int closing;            /* timers being closed at the end of a stop */
	bool warned_sandbox;
	uint32_t start_failures;  /* in a row, over all slots */
};

static uint64_t pool_now_ns(void)
{
	return uv_hrtime();
}

static struct stats_worker *pool_stats(struct pool *p, uint32_t slot)
{
	struct stats *st = p->opts.stats;
	return st && slot < st->n_workers ? &st->workers[slot] : NULL;
}

static void pool_slot_update_stats(struct pool_slot *s)
{
	struct stats_worker *w = pool_stats(s->pool, s->id);
	if (w) {
		w->cpu = s->cpu;
		w->pid = s->state == POOL_DOWN ? 0 : s->pid;
	}
}

static void pool_spawn(struct pool_slot *s);
static void pool_check_stopped(struct pool *p);
static void pool_timer_cb(uv_timer_t *t);

/* ---- closing ------------------------------------------------------------ */

static void pool_slot_settled(struct pool_slot *s);

static void pool_handle_closed(uv_handle_t *h)
{
	struct pool_slot *s = h->data;
	if (--s->closing == 0) {
		pool_slot_settled(s);
	}
}

static void pool_close_pipe(struct pool_slot *s)
{
	if (s->pipe_open) {
		s->pipe_open = false;
		s->closing++;
		uv_close((uv_handle_t *)&s->pipe, pool_handle_closed);
	}
}

/* Everything of the last process is closed: start the next one, or not. */
static void pool_slot_settled(struct pool_slot *s)
{
	struct pool *p = s->pool;

	if (s->state != POOL_DOWN || s->pipe_open || s->proc_open) {
		return;
	}
	if (p->stopping) {
		pool_check_stopped(p);
		return;
	}
	if (s->retire) {
		return;
	}
	if (s->respawn_ms == 0) {
		pool_spawn(s);
	} else {
		uv_timer_start(&s->timer, pool_timer_cb, s->respawn_ms, 0);
	}
}

/* ---- messages from a worker --------------------------------------------- */

static void pool_kill(struct pool_slot *s, int sig, const char *why)
{
	if (why && !s->why[0]) {
		snprintf(s->why, sizeof(s->why), "%s", why);
	}
	if (s->proc_open && !s->exited) {
		uv_process_kill(&s->proc, sig);
	}
	if (sig == SIGKILL) {
		uv_timer_stop(&s->timer);
		pool_close_pipe(s);
		s->state = POOL_CLOSING;
	}
}

static void pool_arm_timeout(struct pool_slot *s)
{
	if (s->n_jobs > 0 && s->pool->opts.job_timeout_ms > 0) {
		uv_timer_start(&s->timer, pool_timer_cb,
			s->pool->opts.job_timeout_ms, 0);
	} else {
		uv_timer_stop(&s->timer);
	}
}

/* The current process has no job left and should go: close its socket,
 * which it reads as the end of work. */
static void pool_release(struct pool_slot *s)
{
	s->planned = true;
	s->state = POOL_CLOSING;
	uv_timer_start(&s->timer, pool_timer_cb, POOL_EXIT_TIMEOUT_MS, 0);
	pool_close_pipe(s);
}

/* One more process that could not start; tell the caller past a limit. */
static void pool_start_failed(struct pool *p, const char *why)
{
	if (++p->start_failures == POOL_GIVE_UP && p->cb.failing) {
		p->cb.failing(p->arg, why);
	}
}

static void pool_on_hello(struct pool_slot *s, const uint8_t *payload,
		uint32_t len)
{
	struct pool *p = s->pool;
	struct proto_hello h;

	if (s->state != POOL_STARTING ||
			proto_decode_hello(payload, len, &h) < 0 ||
			h.slot != s->id || (pid_t)h.pid != s->pid) {
		pool_kill(s, SIGKILL, "sent a malformed message");
		return;
	}
	if (h.status < 0) {
		log_error("worker %u: set-up failed: %s", s->id,
			log_path(h.error));
		/* it exits by itself; the respawn backoff keeps this calm */
		pool_start_failed(p, h.error);
		return;
	}
	p->start_failures = 0;
	if (!p->warned_sandbox && p->opts.seccomp) {
		uint32_t want = 1u | (HAVE_LIBSECCOMP ? 2u : 0u);
		if ((h.layers & want) != want) {
			p->warned_sandbox = true;
			log_warning("workers run with a partial sandbox:%s%s",
				(h.layers & 1u) ? "" : " no Landlock (kernel too old or disabled)",
				(want & 2u) && !(h.layers & 2u) ? " no seccomp" : "");
		}
	}
	log_debug("worker %u: pid %d ready on cpu %d", s->id, (int)s->pid,
		s->cpu);
	uv_timer_stop(&s->timer);
	s->state = POOL_READY;
	if (s->retire || p->stopping) {
		pool_release(s);
		return;
	}
	if (p->cb.idle) {
		p->cb.idle(p->arg);
	}
}

static void pool_on_result(struct pool_slot *s, const uint8_t *payload,
		uint32_t len)
{
	struct pool *p = s->pool;
	struct proto_result r;

	if (s->n_jobs == 0 || proto_decode_result(payload, len, &r) < 0 ||
			r.id != s->jobs[0].id) {
		pool_kill(s, SIGKILL, "sent a malformed message");
		return;
	}
	void *job = s->jobs[0].job;
	memmove(&s->jobs[0], &s->jobs[1],
		(POOL_DEPTH - 1) * sizeof(s->jobs[0]));
	s->n_jobs--;
	s->completed++;
	p->in_flight--;
	pool_arm_timeout(s);
	p->cb.result(p->arg, s->id, job, &r);

	bool over = p->opts.max_jobs && s->sent >= p->opts.max_jobs;
	if (s->n_jobs == 0 && (s->state == POOL_DRAINING || over ||
			p->stopping)) {
		pool_release(s);
	}
	if (!p->stopping && p->cb.idle) {
		p->cb.idle(p->arg);
	}
}

static void pool_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct pool_slot *s = h->data;
	uint8_t *ptr = NULL;
	size_t n = 0;
	(void)suggested;

	if (proto_reader_space(&s->rd, &ptr, &n) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)ptr, (unsigned)n);
}

static void pool_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct pool_slot *s = st->data;
	(void)buf;

	if (nread < 0) {
		/* the worker closed its end: it is exiting; make sure */
		if (nread != UV_EOF) {
			log_debug("worker %u: read: %s", s->id, uv_strerror((int)nread));
		}
		pool_close_pipe(s);
		if (!s->exited && !s->planned) {
			uv_process_kill(&s->proc, SIGKILL);
		}
		if (s->state != POOL_DOWN) {
			s->state = POOL_CLOSING;
		}
		return;
	}
	proto_reader_commit(&s->rd, (size_t)nread);
	for (;;) {
		struct proto_header h;
		const uint8_t *payload;
		int m = proto_reader_next(&s->rd, &h, &payload);
		if (m == 0) {
			break;
		}
		if (m < 0) {
			pool_kill(s, SIGKILL, "sent a malformed message");
			break;
		}
		if (h.type == PROTO_HELLO) {
			pool_on_hello(s, payload, h.length);
		} else if (h.type == PROTO_RESULT) {
			pool_on_result(s, payload, h.length);
		} else {
			pool_kill(s, SIGKILL, "sent a malformed message");
		}
		if (!s->pipe_open) {
			break;
		}
	}
}

/* ---- writing ------------------------------------------------------------ */

static void pool_write_cb(uv_write_t *req, int status)
{
	(void)status; /* a failed write means a dead worker: exit_cb handles it */
	free(req->data);
}

static int pool_write(struct pool_slot *s, const uint8_t *msg, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
	int n = uv_try_write((uv_stream_t *)&s->pipe, &b, 1);

	if (n >= 0 && (size_t)n == len) {
		return 0;
	}
	if (n < 0 && n != UV_EAGAIN) {
		return n;
	}
	size_t done = n > 0 ? (size_t)n : 0;
	struct pool_write *w = malloc(sizeof(*w) + len - done);
	if (!w) {
		return -ENOMEM;
	}
	memcpy(w->data, msg + done, len - done);
	w->req.data = w;
	b = uv_buf_init(w->data, (unsigned)(len - done));
	int r = uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, pool_write_cb);
	if (r < 0) {
		free(w);
	}
	return r;
}

/* ---- process life ------------------------------------------------------- */

static void pool_describe_exit(const struct pool_slot *s, int64_t status,
		int sig, char *buf, size_t cap)
{
	if (s->why[0]) {
		snprintf(buf, cap, "%s", s->why);
	} else if (sig) {
		snprintf(buf, cap, "crashed (signal %d)", sig);
	} else {
		snprintf(buf, cap, "exited with status %" PRId64, status);
	}
}

/* Delay before replacing a process after @n quick deaths in a row. The
 * first few are replaced at once: a kill from outside or a hostile file
 * must not stall the slot. */
static uint64_t pool_backoff_ms(uint32_t n)
{
	uint64_t ms = POOL_BACKOFF_MIN_MS;

	if (n <= POOL_FREE_RESPAWNS) {
		return 0;
	}
	for (uint32_t i = POOL_FREE_RESPAWNS + 1; i < n && ms < POOL_BACKOFF_MAX_MS; i++) {
		ms *= 2;
	}
	return ms < POOL_BACKOFF_MAX_MS ? ms : POOL_BACKOFF_MAX_MS;
}

static void pool_exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct pool_slot *s = proc->data;
	struct pool *p = s->pool;
	char why[128];
	uint64_t lived = pool_now_ns() - s->spawn_ns;

	s->exited = true;
	uv_timer_stop(&s->timer);
	pool_close_pipe(s);
	s->proc_open = false;
	s->closing++;
	uv_close((uv_handle_t *)&s->proc, pool_handle_closed);
	pool_describe_exit(s, status, sig, why, sizeof(why));

	/* an exit we asked for (recycle, retire, stop) is no news */
	bool ours = s->planned && !s->why[0];
	if (!ours) {
		log_warning("worker %u (pid %d) %s%s", s->id, (int)s->pid, why,
			p->stopping || s->retire ? "" : "; replacing it");
	} else {
		log_debug("worker %u (pid %d) exited", s->id, (int)s->pid);
	}
	/* hand back the jobs: the first was running, the rest only waited */
	uint32_t n = s->n_jobs;
	struct pool_inflight jobs[POOL_DEPTH];
	memcpy(jobs, s->jobs, sizeof(jobs));
	s->n_jobs = 0;
	p->in_flight -= n;
	s->state = POOL_DOWN;
	s->pid = 0;
	pool_slot_update_stats(s);
	char lost_why[160];
	snprintf(lost_why, sizeof(lost_why), "worker %s", why);
	for (uint32_t i = 0; i < n; i++) {
		p->cb.lost(p->arg, s->id, jobs[i].job, i == 0, lost_why);
	}

	/* a crash loop is a process dying young without finishing a job;
	 * one that worked and then met a hostile file is replaced at once */
	if (ours || lived >= POOL_FAST_DEATH_NS || s->completed > 0) {
		s->fast_deaths = 0;
		s->respawn_ms = 0;
	} else {
		s->fast_deaths++;
		s->respawn_ms = pool_backoff_ms(s->fast_deaths);
	}
	if (!p->stopping && !s->retire && p->cb.idle && n > 0) {
		p->cb.idle(p->arg);
	}
}

static void pool_timer_cb(uv_timer_t *t)
{
	struct pool_slot *s = t->data;
	char why[64];

	if (s->state == POOL_DOWN) {
		if (!s->pool->stopping && !s->retire && !s->pipe_open &&
				!s->proc_open && s->closing == 0) {
			pool_spawn(s);
		}
		return;
	}
	if (s->state == POOL_STARTING) {
		pool_kill(s, SIGKILL, "did not start in time");
		return;
	}
	if (s->state == POOL_CLOSING) {
		pool_kill(s, SIGKILL, "did not exit when asked");
		return;
	}
	if (s->n_jobs > 0) {
		uint64_t ms = s->pool->opts.job_timeout_ms;
		if (ms % 1000 == 0) {
			snprintf(why, sizeof(why), "timed out after %" PRIu64 " s",
				ms / 1000);
		} else {
			snprintf(why, sizeof(why), "timed out after %" PRIu64 " ms",
				ms);
		}
		pool_kill(s, SIGKILL, why);
	}
}

static int pool_send_setup(struct pool_slot *s)
{
	struct pool *p = s->pool;
	struct proto_setup *m = calloc(1, sizeof(*m));
	uint8_t *buf = malloc(PROTO_MAX_MSG);
	size_t len;
	int r = -ENOMEM;

	if (!m || !buf) {
		goto out;
	}
	m->slot = s->id;
	m->cpu = s->cpu;
	m->flags = p->opts.seccomp ? PROTO_SETUP_SECCOMP : 0;
	m->memory = p->opts.memory;
	m->file_size = POOL_WORKER_FSIZE;
	m->max_files = POOL_WORKER_NOFILE;
	m->n_read = p->n_read;
	m->n_write = p->n_write;
	for (uint32_t i = 0; i < p->n_read; i++) {
		m->read_roots[i] = p->read_roots[i];
	}
	for (uint32_t i = 0; i < p->n_write; i++) {
		m->write_roots[i] = p->write_roots[i];
	}
	r = proto_encode_setup(m, buf, PROTO_MAX_MSG, &len);
	if (r == 0) {
		r = pool_write(s, buf, len);
	}
out:
	free(m);
	free(buf);
	return r;
}

static void pool_spawn_failed(struct pool_slot *s, const char *what, int err)
{
	char why[128];

	log_error("worker %u: %s: %s", s->id, what, uv_strerror(err));
	snprintf(why, sizeof(why), "%s: %s", what, uv_strerror(err));
	pool_start_failed(s->pool, why);
	s->state = POOL_DOWN;
	s->fast_deaths++;
	s->respawn_ms = pool_backoff_ms(s->fast_deaths + 1);
	if (s->closing == 0) {
		uv_timer_start(&s->timer, pool_timer_cb, s->respawn_ms, 0);
	}
}

static void pool_spawn(struct pool_slot *s)
{
	struct pool *p = s->pool;
	int sv[2];
	char slot_arg[16];
	char *args[] = { "thumbd", "--worker", slot_arg, NULL };
	uv_stdio_container_t stdio[WORKER_FD + 1];
	uv_process_options_t o = { 0 };
	int r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		pool_spawn_failed(s, "socketpair", -errno);
		return;
	}
	uv_pipe_init(p->loop, &s->pipe, 0);
	s->pipe.data = s;
	if ((r = uv_pipe_open(&s->pipe, sv[0])) < 0) {
		close(sv[0]);
		close(sv[1]);
		s->pipe_open = true;
		pool_close_pipe(s);
		pool_spawn_failed(s, "uv_pipe_open", r);
		return;
	}
	s->pipe_open = true;
	snprintf(slot_arg, sizeof(slot_arg), "%u", s->id);
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = STDOUT_FILENO;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = STDERR_FILENO;
	stdio[WORKER_FD].flags = UV_INHERIT_FD;
	stdio[WORKER_FD].data.fd = sv[1];
	o.file = "/proc/self/exe";
	o.args = args;
	o.stdio = stdio;
	o.stdio_count = WORKER_FD + 1;
	o.exit_cb = pool_exit_cb;
	s->proc.data = s;
	r = uv_spawn(p->loop, &s->proc, &o);
	close(sv[1]);
	s->proc_open = true; /* even a failed spawn leaves a handle to close */
	if (r < 0) {
		s->proc_open = false;
		s->closing++;
		uv_close((uv_handle_t *)&s->proc, pool_handle_closed);
		pool_close_pipe(s);
		pool_spawn_failed(s, "spawn", r);
		return;
	}
	if (s->spawned_once) {
		struct stats_worker *w = pool_stats(p, s->id);
		if (w) {
			w->restarts++;
		}
	}
	s->spawned_once = true;
	s->exited = false;
	s->planned = false;
	s->why[0] = '\0';
	s->sent = 0;
	s->completed = 0;
	s->n_jobs = 0;
	s->pid = s->proc.pid;
	s->spawn_ns = pool_now_ns();
	s->state = POOL_STARTING;
	uv_timer_start(&s->timer, pool_timer_cb, POOL_START_TIMEOUT_MS, 0);
	proto_reader_finish(&s->rd);
	proto_reader_init(&s->rd);
	pool_slot_update_stats(s);
	if ((r = pool_send_setup(s)) < 0 ||
			(r = uv_read_start((uv_stream_t *)&s->pipe, pool_alloc_cb,
				pool_read_cb)) < 0) {
		log_error("worker %u: cannot talk to it: %s", s->id,
			uv_strerror(r));
		pool_kill(s, SIGKILL, "could not send its set-up");
	}
}

/* ---- slots -------------------------------------------------------------- */

static int pool_cpu_of(const struct pool *p, uint32_t slot)
{
	if (!p->opts.cpu_affinity || p->n_cpus == 0) {
		return -1;
	}
	return p->cpus[slot % p->n_cpus];
}

static int pool_grow(struct pool *p, uint32_t n)
{
	if (n <= p->n_slots) {
		return 0;
	}
	struct pool_slot **ns = realloc(p->slots, n * sizeof(*ns));
	if (!ns) {
		return -ENOMEM;
	}
	p->slots = ns;
	while (p->n_slots < n) {
		struct pool_slot *s = calloc(1, sizeof(*s));
		if (!s) {
			return -ENOMEM;
		}
		s->pool = p;
		s->id = p->n_slots;
		s->cpu = pool_cpu_of(p, s->id);
		uv_timer_init(p->loop, &s->timer);
		s->timer.data = s;
		proto_reader_init(&s->rd);
		p->slots[p->n_slots++] = s;
	}
	return 0;
}

int pool_create(uv_loop_t *loop, const struct pool_opts *opts,
		const struct pool_callbacks *cb, void *arg, struct pool **out)
{
	struct pool *p = calloc(1, sizeof(*p));
	cpu_set_t set;

	if (!p) {
		return -ENOMEM;
	}
	p->loop = loop;
	p->opts = *opts;
	p->cb = *cb;
	p->arg = arg;
	/* pin to the CPUs we are allowed, not 0..n-1: a cpuset may differ */
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++) {
			if (CPU_ISSET(c, &set)) {
				p->cpus[p->n_cpus++] = c;
			}
		}
	}
	/* slots come with pool_configure(): nothing can fail after this */
	p->opts.workers = 0;
	uv_timer_init(loop, &p->stop_timer);
	p->stop_timer.data = p;
	*out = p;
	return 0;
}

static void pool_free_roots(char **roots, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free(roots[i]);
	}
	free(roots);
}

void pool_destroy(struct pool *p)
{
	if (!p) {
		return;
	}
	for (uint32_t i = 0; i < p->n_slots; i++) {
		proto_reader_finish(&p->slots[i]->rd);
		free(p->slots[i]);
	}
	free(p->slots);
	pool_free_roots(p->read_roots, p->n_read);
	pool_free_roots(p->write_roots, p->n_write);
	free(p);
}

static char **pool_copy_roots(const char *const *roots, uint32_t n)
{
	char **c = calloc(n ? n : 1, sizeof(*c));
	if (!c) {
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!(c[i] = strdup(roots[i]))) {
			pool_free_roots(c, i);
			return NULL;
		}
	}
	return c;
}

int pool_set_roots(struct pool *p, const char *const *read_roots,
		uint32_t n_read, const char *const *write_roots, uint32_t n_write)
{
	if (n_read > PROTO_MAX_ROOTS || n_write > PROTO_MAX_ROOTS) {
		return -E2BIG;
	}
	char **r = pool_copy_roots(read_roots, n_read);
	char **w = pool_copy_roots(write_roots, n_write);
	if (!r || !w) {
		pool_free_roots(r, r ? n_read : 0);
		pool_free_roots(w, w ? n_write : 0);
		return -ENOMEM;
	}
	pool_free_roots(p->read_roots, p->n_read);
	pool_free_roots(p->write_roots, p->n_write);
	p->read_roots = r;
	p->n_read = n_read;
	p->write_roots = w;
	p->n_write = n_write;
	return 0;
}

int pool_start(struct pool *p)
{
	p->started = true;
	for (uint32_t i = 0; i < p->opts.workers && i < p->n_slots; i++) {
		pool_spawn(p->slots[i]);
	}
	for (uint32_t i = 0; i < p->opts.workers && i < p->n_slots; i++) {
		if (p->slots[i]->state != POOL_DOWN) {
			return 0;
		}
	}
	return p->opts.workers ? -ECHILD : 0;
}

/* Graceful replacement of slot @s's process, or retirement. */
static void pool_drain(struct pool_slot *s)
{
	switch (s->state) {
	case POOL_DOWN:
		if (s->retire) {
			uv_timer_stop(&s->timer);
		}
		break;
	case POOL_STARTING:
		/* it was sent the old set-up already */
		pool_release(s);
		break;
	case POOL_READY:
	case POOL_DRAINING:
		if (s->n_jobs == 0) {
			pool_release(s);
		} else {
			s->state = POOL_DRAINING;
		}
		break;
	case POOL_CLOSING:
		break;
	}
}

int pool_configure(struct pool *p, const struct pool_opts *opts)
{
	uint32_t old = p->opts.workers;
	int r;

	if ((r = pool_grow(p, opts->workers)) < 0) {
		return r;
	}
	if (opts->stats && (r = stats_resize(opts->stats, opts->workers)) < 0) {
		return r;
	}
	bool affinity_changed = opts->cpu_affinity != p->opts.cpu_affinity;
	p->opts = *opts;
	for (uint32_t i = 0; i < p->n_slots; i++) {
		struct pool_slot *s = p->slots[i];
		s->cpu = pool_cpu_of(p, i);
		pool_slot_update_stats(s);
		if (i >= opts->workers) {
			s->retire = true;
			pool_drain(s);
		} else if (s->retire || (i >= old && p->started)) {
			s->retire = false;
			if (s->state == POOL_DOWN && s->closing == 0 &&
					!s->pipe_open && !s->proc_open) {
				pool_spawn(s);
			}
		} else if (affinity_changed) {
			pool_drain(s);
		}
	}
	return 0;
}

void pool_recycle(struct pool *p)
{
	for (uint32_t i = 0; i < p->n_slots; i++) {
		pool_drain(p->slots[i]);
	}
}

static bool pool_slot_usable(const struct pool_slot *s)
{
	return s->state == POOL_READY && s->n_jobs < POOL_DEPTH && !s->retire;
}

bool pool_has_capacity(const struct pool *p)
{
	if (p->stopping) {
		return false;
	}
	for (uint32_t i = 0; i < p->n_slots; i++) {
		if (pool_slot_usable(p->slots[i])) {
			return true;
		}
	}
	return false;
}

/* True if a slot other than @avoid has a process that will take jobs. */
static bool pool_other_alive(const struct pool *p, int avoid)
{
	for (uint32_t i = 0; i < p->n_slots; i++) {
		const struct pool_slot *s = p->slots[i];
		if ((int)i != avoid && !s->retire && (s->state == POOL_STARTING ||
				s->state == POOL_READY || s->state == POOL_DRAINING)) {
			return true;
		}
	}
	return false;
}

int pool_submit(struct pool *p, void *job, uint64_t id, const uint8_t *msg,
		size_t len, int avoid)
{
	struct pool_slot *best = NULL;
	bool avoided = false;

	if (p->stopping || p->n_slots == 0) {
		return -EBUSY;
	}
	if (avoid >= 0 && !pool_other_alive(p, avoid)) {
		avoid = -1; /* a single worker: nowhere else to go */
	}
	for (uint32_t k = 0; k < p->n_slots; k++) {
		struct pool_slot *s = p->slots[(p->next + k) % p->n_slots];
		if (!pool_slot_usable(s)) {
			continue;
		}
		if ((int)s->id == avoid) {
			avoided = true;
			continue;
		}
		if (!best || s->n_jobs < best->n_jobs) {
			best = s;
		}
	}
	if (!best) {
		return avoided ? -EAGAIN : -EBUSY;
	}
	p->next = (best->id + 1) % p->n_slots;
	int r = pool_write(best, msg, len);
	if (r < 0) {
		/* it has most likely just died: its exit status says why */
		log_debug("worker %u: cannot send a job: %s", best->id,
			uv_strerror(r));
		pool_kill(best, SIGKILL, NULL);
		return -EBUSY;
	}
	best->jobs[best->n_jobs].job = job;
	best->jobs[best->n_jobs].id = id;
	best->n_jobs++;
	best->sent++;
	p->in_flight++;
	if (best->n_jobs == 1) {
		pool_arm_timeout(best);
	}
	if (p->opts.max_jobs && best->sent >= p->opts.max_jobs) {
		/* recycle: no more jobs for this process; replaced when empty */
		best->state = POOL_DRAINING;
	}
	return 0;
}

uint64_t pool_in_flight(const struct pool *p)
{
	return p->in_flight;
}

uint32_t pool_size(const struct pool *p)
{
	return p->opts.workers;
}

/* ---- stopping ----------------------------------------------------------- */

static void pool_final_closed(uv_handle_t *h)
{
	struct pool *p = h->data;
	if (--p->closing == 0 && p->cb.stopped) {
		p->cb.stopped(p->arg);
	}
}

static void pool_slot_timer_closed(uv_handle_t *h)
{
	struct pool_slot *s = h->data;
	pool_final_closed((uv_handle_t *)&s->pool->stop_timer);
}

static void pool_check_stopped(struct pool *p)
{
	if (!p->stopping || p->closing > 0) {
		return;
	}
	for (uint32_t i = 0; i < p->n_slots; i++) {
		struct pool_slot *s = p->slots[i];
		if (s->state != POOL_DOWN || s->closing > 0 || s->pipe_open ||
				s->proc_open) {
			return;
		}
	}
	/* everything is down: close the timers, then report */
	p->closing = (int)p->n_slots + 1;
	for (uint32_t i = 0; i < p->n_slots; i++) {
		uv_close((uv_handle_t *)&p->slots[i]->timer,
			pool_slot_timer_closed);
	}
	uv_close((uv_handle_t *)&p->stop_timer, pool_final_closed);
}

static void pool_stop_timer_cb(uv_timer_t *t)
{
	struct pool *p = t->data;
	int sig = p->stop_killed ? SIGKILL : SIGTERM;

	for (uint32_t i = 0; i < p->n_slots; i++) {
		struct pool_slot *s = p->slots[i];
		if (s->proc_open && !s->exited) {
			if (!p->stop_killed) {
				log_warning("worker %u (pid %d) still busy at the stop "
					"deadline: SIGTERM", s->id, (int)s->pid);
			}
			uv_process_kill(&s->proc, sig);
			snprintf(s->why, sizeof(s->why), "stopped");
		}
	}
	if (!p->stop_killed) {
		p->stop_killed = true;
		uv_timer_start(&p->stop_timer, pool_stop_timer_cb,
			POOL_KILL_AFTER_MS, 0);
	}
}

void pool_stop(struct pool *p, uint64_t grace_ms)
{
	if (p->stopping) {
		return;
	}
	p->stopping = true;
	for (uint32_t i = 0; i < p->n_slots; i++) {
		struct pool_slot *s = p->slots[i];
		if (s->state == POOL_DOWN) {
			uv_timer_stop(&s->timer);
		} else if (s->n_jobs == 0) {
			pool_release(s);
		} else {
			s->state = POOL_DRAINING;
		}
		s->planned = true;
	}
	uv_timer_start(&p->stop_timer, pool_stop_timer_cb, grace_ms, 0);
	pool_check_stopped(p);
}
