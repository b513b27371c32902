#include "encode.h"
#include "errtext.h"

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <webp/encode.h>

/*
 * Rows handed to libjpeg per jpeg_write_scanlines() call: one call per
 * iMCU row (16 rows with 4:2:0) instead of one per row.
 */
#define ENCODE_ROWS 16

/*
 * WebP method (0 fastest - 6 smallest), cwebp's default 4. On a 256x192
 * photo at q85 it measured 3.8 ms, 10276 bytes, 39.1 dB; method 2 took
 * 1.8 ms for 10496 bytes at 38.8 dB (2% bigger and visibly worse), method
 * 6 10 ms for 7% fewer bytes. A few ms per thumbnail is small beside the
 * decode of the full-size source. Lossless uses the same method with
 * effort 75, cwebp's default for -lossless.
 */
#define ENCODE_WEBP_METHOD 4
#define ENCODE_WEBP_LOSSLESS_EFFORT 75.0f

struct encode_jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jmp;
	char msg[JMSG_LENGTH_MAX];
};

struct encoder {
	struct jpeg_compress_struct cinfo;
	struct encode_jerr jerr;
	struct jpeg_destination_mgr dest;
	/* the output of the last call, JPEG or WebP; grows, never shrinks */
	uint8_t *buf;
	size_t cap;
	size_t len;
	/* RGBA rows composited on white for JPEG */
	uint8_t *rows;
	size_t rows_cap;
	WebPMemoryWriter webp;
	/* libjpeg's standard Huffman tables: DC 0, AC 0, DC 1, AC 1 */
	JHUFF_TBL std_huff[4];
};

/* libjpeg errors unwind to encoder_jpeg() with the message kept. */
static void encode_jpeg_error_exit(j_common_ptr cinfo)
{
	struct encode_jerr *e = (struct encode_jerr *)cinfo->err;

	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jmp, 1);
}

/* common/ never logs: libjpeg warnings are dropped. */
static void encode_jpeg_output_message(j_common_ptr cinfo)
{
	(void)cinfo;
}

static void encode_dest_init(j_compress_ptr cinfo)
{
	struct encoder *enc = cinfo->client_data;

	cinfo->dest->next_output_byte = enc->buf;
	cinfo->dest->free_in_buffer = enc->cap;
}

/*
 * The kept buffer is full: double it, keeping what was written. Unlike
 * jpeg_mem_dest(), whose buffer is malloc'd per image, the grown buffer is
 * kept for the next call, so the steady state does not allocate.
 */
static boolean encode_dest_empty(j_compress_ptr cinfo)
{
	struct encoder *enc = cinfo->client_data;
	size_t old = enc->cap;
	size_t ncap = old ? old * 2 : 64 * 1024;
	uint8_t *p;

	if (ncap < old || !(p = realloc(enc->buf, ncap))) {
		ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 10);
		return FALSE;
	}
	enc->buf = p;
	enc->cap = ncap;
	cinfo->dest->next_output_byte = p + old;
	cinfo->dest->free_in_buffer = ncap - old;
	return TRUE;
}

static void encode_dest_term(j_compress_ptr cinfo)
{
	struct encoder *enc = cinfo->client_data;

	enc->len = enc->cap - cinfo->dest->free_in_buffer;
}

/*
 * jpeg_create_compress() fails only when out of memory, through longjmp.
 * A first jpeg_set_defaults() allocates the Huffman tables, and their
 * standard contents are kept: see encode_jpeg_tables().
 */
static int encode_jpeg_create(struct encoder *enc)
{
	struct jpeg_compress_struct *ci = &enc->cinfo;

	if (setjmp(enc->jerr.jmp)) {
		jpeg_destroy_compress(ci);
		return -ENOMEM;
	}
	jpeg_create_compress(ci);
	ci->in_color_space = JCS_RGB;
	ci->input_components = 3;
	jpeg_set_defaults(ci);
	for (int i = 0; i < 2; i++) {
		enc->std_huff[2 * i] = *ci->dc_huff_tbl_ptrs[i];
		enc->std_huff[2 * i + 1] = *ci->ac_huff_tbl_ptrs[i];
	}
	return 0;
}

/*
 * An optimised (or progressive, which libjpeg-turbo always optimises)
 * encode overwrites the Huffman tables in place, and jpeg_set_defaults()
 * in libjpeg-turbo does not refill tables that already exist: the next
 * baseline image would be coded with the last image's tables and come out
 * corrupt. Copying the standard ones back makes each image independent.
 */
static void encode_jpeg_tables(struct encoder *enc)
{
	struct jpeg_compress_struct *ci = &enc->cinfo;

	for (int i = 0; i < 2; i++) {
		*ci->dc_huff_tbl_ptrs[i] = enc->std_huff[2 * i];
		*ci->ac_huff_tbl_ptrs[i] = enc->std_huff[2 * i + 1];
	}
}

struct encoder *encoder_create(void)
{
	struct encoder *enc = calloc(1, sizeof(*enc));

	if (!enc) {
		return NULL;
	}
	enc->cinfo.err = jpeg_std_error(&enc->jerr.pub);
	enc->jerr.pub.error_exit = encode_jpeg_error_exit;
	enc->jerr.pub.output_message = encode_jpeg_output_message;
	if (encode_jpeg_create(enc) < 0) {
		free(enc);
		return NULL;
	}
	enc->cinfo.client_data = enc;
	enc->dest.init_destination = encode_dest_init;
	enc->dest.empty_output_buffer = encode_dest_empty;
	enc->dest.term_destination = encode_dest_term;
	enc->cinfo.dest = &enc->dest;
	WebPMemoryWriterInit(&enc->webp);
	return enc;
}

void encoder_destroy(struct encoder *enc)
{
	if (!enc) {
		return;
	}
	jpeg_destroy_compress(&enc->cinfo);
	WebPMemoryWriterClear(&enc->webp);
	free(enc->buf);
	free(enc->rows);
	free(enc);
}

static int encode_grow(uint8_t **p, size_t *cap, size_t n)
{
	uint8_t *q;

	if (n <= *cap) {
		return 0;
	}
	q = malloc(n);
	if (!q) {
		return -ENOMEM;
	}
	free(*p);
	*p = q;
	*cap = n;
	return 0;
}

/* Straight alpha over white: c*a + 255*(1-a), rounded, in integers. */
static void encode_composite_row(const uint8_t *restrict src,
		uint8_t *restrict dst, uint32_t width)
{
	for (uint32_t x = 0; x < width; x++) {
		uint32_t a = src[3], na = 255 - a;
		for (int c = 0; c < 3; c++) {
			uint32_t v = src[c] * a + 255 * na + 128;
			dst[c] = (uint8_t)((v + (v >> 8)) >> 8);
		}
		src += 4;
		dst += 3;
	}
}

static void encode_jpeg_params(struct encoder *enc, uint32_t width,
		uint32_t height, J_COLOR_SPACE space,
		const struct thumb_spec *spec)
{
	struct jpeg_compress_struct *ci = &enc->cinfo;

	ci->image_width = width;
	ci->image_height = height;
	ci->input_components = 3;
	ci->in_color_space = space;
	jpeg_set_defaults(ci);
	ci->raw_data_in = FALSE; /* encode_jpeg_ycc() sets it per job */
	encode_jpeg_tables(enc);
	jpeg_set_quality(ci, (int)spec->quality, TRUE);
	/* 4:2:0 whatever the library default: half the chroma data */
	ci->comp_info[0].h_samp_factor = 2;
	ci->comp_info[0].v_samp_factor = 2;
	ci->comp_info[1].h_samp_factor = 1;
	ci->comp_info[1].v_samp_factor = 1;
	ci->comp_info[2].h_samp_factor = 1;
	ci->comp_info[2].v_samp_factor = 1;
	/*
	 * Huffman optimisation is a second pass over the coefficients held in
	 * memory; on a 256x192 photo at q85 it measured 0.29 ms instead of
	 * 0.08 ms for 3% fewer bytes, so it stays off. Progressive output
	 * turns it on inside libjpeg regardless.
	 */
	ci->optimize_coding = FALSE;
	if (spec->progressive) {
		jpeg_simple_progression(ci);
	}
}

/* After a libjpeg error unwound to a setjmp: abort, say why, classify. */
static int encode_jpeg_failed(struct encoder *enc, char *err, size_t errlen)
{
	jpeg_abort_compress(&enc->cinfo);
	errtext_set(err, errlen, "JPEG encoder: %s", enc->jerr.msg);
	return enc->jerr.pub.msg_code == JERR_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}

static int encode_jpeg(struct encoder *enc, const struct image *img,
		const struct thumb_spec *spec, char *err, size_t errlen)
{
	struct jpeg_compress_struct *ci = &enc->cinfo;
	JSAMPROW rows[ENCODE_ROWS];
	size_t guess = (size_t)img->width * img->height / 2 + 4096;

	if (encode_grow(&enc->buf, &enc->cap, guess) < 0 ||
			(img->channels == 4 && encode_grow(&enc->rows,
				&enc->rows_cap, (size_t)img->width * 3 *
				ENCODE_ROWS) < 0)) {
		errtext_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (setjmp(enc->jerr.jmp)) {
		return encode_jpeg_failed(enc, err, errlen);
	}
	encode_jpeg_params(enc, img->width, img->height, JCS_RGB, spec);
	jpeg_start_compress(ci, TRUE);
	while (ci->next_scanline < ci->image_height) {
		uint32_t y = ci->next_scanline;
		uint32_t n = ci->image_height - y;
		n = n < ENCODE_ROWS ? n : ENCODE_ROWS;
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *src = img->px + (size_t)(y + i) * img->stride;
			if (img->channels == 4) {
				uint8_t *d = enc->rows + (size_t)i * img->width * 3;
				encode_composite_row(src, d, img->width);
				rows[i] = d;
			} else {
				/* libjpeg only reads input rows */
				rows[i] = (JSAMPROW)(uintptr_t)src;
			}
		}
		jpeg_write_scanlines(ci, rows, n);
	}
	jpeg_finish_compress(ci);
	return 0;
}

/*
 * Planes to libjpeg's raw input: one iMCU row (16 Y rows, 8 of each
 * chroma plane) per call, copied into row buffers padded to whole blocks
 * with the edge sample repeated, as libjpeg's own downsampler pads, so
 * the edge blocks carry no step. Rows past the bottom repeat the last.
 */
static void encode_ycc_rows(const struct image *p, uint32_t y, uint32_t n,
		uint8_t *buf, size_t pw, JSAMPROW *rows)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t sy = y + i < p->height ? y + i : p->height - 1;
		uint8_t *d = buf + (size_t)i * pw;
		memcpy(d, p->px + (size_t)sy * p->stride, p->width);
		memset(d + p->width, d[p->width - 1], pw - p->width);
		rows[i] = d;
	}
}

static int encode_jpeg_ycc(struct encoder *enc, const struct image *ycc,
		const struct thumb_spec *spec, char *err, size_t errlen)
{
	struct jpeg_compress_struct *ci = &enc->cinfo;
	JSAMPROW rows[3][2 * DCTSIZE];
	JSAMPARRAY planes[3] = { rows[0], rows[1], rows[2] };
	size_t pw[3], off[3], need = 0;
	uint32_t w = ycc[0].width, h = ycc[0].height;

	for (int c = 0; c < 3; c++) {
		uint32_t cw = c ? (w + 1) / 2 : w, ch = c ? (h + 1) / 2 : h;
		if (ycc[c].channels != 1 || ycc[c].width != cw ||
				ycc[c].height != ch) {
			errtext_set(err, errlen, "cannot encode planes of "
				"%ux%u, %ux%u and %ux%u as 4:2:0", ycc[0].width,
				ycc[0].height, ycc[1].width, ycc[1].height,
				ycc[2].width, ycc[2].height);
			return -EINVAL;
		}
		pw[c] = ((size_t)cw + 2 * DCTSIZE - 1) / (2 * DCTSIZE) *
			(2 * DCTSIZE);
		off[c] = need;
		need += pw[c] * (c ? DCTSIZE : 2 * DCTSIZE);
	}
	if (encode_grow(&enc->buf, &enc->cap, (size_t)w * h / 2 + 4096) < 0 ||
			encode_grow(&enc->rows, &enc->rows_cap, need) < 0) {
		errtext_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (setjmp(enc->jerr.jmp)) {
		return encode_jpeg_failed(enc, err, errlen);
	}
	encode_jpeg_params(enc, w, h, JCS_YCbCr, spec);
	ci->raw_data_in = TRUE;
	jpeg_start_compress(ci, TRUE);
	for (uint32_t y = 0; y < h; y += 2 * DCTSIZE) {
		for (int c = 0; c < 3; c++) {
			encode_ycc_rows(&ycc[c], c ? y / 2 : y,
				c ? DCTSIZE : 2 * DCTSIZE, enc->rows + off[c],
				pw[c], rows[c]);
		}
		jpeg_write_raw_data(ci, planes, 2 * DCTSIZE);
	}
	jpeg_finish_compress(ci);
	return 0;
}

/* What every encode refuses: sizes past the format's limit, bad quality. */
static int encode_check(const struct image *img, enum thumb_format format,
		const struct thumb_spec *spec, char *err, size_t errlen)
{
	uint32_t max_side = format == THUMB_FORMAT_WEBP ? WEBP_MAX_DIMENSION :
		JPEG_MAX_DIMENSION;

	if (img->width == 0 || img->height == 0 || img->width > max_side ||
			img->height > max_side) {
		errtext_set(err, errlen, "cannot encode %ux%u as %s (limit %u)",
			img->width, img->height,
			format == THUMB_FORMAT_WEBP ? "WebP" : "JPEG", max_side);
		return -EINVAL;
	}
	if (spec->quality < 1 || spec->quality > 100) {
		errtext_set(err, errlen, "quality %u is not 1-100", spec->quality);
		return -EINVAL;
	}
	return 0;
}

int encoder_run_ycc(struct encoder *enc, const struct image *ycc,
		const struct thumb_spec *spec, const uint8_t **out,
		size_t *out_len, char *err, size_t errlen)
{
	int r = encode_check(&ycc[0], THUMB_FORMAT_JPEG, spec, err, errlen);

	if (r < 0) {
		return r;
	}
	r = encode_jpeg_ycc(enc, ycc, spec, err, errlen);
	if (r == 0) {
		*out = enc->buf;
		*out_len = enc->len;
	}
	return r;
}

static const char *encode_webp_reason(WebPEncodingError e)
{
	switch (e) {
	case VP8_ENC_ERROR_OUT_OF_MEMORY:
	case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY:
		return "out of memory";
	case VP8_ENC_ERROR_BAD_DIMENSION:
		return "bad dimensions";
	case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
	case VP8_ENC_ERROR_PARTITION_OVERFLOW:
		return "partition overflow";
	case VP8_ENC_ERROR_FILE_TOO_BIG:
		return "file too big";
	default:
		return "encoder error";
	}
}

static int encode_webp(struct encoder *enc, const struct image *img,
		const struct thumb_spec *spec, char *err, size_t errlen)
{
	WebPConfig cfg;
	WebPPicture pic;
	int ok;

	if (!WebPConfigPreset(&cfg, WEBP_PRESET_DEFAULT, (float)spec->quality) ||
			!WebPPictureInit(&pic)) {
		errtext_set(err, errlen, "WebP encoder: library version mismatch");
		return -EINVAL;
	}
	cfg.method = ENCODE_WEBP_METHOD;
	/* workers are one process per core: no extra threads */
	cfg.thread_level = 0;
	if (spec->webp_lossless) {
		cfg.lossless = 1;
		cfg.quality = ENCODE_WEBP_LOSSLESS_EFFORT;
	}
	pic.width = (int)img->width;
	pic.height = (int)img->height;
	/* lossy goes straight from RGB to YUV; lossless works on ARGB */
	pic.use_argb = cfg.lossless;
	ok = img->channels == 4 ?
		WebPPictureImportRGBA(&pic, img->px, (int)img->stride) :
		WebPPictureImportRGB(&pic, img->px, (int)img->stride);
	if (!ok) {
		WebPPictureFree(&pic);
		errtext_set(err, errlen, "WebP encoder: out of memory");
		return -ENOMEM;
	}
	/* keep the writer's buffer: only the length starts over */
	enc->webp.size = 0;
	pic.writer = WebPMemoryWrite;
	pic.custom_ptr = &enc->webp;
	ok = WebPEncode(&cfg, &pic);
	WebPPictureFree(&pic);
	if (!ok) {
		errtext_set(err, errlen, "WebP encoder: %s",
			encode_webp_reason(pic.error_code));
		return pic.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ||
			pic.error_code == VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY ?
			-ENOMEM : -EIO;
	}
	return 0;
}

int encoder_run(struct encoder *enc, const struct image *img,
		enum thumb_format format, const struct thumb_spec *spec,
		const uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	int r;

	if (img->channels != 3 && img->channels != 4) {
		errtext_set(err, errlen, "cannot encode %u channels", img->channels);
		return -EINVAL;
	}
	r = encode_check(img, format, spec, err, errlen);
	if (r < 0) {
		return r;
	}
	if (format == THUMB_FORMAT_JPEG) {
		r = encode_jpeg(enc, img, spec, err, errlen);
		if (r == 0) {
			*out = enc->buf;
			*out_len = enc->len;
		}
		return r;
	}
	if (format == THUMB_FORMAT_WEBP) {
		r = encode_webp(enc, img, spec, err, errlen);
		if (r == 0) {
			*out = enc->webp.mem;
			*out_len = enc->webp.size;
		}
		return r;
	}
	errtext_set(err, errlen, "unknown output format %d", (int)format);
	return -EINVAL;
}
