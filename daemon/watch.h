#ifndef THUMBD_WATCH_H
#define THUMBD_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/*
 * inotify for the master: one inotify_init1(IN_NONBLOCK|IN_CLOEXEC) fd
 * driven by a uv_poll_t (uv_fs_event has no IN_CLOSE_WRITE, no recursion and
 * drops IN_Q_OVERFLOW). Roots are the watches' input folders, named by the
 * caller's id; directories are known by wd -> (root, relative dir).
 *
 * What counts as an arrival: IN_CLOSE_WRITE and IN_MOVED_TO at once; a bare
 * IN_CREATE (hard link, O_TMPFILE + linkat) once its size and mtime have
 * been stable for settle_ms, unless a writer opened it (then its
 * IN_CLOSE_WRITE decides). A new directory is watched at once and handed to
 * the caller to scan (files may already be inside). IN_Q_OVERFLOW asks for
 * a rescan of everything. A root that disappears is polled for and rescanned
 * when it is back. Roots on network filesystems are rescanned periodically.
 */

#define WATCH_ALL UINT32_MAX

struct watch_callbacks {
	/* Should @rel (a file name relative to root @root) be looked at? */
	bool (*wants)(void *arg, uint32_t root, const char *rel);
	/* A file arrived. @settled: it came from the settle timer (a bare
	 * CREATE or a scan's too-recent file), so check whether it still
	 * needs work before queueing it. */
	void (*file)(void *arg, uint32_t root, const char *rel, bool settled);
	/* A directory appeared (created or moved in): scan it. */
	void (*dir)(void *arg, uint32_t root, const char *rel);
	/* Rescan root @root, or every root if WATCH_ALL (overflow). */
	void (*rescan)(void *arg, uint32_t root);
	/* Root @root disappeared and is back (maybe as a new folder): anything
	 * bound to the old folder (the workers' sandbox) must be renewed. */
	void (*root_back)(void *arg, uint32_t root);
};

struct watcher;

/* A watcher with no roots. Returns 0 or a negative errno. */
int watch_create(uv_loop_t *loop, const struct watch_callbacks *cb, void *arg,
		uint64_t settle_ms, struct watcher **out);

/* Close the fd and handles; @done(@arg) is called once all are closed and
 * the memory freed. */
void watch_close(struct watcher *w, void (*done)(void *), void *arg);

void watch_set_settle(struct watcher *w, uint64_t settle_ms);

/*
 * Watch @path as root @id. Only the root folder itself is watched here;
 * subfolders are added by watch_add_dir() as a scan finds them (so a scan
 * never misses a file created behind it). @scan_interval_ms is the rescan
 * period used if the folder is on a network filesystem. A missing folder
 * is polled for. Returns 0 or a negative errno (-ENOMEM).
 */
int watch_add_root(struct watcher *w, uint32_t id, const char *path,
		bool recursive, uint64_t scan_interval_ms);

/* Stop watching root @id and forget its folders and pending files. */
void watch_remove_root(struct watcher *w, uint32_t id);

/* True if root @id is known and not currently missing. */
bool watch_root_ok(const struct watcher *w, uint32_t id);

/*
 * Watch subfolder @rel of root @id (called by scans on the way down). A
 * folder already watched under another name (it was renamed) is renamed
 * in the map. Returns 0 or a negative errno.
 */
int watch_add_dir(struct watcher *w, uint32_t id, const char *rel);

/* Queue @rel of root @id once it stops changing (a scan found it being
 * written). */
void watch_settle(struct watcher *w, uint32_t id, const char *rel);

/* Back-pressure: stop and restart reading events. While paused the kernel
 * queue may overflow; the caller rescans after resuming anyway. */
void watch_pause(struct watcher *w);
void watch_resume(struct watcher *w);

/* Watched folders in total (for the log). */
uint64_t watch_count_dirs(const struct watcher *w);

#endif
