#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool log_journal;
static enum log_level log_level = LOG_LEVEL_INFO;

/* JOURNAL_STREAM is "DEV:INODE" of the stream journald gave us; it only
 * counts if stderr is still that stream (a child may inherit the variable
 * with stderr redirected elsewhere). */
static bool log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2) {
		return false;
	}
	if (fstat(STDERR_FILENO, &st) < 0) {
		return false;
	}
	return (unsigned long long)st.st_dev == dev &&
		(unsigned long long)st.st_ino == ino;
}

void log_init(void)
{
	log_journal = log_stderr_is_journal();
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

bool log_is_journal(void)
{
	return log_journal;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const int syslog_prio[] = { 3, 4, 6, 7 };
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[4096];
	int n = 0;

	if (level > log_level) {
		return;
	}
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>", syslog_prio[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ld ",
			ts.tv_nsec / 1000000);
		if (level != LOG_LEVEL_INFO) {
			n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ",
				names[level]);
		}
	}
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0) {
		return;
	}
	n += m;
	if ((size_t)n > sizeof(line) - 2) {
		n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	/* one write per line so concurrent writers never interleave a line */
	ssize_t left = n;
	const char *p = line;
	while (left > 0) {
		ssize_t w = write(STDERR_FILENO, p, (size_t)left);
		if (w <= 0) {
			break;
		}
		p += w;
		left -= w;
	}
}

#define LOG_DEFINE(fn, lvl) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		log_vwrite(lvl, fmt, ap); \
		va_end(ap); \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR)
LOG_DEFINE(log_warning, LOG_LEVEL_WARNING)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

/* Length of the valid UTF-8 sequence at @s (1-4), or 0 if invalid. */
static size_t log_utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80) {
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return n;
}

const char *log_path(const char *s)
{
	/* a few rotating buffers so one log call can quote several paths */
	static char bufs[4][4 * 1024 + 16];
	static unsigned next;
	char *out = bufs[next++ % 4];
	size_t o = 0, cap = sizeof(bufs[0]) - 5;
	const unsigned char *p = (const unsigned char *)s;

	while (*p && o < cap) {
		size_t n = log_utf8_len(p);
		if (n == 1 && *p >= 0x20 && *p != 0x7f && *p != '\\') {
			out[o++] = (char)*p++;
		} else if (n > 1) {
			if (o + n > cap) {
				break;
			}
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else if (*p == '\n') {
			o += (size_t)snprintf(out + o, 5, "\\n");
			p++;
		} else if (*p == '\t') {
			o += (size_t)snprintf(out + o, 5, "\\t");
			p++;
		} else if (*p == '\\') {
			o += (size_t)snprintf(out + o, 5, "\\\\");
			p++;
		} else {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", *p);
			p++;
		}
	}
	out[o] = '\0';
	return out;
}
