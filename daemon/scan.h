#ifndef THUMBD_SCAN_H
#define THUMBD_SCAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "config.h"

/*
 * Folder walks in the master's loop, a few hundred entries per loop turn
 * (a uv_idle handle), so a tree of 100,000 files never blocks events,
 * results or signals for long. Breadth first with one folder open at a
 * time; folders are opened without following symlinks. Two kinds:
 *
 *   SCAN_INPUTS  a watch's input tree (or part of it): each folder is
 *                reported before it is read (so the caller can watch it
 *                first), then each regular file in it
 *   SCAN_TEMPS   an output tree: thumbd's temp files (atomic_is_temp)
 *                older than a cut-off are removed, leftovers of a crash
 */

enum scan_kind {
	SCAN_INPUTS = 0,
	SCAN_TEMPS = 1,
};

struct scan_callbacks {
	/* About to read folder @rel ("" for the top) of root @root. */
	void (*dir)(void *arg, uint32_t root, const char *rel);
	/* A regular file (not followed through a symlink). */
	void (*file)(void *arg, uint32_t root, const char *rel,
			const struct stat *st);
	/* A walk of root @root ended; @files regular files were seen. */
	void (*done)(void *arg, uint32_t root, enum scan_kind kind,
			uint64_t files);
};

struct scanner;

int scan_create(uv_loop_t *loop, const struct scan_callbacks *cb, void *arg,
		struct scanner **out);

/* Cancel every walk and free the scanner once its handle is closed. */
void scan_close(struct scanner *s);

/*
 * Walk @top/@sub (@sub "" for all of @top; relative paths reported to the
 * callbacks are relative to @top). @recursive: descend into subfolders
 * (never into hidden ones for SCAN_INPUTS). For SCAN_TEMPS, temp files with
 * an mtime before @cutoff_ns (CLOCK_REALTIME) are removed. Returns 0 or
 * -ENOMEM.
 */
int scan_start(struct scanner *s, uint32_t root, enum scan_kind kind,
		const char *top, const char *sub, bool recursive,
		int64_t cutoff_ns);

/* Stop every walk of @root (all kinds); no done() is reported for them. */
void scan_cancel(struct scanner *s, uint32_t root);

/* Walks in progress. */
uint32_t scan_active(const struct scanner *s);

/*
 * True if input @rel of watch @w (whose stat is @st) needs thumbnails:
 * an output (outpath_rel for every size x format) is missing or older than
 * the input. Pure filesystem checks, no image is opened.
 */
bool scan_needs_work(const struct config_watch *w, const char *rel,
		const struct stat *st);

/*
 * Remove the temp files a worker killed in the middle of input @rel of
 * watch @w may have left next to its outputs. Only safe while no other job
 * for @rel runs (the master calls it before the retry is sent). Returns the
 * number of files removed.
 */
unsigned scan_clean_job_temps(const struct config_watch *w, const char *rel);

#endif
