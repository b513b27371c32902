/* The bounded marker walk and the DC-only filter: hand-built marker
 * sequences for the structural cases, files from cjpeg for the real ones.
 * Every buffer is an exact-size heap copy so ASan catches a read past
 * its end. */
#include <errno.h>

#include "jpeg_scans.h"
#include "testlib.h"

struct buf {
	uint8_t b[4096];
	size_t len;
};

static void add(struct buf *b, const char *bytes, size_t n)
{
	CHECK(b->len + n <= sizeof(b->b));
	memcpy(b->b + b->len, bytes, n);
	b->len += n;
}

#define ADD(b, s) add(b, s, sizeof(s) - 1)

#define SOI "\xff\xd8"
#define EOI "\xff\xd9"
/* 16x16, one component, 8-bit, baseline */
#define SOF0 "\xff\xc0\x00\x0b\x08\x00\x10\x00\x20\x01\x01\x11\x00"
#define SOS1 "\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
#define APP1_EXIF(o) "\xff\xe1\x00\x22" "Exif\0\0" "MM\0*\0\0\0\x08" \
	"\0\x01\x01\x12\0\x03\0\0\0\x01\0" o "\0\0\0\0\0\0"

static int parse(const struct buf *b, struct jpeg_scans *s, const char **why)
{
	uint8_t *copy = malloc(b->len ? b->len : 1);
	CHECK(copy);
	memcpy(copy, b->b, b->len);
	*why = NULL;
	int r = jpeg_scans_parse(copy, b->len, s, why);
	if (r == 0 && s->exif) {
		/* point into the caller's buffer, not the freed copy */
		s->exif = b->b + (s->exif - copy);
	}
	free(copy);
	return r;
}

static void expect_err(const struct buf *b, int err, const char *text)
{
	struct jpeg_scans s;
	const char *why;
	memset(&s, 0x5a, sizeof(s));
	int r = parse(b, &s, &why);
	CHECK_INT_EQ(r, err);
	CHECK_STR_CONTAINS(why, text);
	/* untouched on failure */
	CHECK_INT_EQ(s.width, 0x5a5a5a5a);
}

static void test_not_jpeg(void)
{
	struct buf b = { .len = 0 };
	expect_err(&b, -EMEDIUMTYPE, "not a JPEG");
	ADD(&b, "\xff");
	expect_err(&b, -EMEDIUMTYPE, "not a JPEG");
	b.len = 0;
	ADD(&b, "junk" SOI SOF0 SOS1 "\x12\x34" EOI);
	expect_err(&b, -EMEDIUMTYPE, "not a JPEG");
	b.len = 0;
	ADD(&b, "\x89PNG\r\n\x1a\n");
	expect_err(&b, -EMEDIUMTYPE, "not a JPEG");
	struct jpeg_scans s;
	const char *why;
	CHECK_INT_EQ(jpeg_scans_parse(NULL, 0, &s, &why), -EMEDIUMTYPE);
}

static void test_structure(void)
{
	struct buf b = { .len = 0 };
	struct jpeg_scans s;
	const char *why;

	ADD(&b, SOI SOF0 SOS1 "\x12\xff\x00\x34\xff\xd0\x56\xff\xff\xd7" EOI
		"trailing junk after EOI");
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK_INT_EQ(s.width, 32);
	CHECK_INT_EQ(s.height, 16);
	CHECK_INT_EQ(s.sof, 0xc0);
	CHECK_INT_EQ(s.precision, 8);
	CHECK_INT_EQ(s.components, 1);
	CHECK_INT_EQ(s.h_samp[0], 1);
	CHECK_INT_EQ(s.n_scans, 1);
	CHECK(!s.truncated && !s.progressive && !s.arithmetic && !s.exif);
	/* EOI is where the walk stopped: "trailing..." is not counted */
	CHECK_INT_EQ(s.end, b.len - strlen("trailing junk after EOI"));

	/* fill bytes before markers and garbage between segments */
	b.len = 0;
	ADD(&b, SOI "\xff\xff\xff" SOF0 "garbage" SOS1 "\x01" EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK_INT_EQ(s.n_scans, 1);
	CHECK(!s.truncated);

	/* 0xff00 between segments is garbage to libjpeg, not a marker
	 * with a length that could hide the frame header from this walk */
	b.len = 0;
	ADD(&b, SOI "\xff\x00\x00\x0f" SOF0 SOS1 "\x01" EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK(s.sof == 0xc0 && s.width == 32 && s.n_scans == 1);

	/* tables only: no frame, not truncated */
	b.len = 0;
	ADD(&b, SOI EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK(!s.truncated && s.sof == 0 && s.n_scans == 0);

	b.len = 0;
	ADD(&b, SOI SOF0 "\xff\xfe\x00\x01" EOI);
	expect_err(&b, -EBADMSG, "bad marker length");
	b.len = 0;
	ADD(&b, SOI SOS1 "\x00" EOI);
	expect_err(&b, -EBADMSG, "scan before frame header");
	b.len = 0;
	ADD(&b, SOI SOF0 SOI SOS1 EOI);
	expect_err(&b, -EBADMSG, "two SOI markers");
	b.len = 0;
	ADD(&b, SOI "\xff\xc0\x00\x05\x08\x00\x10");
	expect_err(&b, -EBADMSG, "frame header");
}

static void test_truncation(void)
{
	struct buf b = { .len = 0 };
	struct jpeg_scans s;
	const char *why;

	ADD(&b, SOI SOF0 SOS1 "\x12\xff\x00\x34\xff\xd0\x56" EOI);
	/* every proper prefix: truncated, or a frame-header error when
	 * the SOF is cut inside its body, never a read past the end */
	for (size_t n = 2; n < b.len; n++) {
		struct buf p = b;
		p.len = n;
		int r = parse(&p, &s, &why);
		CHECK(r == 0 && s.truncated);
		CHECK(n < 15 ? s.sof == 0 : s.width == 32);
	}
	/* a lone 0xff at the end of scan data */
	b.len = 0;
	ADD(&b, SOI SOF0 SOS1 "\x12\xff");
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK(s.truncated);
	CHECK_INT_EQ(s.n_scans, 0);
	CHECK_INT_EQ(s.end, b.len);
}

static void test_sof_kinds(void)
{
	static const struct {
		uint8_t marker, precision;
		int err;
		const char *text;
	} cases[] = {
		{ 0xc0, 8, 0, NULL },
		{ 0xc1, 8, 0, NULL },
		{ 0xc2, 8, 0, NULL },
		{ 0xc9, 8, 0, NULL },
		{ 0xca, 8, 0, NULL },
		{ 0xc0, 12, -EMEDIUMTYPE, "12-bit JPEG not supported" },
		{ 0xc2, 12, -EMEDIUMTYPE, "12-bit JPEG not supported" },
		{ 0xc1, 16, -EMEDIUMTYPE, "16-bit JPEG not supported" },
		{ 0xc0, 7, -EMEDIUMTYPE, "precision" },
		{ 0xc3, 8, -EMEDIUMTYPE, "lossless JPEG not supported" },
		{ 0xc7, 8, -EMEDIUMTYPE, "lossless JPEG not supported" },
		{ 0xcb, 8, -EMEDIUMTYPE, "lossless JPEG not supported" },
		{ 0xcf, 8, -EMEDIUMTYPE, "lossless JPEG not supported" },
		{ 0xc3, 16, -EMEDIUMTYPE, "lossless JPEG not supported" },
		{ 0xc5, 8, -EMEDIUMTYPE, "hierarchical JPEG not supported" },
		{ 0xc6, 8, -EMEDIUMTYPE, "hierarchical JPEG not supported" },
		{ 0xcd, 8, -EMEDIUMTYPE, "hierarchical JPEG not supported" },
		{ 0xce, 8, -EMEDIUMTYPE, "hierarchical JPEG not supported" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = { .len = 0 };
		struct jpeg_scans s;
		const char *why;
		ADD(&b, SOI SOF0 SOS1 "\x01" EOI);
		b.b[3] = cases[i].marker;
		b.b[6] = cases[i].precision;
		if (cases[i].err == 0) {
			CHECK_INT_EQ(parse(&b, &s, &why), 0);
			CHECK_INT_EQ(s.sof, cases[i].marker);
			CHECK(s.progressive == ((cases[i].marker & 3) == 2));
			CHECK(s.arithmetic == (cases[i].marker >= 0xc9));
		} else {
			expect_err(&b, cases[i].err, cases[i].text);
		}
	}
	/* DHT (0xc4), JPG (0xc8) and DAC (0xcc) are not frame headers */
	struct buf b = { .len = 0 };
	struct jpeg_scans s;
	const char *why;
	ADD(&b, SOI "\xff\xc4\x00\x02\xff\xc8\x00\x02\xff\xcc\x00\x02" SOF0
		SOS1 EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK_INT_EQ(s.sof, 0xc0);
	/* only the first frame header counts (libjpeg rejects a second) */
	b.len = 0;
	ADD(&b, SOI SOF0 "\xff\xc3\x00\x0b\x08\x00\x10\x00\x20\x01\x01\x11\x00"
		SOS1 EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK_INT_EQ(s.sof, 0xc0);
}

static void test_exif(void)
{
	struct buf b = { .len = 0 };
	struct jpeg_scans s;
	const char *why;

	/* XMP first, then two Exif segments: the first Exif wins */
	ADD(&b, SOI "\xff\xe1\x00\x0chttp://ns\0" APP1_EXIF("\x06")
		APP1_EXIF("\x03") SOF0 SOS1 EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK(s.exif != NULL);
	CHECK_INT_EQ(s.exif_len, 0x22 - 2);
	CHECK(memcmp(s.exif, "Exif\0\0MM", 8) == 0);
	CHECK_INT_EQ(s.exif[6 + 8 + 2 + 8 + 1], 6);
	/* an APP1 too short to hold the identifier is not Exif */
	b.len = 0;
	ADD(&b, SOI "\xff\xe1\x00\x06" "Exif" SOF0 SOS1 EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK(s.exif == NULL);
	/* after the frame header is fine too */
	b.len = 0;
	ADD(&b, SOI SOF0 APP1_EXIF("\x08") SOS1 EOI);
	CHECK_INT_EQ(parse(&b, &s, &why), 0);
	CHECK(s.exif != NULL);
}

static uint8_t *read_tmp(const char *name, size_t *len)
{
	uint8_t *d = tl_read(tl_path("%s", name), len);
	CHECK(d);
	return d;
}

/* Scans of a file as (Ss, first component id) pairs, by a walk of their
 * own over the raw bytes (cjpeg's headers hold no 0xffda). */
static size_t list_scans(const uint8_t *d, size_t len, int *ss, int *cs,
		size_t max)
{
	struct jpeg_scans s;
	const char *why;
	size_t n = 0;
	CHECK_INT_EQ(jpeg_scans_parse(d, len, &s, &why), 0);
	for (size_t i = 2; i + 9 < len && n < max; i++) {
		if (d[i] == 0xff && d[i + 1] == 0xda) {
			cs[n] = d[i + 5];
			ss[n] = d[i + 5 + 2 * d[i + 4]];
			n++;
		}
	}
	CHECK_INT_EQ(n, s.n_scans);
	return n;
}

static void test_real_files(void)
{
	struct jpeg_scans s;
	const char *why;
	size_t len;
	int ss[64], cs[64];

	TL_SH_OK("convert -size 96x64 gradient:red-blue -swirl 90 -depth 8 src.ppm");
	TL_SH_OK("cjpeg src.ppm > base.jpg");
	TL_SH_OK("cjpeg -progressive src.ppm > prog.jpg");
	TL_SH_OK("cjpeg -progressive -arithmetic src.ppm > parith.jpg");
	TL_SH_OK("cjpeg -progressive -sample 1x1 src.ppm > p444.jpg");
	TL_SH_OK("cjpeg -restart 1B src.ppm > rst.jpg");

	uint8_t *d = read_tmp("base.jpg", &len);
	CHECK_INT_EQ(jpeg_scans_parse(d, len, &s, &why), 0);
	CHECK(!s.progressive && !s.truncated && s.n_scans == 1);
	CHECK(s.width == 96 && s.height == 64 && s.components == 3);
	CHECK(s.h_samp[0] == 2 && s.v_samp[0] == 2 && s.h_samp[1] == 1);
	CHECK(s.comp_id[0] == 1 && s.comp_id[1] == 2 && s.comp_id[2] == 3);
	CHECK_INT_EQ(s.end, len);
	free(d);

	d = read_tmp("rst.jpg", &len);
	CHECK_INT_EQ(jpeg_scans_parse(d, len, &s, &why), 0);
	CHECK(!s.truncated && s.n_scans == 1 && s.end == len);
	free(d);

	static const char *const progs[] = { "prog.jpg", "parith.jpg",
		"p444.jpg" };
	for (size_t f = 0; f < 3; f++) {
		d = read_tmp(progs[f], &len);
		size_t n = list_scans(d, len, ss, cs, 64);
		CHECK_INT_EQ(jpeg_scans_parse(d, len, &s, &why), 0);
		CHECK(s.progressive && !s.truncated);
		CHECK_INT_EQ(s.arithmetic, f == 1);
		CHECK(n >= 6);
		/* nothing but DC, then DC plus the AC of components 1 and 2
		 * (ids 2 and 3: the chroma) */
		for (uint32_t keep = 0; keep <= 6; keep += 6) {
			uint8_t *dst = malloc(len + 2);
			CHECK(dst);
			size_t out = jpeg_scans_filter_dc(d, len, &s, keep, dst);
			CHECK(out < len);
			CHECK_INT_EQ(jpeg_scans_filter_dc(d, len, &s, keep,
				NULL), out);
			CHECK(dst[0] == 0xff && dst[1] == 0xd8);
			CHECK(dst[out - 2] == 0xff && dst[out - 1] == 0xd9);
			int fss[64], fcs[64];
			struct jpeg_scans fs;
			size_t fn = list_scans(dst, out, fss, fcs, 64);
			CHECK_INT_EQ(jpeg_scans_parse(dst, out, &fs, &why), 0);
			CHECK(!fs.truncated && fs.width == 96);
			size_t want = 0, k = 0;
			for (size_t i = 0; i < n; i++) {
				bool kept = ss[i] == 0 || (keep && cs[i] != 1);
				if (!kept) {
					continue;
				}
				/* the same scans, in the same order */
				CHECK(k < fn && fss[k] == ss[i] && fcs[k] == cs[i]);
				k++;
				want++;
			}
			CHECK_INT_EQ(fn, want);
			CHECK(keep ? fn > 2 : fn == 2);
			free(dst);
		}
		free(d);
	}
}

/* Every single-byte change and every prefix of a small progressive file
 * parses and filters inside its buffers (ASan) and in bounded time. */
static void test_mutations(void)
{
	size_t len;
	uint8_t *d = read_tmp("prog.jpg", &len);
	uint8_t *copy = malloc(len);
	uint8_t *dst = malloc(len + 2);
	CHECK(copy && dst);
	static const uint8_t values[] = { 0x00, 0xff, 0xd9, 0xda, 0xc2, 0x7f };
	for (size_t i = 0; i < len; i += len > 4000 ? 3 : 1) {
		for (size_t v = 0; v < sizeof(values); v++) {
			struct jpeg_scans s;
			const char *why;
			memcpy(copy, d, len);
			copy[i] = values[v];
			if (jpeg_scans_parse(copy, len, &s, &why) == 0 &&
					!s.truncated) {
				size_t n = jpeg_scans_filter_dc(copy, s.end, &s,
					6, NULL);
				CHECK(n <= s.end + 2);
				CHECK(jpeg_scans_filter_dc(copy, s.end, &s, 6,
					dst) == n);
			}
		}
	}
	for (size_t n = 0; n < len; n++) {
		struct jpeg_scans s;
		const char *why;
		uint8_t *p = malloc(n ? n : 1);
		CHECK(p);
		memcpy(p, d, n);
		int r = jpeg_scans_parse(p, n, &s, &why);
		CHECK(n < 2 ? r == -EMEDIUMTYPE : r == 0 && s.truncated);
		free(p);
	}
	free(d);
	free(copy);
	free(dst);
}

int main(void)
{
	test_not_jpeg();
	test_structure();
	test_truncation();
	test_sof_kinds();
	test_exif();
	test_real_files();
	test_mutations();
	return 0;
}
