#include "decode.h"

#include "geometry.h"

/*
 * Each size is fitted to the image as it will be shown (orientations 5-8
 * are stored transposed), so a cover box asks for more pixels than a
 * contain box of the same size. The need is then turned back into stored
 * axes, and the largest over all sizes wins: every output is resized from
 * the one decode.
 */
void decode_need(uint32_t w, uint32_t h, int orientation,
		const struct thumb_spec *spec, uint32_t *need_w, uint32_t *need_h)
{
	bool transposed = orientation >= 5 && orientation <= 8;
	uint32_t dw = transposed ? h : w;
	uint32_t dh = transposed ? w : h;
	uint32_t nw = 0, nh = 0;

	if (spec->n_sizes == 0) {
		/* nothing asked for a reduction: keep every pixel */
		*need_w = w;
		*need_h = h;
		return;
	}
	for (uint32_t i = 0; i < spec->n_sizes && i < THUMB_MAX_SIZES; i++) {
		uint32_t fw, fh;
		geometry_fit(dw, dh, spec->sizes[i], (enum thumb_fit)spec->fit,
			&fw, &fh);
		nw = fw > nw ? fw : nw;
		nh = fh > nh ? fh : nh;
	}
	*need_w = transposed ? nh : nw;
	*need_h = transposed ? nw : nh;
}
