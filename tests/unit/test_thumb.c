/*
 * Unit tests for common/thumb.c, the whole job: JPEG and WebP inputs made
 * with real tools go in, files come out and are decoded with djpeg and
 * dwebp. Covered: naming and sub-folders, several sizes of mixed shapes
 * from one decode, contain and cover, no upscaling, every EXIF orientation
 * in JPEG and WebP (the output is always upright), alpha, animation, each
 * failure class with its reason, no temp file after any failure, and one
 * context reused across all of it.
 */

#include "testlib.h"
#include "imglib.h"

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "atomic.h"
#include "image.h"
#include "spec.h"
#include "thumb.h"

/* Decode output @rel under out/ with djpeg or dwebp into @img (RGB or RGBA). */
static void decode_out(const char *rel, struct image *img)
{
	const char *ext = strrchr(rel, '.');
	CHECK(ext != NULL);
	if (!strcmp(ext, ".jpg")) {
		TL_SH_OK("djpeg -pnm -outfile dec.pnm 'out/%s'", rel);
	} else {
		TL_SH_OK("dwebp -quiet 'out/%s' -pam -o dec.pnm", rel);
	}
	pnm_read(tl_path("dec.pnm"), img);
}

static void check_dims(const char *rel, uint32_t w, uint32_t h)
{
	struct image img = { 0 };
	decode_out(rel, &img);
	if (img.width != w || img.height != h) {
		fprintf(stderr, "%s: %ux%u, want %ux%u\n", rel, img.width,
			img.height, w, h);
		exit(1);
	}
	image_finish(&img);
}

/* Temp files anywhere under out/. */
static int count_temps(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "find '%s/out' -name '%s*' | grep -c . || true",
		tl_tmpdir(), ATOMIC_TMP_PREFIX);
	FILE *p = popen(cmd, "r");
	int n = -1;
	CHECK(p != NULL);
	CHECK(fscanf(p, "%d", &n) == 1);
	pclose(p);
	return n;
}

static struct thumb_ctx *ctx;

static int run(const char *rel, const struct thumb_spec *spec,
		struct thumb_result *res)
{
	struct thumb_job job = {
		.in_root = tl_path("in"),
		.rel = rel,
		.out_root = tl_path("out"),
		.spec = spec,
	};
	return thumb_render(ctx, &job, res);
}

static void run_ok(const char *rel, const struct thumb_spec *spec,
		struct thumb_result *res)
{
	int r = run(rel, spec, res);
	if (r != 0 || res->fault != THUMB_FAULT_NONE) {
		fprintf(stderr, "%s: %d fault %u: %s\n", rel, r, res->fault,
			res->error);
		exit(1);
	}
}

static void test_basic(void)
{
	struct thumb_spec spec;
	struct thumb_result res;
	struct stat st;

	spec_init_default(&spec);
	TL_SH_OK("mkdir -p in/a/b out && convert -size 800x600 gradient:red-blue "
		"-quality 90 in/photo.jpg && cp in/photo.jpg in/a/b/deep.jpg");
	run_ok("photo.jpg", &spec, &res);
	check_dims("photo_256.jpg", 256, 192);
	CHECK_INT_EQ(res.src_width, 800);
	CHECK_INT_EQ(res.src_height, 600);
	CHECK_INT_EQ(res.outputs, 1);
	CHECK(stat(tl_path("in/photo.jpg"), &st) == 0);
	CHECK_INT_EQ(res.bytes_in, st.st_size);
	CHECK(stat(tl_path("out/photo_256.jpg"), &st) == 0);
	CHECK_INT_EQ(res.bytes_out, st.st_size);
	CHECK(res.decode_ns > 0 && res.encode_ns > 0 && res.write_ns > 0);
	CHECK(res.error[0] == '\0');
	/* a sub-folder of the input is made in the output */
	run_ok("a/b/deep.jpg", &spec, &res);
	check_dims("a/b/deep_256.jpg", 256, 192);
	CHECK_INT_EQ(count_temps(), 0);
}

/*
 * Mixed sizes, listed out of order, in both formats: each output has the
 * size geometry asks for, even the 300x300 box that must not be made from
 * the smaller 1024x100 result.
 */
static void test_sizes(void)
{
	struct thumb_spec spec;
	struct thumb_result res;
	static const struct {
		struct thumb_size box;
		uint32_t w, h;
		const char *name;
	} want[] = {
		{ { 128, 128 }, 128, 96, "photo_128" },
		{ { 1024, 100 }, 133, 100, "photo_1024x100" },
		{ { 512, 512 }, 512, 384, "photo_512" },
		{ { 300, 300 }, 300, 225, "photo_300" },
	};

	spec_init_default(&spec);
	spec.formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
	spec.n_sizes = 4;
	for (int i = 0; i < 4; i++) {
		spec.sizes[i] = want[i].box;
	}
	run_ok("photo.jpg", &spec, &res);
	CHECK_INT_EQ(res.outputs, 8);
	for (int i = 0; i < 4; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "%s.jpg", want[i].name);
		check_dims(rel, want[i].w, want[i].h);
		snprintf(rel, sizeof(rel), "%s.webp", want[i].name);
		check_dims(rel, want[i].w, want[i].h);
	}
}

static void test_cover_and_no_upscale(void)
{
	struct thumb_spec spec;
	struct thumb_result res;

	spec_init_default(&spec);
	spec.fit = THUMB_FIT_COVER;
	spec.n_sizes = 3;
	spec.sizes[0] = (struct thumb_size){ 200, 200 };
	spec.sizes[1] = (struct thumb_size){ 100, 300 };
	spec.sizes[2] = (struct thumb_size){ 1000, 1000 };
	run_ok("photo.jpg", &spec, &res);
	check_dims("photo_200.jpg", 200, 200);
	check_dims("photo_100x300.jpg", 100, 300);
	/* cover of a box bigger than the image: the image, never upscaled */
	check_dims("photo_1000.jpg", 800, 600);

	TL_SH_OK("convert -size 100x80 xc:orange in/small.jpg");
	spec_init_default(&spec);
	run_ok("small.jpg", &spec, &res);
	check_dims("small_256.jpg", 100, 80);
	spec.fit = THUMB_FIT_COVER;
	spec.sizes[0] = (struct thumb_size){ 90, 200 };
	run_ok("small.jpg", &spec, &res);
	check_dims("small_90x200.jpg", 90, 80);
}

static void pixel(const struct image *img, double fx, double fy, uint8_t *rgb)
{
	uint32_t x = (uint32_t)(fx * img->width), y = (uint32_t)(fy * img->height);
	memcpy(rgb, img->px + y * img->stride + x * img->channels, 3);
}

static bool near(const uint8_t *p, int r, int g, int b)
{
	return abs(p[0] - r) < 60 && abs(p[1] - g) < 60 && abs(p[2] - b) < 60;
}

/* Quadrant colours of the upright picture: red, green / blue, white. */
static void check_upright(const char *rel, uint32_t w, uint32_t h)
{
	struct image img = { 0 };
	uint8_t p[4][3];

	decode_out(rel, &img);
	if (img.width != w || img.height != h) {
		fprintf(stderr, "%s: %ux%u, want %ux%u\n", rel, img.width,
			img.height, w, h);
		exit(1);
	}
	pixel(&img, 0.25, 0.25, p[0]);
	pixel(&img, 0.75, 0.25, p[1]);
	pixel(&img, 0.25, 0.75, p[2]);
	pixel(&img, 0.75, 0.75, p[3]);
	if (!near(p[0], 255, 0, 0) || !near(p[1], 0, 255, 0) ||
			!near(p[2], 0, 0, 255) || !near(p[3], 255, 255, 255)) {
		fprintf(stderr, "%s is not upright: %d,%d,%d %d,%d,%d / "
			"%d,%d,%d %d,%d,%d\n", rel, p[0][0], p[0][1], p[0][2],
			p[1][0], p[1][1], p[1][2], p[2][0], p[2][1], p[2][2],
			p[3][0], p[3][1], p[3][2]);
		exit(1);
	}
	image_finish(&img);
}

/*
 * For each orientation N the stored pixels are the upright picture put
 * through the inverse of N, then tagged N: a correct pipeline always gives
 * the same upright picture. ImageMagick's -auto-orient checks the set-up.
 */
static void test_orientation(void)
{
	static const char *const inverse[9] = {
		[1] = "", [2] = "-flop", [3] = "-rotate 180", [4] = "-flip",
		[5] = "-transpose", [6] = "-rotate 270", [7] = "-transverse",
		[8] = "-rotate 90",
	};
	struct thumb_spec spec;
	struct thumb_result res;

	TL_SH_OK("convert -size 120x80 xc:white "
		"-fill red -draw 'rectangle 0,0 59,39' "
		"-fill lime -draw 'rectangle 60,0 119,39' "
		"-fill blue -draw 'rectangle 0,40 59,79' -depth 8 upright.ppm");
	spec_init_default(&spec);
	spec.formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
	spec.n_sizes = 2;
	spec.sizes[0] = (struct thumb_size){ 256, 256 };
	spec.sizes[1] = (struct thumb_size){ 60, 60 };
	for (int n = 1; n <= 8; n++) {
		TL_SH_OK("convert upright.ppm %s -depth 8 s%d.ppm && "
			"cjpeg -quality 95 s%d.ppm > in/o%d.jpg && "
			"cwebp -quiet -q 95 s%d.ppm -o in/o%d.webp && "
			"exiftool -q -overwrite_original -Orientation#=%d in/o%d.jpg in/o%d.webp",
			inverse[n], n, n, n, n, n, n, n, n);
		if (n == 6) {
			/* the set-up itself, once: ImageMagick agrees it is upright */
			TL_SH_OK("convert in/o6.jpg -auto-orient -depth 8 check.ppm && "
				"test \"$(identify -format %%w check.ppm)\" = 120");
		}
		/* JPEG alone: a JPEG input takes the planar path */
		for (int planar = 0; planar < 2; planar++)
		for (int webp = 0; webp < 2; webp++) {
			char rel[32], out[32];
			spec.formats = planar ? THUMB_FORMAT_JPEG :
				THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
			snprintf(rel, sizeof(rel), "o%d.%s", n, webp ? "webp" : "jpg");
			run_ok(rel, &spec, &res);
			CHECK_INT_EQ(res.src_width, n >= 5 ? 80 : 120);
			for (int f = 0; f < 2 - planar; f++) {
				const char *ext = f ? "webp" : "jpg";
				snprintf(out, sizeof(out), "o%d_256.%s", n, ext);
				check_upright(out, 120, 80);
				snprintf(out, sizeof(out), "o%d_60.%s", n, ext);
				check_upright(out, 60, 40);
			}
		}
	}
}

/* Alpha: JPEG composites on white, WebP keeps it. Animation: frame one. */
static void test_alpha_and_animation(void)
{
	struct thumb_spec spec;
	struct thumb_result res;
	struct image img = { 0 };
	uint8_t p[3];

	TL_SH_OK("convert -size 200x100 xc:none -fill red "
		"-draw 'rectangle 0,0 99,99' a.png && "
		"cwebp -quiet -q 90 -exact a.png -o in/alpha.webp");
	spec_init_default(&spec);
	spec.formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
	spec.sizes[0] = (struct thumb_size){ 100, 100 };
	run_ok("alpha.webp", &spec, &res);
	decode_out("alpha_100.jpg", &img);
	CHECK(img.width == 100 && img.height == 50);
	pixel(&img, 0.2, 0.5, p);
	CHECK(near(p, 255, 0, 0));
	pixel(&img, 0.8, 0.5, p);
	CHECK(p[0] > 245 && p[1] > 245 && p[2] > 245);
	decode_out("alpha_100.webp", &img);
	CHECK_INT_EQ(img.channels, 4);
	CHECK(img.px[(25 * img.width + 20) * 4 + 3] > 250);
	CHECK(img.px[(25 * img.width + 80) * 4 + 3] < 5);

	TL_SH_OK("convert -size 64x48 xc:lime g.png && convert -size 64x48 xc:blue b.png && "
		"img2webp -q 90 g.png b.png -o in/anim.webp >/dev/null 2>&1");
	spec.formats = THUMB_FORMAT_JPEG;
	run_ok("anim.webp", &spec, &res);
	decode_out("anim_100.jpg", &img);
	CHECK(img.width == 64 && img.height == 48);
	pixel(&img, 0.5, 0.5, p);
	CHECK(near(p, 0, 255, 0));
	image_finish(&img);
}

static void expect_fail(const char *rel, const struct thumb_spec *spec,
		enum thumb_fault fault, const char *reason)
{
	struct thumb_result res;
	int r = run(rel, spec, &res);

	if (r >= 0 || res.fault != (uint32_t)fault || !strstr(res.error, reason)) {
		fprintf(stderr, "%s: got %d fault %u \"%s\", want fault %d \"%s\"\n",
			rel, r, res.fault, res.error, fault, reason);
		exit(1);
	}
	CHECK_INT_EQ(count_temps(), 0);
}

static void test_failures(void)
{
	struct thumb_spec spec;

	spec_init_default(&spec);
	TL_SH_OK("mkdir -p in/bad && printf 'hello, world' > in/bad/text.jpg && "
		"convert -size 10x10 xc:red in/bad/pic.png && "
		"cp in/bad/pic.png in/bad/png.jpg && : > in/bad/empty.jpg && "
		"ln -s ../photo.jpg in/bad/link.jpg && mkfifo in/bad/fifo.jpg && "
		"head -c 3000 in/photo.jpg > in/bad/trunc.jpg && "
		"convert -size 300x200 xc:gray -quality 90 in/bad/mid.jpg");
	expect_fail("bad/text.jpg", &spec, THUMB_FAULT_INPUT, "not an image");
	expect_fail("bad/png.jpg", &spec, THUMB_FAULT_INPUT, "PNG is not supported");
	expect_fail("bad/empty.jpg", &spec, THUMB_FAULT_INPUT, "empty file");
	expect_fail("bad/link.jpg", &spec, THUMB_FAULT_INPUT, "symbolic link");
	expect_fail("bad/fifo.jpg", &spec, THUMB_FAULT_INPUT, "not a regular file");
	expect_fail("bad/trunc.jpg", &spec, THUMB_FAULT_INPUT, "");
	expect_fail("bad/gone.jpg", &spec, THUMB_FAULT_GONE, "no such file");
	expect_fail("../photo.jpg", &spec, THUMB_FAULT_INPUT, "outside");
	spec.limits.max_pixels = 300 * 200 - 1;
	expect_fail("bad/mid.jpg", &spec, THUMB_FAULT_INPUT, "max_pixels");
	spec.limits.max_pixels = THUMB_DEFAULT_MAX_PIXELS;
	spec.limits.max_file_size = 100;
	expect_fail("bad/mid.jpg", &spec, THUMB_FAULT_INPUT, "max_file_size");
	spec_init_default(&spec);
	spec.quality = 0;
	expect_fail("bad/mid.jpg", &spec, THUMB_FAULT_INTERNAL, "bad output spec");
	/* nothing of any of them reached the output */
	TL_SH_OK("test ! -e out/bad || test -z \"$(ls -A out/bad)\"");

	/* the output side: a file where the output folder should be */
	spec_init_default(&spec);
	TL_SH_OK("mkdir -p in/blocked && cp in/bad/mid.jpg in/blocked/ && "
		"touch out/blocked");
	expect_fail("blocked/mid.jpg", &spec, THUMB_FAULT_OUTPUT,
		"output folder");
}

/*
 * A write that fails half-way (RLIMIT_FSIZE gives EFBIG even to root):
 * fault OUTPUT, no temp left, and the outputs written before the failure
 * are complete files.
 */
static void test_write_failure(void)
{
	pid_t pid;
	int st;

	TL_SH_OK("convert -size 800x600 plasma:red-blue -quality 95 in/fsize.jpg 2>/dev/null");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct thumb_spec spec;
		struct thumb_result res;
		struct rlimit rl = { 20000, 20000 };
		spec_init_default(&spec);
		spec.quality = 95;
		spec.n_sizes = 2;
		spec.sizes[0] = (struct thumb_size){ 64, 64 };
		spec.sizes[1] = (struct thumb_size){ 800, 800 };
		signal(SIGXFSZ, SIG_IGN);
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		CHECK(run("fsize.jpg", &spec, &res) == -EFBIG);
		CHECK_INT_EQ(res.fault, THUMB_FAULT_OUTPUT);
		CHECK_STR_CONTAINS(res.error, "writing the 800x800 jpg output");
		CHECK_INT_EQ(res.outputs, 0);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_INT_EQ(count_temps(), 0);
	/* largest first, so the 64 box was not reached */
	TL_SH_OK("test ! -e out/fsize_64.jpg && test ! -e out/fsize_800.jpg");
}

int main(void)
{
	if (!tl_have("djpeg") || !tl_have("dwebp") || !tl_have("cwebp") ||
			!tl_have("cjpeg") || !tl_have("exiftool") ||
			!tl_have("convert") || !tl_have("img2webp")) {
		SKIP("needs djpeg, dwebp, cwebp, cjpeg, exiftool, convert, img2webp");
	}
	ctx = thumb_ctx_create();
	CHECK(ctx != NULL);
	test_basic();
	test_sizes();
	test_cover_and_no_upscale();
	test_orientation();
	test_alpha_and_animation();
	test_failures();
	test_write_failure();
	/* the context survived every failure above: one more clean job */
	struct thumb_spec spec;
	struct thumb_result res;
	spec_init_default(&spec);
	run_ok("photo.jpg", &spec, &res);
	check_dims("photo_256.jpg", 256, 192);
	thumb_ctx_destroy(ctx);
	thumb_ctx_destroy(NULL);
	return 0;
}
