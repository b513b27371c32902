#ifndef THUMBD_COMMON_IMAGE_H
#define THUMBD_COMMON_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/*
 * An 8-bit interleaved pixel buffer: 3 channels (RGB) or 4 (RGBA, straight
 * alpha outside resize). The memory belongs to the image and is kept between
 * jobs: image_reserve() only grows it, so the steady state does not malloc.
 */
struct image {
	uint8_t *px;
	uint32_t width;
	uint32_t height;
	uint32_t channels;
	size_t stride; /* bytes per row, width * channels */
	size_t cap;    /* bytes allocated at px */
};

/*
 * Size @img for width x height x channels, growing the buffer if needed.
 * Pixel contents are undefined afterwards. Returns 0, -EOVERFLOW for
 * absurd sizes or -ENOMEM; on failure @img is unchanged.
 */
int image_reserve(struct image *img, uint32_t width, uint32_t height,
		uint32_t channels);

/* Exchange two images, buffers included (no copy). */
void image_swap(struct image *a, struct image *b);

/* Free the buffer; @img may be NULL. The struct is zeroed. */
void image_finish(struct image *img);

#endif
