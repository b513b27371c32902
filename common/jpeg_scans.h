#ifndef THUMBD_COMMON_JPEG_SCANS_H
#define THUMBD_COMMON_JPEG_SCANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A bounded walk over a JPEG's markers, done before libjpeg sees the data,
 * so that every limit is checked from the header without libjpeg
 * allocating anything, and so that a progressive file can be cut down to
 * the scans a small decode needs. Nothing here reads outside the buffer
 * and every step moves forward, so a walk costs at most one pass.
 */

#define JPEG_SCANS_MAX_COMPONENTS 4

struct jpeg_scans {
	uint32_t width;        /* from the frame header (SOF) */
	uint32_t height;
	uint8_t sof;           /* SOF marker byte (0xc0, 0xc2, ...); 0 if none */
	uint8_t precision;
	uint8_t components;    /* as declared; only the first four are kept */
	uint8_t comp_id[JPEG_SCANS_MAX_COMPONENTS];
	uint8_t h_samp[JPEG_SCANS_MAX_COMPONENTS];
	uint8_t v_samp[JPEG_SCANS_MAX_COMPONENTS];
	bool progressive;      /* SOF2 or SOF10 */
	bool arithmetic;       /* SOF9 or SOF10 */
	bool truncated;        /* the data ended before EOI */
	uint32_t n_scans;      /* SOS markers seen */
	const uint8_t *exif;   /* body of the first "Exif\0\0" APP1, or NULL */
	size_t exif_len;
	size_t end;            /* offset just past EOI (len if truncated) */
};

/*
 * Walk @data from SOI to EOI (the whole file, so that the scan count and
 * truncation are known) and fill @out. The file must start with SOI:
 * junk before it is refused rather than searched past, since libjpeg
 * wants SOI first and a JPEG found inside other data (a RAW preview, a
 * document) is not the file the user dropped.
 * Returns 0 (check out->truncated), or with a static reason in @why:
 *   -EMEDIUMTYPE  no SOI at offset 0 ("not a JPEG"), or a frame type
 *                 thumbd does not decode ("12-bit JPEG not supported",
 *                 "lossless JPEG not supported", "hierarchical JPEG not
 *                 supported")
 *   -EBADMSG      a marker structure libjpeg would also reject
 * On failure @out is unchanged.
 */
int jpeg_scans_parse(const uint8_t *data, size_t len, struct jpeg_scans *out,
		const char **why);

/*
 * Copy into @dst a JPEG that holds every segment of @data except the
 * progressive scans a 1/8 decode does not read: the SOI, all tables and
 * headers (also those between scans), every scan with Ss == 0 (DC first
 * and DC refinement passes), every scan whose components are all in
 * @keep_ac (a bit per component index of the frame header), and EOI.
 * @data must have passed jpeg_scans_parse() with @s, untruncated.
 * Returns the bytes written, at most @len + 2. With @dst NULL nothing is
 * written and the size is returned, so a buffer can be sized exactly.
 */
size_t jpeg_scans_filter_dc(const uint8_t *data, size_t len,
		const struct jpeg_scans *s, uint32_t keep_ac, uint8_t *dst);

#endif
