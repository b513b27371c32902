#ifndef THUMBD_TESTLIB_H
#define THUMBD_TESTLIB_H

/*
 * A tiny header-only harness for the unit tests. Each test executable is one
 * module; it makes its cases with real tools in a private temporary folder
 * (removed at exit) and exits non-zero on the first failed CHECK.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tl_dir[256];

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond); \
			exit(1); \
		} \
	} while (0)

#define CHECK_INT_EQ(a, b) \
	do { \
		long long a_ = (long long)(a), b_ = (long long)(b); \
		if (a_ != b_) { \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, a_, b_); \
			exit(1); \
		} \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle) \
	do { \
		const char *h_ = (hay), *n_ = (needle); \
		if (!h_ || !strstr(h_, n_)) { \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", \
				__FILE__, __LINE__, h_ ? h_ : "(null)", n_); \
			exit(1); \
		} \
	} while (0)

/* Skip the whole test executable with a reason (meson counts exit 77). */
#define SKIP(...) \
	do { \
		fprintf(stderr, "SKIP: " __VA_ARGS__); \
		fputc('\n', stderr); \
		exit(77); \
	} while (0)

static void tl_cleanup(void)
{
	if (tl_dir[0] && !getenv("THUMBD_KEEP_TMP")) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tl_dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "could not remove %s\n", tl_dir);
		}
	}
}

/* A private temporary folder for this test, removed at exit. */
static inline const char *tl_tmpdir(void)
{
	if (!tl_dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tl_dir, sizeof(tl_dir), "%s/thumbd-test.XXXXXX",
			base ? base : "/tmp");
		if (!mkdtemp(tl_dir)) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(tl_cleanup);
	}
	return tl_dir;
}

/* A path inside the temporary folder (static rotating buffers). */
static inline const char *tl_path(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline const char *tl_path(const char *fmt, ...)
{
	static char bufs[8][512];
	static unsigned n;
	char *b = bufs[n++ % 8];
	int o = snprintf(b, 512, "%s/", tl_tmpdir());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b + o, 512 - (size_t)o, fmt, ap);
	va_end(ap);
	return b;
}

/* Run a shell command (formatted) in the temporary folder; returns its exit status. */
static inline int tl_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int tl_sh(const char *fmt, ...)
{
	char cmd[8192];
	int o = snprintf(cmd, sizeof(cmd), "cd '%s' && ", tl_tmpdir());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + o, sizeof(cmd) - (size_t)o, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Like tl_sh, but the command must succeed. */
#define TL_SH_OK(...) \
	do { \
		if (tl_sh(__VA_ARGS__) != 0) { \
			fprintf(stderr, "%s:%d: command failed\n", __FILE__, \
				__LINE__); \
			exit(1); \
		} \
	} while (0)

/* True if @prog is on PATH. */
static inline int tl_have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v '%s' >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

/* Read a whole file into a malloc'd buffer; NULL on error. */
static inline uint8_t *tl_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		*len = (size_t)n;
	}
	return buf;
}

#endif
