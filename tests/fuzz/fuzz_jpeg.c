/* JPEG decode with thumbnailing: decode at reduced scale, orient, resize to
 * two sizes and encode, exactly as a job does, minus the file system;
 * through RGB or, for even-length inputs, as planes; a length of 2 or 3
 * mod 4 decodes with detail = fine (one DCT step larger, a progressive
 * file then in full). A length of 1 mod 4 also decodes with libjpeg's own
 * Huffman decoder, which must give the same pixels (see same_decode). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "encode.h"
#include "geometry.h"
#include "orient.h"
#include "resize.h"
#include "fuzz_main.h"

/*
 * jpeg_huff.c against libjpeg's decoder on the same input: both succeed
 * with the same pixels, or both fail. Only the warning cap may part them
 * (jpeg_huff.c warns on every bad code, libjpeg's fast path on none), and
 * then the one that failed says "corrupt JPEG data".
 */
static void same_decode(struct jpeg_dec *dec, const uint8_t *data,
		size_t size, const struct thumb_spec *spec, int r,
		const struct image *img, const char *err)
{
	static struct image ref;
	struct decode_info info;
	char lerr[256];
	int lr;

	jpeg_dec_set_fast_huffman(dec, false);
	lr = jpeg_dec_run(dec, data, size, spec, &ref, &info, lerr,
		sizeof(lerr));
	jpeg_dec_set_fast_huffman(dec, true);
	if ((r < 0) != (lr < 0)) {
		if (!strstr(r < 0 ? err : lerr, "corrupt JPEG data")) {
			abort();
		}
		return;
	}
	if (r == 0 && (img->width != ref.width || img->height != ref.height ||
			img->channels != ref.channels ||
			memcmp(img->px, ref.px, (size_t)img->stride *
				img->height) != 0)) {
		abort();
	}
}

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
	int r = jpeg_dec_run_ycc(dec, data, size, &spec, &img,
		size % 2 ? NULL : ycc, &info, err, sizeof(err));
	if (size % 4 == 1) {
		same_decode(dec, data, size, &spec, r, &img, err);
	}
	if (r < 0) {
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
	r = orient_apply(&img, info.orientation, &up);
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
