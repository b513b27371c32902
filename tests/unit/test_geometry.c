/* Size arithmetic: fit, output, DCT scale choice and decode_need. */
#include "decode.h"
#include "geometry.h"
#include "testlib.h"

struct fit_case {
	uint32_t w, h, bw, bh;
	enum thumb_fit fit;
	uint32_t fit_w, fit_h; /* geometry_fit */
	uint32_t out_w, out_h; /* geometry_output */
};

static const struct fit_case fit_cases[] = {
	/* landscape and portrait photos in the default box */
	{ 2560, 1600, 256, 256, THUMB_FIT_CONTAIN, 256, 160, 256, 160 },
	{ 1600, 2560, 256, 256, THUMB_FIT_CONTAIN, 160, 256, 160, 256 },
	{ 2560, 1600, 256, 256, THUMB_FIT_COVER, 410, 256, 256, 256 },
	{ 1600, 2560, 256, 256, THUMB_FIT_COVER, 256, 410, 256, 256 },
	/* exact multiples and squares */
	{ 512, 512, 256, 256, THUMB_FIT_CONTAIN, 256, 256, 256, 256 },
	{ 512, 512, 256, 256, THUMB_FIT_COVER, 256, 256, 256, 256 },
	{ 5120, 2880, 256, 256, THUMB_FIT_CONTAIN, 256, 144, 256, 144 },
	/* rounding to nearest: 300x100 -> 85.33 rows */
	{ 300, 100, 256, 256, THUMB_FIT_CONTAIN, 256, 85, 256, 85 },
	{ 301, 200, 200, 200, THUMB_FIT_CONTAIN, 200, 133, 200, 133 },
	/* never upscale, cover crops what it cannot fill */
	{ 100, 50, 256, 256, THUMB_FIT_CONTAIN, 100, 50, 100, 50 },
	{ 300, 100, 256, 256, THUMB_FIT_COVER, 300, 100, 256, 100 },
	{ 256, 256, 256, 256, THUMB_FIT_CONTAIN, 256, 256, 256, 256 },
	/* non-square boxes */
	{ 4000, 3000, 200, 100, THUMB_FIT_CONTAIN, 133, 100, 133, 100 },
	{ 4000, 3000, 200, 100, THUMB_FIT_COVER, 200, 150, 200, 100 },
	{ 3000, 4000, 1024, 768, THUMB_FIT_CONTAIN, 576, 768, 576, 768 },
	{ 3000, 4000, 1024, 768, THUMB_FIT_COVER, 1024, 1365, 1024, 768 },
	/* slivers keep at least one pixel */
	{ 10000, 1, 256, 256, THUMB_FIT_CONTAIN, 256, 1, 256, 1 },
	{ 1, 10000, 256, 256, THUMB_FIT_CONTAIN, 1, 256, 1, 256 },
	{ 10000, 1, 256, 256, THUMB_FIT_COVER, 10000, 1, 256, 1 },
	/* the largest JPEG */
	{ 65535, 65535, 65535, 1, THUMB_FIT_CONTAIN, 1, 1, 1, 1 },
	{ 65535, 65535, 1, 1, THUMB_FIT_COVER, 1, 1, 1, 1 },
};

static void test_fit(void)
{
	for (size_t i = 0; i < sizeof(fit_cases) / sizeof(fit_cases[0]); i++) {
		const struct fit_case *c = &fit_cases[i];
		struct thumb_size box = { c->bw, c->bh };
		uint32_t w = 0, h = 0;
		geometry_fit(c->w, c->h, box, c->fit, &w, &h);
		if (w != c->fit_w || h != c->fit_h) {
			fprintf(stderr, "case %zu: fit %ux%u in %ux%u (%d): "
				"%ux%u, expected %ux%u\n", i, c->w, c->h,
				c->bw, c->bh, c->fit, w, h, c->fit_w, c->fit_h);
			exit(1);
		}
		geometry_output(c->w, c->h, box, c->fit, &w, &h);
		if (w != c->out_w || h != c->out_h) {
			fprintf(stderr, "case %zu: output %ux%u, expected %ux%u\n",
				i, w, h, c->out_w, c->out_h);
			exit(1);
		}
	}
}

struct denom_case {
	uint32_t w, h, need_w, need_h, denom;
};

static const struct denom_case denom_cases[] = {
	{ 2560, 1600, 256, 160, 8 },  /* 320x200 */
	{ 5120, 2880, 256, 144, 8 },  /* 640x360 */
	{ 2048, 1536, 256, 192, 8 },  /* exactly 256x192 */
	{ 2047, 1535, 256, 192, 8 },  /* ceil: 256x192 */
	{ 2040, 1530, 256, 192, 4 },  /* 255 < 256 at 1/8: 510x383 */
	{ 2560, 1600, 640, 400, 4 },
	{ 2560, 1600, 641, 400, 2 },
	{ 2560, 1600, 1280, 800, 2 },
	{ 2560, 1600, 1281, 800, 1 },
	{ 100, 100, 13, 13, 8 },      /* ceil(100/8) = 13 */
	{ 100, 100, 14, 13, 4 },
	{ 100, 100, 100, 100, 1 },
	{ 100, 100, 200, 200, 1 },    /* asking for more never upscales */
	{ 7, 7, 1, 1, 8 },
	{ 1, 1, 1, 1, 8 },
	{ 65535, 65535, 8192, 8192, 8 },
	{ 65535, 65535, 8193, 8192, 4 },
};

static void test_denom(void)
{
	for (size_t i = 0; i < sizeof(denom_cases) / sizeof(denom_cases[0]);
			i++) {
		const struct denom_case *c = &denom_cases[i];
		uint32_t d = geometry_jpeg_denom(c->w, c->h, c->need_w,
			c->need_h);
		if (d != c->denom) {
			fprintf(stderr, "case %zu: denom(%u, %u, %u, %u) = %u, "
				"expected %u\n", i, c->w, c->h, c->need_w,
				c->need_h, d, c->denom);
			exit(1);
		}
	}
}

struct need_case {
	uint32_t w, h;
	int orientation;
	enum thumb_fit fit;
	uint32_t n;
	struct thumb_size sizes[3];
	uint32_t need_w, need_h, denom;
};

static const struct need_case need_cases[] = {
	/* the "long side >= 256" rule for the default box */
	{ 2560, 1600, 1, THUMB_FIT_CONTAIN, 1, { { 256, 256 } }, 256, 160, 8 },
	{ 2560, 1600, 6, THUMB_FIT_CONTAIN, 1, { { 256, 256 } }, 256, 160, 8 },
	/* cover needs the short side at 256 */
	{ 2560, 1600, 1, THUMB_FIT_COVER, 1, { { 256, 256 } }, 410, 256, 4 },
	/* a wide box on a stored-landscape, shown-portrait photo: the box
	 * is fitted upright (80x128 shown), then turned back to stored axes */
	{ 2560, 1600, 1, THUMB_FIT_CONTAIN, 1, { { 256, 128 } }, 205, 128, 8 },
	{ 2560, 1600, 6, THUMB_FIT_CONTAIN, 1, { { 256, 128 } }, 128, 80, 8 },
	{ 2560, 1600, 8, THUMB_FIT_COVER, 1, { { 256, 128 } }, 410, 256, 4 },
	{ 2560, 1600, 1, THUMB_FIT_COVER, 1, { { 1024, 256 } }, 1024, 640, 2 },
	{ 2560, 1600, 5, THUMB_FIT_COVER, 1, { { 1024, 256 } }, 1638, 1024, 1 },
	{ 2560, 1600, 7, THUMB_FIT_COVER, 1, { { 256, 1024 } }, 1024, 640, 2 },
	/* the largest of several sizes wins */
	{ 2560, 1600, 1, THUMB_FIT_CONTAIN, 3,
		{ { 64, 64 }, { 1024, 1024 }, { 256, 256 } }, 1024, 640, 2 },
	/* small images are never upscaled */
	{ 200, 100, 1, THUMB_FIT_CONTAIN, 1, { { 256, 256 } }, 200, 100, 1 },
	{ 200, 100, 3, THUMB_FIT_COVER, 1, { { 256, 256 } }, 200, 100, 1 },
	/* no sizes asks for every pixel */
	{ 640, 480, 1, THUMB_FIT_CONTAIN, 0, { { 0, 0 } }, 640, 480, 1 },
};

static void test_need(void)
{
	for (size_t i = 0; i < sizeof(need_cases) / sizeof(need_cases[0]);
			i++) {
		const struct need_case *c = &need_cases[i];
		struct thumb_spec spec;
		uint32_t nw = 0, nh = 0;
		spec_init_default(&spec);
		spec.fit = c->fit;
		spec.n_sizes = c->n;
		for (uint32_t k = 0; k < c->n; k++) {
			spec.sizes[k] = c->sizes[k];
		}
		decode_need(c->w, c->h, c->orientation, &spec, &nw, &nh);
		uint32_t d = geometry_jpeg_denom(c->w, c->h, nw, nh);
		if (nw != c->need_w || nh != c->need_h || d != c->denom) {
			fprintf(stderr, "case %zu: need %ux%u denom %u, expected "
				"%ux%u denom %u\n", i, nw, nh, d, c->need_w,
				c->need_h, c->denom);
			exit(1);
		}
	}
}

int main(void)
{
	test_fit();
	test_denom();
	test_need();
	return 0;
}
