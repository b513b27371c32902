#ifndef THUMBD_COMMON_OUTPATH_H
#define THUMBD_COMMON_OUTPATH_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/*
 * Output naming. A template holds literal text and the fields {stem}
 * (input file name without its last extension), {size} ("256" for a square
 * box, "1024x768" otherwise), {w}, {h}, {ext} ("jpg" or "webp") and
 * {name} (the whole input file name). The default is "{stem}_{size}.{ext}".
 */

/*
 * Check a template: known fields only, no '/', and {ext} or {size} present
 * so that several outputs cannot collide. Returns 0 or -EINVAL with @why.
 */
int outpath_check_template(const char *tmpl, const char **why);

/*
 * The output file name for input file name @base (no directory part).
 * Returns the length, or -ENAMETOOLONG if it does not fit in @cap.
 */
int outpath_name(const char *tmpl, const char *base, struct thumb_size size,
		enum thumb_format format, char *buf, size_t cap);

/*
 * The output path relative to the output root for input path @rel
 * (relative to the input root): dirname(rel)/outpath_name(...).
 * Returns the length or -ENAMETOOLONG.
 */
int outpath_rel(const struct thumb_spec *spec, const char *rel,
		uint32_t size_index, enum thumb_format format, char *buf,
		size_t cap);

/* "jpg" or "webp". */
const char *outpath_ext(enum thumb_format format);

#endif
