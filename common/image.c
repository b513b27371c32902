#include "image.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Reserve the buffer for a new size. The old pixels are not kept, so a
 * growing buffer is replaced by malloc+free rather than realloc: realloc
 * would copy bytes nobody reads. The new block is allocated before the old
 * one is freed so a failure leaves @img exactly as it was.
 */
int image_reserve(struct image *img, uint32_t width, uint32_t height,
		uint32_t channels)
{
	size_t stride, bytes;

	if (__builtin_mul_overflow((size_t)width, (size_t)channels, &stride) ||
			__builtin_mul_overflow(stride, (size_t)height, &bytes) ||
			bytes > (size_t)PTRDIFF_MAX) {
		return -EOVERFLOW;
	}
	if (bytes > img->cap) {
		uint8_t *px = malloc(bytes);
		if (!px) {
			return -ENOMEM;
		}
		free(img->px);
		img->px = px;
		img->cap = bytes;
	}
	img->width = width;
	img->height = height;
	img->channels = channels;
	img->stride = stride;
	return 0;
}

void image_swap(struct image *a, struct image *b)
{
	struct image t = *a;
	*a = *b;
	*b = t;
}

void image_finish(struct image *img)
{
	if (!img) {
		return;
	}
	free(img->px);
	memset(img, 0, sizeof(*img));
}
