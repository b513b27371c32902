#ifndef THUMBD_IMGLIB_H
#define THUMBD_IMGLIB_H

/*
 * Image helpers shared by the engine's unit tests: read what djpeg, dwebp
 * and ImageMagick write, and compare two images.
 */

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "image.h"
#include "testlib.h"

/* Read a binary PPM (P6) or PAM (P7, as dwebp -pam writes) into @img. */
static inline void pnm_read(const char *path, struct image *img)
{
	size_t len = 0, off = 0;
	uint8_t *d = tl_read(path, &len);
	unsigned long w = 0, h = 0, depth = 3, max = 0;
	char tok[32];

	CHECK(d != NULL && len > 2 && d[0] == 'P');
	bool pam = d[1] == '7';
	off = 2;
	/* header tokens, skipping whitespace and comments */
	for (int want = pam ? 0 : 3; ;) {
		while (off < len && (isspace(d[off]) || d[off] == '#')) {
			if (d[off] == '#') {
				while (off < len && d[off] != '\n') {
					off++;
				}
			}
			off++;
		}
		size_t n = 0;
		while (off < len && !isspace(d[off]) && n < sizeof(tok) - 1) {
			tok[n++] = (char)d[off++];
		}
		tok[n] = '\0';
		if (!pam) {
			unsigned long v = strtoul(tok, NULL, 10);
			if (want == 3) { w = v; } else if (want == 2) { h = v; } else { max = v; }
			if (--want == 0) {
				off++;
				break;
			}
			continue;
		}
		if (!strcmp(tok, "ENDHDR")) {
			off++;
			break;
		}
		char val[32];
		size_t m = 0;
		while (off < len && isspace(d[off])) {
			off++;
		}
		while (off < len && !isspace(d[off]) && m < sizeof(val) - 1) {
			val[m++] = (char)d[off++];
		}
		val[m] = '\0';
		if (!strcmp(tok, "WIDTH")) { w = strtoul(val, NULL, 10); }
		if (!strcmp(tok, "HEIGHT")) { h = strtoul(val, NULL, 10); }
		if (!strcmp(tok, "DEPTH")) { depth = strtoul(val, NULL, 10); }
		if (!strcmp(tok, "MAXVAL")) { max = strtoul(val, NULL, 10); }
	}
	CHECK(max == 255 && w > 0 && h > 0 && (depth == 3 || depth == 4));
	CHECK_INT_EQ(image_reserve(img, (uint32_t)w, (uint32_t)h, (uint32_t)depth), 0);
	CHECK(len - off >= img->stride * h);
	memcpy(img->px, d + off, img->stride * h);
	free(d);
}

/* PSNR over the colour channels of two same-sized images. */
static inline double psnr(const struct image *a, const struct image *b)
{
	double se = 0;
	CHECK_INT_EQ(a->width, b->width);
	CHECK_INT_EQ(a->height, b->height);
	for (uint32_t y = 0; y < a->height; y++) {
		for (uint32_t x = 0; x < a->width; x++) {
			const uint8_t *p = a->px + y * a->stride + x * a->channels;
			const uint8_t *q = b->px + y * b->stride + x * b->channels;
			for (int c = 0; c < 3; c++) {
				double e = (double)p[c] - q[c];
				se += e * e;
			}
		}
	}
	double mse = se / ((double)a->width * a->height * 3);
	return mse == 0 ? 99.0 : 10 * log10(255.0 * 255.0 / mse);
}

#endif
