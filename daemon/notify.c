#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "log.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Longest message we build; STATUS= text beyond it is cut. */
#define NOTIFY_MSG_MAX 1024

/* Set after the first failed send: the watchdog pings every few seconds and
 * a broken socket must not turn into a log line each time. */
static bool notify_warned;

#if !HAVE_LIBSYSTEMD
/*
 * The datagram sd_notify(3) would send, without libsystemd: one AF_UNIX
 * SOCK_DGRAM message to the socket named by NOTIFY_SOCKET, "/path" or
 * "@abstract". Returns 0, or a negative errno.
 */
static int notify_send_raw(const char *sock, const char *msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(sock);
	socklen_t salen;

	if ((sock[0] != '/' && sock[0] != '@') || n < 2 ||
			n >= sizeof(sa.sun_path)) {
		return -EINVAL;
	}
	memcpy(sa.sun_path, sock, n);
	if (sock[0] == '@') {
		/* abstract: leading NUL, and the length, not a NUL, ends it */
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	int ret = 0;
	size_t len = strlen(msg);
	ssize_t w;
	do {
		w = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			salen);
	} while (w < 0 && errno == EINTR);
	if (w < 0) {
		ret = -errno;
	} else if ((size_t)w != len) {
		ret = -EMSGSIZE;
	}
	close(fd);
	return ret;
}
#endif

/* Send @msg if we run under a service manager; errors are reported once. */
static void notify_send(const char *msg)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	int r;

	if (!sock || !sock[0]) {
		return;
	}
#if HAVE_LIBSYSTEMD
	r = sd_notify(0, msg);
	if (r > 0) {
		r = 0;
	} else if (r == 0) {
		r = -ENOTCONN;
	}
#else
	r = notify_send_raw(sock, msg);
#endif
	if (r < 0 && !notify_warned) {
		notify_warned = true;
		log_warning("sd_notify to %s failed: %s (further failures not logged)",
			log_path(sock), strerror(-r));
	}
}

/* Parse a positive decimal that fits in 64 bits; false otherwise. */
static bool notify_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9') {
		return false;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		return false;
	}
	*out = (uint64_t)v;
	return true;
}

uint64_t notify_init(void)
{
	uint64_t usec = 0;
	const char *pid_s = getenv("WATCHDOG_PID");

	notify_warned = false;
	/* WATCHDOG_PID names the process the manager expects pings from; a
	 * process that merely inherited the variables must not ping. */
	if (pid_s) {
		uint64_t pid;
		if (!notify_parse_u64(pid_s, &pid) || pid != (uint64_t)getpid()) {
			return 0;
		}
	}
	if (!notify_parse_u64(getenv("WATCHDOG_USEC"), &usec)) {
		return 0;
	}
	return usec;
}

void notify_ready(void)
{
	notify_send("READY=1");
}

void notify_reloading(void)
{
	char msg[96];
	struct timespec ts;

	/* Type=notify-reload (systemd 253+) wants the CLOCK_MONOTONIC time the
	 * reload began, to match it with our READY=1; older managers ignore
	 * the unknown field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		(uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	notify_send(msg);
}

void notify_stopping(void)
{
	notify_send("STOPPING=1");
}

void notify_watchdog(void)
{
	notify_send("WATCHDOG=1");
}

void notify_status(const char *fmt, ...)
{
	char msg[NOTIFY_MSG_MAX];
	const size_t pre = sizeof("STATUS=") - 1;
	va_list ap;

	if (!getenv("NOTIFY_SOCKET")) {
		return;
	}
	memcpy(msg, "STATUS=", pre);
	va_start(ap, fmt);
	int n = vsnprintf(msg + pre, sizeof(msg) - pre, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	/* a newline would start a new assignment in the datagram */
	for (char *p = msg + pre; *p; p++) {
		if (*p == '\n' || *p == '\r') {
			*p = ' ';
		}
	}
	notify_send(msg);
}
