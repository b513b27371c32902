#ifndef THUMBD_LOG_H
#define THUMBD_LOG_H

#include <stdbool.h>

/*
 * The daemon's one way to speak. Under journald (JOURNAL_STREAM names our
 * stderr) each line starts with a <N> syslog priority and has no timestamp;
 * elsewhere each line starts with an ISO 8601 local timestamp. Library code
 * (common/, config/) never logs: its caller logs each failure once.
 */

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Decide the line format from the environment; safe to call again. */
void log_init(void);

/* Lines above @level are dropped. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* True if journald formatting is in use. */
bool log_is_journal(void);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warning(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

/*
 * Render @s for a log line: bytes that are not printable UTF-8 (newlines,
 * control characters, invalid sequences) become \n, \t or \xHH so one
 * failure is always one line, whatever the file name holds.
 */
const char *log_path(const char *s);

#endif
