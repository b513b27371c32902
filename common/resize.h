#ifndef THUMBD_COMMON_RESIZE_H
#define THUMBD_COMMON_RESIZE_H

#include "image.h"

struct resizer;

/* A resizer keeps its filter tables and scratch rows between calls. */
struct resizer *resizer_create(void);
void resizer_destroy(struct resizer *r);

/*
 * The kernels @r uses: "avx2" (x86 with AVX2 and FMA) or "sse2" (the
 * portable four-wide ones; SSE2 on x86). The environment variable
 * THUMBD_RESIZE_SIMD=sse2, read by resizer_create(), forces the latter.
 */
const char *resizer_simd_name(const struct resizer *r);

/*
 * Resample @src into @dst at (w x h) with a separable Lanczos-3 filter
 * (widened when shrinking). Four-channel images are premultiplied while
 * filtering and returned with straight alpha. Returns 0, -EINVAL (zero
 * size, 2 or more than 4 channels, or @dst == @src), -EOVERFLOW or
 * -ENOMEM. One channel is a plane (Y, Cb or Cr) of its own.
 */
int resizer_run(struct resizer *r, const struct image *src, struct image *dst,
		uint32_t w, uint32_t h);

/*
 * A chroma plane (one channel) for a 4:2:0 image of (@luma_w x @luma_h):
 * (luma_w + 1) / 2 by (luma_h + 1) / 2 samples, each centred on its 2x2
 * luma block. For an odd luma size the last sample's block hangs half
 * past the edge, so the source is mapped onto luma_w / 2 samples, not
 * onto the rounded-up count. Errors as resizer_run().
 */
int resizer_run_chroma(struct resizer *r, const struct image *src,
		struct image *dst, uint32_t luma_w, uint32_t luma_h);

/* Copy the centred (w x h) window of @src to @dst. Returns 0, -EINVAL if
 * the window is empty or larger than @src, or -ENOMEM. */
int image_crop_centre(const struct image *src, struct image *dst, uint32_t w,
		uint32_t h);

#endif
