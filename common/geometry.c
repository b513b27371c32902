#include "geometry.h"

#include <stdbool.h>

/*
 * (a * b) / c rounded to nearest, in 64 bits: every input is at most 32
 * bits, so the product cannot overflow and the result fits the larger side.
 */
static uint32_t geometry_muldiv_round(uint32_t a, uint32_t b, uint32_t c)
{
	uint64_t q = ((uint64_t)a * b * 2 + c) / ((uint64_t)c * 2);
	if (q < 1) {
		return 1;
	}
	return q > UINT32_MAX ? UINT32_MAX : (uint32_t)q;
}

/*
 * Contain scales by min(bw/w, bh/h), cover by max(bw/w, bh/h). The side
 * that sets the scale gets the box size exactly; the other is rounded,
 * which keeps a 2560x1600 photo in a 256 box at 256x160, not 255x160.
 */
void geometry_fit(uint32_t w, uint32_t h, struct thumb_size box,
		enum thumb_fit fit, uint32_t *out_w, uint32_t *out_h)
{
	uint32_t bw = box.width ? box.width : 1;
	uint32_t bh = box.height ? box.height : 1;

	if (w == 0 || h == 0) {
		*out_w = w ? w : 1;
		*out_h = h ? h : 1;
		return;
	}
	/* w/h >= bw/bh: the image is at least as wide as the box */
	bool wide = (uint64_t)w * bh >= (uint64_t)h * bw;
	bool by_width = fit == THUMB_FIT_COVER ? !wide : wide;
	if (by_width) {
		if (bw >= w) {
			*out_w = w;
			*out_h = h;
			return;
		}
		*out_w = bw;
		*out_h = geometry_muldiv_round(h, bw, w);
	} else {
		if (bh >= h) {
			*out_w = w;
			*out_h = h;
			return;
		}
		*out_h = bh;
		*out_w = geometry_muldiv_round(w, bh, h);
	}
}

void geometry_output(uint32_t w, uint32_t h, struct thumb_size box,
		enum thumb_fit fit, uint32_t *out_w, uint32_t *out_h)
{
	uint32_t fw, fh;

	geometry_fit(w, h, box, fit, &fw, &fh);
	if (fit == THUMB_FIT_COVER) {
		uint32_t bw = box.width ? box.width : 1;
		uint32_t bh = box.height ? box.height : 1;
		fw = fw < bw ? fw : bw;
		fh = fh < bh ? fh : bh;
	}
	*out_w = fw;
	*out_h = fh;
}

/* libjpeg sizes a 1/denom decode as ceil(side / denom) (jdiv_round_up). */
uint32_t geometry_jpeg_denom(uint32_t w, uint32_t h, uint32_t need_w,
		uint32_t need_h)
{
	for (uint32_t denom = 8; denom > 1; denom /= 2) {
		uint64_t sw = ((uint64_t)w + denom - 1) / denom;
		uint64_t sh = ((uint64_t)h + denom - 1) / denom;
		if (sw >= need_w && sh >= need_h) {
			return denom;
		}
	}
	return 1;
}
