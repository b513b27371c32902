#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Random characters after the final name: 36^8, enough to never collide. */
#define ATOMIC_SUFFIX_LEN 8
#define ATOMIC_TRIES 16

/*
 * A random suffix. getrandom(GRND_NONBLOCK) cannot block; if it fails
 * (very early boot, a seccomp filter) the clock and pid still make a clash
 * unlikely, and O_EXCL makes a clash harmless.
 */
static void atomic_suffix(char *out)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t rnd[ATOMIC_SUFFIX_LEN];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
			(uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec;
		for (size_t i = 0; i < sizeof(rnd); i++) {
			rnd[i] = (uint8_t)(x >> (i * 8));
		}
	}
	for (size_t i = 0; i < ATOMIC_SUFFIX_LEN; i++) {
		out[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	}
	out[ATOMIC_SUFFIX_LEN] = '\0';
}

/*
 * ".thumbd-NAME.XXXXXXXX". A final name near NAME_MAX is shortened in the
 * temp name only: the temp name just has to be unique and recognisable.
 */
static void atomic_tmp_name(const char *name, char *buf, size_t cap)
{
	char suffix[ATOMIC_SUFFIX_LEN + 1];
	size_t room = NAME_MAX - (sizeof(ATOMIC_TMP_PREFIX) - 1) -
		(ATOMIC_SUFFIX_LEN + 1);
	int n = (int)strnlen(name, room);

	atomic_suffix(suffix);
	snprintf(buf, cap, "%s%.*s.%s", ATOMIC_TMP_PREFIX, n, name, suffix);
}

static int atomic_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (n == 0) {
			/* no progress and no errno: treat as an I/O error */
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int atomic_create(int dirfd, const char *name, char *tmp, size_t cap,
		int *fd)
{
	for (int i = 0; i < ATOMIC_TRIES; i++) {
		atomic_tmp_name(name, tmp, cap);
		int f = openat(dirfd, tmp,
			O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
			0644);
		if (f >= 0) {
			*fd = f;
			return 0;
		}
		if (errno != EEXIST) {
			return -errno;
		}
	}
	return -EEXIST;
}

/*
 * Write, optionally fsync, close (whose error counts: NFS reports late
 * write errors there), rename. A failed step removes the temp file, so a
 * full disk leaves nothing behind. With @durable the folder is fsync'd
 * after the rename too, so the new name survives a power cut.
 */
int atomic_write(int dirfd, const char *name, const void *data, size_t len,
		bool durable)
{
	char tmp[NAME_MAX + 1];
	int fd = -1, r;

	if (!name[0] || strchr(name, '/') || strlen(name) > NAME_MAX) {
		return -EINVAL;
	}
	r = atomic_create(dirfd, name, tmp, sizeof(tmp), &fd);
	if (r < 0) {
		return r;
	}
	r = atomic_write_all(fd, data, len);
	if (r == 0 && durable && fsync(fd) < 0) {
		r = -errno;
	}
	if (close(fd) < 0 && r == 0 && errno != EINTR) {
		r = -errno;
	}
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (durable && fsync(dirfd) < 0) {
		/* the file is complete and in place; only its durability failed */
		return -errno;
	}
	return 0;
}

bool atomic_is_temp(const char *name)
{
	return strncmp(name, ATOMIC_TMP_PREFIX, sizeof(ATOMIC_TMP_PREFIX) - 1) == 0;
}
