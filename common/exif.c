#include "exif.h"

#include <stdbool.h>
#include <string.h>

/*
 * Real IFD0s hold a few dozen entries; reading at most this many keeps a
 * hostile count (65535) from costing more than a few microseconds.
 */
#define EXIF_MAX_ENTRIES 256

#define EXIF_TAG_ORIENTATION 0x0112
#define EXIF_TYPE_SHORT 3

struct exif_tiff {
	const uint8_t *p; /* the TIFF header: every offset is relative to it */
	size_t len;
	bool big_endian;
};

static uint16_t exif_u16(const struct exif_tiff *t, size_t off)
{
	const uint8_t *b = t->p + off;
	return t->big_endian ? (uint16_t)(b[0] << 8 | b[1]) :
		(uint16_t)(b[1] << 8 | b[0]);
}

static uint32_t exif_u32(const struct exif_tiff *t, size_t off)
{
	const uint8_t *b = t->p + off;
	if (t->big_endian) {
		return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
			(uint32_t)b[2] << 8 | b[3];
	}
	return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 |
		(uint32_t)b[1] << 8 | b[0];
}

/*
 * Only IFD0 is read: orientation belongs there, and never following the
 * next-IFD link means an IFD chain that loops cannot matter. Every read is
 * checked against t->len first, with sizes compared by subtraction so no
 * sum can wrap.
 */
int exif_orientation(const uint8_t *data, size_t len)
{
	static const uint8_t magic[6] = { 'E', 'x', 'i', 'f', 0, 0 };
	struct exif_tiff t;

	if (!data || len < sizeof(magic) + 8 ||
			memcmp(data, magic, sizeof(magic)) != 0) {
		return 1;
	}
	t.p = data + sizeof(magic);
	t.len = len - sizeof(magic);
	if (memcmp(t.p, "II*\0", 4) == 0) {
		t.big_endian = false;
	} else if (memcmp(t.p, "MM\0*", 4) == 0) {
		t.big_endian = true;
	} else {
		return 1;
	}
	uint32_t ifd = exif_u32(&t, 4);
	/* the IFD cannot overlap the 8-byte header and needs its count */
	if (ifd < 8 || ifd > t.len - 2) {
		return 1;
	}
	uint32_t count = exif_u16(&t, ifd);
	size_t room = (t.len - ifd - 2) / 12;
	if (count > room) {
		count = (uint32_t)room;
	}
	if (count > EXIF_MAX_ENTRIES) {
		count = EXIF_MAX_ENTRIES;
	}
	for (uint32_t i = 0; i < count; i++) {
		size_t e = (size_t)ifd + 2 + (size_t)i * 12;
		if (exif_u16(&t, e) != EXIF_TAG_ORIENTATION) {
			continue;
		}
		/* the first orientation entry decides, valid or not */
		if (exif_u16(&t, e + 2) != EXIF_TYPE_SHORT ||
				exif_u32(&t, e + 4) != 1) {
			return 1;
		}
		/* a single SHORT sits in the first two bytes of the value */
		uint16_t v = exif_u16(&t, e + 8);
		return v >= 1 && v <= 8 ? v : 1;
	}
	return 1;
}
