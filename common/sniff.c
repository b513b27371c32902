#include "sniff.h"

#include <stdbool.h>
#include <string.h>

static bool sniff_has(const uint8_t *data, size_t len, size_t off,
		const char *magic, size_t n)
{
	return len >= off + n && memcmp(data + off, magic, n) == 0;
}

static uint32_t sniff_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
}

static bool sniff_brand_is(const uint8_t *b, const char *const *list)
{
	for (; *list; list++) {
		if (memcmp(b, *list, 4) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * ISO-BMFF "ftyp" box: the major brand, then the compatible brands inside
 * the box (read only as far as both the box and the buffer go). AVIF wins
 * over HEIF because AVIF files usually also list the generic "mif1".
 */
static enum sniff_format sniff_ftyp(const uint8_t *data, size_t len)
{
	static const char *const avif[] = { "avif", "avis", NULL };
	static const char *const heif[] = { "heic", "heix", "hevc", "hevx",
		"heim", "heis", "hevm", "hevs", "mif1", "msf1", "mif2", NULL };
	enum sniff_format found = SNIFF_UNKNOWN;

	if (!sniff_has(data, len, 4, "ftyp", 4) || len < 12) {
		return SNIFF_UNKNOWN;
	}
	size_t box = sniff_be32(data);
	if (box < 16 || box > len) {
		box = len;
	}
	/* major brand at 8, minor version at 12, compatible brands from 16 */
	for (size_t off = 8; off + 4 <= box; off += off == 8 ? 8 : 4) {
		if (sniff_brand_is(data + off, avif)) {
			return SNIFF_AVIF;
		}
		if (sniff_brand_is(data + off, heif)) {
			found = SNIFF_HEIF;
		}
	}
	return found;
}

/* A BMP header: "BM" and a known DIB header size, so text that happens to
 * start with "BM" is not named a bitmap. */
static bool sniff_bmp(const uint8_t *data, size_t len)
{
	if (!sniff_has(data, len, 0, "BM", 2) || len < 18) {
		return false;
	}
	uint32_t dib = (uint32_t)data[14] | (uint32_t)data[15] << 8 |
		(uint32_t)data[16] << 16 | (uint32_t)data[17] << 24;
	return dib == 12 || dib == 40 || dib == 52 || dib == 56 ||
		dib == 64 || dib == 108 || dib == 124;
}

enum sniff_format sniff_format(const uint8_t *data, size_t len)
{
	if (!data) {
		return SNIFF_UNKNOWN;
	}
	if (sniff_has(data, len, 0, "\xff\xd8\xff", 3)) {
		return SNIFF_JPEG;
	}
	if (sniff_has(data, len, 0, "RIFF", 4) &&
			sniff_has(data, len, 8, "WEBP", 4)) {
		return SNIFF_WEBP;
	}
	if (sniff_has(data, len, 0, "\x89PNG\r\n\x1a\n", 8)) {
		return SNIFF_PNG;
	}
	if (sniff_has(data, len, 0, "GIF87a", 6) ||
			sniff_has(data, len, 0, "GIF89a", 6)) {
		return SNIFF_GIF;
	}
	/* classic and BigTIFF, both byte orders */
	if (sniff_has(data, len, 0, "II*\0", 4) ||
			sniff_has(data, len, 0, "MM\0*", 4) ||
			sniff_has(data, len, 0, "II+\0", 4) ||
			sniff_has(data, len, 0, "MM\0+", 4)) {
		return SNIFF_TIFF;
	}
	if (sniff_bmp(data, len)) {
		return SNIFF_BMP;
	}
	/* JPEG XL: bare codestream, or the ISO-BMFF container signature */
	if (sniff_has(data, len, 0, "\xff\x0a", 2) ||
			sniff_has(data, len, 0,
				"\0\0\0\x0cJXL \r\n\x87\n", 12)) {
		return SNIFF_JXL;
	}
	return sniff_ftyp(data, len);
}

const char *sniff_name(enum sniff_format f)
{
	switch (f) {
	case SNIFF_JPEG:
		return "JPEG";
	case SNIFF_WEBP:
		return "WebP";
	case SNIFF_PNG:
		return "PNG";
	case SNIFF_GIF:
		return "GIF";
	case SNIFF_TIFF:
		return "TIFF";
	case SNIFF_BMP:
		return "BMP";
	case SNIFF_HEIF:
		return "HEIF";
	case SNIFF_AVIF:
		return "AVIF";
	case SNIFF_JXL:
		return "JPEG XL";
	case SNIFF_UNKNOWN:
		break;
	}
	return "unknown";
}
