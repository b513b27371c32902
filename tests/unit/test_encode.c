/*
 * Unit tests for common/encode.c: JPEG and WebP round trips through the
 * reference decoders (djpeg, dwebp), the progressive flag, 4:2:0 chroma,
 * no metadata (exiftool finds no EXIF), RGBA composited on white for JPEG
 * and kept for WebP, lossless WebP bit-exact, the kept output buffer, and
 * the refusals.
 */

#include "testlib.h"
#include "imglib.h"

#include <ctype.h>
#include <math.h>

#include "encode.h"
#include "image.h"
#include "spec.h"

/* A smooth, photo-like test picture, with alpha ramps if 4 channels. */
static void make_picture(struct image *img, uint32_t w, uint32_t h, uint32_t c)
{
	CHECK_INT_EQ(image_reserve(img, w, h, c), 0);
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			uint8_t *p = img->px + y * img->stride + x * c;
			p[0] = (uint8_t)(x * 255 / (w - 1));
			p[1] = (uint8_t)(y * 255 / (h - 1));
			p[2] = (uint8_t)(128 + 100 * sin(x / 9.0) * cos(y / 13.0));
			if (c == 4) {
				p[3] = (uint8_t)((x / 16 + y / 16) % 2 ? 255 : x * 255 / (w - 1));
			}
		}
	}
}

static void save(const char *name, const uint8_t *data, size_t len)
{
	FILE *f = fopen(tl_path("%s", name), "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

/* The SOF marker (0xC0 baseline, 0xC2 progressive) and sampling factors. */
static int jpeg_sof(const uint8_t *d, size_t len, uint8_t samp[3])
{
	for (size_t i = 2; i + 4 < len;) {
		CHECK(d[i] == 0xff);
		uint8_t m = d[i + 1];
		size_t seg = (size_t)d[i + 2] << 8 | d[i + 3];
		if (m == 0xc0 || m == 0xc1 || m == 0xc2) {
			CHECK(d[i + 9] == 3);
			for (int k = 0; k < 3; k++) {
				samp[k] = d[i + 11 + 3 * k];
			}
			return m;
		}
		if (m == 0xe1) {
			/* an APP1 (EXIF/XMP) must never be written */
			CHECK(!"APP1 segment in encoder output");
		}
		i += 2 + seg;
	}
	return -1;
}

static void test_jpeg(struct encoder *enc)
{
	struct thumb_spec spec;
	struct image img = { 0 }, back = { 0 };
	const uint8_t *out;
	size_t len;
	uint8_t samp[3];
	char err[256];

	spec_init_default(&spec);
	spec.quality = 90;
	make_picture(&img, 320, 200, 3);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK(len > 1000 && out[0] == 0xff && out[1] == 0xd8);
	CHECK(out[len - 2] == 0xff && out[len - 1] == 0xd9);
	CHECK_INT_EQ(jpeg_sof(out, len, samp), 0xc0);
	CHECK(samp[0] == 0x22 && samp[1] == 0x11 && samp[2] == 0x11);
	save("base.jpg", out, len);
	TL_SH_OK("djpeg -pnm -outfile base.ppm base.jpg");
	pnm_read(tl_path("base.ppm"), &back);
	double p = psnr(&img, &back);
	fprintf(stderr, "jpeg q90 320x200: %zu bytes, PSNR %.2f dB\n", len, p);
	/* q90 4:2:0 on smooth content measures ~40 dB; 36 leaves room */
	CHECK(p > 36.0);
	/* exiftool agrees: no EXIF, no XMP, no ICC */
	TL_SH_OK("test -z \"$(exiftool -q -q -EXIF:all -XMP:all -ICC_Profile:all base.jpg)\"");

	spec.progressive = true;
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK_INT_EQ(jpeg_sof(out, len, samp), 0xc2);
	save("prog.jpg", out, len);
	TL_SH_OK("test \"$(identify -format %%[interlace] prog.jpg)\" = JPEG");
	TL_SH_OK("djpeg -pnm -outfile prog.ppm prog.jpg");
	pnm_read(tl_path("prog.ppm"), &back);
	CHECK(psnr(&img, &back) > 36.0);
	spec.progressive = false;

	/* lower quality, fewer bytes */
	size_t len90 = len;
	spec.quality = 20;
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK(len < len90 / 2);
	/*
	 * A baseline image right after a progressive one: the progressive
	 * encode optimised the Huffman tables in place, and reusing them
	 * would give "Corrupt JPEG data: bad Huffman code".
	 */
	save("after-prog.jpg", out, len);
	TL_SH_OK("djpeg -pnm -outfile after-prog.ppm after-prog.jpg 2>&1 | "
		"grep . && exit 1 || true");
	pnm_read(tl_path("after-prog.ppm"), &back);
	CHECK(psnr(&img, &back) > 28.0);
	image_finish(&img);
	image_finish(&back);
}

/*
 * RGBA to JPEG: transparent becomes white, half-transparent black becomes
 * mid grey, opaque stays.
 */
static void test_jpeg_alpha(struct encoder *enc)
{
	struct thumb_spec spec;
	struct image img = { 0 }, back = { 0 };
	const uint8_t *out;
	size_t len;
	char err[256];

	spec_init_default(&spec);
	spec.quality = 95;
	CHECK_INT_EQ(image_reserve(&img, 48, 16, 4), 0);
	for (uint32_t y = 0; y < 16; y++) {
		for (uint32_t x = 0; x < 48; x++) {
			uint8_t *p = img.px + y * img.stride + x * 4;
			static const uint8_t cols[3][4] = {
				{ 255, 0, 0, 0 }, { 0, 0, 0, 128 }, { 0, 0, 255, 255 },
			};
			memcpy(p, cols[x / 16], 4);
		}
	}
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	save("alpha.jpg", out, len);
	TL_SH_OK("djpeg -pnm -outfile alpha.ppm alpha.jpg");
	pnm_read(tl_path("alpha.ppm"), &back);
	CHECK_INT_EQ(back.channels, 3);
	const uint8_t *w = back.px + 8 * back.stride + 8 * 3;
	const uint8_t *g = back.px + 8 * back.stride + 24 * 3;
	const uint8_t *b = back.px + 8 * back.stride + 40 * 3;
	CHECK(w[0] > 245 && w[1] > 245 && w[2] > 245);
	CHECK(abs(g[0] - 127) < 8 && abs(g[1] - 127) < 8 && abs(g[2] - 127) < 8);
	CHECK(b[0] < 15 && b[1] < 15 && b[2] > 235);
	image_finish(&img);
	image_finish(&back);
}

static void test_webp(struct encoder *enc)
{
	struct thumb_spec spec;
	struct image img = { 0 }, back = { 0 };
	const uint8_t *out;
	size_t len;
	char err[256];

	spec_init_default(&spec);
	make_picture(&img, 300, 180, 3);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_WEBP, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK(len > 100 && memcmp(out, "RIFF", 4) == 0 &&
		memcmp(out + 8, "WEBPVP8 ", 8) == 0);
	save("lossy.webp", out, len);
	TL_SH_OK("dwebp -quiet lossy.webp -ppm -o lossy.ppm");
	pnm_read(tl_path("lossy.ppm"), &back);
	double p = psnr(&img, &back);
	fprintf(stderr, "webp q85 300x180: %zu bytes, PSNR %.2f dB\n", len, p);
	CHECK(p > 34.0);
	TL_SH_OK("test -z \"$(exiftool -q -q -EXIF:all -XMP:all base.jpg lossy.webp)\"");

	/* lossless: bit-exact */
	spec.webp_lossless = true;
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_WEBP, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK(memcmp(out + 8, "WEBPVP8L", 8) == 0);
	save("lossless.webp", out, len);
	TL_SH_OK("dwebp -quiet lossless.webp -ppm -o lossless.ppm");
	pnm_read(tl_path("lossless.ppm"), &back);
	CHECK(memcmp(back.px, img.px, img.stride * img.height) == 0);

	/* RGBA, lossless: alpha and the visible colour survive exactly */
	make_picture(&img, 64, 48, 4);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_WEBP, &spec, &out, &len,
		err, sizeof(err)), 0);
	save("alpha-ll.webp", out, len);
	TL_SH_OK("dwebp -quiet alpha-ll.webp -pam -o alpha-ll.pam");
	pnm_read(tl_path("alpha-ll.pam"), &back);
	CHECK_INT_EQ(back.channels, 4);
	for (size_t i = 0; i < (size_t)64 * 48; i++) {
		const uint8_t *a = img.px + i * 4, *b = back.px + i * 4;
		CHECK_INT_EQ(a[3], b[3]);
		if (a[3]) {
			CHECK(memcmp(a, b, 3) == 0);
		}
	}
	/* RGBA, lossy: alpha is kept (lossless alpha plane by default) */
	spec.webp_lossless = false;
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_WEBP, &spec, &out, &len,
		err, sizeof(err)), 0);
	save("alpha.webp", out, len);
	TL_SH_OK("dwebp -quiet alpha.webp -pam -o alpha.pam");
	pnm_read(tl_path("alpha.pam"), &back);
	CHECK_INT_EQ(back.channels, 4);
	for (size_t i = 0; i < (size_t)64 * 48; i++) {
		CHECK(abs(img.px[i * 4 + 3] - back.px[i * 4 + 3]) <= 2);
	}
	image_finish(&img);
	image_finish(&back);
}

/*
 * Noise at quality 100 overflows the first guess of the JPEG buffer, so
 * the growing destination runs; afterwards the same buffer serves a
 * smaller image without moving.
 */
static void test_buffer_reuse(struct encoder *enc)
{
	struct thumb_spec spec;
	struct image img = { 0 }, back = { 0 };
	const uint8_t *out, *first;
	size_t len;
	char err[256];
	uint32_t seed = 1;

	spec_init_default(&spec);
	spec.quality = 100;
	CHECK_INT_EQ(image_reserve(&img, 640, 480, 3), 0);
	/* grey noise: 4:2:0 loses nothing of it, so the round trip is close */
	for (size_t i = 0; i < img.stride * img.height; i += 3) {
		seed = seed * 1103515245u + 12345u;
		memset(img.px + i, (uint8_t)(seed >> 16), 3);
	}
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK(len > (size_t)640 * 480 / 2 + 4096);
	save("noise.jpg", out, len);
	TL_SH_OK("djpeg -pnm -outfile noise.ppm noise.jpg");
	pnm_read(tl_path("noise.ppm"), &back);
	CHECK(psnr(&img, &back) > 30.0);
	first = out;
	make_picture(&img, 100, 100, 3);
	spec.quality = 85;
	for (int i = 0; i < 3; i++) {
		CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out,
			&len, err, sizeof(err)), 0);
		CHECK(out == first);
	}
	image_finish(&img);
	image_finish(&back);
}

static void test_refused(struct encoder *enc)
{
	struct thumb_spec spec;
	struct image img = { 0 };
	const uint8_t *out = NULL;
	size_t len = 12345;
	char err[256];

	spec_init_default(&spec);
	CHECK_INT_EQ(image_reserve(&img, 8, 8, 2), 0);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "2 channels");
	CHECK(out == NULL && len == 12345);
	CHECK_INT_EQ(image_reserve(&img, 16384, 1, 3), 0);
	memset(img.px, 0, img.stride);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_WEBP, &spec, &out, &len,
		err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "16384x1 as WebP");
	/* JPEG takes that width */
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK_INT_EQ(encoder_run(enc, &img, (enum thumb_format)4, &spec, &out,
		&len, err, sizeof(err)), -EINVAL);
	spec.quality = 0;
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), -EINVAL);
	/* a 1x1 image encodes in both formats */
	spec.quality = 85;
	CHECK_INT_EQ(image_reserve(&img, 1, 1, 4), 0);
	memset(img.px, 200, 4);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_JPEG, &spec, &out, &len,
		err, sizeof(err)), 0);
	CHECK_INT_EQ(encoder_run(enc, &img, THUMB_FORMAT_WEBP, &spec, &out, &len,
		err, sizeof(err)), 0);
	image_finish(&img);
}

/* RGB to full-size Y, Cb, Cr planes (JFIF), then chroma 2x2 averaged. */
static void to_planes(const struct image *rgb, struct image *ycc)
{
	uint32_t w = rgb->width, h = rgb->height;
	uint32_t cw = (w + 1) / 2, ch = (h + 1) / 2;

	CHECK_INT_EQ(image_reserve(&ycc[0], w, h, 1), 0);
	CHECK_INT_EQ(image_reserve(&ycc[1], cw, ch, 1), 0);
	CHECK_INT_EQ(image_reserve(&ycc[2], cw, ch, 1), 0);
	for (uint32_t y = 0; y < ch; y++) {
		for (uint32_t x = 0; x < cw; x++) {
			double cb = 0, cr = 0;
			int n = 0;
			for (uint32_t dy = 0; dy < 2 && 2 * y + dy < h; dy++) {
				for (uint32_t dx = 0; dx < 2 && 2 * x + dx < w;
						dx++) {
					const uint8_t *p = rgb->px + (2 * y + dy) *
						rgb->stride + (2 * x + dx) * 3;
					cb += 128 - 0.168736 * p[0] -
						0.331264 * p[1] + 0.5 * p[2];
					cr += 128 + 0.5 * p[0] - 0.418688 * p[1] -
						0.081312 * p[2];
					n++;
				}
			}
			ycc[1].px[y * ycc[1].stride + x] = (uint8_t)lround(cb / n);
			ycc[2].px[y * ycc[2].stride + x] = (uint8_t)lround(cr / n);
		}
	}
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			const uint8_t *p = rgb->px + y * rgb->stride + x * 3;
			ycc[0].px[y * ycc[0].stride + x] = (uint8_t)lround(
				0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
		}
	}
}

/*
 * Planes straight to a 4:2:0 JPEG: the same picture as test_jpeg() comes
 * back through djpeg as well as the RGB path's, at sizes that are and
 * are not whole MCUs (odd sizes pad the edge blocks by repetition, so
 * no dark fringe); planes of the wrong sizes are refused.
 */
static void test_jpeg_ycc(struct encoder *enc)
{
	static const uint32_t sizes[][2] = {
		{ 320, 200 }, { 257, 161 }, { 33, 17 }, { 1, 1 }, { 2, 3 },
	};
	struct thumb_spec spec;
	struct image img = { 0 }, back = { 0 }, ycc[3] = { { 0 } };
	const uint8_t *out = NULL;
	size_t len = 0;
	uint8_t samp[3];
	char err[256];

	spec_init_default(&spec);
	spec.quality = 90;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t w = sizes[i][0], h = sizes[i][1];
		make_picture(&img, w > 1 ? w : 2, h > 1 ? h : 2, 3);
		img.width = w;
		img.height = h;
		to_planes(&img, ycc);
		for (int prog = 0; prog < 2; prog++) {
			spec.progressive = prog;
			CHECK_INT_EQ(encoder_run_ycc(enc, ycc, &spec, &out, &len,
				err, sizeof(err)), 0);
			CHECK_INT_EQ(jpeg_sof(out, len, samp),
				prog ? 0xc2 : 0xc0);
			CHECK(samp[0] == 0x22 && samp[1] == 0x11 &&
				samp[2] == 0x11);
			save("ycc.jpg", out, len);
			TL_SH_OK("djpeg -pnm -outfile ycc.ppm ycc.jpg");
			pnm_read(tl_path("ycc.ppm"), &back);
			CHECK_INT_EQ(back.width, w);
			CHECK_INT_EQ(back.height, h);
			double p = psnr(&img, &back);
			if (w * h > 100 && p <= 36.0) {
				fprintf(stderr, "planes %ux%u: PSNR %.2f\n", w,
					h, p);
				exit(1);
			}
		}
	}
	spec.progressive = false;
	/* chroma of the wrong size, or a plane of three channels */
	ycc[1].width--;
	out = NULL;
	CHECK_INT_EQ(encoder_run_ycc(enc, ycc, &spec, &out, &len, err,
		sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "as 4:2:0");
	CHECK(out == NULL);
	ycc[1].width++;
	ycc[2].channels = 3;
	CHECK_INT_EQ(encoder_run_ycc(enc, ycc, &spec, &out, &len, err,
		sizeof(err)), -EINVAL);
	ycc[2].channels = 1;
	spec.quality = 0;
	CHECK_INT_EQ(encoder_run_ycc(enc, ycc, &spec, &out, &len, err,
		sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "quality 0");
	image_finish(&img);
	image_finish(&back);
	for (int c = 0; c < 3; c++) {
		image_finish(&ycc[c]);
	}
}

int main(void)
{
	if (!tl_have("djpeg") || !tl_have("dwebp") || !tl_have("exiftool") ||
			!tl_have("identify")) {
		SKIP("needs djpeg, dwebp, exiftool and identify");
	}
	struct encoder *enc = encoder_create();
	CHECK(enc != NULL);
	test_jpeg(enc);
	test_jpeg_ycc(enc);
	test_jpeg_alpha(enc);
	test_webp(enc);
	test_buffer_reuse(enc);
	test_refused(enc);
	encoder_destroy(enc);
	encoder_destroy(NULL);
	return 0;
}
