/*
 * The JPEG decoder against djpeg (the same libjpeg, decoded the plain
 * way): every coding and subsampling at every DCT scale must give the
 * same pixels, the DC-only path included. Then colour spaces, EXIF
 * orientation, limits, truncation and hostile files, each checked for
 * its error class and text. All cases are made here with cjpeg, convert,
 * exiftool, libjpeg itself or byte surgery.
 */
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include <jpeglib.h>

#include "decode.h"
#include "geometry.h"
#include "testlib.h"

static struct jpeg_dec *dec;
static int quiet_fd = -1; /* stderr is captured here during each decode */

struct ppm {
	uint8_t *px;
	uint32_t w, h;
};

static struct ppm ppm_read(const char *name)
{
	struct ppm p = { NULL, 0, 0 };
	unsigned w, h, maxval;
	FILE *f = fopen(tl_path("%s", name), "rbe");
	CHECK(f);
	CHECK(fscanf(f, "P6 %u %u %u", &w, &h, &maxval) == 3);
	CHECK(maxval == 255);
	fgetc(f);
	p.w = w;
	p.h = h;
	p.px = malloc((size_t)w * h * 3);
	CHECK(p.px);
	CHECK(fread(p.px, 1, (size_t)w * h * 3, f) == (size_t)w * h * 3);
	fclose(f);
	return p;
}

static uint8_t *file(const char *name, size_t *len)
{
	uint8_t *d = tl_read(tl_path("%s", name), len);
	if (!d) {
		fprintf(stderr, "cannot read %s\n", name);
		exit(1);
	}
	return d;
}

/* A box, decoded at the smallest scale that covers it (detail = fast):
 * most tests here are about that scale. */
static struct thumb_spec spec_box(uint32_t box)
{
	struct thumb_spec spec;
	spec_init_default(&spec);
	spec.sizes[0] = (struct thumb_size){ box, box };
	spec.detail = THUMB_DETAIL_FAST;
	return spec;
}

/*
 * One decode with stderr pointed at a capture file, which must stay
 * empty: libjpeg must never print. @d is copied to an exact-size buffer
 * so ASan sees any read past the end.
 */
static int run_bytes(const uint8_t *d, size_t len,
		const struct thumb_spec *spec, struct image *img,
		struct decode_info *info, char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	CHECK(copy);
	memcpy(copy, d, len);
	fflush(stderr);
	int saved = dup(2);
	CHECK(saved >= 0 && dup2(quiet_fd, 2) == 2);
	err[0] = '\0';
	int r = jpeg_dec_run(dec, copy, len, spec, img, info, err, errlen);
	fflush(stderr);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	struct stat st;
	CHECK(fstat(quiet_fd, &st) == 0);
	if (st.st_size != 0) {
		fprintf(stderr, "the decoder wrote %lld bytes to stderr\n",
			(long long)st.st_size);
		exit(1);
	}
	free(copy);
	return r;
}

static int run_file(const char *name, const struct thumb_spec *spec,
		struct image *img, struct decode_info *info, char *err)
{
	size_t len;
	uint8_t *d = file(name, &len);
	int r = run_bytes(d, len, spec, img, info, err, 256);
	free(d);
	return r;
}

/* A failure: the errno and the reason, and the outputs untouched. */
static void expect_fail_bytes(const uint8_t *d, size_t len,
		const struct thumb_spec *spec, int want, const char *text)
{
	struct image img = { 0 };
	struct decode_info info;
	char err[256];
	CHECK(image_reserve(&img, 3, 2, 3) == 0);
	uint8_t *px = img.px;
	memset(&info, 0x5a, sizeof(info));
	int r = run_bytes(d, len, spec, &img, &info, err, sizeof(err));
	if (r != want || !strstr(err, text)) {
		fprintf(stderr, "expected %d \"%s\", got %d \"%s\"\n", want,
			text, r, err);
		exit(1);
	}
	CHECK(img.px == px && img.width == 3 && img.height == 2);
	CHECK_INT_EQ(info.width, 0x5a5a5a5a);
	image_finish(&img);
}

static void expect_fail(const char *name, const struct thumb_spec *spec,
		int want, const char *text)
{
	size_t len;
	uint8_t *d = file(name, &len);
	expect_fail_bytes(d, len, spec, want, text);
	free(d);
}

static void check_same(const struct image *img, const struct ppm *ref,
		const char *what)
{
	if (img->width != ref->w || img->height != ref->h ||
			img->channels != 3) {
		fprintf(stderr, "%s: %ux%ux%u, expected %ux%ux3\n", what,
			img->width, img->height, img->channels, ref->w, ref->h);
		exit(1);
	}
	for (uint32_t y = 0; y < ref->h; y++) {
		const uint8_t *a = img->px + y * img->stride;
		const uint8_t *b = ref->px + (size_t)y * ref->w * 3;
		if (memcmp(a, b, (size_t)ref->w * 3) != 0) {
			fprintf(stderr, "%s: row %u differs\n", what, y);
			exit(1);
		}
	}
}

static double psnr(const struct image *img, const struct ppm *ref)
{
	CHECK(img->width == ref->w && img->height == ref->h);
	double se = 0;
	size_t n = (size_t)ref->w * ref->h * 3;
	for (uint32_t y = 0; y < ref->h; y++) {
		for (size_t x = 0; x < (size_t)ref->w * 3; x++) {
			int e = img->px[y * img->stride + x] -
				ref->px[(size_t)y * ref->w * 3 + x];
			se += e * e;
		}
	}
	return se == 0 ? 99 : 10 * log10(255.0 * 255.0 * n / se);
}

/* The box that makes a 317x239 image decode at 1/denom. */
static uint32_t box_for(uint32_t denom)
{
	switch (denom) {
	case 8:
		return 40;
	case 4:
		return 80;
	case 2:
		return 159;
	default:
		return 256;
	}
}

struct kind {
	const char *name;
	const char *src;
	const char *args;
	bool progressive;
};

static const struct kind kinds[] = {
	{ "base", "src.ppm", "", false },
	{ "opt", "src.ppm", "-optimize -quality 97", false },
	{ "prog", "src.ppm", "-progressive", true },
	{ "arith", "src.ppm", "-arithmetic", false },
	{ "parith", "src.ppm", "-progressive -arithmetic", true },
	{ "s444", "src.ppm", "-sample 1x1", false },
	{ "s422", "src.ppm", "-sample 2x1", false },
	{ "s440", "src.ppm", "-sample 1x2", false },
	{ "s420", "src.ppm", "-sample 2x2", false },
	{ "s411", "src.ppm", "-sample 4x1", false },
	{ "p444", "src.ppm", "-progressive -sample 1x1", true },
	{ "p422", "src.ppm", "-progressive -sample 2x1", true },
	{ "p440", "src.ppm", "-progressive -sample 1x2", true },
	{ "p411", "src.ppm", "-progressive -sample 4x1", true },
	{ "pa420", "src.ppm", "-progressive -arithmetic -sample 2x2", true },
	/* chroma sampled above luma: libjpeg scales luma up by IDCT */
	{ "podd", "src.ppm", "-progressive -sample 1x1,2x2,1x1", true },
	{ "gray", "src.ppm", "-grayscale", false },
	{ "pgray", "src.ppm", "-progressive -grayscale", true },
	{ "native_gray", "src.pgm", "", false },
	{ "rst", "src.ppm", "-restart 1", false },
	{ "prst", "src.ppm", "-progressive -restart 1B", true },
	/* sequential, one scan per component (non-interleaved) */
	{ "multiscan", "src.ppm", "-scans seq.txt", false },
};

/*
 * Every kind at every scale is pixel-identical to djpeg at that scale,
 * which decodes the whole file: so the DC-only path (progressive at 1/8)
 * loses nothing.
 */
static void test_kinds(void)
{
	struct image img = { 0 };
	struct decode_info info;
	char err[256];

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct kind *c = &kinds[k];
		TL_SH_OK("cjpeg -quality 85 %s %s > %s.jpg && for d in 1 2 4 8; "
			"do djpeg -rgb -scale 1/$d -ppm %s.jpg > %s-$d.ppm; done",
			c->args, c->src, c->name, c->name, c->name);
		for (uint32_t d = 1; d <= 8; d *= 2) {
			struct thumb_spec spec = spec_box(box_for(d));
			char what[64], ref_name[64], name[64];
			snprintf(what, sizeof(what), "%s at 1/%u", c->name, d);
			snprintf(name, sizeof(name), "%s.jpg", c->name);
			int r = run_file(name, &spec, &img, &info, err);
			if (r != 0) {
				fprintf(stderr, "%s: %d %s\n", what, r, err);
				exit(1);
			}
			CHECK_INT_EQ(info.width, 317);
			CHECK_INT_EQ(info.height, 239);
			CHECK_INT_EQ(info.scale_denom, d);
			CHECK_INT_EQ(info.orientation, 1);
			CHECK_INT_EQ(info.progressive, c->progressive);
			CHECK_INT_EQ(info.dc_only, c->progressive && d == 8);
			CHECK(!info.has_alpha && !info.animated);
			snprintf(ref_name, sizeof(ref_name), "%s-%u.ppm", c->name,
				d);
			struct ppm ref = ppm_read(ref_name);
			check_same(&img, &ref, what);
			free(ref.px);
		}
	}
	/* grey comes out as RGB with equal channels */
	struct thumb_spec spec = spec_box(256);
	CHECK(run_file("gray.jpg", &spec, &img, &info, err) == 0);
	CHECK_INT_EQ(img.channels, 3);
	for (size_t i = 0; i < (size_t)img.width * 3; i += 3) {
		CHECK(img.px[i] == img.px[i + 1] && img.px[i] == img.px[i + 2]);
	}
	image_finish(&img);
}

/* libjpeg's YCbCr -> RGB (jdcolor.c), exact: 16-bit fixed point. */
static void ycc_to_rgb(int y, int cb, int cr, uint8_t *d)
{
	const int32_t half = 1 << 15;
	int32_t x = cr - 128, z = cb - 128;
	int v[3] = {
		y + (int)((91881 * x + half) >> 16),
		y + (int)((-22554 * z + half - 46802 * x) >> 16),
		y + (int)((116130 * z + half) >> 16),
	};
	for (int i = 0; i < 3; i++) {
		d[i] = (uint8_t)(v[i] < 0 ? 0 : v[i] > 255 ? 255 : v[i]);
	}
}

/*
 * The planar path with libjpeg's own chroma sizes (test_chroma_scaling
 * below compares the smaller ones with these): each kind's planes at
 * every scale. Where libjpeg
 * brought the chroma up to luma size by IDCT (every scaled decode of
 * these), converting the planes with libjpeg's own formula must give
 * djpeg's pixels exactly; a full-size decode of subsampled chroma is
 * compared after a nearest-neighbour upsampling, where djpeg
 * interpolates. Grey has no planes, and a file whose chroma is sampled
 * above its luma has no full-size Y: both come out as RGB.
 */
static void test_planar(void)
{
	struct image img = { 0 }, ycc[3] = { { 0 } }, rgb = { 0 };
	struct decode_info info;
	char err[256];

	jpeg_dec_set_chroma_scaling(dec, false);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct kind *c = &kinds[k];
		char name[64], ref_name[64], what[80];
		snprintf(name, sizeof(name), "%s.jpg", c->name);
		size_t len;
		uint8_t *d = file(name, &len);
		for (uint32_t dn = 1; dn <= 8; dn *= 2) {
			struct thumb_spec spec = spec_box(box_for(dn));
			snprintf(what, sizeof(what), "%s planar at 1/%u",
				c->name, dn);
			int r = jpeg_dec_run_ycc(dec, d, len, &spec, &img, ycc,
				&info, err, sizeof(err));
			if (!strcmp(c->name, "podd") ||
					strstr(c->name, "gray")) {
				/* no planes, or Y is not the largest: RGB */
				CHECK(r == 0 && !info.planar);
				CHECK_INT_EQ(img.channels, 3);
				continue;
			}
			if (r != 0 || !info.planar) {
				fprintf(stderr, "%s: %d %s, planar %d\n", what,
					r, err, info.planar);
				exit(1);
			}
			CHECK_INT_EQ(info.scale_denom, dn);
			snprintf(ref_name, sizeof(ref_name), "%s-%u.ppm",
				c->name, dn);
			struct ppm ref = ppm_read(ref_name);
			CHECK_INT_EQ(ycc[0].width, ref.w);
			CHECK_INT_EQ(ycc[0].height, ref.h);
			bool full = true;
			for (int p = 0; p < 3; p++) {
				CHECK_INT_EQ(ycc[p].channels, 1);
				CHECK_INT_EQ(ycc[p].stride, ycc[p].width);
				CHECK(ycc[p].width >= 1 && ycc[p].height >= 1);
				full &= ycc[p].width == ref.w &&
					ycc[p].height == ref.h;
			}
			/* 4:2:0 (cjpeg's default) scaled: chroma by IDCT */
			if (dn > 1 && (!strcmp(c->name, "base") ||
					!strcmp(c->name, "s420"))) {
				CHECK(full);
			}
			CHECK(image_reserve(&rgb, ref.w, ref.h, 3) == 0);
			for (uint32_t y = 0; y < ref.h; y++) {
				for (uint32_t x = 0; x < ref.w; x++) {
					int v[3];
					for (int p = 0; p < 3; p++) {
						const struct image *q = &ycc[p];
						uint32_t qx = (uint32_t)((uint64_t)x *
							q->width / ref.w);
						uint32_t qy = (uint32_t)((uint64_t)y *
							q->height / ref.h);
						v[p] = q->px[qy * q->stride + qx];
					}
					ycc_to_rgb(v[0], v[1], v[2], rgb.px +
						y * rgb.stride + 3 * x);
				}
			}
			if (full) {
				check_same(&rgb, &ref, what);
			} else if (psnr(&rgb, &ref) < 30.0) {
				fprintf(stderr, "%s: PSNR %.2f\n", what,
					psnr(&rgb, &ref));
				exit(1);
			}
			free(ref.px);
		}
		free(d);
	}
	image_finish(&img);
	image_finish(&rgb);
	for (int p = 0; p < 3; p++) {
		image_finish(&ycc[p]);
	}
	jpeg_dec_set_chroma_scaling(dec, true);
}

/* Each component's sampling factors, from libjpeg's reading of the header. */
static void sampling(const uint8_t *d, size_t len, int h[3], int v[3],
		int *hmax, int *vmax)
{
	struct jpeg_decompress_struct ci;
	struct jpeg_error_mgr jerr;

	ci.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&ci);
	jpeg_mem_src(&ci, d, (unsigned long)len);
	CHECK(jpeg_read_header(&ci, TRUE) == JPEG_HEADER_OK);
	CHECK(ci.num_components == 3);
	for (int c = 0; c < 3; c++) {
		h[c] = ci.comp_info[c].h_samp_factor;
		v[c] = ci.comp_info[c].v_samp_factor;
	}
	*hmax = ci.max_h_samp_factor;
	*vmax = ci.max_v_samp_factor;
	jpeg_destroy_decompress(&ci);
}

/* A component's plane at an IDCT of @size, as libjpeg counts it. */
static uint32_t plane_len(uint32_t len, int samp, int max, int size)
{
	return (uint32_t)(((uint64_t)len * samp * size + max * 8 - 1) /
		((uint64_t)max * 8));
}

static bool same_plane(const struct image *a, const struct image *b)
{
	if (a->width != b->width || a->height != b->height) {
		return false;
	}
	for (uint32_t y = 0; y < a->height; y++) {
		if (memcmp(a->px + (size_t)y * a->stride,
				b->px + (size_t)y * b->stride, a->width)) {
			return false;
		}
	}
	return true;
}

/*
 * @dc, decoded by 1x1 IDCTs, against @ref, the same component decoded by
 * (k x k) IDCTs: the reduced IDCTs keep the block's mean, so each sample
 * is within rounding of its block's mean in @ref. Blocks cut by the edge,
 * or with a sample clamped by the range limit, are skipped.
 */
static void check_block_means(const struct image *dc, const struct image *ref,
		uint32_t k, const char *what)
{
	uint32_t checked = 0;

	for (uint32_t by = 0; (by + 1) * k <= ref->height &&
			by < dc->height; by++) {
		for (uint32_t bx = 0; (bx + 1) * k <= ref->width &&
				bx < dc->width; bx++) {
			int sum = 0;
			bool clamped = false;
			for (uint32_t y = by * k; y < (by + 1) * k; y++) {
				for (uint32_t x = bx * k; x < (bx + 1) * k; x++) {
					int s = ref->px[y * ref->stride + x];
					clamped |= s == 0 || s == 255;
					sum += s;
				}
			}
			if (clamped) {
				continue;
			}
			int mean = (sum + (int)(k * k) / 2) / (int)(k * k);
			int got = dc->px[by * dc->stride + bx];
			if (abs(got - mean) > 1) {
				fprintf(stderr, "%s: block %u,%u is %d, mean of "
					"the %ux%u IDCT %d\n", what, bx, by,
					got, k, k, mean);
				exit(1);
			}
			checked++;
		}
	}
	CHECK(checked > 0);
}

/*
 * Chroma at the smallest IDCT that covers the output's (default on): Y is
 * libjpeg's own plane, and each chroma plane covers half the fitted size
 * (all of it with detail = fine) while half its IDCT would not. A plane
 * at an IDCT size libjpeg also gives at another scale is identical to
 * that one; 4:2:0 chroma at 1x1, which libjpeg never gives, holds the
 * block means of its 2x2 decode.
 */
static void test_chroma_scaling(void)
{
	struct image nat[4][3], img = { 0 }, ycc[3] = { { 0 } };
	struct decode_info info;
	char err[256], what[96];

	memset(nat, 0, sizeof(nat));
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct kind *c = &kinds[k];
		char name[64];
		size_t len;
		int hs[3], vs[3], hmax, vmax;

		if (!strcmp(c->name, "podd") || strstr(c->name, "gray")) {
			continue;
		}
		snprintf(name, sizeof(name), "%s.jpg", c->name);
		uint8_t *d = file(name, &len);
		sampling(d, len, hs, vs, &hmax, &vmax);
		/* libjpeg's planes at 1/1 .. 1/8 */
		jpeg_dec_set_chroma_scaling(dec, false);
		for (uint32_t i = 0; i < 4; i++) {
			struct thumb_spec spec = spec_box(box_for(1u << i));
			CHECK(jpeg_dec_run_ycc(dec, d, len, &spec, &img, ycc,
				&info, err, sizeof(err)) == 0 && info.planar);
			CHECK_INT_EQ(info.scale_denom, 1u << i);
			for (int p = 0; p < 3; p++) {
				image_swap(&nat[i][p], &ycc[p]);
			}
		}
		jpeg_dec_set_chroma_scaling(dec, true);
		for (uint32_t i = 0; i < 8; i++) {
			bool fine = i >= 4;
			struct thumb_spec spec = spec_box(box_for(1u << (i % 4)));
			uint32_t fw, fh, cw, ch;
			spec.detail = fine ? THUMB_DETAIL_FINE : THUMB_DETAIL_FAST;
			snprintf(what, sizeof(what), "%s chroma at box %u%s",
				c->name, spec.sizes[0].width, fine ? " fine" : "");
			CHECK(jpeg_dec_run_ycc(dec, d, len, &spec, &img, ycc,
				&info, err, sizeof(err)) == 0 && info.planar);
			uint32_t n = (uint32_t)__builtin_ctz(info.scale_denom);
			CHECK(n < 4);
			if (!same_plane(&ycc[0], &nat[n][0])) {
				fprintf(stderr, "%s: Y differs\n", what);
				exit(1);
			}
			geometry_fit(317, 239, spec.sizes[0], THUMB_FIT_CONTAIN,
				&fw, &fh);
			cw = fine ? fw : (fw + 1) / 2;
			ch = fine ? fh : (fh + 1) / 2;
			for (int p = 1; p < 3; p++) {
				const struct image *q = &ycc[p];
				int size = 0;
				for (int s = 1; s <= 8; s *= 2) {
					if (q->width == plane_len(317, hs[p], hmax,
							s) && q->height ==
							plane_len(239, vs[p], vmax,
							s)) {
						size = s;
					}
				}
				CHECK(size > 0);
				/* covers (unless libjpeg's own plane did not),
				 * and half its IDCT would not */
				CHECK(same_plane(q, &nat[n][p]) ||
					(q->width >= cw && q->height >= ch));
				CHECK(size == 1 ||
					plane_len(317, hs[p], hmax, size / 2) <
					cw || plane_len(239, vs[p], vmax,
					size / 2) < ch);
				bool matched = false;
				for (uint32_t j = 0; j < 4 && !matched; j++) {
					if (nat[j][p].width == q->width &&
							nat[j][p].height ==
							q->height) {
						if (!same_plane(q, &nat[j][p])) {
							fprintf(stderr, "%s: "
								"plane %d differs "
								"from 1/%u\n",
								what, p,
								1u << j);
							exit(1);
						}
						matched = true;
					}
				}
				if (!matched) {
					/* 1x1 below libjpeg's 2x2 at 1/8 */
					CHECK(size == 1);
					CHECK(nat[3][p].width >= 2 * q->width - 1);
					check_block_means(q, &nat[3][p], 2, what);
				}
			}
		}
		free(d);
		for (uint32_t i = 0; i < 4; i++) {
			for (int p = 0; p < 3; p++) {
				image_finish(&nat[i][p]);
			}
		}
	}
	image_finish(&img);
	for (int p = 0; p < 3; p++) {
		image_finish(&ycc[p]);
	}
}

/* The data of scan @n (from 0) of @d: after its SOS header, up to the
 * next marker. */
static void scan_data(const uint8_t *d, size_t len, int n, size_t *start,
		size_t *end)
{
	size_t i = 2;
	int seen = -1;

	while (i + 4 <= len) {
		CHECK(d[i] == 0xff);
		size_t seg = (size_t)d[i + 2] << 8 | d[i + 3];
		if (d[i + 1] != 0xda) {
			i += 2 + seg;
			continue;
		}
		size_t j = i + 2 + seg;
		while (j + 1 < len && (d[j] != 0xff || d[j + 1] == 0 ||
				(d[j + 1] >= 0xd0 && d[j + 1] <= 0xd7))) {
			j++;
		}
		if (++seen == n) {
			*start = i + 2 + seg;
			*end = j;
			return;
		}
		i = j;
	}
	CHECK(!"scan not found");
}

/*
 * A progressive 4:2:0 file decoded planar at 1/8 reads no chroma AC scan
 * (chroma comes out of 1x1 IDCTs): with those scans' headers made
 * invalid it decodes as before, while the RGB decode, whose 2x2 chroma
 * IDCTs need them, fails on them.
 */
static void test_dc_skips_chroma_ac(void)
{
	struct image img = { 0 }, ycc[3] = { { 0 } }, clean[3] = { { 0 } };
	struct thumb_spec spec = spec_box(40);
	struct decode_info info;
	char err[256];
	size_t len, a, b;

	/* DC of all three, then each component's AC in a scan of its own */
	TL_SH_OK("printf '0,1,2: 0-0, 0, 0;\\n0: 1-63, 0, 0;\\n"
		"1: 1-63, 0, 0;\\n2: 1-63, 0, 0;\\n' > acscans.txt && "
		"cjpeg -quality 90 -sample 2x2 -scans acscans.txt src.ppm > "
		"acscans.jpg");
	uint8_t *d = file("acscans.jpg", &len);
	CHECK(jpeg_dec_run_ycc(dec, d, len, &spec, &img, clean, &info, err,
		sizeof(err)) == 0 && info.planar && info.dc_only);
	CHECK_INT_EQ(clean[1].width, 20);
	CHECK(jpeg_dec_run(dec, d, len, &spec, &img, &info, err,
		sizeof(err)) == 0);
	for (int n = 2; n <= 3; n++) {
		/* Se, the header's last byte but one, past 63: fatal */
		scan_data(d, len, n, &a, &b);
		CHECK(d[a - 2] == 63);
		d[a - 2] = 70;
	}
	CHECK(jpeg_dec_run_ycc(dec, d, len, &spec, &img, ycc, &info, err,
		sizeof(err)) == 0 && info.planar && info.dc_only);
	for (int p = 0; p < 3; p++) {
		CHECK(same_plane(&ycc[p], &clean[p]));
	}
	CHECK_INT_EQ(jpeg_dec_run(dec, d, len, &spec, &img, &info, err,
		sizeof(err)), -EBADMSG);
	free(d);
	image_finish(&img);
	for (int p = 0; p < 3; p++) {
		image_finish(&ycc[p]);
		image_finish(&clean[p]);
	}
}

/*
 * CMYK written by libjpeg itself: Adobe-inverted CMYK, plain CMYK with
 * the Adobe marker suppressed, and YCCK (always Adobe). The ink values
 * are made from the RGB source so the decode must give it back.
 */
static void write_cmyk(const struct ppm *src, const char *name,
		J_COLOR_SPACE jcs, bool adobe)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr jerr;
	FILE *f = fopen(tl_path("%s", name), "wbe");
	uint8_t *row = malloc((size_t)src->w * 4);
	CHECK(f && row);
	ci.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&ci);
	jpeg_stdio_dest(&ci, f);
	ci.image_width = src->w;
	ci.image_height = src->h;
	ci.input_components = 4;
	ci.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&ci);
	jpeg_set_colorspace(&ci, jcs);
	ci.write_Adobe_marker = adobe;
	jpeg_set_quality(&ci, 95, TRUE);
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < ci.image_height) {
		const uint8_t *s = src->px + (size_t)ci.next_scanline * src->w * 3;
		for (uint32_t x = 0; x < src->w; x++) {
			int r = s[3 * x], g = s[3 * x + 1], b = s[3 * x + 2];
			int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
			int k = 255 - mx;
			int ink[4] = { 0, 0, 0, k };
			for (int i = 0; i < 3 && k < 255; i++) {
				int v = s[3 * x + i];
				ink[i] = (255 - v - k) * 255 / (255 - k);
			}
			for (int i = 0; i < 4; i++) {
				/* Adobe files store 255 for "no ink" */
				row[4 * x + i] = (uint8_t)(adobe ? 255 - ink[i] :
					ink[i]);
			}
		}
		JSAMPROW rp = row;
		jpeg_write_scanlines(&ci, &rp, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	fclose(f);
	free(row);
}

static void test_cmyk(void)
{
	struct image img = { 0 };
	struct decode_info info;
	char err[256];
	struct thumb_spec spec = spec_box(4096);
	struct ppm src = ppm_read("src.ppm");

	TL_SH_OK("convert src.ppm -colorspace CMYK -quality 95 im_cmyk.jpg");
	TL_SH_OK("grep -q Adobe im_cmyk.jpg");
	write_cmyk(&src, "cmyk_adobe.jpg", JCS_CMYK, true);
	write_cmyk(&src, "cmyk_plain.jpg", JCS_CMYK, false);
	write_cmyk(&src, "ycck.jpg", JCS_YCCK, true);
	TL_SH_OK("! grep -q Adobe cmyk_plain.jpg");
	static const char *const names[] = { "im_cmyk.jpg", "cmyk_adobe.jpg",
		"cmyk_plain.jpg", "ycck.jpg" };
	for (size_t i = 0; i < 4; i++) {
		CHECK_INT_EQ(run_file(names[i], &spec, &img, &info, err), 0);
		CHECK_INT_EQ(info.scale_denom, 1);
		double p = psnr(&img, &src);
		if (p < 30) {
			fprintf(stderr, "%s: PSNR %.1f dB vs the RGB source\n",
				names[i], p);
			exit(1);
		}
		/* the reduced scales convert the same way */
		struct thumb_spec small = spec_box(40);
		CHECK_INT_EQ(run_file(names[i], &small, &img, &info, err), 0);
		CHECK(img.width == 40 && img.height == 30 && img.channels == 3);
	}
	free(src.px);
	image_finish(&img);
}

/* Offset of the first header segment @marker (whose body starts with
 * @ident if given), looking no further than the first scan; 0 if none. */
static size_t seg_find(const uint8_t *d, size_t len, uint8_t marker,
		const char *ident)
{
	size_t i = 2, n = ident ? strlen(ident) : 0;
	while (i + 4 <= len && d[i] == 0xff) {
		uint8_t m = d[i + 1];
		if (m == marker && i + 4 + n <= len &&
				(!ident || memcmp(d + i + 4, ident, n) == 0)) {
			return i;
		}
		if (m == 0xda) {
			break;
		}
		i += 2 + ((size_t)d[i + 2] << 8 | d[i + 3]);
	}
	return 0;
}

static size_t seg_len(const uint8_t *d, size_t off)
{
	return 2 + ((size_t)d[off + 2] << 8 | d[off + 3]);
}

static size_t sof_find(const uint8_t *d, size_t len)
{
	static const uint8_t sofs[] = { 0xc0, 0xc1, 0xc2, 0xc9, 0xca };
	for (size_t i = 0; i < sizeof(sofs); i++) {
		size_t o = seg_find(d, len, sofs[i], NULL);
		if (o) {
			return o;
		}
	}
	CHECK(!"no frame header");
	return 0;
}

static void test_orientation(void)
{
	struct image img = { 0 };
	struct decode_info info;
	char err[256];
	struct thumb_spec spec = spec_box(256);
	static const int values[] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 9, 65535 };
	char cmd[4096];
	int o = snprintf(cmd, sizeof(cmd), "exiftool");

	/* one exiftool run: it costs a Perl start-up each */
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		TL_SH_OK("cp base.jpg o%d.jpg", values[i]);
		o += snprintf(cmd + o, sizeof(cmd) - (size_t)o,
			" -n -Orientation=%d o%d.jpg -execute", values[i],
			values[i]);
	}
	TL_SH_OK("cp prog.jpg po6.jpg && cp base.jpg le8.jpg");
	TL_SH_OK("%s -n -Orientation=6 po6.jpg -execute -n -ExifByteOrder=II "
		"-Orientation=8 le8.jpg -common_args -q -q -overwrite_original",
		cmd);
	TL_SH_OK("exiftool -s3 -ExifByteOrder le8.jpg | grep -q II");
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "o%d.jpg", values[i]);
		CHECK_INT_EQ(run_file(name, &spec, &img, &info, err), 0);
		CHECK_INT_EQ(info.orientation,
			values[i] >= 1 && values[i] <= 8 ? values[i] : 1);
	}
	struct thumb_spec small = spec_box(40);
	CHECK_INT_EQ(run_file("po6.jpg", &small, &img, &info, err), 0);
	CHECK(info.orientation == 6 && info.dc_only);
	CHECK_INT_EQ(run_file("le8.jpg", &spec, &img, &info, err), 0);
	CHECK_INT_EQ(info.orientation, 8);

	/* two Exif APP1 segments: the first one wins */
	size_t l6, l3;
	uint8_t *d6 = file("o6.jpg", &l6), *d3 = file("o3.jpg", &l3);
	size_t a6 = seg_find(d6, l6, 0xe1, "Exif"), a3 = seg_find(d3, l3, 0xe1,
		"Exif");
	CHECK(a6 && a3);
	size_t n6 = seg_len(d6, a6), n3 = seg_len(d3, a3);
	uint8_t *two = malloc(l6 + n3);
	CHECK(two);
	memcpy(two, d6, a6 + n6);
	memcpy(two + a6 + n6, d3 + a3, n3);
	memcpy(two + a6 + n6 + n3, d6 + a6 + n6, l6 - a6 - n6);
	CHECK_INT_EQ(run_bytes(two, l6 + n3, &spec, &img, &info, err, 256), 0);
	CHECK_INT_EQ(info.orientation, 6);
	/* the same with the order swapped */
	memcpy(two + a6, d3 + a3, n3);
	memcpy(two + a6 + n3, d6 + a6, n6);
	CHECK_INT_EQ(run_bytes(two, l6 + n3, &spec, &img, &info, err, 256), 0);
	CHECK_INT_EQ(info.orientation, 3);
	free(two);
	free(d6);
	free(d3);
	image_finish(&img);
}

static void test_kind_errors(void)
{
	struct thumb_spec spec = spec_box(256);
	size_t len;
	uint8_t *d = file("base.jpg", &len);
	size_t sof = sof_find(d, len);

	d[sof + 4] = 12;
	expect_fail_bytes(d, len, &spec, -EMEDIUMTYPE,
		"12-bit JPEG not supported");
	d[sof + 4] = 16;
	expect_fail_bytes(d, len, &spec, -EMEDIUMTYPE,
		"16-bit JPEG not supported");
	d[sof + 4] = 8;
	d[sof + 1] = 0xc3;
	expect_fail_bytes(d, len, &spec, -EMEDIUMTYPE,
		"lossless JPEG not supported");
	d[sof + 1] = 0xc7;
	expect_fail_bytes(d, len, &spec, -EMEDIUMTYPE,
		"lossless JPEG not supported");
	d[sof + 1] = 0xc5;
	expect_fail_bytes(d, len, &spec, -EMEDIUMTYPE,
		"hierarchical JPEG not supported");
	d[sof + 1] = 0xce;
	expect_fail_bytes(d, len, &spec, -EMEDIUMTYPE,
		"hierarchical JPEG not supported");
	free(d);
}

/* @d with its last scan repeated until the file has @total scans. */
static uint8_t *many_scans(const uint8_t *d, size_t len, uint32_t have,
		uint32_t total, size_t *out_len)
{
	size_t last = 0;
	for (size_t i = 2; i + 1 < len; i++) {
		if (d[i] == 0xff && d[i + 1] == 0xda) {
			last = i;
		}
	}
	CHECK(last && d[len - 2] == 0xff && d[len - 1] == 0xd9);
	size_t scan = len - 2 - last;
	size_t n = len + (size_t)(total - have) * scan;
	uint8_t *o = malloc(n);
	CHECK(o);
	memcpy(o, d, len - 2);
	for (size_t i = 0, at = len - 2; i < total - have; i++, at += scan) {
		memcpy(o + at, d + last, scan);
	}
	o[n - 2] = 0xff;
	o[n - 1] = 0xd9;
	*out_len = n;
	return o;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_limits(void)
{
	struct image img = { 0 };
	struct decode_info info;
	char err[256], text[128];
	struct thumb_spec spec = spec_box(256);
	size_t len;
	uint8_t *d = file("base.jpg", &len);
	size_t sof = sof_find(d, len);

	/* 65500x65500 from the header, before anything is allocated */
	d[sof + 5] = d[sof + 7] = 0xff;
	d[sof + 6] = d[sof + 8] = 0xdc;
	expect_fail_bytes(d, len, &spec, -E2BIG,
		"65500x65500 exceeds max_pixels 100000000");
	/* ... also when an 0xff00 "segment" claims to cover it: libjpeg
	 * skips 0xff00 outside scans, and so must the walk */
	uint8_t *hid = malloc(len + 4 + seg_len(d, sof));
	CHECK(hid);
	memcpy(hid, d, sof);
	hid[sof] = 0xff;
	hid[sof + 1] = 0x00;
	hid[sof + 2] = 0x00;
	hid[sof + 3] = (uint8_t)(seg_len(d, sof) + 2);
	memcpy(hid + sof + 4, d + sof, seg_len(d, sof));
	d[sof + 5] = d[sof + 7] = 0x00;
	d[sof + 6] = d[sof + 8] = 0x10;
	memcpy(hid + sof + 4 + seg_len(d, sof), d + sof, len - sof);
	expect_fail_bytes(hid, len + 4 + seg_len(d, sof), &spec, -E2BIG,
		"65500x65500 exceeds max_pixels 100000000");
	free(hid);
	spec.limits.max_pixels = 317 * 239 - 1;
	expect_fail("base.jpg", &spec, -E2BIG,
		"317x239 exceeds max_pixels 75762");
	spec.limits.max_pixels = 317 * 239;
	CHECK_INT_EQ(run_file("base.jpg", &spec, &img, &info, err), 0);

	spec = spec_box(256);
	spec.limits.max_file_size = len - 1;
	snprintf(text, sizeof(text), "%zu bytes exceeds max_file_size %zu",
		len, len - 1);
	expect_fail("base.jpg", &spec, -E2BIG, text);
	spec.limits.max_file_size = len;
	CHECK_INT_EQ(run_file("base.jpg", &spec, &img, &info, err), 0);
	free(d);

	/* 1000 scans: refused from the marker walk */
	size_t plen, blen;
	uint8_t *p = file("prog.jpg", &plen);
	uint8_t *bomb = many_scans(p, plen, 10, 1000, &blen);
	spec = spec_box(256);
	expect_fail_bytes(bomb, blen, &spec, -E2BIG,
		"1000 scans exceeds max_scans 100");
	spec.limits.max_scans = 999;
	expect_fail_bytes(bomb, blen, &spec, -E2BIG,
		"1000 scans exceeds max_scans 999");
	/* allowed through, libjpeg's complaints about the repeated
	 * refinement passes hit the warning cap: bounded either way */
	spec.limits.max_scans = 0;
	spec.sizes[0] = (struct thumb_size){ 4096, 4096 };
	double t0 = now();
	int r = run_bytes(bomb, blen, &spec, &img, &info, err, sizeof(err));
	CHECK(r == 0 || (r == -EBADMSG && strstr(err, "corrupt JPEG data")));
	CHECK(now() - t0 < 10);
	free(bomb);
	free(p);

	/* libjpeg's memory cap, against what the coefficients of a
	 * progressive file really take: the 1024x768 plasma would be 2.4 MB
	 * flat, but decodes in less than 1 MB, and not in a byte less than
	 * it needs */
	spec = spec_box(256);
	spec.limits.max_memory = 1 << 20;
	CHECK_INT_EQ(run_file("big_prog.jpg", &spec, &img, &info, err), 0);
	size_t need = jpeg_dec_coef_peak(dec);
	CHECK(need > 0 && need < 1 << 20);
	spec.limits.max_memory = need - 1;
	snprintf(text, sizeof(text), "needs more than max_memory %zu bytes",
		need - 1);
	expect_fail("big_prog.jpg", &spec, -E2BIG, text);
	spec.limits.max_memory = need;
	CHECK_INT_EQ(run_file("big_prog.jpg", &spec, &img, &info, err), 0);
	CHECK_INT_EQ(jpeg_dec_coef_peak(dec), need);
	/* the limit holds for the job, not for what earlier jobs left */
	spec.limits.max_memory = need - 1;
	expect_fail("big_prog.jpg", &spec, -E2BIG, text);
	/* every coefficient set: the need is the flat size, refused below */
	spec.limits.max_memory = 1 << 20;
	expect_fail("worst.jpg", &spec, -E2BIG,
		"needs more than max_memory 1048576 bytes");

	/* zero means no limit, for each limit */
	spec.limits = (struct thumb_limits){ 0, 0, 0, 0 };
	CHECK_INT_EQ(run_file("big_prog.jpg", &spec, &img, &info, err), 0);
	CHECK_INT_EQ(run_file("prog.jpg", &spec, &img, &info, err), 0);
	image_finish(&img);
}

static void test_truncation(void)
{
	struct thumb_spec spec = spec_box(256);
	static const char *const names[] = { "base.jpg", "prog.jpg",
		"parith.jpg", "rst.jpg" };

	for (size_t f = 0; f < 4; f++) {
		size_t len;
		uint8_t *d = file(names[f], &len);
		size_t sof = sof_find(d, len);
		size_t cuts[] = { 2, 3, 20, sof + 5, sof + seg_len(d, sof),
			len / 3, len / 2, len - 100, len - 3, len - 2, len - 1 };
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			expect_fail_bytes(d, cuts[i], &spec, -EBADMSG,
				"truncated JPEG");
			/* also where a 1/8 decode reads only the DC scans */
			struct thumb_spec small = spec_box(40);
			expect_fail_bytes(d, cuts[i], &small, -EBADMSG,
				"truncated JPEG");
		}
		expect_fail_bytes(d, 0, &spec, -EMEDIUMTYPE, "empty file");
		expect_fail_bytes(d, 1, &spec, -EMEDIUMTYPE, "not a JPEG");
		free(d);
	}
}

static void test_not_jpeg(void)
{
	struct thumb_spec spec = spec_box(256);
	size_t len;
	uint8_t *d = file("base.jpg", &len);
	uint8_t *junk = malloc(len + 7);
	CHECK(junk);
	/* junk before SOI is refused, not searched past: a JPEG inside
	 * another file (a RAW preview, a PDF) is not ours to pick out */
	memcpy(junk, "garbage", 7);
	memcpy(junk + 7, d, len);
	expect_fail_bytes(junk, len + 7, &spec, -EMEDIUMTYPE, "not a JPEG");
	free(junk);
	free(d);
	expect_fail_bytes((const uint8_t *)"hello, world\n", 13, &spec,
		-EMEDIUMTYPE, "not a JPEG");
	TL_SH_OK("convert src.ppm src.png && convert src.ppm src.gif");
	expect_fail("src.png", &spec, -EMEDIUMTYPE, "not a JPEG (PNG data)");
	expect_fail("src.gif", &spec, -EMEDIUMTYPE, "not a JPEG (GIF data)");
}

static void test_corrupt(void)
{
	struct image img = { 0 }, ref = { 0 };
	struct decode_info info;
	char err[256];
	struct thumb_spec spec = spec_box(256);
	size_t len;
	uint8_t *d = file("base.jpg", &len);

	/* stray bytes before a marker, as some cameras write: a warning */
	size_t dht = seg_find(d, len, 0xc4, NULL);
	CHECK(dht);
	uint8_t *x = malloc(len + 5);
	CHECK(x);
	memcpy(x, d, dht);
	memcpy(x + dht, "\x01\x02\x03\x04\x05", 5);
	memcpy(x + dht + 5, d + dht, len - dht);
	CHECK_INT_EQ(run_bytes(d, len, &spec, &ref, &info, err, 256), 0);
	CHECK_INT_EQ(run_bytes(x, len + 5, &spec, &img, &info, err, 256), 0);
	CHECK(img.width == ref.width && img.height == ref.height &&
		memcmp(img.px, ref.px, ref.stride * ref.height) == 0);
	free(x);

	/* a Huffman table with more codes than there can be */
	d[dht + 4 + 16] = 0xff;
	expect_fail_bytes(d, len, &spec, -EBADMSG,
		"corrupt JPEG: Bogus Huffman table definition");
	free(d);

	/* every restart marker renumbered RST0: 4800 MCUs out of step,
	 * stopped by the warning cap */
	d = file("rst_many.jpg", &len);
	size_t sos = 0;
	for (size_t i = 2; i + 1 < len && !sos; i++) {
		sos = d[i] == 0xff && d[i + 1] == 0xda ? i : 0;
	}
	size_t renumbered = 0;
	for (size_t i = sos + seg_len(d, sos); i + 1 < len; i++) {
		if (d[i] == 0xff && d[i + 1] >= 0xd1 && d[i + 1] <= 0xd7) {
			d[i + 1] = 0xd0;
			renumbered++;
		}
	}
	CHECK(renumbered > 3000);
	spec = spec_box(4096);
	expect_fail_bytes(d, len, &spec, -EBADMSG, "corrupt JPEG data");
	free(d);

	/* random byte changes: an answer each time, never a crash or a
	 * print, in bounded time */
	d = file("prog.jpg", &len);
	uint8_t *m = malloc(len);
	CHECK(m);
	uint32_t seed = 12345;
	spec = spec_box(40);
	for (int round = 0; round < 300; round++) {
		memcpy(m, d, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			m[(seed >> 8) % len] = (uint8_t)(seed >> 24);
		}
		spec.sizes[0].width = spec.sizes[0].height =
			round % 2 ? 40 : 4096;
		int r = run_bytes(m, len, &spec, &img, &info, err, 256);
		CHECK(r == 0 || r == -EBADMSG || r == -EMEDIUMTYPE ||
			r == -E2BIG);
		CHECK(r == 0 || err[0] != '\0');
	}
	free(m);
	free(d);
	image_finish(&img);
	image_finish(&ref);
}

/*
 * Decodes @d with thumbd's entropy decoder and with libjpeg's: the same
 * answer, the same reason, the same pixels. Returns the answer.
 */
static int same_as_libjpeg(const uint8_t *d, size_t len,
		const struct thumb_spec *spec, const char *what)
{
	static struct image a, b;
	struct decode_info ia, ib;
	char ea[256], eb[256];

	int ra = run_bytes(d, len, spec, &a, &ia, ea, sizeof(ea));
	jpeg_dec_set_fast_huffman(dec, false);
	int rb = run_bytes(d, len, spec, &b, &ib, eb, sizeof(eb));
	jpeg_dec_set_fast_huffman(dec, true);
	if (ra != rb || strcmp(ea, eb) != 0) {
		fprintf(stderr, "%s: %d \"%s\", libjpeg's decoder %d \"%s\"\n",
			what, ra, ea, rb, eb);
		exit(1);
	}
	if (ra == 0 && !(a.width == b.width && a.height == b.height &&
			a.channels == b.channels && memcmp(a.px, b.px,
				(size_t)a.stride * a.height) == 0)) {
		fprintf(stderr, "%s: pixels differ from libjpeg's decoder\n",
			what);
		exit(1);
	}
	return ra;
}

/* Where the entropy-coded data of the first scan starts and ends. */
static void scan_span(const uint8_t *d, size_t len, size_t *start,
		size_t *end)
{
	size_t sos = 0;
	for (size_t i = 2; i + 1 < len && !sos; i++) {
		sos = d[i] == 0xff && d[i + 1] == 0xda ? i : 0;
	}
	CHECK(sos);
	*start = sos + seg_len(d, sos);
	*end = *start;
	while (*end + 1 < len && !(d[*end] == 0xff && d[*end + 1] != 0 &&
			(d[*end + 1] < 0xd0 || d[*end + 1] > 0xd7))) {
		(*end)++;
	}
}

/*
 * jpeg_huff.c against libjpeg's own Huffman decoders (test_kinds has
 * already matched djpeg on every Huffman kind, sequential and
 * progressive): coefficients too large for the one-lookup path (quality
 * 100 noise, 11-bit DCs, and refinements of every coefficient), restart
 * intervals, data that runs into a marker (grey to the end of the
 * segment, one warning), and files damaged inside the entropy-coded data
 * (a progressive file's later scan headers too), where both must give the
 * same answer and the same pixels.
 */
static void test_fast_huffman(void)
{
	static const char *const names[] = { "base.jpg", "opt.jpg",
		"s444.jpg", "s411.jpg", "gray.jpg", "rst.jpg", "multiscan.jpg",
		"worst_base.jpg", "rst_many.jpg", "prog.jpg", "p444.jpg",
		"p411.jpg", "podd.jpg", "pgray.jpg", "prst.jpg", "worst.jpg",
		"photo.jpg" };
	static const uint32_t boxes[] = { 40, 80, 159, 256, 4096 };
	char what[96];

	for (size_t f = 0; f < sizeof(names) / sizeof(names[0]); f++) {
		size_t len, start, end;
		uint8_t *d = file(names[f], &len);
		uint8_t *m = malloc(len + 2);
		CHECK(m);
		for (size_t b = 0; b < sizeof(boxes) / sizeof(boxes[0]); b++) {
			struct thumb_spec spec = spec_box(boxes[b]);
			snprintf(what, sizeof(what), "%s in %u", names[f],
				boxes[b]);
			CHECK_INT_EQ(same_as_libjpeg(d, len, &spec, what), 0);
			spec.detail = THUMB_DETAIL_FINE;
			CHECK_INT_EQ(same_as_libjpeg(d, len, &spec, what), 0);
		}

		/* the data cut short by EOI at a third, two thirds, and just
		 * before its last bytes: of the only scan, or of all of a
		 * progressive file's */
		scan_span(d, len, &start, &end);
		if (d[sof_find(d, len) + 1] == 0xc2) {
			end = len - 2;
		}
		size_t cuts[] = { start + (end - start) / 3,
			start + 2 * (end - start) / 3, end - 2 };
		for (size_t c = 0; c < 3; c++) {
			struct thumb_spec spec = spec_box(c == 1 ? 40 : 256);
			memcpy(m, d, cuts[c]);
			m[cuts[c]] = 0xff;
			m[cuts[c] + 1] = 0xd9;
			snprintf(what, sizeof(what), "%s cut at %zu", names[f],
				cuts[c]);
			same_as_libjpeg(m, cuts[c] + 2, &spec, what);
		}

		/* bytes changed inside the entropy-coded data */
		uint32_t seed = 977 + (uint32_t)f;
		int rounds = len > 100000 ? 12 : 60;
		for (int round = 0; round < rounds; round++) {
			struct thumb_spec spec = spec_box(round % 3 == 0 ? 40 :
				round % 3 == 1 ? 159 : 4096);
			memcpy(m, d, len);
			for (int k = 0; k < 1 + round % 5; k++) {
				seed = seed * 1103515245u + 12345u;
				m[start + (seed >> 8) % (end - start)] =
					(uint8_t)(seed >> 24);
			}
			snprintf(what, sizeof(what), "%s damaged, round %d",
				names[f], round);
			same_as_libjpeg(m, len, &spec, what);
		}
		free(m);
		free(d);
	}
}

/* @d without its segments of @marker before the first scan. */
static uint8_t *drop_segments(const uint8_t *d, size_t len, uint8_t marker,
		size_t *out_len)
{
	uint8_t *o = malloc(len);
	size_t i = 2, n = 2;
	CHECK(o);
	memcpy(o, d, 2);
	while (i + 4 <= len && d[i] == 0xff && d[i + 1] != 0xda) {
		size_t l = seg_len(d, i);
		if (d[i + 1] != marker) {
			memcpy(o + n, d + i, l);
			n += l;
		}
		i += l;
	}
	memcpy(o + n, d + i, len - i);
	*out_len = n + len - i;
	return o;
}

/*
 * Each job reads its file with a fresh libjpeg object: libjpeg keeps a
 * file's tables for the next image on the same object, so a file lacking
 * one was decoded with the previous job's. Without its DQT a file fails
 * whatever came before; without its DHT it takes libjpeg's standard
 * tables (as Motion-JPEG frames do), which base.jpg uses anyway, and not
 * the optimized ones opt.jpg left behind.
 */
static void test_tables_per_job(void)
{
	struct image img = { 0 }, ref = { 0 };
	struct decode_info info;
	char err[256];
	struct thumb_spec spec = spec_box(256);
	size_t len, opt_len, nq_len, nh_len;
	uint8_t *d = file("base.jpg", &len);
	uint8_t *opt = file("opt.jpg", &opt_len);
	uint8_t *no_dqt = drop_segments(d, len, 0xdb, &nq_len);
	uint8_t *no_dht = drop_segments(d, len, 0xc4, &nh_len);

	CHECK(nq_len < len && nh_len < len);
	CHECK_INT_EQ(run_bytes(d, len, &spec, &ref, &info, err, 256), 0);
	for (int order = 0; order < 2; order++) {
		if (order) {
			CHECK_INT_EQ(run_bytes(opt, opt_len, &spec, &img,
				&info, err, 256), 0);
		}
		expect_fail_bytes(no_dqt, nq_len, &spec, -EBADMSG,
			"Quantization table 0x00 was not defined");
		if (order) {
			CHECK_INT_EQ(run_bytes(opt, opt_len, &spec, &img,
				&info, err, 256), 0);
		}
		CHECK_INT_EQ(run_bytes(no_dht, nh_len, &spec, &img, &info,
			err, 256), 0);
		CHECK(img.width == ref.width && img.height == ref.height &&
			memcmp(img.px, ref.px, ref.stride * ref.height) == 0);
	}
	free(no_dht);
	free(no_dqt);
	free(opt);
	free(d);
	image_finish(&img);
	image_finish(&ref);
}

/*
 * One decoder and one output image for many jobs, with failures in
 * between: the output buffers settle (no allocation per job) and every
 * good job still matches djpeg.
 */
static void test_reuse(void)
{
	struct image img = { 0 };
	struct decode_info info;
	char err[256];
	struct thumb_spec small = spec_box(40), full = spec_box(256);
	struct ppm ref8 = ppm_read("prog-8.ppm"), ref1 = ppm_read("s420-1.ppm");
	struct ppm refp = ppm_read("p444-1.ppm"), refa = ppm_read("pa420-2.ppm");
	struct thumb_spec half = spec_box(159);
	uint8_t *seen[2] = { NULL, NULL };

	for (int round = 0; round < 6; round++) {
		CHECK_INT_EQ(run_file("s420.jpg", &full, &img, &info, err), 0);
		check_same(&img, &ref1, "s420 reused");
		expect_fail("o6.jpg", &(struct thumb_spec){ .n_sizes = 1,
			.sizes = { { 1, 1 } },
			.limits = { .max_file_size = 10 } }, -E2BIG,
			"max_file_size");
		CHECK_INT_EQ(run_file("prog.jpg", &small, &img, &info, err), 0);
		check_same(&img, &ref8, "prog reused");
		CHECK_INT_EQ(run_file("cmyk_adobe.jpg", &small, &img, &info,
			err), 0);
		/* progressive files of other layouts reuse the coefficient
		 * store that the DC-only decode above used */
		CHECK_INT_EQ(run_file("p444.jpg", &full, &img, &info, err), 0);
		check_same(&img, &refp, "p444 reused");
		CHECK_INT_EQ(run_file("pa420.jpg", &half, &img, &info, err), 0);
		check_same(&img, &refa, "pa420 reused");
		/* the caller's image and the decoder's trade buffers; once
		 * both have grown to the largest job, they are all there is */
		if (round == 2) {
			seen[0] = img.px;
		} else if (round == 3) {
			seen[1] = img.px;
			CHECK(seen[1] != seen[0]);
		} else if (round > 3) {
			CHECK(img.px == seen[round % 2]);
		}
	}
	free(ref8.px);
	free(ref1.px);
	free(refp.px);
	free(refa.px);
	image_finish(&img);
}

/*
 * detail = fine leaves the filter a factor of two: a 1024x768 photo for a
 * 128 box is decoded at 1/4, not 1/8 (so a progressive one reads every
 * scan, not the DC-only copy), for a 512 box at full size; an image
 * smaller than twice the box is never shrunk. auto, the default, is fine
 * except where fine decodes at full size and fast would not (the 512
 * box). Pixels are djpeg's.
 */
static void test_detail(void)
{
	static const struct {
		const char *name;
		uint32_t box, fast, fine, automatic;
		bool progressive;
	} cases[] = {
		{ "big_base.jpg", 128, 8, 4, 4, false },
		{ "big_prog.jpg", 128, 8, 4, 4, true },
		{ "big_base.jpg", 256, 4, 2, 2, false },
		{ "big_prog.jpg", 512, 2, 1, 2, true },
		{ "big_base.jpg", 1024, 1, 1, 1, false },
	};
	struct image img = { 0 };
	struct decode_info info;
	char err[256], ref_name[64], what[80];

	TL_SH_OK("cjpeg big.ppm > big_base.jpg && for f in big_base big_prog; "
		"do for d in 1 2 4 8; do djpeg -rgb -scale 1/$d -ppm $f.jpg > "
		"$f.jpg-$d.ppm; done; done");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (uint32_t detail = 0; detail < THUMB_DETAIL_N; detail++) {
			struct thumb_spec spec = spec_box(cases[i].box);
			uint32_t d = detail == THUMB_DETAIL_FINE ? cases[i].fine :
				detail == THUMB_DETAIL_AUTO ? cases[i].automatic :
				cases[i].fast;
			spec.detail = detail;
			snprintf(what, sizeof(what), "%s box %u detail %s",
				cases[i].name, cases[i].box,
				thumb_detail_names[detail]);
			if (run_file(cases[i].name, &spec, &img, &info, err) != 0) {
				fprintf(stderr, "%s: %s\n", what, err);
				exit(1);
			}
			CHECK_INT_EQ(info.scale_denom, d);
			CHECK_INT_EQ(info.dc_only, cases[i].progressive && d == 8);
			snprintf(ref_name, sizeof(ref_name), "%s-%u.ppm",
				cases[i].name, d);
			struct ppm ref = ppm_read(ref_name);
			check_same(&img, &ref, what);
			free(ref.px);
		}
	}
	image_finish(&img);
}

/* What libjpeg's flat arrays take for a 4:4:4 image: 128 bytes a block. */
static size_t flat_size(uint32_t w, uint32_t h)
{
	return (size_t)((w + 7) / 8) * ((h + 7) / 8) * 3 * sizeof(JBLOCK);
}

/* A decode at 1/@d that must match djpeg's, and the store's peak. */
static size_t decode_peak(const char *name, uint32_t box, uint32_t d,
		bool dc_only)
{
	struct image img = { 0 };
	struct decode_info info;
	struct thumb_spec spec = spec_box(box);
	char err[256], ref_name[64], what[64];

	snprintf(what, sizeof(what), "%s at 1/%u", name, d);
	if (run_file(name, &spec, &img, &info, err) != 0) {
		fprintf(stderr, "%s: %s\n", what, err);
		exit(1);
	}
	CHECK_INT_EQ(info.scale_denom, d);
	CHECK_INT_EQ(info.dc_only, dc_only);
	snprintf(ref_name, sizeof(ref_name), "%s-%u.ppm", name, d);
	struct ppm ref = ppm_read(ref_name);
	check_same(&img, &ref, what);
	free(ref.px);
	image_finish(&img);
	return jpeg_dec_coef_peak(dec);
}

/*
 * The coefficients are held compact: a photo-like progressive 4:4:4
 * image needs a small part of the flat size, in the DC-only path (one
 * JCOEF a block) and in a full decode, with the same pixels as djpeg.
 */
static void test_coef_store(void)
{
	size_t flat = flat_size(1600, 1200);

	TL_SH_OK("for d in 1 8; do djpeg -rgb -scale 1/$d -ppm photo.jpg > "
		"photo.jpg-$d.ppm; done");
	size_t dc = decode_peak("photo.jpg", 200, 8, true);
	size_t full = decode_peak("photo.jpg", 4096, 1, false);
	if (dc == 0 || dc > flat / 20 || full == 0 || full > flat / 4) {
		fprintf(stderr, "photo.jpg: flat %zu, DC-only %zu, full %zu\n",
			flat, dc, full);
		exit(1);
	}
	/* a baseline file needs no coefficient arrays at all */
	struct image img = { 0 };
	struct decode_info info;
	struct thumb_spec spec = spec_box(256);
	char err[256];
	CHECK_INT_EQ(run_file("base.jpg", &spec, &img, &info, err), 0);
	CHECK_INT_EQ(jpeg_dec_coef_peak(dec), 0);
	image_finish(&img);
}

/*
 * The worst case: binary noise at quality 100 sets nearly all 64
 * coefficients of every block, most beyond one byte. It decodes as
 * djpeg does at every scale, in about the flat size.
 */
static void test_worst_case(void)
{
	size_t flat = flat_size(640, 480);

	TL_SH_OK("for d in 1 2 8; do djpeg -rgb -scale 1/$d -ppm worst.jpg > "
		"worst.jpg-$d.ppm; done");
	size_t full = decode_peak("worst.jpg", 640, 1, false);
	size_t half = decode_peak("worst.jpg", 320, 2, false);
	size_t dc = decode_peak("worst.jpg", 80, 8, true);
	if (full < flat || full > flat + flat / 10 || half != full ||
			dc > flat / 10) {
		fprintf(stderr, "worst.jpg: flat %zu, 1/1 %zu, 1/2 %zu, "
			"DC-only %zu\n", flat, full, half, dc);
		exit(1);
	}
}

/*
 * Below flat_max the arrays stay in libjpeg's plain layout (faster): the
 * same pixels, and a peak of about the flat size; the DC-only path stays
 * compact, where it is faster. Runs after the tests
 * above made the djpeg references.
 */
static void test_flat(void)
{
	size_t flat = flat_size(1600, 1200);

	jpeg_dec_set_flat_max(dec, 16u << 20);
	size_t dc = decode_peak("photo.jpg", 200, 8, true);
	size_t full = decode_peak("photo.jpg", 4096, 1, false);
	size_t worst = decode_peak("worst.jpg", 320, 2, false);
	if (dc > flat / 20 || full < flat || full > flat + flat / 10 ||
			worst < flat_size(640, 480)) {
		fprintf(stderr, "flat: photo.jpg flat %zu, DC-only %zu, full %zu;"
			" worst.jpg %zu\n", flat, dc, full, worst);
		exit(1);
	}
	/* half of max_memory is the most a flat job may take */
	struct image img = { 0 };
	struct decode_info info;
	struct thumb_spec spec = spec_box(4096);
	char err[256];

	spec.limits.max_memory = 2 * flat - 1;
	CHECK_INT_EQ(run_file("photo.jpg", &spec, &img, &info, err), 0);
	CHECK(jpeg_dec_coef_peak(dec) < flat / 4);
	image_finish(&img);
	jpeg_dec_set_flat_max(dec, 0);
}

int main(void)
{
	TL_SH_OK("convert -size 317x239 -seed 7 plasma:red-blue -swirl 60 -depth 8 "
		"src.ppm && convert src.ppm -colorspace gray -depth 8 src.pgm");
	TL_SH_OK("printf '0;\\n1;\\n2;\\n' > seq.txt");
	TL_SH_OK("convert -size 1024x768 -seed 3 plasma: -depth 8 big.ppm && "
		"cjpeg -progressive big.ppm > big_prog.jpg");
	/* photo-like: smooth areas, edges and grain */
	TL_SH_OK("convert -size 1600x1200 -seed 11 plasma:green-blue -blur 0x1 "
		"-attenuate 0.4 +noise Gaussian -depth 8 photo.ppm && "
		"cjpeg -progressive -sample 1x1 -quality 90 photo.ppm > "
		"photo.jpg");
	/* every term set: binary noise per channel */
	TL_SH_OK("convert -size 640x480 xc: -seed 13 +noise Random "
		"-channel RGB -threshold 50%% +channel -depth 8 worst.ppm && "
		"cjpeg -progressive -sample 1x1 -quality 100 worst.ppm > "
		"worst.jpg");
	TL_SH_OK("convert -size 640x480 -seed 5 plasma: -depth 8 big2.ppm && "
		"cjpeg -sample 1x1 -restart 1B big2.ppm > rst_many.jpg");
	TL_SH_OK("cjpeg -sample 1x1 -quality 100 worst.ppm > worst_base.jpg");
	quiet_fd = open(tl_path("stderr.txt"), O_RDWR | O_CREAT | O_TRUNC |
		O_APPEND | O_CLOEXEC, 0600);
	CHECK(quiet_fd >= 0);
	dec = jpeg_dec_create();
	CHECK(dec);
	/* every kind in libjpeg's plain layout (all are small), then all the
	 * tests through the compact store */
	test_kinds();
	test_planar();
	test_chroma_scaling();
	jpeg_dec_set_flat_max(dec, 0);
	test_kinds();
	test_planar();
	test_chroma_scaling();
	test_dc_skips_chroma_ac();
	test_cmyk();
	test_orientation();
	test_kind_errors();
	test_limits();
	test_truncation();
	test_not_jpeg();
	test_corrupt();
	test_fast_huffman();
	test_tables_per_job();
	test_reuse();
	test_detail();
	test_coef_store();
	test_worst_case();
	test_flat();
	jpeg_dec_destroy(dec);
	jpeg_dec_destroy(NULL);
	close(quiet_fd);
	return 0;
}
