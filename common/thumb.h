#ifndef THUMBD_COMMON_THUMB_H
#define THUMBD_COMMON_THUMB_H

#include <stdint.h>

#include "spec.h"

/*
 * One job, end to end: read the input safely, sniff, decode at reduced
 * scale, orient, resize every size (largest first, each from the previous),
 * encode each format, and write each output atomically. This is what a
 * worker runs for each job and what `thumbd render` runs for each file.
 */

enum thumb_fault {
	THUMB_FAULT_NONE = 0,
	THUMB_FAULT_INPUT,    /* the file is bad or over a limit: permanent until it changes */
	THUMB_FAULT_GONE,     /* vanished or changed while read: a later event covers it */
	THUMB_FAULT_OUTPUT,   /* could not write outputs (disk full, permissions): retry later */
	THUMB_FAULT_INTERNAL, /* out of memory and the like */
};

struct thumb_job {
	const char *in_root;  /* the watch's input folder */
	const char *rel;      /* the input, relative to in_root, no ".." */
	const char *out_root; /* outputs go to out_root/dirname(rel)/ */
	const struct thumb_spec *spec;
};

struct thumb_result {
	uint32_t fault;       /* enum thumb_fault */
	uint32_t src_width;   /* as stored */
	uint32_t src_height;
	uint32_t outputs;     /* files written */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t read_ns;
	uint64_t decode_ns;
	uint64_t resize_ns;
	uint64_t encode_ns;
	uint64_t write_ns;
	char error[256];      /* the reason, without the path */
};

struct thumb_ctx;

/* Buffers, decoder and encoder state, kept from one job to the next. */
struct thumb_ctx *thumb_ctx_create(void);
void thumb_ctx_destroy(struct thumb_ctx *ctx);

/*
 * Run @job. Returns 0 when every output was written, else a negative errno;
 * @res always says what happened (fault class, reason, sizes, timings).
 * A failed job leaves no temporary file behind.
 */
int thumb_render(struct thumb_ctx *ctx, const struct thumb_job *job,
		struct thumb_result *res);

#endif
