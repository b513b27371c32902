#ifndef THUMBD_COMMON_ATOMIC_H
#define THUMBD_COMMON_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Every temporary file thumbd creates starts with this prefix, so stale ones
 * left by a crash can be recognised and removed at start-up, and the watcher
 * never mistakes one for an input.
 */
#define ATOMIC_TMP_PREFIX ".thumbd-"

/*
 * Write @len bytes as @name in directory @dirfd so that @name either does not
 * change or holds the whole new content: a temp file in the same directory
 * (O_CREAT|O_EXCL), write, optional fsync, rename. On any failure the temp
 * file is removed. Returns 0 or a negative errno (-ENOSPC, -EACCES, ...).
 */
int atomic_write(int dirfd, const char *name, const void *data, size_t len,
		bool durable);

/* True if the file name @name is one of thumbd's temporary files. */
bool atomic_is_temp(const char *name);

#endif
