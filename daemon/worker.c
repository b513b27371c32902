#include "worker.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "proto.h"
#include "sandbox.h"
#include "thumb.h"

/* Exit statuses the master can tell apart in its log. */
enum {
	WORKER_EXIT_OK = 0,
	WORKER_EXIT_USAGE = 2,
	WORKER_EXIT_PROTO = 3,   /* the master sent something malformed */
	WORKER_EXIT_SETUP = 4,   /* pinning or confinement failed */
	WORKER_EXIT_IO = 5,      /* the socket failed */
};

/*
 * Test-only fault injection: with THUMBD_TEST_CRASH_GLOB set, a job whose
 * relative path matches it (fnmatch) kills the worker with SIGSEGV before
 * anything is read, so the end-to-end tests can exercise the master's
 * crash handling without a real decoder bug. Read once at start.
 */
static const char *worker_crash_glob;

__attribute__((noinline, no_sanitize("address", "undefined")))
static void worker_test_crash(const char *rel)
{
	if (!worker_crash_glob || fnmatch(worker_crash_glob, rel, 0) != 0) {
		return;
	}
	/* a real fault, not raise(): the seccomp filter forbids tgkill, and a
	 * sanitizer's handler must not turn it into a report */
	static volatile uintptr_t bad = 8;
	signal(SIGSEGV, SIG_DFL);
	*(volatile int *)bad = 1;
}

static uint64_t worker_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int worker_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Block until the next whole message. Returns 1 with *@h and *@payload
 * set, 0 at end of stream, or a negative errno (-EBADMSG: corrupt stream).
 */
static int worker_read_msg(int fd, struct proto_reader *r,
		struct proto_header *h, const uint8_t **payload)
{
	for (;;) {
		int m = proto_reader_next(r, h, payload);
		if (m != 0) {
			return m;
		}
		uint8_t *p;
		size_t n;
		int e = proto_reader_space(r, &p, &n);
		if (e < 0) {
			return e;
		}
		ssize_t got = read(fd, p, n);
		if (got < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (got == 0) {
			/* a clean end only between messages */
			return proto_reader_pending(r) == 0 ? 0 : -EBADMSG;
		}
		proto_reader_commit(r, (size_t)got);
	}
}

/* Signals from the terminal go to the whole process group; the master
 * decides when workers stop (it closes the socket), so they ignore them. */
static void worker_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	/* a master killed with SIGKILL cannot close our socket in time for
	 * a job in progress: die with it */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

static int worker_pin(int cpu, char *err, size_t errlen)
{
	cpu_set_t set;

	if (cpu < 0) {
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		int e = errno;
		snprintf(err, errlen, "sched_setaffinity(cpu %d): %s", cpu,
			strerror(e));
		return -e;
	}
	return 0;
}

/*
 * Everything a worker does once before its first job: CPU pinning, then
 * the sandbox (resource limits, no new privileges, Landlock, seccomp). The
 * sandbox is entered last because it forbids sched_setaffinity.
 */
static int worker_setup(const struct proto_setup *s, uint32_t *layers,
		char *err, size_t errlen)
{
	struct sandbox_opts o = { 0 };
	int r;

	if ((r = worker_pin(s->cpu, err, errlen)) < 0) {
		return r;
	}
	o.memory = s->memory;
	o.file_size = s->file_size;
	o.max_files = s->max_files;
	o.seccomp = (s->flags & PROTO_SETUP_SECCOMP) != 0;
	for (uint32_t i = 0; i < s->n_read && i < SANDBOX_MAX_ROOTS; i++) {
		o.read_roots[o.n_read++] = s->read_roots[i];
	}
	for (uint32_t i = 0; i < s->n_write && i < SANDBOX_MAX_ROOTS; i++) {
		o.write_roots[o.n_write++] = s->write_roots[i];
	}
	return sandbox_enter(&o, layers, err, errlen);
}

static int worker_send_hello(int fd, uint32_t slot, uint32_t layers,
		int status, const char *error)
{
	uint8_t buf[512];
	size_t len;
	struct proto_hello h = {
		.slot = slot,
		.pid = (uint32_t)getpid(),
		.layers = layers,
		.status = status,
		.error = error,
	};
	int r = proto_encode_hello(&h, buf, sizeof(buf), &len);
	if (r < 0) {
		return r;
	}
	return worker_write_all(fd, buf, len);
}

/* Make the result consistent whatever the engine said, so the encoder
 * (which checks like the master's decoder) always accepts it. */
static void worker_fix_result(struct proto_result *m)
{
	struct thumb_result *r = &m->res;

	r->error[sizeof(r->error) - 1] = '\0';
	if (strlen(r->error) > PROTO_MAX_ERROR) {
		r->error[PROTO_MAX_ERROR] = '\0';
	}
	if (m->status > 0 || m->status < -4095) {
		m->status = -EIO;
	}
	if (m->status == 0) {
		r->fault = THUMB_FAULT_NONE;
	} else if (r->fault == THUMB_FAULT_NONE ||
			r->fault > THUMB_FAULT_INTERNAL) {
		r->fault = THUMB_FAULT_INTERNAL;
	}
}

static int worker_run_job(int fd, struct thumb_ctx *ctx,
		const struct proto_job *job)
{
	struct proto_result m;
	struct thumb_job tj = {
		.in_root = job->in_root,
		.rel = job->rel,
		.out_root = job->out_root,
		.spec = &job->spec,
	};
	uint8_t buf[1024];
	size_t len;

	worker_test_crash(job->rel);
	memset(&m, 0, sizeof(m));
	m.id = job->id;
	uint64_t t0 = worker_now_ns();
	m.status = thumb_render(ctx, &tj, &m.res);
	m.job_ns = worker_now_ns() - t0;
	worker_fix_result(&m);
	int r = proto_encode_result(&m, buf, sizeof(buf), &len);
	if (r < 0) {
		return r;
	}
	return worker_write_all(fd, buf, len);
}

/* Read and apply SETUP, answer HELLO. Returns 0 or an exit status. */
static int worker_start(int fd, struct proto_reader *rd, uint32_t slot)
{
	struct proto_header h;
	const uint8_t *payload;
	struct proto_setup s;
	char err[256] = "";
	uint32_t layers = 0;

	int r = worker_read_msg(fd, rd, &h, &payload);
	if (r == 0) {
		return WORKER_EXIT_OK;
	}
	if (r < 0 || h.type != PROTO_SETUP ||
			proto_decode_setup(payload, h.length, &s) < 0) {
		fprintf(stderr, "thumbd worker %u: malformed set-up message\n",
			slot);
		return WORKER_EXIT_PROTO;
	}
	r = worker_setup(&s, &layers, err, sizeof(err));
	if (r < 0) {
		/* the master logs it; we must not run jobs unconfined */
		worker_send_hello(fd, slot, 0, r, err);
		return WORKER_EXIT_SETUP;
	}
	if (worker_send_hello(fd, slot, layers, 0, "") < 0) {
		return WORKER_EXIT_IO;
	}
	return 0;
}

static int worker_loop(int fd, struct proto_reader *rd, uint32_t slot)
{
	struct thumb_ctx *ctx = thumb_ctx_create();

	if (!ctx) {
		fprintf(stderr, "thumbd worker %u: out of memory\n", slot);
		return WORKER_EXIT_SETUP;
	}
	int status = worker_start(fd, rd, slot);
	while (status == 0) {
		struct proto_header h;
		const uint8_t *payload;
		struct proto_job job;

		int r = worker_read_msg(fd, rd, &h, &payload);
		if (r == 0) {
			break;
		}
		if (r < 0 && r != -EBADMSG) {
			status = WORKER_EXIT_IO;
			break;
		}
		if (r < 0 || h.type != PROTO_JOB ||
				proto_decode_job(payload, h.length, &job) < 0) {
			fprintf(stderr, "thumbd worker %u: malformed job message\n",
				slot);
			status = WORKER_EXIT_PROTO;
			break;
		}
		if (worker_run_job(fd, ctx, &job) < 0) {
			status = WORKER_EXIT_IO;
		}
	}
	thumb_ctx_destroy(ctx);
	return status;
}

int worker_main(int argc, char **argv)
{
	struct proto_reader rd;
	struct stat st;
	char *end;
	unsigned long slot = 0;

	if (argc != 2 || (slot = strtoul(argv[1], &end, 10), *end != '\0') ||
			slot > UINT32_MAX) {
		fprintf(stderr, "thumbd --worker is started by the thumbd master only\n");
		return WORKER_EXIT_USAGE;
	}
	if (fstat(WORKER_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "thumbd --worker: fd %d is not the master's socket\n",
			WORKER_FD);
		return WORKER_EXIT_USAGE;
	}
	/* no child of ours may inherit the socket (there are none, but a
	 * library could exec something) */
	fcntl(WORKER_FD, F_SETFD, FD_CLOEXEC);
	worker_signals();
	worker_crash_glob = getenv("THUMBD_TEST_CRASH_GLOB");
	if (worker_crash_glob && !worker_crash_glob[0]) {
		worker_crash_glob = NULL;
	}
	proto_reader_init(&rd);
	int status = worker_loop(WORKER_FD, &rd, (uint32_t)slot);
	proto_reader_finish(&rd);
	/* _exit: a sanitizer's leak check at exit would clone(), which the
	 * seccomp filter answers with SIGSYS */
	fflush(stderr);
	_exit(status);
}
