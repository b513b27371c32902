/* JPEG decode with thumbnailing: decode at reduced scale, orient, resize to
 * two sizes and encode, exactly as a job does, minus the file system;
 * through RGB or, for even-length inputs, as planes; a length of 2 or 3
 * mod 4 decodes with detail = fine (one DCT step larger, a progressive
 * file then in full). */
#include <errno.h>
#include <stdlib.h>

#include "decode.h"
#include "encode.h"
#include "geometry.h"
#include "orient.h"
#include "resize.h"
#include "fuzz_main.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jpeg_dec *dec;
	static struct resizer *rs;
	static struct encoder *enc;
	static struct image img, up, out, ycc[3], yout[3];
	struct thumb_spec spec;
	struct decode_info info;
	char err[256];

	if (!dec) {
		dec = jpeg_dec_create();
		rs = resizer_create();
		enc = encoder_create();
		if (!dec || !rs || !enc) {
			abort();
		}
	}
	spec_init_default(&spec);
	spec.sizes[0] = (struct thumb_size){ 256, 256 };
	spec.sizes[1] = (struct thumb_size){ 64, 48 };
	spec.n_sizes = 2;
	/* keep the fuzzer fast and inside its memory budget */
	spec.limits.max_pixels = 16u << 20;
	spec.limits.max_memory = 128u << 20;
	spec.detail = size % 4 >= 2 ? THUMB_DETAIL_FINE : THUMB_DETAIL_FAST;
	/* inputs of even length may take the planar path, odd ones RGB */
	if (jpeg_dec_run_ycc(dec, data, size, &spec, &img,
			size % 2 ? NULL : ycc, &info, err, sizeof(err)) < 0) {
		return 0;
	}
	if (info.planar) {
		/* the planar path: Y and 4:2:0 chroma, encoded raw */
		for (uint32_t i = 0; i < spec.n_sizes; i++) {
			uint32_t w, h;
			const uint8_t *bytes;
			size_t len;
			geometry_fit(ycc[0].width, ycc[0].height, spec.sizes[i],
				THUMB_FIT_CONTAIN, &w, &h);
			if (resizer_run(rs, &ycc[0], &yout[0], w, h) < 0 ||
					resizer_run_chroma(rs, &ycc[1], &yout[1],
						w, h) < 0 ||
					resizer_run_chroma(rs, &ycc[2], &yout[2],
						w, h) < 0) {
				return 0;
			}
			encoder_run_ycc(enc, yout, &spec, &bytes, &len, err,
				sizeof(err));
		}
		return 0;
	}
	const struct image *src = &img;
	int r = orient_apply(&img, info.orientation, &up);
	if (r < 0) {
		return 0;
	}
	if (r == 0) {
		src = &up;
	}
	for (uint32_t i = 0; i < spec.n_sizes; i++) {
		uint32_t w, h;
		geometry_fit(src->width, src->height, spec.sizes[i],
			THUMB_FIT_CONTAIN, &w, &h);
		if (resizer_run(rs, src, &out, w, h) < 0) {
			return 0;
		}
		const uint8_t *bytes;
		size_t len;
		encoder_run(enc, &out, THUMB_FORMAT_JPEG, &spec, &bytes, &len,
			err, sizeof(err));
	}
	return 0;
}
