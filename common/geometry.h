#ifndef THUMBD_COMMON_GEOMETRY_H
#define THUMBD_COMMON_GEOMETRY_H

#include <stdint.h>

#include "spec.h"

/*
 * Pure size arithmetic shared by the decoders, the resizer and the tests.
 */

/*
 * The size a (w x h) image is resized to for @box under @fit, before any
 * crop, never larger than the image itself (no upscaling). For contain this
 * is the final size; for cover the result is then cropped to
 * geometry_output(). Both sides are at least 1.
 */
void geometry_fit(uint32_t w, uint32_t h, struct thumb_size box,
		enum thumb_fit fit, uint32_t *out_w, uint32_t *out_h);

/* The final output size of a (w x h) image for @box under @fit. */
void geometry_output(uint32_t w, uint32_t h, struct thumb_size box,
		enum thumb_fit fit, uint32_t *out_w, uint32_t *out_h);

/*
 * The largest DCT scale denominator (1, 2, 4 or 8; numerator 1) such that a
 * (w x h) image scaled by 1/denom, rounded up as libjpeg does, is still at
 * least (need_w x need_h).
 */
uint32_t geometry_jpeg_denom(uint32_t w, uint32_t h, uint32_t need_w,
		uint32_t need_h);

#endif
