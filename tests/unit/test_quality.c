/*
 * Thumbnail quality against a reference: full-resolution decode plus
 * ImageMagick's Lanczos resize (`convert in -filter Lanczos -resize WxH`),
 * on a photo-like picture made at test time (a seeded plasma fractal has
 * the 1/f spectrum of real photographs). Measured: what thumb_render
 * writes (WebP lossless output, so the encoder adds nothing, and the
 * default JPEG q85), the JPEG decoder's DCT-scaled path on its own for
 * baseline and progressive input, and the WebP scaled decode.
 *
 * Run `test_quality report` to print every figure without asserting.
 */

#include "testlib.h"
#include "imglib.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>

#include "decode.h"
#include "image.h"
#include "resize.h"
#include "spec.h"
#include "thumb.h"

static bool report;

static void check_floor(const char *what, double got, double floor)
{
	fprintf(stderr, "%-44s PSNR %6.2f dB (floor %.1f)\n", what, got, floor);
	if (!report && got < floor) {
		fprintf(stderr, "%s: below the floor\n", what);
		exit(1);
	}
}

static struct thumb_ctx *ctx;

/*
 * The source: a seeded plasma fractal (smooth areas with a photo's 1/f
 * spectrum) with 300 anti-aliased lines, rings and discs of every width
 * and angle on top, for the sharp edges and fine detail where a box
 * filter and Lanczos part ways. The primitives come from a fixed LCG so
 * the picture is the same on every run.
 */
static void make_source(void)
{
	/* ImageMagick's policy refuses -draw @file: the shapes go in chunks */
	char draw[6000];
	uint32_t seed = 12345;

	TL_SH_OK("convert -seed 42 -size 2048x1536 plasma: -depth 8 src.ppm");
	for (int chunk = 0; chunk < 5; chunk++) {
		size_t o = 0;
		for (int i = 0; i < 60; i++) {
			uint32_t v[7];
			for (int k = 0; k < 7; k++) {
				seed = seed * 1664525u + 1013904223u;
				v[k] = seed >> 8;
			}
			o += (size_t)snprintf(draw + o, sizeof(draw) - o,
				" -stroke '#%06x' -strokewidth %u -fill '%s' -draw '%s %u,%u %u,%u'",
				v[0] & 0xffffff, 1 + v[1] % 6, i % 3 ? "none" : "#8888",
				i % 2 ? "line" : "circle", v[2] % 2048, v[3] % 1536,
				v[2] % 2048 + v[4] % 200, v[3] % 1536 + v[5] % 200);
			CHECK(o < sizeof(draw));
		}
		TL_SH_OK("convert src.ppm %s -depth 8 src.ppm", draw);
	}
	TL_SH_OK("cjpeg -quality 95 src.ppm > in/base.jpg && "
		"cjpeg -quality 95 -progressive src.ppm > in/prog.jpg");
}

/*
 * thumb_render one input into out/: with @formats JPEG | WebP as a
 * lossless WebP and a q85 JPEG through RGB; with JPEG alone the q85 JPEG
 * takes the planar path.
 */
static void render(const char *rel, uint32_t box, enum thumb_fit fit,
		uint32_t formats)
{
	struct thumb_spec spec;
	struct thumb_result res;
	struct thumb_job job = {
		.in_root = tl_path("in"), .rel = rel, .out_root = tl_path("out"),
		.spec = &spec,
	};

	spec_init_default(&spec);
	spec.sizes[0] = (struct thumb_size){ box, box };
	spec.fit = fit;
	spec.formats = formats;
	spec.webp_lossless = true;
	if (thumb_render(ctx, &job, &res) != 0) {
		fprintf(stderr, "%s: %s\n", rel, res.error);
		exit(1);
	}
}

/* Run a command that writes tmp.pnm, then read it into @img. */
#define LOAD(img, ...) \
	do { \
		TL_SH_OK(__VA_ARGS__); \
		pnm_read(tl_path("tmp.pnm"), img); \
	} while (0)

/*
 * Floors: the values measured on this generated picture (Debian 12:
 * libjpeg-turbo 2.1.5, libwebp 1.2.4, ImageMagick 6.9.11) minus 1.5 dB,
 * so a change that makes thumbnails visibly worse fails while a library
 * update does not. What the measured values say:
 *  - full decode + our Lanczos: 51 dB against ImageMagick's Lanczos, so
 *    the resizer itself is faithful;
 *  - 1/4 DCT scale then Lanczos (the 300 box): 45 dB, nearly as good;
 *  - a DCT scale that lands exactly on the output size (256 and 1024
 *    boxes, 1/8 and 1/2) leaves the whole reduction to libjpeg's scaled
 *    IDCT, a box-like filter: 36 dB. djpeg -scale 1/4 plus Lanczos scores
 *    47 dB for 256 and decodes about 10% slower than 1/8, so leaving
 *    a factor of two for the filter (as webp_decode does) would gain
 *    ~11 dB here; that choice belongs to decode_need()/the JPEG decoder;
 *  - the q85 JPEG output is bounded by q85 itself: the reference put
 *    through cjpeg -quality 85 scores 26.3 dB for 256 on this busy
 *    picture, and ours 26.1.
 */
static void test_jpeg_input(void)
{
	struct image ref = { 0 }, got = { 0 };

	make_source();
	static const struct { uint32_t box; double floor_ll, floor_q85; } cases[] = {
		{ 256, 34.5, 24.5 },  /* 1/8 DCT scale, exactly the output size */
		{ 300, 43.5, 24.5 },  /* 1/4 DCT scale, then Lanczos 512 -> 300 */
		{ 1024, 34.8, 28.5 }, /* 1/2 DCT scale, exactly the output size */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t box = cases[i].box;
		char what[96], geom[32];
		snprintf(geom, sizeof(geom), "%ux%u", box, box);
		LOAD(&ref, "convert in/base.jpg -filter Lanczos -resize %s -depth 8 ppm:tmp.pnm",
			geom);
		for (int prog = 0; prog < 2; prog++) {
			const char *name = prog ? "prog" : "base";
			char rel[32], out[64];
			snprintf(rel, sizeof(rel), "%s.jpg", name);
			render(rel, box, THUMB_FIT_CONTAIN,
				THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP);
			snprintf(out, sizeof(out), "out/%s_%u.webp", name, box);
			LOAD(&got, "dwebp -quiet %s -ppm -o tmp.pnm", out);
			snprintf(what, sizeof(what), "%s JPEG -> %u, pipeline pixels", name, box);
			check_floor(what, psnr(&got, &ref), cases[i].floor_ll);
			snprintf(out, sizeof(out), "out/%s_%u.jpg", name, box);
			LOAD(&got, "djpeg -pnm -outfile tmp.pnm %s", out);
			snprintf(what, sizeof(what), "%s JPEG -> %u, q85 JPEG via RGB", name, box);
			check_floor(what, psnr(&got, &ref), cases[i].floor_q85);
			render(rel, box, THUMB_FIT_CONTAIN, THUMB_FORMAT_JPEG);
			LOAD(&got, "djpeg -pnm -outfile tmp.pnm %s", out);
			snprintf(what, sizeof(what), "%s JPEG -> %u, q85 JPEG planar", name, box);
			check_floor(what, psnr(&got, &ref), cases[i].floor_q85);
		}
	}
	image_finish(&ref);
	image_finish(&got);
}

/*
 * The decoders alone: DCT-scaled JPEG decode (and WebP scaled decode)
 * followed by our Lanczos to the final size, against the reference.
 * A full decode plus our Lanczos is the upper bound: what is lost there
 * is only the difference between two Lanczos implementations.
 */
static void test_decoders(void)
{
	struct jpeg_dec *dec = jpeg_dec_create();
	struct resizer *rs = resizer_create();
	struct image ref = { 0 }, img = { 0 }, out = { 0 };
	struct decode_info info;
	struct thumb_spec spec;
	char err[256];
	size_t len;

	CHECK(dec && rs);
	LOAD(&ref, "convert in/base.jpg -filter Lanczos -resize 256x256 -depth 8 ppm:tmp.pnm");
	TL_SH_OK("cwebp -quiet -q 95 src.ppm -o in/src.webp");
	static const struct {
		const char *file;
		uint32_t need_box;
		double floor;
		const char *what;
	} cases[] = {
		{ "base.jpg", 65535, 49.5, "full JPEG decode + our Lanczos" },
		{ "base.jpg", 256, 34.5, "DCT-scaled baseline JPEG + our Lanczos" },
		{ "prog.jpg", 256, 34.5, "DCT-scaled progressive JPEG + our Lanczos" },
		{ "src.webp", 65535, 47.0, "full WebP decode + our Lanczos" },
		{ "src.webp", 256, 43.5, "scaled WebP decode + our Lanczos" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *d = tl_read(tl_path("in/%s", cases[i].file), &len);
		CHECK(d != NULL);
		spec_init_default(&spec);
		spec.sizes[0] = (struct thumb_size){ cases[i].need_box, cases[i].need_box };
		int r = strstr(cases[i].file, ".webp") ?
			webp_decode(d, len, &spec, &img, &info, err, sizeof(err)) :
			jpeg_dec_run(dec, d, len, &spec, &img, &info, err, sizeof(err));
		free(d);
		if (r != 0) {
			fprintf(stderr, "%s: %s\n", cases[i].file, err);
			exit(1);
		}
		CHECK_INT_EQ(resizer_run(rs, &img, &out, 256, 192), 0);
		char what[128];
		snprintf(what, sizeof(what), "%s (%ux%u)", cases[i].what, img.width,
			img.height);
		check_floor(what, psnr(&out, &ref), cases[i].floor);
	}
	jpeg_dec_destroy(dec);
	resizer_destroy(rs);
	image_finish(&ref);
	image_finish(&img);
	image_finish(&out);
}

int main(int argc, char **argv)
{
	report = argc > 1 && !strcmp(argv[1], "report");
	if (!tl_have("convert") || !tl_have("cjpeg") || !tl_have("djpeg") ||
			!tl_have("cwebp") || !tl_have("dwebp")) {
		SKIP("needs convert, cjpeg, djpeg, cwebp, dwebp");
	}
	TL_SH_OK("mkdir -p in out");
	ctx = thumb_ctx_create();
	CHECK(ctx != NULL);
	test_jpeg_input();
	test_decoders();
	thumb_ctx_destroy(ctx);
	return 0;
}
