#ifndef THUMBD_CONFIG_H
#define THUMBD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "spec.h"

/*
 * thumbd's configuration: one [daemon] section and one [watch NAME] section
 * per drop folder. The same struct is built from the command line for an
 * ad-hoc watch, so the daemon has one code path.
 */

#define CONFIG_DEFAULT_PATH THUMBD_SYSCONFDIR "/thumbd/thumbd.conf"
#define CONFIG_MAX_WATCHES 256
#define CONFIG_MAX_GLOBS 32

enum config_action {
	CONFIG_ACTION_KEEP = 0,
	CONFIG_ACTION_DELETE,  /* on_success only */
	CONFIG_ACTION_MOVE,    /* move to the action's dir */
};

enum config_log_level {
	CONFIG_LOG_ERROR = 0,
	CONFIG_LOG_WARNING,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG,
};

struct config_watch {
	char *name;            /* the NAME of [watch NAME]; "default" for -i/-o */
	char *input;           /* absolute after config_finish() */
	char *output;
	bool recursive;        /* default true */
	struct thumb_spec spec;/* sizes, formats, quality, fit, name, durable; limits copied from [daemon] */
	char *include[CONFIG_MAX_GLOBS];
	uint32_t n_include;
	char *exclude[CONFIG_MAX_GLOBS];
	uint32_t n_exclude;
	uint32_t on_success;   /* enum config_action */
	char *success_dir;     /* for CONFIG_ACTION_MOVE */
	uint32_t on_failure;   /* keep or move */
	char *failure_dir;
};

struct config_daemon {
	uint32_t workers;          /* 0 = auto: one per online CPU */
	bool cpu_affinity;         /* default true */
	uint64_t stats_interval_ms;/* default 10 s; 0 = off */
	uint32_t log_level;        /* enum config_log_level, default info */
	char *metrics_file;        /* NULL = none */
	uint64_t job_timeout_ms;   /* default 30 s */
	uint32_t max_jobs_per_worker; /* default 10000; 0 = never recycle */
	uint64_t worker_memory;    /* RLIMIT_AS bytes, default 1 GiB; 0 = unlimited */
	uint64_t max_pixels;       /* default 100 MP */
	uint64_t max_file_size;    /* default 256 MiB */
	uint64_t max_memory;       /* libjpeg max_memory_to_use, default 256 MiB */
	uint32_t max_scans;        /* default 100 */
	uint64_t max_queue;        /* default 1000000 */
	uint64_t settle_ms;        /* CREATE-without-close settle time, default 1 s */
	uint64_t scan_interval_ms; /* periodic rescan for network filesystems and retries, default 60 s */
};

struct config {
	char *path;                /* the file it came from, NULL for CLI only */
	struct config_daemon daemon;
	struct config_watch *watches[CONFIG_MAX_WATCHES];
	uint32_t n_watches;
};

/* An empty config holding every default and no watch. NULL on ENOMEM. */
struct config *config_create(void);
void config_destroy(struct config *cfg);

/*
 * Add a watch named @name with defaults (sizes etc. from
 * spec_init_default). Returns it, or NULL on ENOMEM or too many watches.
 */
struct config_watch *config_add_watch(struct config *cfg, const char *name);

/*
 * Parse @path into @cfg (which holds defaults, or CLI values to be kept:
 * see config_load). On error returns a negative errno and writes
 * "FILE:LINE: KEY: expected ..., got \"...\"" into @err.
 */
int config_parse_file(struct config *cfg, const char *path, char *err,
		size_t errlen);

/*
 * Make @cfg ready to run: copy [daemon] limits into each watch's spec,
 * make folders absolute, and cross-check (missing input folders, an output
 * inside its own input, two watches sharing an output, and the like).
 * Returns 0 or a negative errno with a message in @err.
 */
int config_finish(struct config *cfg, char *err, size_t errlen);

/*
 * Set one key as if it were read from the file: @w selects a [watch]
 * section, NULL the [daemon] section. This is how command-line options
 * override the file, with the same parsing and the same messages (the
 * message names @origin, e.g. "--quality", instead of FILE:LINE).
 * Returns 0 or -EINVAL with a message in @err.
 */
int config_set(struct config *cfg, struct config_watch *w, const char *key,
		const char *value, const char *origin, char *err, size_t errlen);

/*
 * True if the input @rel (relative to the watch's input folder) should be
 * thumbnailed: not hidden, not a partial-upload name, and passing the
 * include / exclude globs.
 */
bool config_watch_wants(const struct config_watch *w, const char *rel);

/* Write @cfg as INI text that config_parse_file() reads back the same. */
int config_dump(const struct config *cfg, FILE *out);

#endif
