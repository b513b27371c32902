#include "actions.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic.h"
#include "log.h"

/* Name clashes in a move folder get "-1", "-2"... up to this. */
#define ACTIONS_MAX_SUFFIX 1000

bool actions_need_durable(const struct config_watch *w)
{
	return w->on_success != CONFIG_ACTION_KEEP;
}

static void actions_fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash) {
		return;
	}
	*slash = '\0';
	int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* mkdir -p of the folder part of @path. */
static int actions_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf) {
		return 0;
	}
	*slash = '\0';
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
				return -errno;
			}
			*p = c;
			if (!c) {
				break;
			}
		}
	}
	return 0;
}

/* "dir/name.jpg" with clash number @n: "dir/name-3.jpg". */
static int actions_candidate(char *buf, size_t cap, const char *dst, int n)
{
	if (n == 0) {
		int r = snprintf(buf, cap, "%s", dst);
		return r < 0 || (size_t)r >= cap ? -ENAMETOOLONG : 0;
	}
	const char *base = strrchr(dst, '/');
	base = base ? base + 1 : dst;
	const char *dot = strrchr(base, '.');
	if (!dot || dot == base) {
		dot = dst + strlen(dst);
	}
	int r = snprintf(buf, cap, "%.*s-%d%s", (int)(dot - dst), dst, n, dot);
	return r < 0 || (size_t)r >= cap ? -ENAMETOOLONG : 0;
}

/* Copy @src to a new file @dst (O_EXCL), durably. For moves across
 * filesystems, where rename() cannot help. */
static int actions_copy(const char *src, const char *dst)
{
	char buf[64 * 1024];
	int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		return -errno;
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		0644);
	if (out < 0) {
		int e = -errno;
		close(in);
		return e;
	}
	int r = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		for (ssize_t o = 0; o < n;) {
			ssize_t w = write(out, buf + o, (size_t)(n - o));
			if (w < 0 && errno == EINTR) {
				continue;
			}
			if (w < 0) {
				r = -errno;
				break;
			}
			o += w;
		}
		if (r < 0) {
			break;
		}
	}
	if (r == 0 && fsync(out) < 0) {
		r = -errno;
	}
	if (close(out) < 0 && r == 0) {
		r = -errno;
	}
	close(in);
	if (r < 0) {
		unlink(dst);
	}
	return r;
}

/* Move input @rel of @w below @dir, keeping its relative path. */
static int actions_move(const struct config_watch *w, const char *rel,
		const char *dir, const char *what)
{
	char src[PATH_MAX], dst[PATH_MAX], cand[PATH_MAX];
	int r;

	if (snprintf(src, sizeof(src), "%s/%s", w->input, rel) >= (int)sizeof(src) ||
			snprintf(dst, sizeof(dst), "%s/%s", dir, rel) >= (int)sizeof(dst)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if ((r = actions_mkdirs(dst)) < 0) {
		goto fail;
	}
	for (int n = 0; n < ACTIONS_MAX_SUFFIX; n++) {
		if ((r = actions_candidate(cand, sizeof(cand), dst, n)) < 0) {
			goto fail;
		}
		/* never replace what an earlier move put there */
		if (renameat2(AT_FDCWD, src, AT_FDCWD, cand, RENAME_NOREPLACE) == 0) {
			actions_fsync_dir(cand);
			return 0;
		}
		r = -errno;
		if (r == -EXDEV) {
			r = actions_copy(src, cand);
			if (r == -EEXIST) {
				continue;
			}
			if (r == 0 && unlink(src) < 0) {
				r = -errno;
				log_warning("%s %s: copied to %s but cannot remove the "
					"original: %s", what, log_path(src),
					log_path(cand), strerror(-r));
				return r;
			}
			if (r == 0) {
				actions_fsync_dir(cand);
				return 0;
			}
			goto fail;
		}
		if (r != -EEXIST) {
			goto fail;
		}
	}
fail:
	log_warning("%s %s to %s: %s; the input stays where it is", what,
		log_path(src), log_path(dir), strerror(-r));
	return r;
}

int actions_success(const struct config_watch *w, const char *rel)
{
	char path[PATH_MAX];

	switch (w->on_success) {
	case CONFIG_ACTION_DELETE:
		if (snprintf(path, sizeof(path), "%s/%s", w->input, rel) >=
				(int)sizeof(path)) {
			return -ENAMETOOLONG;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			int e = errno;
			log_warning("on_success delete %s: %s", log_path(path),
				strerror(e));
			return -e;
		}
		return 0;
	case CONFIG_ACTION_MOVE:
		return actions_move(w, rel, w->success_dir, "on_success move");
	default:
		return 0;
	}
}

int actions_failure(const struct config_watch *w, const char *rel)
{
	if (w->on_failure == CONFIG_ACTION_MOVE) {
		return actions_move(w, rel, w->failure_dir, "on_failure move");
	}
	return 0;
}
