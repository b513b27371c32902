#ifndef THUMBD_COMMON_SPEC_H
#define THUMBD_COMMON_SPEC_H

#include <stdbool.h>
#include <stdint.h>

/*
 * What one job produces: every size in every format, and the limits the
 * decoder must hold to. A spec is plain data so it can travel in a job
 * message; workers keep no configuration of their own.
 */

#define THUMB_MAX_SIZES 8
#define THUMB_NAME_MAX 128

enum thumb_format {
	THUMB_FORMAT_JPEG = 1u << 0,
	THUMB_FORMAT_WEBP = 1u << 1,
};

enum thumb_fit {
	THUMB_FIT_CONTAIN = 0, /* fit inside the box, keep the aspect ratio */
	THUMB_FIT_COVER = 1,   /* fill the box, centre-crop the overflow */
};

/*
 * How far a JPEG may be shrunk while it is decoded (DCT scaling), before
 * the Lanczos filter does the rest. FAST takes the smallest scale that still
 * covers the box; FINE keeps at least twice the box, as vips and Pillow do,
 * so a JPEG 2-16x the box is decoded one step larger (a 2560x1600 photo
 * for a 256 box at 1/4 rather than 1/8). AUTO, the default, is FINE where
 * that is still a reduced decode (a JPEG at least 4x the box) and FAST
 * where it would mean a full-size one: the step from 1/8 to 1/4 costs a
 * few percent, the step from 1/2 to full size about a fifth more time.
 */
enum thumb_detail {
	THUMB_DETAIL_FAST = 0,
	THUMB_DETAIL_FINE = 1,
	THUMB_DETAIL_AUTO = 2,
};

/* A bounding box. A square box written "256" has width == height. */
struct thumb_size {
	uint32_t width;
	uint32_t height;
};

struct thumb_limits {
	uint64_t max_pixels;    /* width * height from the header */
	uint64_t max_file_size; /* bytes */
	uint64_t max_memory;    /* libjpeg max_memory_to_use, bytes */
	uint32_t max_scans;     /* progressive JPEG scans */
};

struct thumb_spec {
	struct thumb_size sizes[THUMB_MAX_SIZES];
	uint32_t n_sizes;
	uint32_t formats;       /* enum thumb_format bits, at least one */
	uint32_t quality;       /* 1-100 */
	uint32_t fit;           /* enum thumb_fit */
	uint32_t detail;        /* enum thumb_detail */
	bool progressive;       /* progressive JPEG output */
	bool webp_lossless;
	bool durable;           /* fsync each output before rename */
	char name[THUMB_NAME_MAX]; /* template, see outpath.h */
	struct thumb_limits limits;
};

#define THUMB_DEFAULT_SIZE 256
#define THUMB_DEFAULT_QUALITY 85
#define THUMB_DEFAULT_NAME "{stem}_{size}.{ext}"
#define THUMB_DEFAULT_MAX_PIXELS (100ull * 1000 * 1000)
#define THUMB_DEFAULT_MAX_FILE_SIZE (256ull << 20)
#define THUMB_DEFAULT_MAX_MEMORY (256ull << 20)
#define THUMB_DEFAULT_MAX_SCANS 100

/* The config and command-line names of enum thumb_fit and thumb_detail
 * values, indexed by value; THUMB_FIT_N and THUMB_DETAIL_N of them. */
#define THUMB_FIT_N 2
#define THUMB_DETAIL_N 3
extern const char *const thumb_fit_names[THUMB_FIT_N];
extern const char *const thumb_detail_names[THUMB_DETAIL_N];

/* The index of @s among the @n @names (case ignored if @icase), or -1. */
int spec_name_index(const char *const *names, uint32_t n, const char *s,
		bool icase);

/* Fill @spec with the defaults: one 256 box, JPEG, quality 85, contain. */
void spec_init_default(struct thumb_spec *spec);

/*
 * Check that @spec is usable: sizes 1..65535 and sorted is not required,
 * at least one size and one format, quality 1-100, a template that names
 * every output differently. Returns 0, or -EINVAL with a reason in @why.
 */
int spec_validate(const struct thumb_spec *spec, const char **why);

#endif
