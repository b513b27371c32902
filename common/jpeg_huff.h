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
 * @tables, made once by jpeg_huff_tables_init(), must outlive the image.
 */
struct jpeg_huff_tables {
	uint64_t zz[8][256]; /* natural to zigzag order, see jpeg_huff.c */
};

void jpeg_huff_tables_init(struct jpeg_huff_tables *t);
bool jpeg_huff_install(j_decompress_ptr cinfo,
	const struct jpeg_huff_tables *tables);

#endif
