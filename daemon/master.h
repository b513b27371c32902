#ifndef THUMBD_MASTER_H
#define THUMBD_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * The master process: one libuv loop that owns the configuration, the
 * watches, the queue and the worker pool. It moves paths and small
 * messages only; it never opens an image.
 */

#define MASTER_MAX_OVERRIDES 32

/* One command-line option, applied with config_set() after the file. */
struct master_override {
	const char *key;
	const char *value;
	const char *origin;   /* "--quality" */
	bool watch;           /* applies to every [watch], else to [daemon] */
};

struct master_opts {
	const char *config_path;      /* -c FILE, NULL if none */
	const char *input;            /* -i, with -o: the "default" watch */
	const char *output;
	struct master_override ov[MASTER_MAX_OVERRIDES];
	uint32_t n_ov;
	bool once;                    /* --once: process what is there, exit */
};

/*
 * Build a finished configuration from @o: [daemon] overrides, then the file
 * (whose values do not replace them), then the ad-hoc watch, then the
 * per-watch overrides on every watch, then config_finish(). Used at start,
 * for -n and on every SIGHUP. Returns 0 or a negative errno with a message
 * in @err.
 */
int master_load_config(const struct master_opts *o, struct config **out,
		char *err, size_t errlen);

/*
 * Run the daemon (or the --once batch) with @cfg, which the master then
 * owns. Returns the process exit status: 0 after a graceful stop (or a
 * --once run where every input succeeded), 1 otherwise.
 */
int master_run(const struct master_opts *o, struct config *cfg);

#endif
