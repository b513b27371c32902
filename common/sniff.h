#ifndef THUMBD_COMMON_SNIFF_H
#define THUMBD_COMMON_SNIFF_H

#include <stddef.h>
#include <stdint.h>

enum sniff_format {
	SNIFF_UNKNOWN = 0,
	SNIFF_JPEG,
	SNIFF_WEBP,
	/* recognised only to name them in an error */
	SNIFF_PNG,
	SNIFF_GIF,
	SNIFF_TIFF,
	SNIFF_BMP,
	SNIFF_HEIF,
	SNIFF_AVIF,
	SNIFF_JXL,
};

/* The format of a file from its first bytes, never from its name. */
enum sniff_format sniff_format(const uint8_t *data, size_t len);

/* A short name for @f ("PNG", "WebP", ...), for error text. */
const char *sniff_name(enum sniff_format f);

#endif
