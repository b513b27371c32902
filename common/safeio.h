#ifndef THUMBD_COMMON_SAFEIO_H
#define THUMBD_COMMON_SAFEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Opening files named by someone else. Inputs and output folders are
 * reached from their root with every component resolved beneath it: no
 * "..", no absolute path, no symbolic link (not even one inside the tree),
 * no /proc magic link. Inputs must be regular files; they are read whole
 * and checked again afterwards so that a file being rewritten is reported,
 * never thumbnailed half-written.
 *
 * Errors (negative errno; the functions that take @err also write a short
 * reason there, without any path, for the caller to put after the name):
 *   -ENOENT    the input (or a folder on its path) does not exist
 *   -ESTALE    it changed while being read (size, mtime or inode)
 *   -ELOOP     a symbolic link is on the path
 *   -EXDEV     the path leaves its root ("..", absolute)
 *   -EINVAL    not a regular file (FIFO, socket, device, folder)
 *   -E2BIG     over the size limit
 *   -ENOMEM, -EACCES, -EIO, -EMFILE ... as the system reports them
 */

/* A read buffer kept from one job to the next: it only grows. */
struct safeio_buf {
	uint8_t *data;
	size_t len; /* bytes of the last file read */
	size_t cap;
};

/*
 * Open @rel beneath the directory @rootfd with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), any ".." component refused
 * (even one that stays inside), or safeio_open_walk() where
 * the kernel has no openat2. @flags are open flags; O_NOFOLLOW and
 * O_CLOEXEC are always added. Returns 0 and the fd in *@fd, or a negative
 * errno.
 */
int safeio_openat(int rootfd, const char *rel, int flags, int *fd);

/*
 * The same rules without openat2: one component at a time, each opened
 * with O_NOFOLLOW, ".." refused. Exported so tests can run it on kernels
 * that have openat2.
 */
int safeio_open_walk(int rootfd, const char *rel, int flags, int *fd);

/*
 * Read the regular file @rel beneath folder @root into @buf (whole file,
 * at most @max_size bytes). A FIFO or device is refused from fstat before
 * any read, so it never blocks. *@st gets the file's stat on success.
 * Returns 0 or a negative errno (see above) with a reason in @err.
 */
int safeio_read_file(const char *root, const char *rel, uint64_t max_size,
		struct safeio_buf *buf, struct stat *st, char *err, size_t errlen);

/* Free @buf's memory; the struct is zeroed. */
void safeio_buf_finish(struct safeio_buf *buf);

/*
 * Open (creating missing components, mode 0755) the folder @dir beneath
 * the existing folder @root, under the same rules as inputs. @dir may be
 * "" or "." for the root itself. Returns 0 and a directory fd (O_RDONLY,
 * usable with the *at calls and fsync) in *@dirfd, or a negative errno
 * with a reason in @err.
 */
int safeio_open_outdir(const char *root, const char *dir, int *dirfd,
		char *err, size_t errlen);

#endif
