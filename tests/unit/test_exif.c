/* EXIF orientation from hand-built APP1 bodies: both byte orders, every
 * value, and the malformed structures a hostile file can hold. Each
 * buffer is an exact-size heap copy so ASan sees any read past its end. */
#include "exif.h"
#include "testlib.h"

#define BUF_MAX 8192

struct tiff {
	uint8_t b[BUF_MAX];
	size_t len;
	int be;
};

static void put16(struct tiff *t, size_t off, uint32_t v)
{
	CHECK(off + 2 <= BUF_MAX);
	if (t->be) {
		t->b[off] = (uint8_t)(v >> 8);
		t->b[off + 1] = (uint8_t)v;
	} else {
		t->b[off] = (uint8_t)v;
		t->b[off + 1] = (uint8_t)(v >> 8);
	}
	if (off + 2 > t->len) {
		t->len = off + 2;
	}
}

static void put32(struct tiff *t, size_t off, uint32_t v)
{
	if (t->be) {
		put16(t, off, v >> 16);
		put16(t, off + 2, v & 0xffff);
	} else {
		put16(t, off, v & 0xffff);
		put16(t, off + 2, v >> 16);
	}
}

/* "Exif\0\0", a TIFF header and IFD0 at TIFF offset 8 with @count
 * entries declared; entries are then written with entry(). */
static void tiff_init(struct tiff *t, int be, uint32_t count)
{
	memset(t, 0, sizeof(*t));
	t->be = be;
	memcpy(t->b, "Exif\0\0", 6);
	memcpy(t->b + 6, be ? "MM\0*" : "II*\0", 4);
	t->len = 10;
	put32(t, 10, 8);
	put16(t, 14, count);
}

/* TIFF offset of entry @i of IFD0 */
static size_t entry_off(size_t i)
{
	return 8 + 2 + 12 * i;
}

static void entry(struct tiff *t, size_t i, uint32_t tag, uint32_t type,
		uint32_t count, uint32_t value)
{
	size_t e = 6 + entry_off(i);
	put16(t, e, tag);
	put16(t, e + 2, type);
	put32(t, e + 4, count);
	if (type == 3 && count == 1) {
		/* a SHORT sits left-justified in the value field */
		put16(t, e + 8, value);
		put16(t, e + 10, 0);
	} else {
		put32(t, e + 8, value);
	}
}

/* next-IFD pointer after @n entries */
static void next_ifd(struct tiff *t, size_t n, uint32_t off)
{
	put32(t, 6 + entry_off(n), off);
}

static int run(const uint8_t *b, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	CHECK(copy);
	memcpy(copy, b, len);
	int o = exif_orientation(copy, len);
	free(copy);
	CHECK(o >= 1 && o <= 8);
	return o;
}

static int orient(const struct tiff *t)
{
	return run(t->b, t->len);
}

static void test_values(void)
{
	struct tiff t;
	for (int be = 0; be <= 1; be++) {
		for (uint32_t v = 0; v <= 10; v++) {
			tiff_init(&t, be, 3);
			entry(&t, 0, 0x010f, 2, 4, 0);          /* Make */
			entry(&t, 1, 0x0112, 3, 1, v);
			entry(&t, 2, 0x011a, 5, 1, 0);          /* XResolution */
			next_ifd(&t, 3, 0);
			CHECK_INT_EQ(orient(&t), v >= 1 && v <= 8 ? (int)v : 1);
		}
		tiff_init(&t, be, 1);
		entry(&t, 0, 0x0112, 3, 1, 65535);
		next_ifd(&t, 1, 0);
		CHECK_INT_EQ(orient(&t), 1);
		tiff_init(&t, be, 1);
		entry(&t, 0, 0x0112, 3, 1, 0x0106);  /* 6 in the wrong byte */
		next_ifd(&t, 1, 0);
		CHECK_INT_EQ(orient(&t), 1);
	}
}

static void test_types(void)
{
	struct tiff t;
	/* LONG, BYTE, SSHORT and a SHORT array all mean "not valid" */
	static const uint32_t types[] = { 1, 4, 8, 9 };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		tiff_init(&t, 0, 1);
		entry(&t, 0, 0x0112, types[i], 1, 6);
		next_ifd(&t, 1, 0);
		CHECK_INT_EQ(orient(&t), 1);
	}
	tiff_init(&t, 1, 1);
	entry(&t, 0, 0x0112, 3, 2, 0x00060006);
	next_ifd(&t, 1, 0);
	CHECK_INT_EQ(orient(&t), 1);
	tiff_init(&t, 1, 1);
	entry(&t, 0, 0x0112, 3, 0, 6);
	next_ifd(&t, 1, 0);
	CHECK_INT_EQ(orient(&t), 1);
	/* the first orientation entry decides, even when it is bad */
	tiff_init(&t, 0, 2);
	entry(&t, 0, 0x0112, 3, 1, 6);
	entry(&t, 1, 0x0112, 3, 1, 8);
	CHECK_INT_EQ(orient(&t), 6);
	tiff_init(&t, 0, 2);
	entry(&t, 0, 0x0112, 4, 1, 6);
	entry(&t, 1, 0x0112, 3, 1, 8);
	CHECK_INT_EQ(orient(&t), 1);
}

static void test_headers(void)
{
	struct tiff t;
	tiff_init(&t, 0, 1);
	entry(&t, 0, 0x0112, 3, 1, 6);
	next_ifd(&t, 1, 0);
	CHECK_INT_EQ(orient(&t), 6);
	/* the APP1 identifier must be exact */
	t.b[5] = 'x';
	CHECK_INT_EQ(orient(&t), 1);
	t.b[5] = 0;
	t.b[0] = 'e';
	CHECK_INT_EQ(orient(&t), 1);
	t.b[0] = 'E';
	/* byte order marks and the magic 42 */
	memcpy(t.b + 6, "IM*\0", 4);
	CHECK_INT_EQ(orient(&t), 1);
	memcpy(t.b + 6, "II+\0", 4);
	CHECK_INT_EQ(orient(&t), 1);
	memcpy(t.b + 6, "MM\0*", 4); /* declared big-endian, written little */
	CHECK_INT_EQ(orient(&t), 1);
	memcpy(t.b + 6, "II*\0", 4);
	CHECK_INT_EQ(orient(&t), 6);
	/* an IFD offset inside the header, at the end, past the end, huge */
	static const uint32_t bad[] = { 0, 4, 7, 0xffffffff, 0x80000000 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put32(&t, 10, bad[i]);
		CHECK_INT_EQ(orient(&t), 1);
	}
	put32(&t, 10, (uint32_t)(t.len - 6));
	CHECK_INT_EQ(orient(&t), 1);
	put32(&t, 10, (uint32_t)(t.len - 6 - 1));
	CHECK_INT_EQ(orient(&t), 1);
	/* nothing, or less than a header */
	CHECK_INT_EQ(run(t.b, 0), 1);
	CHECK_INT_EQ(exif_orientation(NULL, 100), 1);
	CHECK_INT_EQ(run((const uint8_t *)"Exif\0\0", 6), 1);
	CHECK_INT_EQ(run((const uint8_t *)"Exif\0\0II*\0\x08\0\0", 13), 1);
}

static void test_counts(void)
{
	struct tiff t;
	/* a count far larger than the data: only whole entries are read */
	tiff_init(&t, 0, 65535);
	entry(&t, 0, 0x010f, 2, 4, 0);
	entry(&t, 1, 0x0112, 3, 1, 8);
	CHECK_INT_EQ(orient(&t), 8);
	/* ... and the entry cut short by the end of the data is not */
	tiff_init(&t, 1, 65535);
	entry(&t, 0, 0x010f, 2, 4, 0);
	entry(&t, 1, 0x0112, 3, 1, 8);
	CHECK_INT_EQ(run(t.b, t.len - 1), 1);
	/* a zero count */
	tiff_init(&t, 0, 0);
	entry(&t, 0, 0x0112, 3, 1, 3);
	CHECK_INT_EQ(orient(&t), 1);
	/* within the count, but past the cap on entries read */
	tiff_init(&t, 0, 600);
	for (size_t i = 0; i < 599; i++) {
		entry(&t, i, 0x9000 + (uint32_t)i, 7, 4, 0);
	}
	entry(&t, 599, 0x0112, 3, 1, 6);
	CHECK_INT_EQ(orient(&t), 1);
	tiff_init(&t, 0, 600);
	for (size_t i = 0; i < 599; i++) {
		entry(&t, i + 1, 0x9000 + (uint32_t)i, 7, 4, 0);
	}
	entry(&t, 0, 0x0112, 3, 1, 6);
	CHECK_INT_EQ(orient(&t), 6);
}

static void test_links(void)
{
	struct tiff t;
	/* IFD0 links to itself; orientation only in "IFD1" at the loop */
	tiff_init(&t, 0, 1);
	entry(&t, 0, 0x010f, 2, 4, 0);
	next_ifd(&t, 1, 8);
	CHECK_INT_EQ(orient(&t), 1);
	/* IFD1 (the thumbnail's) holds an orientation: not ours */
	tiff_init(&t, 1, 1);
	entry(&t, 0, 0x010f, 2, 4, 0);
	next_ifd(&t, 1, 26);
	put16(&t, 6 + 26, 1);
	put16(&t, 6 + 28, 0x0112);
	put16(&t, 6 + 30, 3);
	put32(&t, 6 + 32, 1);
	put16(&t, 6 + 36, 6);
	put32(&t, 6 + 40, 26);
	CHECK_INT_EQ(orient(&t), 1);
	/* IFD0 placed after other data, as real writers do */
	tiff_init(&t, 1, 0);
	put32(&t, 10, 100);
	put16(&t, 6 + 100, 1);
	put16(&t, 6 + 102, 0x0112);
	put16(&t, 6 + 104, 3);
	put32(&t, 6 + 106, 1);
	put16(&t, 6 + 110, 5);
	put32(&t, 6 + 114, 0);
	CHECK_INT_EQ(orient(&t), 5);
}

/* Every prefix and every single-byte change of a valid body stays in
 * bounds and answers 1-8 (run() checks both). */
static void test_mutations(void)
{
	struct tiff t;
	tiff_init(&t, 1, 2);
	entry(&t, 0, 0x010f, 2, 4, 0);
	entry(&t, 1, 0x0112, 3, 1, 7);
	next_ifd(&t, 2, 0);
	CHECK_INT_EQ(orient(&t), 7);
	for (size_t n = 0; n <= t.len; n++) {
		int o = run(t.b, n);
		CHECK(n == t.len ? o == 7 : 1);
	}
	for (size_t i = 0; i < t.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			t.b[i] ^= (uint8_t)(1u << bit);
			run(t.b, t.len);
			t.b[i] ^= (uint8_t)(1u << bit);
		}
	}
}

int main(void)
{
	test_values();
	test_types();
	test_headers();
	test_counts();
	test_links();
	test_mutations();
	return 0;
}
