#ifndef THUMBD_COMMON_ORIENT_H
#define THUMBD_COMMON_ORIENT_H

#include "image.h"

/*
 * Apply EXIF orientation @o (1-8) to @src, writing the upright image to
 * @dst (resized as needed). Orientations 5-8 swap width and height.
 * Orientation 1 copies nothing and returns 1 so the caller can keep using
 * @src; so does any value outside 2-8. Returns 0 when @dst holds the result,
 * 1 for "use src as is", -EINVAL if @dst is @src, or -ENOMEM.
 */
int orient_apply(const struct image *src, int o, struct image *dst);

#endif
