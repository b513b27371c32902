/*
 * Unit tests for common/spec.c: the defaults, and every reason
 * spec_validate() refuses a spec for.
 */

#include "testlib.h"

#include "spec.h"

static void test_defaults(void)
{
	struct thumb_spec s;
	const char *why = "untouched";

	memset(&s, 0xa5, sizeof(s));
	spec_init_default(&s);
	CHECK_INT_EQ(s.n_sizes, 1);
	CHECK_INT_EQ(s.sizes[0].width, 256);
	CHECK_INT_EQ(s.sizes[0].height, 256);
	CHECK_INT_EQ(s.formats, THUMB_FORMAT_JPEG);
	CHECK_INT_EQ(s.quality, 85);
	CHECK_INT_EQ(s.fit, THUMB_FIT_CONTAIN);
	CHECK_INT_EQ(s.detail, THUMB_DETAIL_AUTO);
	CHECK(!s.progressive && !s.webp_lossless && !s.durable);
	CHECK(strcmp(s.name, "{stem}_{size}.{ext}") == 0);
	CHECK(s.limits.max_pixels == 100000000ull);
	CHECK(s.limits.max_file_size == 256ull << 20);
	CHECK(s.limits.max_memory == 256ull << 20);
	CHECK_INT_EQ(s.limits.max_scans, 100);
	/* unused size slots are zero, so a spec compares and travels cleanly */
	CHECK_INT_EQ(s.sizes[1].width, 0);
	CHECK_INT_EQ(spec_validate(&s, &why), 0);
	CHECK(strcmp(why, "untouched") == 0);
}

/* Apply @edit to a default spec and expect -EINVAL naming @reason. */
#define CHECK_BAD(edit, reason) \
	do { \
		struct thumb_spec s_; \
		const char *why_ = NULL; \
		spec_init_default(&s_); \
		struct thumb_spec *s = &s_; \
		edit; \
		CHECK_INT_EQ(spec_validate(s, &why_), -EINVAL); \
		CHECK_STR_CONTAINS(why_, reason); \
	} while (0)

#define CHECK_GOOD(edit) \
	do { \
		struct thumb_spec s_; \
		const char *why_ = NULL; \
		spec_init_default(&s_); \
		struct thumb_spec *s = &s_; \
		edit; \
		if (spec_validate(s, &why_) != 0) { \
			fprintf(stderr, "%s:%d: refused: %s\n", __FILE__, \
				__LINE__, why_); \
			exit(1); \
		} \
	} while (0)

static void test_invalid(void)
{
	CHECK_BAD(s->n_sizes = 0, "no size");
	CHECK_BAD(s->n_sizes = THUMB_MAX_SIZES + 1, "too many sizes");
	CHECK_BAD(s->formats = 0, "no output format");
	CHECK_BAD(s->formats = 4, "unknown output format");
	CHECK_BAD(s->quality = 0, "quality");
	CHECK_BAD(s->quality = 101, "quality");
	CHECK_BAD(s->fit = 2, "fit");
	CHECK_BAD(s->detail = THUMB_DETAIL_N, "detail");
	CHECK_BAD(s->sizes[0].width = 0, "1-65535");
	CHECK_BAD(s->sizes[0].height = 65536, "1-65535");
	CHECK_BAD(s->limits.max_pixels = 0, "max_pixels");
	CHECK_BAD(memset(s->name, 'a', sizeof(s->name)), "too long");
	CHECK_BAD(strcpy(s->name, "{stem}"), "{ext} or {size}");
	CHECK_BAD(strcpy(s->name, "{stem}/{size}.{ext}"), "'/'");
	CHECK_BAD(strcpy(s->name, "{stem}_{bogus}.{ext}"), "unknown field");
	/* two formats, one name */
	CHECK_BAD((strcpy(s->name, "{stem}_{size}.img"),
		s->formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP), "{ext}");
	/* two sizes, one name */
	CHECK_BAD((strcpy(s->name, "{stem}.{ext}"), s->n_sizes = 2,
		s->sizes[1] = (struct thumb_size){ 128, 128 }), "{size}");
	/* {w} alone cannot tell 256x100 from 256x200 */
	CHECK_BAD((strcpy(s->name, "{stem}_{w}.{ext}"), s->n_sizes = 2,
		s->sizes[0] = (struct thumb_size){ 256, 100 },
		s->sizes[1] = (struct thumb_size){ 256, 200 }), "{size}");
	CHECK_BAD((s->n_sizes = 2, s->sizes[1] = s->sizes[0]), "twice");
}

static void test_valid(void)
{
	struct thumb_spec full;
	const char *why = NULL;

	spec_init_default(&full);
	full.n_sizes = THUMB_MAX_SIZES;
	for (uint32_t i = 0; i < THUMB_MAX_SIZES; i++) {
		full.sizes[i] = (struct thumb_size){ 64 + i, 64 + i };
	}
	CHECK_INT_EQ(spec_validate(&full, &why), 0);
	CHECK_GOOD(s->formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP);
	CHECK_GOOD((s->quality = 1, s->fit = THUMB_FIT_COVER));
	CHECK_GOOD(s->quality = 100);
	CHECK_GOOD(s->sizes[0] = ((struct thumb_size){ 65535, 1 }));
	/* {w} and {h} name different boxes apart without {size} */
	CHECK_GOOD((strcpy(s->name, "{w}x{h}-{name}.{ext}"), s->n_sizes = 2,
		s->sizes[1] = (struct thumb_size){ 128, 64 }));
	/* one size, one format: {ext} alone is enough */
	CHECK_GOOD(strcpy(s->name, "thumb-{stem}.{ext}"));
}

int main(void)
{
	test_defaults();
	test_invalid();
	test_valid();
	return 0;
}
