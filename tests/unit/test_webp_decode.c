/*
 * Unit tests for common/webp_decode.c: lossy, lossless and alpha files
 * made with cwebp and compared with dwebp; animations (img2webp, webpmux)
 * decoded to their first frame, composited when that frame is smaller
 * than the canvas; scaled decoding; EXIF orientation written by exiftool
 * and webpmux; and the refusals: a canvas bomb patched into the VP8X
 * header, max_pixels, truncated and corrupt files.
 */

#include "testlib.h"
#include "imglib.h"

#include <ctype.h>
#include <stdbool.h>

#include "decode.h"
#include "image.h"
#include "spec.h"

static uint8_t *file_data(const char *name, size_t *len)
{
	uint8_t *d = tl_read(tl_path("%s", name), len);
	CHECK(d != NULL);
	return d;
}

/* A spec whose single box is @box pixels square. */
static struct thumb_spec spec_box(uint32_t box)
{
	struct thumb_spec s;
	spec_init_default(&s);
	s.sizes[0] = (struct thumb_size){ box, box };
	return s;
}

static int decode_file(const char *name, const struct thumb_spec *spec,
		struct image *out, struct decode_info *info, char *err, size_t errlen)
{
	size_t len;
	uint8_t *d = file_data(name, &len);
	int r = webp_decode(d, len, spec, out, info, err, errlen);
	free(d);
	return r;
}

/* Decoded at full size, the pixels are exactly what dwebp gives. */
static void check_like_dwebp(const char *name, bool alpha)
{
	struct thumb_spec spec = spec_box(65535);
	struct image img = { 0 }, ref = { 0 };
	struct decode_info info;
	char err[256] = "";

	CHECK_INT_EQ(decode_file(name, &spec, &img, &info, err, sizeof(err)), 0);
	TL_SH_OK("dwebp -quiet %s %s -o ref.pnm", name, alpha ? "-pam" : "-ppm");
	pnm_read(tl_path("ref.pnm"), &ref);
	CHECK_INT_EQ(img.channels, alpha ? 4 : 3);
	CHECK_INT_EQ(info.has_alpha, alpha);
	CHECK_INT_EQ(img.width, ref.width);
	CHECK_INT_EQ(img.height, ref.height);
	CHECK_INT_EQ(info.width, ref.width);
	CHECK_INT_EQ(info.height, ref.height);
	CHECK_INT_EQ(info.orientation, 1);
	CHECK_INT_EQ(info.scale_denom, 1);
	CHECK(!info.animated);
	CHECK(memcmp(img.px, ref.px, img.stride * img.height) == 0);
	image_finish(&img);
	image_finish(&ref);
}

static void test_still(void)
{
	struct thumb_spec spec = spec_box(65535);
	struct image img = { 0 }, src = { 0 };
	struct decode_info info;
	char err[256];

	/* four coloured quadrants on a gradient, 320x240 */
	TL_SH_OK("convert -size 320x240 gradient:white-black "
		"-fill red -draw 'rectangle 0,0 159,119' "
		"-fill lime -draw 'rectangle 160,0 319,119' "
		"-fill blue -draw 'rectangle 0,120 159,239' -depth 8 src.ppm");
	TL_SH_OK("cwebp -quiet -q 90 src.ppm -o lossy.webp");
	TL_SH_OK("cwebp -quiet -lossless src.ppm -o lossless.webp");
	TL_SH_OK("convert src.ppm -alpha set -channel A -fx 'i/w' +channel alpha.png");
	TL_SH_OK("cwebp -quiet -q 90 alpha.png -o alpha.webp");
	TL_SH_OK("cwebp -quiet -lossless -exact alpha.png -o alpha-ll.webp");
	check_like_dwebp("lossy.webp", false);
	check_like_dwebp("lossless.webp", false);
	check_like_dwebp("alpha.webp", true);
	check_like_dwebp("alpha-ll.webp", true);
	/* lossless is the source, bit for bit */
	CHECK_INT_EQ(decode_file("lossless.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	pnm_read(tl_path("src.ppm"), &src);
	CHECK(memcmp(img.px, src.px, src.stride * src.height) == 0);
	/* 1x1 works */
	TL_SH_OK("convert -size 1x1 xc:'#123456' one.ppm && "
		"cwebp -quiet -lossless one.ppm -o one.webp");
	CHECK_INT_EQ(decode_file("one.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(img.width == 1 && img.height == 1);
	CHECK(img.px[0] == 0x12 && img.px[1] == 0x34 && img.px[2] == 0x56);
	image_finish(&img);
	image_finish(&src);
}

/*
 * A large file decoded for a 256 box comes out scaled by libwebp, at
 * least as big as the box needs and no more than twice that, with the
 * aspect ratio kept and the content in place.
 */
static void test_scaled(void)
{
	struct thumb_spec spec = spec_box(256);
	struct image img = { 0 };
	struct decode_info info;
	char err[256];

	TL_SH_OK("convert -size 2000x1500 xc:blue "
		"-fill red -draw 'rectangle 0,0 999,749' big.ppm && "
		"cwebp -quiet -q 80 big.ppm -o big.webp");
	CHECK_INT_EQ(decode_file("big.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK_INT_EQ(info.width, 2000);
	CHECK_INT_EQ(info.height, 1500);
	CHECK_INT_EQ(img.width, 512);
	CHECK_INT_EQ(img.height, 384);
	const uint8_t *tl = img.px + 50 * img.stride + 50 * 3;
	const uint8_t *br = img.px + 300 * img.stride + 400 * 3;
	CHECK(tl[0] > 200 && tl[2] < 60);
	CHECK(br[2] > 200 && br[0] < 60);
	/* cover needs more pixels than contain for a wide box */
	spec.sizes[0] = (struct thumb_size){ 400, 100 };
	spec.fit = THUMB_FIT_COVER;
	CHECK_INT_EQ(decode_file("big.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK_INT_EQ(img.width, 800);
	CHECK_INT_EQ(img.height, 600);
	/* a box bigger than the image: full size, never more */
	spec = spec_box(1500);
	CHECK_INT_EQ(decode_file("big.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(img.width == 2000 && img.height == 1500);
	/* the largest of several sizes decides */
	spec = spec_box(64);
	spec.n_sizes = 2;
	spec.sizes[1] = (struct thumb_size){ 300, 300 };
	CHECK_INT_EQ(decode_file("big.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(img.width == 600 && img.height == 450);
	image_finish(&img);
}

static const uint8_t *px_at(const struct image *img, uint32_t x, uint32_t y)
{
	return img->px + (size_t)y * img->stride + (size_t)x * img->channels;
}

static void test_animated(void)
{
	struct thumb_spec spec = spec_box(65535);
	struct image img = { 0 };
	struct decode_info info;
	char err[256];

	TL_SH_OK("convert -size 64x48 xc:red r.png && convert -size 64x48 xc:blue b.png && "
		"img2webp -q 80 r.png b.png -o anim.webp >/dev/null 2>&1");
	CHECK_INT_EQ(decode_file("anim.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(info.animated);
	CHECK(info.width == 64 && info.height == 48);
	CHECK(img.width == 64 && img.height == 48);
	/* frame one is red, not blue */
	const uint8_t *p = px_at(&img, 30, 20);
	CHECK(p[0] > 200 && p[1] < 50 && p[2] < 50);

	/* a 32x32 first frame at (10,20) of a 64x64 canvas */
	TL_SH_OK("convert -size 32x32 xc:red r32.png && cwebp -quiet -lossless r32.png -o r32.webp && "
		"convert -size 64x64 xc:blue b64.png && cwebp -quiet -lossless b64.png -o b64.webp && "
		"webpmux -frame r32.webp +100+10+20 -frame b64.webp +100 -loop 0 -o sub.webp >/dev/null 2>&1");
	CHECK_INT_EQ(decode_file("sub.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(info.animated && info.has_alpha);
	CHECK(img.width == 64 && img.height == 64 && img.channels == 4);
	CHECK_INT_EQ(px_at(&img, 0, 0)[3], 0);
	CHECK_INT_EQ(px_at(&img, 63, 63)[3], 0);
	CHECK_INT_EQ(px_at(&img, 9, 30)[3], 0);
	p = px_at(&img, 10, 20);
	CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0 && p[3] == 255);
	p = px_at(&img, 41, 51);
	CHECK(p[0] == 255 && p[3] == 255);
	CHECK_INT_EQ(px_at(&img, 42, 51)[3], 0);
	CHECK_INT_EQ(px_at(&img, 41, 52)[3], 0);
	/* the same, scaled to half: the frame lands at half the offset */
	spec = spec_box(16);
	CHECK_INT_EQ(decode_file("sub.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(img.width == 32 && img.height == 32);
	CHECK_INT_EQ(px_at(&img, 0, 0)[3], 0);
	CHECK(px_at(&img, 12, 18)[3] > 200 && px_at(&img, 12, 18)[0] > 200);
	CHECK_INT_EQ(px_at(&img, 30, 30)[3], 0);
	image_finish(&img);
}

static void test_orientation(void)
{
	struct thumb_spec spec = spec_box(65535);
	struct image img = { 0 };
	struct decode_info info;
	char err[256];

	/* exiftool writes the EXIF chunk as bare TIFF ("MM\0*") */
	TL_SH_OK("convert -size 40x20 xc:gray o.ppm && cwebp -quiet o.ppm -o o6.webp && "
		"exiftool -q -overwrite_original -Orientation#=6 o6.webp && "
		"test \"$(exiftool -s3 -n -Orientation o6.webp)\" = 6");
	CHECK_INT_EQ(decode_file("o6.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK_INT_EQ(info.orientation, 6);
	/* orientation is reported, not applied */
	CHECK(img.width == 40 && img.height == 20);
	/* a chunk in the JPEG APP1 form, "Exif\0\0" first, set by webpmux */
	TL_SH_OK("convert -size 40x20 xc:gray o.jpg && exiftool -q -overwrite_original "
		"-Orientation#=3 o.jpg && exiftool -b -EXIF o.jpg > tiff.bin && "
		"{ printf 'Exif\\0\\0'; cat tiff.bin; } > app1.bin && "
		"cwebp -quiet o.ppm -o plain.webp && "
		"webpmux -set exif app1.bin plain.webp -o o3.webp >/dev/null 2>&1");
	CHECK_INT_EQ(decode_file("o3.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK_INT_EQ(info.orientation, 3);
	/* out-of-range values count as upright */
	TL_SH_OK("cp o6.webp o9.webp && exiftool -q -overwrite_original "
		"-n -Orientation=9 o9.webp 2>/dev/null || true");
	CHECK_INT_EQ(decode_file("o9.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(info.orientation >= 1 && info.orientation <= 8);
	CHECK(info.orientation != 9);
	/* orientation 6 swaps the axes the need is computed in */
	spec = spec_box(0);
	spec.sizes[0] = (struct thumb_size){ 5, 10 };
	CHECK_INT_EQ(decode_file("o6.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	CHECK(img.width == 20 && img.height == 10);
	image_finish(&img);
}

static void write_bytes(const char *name, const uint8_t *d, size_t len)
{
	FILE *f = fopen(tl_path("%s", name), "wb");
	CHECK(f != NULL);
	CHECK(fwrite(d, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

static void test_refused(void)
{
	struct thumb_spec spec = spec_box(256);
	struct image img = { 0 };
	struct decode_info info;
	char err[256];
	size_t len;
	uint8_t *d;

	/*
	 * The canvas bomb: an animation whose VP8X header claims 65535x65535
	 * (4.3 GP). It must be refused from the header, before any pixel
	 * memory: the image stays unallocated.
	 */
	d = file_data("anim.webp", &len);
	CHECK(memcmp(d + 12, "VP8X", 4) == 0);
	/* canvas width - 1 and height - 1, 24-bit little-endian: 65534 */
	d[24] = 0xfe; d[25] = 0xff; d[26] = 0;
	d[27] = 0xfe; d[28] = 0xff; d[29] = 0;
	CHECK_INT_EQ(webp_decode(d, len, &spec, &img, &info, err, sizeof(err)),
		-E2BIG);
	CHECK_STR_CONTAINS(err, "WebP canvas 65535x65535 exceeds max_pixels 100000000");
	CHECK(img.px == NULL && img.cap == 0);
	free(d);

	/* max_pixels on a plain file */
	spec.limits.max_pixels = 320 * 240 - 1;
	CHECK_INT_EQ(decode_file("lossy.webp", &spec, &img, &info, err,
		sizeof(err)), -E2BIG);
	CHECK_STR_CONTAINS(err, "WebP image 320x240 exceeds max_pixels 76799");
	CHECK(img.px == NULL);
	spec.limits.max_pixels = 320 * 240;
	CHECK_INT_EQ(decode_file("lossy.webp", &spec, &img, &info, err,
		sizeof(err)), 0);

	/* truncated: simple lossy, lossless, and an animation */
	static const char *const files[] = { "lossy.webp", "lossless.webp",
		"alpha.webp", "anim.webp", "o6.webp" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		d = file_data(files[i], &len);
		for (size_t cut = 8; cut < len; cut = cut * 3 / 2 + 1) {
			int r = webp_decode(d, cut, &spec, &img, &info, err, sizeof(err));
			if (r != -EBADMSG) {
				fprintf(stderr, "%s cut at %zu/%zu: %d %s\n", files[i],
					cut, len, r, err);
				exit(1);
			}
		}
		d = realloc(d, len);
		int r = webp_decode(d, len * 2 / 3, &spec, &img, &info, err,
			sizeof(err));
		CHECK_INT_EQ(r, -EBADMSG);
		CHECK_STR_CONTAINS(err, "truncated WebP");
		free(d);
	}
	/* garbage in the bitstream after a valid header */
	d = file_data("lossy.webp", &len);
	for (size_t i = 40; i < len; i++) {
		d[i] ^= 0x5a;
	}
	CHECK_INT_EQ(webp_decode(d, len, &spec, &img, &info, err, sizeof(err)),
		-EBADMSG);
	free(d);
	/* not WebP at all */
	write_bytes("junk.webp", (const uint8_t *)"RIFF\x10\0\0\0WEBPjunkjunk", 20);
	CHECK_INT_EQ(decode_file("junk.webp", &spec, &img, &info, err,
		sizeof(err)), -EBADMSG);
	CHECK_INT_EQ(webp_decode((const uint8_t *)"", 0, &spec, &img, &info,
		err, sizeof(err)), -EBADMSG);
	image_finish(&img);
}

/* The image keeps its buffer between decodes of any size. */
static void test_reuse(void)
{
	struct thumb_spec spec = spec_box(65535);
	struct image img = { 0 };
	struct decode_info info;
	char err[256];

	/* the biggest first: 320x240 RGBA */
	CHECK_INT_EQ(decode_file("alpha.webp", &spec, &img, &info, err,
		sizeof(err)), 0);
	uint8_t *first = img.px;
	for (int i = 0; i < 3; i++) {
		CHECK_INT_EQ(decode_file("anim.webp", &spec, &img, &info, err,
			sizeof(err)), 0);
		CHECK_INT_EQ(decode_file("lossy.webp", &spec, &img, &info, err,
			sizeof(err)), 0);
		CHECK(img.px == first);
	}
	image_finish(&img);
}

int main(void)
{
	if (!tl_have("cwebp") || !tl_have("dwebp") || !tl_have("img2webp") ||
			!tl_have("webpmux") || !tl_have("exiftool") ||
			!tl_have("convert")) {
		SKIP("needs cwebp, dwebp, img2webp, webpmux, exiftool, convert");
	}
	test_still();
	test_scaled();
	test_animated();
	test_orientation();
	test_refused();
	test_reuse();
	return 0;
}
