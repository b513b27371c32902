#include "decode.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "exif.h"
#include "geometry.h"
#include "jpeg_scans.h"
#include "sniff.h"

/*
 * The JPEG decoder: a bounded marker walk first (jpeg_scans.c) so every
 * limit is checked before libjpeg allocates, then libjpeg-turbo at the
 * largest DCT reduction that still covers the biggest output.
 *
 * A progressive file decoded at 1/8 goes through a copy holding only the
 * scans a 1/8 decode reads (the DC passes, and for 4:2:0 the chroma AC,
 * see jpeg_dec_keep_ac). Measured against a plain libjpeg decode at the
 * same scale (best CPU time of 5 runs, KDE wallpapers): 4.4-9.6x faster
 * on progressive 4:4:4 and 4:2:2 photos (5120x2880 Volna: 5.7 -> 54.7
 * img/s), 3.6-6.7x on progressive 4:2:0, and the same pixels. Baseline
 * files run at the plain decoder's speed (within 2%): libjpeg-turbo
 * already skips unneeded AC work there and entropy decoding dominates.
 *
 * The image is decoded into the decoder's own buffer and swapped into
 * the caller's on success, so a failed job leaves @out as it was; the two
 * buffers trade places and stop growing once both fit the largest job.
 *
 * Real cameras write files that draw a warning or two ("extraneous bytes
 * before marker"); a hostile file can draw one per block. Past this many
 * the file is called corrupt, which bounds the time spent on it.
 */
#define JPEG_DEC_MAX_WARNINGS 1000

/* Rows handed to jpeg_read_scanlines() per call: more than any row group
 * (at most 4 * 8 lines unscaled), so libjpeg never stops short for us. */
#define JPEG_DEC_ROWS 32

/*
 * The coefficient arena is kept between jobs up to this size; a larger
 * one (only possible with max_memory above it, or 0) is given back after
 * its job so one huge file does not pin the memory for good.
 */
#define JPEG_DEC_ARENA_KEEP (256u << 20)
#define JPEG_DEC_ALIGN 64

struct jpeg_dec {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;
	struct jpeg_progress_mgr progress;
	jmp_buf jmp;
	/* for the callbacks during one job */
	uint32_t max_scans;
	uint64_t max_memory;
	uint32_t warnings;
	int fail;
	char reason[192];
	/* kept between jobs, grown only */
	uint8_t *filter;      /* the DC-only copy of a progressive file */
	size_t filter_cap;
	uint8_t *cmyk;        /* CMYK rows before conversion to RGB */
	size_t cmyk_cap;
	uint8_t *arena;       /* libjpeg's coefficient arrays, see below */
	size_t arena_cap;
	struct jvirt_barray_control *barrays; /* this job's, in the arena */
	void (*lib_realize)(j_common_ptr cinfo);
	struct image img;     /* decoded here, swapped out on success */
};

static void jpeg_dec_set_reason(struct jpeg_dec *dec, int fail,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void jpeg_dec_set_reason(struct jpeg_dec *dec, int fail,
		const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dec->reason, sizeof(dec->reason), fmt, ap);
	va_end(ap);
	dec->fail = fail;
}

/* libjpeg's own message, for the few errors named after it. */
static void jpeg_dec_library_reason(struct jpeg_dec *dec, int fail,
		const char *prefix)
{
	char msg[JMSG_LENGTH_MAX];

	dec->jerr.format_message((j_common_ptr)&dec->cinfo, msg);
	jpeg_dec_set_reason(dec, fail, "%s%s", prefix, msg);
}

/*
 * Turn a libjpeg error code into thumbd's classes. Anything not listed is
 * damage in the data, named with libjpeg's text so a user can search it.
 */
static void jpeg_dec_classify(struct jpeg_dec *dec, int code)
{
	switch (code) {
	case JERR_OUT_OF_MEMORY:
		jpeg_dec_set_reason(dec, -ENOMEM, "out of memory");
		break;
	case JERR_NO_BACKING_STORE:
		/* libjpeg wants more than max_memory_to_use allows */
		jpeg_dec_set_reason(dec, -E2BIG,
			"needs more than max_memory %llu bytes",
			(unsigned long long)dec->max_memory);
		break;
	case JERR_INPUT_EMPTY:
	case JERR_INPUT_EOF:
		jpeg_dec_set_reason(dec, -EBADMSG, "truncated JPEG");
		break;
	case JERR_NO_SOI:
		jpeg_dec_set_reason(dec, -EMEDIUMTYPE, "not a JPEG");
		break;
	case JERR_IMAGE_TOO_BIG:
	case JERR_WIDTH_OVERFLOW:
		jpeg_dec_library_reason(dec, -E2BIG, "");
		break;
	case JERR_BAD_PRECISION:
	case JERR_SOF_UNSUPPORTED:
	case JERR_CONVERSION_NOTIMPL:
	case JERR_NOT_COMPILED:
		jpeg_dec_library_reason(dec, -EMEDIUMTYPE, "unsupported JPEG: ");
		break;
	default:
		jpeg_dec_library_reason(dec, -EBADMSG, "corrupt JPEG: ");
		break;
	}
}

static void jpeg_dec_error_exit(j_common_ptr cinfo)
{
	struct jpeg_dec *dec = cinfo->client_data;

	jpeg_dec_classify(dec, cinfo->err->msg_code);
	longjmp(dec->jmp, 1);
}

/*
 * Warnings (level -1) are counted, never printed; the end of the data
 * inside an image means a truncated file, which is an error for thumbd
 * (libjpeg would pad it with grey). Trace messages (level >= 0) are
 * dropped.
 */
static void jpeg_dec_emit_message(j_common_ptr cinfo, int level)
{
	struct jpeg_dec *dec = cinfo->client_data;

	if (level >= 0) {
		return;
	}
	if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
		jpeg_dec_set_reason(dec, -EBADMSG, "truncated JPEG");
		longjmp(dec->jmp, 1);
	}
	if (++dec->warnings >= JPEG_DEC_MAX_WARNINGS) {
		jpeg_dec_set_reason(dec, -EBADMSG, "corrupt JPEG data");
		longjmp(dec->jmp, 1);
	}
}

static void jpeg_dec_output_message(j_common_ptr cinfo)
{
	(void)cinfo;
}

/*
 * A second guard on the scan count, in case a file gets past the marker
 * walk with more scans than it counted: libjpeg calls this while it
 * absorbs a multi-scan file.
 */
static void jpeg_dec_progress(j_common_ptr cinfo)
{
	struct jpeg_dec *dec = cinfo->client_data;
	j_decompress_ptr d = (j_decompress_ptr)cinfo;

	if (dec->max_scans && d->input_scan_number > 0 &&
			(uint32_t)d->input_scan_number > dec->max_scans) {
		jpeg_dec_set_reason(dec, -E2BIG,
			"%d scans exceeds max_scans %u", d->input_scan_number,
			dec->max_scans);
		longjmp(dec->jmp, 1);
	}
}

/*
 * libjpeg's virtual block arrays, kept in our arena. A progressive or
 * multi-scan file is held whole as coefficients (128 bytes a block: 88 MB
 * for a 5120x2880 4:4:4 photo), and libjpeg allocates that per image.
 * glibc serves blocks that large with mmap, so every job paid for page
 * faults and munmap: with other jobs in between, the DC-only decode of
 * that photo ran at 20 img/s, and at 36 from a buffer that stays between
 * jobs. So the steady state allocates nothing large.
 *
 * libjpeg reaches these arrays only through the request, realize and
 * access methods of cinfo->mem, which are replaced; its own copy of this
 * opaque struct lives in jmemmgr.c and never sees ours. Everything is in
 * memory, so max_memory_to_use (which in libjpeg bounds only these arrays)
 * is checked here.
 */
struct jvirt_barray_control {
	JBLOCKARRAY rows;
	JDIMENSION blocksperrow;
	JDIMENSION numrows;
	JDIMENSION first_undef;  /* rows below this were written or zeroed */
	boolean pre_zero;
	struct jvirt_barray_control *next;
};

static jvirt_barray_ptr jpeg_dec_request_barray(j_common_ptr cinfo,
		int pool_id, boolean pre_zero, JDIMENSION blocksperrow,
		JDIMENSION numrows, JDIMENSION maxaccess)
{
	struct jpeg_dec *dec = cinfo->client_data;
	struct jvirt_barray_control *a;

	(void)maxaccess;
	if (pool_id != JPOOL_IMAGE) {
		ERREXIT1(cinfo, JERR_BAD_POOL_ID, pool_id);
	}
	/* the small pool is freed by jpeg_abort: the list is reset per job */
	a = cinfo->mem->alloc_small(cinfo, pool_id, sizeof(*a));
	a->rows = NULL;
	a->blocksperrow = blocksperrow;
	a->numrows = numrows;
	a->first_undef = 0;
	a->pre_zero = pre_zero;
	a->next = dec->barrays;
	dec->barrays = a;
	return a;
}

static size_t jpeg_dec_align(size_t n)
{
	return (n + JPEG_DEC_ALIGN - 1) & ~(size_t)(JPEG_DEC_ALIGN - 1);
}

/* Bytes one array takes in the arena, or SIZE_MAX if absurd. */
static size_t jpeg_dec_barray_size(const struct jvirt_barray_control *a)
{
	size_t rows, blocks;

	if (__builtin_mul_overflow((size_t)a->numrows, sizeof(JBLOCKROW),
			&rows) ||
			__builtin_mul_overflow((size_t)a->numrows,
				(size_t)a->blocksperrow, &blocks) ||
			__builtin_mul_overflow(blocks, sizeof(JBLOCK), &blocks) ||
			blocks > SIZE_MAX / 2 || rows > SIZE_MAX / 4) {
		return SIZE_MAX;
	}
	return jpeg_dec_align(rows) + jpeg_dec_align(blocks);
}

static void jpeg_dec_realize(j_common_ptr cinfo)
{
	struct jpeg_dec *dec = cinfo->client_data;
	size_t total = 0, off = 0;

	dec->lib_realize(cinfo);
	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		size_t n = jpeg_dec_barray_size(a);
		/* total stays below SIZE_MAX / 2 until it saturates */
		if (n == SIZE_MAX || n > SIZE_MAX / 2 - total) {
			total = SIZE_MAX;
			break;
		}
		total += n;
	}
	if (total == SIZE_MAX ||
			(dec->max_memory && total > dec->max_memory)) {
		jpeg_dec_classify(dec, JERR_NO_BACKING_STORE);
		longjmp(dec->jmp, 1);
	}
	/* aligned_alloc: the SIMD IDCTs read whole blocks */
	if (total > dec->arena_cap) {
		uint8_t *p = aligned_alloc(JPEG_DEC_ALIGN, total);
		if (!p) {
			jpeg_dec_set_reason(dec, -ENOMEM,
				"out of memory for %zu bytes of coefficients",
				total);
			longjmp(dec->jmp, 1);
		}
		free(dec->arena);
		dec->arena = p;
		dec->arena_cap = total;
	}
	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		size_t rows = jpeg_dec_align((size_t)a->numrows *
			sizeof(JBLOCKROW));
		size_t row_bytes = (size_t)a->blocksperrow * sizeof(JBLOCK);
		uint8_t *blocks = dec->arena + off + rows;
		a->rows = (JBLOCKARRAY)(void *)(dec->arena + off);
		for (JDIMENSION y = 0; y < a->numrows; y++) {
			a->rows[y] = (JBLOCKROW)(void *)(blocks + y * row_bytes);
		}
		off += jpeg_dec_barray_size(a);
	}
}

/*
 * As jmemmgr.c does it: rows are zeroed when first reached, not all at
 * realize time, so the zeroing happens while the rows are in cache for
 * the decoder rather than in a pass of its own over the whole array.
 * A row is never read before it was written or zeroed in this job, so
 * nothing of an earlier job's image can leak into this one.
 */
static JBLOCKARRAY jpeg_dec_access_barray(j_common_ptr cinfo,
		jvirt_barray_ptr a, JDIMENSION start_row, JDIMENSION num_rows,
		boolean writable)
{
	JDIMENSION end = start_row + num_rows;

	if (!a->rows || start_row > a->numrows ||
			num_rows > a->numrows - start_row) {
		ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
	}
	if (a->first_undef < end) {
		JDIMENSION undef = a->first_undef;
		if (undef < start_row) {
			/* a writer may not skip rows; a reader may look ahead */
			if (writable) {
				ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
			}
			undef = start_row;
		}
		if (writable) {
			a->first_undef = end;
		}
		if (!a->pre_zero && !writable) {
			ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
		}
		if (a->pre_zero) {
			/* the rows of one array are contiguous in the arena */
			memset(a->rows[undef], 0, (size_t)(end - undef) *
				a->blocksperrow * sizeof(JBLOCK));
		}
	}
	return a->rows + start_row;
}

/* jpeg_create_decompress can only fail to allocate, through error_exit. */
static int jpeg_dec_create_lib(struct jpeg_dec *dec)
{
	if (setjmp(dec->jmp)) {
		jpeg_destroy_decompress(&dec->cinfo);
		return -ENOMEM;
	}
	jpeg_create_decompress(&dec->cinfo);
	return 0;
}

struct jpeg_dec *jpeg_dec_create(void)
{
	struct jpeg_dec *dec = calloc(1, sizeof(*dec));

	if (!dec) {
		return NULL;
	}
	dec->cinfo.err = jpeg_std_error(&dec->jerr);
	dec->jerr.error_exit = jpeg_dec_error_exit;
	dec->jerr.emit_message = jpeg_dec_emit_message;
	dec->jerr.output_message = jpeg_dec_output_message;
	dec->cinfo.client_data = dec;
	if (jpeg_dec_create_lib(dec) < 0) {
		free(dec);
		return NULL;
	}
	/* jpeg_create_decompress clears client_data along with the rest */
	dec->cinfo.client_data = dec;
	dec->progress.progress_monitor = jpeg_dec_progress;
	dec->cinfo.progress = &dec->progress;
	dec->lib_realize = dec->cinfo.mem->realize_virt_arrays;
	dec->cinfo.mem->request_virt_barray = jpeg_dec_request_barray;
	dec->cinfo.mem->realize_virt_arrays = jpeg_dec_realize;
	dec->cinfo.mem->access_virt_barray = jpeg_dec_access_barray;
	return dec;
}

void jpeg_dec_destroy(struct jpeg_dec *dec)
{
	if (!dec) {
		return;
	}
	jpeg_destroy_decompress(&dec->cinfo);
	image_finish(&dec->img);
	free(dec->filter);
	free(dec->cmyk);
	free(dec->arena);
	free(dec);
}

static int jpeg_dec_grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap) {
		return 0;
	}
	uint8_t *p = malloc(need);
	if (!p) {
		return -ENOMEM;
	}
	free(*buf);
	*buf = p;
	*cap = need;
	return 0;
}

/* x / 255 rounded, exact for 0 <= x <= 255 * 255 */
static inline uint32_t jpeg_dec_div255(uint32_t x)
{
	x += 128;
	return (x + (x >> 8)) >> 8;
}

/*
 * CMYK to RGB by the naive formula R = (1 - C)(1 - K). Files with an
 * Adobe APP14 marker (Photoshop, ImageMagick, libjpeg itself) store the
 * values inverted, 255 meaning no ink, so there R = C * K / 255.
 */
static void jpeg_dec_cmyk_row(const uint8_t *src, uint8_t *dst, uint32_t w,
		bool inverted)
{
	for (uint32_t x = 0; x < w; x++, src += 4, dst += 3) {
		uint32_t c = src[0], m = src[1], y = src[2], k = src[3];
		if (!inverted) {
			c = 255 - c;
			m = 255 - m;
			y = 255 - y;
			k = 255 - k;
		}
		dst[0] = (uint8_t)jpeg_dec_div255(c * k);
		dst[1] = (uint8_t)jpeg_dec_div255(m * k);
		dst[2] = (uint8_t)jpeg_dec_div255(y * k);
	}
}

/*
 * Scanlines go straight into the image rows, JPEG_DEC_ROWS pointers per
 * call; only CMYK goes through a row buffer for the conversion. Called
 * under the setjmp of jpeg_dec_libjpeg().
 */
static int jpeg_dec_read_rows(struct jpeg_dec *dec)
{
	struct jpeg_decompress_struct *ci = &dec->cinfo;
	struct image *img = &dec->img;
	bool cmyk = ci->out_color_space == JCS_CMYK;
	JSAMPROW rows[JPEG_DEC_ROWS];
	int r;

	r = image_reserve(img, ci->output_width, ci->output_height, 3);
	if (r == 0 && cmyk) {
		r = jpeg_dec_grow(&dec->cmyk, &dec->cmyk_cap,
			(size_t)ci->output_width * 4 * JPEG_DEC_ROWS);
	}
	if (r < 0) {
		jpeg_dec_set_reason(dec, r, "out of memory for %ux%u pixels",
			ci->output_width, ci->output_height);
		return r;
	}
	while (ci->output_scanline < ci->output_height) {
		uint32_t y = ci->output_scanline;
		uint32_t n = ci->output_height - y;
		n = n < JPEG_DEC_ROWS ? n : JPEG_DEC_ROWS;
		for (uint32_t i = 0; i < n; i++) {
			rows[i] = cmyk ?
				dec->cmyk + (size_t)i * ci->output_width * 4 :
				img->px + (size_t)(y + i) * img->stride;
		}
		JDIMENSION got = jpeg_read_scanlines(ci, rows, n);
		for (uint32_t i = 0; cmyk && i < got; i++) {
			jpeg_dec_cmyk_row(rows[i], img->px +
				(size_t)(y + i) * img->stride,
				ci->output_width, ci->saw_Adobe_marker);
		}
		if (got == 0) {
			/* only a suspending source returns no rows */
			jpeg_dec_set_reason(dec, -EBADMSG, "truncated JPEG");
			return -EBADMSG;
		}
	}
	return 0;
}

/*
 * JDCT_ISLOW and fancy upsampling, chosen by measurement on the KDE
 * wallpapers (2560x1600 and 5120x2880; best CPU time of 7 runs, PSNR
 * against a full-size decode box-filtered to the same size):
 *  - At 1/2, 1/4 and 1/8 the choice costs nothing: every setting ran
 *    within 2% (5120x2880 4:2:2 at 1/2: 21.2 ms ISLOW+fancy, 20.8 ms
 *    IFAST without fancy). Entropy decoding dominates, and the reduced
 *    IDCTs (4x4, 2x2, 1x1) are the same whatever dct_method says.
 *  - Quality differs where an 8x8 IDCT or an upsampler still runs:
 *    4:2:0 chroma at 1/2 drops from 52.0 to 46.6 dB with IFAST;
 *    4:2:2 without fancy upsampling drops from 47.7 to 45.2 dB at 1/2
 *    and from 43.9 to 42.0 dB at 1/4. (At 1/8 libjpeg turns fancy
 *    upsampling off by itself.)
 *  - Only full-size decodes get faster (IFAST 3%, no fancy 5-8%), and
 *    thumbd decodes at full size only images already close to the box.
 */
static void jpeg_dec_set_params(struct jpeg_decompress_struct *ci,
		uint32_t denom)
{
	ci->scale_num = 1;
	ci->scale_denom = denom;
	ci->dct_method = JDCT_ISLOW;
	ci->do_fancy_upsampling = TRUE;
	/*
	 * Block smoothing only guesses missing AC coefficients of an
	 * unfinished progressive file, which thumbd rejects as truncated;
	 * for the DC-only copy the 1x1 IDCT ignores AC anyway. Off, it
	 * saves a pass over the coefficients.
	 */
	ci->do_block_smoothing = FALSE;
	ci->out_color_space = ci->jpeg_color_space == JCS_CMYK ||
		ci->jpeg_color_space == JCS_YCCK ? JCS_CMYK : JCS_RGB;
}

/* Ready the libjpeg object for the next job, keeping its tables. */
static void jpeg_dec_end(struct jpeg_dec *dec)
{
	jpeg_abort_decompress(&dec->cinfo);
	dec->barrays = NULL;
	if (dec->arena_cap > JPEG_DEC_ARENA_KEEP) {
		free(dec->arena);
		dec->arena = NULL;
		dec->arena_cap = 0;
	}
}

/* Every libjpeg call of a job, under one setjmp. */
static int jpeg_dec_libjpeg(struct jpeg_dec *dec, const uint8_t *src,
		size_t len, uint32_t denom)
{
	struct jpeg_decompress_struct *ci = &dec->cinfo;
	int r;

	dec->barrays = NULL;
	if (setjmp(dec->jmp)) {
		jpeg_dec_end(dec);
		return dec->fail;
	}
	ci->mem->max_memory_to_use = dec->max_memory > LONG_MAX ? LONG_MAX :
		(long)dec->max_memory;
	jpeg_mem_src(ci, src, (unsigned long)len);
	jpeg_read_header(ci, TRUE);
	switch (ci->jpeg_color_space) {
	case JCS_GRAYSCALE:
	case JCS_YCbCr:
	case JCS_RGB:
	case JCS_CMYK:
	case JCS_YCCK:
		break;
	default:
		jpeg_dec_set_reason(dec, -EMEDIUMTYPE,
			"unsupported JPEG colour space (%d components)",
			ci->num_components);
		jpeg_dec_end(dec);
		return -EMEDIUMTYPE;
	}
	jpeg_dec_set_params(ci, denom);
	jpeg_start_decompress(ci);
	r = jpeg_dec_read_rows(dec);
	jpeg_dec_end(dec);
	return r;
}

/*
 * The components whose AC coefficients a 1/8 decode still reads. libjpeg
 * (jdmaster.c, jpeg_calc_output_dimensions) scales a subsampled component
 * up through a larger IDCT rather than upsample it: in a 4:2:0 file the
 * chroma gets a 2x2 IDCT, which reads the lowest AC terms. Dropping those
 * scans would blur the chroma; keeping them keeps the DC-only decode equal
 * to the full one, and chroma AC is a small part of a file. Measured on
 * 2560x1600 4:2:0 photos made progressive with jpegtran: dropping them too
 * would be about twice as fast again, but only 37-40 dB PSNR against the
 * full 1/8 decode (max error 55), where keeping them is exact.
 */
static uint32_t jpeg_dec_keep_ac(const struct jpeg_scans *s)
{
	uint32_t hmax = 1, vmax = 1, keep = 0;
	uint32_t n = s->components < JPEG_SCANS_MAX_COMPONENTS ?
		s->components : JPEG_SCANS_MAX_COMPONENTS;

	for (uint32_t c = 0; c < n; c++) {
		hmax = s->h_samp[c] > hmax ? s->h_samp[c] : hmax;
		vmax = s->v_samp[c] > vmax ? s->v_samp[c] : vmax;
	}
	for (uint32_t c = 0; c < n; c++) {
		uint32_t h = s->h_samp[c] ? s->h_samp[c] : 1;
		uint32_t v = s->v_samp[c] ? s->v_samp[c] : 1;
		/* the first doubling of libjpeg's loop, from a 1x1 IDCT */
		if (hmax % (h * 2) == 0 && vmax % (v * 2) == 0) {
			keep |= 1u << c;
		}
	}
	return keep;
}

/*
 * The header checks, in the order a user is best served by: what the
 * file is, then the limits (from the header, before libjpeg allocates),
 * then damage.
 */
static int jpeg_dec_check(struct jpeg_dec *dec, const uint8_t *data,
		size_t len, const struct thumb_limits *lim, struct jpeg_scans *s)
{
	const char *why = NULL;
	int r;

	if (lim->max_file_size && len > lim->max_file_size) {
		jpeg_dec_set_reason(dec, -E2BIG,
			"%zu bytes exceeds max_file_size %llu", len,
			(unsigned long long)lim->max_file_size);
		return dec->fail;
	}
	if (len == 0) {
		jpeg_dec_set_reason(dec, -EMEDIUMTYPE, "empty file");
		return dec->fail;
	}
	r = jpeg_scans_parse(data, len, s, &why);
	enum sniff_format f = r == -EMEDIUMTYPE ? sniff_format(data, len) :
		SNIFF_JPEG;
	if (f != SNIFF_JPEG && f != SNIFF_UNKNOWN) {
		jpeg_dec_set_reason(dec, r, "not a JPEG (%s data)",
			sniff_name(f));
		return r;
	}
	if (r < 0) {
		jpeg_dec_set_reason(dec, r, "%s", why);
		return r;
	}
	if (!s->sof) {
		jpeg_dec_set_reason(dec, -EBADMSG, "%s", s->truncated ?
			"truncated JPEG" : "corrupt JPEG: no frame header");
		return dec->fail;
	}
	if (lim->max_pixels &&
			(uint64_t)s->width * s->height > lim->max_pixels) {
		jpeg_dec_set_reason(dec, -E2BIG, "%ux%u exceeds max_pixels %llu",
			s->width, s->height,
			(unsigned long long)lim->max_pixels);
		return dec->fail;
	}
	if (lim->max_scans && s->n_scans > lim->max_scans) {
		jpeg_dec_set_reason(dec, -E2BIG, "%u scans exceeds max_scans %u",
			s->n_scans, lim->max_scans);
		return dec->fail;
	}
	if (s->truncated) {
		jpeg_dec_set_reason(dec, -EBADMSG, "truncated JPEG");
		return dec->fail;
	}
	return 0;
}

int jpeg_dec_run(struct jpeg_dec *dec, const uint8_t *data, size_t len,
		const struct thumb_spec *spec, struct image *out,
		struct decode_info *info, char *err, size_t errlen)
{
	struct jpeg_scans s;
	uint32_t need_w, need_h, denom;
	const uint8_t *src = data;
	size_t src_len;
	int orientation, r;
	bool dc_only;

	dec->fail = 0;
	dec->warnings = 0;
	dec->reason[0] = '\0';
	dec->max_scans = spec->limits.max_scans;
	dec->max_memory = spec->limits.max_memory;
	r = jpeg_dec_check(dec, data, len, &spec->limits, &s);
	if (r < 0) {
		goto fail;
	}
	src_len = s.end;
	orientation = s.exif ? exif_orientation(s.exif, s.exif_len) : 1;
	decode_need(s.width, s.height, orientation, spec, &need_w, &need_h);
	denom = geometry_jpeg_denom(s.width, s.height, need_w, need_h);
	dc_only = s.progressive && denom == 8;
	if (dc_only) {
		/* sized exactly: the DC scans are a small part of the file,
		 * and this buffer stays with the worker */
		uint32_t keep = jpeg_dec_keep_ac(&s);
		src_len = jpeg_scans_filter_dc(data, s.end, &s, keep, NULL);
		if (jpeg_dec_grow(&dec->filter, &dec->filter_cap,
				src_len) < 0) {
			r = -ENOMEM;
			jpeg_dec_set_reason(dec, r, "out of memory");
			goto fail;
		}
		src_len = jpeg_scans_filter_dc(data, s.end, &s, keep,
			dec->filter);
		src = dec->filter;
	}
	r = jpeg_dec_libjpeg(dec, src, src_len, denom);
	if (r < 0) {
		goto fail;
	}
	image_swap(out, &dec->img);
	*info = (struct decode_info){
		.width = s.width,
		.height = s.height,
		.orientation = orientation,
		.scale_denom = denom,
		.progressive = s.progressive,
		.dc_only = dc_only,
	};
	return 0;
fail:
	if (errlen) {
		snprintf(err, errlen, "%s", dec->reason[0] ? dec->reason :
			"JPEG decode failed");
	}
	return r;
}
