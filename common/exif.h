#ifndef THUMBD_COMMON_EXIF_H
#define THUMBD_COMMON_EXIF_H

#include <stddef.h>
#include <stdint.h>

/*
 * EXIF orientation from the body of an APP1 segment (starting at
 * "Exif\0\0"). Bounded: it reads only inside [data, data+len), follows no
 * IFD twice and gives up after a fixed number of entries. Returns 1-8; any
 * missing, malformed or out-of-range value (0, 9, 65535) gives 1.
 */
int exif_orientation(const uint8_t *data, size_t len);

#endif
