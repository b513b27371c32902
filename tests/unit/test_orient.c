/*
 * Unit tests for common/orient.c: the eight EXIF orientations against a
 * literal asymmetric pattern, and against ImageMagick's -auto-orient on a
 * real JPEG tagged with exiftool.
 */

#include "testlib.h"
#include "imglib.h"

#include <ctype.h>
#include <stdint.h>

#include "image.h"
#include "orient.h"

/*
 * A 3x2 image with labelled pixels
 *     A B C
 *     D E F
 * and, for each orientation, the upright result written out by hand from
 * the EXIF 2.3 definition (row 0 / column 0 placement), not from a formula.
 */
static const char *const expect_3x2[9] = {
	[1] = "ABC" "DEF",
	[2] = "CBA" "FED",       /* mirror horizontal */
	[3] = "FED" "CBA",       /* rotate 180 */
	[4] = "DEF" "ABC",       /* mirror vertical */
	[5] = "AD" "BE" "CF",    /* transpose */
	[6] = "DA" "EB" "FC",    /* rotate 90 CW */
	[7] = "FC" "EB" "DA",    /* transverse */
	[8] = "CF" "BE" "AD",    /* rotate 270 CW */
};

static void fill_label(uint8_t *p, uint32_t c, char label)
{
	for (uint32_t k = 0; k < c; k++) {
		p[k] = (uint8_t)(label * 3 + k * 101);
	}
}

static void test_pattern(uint32_t c)
{
	struct image src = { 0 }, dst = { 0 };
	const char *labels = expect_3x2[1];

	CHECK_INT_EQ(image_reserve(&src, 3, 2, c), 0);
	for (int i = 0; i < 6; i++) {
		fill_label(src.px + (size_t)i * c, c, labels[i]);
	}
	CHECK_INT_EQ(orient_apply(&src, 1, &dst), 1);
	CHECK(dst.px == NULL); /* nothing touched for "upright" */
	CHECK_INT_EQ(orient_apply(&src, 0, &dst), 1);
	CHECK_INT_EQ(orient_apply(&src, 9, &dst), 1);
	CHECK_INT_EQ(orient_apply(&src, 6, &src), -EINVAL);
	CHECK_INT_EQ(src.width, 3);

	for (int o = 2; o <= 8; o++) {
		uint8_t want[4];
		CHECK_INT_EQ(orient_apply(&src, o, &dst), 0);
		CHECK_INT_EQ(dst.width, o >= 5 ? 2 : 3);
		CHECK_INT_EQ(dst.height, o >= 5 ? 3 : 2);
		CHECK_INT_EQ(dst.channels, c);
		CHECK_INT_EQ(dst.stride, dst.width * c);
		for (int i = 0; i < 6; i++) {
			fill_label(want, c, expect_3x2[o][i]);
			if (memcmp(dst.px + (size_t)i * c, want, c) != 0) {
				fprintf(stderr, "orientation %d, %u channels, "
					"pixel %d: want %c\n", o, c, i,
					expect_3x2[o][i]);
				exit(1);
			}
		}
	}
	image_finish(&src);
	image_finish(&dst);
}

/* Orienting twice by an orientation and its inverse is the identity. */
static void test_round_trip(void)
{
	static const int inverse[9] = { 0, 1, 2, 3, 4, 5, 8, 7, 6 };
	struct image src = { 0 }, a = { 0 }, b = { 0 };
	uint32_t w = 67, h = 45; /* odd, several 16-pixel tiles, partial ones */

	for (uint32_t c = 3; c <= 4; c++) {
		CHECK_INT_EQ(image_reserve(&src, w, h, c), 0);
		for (size_t i = 0; i < src.stride * h; i++) {
			src.px[i] = (uint8_t)(i * 2654435761u >> 13);
		}
		for (int o = 2; o <= 8; o++) {
			CHECK_INT_EQ(orient_apply(&src, o, &a), 0);
			CHECK_INT_EQ(orient_apply(&a, inverse[o], &b), 0);
			CHECK_INT_EQ(b.width, w);
			CHECK_INT_EQ(b.height, h);
			CHECK(memcmp(b.px, src.px, src.stride * h) == 0);
		}
	}
	image_finish(&src);
	image_finish(&a);
	image_finish(&b);
}

static uint8_t alpha_of(const uint8_t *p)
{
	return (uint8_t)(p[0] * 7 + p[1] * 3 + p[2]);
}

/*
 * ImageMagick as the reference: the same JPEG decoded once as stored and
 * once with -auto-orient, so the only difference is the orientation. The
 * four-channel path gets an alpha derived from each pixel's colour, so
 * alpha must travel with its pixel.
 */
static void test_against_imagemagick(void)
{
	struct image raw = { 0 }, want = { 0 }, rgba = { 0 }, got = { 0 };

	if (!tl_have("convert") || !tl_have("exiftool") || !tl_have("cjpeg")) {
		SKIP("convert, exiftool or cjpeg missing");
	}
	/*
	 * 37x23: several 16-pixel tiles with partial ones at both edges. One
	 * exiftool and one mogrify run for all eight files, since process
	 * start-up dominates; their pixel data is the same, so the as-stored
	 * decode is done once.
	 */
	TL_SH_OK("convert rose: -crop 37x23+9+5 +repage src.ppm && "
		"cjpeg -quality 95 src.ppm > base.jpg && convert base.jpg raw.ppm && "
		": > args && for o in 1 2 3 4 5 6 7 8; do cp base.jpg o$o.jpg && "
		"printf -- '-n\\n-Orientation=%%s\\no%%s.jpg\\n-execute\\n' "
		"$o $o >> args; done && "
		"exiftool -@ args -common_args -q -overwrite_original && "
		"mogrify -auto-orient -format ppm o?.jpg");
	pnm_read(tl_path("raw.ppm"), &raw);
	for (int o = 1; o <= 8; o++) {
		pnm_read(tl_path("o%d.ppm", o), &want);
		CHECK_INT_EQ(raw.width, 37);
		CHECK_INT_EQ(raw.height, 23);

		const struct image *res = &raw;
		int r = orient_apply(&raw, o, &got);
		CHECK_INT_EQ(r, o == 1 ? 1 : 0);
		if (r == 0) {
			res = &got;
		}
		CHECK_INT_EQ(res->width, want.width);
		CHECK_INT_EQ(res->height, want.height);
		if (memcmp(res->px, want.px, want.stride * want.height) != 0) {
			fprintf(stderr, "orientation %d differs from "
				"ImageMagick\n", o);
			exit(1);
		}

		CHECK_INT_EQ(image_reserve(&rgba, raw.width, raw.height, 4), 0);
		for (size_t i = 0; i < (size_t)raw.width * raw.height; i++) {
			memcpy(rgba.px + 4 * i, raw.px + 3 * i, 3);
			rgba.px[4 * i + 3] = alpha_of(raw.px + 3 * i);
		}
		if (orient_apply(&rgba, o, &got) == 1) {
			continue;
		}
		CHECK_INT_EQ(got.width, want.width);
		for (size_t i = 0; i < (size_t)want.width * want.height; i++) {
			CHECK(memcmp(got.px + 4 * i, want.px + 3 * i, 3) == 0);
			CHECK(got.px[4 * i + 3] == alpha_of(want.px + 3 * i));
		}
	}
	image_finish(&raw);
	image_finish(&want);
	image_finish(&rgba);
	image_finish(&got);
}

/* Degenerate shapes: single rows and columns, and a 1x1. */
static void test_thin(void)
{
	struct image src = { 0 }, dst = { 0 };

	CHECK_INT_EQ(image_reserve(&src, 5, 1, 3), 0);
	for (int i = 0; i < 15; i++) {
		src.px[i] = (uint8_t)i;
	}
	CHECK_INT_EQ(orient_apply(&src, 6, &dst), 0);
	CHECK_INT_EQ(dst.width, 1);
	CHECK_INT_EQ(dst.height, 5);
	CHECK(memcmp(dst.px, src.px, 15) == 0); /* a row becomes a column */
	CHECK_INT_EQ(orient_apply(&src, 8, &dst), 0);
	for (int i = 0; i < 5; i++) {
		CHECK(memcmp(dst.px + 3 * i, src.px + 3 * (4 - i), 3) == 0);
	}
	CHECK_INT_EQ(image_reserve(&src, 1, 1, 4), 0);
	memcpy(src.px, "\1\2\3\4", 4);
	for (int o = 2; o <= 8; o++) {
		CHECK_INT_EQ(orient_apply(&src, o, &dst), 0);
		CHECK(memcmp(dst.px, "\1\2\3\4", 4) == 0);
	}
	image_finish(&src);
	image_finish(&dst);
}

int main(void)
{
	test_pattern(3);
	test_pattern(4);
	test_round_trip();
	test_thin();
	test_against_imagemagick();
	return 0;
}
