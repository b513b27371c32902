#ifndef THUMBD_COMMON_DECODE_H
#define THUMBD_COMMON_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "spec.h"

/*
 * Decoders: compressed bytes in memory to an RGB(A) image, at the smallest
 * scale that still covers every size in the spec (so the resize filter has
 * real pixels to work on), with every limit checked from the header before
 * any large allocation. Orientation is reported, not applied.
 *
 * All decoders return 0 or a negative errno, and on failure write a short
 * reason (no file name; the caller adds it) to err:
 *   -EMEDIUMTYPE  not an image / unsupported kind ("12-bit JPEG not supported")
 *   -EBADMSG      corrupt or truncated data ("truncated JPEG")
 *   -E2BIG        over a limit ("65500x65500 exceeds max_pixels 100000000")
 *   -ENOMEM       allocation failed
 */

struct decode_info {
	uint32_t width;       /* as stored, before orientation */
	uint32_t height;
	int orientation;      /* EXIF 1-8, 1 when absent or invalid */
	uint32_t scale_denom; /* JPEG DCT scale used: 1, 2, 4 or 8 */
	bool progressive;     /* JPEG: progressive; WebP: unused */
	bool dc_only;         /* JPEG: only the DC scans were decoded */
	bool has_alpha;
	bool animated;        /* WebP: only the first frame was decoded */
	bool planar;          /* JPEG: decoded to Y, Cb, Cr planes, see
	                         jpeg_dec_run_ycc() */
};

/*
 * The smallest decoded size (in stored orientation) that still covers every
 * size in @spec for an image stored as (w x h) with @orientation.
 */
void decode_need(uint32_t w, uint32_t h, int orientation,
		const struct thumb_spec *spec, uint32_t *need_w, uint32_t *need_h);

struct jpeg_dec;

/* A JPEG decoder whose libjpeg state and buffers are kept between jobs. */
struct jpeg_dec *jpeg_dec_create(void);
void jpeg_dec_destroy(struct jpeg_dec *dec);

/* Decode JPEG @data into @out (RGB). See above for errors. */
int jpeg_dec_run(struct jpeg_dec *dec, const uint8_t *data, size_t len,
		const struct thumb_spec *spec, struct image *out,
		struct decode_info *info, char *err, size_t errlen);

/*
 * jpeg_dec_run() for a caller that can take planes: a YCbCr file (three
 * components, as nearly every photo is) comes out as its Y, Cb and Cr
 * planes in @ycc[0..2], one channel each, and info->planar is set. Y
 * comes at the job's scale; Cb and Cr at the smallest IDCT whose plane
 * still covers the output's 4:2:0 chroma (half the size @spec needs, or
 * all of it with detail = fine), so they may be smaller than Y even in a
 * 4:4:4 file. libjpeg's upsampling and colour conversion are
 * skipped. Any other file comes out in @out as jpeg_dec_run() gives it.
 */
int jpeg_dec_run_ycc(struct jpeg_dec *dec, const uint8_t *data, size_t len,
		const struct thumb_spec *spec, struct image *out,
		struct image *ycc, struct decode_info *info, char *err,
		size_t errlen);

/*
 * Bytes the coefficient arrays of the last jpeg_dec_run() held at most
 * (windows and compact rows; 0 for a file decoded without them). What
 * max_memory is checked against.
 */
size_t jpeg_dec_coef_peak(const struct jpeg_dec *dec);

/*
 * A job whose coefficient arrays take at most @bytes in libjpeg's plain
 * layout (128 bytes a block) keeps them so, which is faster; larger ones,
 * any that would not fit half of max_memory so, and every DC-only job
 * (faster compact) use the compact store. The default is 16 MiB; 0 sends
 * every job to the compact store.
 */
void jpeg_dec_set_flat_max(struct jpeg_dec *dec, size_t bytes);

/*
 * Whether planar jobs decode chroma at the smallest IDCT that covers the
 * output's chroma (the default, see jpeg_dec_chroma_scale()) or at the
 * size libjpeg picks to match Y. Off is for tests, which compare the two.
 */
void jpeg_dec_set_chroma_scaling(struct jpeg_dec *dec, bool on);

/*
 * Whether Huffman-coded files are entropy-decoded by jpeg_huff.c
 * (the default) or by libjpeg's own decoder. Off is for tests and the
 * fuzz harness, which compare the two.
 */
void jpeg_dec_set_fast_huffman(struct jpeg_dec *dec, bool on);

/* Decode WebP @data (first frame if animated) into @out (RGB or RGBA). */
int webp_decode(const uint8_t *data, size_t len, const struct thumb_spec *spec,
		struct image *out, struct decode_info *info, char *err,
		size_t errlen);

#endif
