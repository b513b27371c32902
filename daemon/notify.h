#ifndef THUMBD_NOTIFY_H
#define THUMBD_NOTIFY_H

#include <stdint.h>

/*
 * systemd's notification protocol (sd_notify). Every call is a no-op when
 * NOTIFY_SOCKET is unset, and works with or without libsystemd.
 */

/* Read NOTIFY_SOCKET and WATCHDOG_USEC. Returns the watchdog interval in
 * microseconds (0 if none) so the caller can ping at half of it. */
uint64_t notify_init(void);

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);

/* STATUS=... with printf formatting. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
