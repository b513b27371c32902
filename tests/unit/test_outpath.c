/*
 * Unit tests for common/outpath.c: template expansion as a table, the
 * template check, dirname joining and the length limits.
 */

#include "testlib.h"

#include <limits.h>

#include "outpath.h"
#include "spec.h"

struct name_case {
	const char *tmpl;
	const char *base;
	uint32_t w, h;
	enum thumb_format fmt;
	const char *want;
};

static const struct name_case name_cases[] = {
	{ "{stem}_{size}.{ext}", "photo.jpg", 256, 256, THUMB_FORMAT_JPEG, "photo_256.jpg" },
	{ "{stem}_{size}.{ext}", "photo.jpg", 1024, 768, THUMB_FORMAT_JPEG, "photo_1024x768.jpg" },
	{ "{stem}_{size}.{ext}", "photo.jpg", 256, 256, THUMB_FORMAT_WEBP, "photo_256.webp" },
	{ "{stem}_{size}.{ext}", "photo.JPEG", 64, 64, THUMB_FORMAT_JPEG, "photo_64.jpg" },
	/* only the last extension goes */
	{ "{stem}_{size}.{ext}", "a.tar.webp", 64, 64, THUMB_FORMAT_JPEG, "a.tar_64.jpg" },
	{ "{stem}_{size}.{ext}", "noext", 64, 64, THUMB_FORMAT_JPEG, "noext_64.jpg" },
	/* a leading dot is not an extension */
	{ "{stem}_{size}.{ext}", ".hidden", 64, 64, THUMB_FORMAT_JPEG, ".hidden_64.jpg" },
	{ "{stem}_{size}.{ext}", "trailing.", 64, 64, THUMB_FORMAT_JPEG, "trailing_64.jpg" },
	{ "{name}.{w}x{h}.{ext}", "p.jpg", 300, 200, THUMB_FORMAT_WEBP, "p.jpg.300x200.webp" },
	{ "t-{w}-{h}-{stem}.{ext}", "p.webp", 128, 128, THUMB_FORMAT_JPEG, "t-128-128-p.jpg" },
	{ "{size}", "x.jpg", 7, 7, THUMB_FORMAT_JPEG, "7" },
	/* UTF-8 and spaces pass through untouched */
	{ "{stem} {size}.{ext}", "\xc3\xa9t\xc3\xa9 1.jpg", 32, 32, THUMB_FORMAT_JPEG, "\xc3\xa9t\xc3\xa9 1 32.jpg" },
	{ "{stem}{stem}.{ext}", "ab.jpg", 1, 1, THUMB_FORMAT_JPEG, "abab.jpg" },
};

static void test_names(void)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		char buf[300];
		int n = outpath_name(c->tmpl, c->base,
			(struct thumb_size){ c->w, c->h }, c->fmt, buf, sizeof(buf));
		if (n < 0 || strcmp(buf, c->want) != 0 || (size_t)n != strlen(c->want)) {
			fprintf(stderr, "case %zu: %s + %s: got %d \"%s\", want \"%s\"\n",
				i, c->tmpl, c->base, n, n < 0 ? "" : buf, c->want);
			exit(1);
		}
	}
	CHECK(strcmp(outpath_ext(THUMB_FORMAT_JPEG), "jpg") == 0);
	CHECK(strcmp(outpath_ext(THUMB_FORMAT_WEBP), "webp") == 0);
}

static void test_templates(void)
{
	static const char *const good[] = {
		"{stem}_{size}.{ext}", "{size}", "{ext}", "x{stem}{name}{w}{h}.{ext}",
	};
	static const struct { const char *t, *reason; } bad[] = {
		{ "", "empty" },
		{ "{stem}", "{ext} or {size}" },
		{ "{stem}_{w}x{h}.jpg", "{ext} or {size}" },
		{ "a/{size}.{ext}", "'/'" },
		{ ".{stem}_{size}.{ext}", "'.'" },
		{ "{stem}_{SIZE}.{ext}", "unknown field" },
		{ "{stem_{size}.{ext}", "unknown field" },
		{ "{stem}_{size}.{ext", "unknown field" },
		{ "{stem}}_{size}.{ext}", "unmatched" },
		{ "{}{size}", "unknown field" },
	};
	const char *why;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = "untouched";
		CHECK_INT_EQ(outpath_check_template(good[i], &why), 0);
		CHECK(strcmp(why, "untouched") == 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (outpath_check_template(bad[i].t, &why) != -EINVAL) {
			fprintf(stderr, "template \"%s\" was accepted\n", bad[i].t);
			exit(1);
		}
		CHECK_STR_CONTAINS(why, bad[i].reason);
	}
}

static void test_rel(void)
{
	struct thumb_spec s;
	char buf[PATH_MAX];

	spec_init_default(&s);
	s.n_sizes = 2;
	s.sizes[1] = (struct thumb_size){ 1024, 768 };
	CHECK_INT_EQ(outpath_rel(&s, "dir/photo.jpg", 0, THUMB_FORMAT_JPEG, buf,
		sizeof(buf)), strlen("dir/photo_256.jpg"));
	CHECK(strcmp(buf, "dir/photo_256.jpg") == 0);
	CHECK(outpath_rel(&s, "a/b/c/photo.jpg", 1, THUMB_FORMAT_WEBP, buf,
		sizeof(buf)) > 0);
	CHECK(strcmp(buf, "a/b/c/photo_1024x768.webp") == 0);
	CHECK(outpath_rel(&s, "photo.webp", 0, THUMB_FORMAT_JPEG, buf,
		sizeof(buf)) > 0);
	CHECK(strcmp(buf, "photo_256.jpg") == 0);
	/* a size index past the list */
	CHECK_INT_EQ(outpath_rel(&s, "p.jpg", 2, THUMB_FORMAT_JPEG, buf,
		sizeof(buf)), -EINVAL);
}

static void test_limits(void)
{
	struct thumb_spec s;
	char base[NAME_MAX + 1];
	char buf[600];

	spec_init_default(&s);
	/* the exact fit and one byte short: buf is untouched on failure */
	CHECK_INT_EQ(outpath_name(s.name, "p.jpg", s.sizes[0], THUMB_FORMAT_JPEG,
		buf, sizeof("p_256.jpg")), 9);
	memcpy(buf, "sentinel", 9);
	CHECK_INT_EQ(outpath_name(s.name, "p.jpg", s.sizes[0], THUMB_FORMAT_JPEG,
		buf, sizeof("p_256.jpg") - 1), -ENAMETOOLONG);
	CHECK(strcmp(buf, "sentinel") == 0);
	CHECK_INT_EQ(outpath_rel(&s, "dir/p.jpg", 0, THUMB_FORMAT_JPEG, buf, 8),
		-ENAMETOOLONG);
	CHECK(strcmp(buf, "sentinel") == 0);
	/* a 255-byte input name gives a name no file system takes */
	memset(base, 'n', NAME_MAX - 4);
	strcpy(base + NAME_MAX - 4, ".jpg");
	CHECK_INT_EQ(outpath_name(s.name, base, s.sizes[0], THUMB_FORMAT_JPEG,
		buf, sizeof(buf)), -ENAMETOOLONG);
	/* 251 - 4 + "_256.jpg" = 255: the longest name that is allowed */
	base[NAME_MAX - 8] = '\0';
	strcat(base, ".jpg");
	CHECK_INT_EQ(outpath_name(s.name, base, s.sizes[0], THUMB_FORMAT_JPEG,
		buf, sizeof(buf)), NAME_MAX - 8 - 4 + 12);
}

int main(void)
{
	test_names();
	test_templates();
	test_rel();
	test_limits();
	return 0;
}
