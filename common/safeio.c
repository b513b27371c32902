#include "safeio.h"
#include "errtext.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * openat2 returns EAGAIN when a concurrent rename might have let a
 * RESOLVE_BENEATH lookup escape; retrying a few times is what the man page
 * asks for, and a tree renamed this fast is gone for our purposes anyway.
 */
#define SAFEIO_EAGAIN_TRIES 8

/* Buffers grow in steps of this, so files of similar size reuse one block. */
#define SAFEIO_BUF_STEP (64u * 1024)

/*
 * True if some component of @rel is "..". RESOLVE_BENEATH would allow a
 * ".." that stays inside the root; refusing every one keeps openat2 and
 * the fallback walk in exact agreement, and no input path needs one.
 */
static bool safeio_has_dotdot(const char *rel)
{
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			return true;
		}
		p += n;
		p += strspn(p, "/");
	}
	return false;
}

int safeio_openat(int rootfd, const char *rel, int flags, int *fd)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			RESOLVE_NO_MAGICLINKS,
	};

	if (safeio_has_dotdot(rel)) {
		return -EXDEV;
	}
	for (int i = 0; i < SAFEIO_EAGAIN_TRIES; i++) {
		long r = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (r >= 0) {
			*fd = (int)r;
			return 0;
		}
		if (errno == ENOSYS) {
			return safeio_open_walk(rootfd, rel, flags, fd);
		}
		if (errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
	}
	return -EAGAIN;
}

/*
 * One intermediate folder of a walk. O_PATH needs only search permission,
 * like a path lookup; with O_NOFOLLOW|O_DIRECTORY a symbolic link fails
 * with ENOTDIR, which is turned into the ELOOP that openat2 would give.
 */
static int safeio_walk_dir(int cur, const char *name, int *next)
{
	struct stat st;
	int fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		*next = fd;
		return 0;
	}
	if (errno == ENOTDIR && fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			S_ISLNK(st.st_mode)) {
		return -ELOOP;
	}
	return -errno;
}

int safeio_open_walk(int rootfd, const char *rel, int flags, int *fd)
{
	char path[PATH_MAX];
	char *save = NULL, *tok, *comp = NULL;
	int cur = rootfd, r = 0, out;
	size_t len = strlen(rel);

	if (rel[0] == '/') {
		return -EXDEV;
	}
	if (len >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	memcpy(path, rel, len + 1);
	/* each component is entered once the next one shows it is a folder */
	for (tok = strtok_r(path, "/", &save); tok;
			tok = strtok_r(NULL, "/", &save)) {
		int nfd = -1;
		if (strcmp(tok, ".") == 0) {
			continue;
		}
		if (strcmp(tok, "..") == 0) {
			r = -EXDEV;
			break;
		}
		if (comp) {
			r = safeio_walk_dir(cur, comp, &nfd);
			if (r < 0) {
				break;
			}
			if (cur != rootfd) {
				close(cur);
			}
			cur = nfd;
		}
		comp = tok;
	}
	if (r == 0) {
		/* no component at all means the root itself, as with openat2 */
		out = openat(cur, comp ? comp : ".", flags | O_NOFOLLOW | O_CLOEXEC);
		if (out < 0) {
			r = -errno;
		} else {
			*fd = out;
		}
	}
	if (cur != rootfd) {
		close(cur);
	}
	return r;
}

static const char *safeio_kind(mode_t m)
{
	if (S_ISDIR(m)) {
		return "a folder";
	}
	if (S_ISFIFO(m)) {
		return "a FIFO";
	}
	if (S_ISSOCK(m)) {
		return "a socket";
	}
	if (S_ISCHR(m) || S_ISBLK(m)) {
		return "a device";
	}
	return "a special file";
}

/* The reason for an open failure, in words a user can act on. */
static void safeio_open_reason(int r, char *err, size_t errlen)
{
	switch (r) {
	case -ENOENT:
		errtext_set(err, errlen, "no such file");
		break;
	case -ELOOP:
		errtext_set(err, errlen, "symbolic link refused");
		break;
	case -EXDEV:
		errtext_set(err, errlen, "path leads outside the input folder");
		break;
	case -ENOTDIR:
		errtext_set(err, errlen, "a component of the path is not a folder");
		break;
	default:
		errtext_set(err, errlen, "cannot open: %s", strerror(-r));
		break;
	}
}

static int safeio_buf_reserve(struct safeio_buf *buf, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (n <= buf->cap) {
		return 0;
	}
	if (n > SIZE_MAX - SAFEIO_BUF_STEP) {
		return -ENOMEM;
	}
	cap = (n + SAFEIO_BUF_STEP - 1) / SAFEIO_BUF_STEP * SAFEIO_BUF_STEP;
	/* the old bytes are not needed: no realloc copy */
	p = malloc(cap);
	if (!p) {
		return -ENOMEM;
	}
	free(buf->data);
	buf->data = p;
	buf->cap = cap;
	return 0;
}

/*
 * Read until EOF, asking for one byte more than the file should hold so a
 * file that grew is noticed without another system call per job.
 */
static int safeio_read_all(int fd, uint8_t *p, size_t want, size_t *got)
{
	size_t n = 0;

	while (n < want) {
		ssize_t r = read(fd, p + n, want - n);
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		if (r == 0) {
			break;
		}
		n += (size_t)r;
	}
	*got = n;
	return 0;
}

static bool safeio_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
		a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * The file is read into memory rather than mapped: a mapping turns a
 * truncation by the writer into SIGBUS in the middle of a decode, and the
 * copy out of the page cache costs far less than decoding the bytes.
 */
static int safeio_read_fd(int fd, uint64_t max_size, struct safeio_buf *buf,
		struct stat *st, char *err, size_t errlen)
{
	struct stat before, after;
	size_t size, got = 0;
	int r;

	if (fstat(fd, &before) < 0) {
		r = -errno;
		errtext_set(err, errlen, "cannot stat: %s", strerror(-r));
		return r;
	}
	if (!S_ISREG(before.st_mode)) {
		errtext_set(err, errlen, "not a regular file (%s)",
			safeio_kind(before.st_mode));
		return -EINVAL;
	}
	if ((uint64_t)before.st_size > max_size) {
		errtext_set(err, errlen, "file is %lld bytes, over max_file_size %llu",
			(long long)before.st_size, (unsigned long long)max_size);
		return -E2BIG;
	}
	size = (size_t)before.st_size;
	r = safeio_buf_reserve(buf, size + 1);
	if (r < 0) {
		errtext_set(err, errlen, "out of memory for %zu bytes", size);
		return r;
	}
	r = safeio_read_all(fd, buf->data, size + 1, &got);
	if (r < 0) {
		errtext_set(err, errlen, "read error: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &after) < 0) {
		r = -errno;
		errtext_set(err, errlen, "cannot stat: %s", strerror(-r));
		return r;
	}
	if (got != size || !safeio_same(&before, &after)) {
		errtext_set(err, errlen, "changed while being read");
		return -ESTALE;
	}
	buf->len = size;
	*st = after;
	return 0;
}

int safeio_read_file(const char *root, const char *rel, uint64_t max_size,
		struct safeio_buf *buf, struct stat *st, char *err, size_t errlen)
{
	int rootfd, fd, r;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = -errno;
		errtext_set(err, errlen, "cannot open the input folder: %s",
			strerror(-r));
		return r;
	}
	/* O_NONBLOCK: opening a FIFO for reading must not wait for a writer */
	r = safeio_openat(rootfd, rel, O_RDONLY | O_NONBLOCK, &fd);
	close(rootfd);
	if (r < 0) {
		safeio_open_reason(r, err, errlen);
		return r;
	}
	r = safeio_read_fd(fd, max_size, buf, st, err, errlen);
	close(fd);
	return r;
}

void safeio_buf_finish(struct safeio_buf *buf)
{
	if (!buf) {
		return;
	}
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

/*
 * Create and enter each missing component in turn. mkdirat() never
 * follows a symbolic link in its last component, and each step is opened
 * with the same beneath/no-symlink rules, so a link planted between the
 * two calls is refused rather than followed.
 */
static int safeio_make_dirs(int rootfd, const char *dir, int *dirfd)
{
	char path[PATH_MAX];
	char *save = NULL, *comp;
	int cur = rootfd, r = 0;
	size_t len = strlen(dir);

	if (dir[0] == '/') {
		return -EXDEV;
	}
	if (len >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	memcpy(path, dir, len + 1);
	for (comp = strtok_r(path, "/", &save); comp;
			comp = strtok_r(NULL, "/", &save)) {
		int nfd = -1;
		if (strcmp(comp, ".") == 0) {
			continue;
		}
		if (strcmp(comp, "..") == 0) {
			r = -EXDEV;
			break;
		}
		if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		r = safeio_openat(cur, comp, O_RDONLY | O_DIRECTORY, &nfd);
		if (r < 0) {
			break;
		}
		if (cur != rootfd) {
			close(cur);
		}
		cur = nfd;
	}
	if (r < 0) {
		if (cur != rootfd) {
			close(cur);
		}
		return r;
	}
	if (cur == rootfd) {
		/* only "." components: hand back a descriptor of our own */
		cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
		if (cur < 0) {
			return -errno;
		}
	}
	*dirfd = cur;
	return 0;
}

int safeio_open_outdir(const char *root, const char *dir, int *dirfd,
		char *err, size_t errlen)
{
	int rootfd, fd, r;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = -errno;
		errtext_set(err, errlen, "cannot open the output folder: %s",
			strerror(-r));
		return r;
	}
	if (dir[0] == '\0' || strcmp(dir, ".") == 0) {
		*dirfd = rootfd;
		return 0;
	}
	/* the common case: the folder exists already */
	r = safeio_openat(rootfd, dir, O_RDONLY | O_DIRECTORY, &fd);
	if (r == -ENOENT) {
		r = safeio_make_dirs(rootfd, dir, &fd);
	}
	close(rootfd);
	if (r < 0) {
		if (r == -ELOOP) {
			errtext_set(err, errlen,
				"symbolic link in the output folder path refused");
		} else if (r == -EXDEV) {
			errtext_set(err, errlen, "output path leads outside the output folder");
		} else {
			errtext_set(err, errlen, "cannot create the output folder: %s",
				strerror(-r));
		}
		return r;
	}
	*dirfd = fd;
	return 0;
}
