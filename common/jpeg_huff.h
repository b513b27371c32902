#ifndef THUMBD_COMMON_JPEG_HUFF_H
#define THUMBD_COMMON_JPEG_HUFF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jpeglib.h>

/*
 * A faster entropy decoder for Huffman-coded JPEG (baseline, extended and
 * progressive, 8-bit), put in place of libjpeg's own after its modules
 * are set up. It decodes the same coefficients from the same bits; see
 * jpeg_huff.c for how and why.
 *
 * Returns true if it took over, false if the file is of a kind it leaves
 * to libjpeg (arithmetic, 12-bit). Call from realize_virt_arrays, when
 * libjpeg's entropy decoder exists and its first start_pass has not run.
 * @tables, made once by jpeg_huff_tables_init() and kept by the caller
 * between images (one image at a time), holds the lookup tables.
 */
#define JPEG_HUFF_FAST 10

/* One Huffman table's lookup, rebuilt for each scan that reads it. */
struct jpeg_huff_tbl {
	uint32_t fast[1u << JPEG_HUFF_FAST]; /* see jpeg_huff.c */
	int32_t maxcode[18];    /* largest code of each length; -1: none */
	int32_t valoffset[18];  /* symbol index minus code, per length */
	uint8_t val[256];
};

struct jpeg_huff_tables {
	uint64_t zz[8][256]; /* natural to zigzag order, see jpeg_huff.c */
	struct jpeg_huff_tbl dc[NUM_HUFF_TBLS];
	struct jpeg_huff_tbl ac[NUM_HUFF_TBLS];
};

void jpeg_huff_tables_init(struct jpeg_huff_tables *t);
bool jpeg_huff_install(j_decompress_ptr cinfo,
	struct jpeg_huff_tables *tables);

#endif
