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
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "exif.h"
#include "geometry.h"
#include "jpeg_huff.h"
#include "jpeg_scans.h"
#include "sniff.h"

/*
 * The JPEG decoder: a bounded marker walk first (jpeg_scans.c) so every
 * limit is checked before libjpeg allocates, then libjpeg-turbo at the
 * largest DCT reduction that still covers the biggest output.
 *
 * A progressive file decoded at 1/8 goes through a copy holding only the
 * scans a 1/8 decode reads (the DC passes, and for 4:2:0 the chroma AC
 * unless the job is planar, see jpeg_dec_keep_ac). Measured against a
 * plain libjpeg decode at the same scale (best CPU time of 5 runs, KDE
 * wallpapers): 4.4-9.6x faster on progressive 4:4:4 and 4:2:2 photos
 * (5120x2880 Volna: 5.7 -> 54.7 img/s), 3.6-6.7x on progressive 4:2:0
 * with the chroma AC, and the same pixels. In baseline files entropy
 * decoding dominates; jpeg_huff.c does it in place of libjpeg's decoder
 * (1.541 G -> 1.285 G instructions on the benchmark's baseline photos at
 * 1/8, 1.872 G -> 1.442 G at 1/4), and planar jobs gain a few percent
 * more from smaller chroma IDCTs (jpeg_dec_chroma_scale).
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
	uint8_t *arena;       /* windows on libjpeg's coefficient arrays */
	size_t arena_cap;
	uint8_t *scratch;     /* a row being packed, in the arena */
	struct jpeg_dec_row *rows; /* the arrays' rows, compact, see below */
	size_t rows_n;
	size_t rows_bytes;    /* allocated for rows[].data */
	struct jvirt_barray_control *barrays; /* this job's */
	size_t coef_held;     /* bytes this job's arrays hold now */
	size_t coef_peak;     /* and held at most */
	size_t flat_max;      /* see jpeg_dec_set_flat_max */
	bool dc_only;         /* this job reads the DC scans only */
	bool ssse3;
	uint8_t shuf[2][256][16]; /* see jpeg_dec_shuf_init */
	struct jpeg_huff_tables huff; /* jpeg_huff_install's, kept */
	void (*lib_realize)(j_common_ptr cinfo);
	struct image img;     /* decoded here, swapped out on success */
	struct image ycc[3];  /* or here, for a planar job */
	bool want_ycc;        /* this job may come out planar */
	bool planar;          /* and does */
	/* the smallest chroma planes a planar job may come out with */
	uint32_t chroma_w, chroma_h;
	bool chroma_libjpeg;  /* tests: keep libjpeg's chroma IDCT sizes */
	bool huff_libjpeg;    /* tests: libjpeg's own Huffman decoder */
	bool lib_live;        /* cinfo is created */
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
 * libjpeg's virtual block arrays. A progressive or multi-scan file is held
 * whole as coefficients, which libjpeg keeps flat, 128 bytes a block: 88 MB
 * for a 5120x2880 4:4:4 photo, and the worker's RSS was 95 MiB. Most of
 * it is zeros: the DC-only copy of a progressive file sets one term a
 * block, and the KDE wallpapers 4-19 on average. So they are compact,
 * behind the request, realize and access methods of cinfo->mem, which are
 * replaced; libjpeg's own copy of this opaque struct lives in jmemmgr.c
 * and never sees ours.
 *
 * libjpeg uses what an access returns only until its next access to the
 * same array (jdcoefct.c: consume_data takes one iMCU row per component
 * per call and absorbs the whole file before decompress_data reads the
 * rows back in order). So each array has a window of full rows, those of
 * the last access; moving it packs the rows that were written and unpacks
 * the ones asked for, once per row and scan, and once more for output.
 *
 * A row that was written holds its DC terms, one JCOEF a block, then
 * unless every AC term is zero, its blocks: a tag byte, and for a block
 * with AC terms the low bytes of their 64-bit nonzero mask and their
 * values, a byte each when all fit, else two. A row not yet written holds
 * nothing and reads as zeros, so nothing of an earlier job is ever read.
 * SSSE3 shuffles pack and unpack 8 terms at a time (a C loop elsewhere).
 *
 * A progressive DC scan changes coefficient 0 alone (libjpeg refuses one
 * with Ss = 0 and Se > 0, and its DC decoders touch [0] only), so a
 * window written by one loads and stores the DC column only: the DC-only
 * path never looks at an AC term, and a full decode's DC refinement costs
 * a strided copy. Other writes are taken to touch anything: an AC scan's
 * decoder can write past Se in a corrupt file. Each window slot keeps a
 * mask of what may be nonzero in it, so loading clears only what is stale.
 *
 * Measured on the 5120x2880 KDE wallpapers against the flat arrays
 * (release build; median decode time of 83 files in thumbd render -v, 3-5
 * runs, and of 15 in-process runs for the jpegtran'd copies):
 *  - DC-only path (-s 256): the coefficients take 1.2-1.9 MB, not 44-88;
 *    the worker's peak RSS (thumbd --once -w 1) fell from 97 to 12.8 MB.
 *    Faster too, without the flat arrays' memset and cache misses: Flow
 *    24.1 -> 12.9 ms, Volna 17.8 -> 12.2; progressive copies (jpegtran)
 *    of the 4:2:2 ones 17-18 -> 9.5, of the 4:2:0 ones 11-24 -> 10-22.
 *  - Full progressive decode (-s 1024, at 1/4): 2.8-13.4 MB; peak RSS
 *    103 -> 33 MB. Slower by the packing: Flow 124 -> 132 ms (+6%), Volna
 *    150 -> 173 (+15%, nearly all its blocks have AC terms), the others
 *    +11-13%. Packing whole 8-term rows instead would be 2-3x larger.
 *  - Every coefficient set (640x480 noise at quality 100): the flat size
 *    + 6%, of which 2.5 points is the window and scratch row.
 *
 * Rows are malloc'd buffers kept between jobs (row i of a job reuses row i
 * of the last), grown with a quarter of slack and never shrunk, and the
 * windows and a packing scratch row live in an arena kept the same way,
 * so the steady state allocates nothing: glibc serves large blocks with
 * mmap, and paying page faults and munmap per job made the flat arrays'
 * DC-only decode run at 20 img/s instead of 36. All of it is given back
 * after a job that left more than JPEG_DEC_KEEP, so one huge file does
 * not pin the memory for good.
 *
 * Everything is in memory, so max_memory_to_use (which in libjpeg bounds
 * only these arrays) is checked here, against what the job holds as it
 * grows: window rows in use, the scratch row, the row table and the
 * packed rows. A photo whose flat size max_memory would have refused now
 * decodes; a hostile file with every coefficient set still needs about
 * the flat size and is stopped.
 */
#define JPEG_DEC_KEEP (64u << 20)
/* Jobs whose arrays take at most this much flat stay flat (see
 * jpeg_dec_choose_flat): a 2560x1600 4:2:0 photo is 12 MB, a 5120x2880
 * one 44 MB. */
#define JPEG_DEC_FLAT_MAX (16u << 20)
#define JPEG_DEC_ALIGN 64

/* One block packed, at most: its DC, tag, mask, 63 two-byte values. */
#define JPEG_DEC_BLOCK_MAX (2 + 1 + 8 + 2 * (DCTSIZE2 - 1))
/* Tag bits: the block has AC terms; they take one byte each. The low 4
 * bits count the mask bytes that follow (1-8), or are JPEG_DEC_TAG_ALL
 * for all 63 AC terms and no mask. */
#define JPEG_DEC_TAG_NZ 0x40
#define JPEG_DEC_TAG_I8 0x80
#define JPEG_DEC_TAG_ALL 9
#define JPEG_DEC_ALL_AC (~(uint64_t)1)
/* Bytes readable and writable past a packed row: the SIMD code moves
 * 16 at a time. */
#define JPEG_DEC_PAD 16

struct jpeg_dec_row {
	uint8_t *data;   /* kept between jobs, cap + JPEG_DEC_PAD bytes */
	size_t cap;
	size_t len;      /* this job's compact form */
	uint64_t mask;   /* terms nonzero somewhere in the row: 0 for a row
	                    not written, 1 for DCs only, else DCs and blocks */
};

struct jvirt_barray_control {
	JBLOCKARRAY slots;       /* the window, in the arena */
	uint64_t *slot_mask;     /* per slot: what may be nonzero in it */
	struct jpeg_dec_row *rows; /* numrows, in dec->rows */
	JDIMENSION blocksperrow;
	JDIMENSION numrows;
	JDIMENSION maxaccess;
	JDIMENSION slots_used;   /* slots used so far: what is counted */
	JDIMENSION win_start;    /* slots hold rows win_start.. */
	JDIMENSION win_rows;
	JDIMENSION first_undef;  /* rows below this were written */
	boolean pre_zero;
	boolean win_dirty;       /* the window was accessed for writing */
	boolean win_dc;          /* only its DC column is valid */
	boolean whole;           /* the window is the whole array: flat */
	struct jvirt_barray_control *next;
};

static jvirt_barray_ptr jpeg_dec_request_barray(j_common_ptr cinfo,
		int pool_id, boolean pre_zero, JDIMENSION blocksperrow,
		JDIMENSION numrows, JDIMENSION maxaccess)
{
	struct jpeg_dec *dec = cinfo->client_data;
	struct jvirt_barray_control *a;

	if (pool_id != JPOOL_IMAGE) {
		ERREXIT1(cinfo, JERR_BAD_POOL_ID, pool_id);
	}
	/* the small pool is freed by jpeg_abort: the list is reset per job */
	a = cinfo->mem->alloc_small(cinfo, pool_id, sizeof(*a));
	memset(a, 0, sizeof(*a));
	a->blocksperrow = blocksperrow;
	a->numrows = numrows;
	a->maxaccess = maxaccess < numrows ? maxaccess : numrows;
	a->pre_zero = pre_zero;
	a->next = dec->barrays;
	dec->barrays = a;
	return a;
}

static size_t jpeg_dec_align(size_t n)
{
	return (n + JPEG_DEC_ALIGN - 1) & ~(size_t)(JPEG_DEC_ALIGN - 1);
}

/* Bytes one array's window takes in the arena, or SIZE_MAX if absurd. */
static size_t jpeg_dec_window_size(const struct jvirt_barray_control *a)
{
	size_t slots, blocks, packed;

	if (__builtin_mul_overflow((size_t)a->maxaccess,
				sizeof(JBLOCKROW) + sizeof(uint64_t), &slots) ||
			__builtin_mul_overflow((size_t)a->maxaccess,
				(size_t)a->blocksperrow, &blocks) ||
			__builtin_mul_overflow(blocks, sizeof(JBLOCK), &blocks) ||
			__builtin_mul_overflow((size_t)a->blocksperrow,
				(size_t)JPEG_DEC_BLOCK_MAX, &packed) ||
			blocks > SIZE_MAX / 4 || slots > SIZE_MAX / 4 ||
			packed > SIZE_MAX / 4) {
		return SIZE_MAX;
	}
	return jpeg_dec_align(slots) + jpeg_dec_align(blocks);
}

static void jpeg_dec_held(j_common_ptr cinfo, size_t held)
{
	struct jpeg_dec *dec = cinfo->client_data;

	if (dec->max_memory && held > dec->max_memory) {
		ERREXIT(cinfo, JERR_NO_BACKING_STORE);
	}
	dec->coef_held = held;
	dec->coef_peak = held > dec->coef_peak ? held : dec->coef_peak;
}

/* dec->rows has room for @n rows of this job, the new ones empty. */
static int jpeg_dec_rows_reserve(struct jpeg_dec *dec, size_t n)
{
	struct jpeg_dec_row *p;

	if (n <= dec->rows_n) {
		return 0;
	}
	if (n > SIZE_MAX / sizeof(*p)) {
		return -ENOMEM;
	}
	p = realloc(dec->rows, n * sizeof(*p));
	if (!p) {
		return -ENOMEM;
	}
	memset(p + dec->rows_n, 0, (n - dec->rows_n) * sizeof(*p));
	dec->rows = p;
	dec->rows_n = n;
	return 0;
}

/*
 * Small images keep libjpeg's plain layout: packing a row and unpacking it
 * again for every scan costs 7-15% of a full progressive decode, which
 * pays for itself in memory only on large images. (The DC-only path is
 * faster compact at any size: a DC scan packs and unpacks the DC column
 * alone, and the flat arrays would be cleared first.) When all of a job's
 * arrays fit flat_max (and max_memory), each array's window is made the
 * whole array, so it is loaded once (as zeros) and never moves.
 */
static void jpeg_dec_choose_flat(struct jpeg_dec *dec)
{
	size_t flat = 0, n;

	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		if (__builtin_mul_overflow((size_t)a->numrows,
				(size_t)a->blocksperrow, &n) ||
				__builtin_mul_overflow(n, sizeof(JBLOCK), &n) ||
				__builtin_add_overflow(flat, n, &flat)) {
			return;
		}
	}
	if (dec->dc_only || flat > dec->flat_max ||
			(dec->max_memory && flat > dec->max_memory / 2)) {
		return;
	}
	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		a->maxaccess = a->numrows;
		a->whole = TRUE;
	}
}

/* A component's samples at an IDCT of @size, as jdmaster.c counts them. */
static void jpeg_dec_plane_size(const struct jpeg_decompress_struct *ci,
		const jpeg_component_info *comp, int size, JDIMENSION *w,
		JDIMENSION *h)
{
	uint64_t dw = (uint64_t)ci->max_h_samp_factor * DCTSIZE;
	uint64_t dh = (uint64_t)ci->max_v_samp_factor * DCTSIZE;

	*w = (JDIMENSION)(((uint64_t)ci->image_width *
		(uint64_t)comp->h_samp_factor * (uint64_t)size + dw - 1) / dw);
	*h = (JDIMENSION)(((uint64_t)ci->image_height *
		(uint64_t)comp->v_samp_factor * (uint64_t)size + dh - 1) / dh);
}

/*
 * A planar job resizes each plane by itself, so chroma only has to cover
 * the output's chroma, not match Y. libjpeg sizes a subsampled component's
 * IDCT to match Y (a 4:2:0 file at 1/8 gets 2x2 chroma IDCTs, at 1/4 4x4)
 * and a 4:4:4 file's chroma to Y's. Here each chroma IDCT is halved while
 * the plane still covers (chroma_w x chroma_h); a 1x1 IDCT also lets the
 * Huffman decoder skip storing that component's AC coefficients
 * (jdhuff.c: ac_needed is DCT_scaled_size > 1).
 *
 * This runs from realize_virt_arrays, which jdmaster.c's master_selection()
 * calls after jpeg_calc_output_dimensions() and the modules' init, and
 * before the first input pass: every later reader (the entropy decoder's
 * start_pass, jdinput.c's per_scan_setup, the IDCT manager's start_pass,
 * the coefficient controller) takes the size from comp_info then, and a
 * raw-data job has no upsampler that kept the old one. test_jpeg_decode
 * checks the planes against djpeg's.
 *
 * Callgrind, 19 baseline photos at 1/8: 1.609 G -> 1.541 G instructions
 * (the decoder floor's RGB decode: 1.550 G); at 1/4 (detail = fine):
 * 2.046 G -> 1.872 G. Y, and so the thumbnail's luma, is unchanged.
 */
static void jpeg_dec_chroma_scale(struct jpeg_dec *dec)
{
	struct jpeg_decompress_struct *ci = &dec->cinfo;

	for (int c = 1; c < 3; c++) {
		jpeg_component_info *comp = &ci->comp_info[c];
		int size = comp->DCT_scaled_size;
		JDIMENSION w, h;

		while (size > 1) {
			jpeg_dec_plane_size(ci, comp, size / 2, &w, &h);
			if (w < dec->chroma_w || h < dec->chroma_h) {
				break;
			}
			size /= 2;
		}
		if (size != comp->DCT_scaled_size) {
			comp->DCT_scaled_size = size;
			jpeg_dec_plane_size(ci, comp, size,
				&comp->downsampled_width,
				&comp->downsampled_height);
		}
	}
}

/*
 * The arena holds each array's window (row pointers, slot masks, blocks)
 * and one scratch row for packing, as wide as the widest array.
 */
static void jpeg_dec_realize(j_common_ptr cinfo)
{
	struct jpeg_dec *dec = cinfo->client_data;
	size_t total = 0, nrows = 0, widest = 0, held, off, scratch;

	dec->lib_realize(cinfo);
	if (dec->planar) {
		jpeg_dec_chroma_scale(dec);
	}
	if (!dec->huff_libjpeg) {
		jpeg_huff_install(&dec->cinfo, &dec->huff);
	}
	if (!dec->barrays) {
		return;
	}
	jpeg_dec_choose_flat(dec);
	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		size_t n = jpeg_dec_window_size(a);
		/* total stays below SIZE_MAX / 2 until it saturates */
		if (n == SIZE_MAX || n > SIZE_MAX / 2 - total ||
				a->numrows > SIZE_MAX / 4 /
				sizeof(struct jpeg_dec_row) - nrows) {
			total = SIZE_MAX;
			break;
		}
		total += n;
		nrows += a->numrows;
		widest = a->blocksperrow > widest ? a->blocksperrow : widest;
	}
	/* the window size check bounded widest * JPEG_DEC_BLOCK_MAX */
	scratch = jpeg_dec_align(widest * JPEG_DEC_BLOCK_MAX + JPEG_DEC_PAD);
	if (total == SIZE_MAX || scratch > SIZE_MAX / 4 - total) {
		ERREXIT(cinfo, JERR_NO_BACKING_STORE);
	}
	total += scratch;
	/*
	 * libjpeg asks for windows of 5 iMCU rows (room for block smoothing,
	 * which is off) and uses one: window rows count once used, in
	 * jpeg_dec_access_barray.
	 */
	held = scratch + nrows * sizeof(struct jpeg_dec_row);
	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		held += jpeg_dec_align((size_t)a->maxaccess *
			(sizeof(JBLOCKROW) + sizeof(uint64_t)));
	}
	jpeg_dec_held(cinfo, held);
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
	if (jpeg_dec_rows_reserve(dec, nrows) < 0) {
		jpeg_dec_set_reason(dec, -ENOMEM, "out of memory for %zu rows "
			"of coefficients", nrows);
		longjmp(dec->jmp, 1);
	}
	dec->scratch = dec->arena;
	off = scratch;
	nrows = 0;
	for (struct jvirt_barray_control *a = dec->barrays; a; a = a->next) {
		size_t slots = jpeg_dec_align((size_t)a->maxaccess *
			(sizeof(JBLOCKROW) + sizeof(uint64_t)));
		size_t row_bytes = (size_t)a->blocksperrow * sizeof(JBLOCK);
		uint8_t *blocks = dec->arena + off + slots;
		a->slots = (JBLOCKARRAY)(void *)(dec->arena + off);
		a->slot_mask = (uint64_t *)(void *)(a->slots + a->maxaccess);
		for (JDIMENSION i = 0; i < a->maxaccess; i++) {
			a->slots[i] = (JBLOCKROW)(void *)(blocks +
				i * row_bytes);
			/* whatever an earlier job left there */
			a->slot_mask[i] = ~(uint64_t)0;
		}
		a->rows = dec->rows + nrows;
		for (JDIMENSION y = 0; y < a->numrows; y++) {
			a->rows[y].len = 0;
			a->rows[y].mask = 0;
		}
		nrows += a->numrows;
		off += jpeg_dec_window_size(a);
	}
}

/* The mask bytes are stored little-endian, low byte first. */
static inline uint64_t jpeg_dec_le64(uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

/* The tag of a block with AC mask @m (not 0); *nbytes: mask bytes to
 * store after it. */
static inline uint8_t jpeg_dec_block_tag(uint64_t m, bool fits8,
		unsigned *nbytes)
{
	unsigned code = (unsigned)(71 - __builtin_clzll(m)) / 8;

	*nbytes = code;
	if (m == JPEG_DEC_ALL_AC) {
		code = JPEG_DEC_TAG_ALL;
		*nbytes = 0;
	}
	return (uint8_t)(JPEG_DEC_TAG_NZ | (fits8 ? JPEG_DEC_TAG_I8 : 0) |
		code);
}

/* The AC mask of a block whose tag was read; moves @p past it. */
static inline uint64_t jpeg_dec_block_mask_read(unsigned tag,
		const uint8_t **p)
{
	unsigned nbytes = tag & 15;
	uint64_t m;

	if (!tag) {
		return 0;
	}
	if (nbytes == JPEG_DEC_TAG_ALL) {
		return JPEG_DEC_ALL_AC;
	}
	memcpy(&m, *p, 8);
	*p += nbytes;
	return jpeg_dec_le64(m) & (~(uint64_t)0 >> (64 - 8 * nbytes));
}

/*
 * The portable packer, a coefficient at a time. Packs the AC terms of @n
 * blocks at @p, adding them to @row_mask; returns the end.
 */
static uint8_t *jpeg_dec_blocks_pack_c(JBLOCKROW src, JDIMENSION n,
		uint8_t *p, uint64_t *row_mask)
{
	for (JDIMENSION x = 0; x < n; x++) {
		const JCOEF *c = src[x];
		uint64_t m = 0, le;
		unsigned out = 0, nbytes;
		for (int k = 1; k < DCTSIZE2; k++) {
			m |= (uint64_t)(c[k] != 0) << k;
			out |= (uint16_t)(c[k] + 128);
		}
		if (!m) {
			*p++ = 0;
			continue;
		}
		*row_mask |= m;
		/* c + 128 has a high byte unless -128 <= c <= 127 */
		bool fits8 = !(out & 0xff00);
		*p++ = jpeg_dec_block_tag(m, fits8, &nbytes);
		le = jpeg_dec_le64(m);
		memcpy(p, &le, 8);
		p += nbytes;
		for (; m; m &= m - 1) {
			JCOEF v = c[__builtin_ctzll(m)];
			if (fits8) {
				*p++ = (uint8_t)v;
			} else {
				memcpy(p, &v, sizeof(v));
				p += sizeof(v);
			}
		}
	}
	return p;
}

/* Unpacks the AC terms of @n blocks from @p into @dst, every one
 * written, the DCs zero. */
static void jpeg_dec_blocks_unpack_c(const uint8_t *p, JBLOCKROW dst,
		JDIMENSION n)
{
	memset(dst, 0, (size_t)n * sizeof(JBLOCK));
	for (JDIMENSION x = 0; x < n; x++) {
		unsigned tag = *p++;
		uint64_t m = jpeg_dec_block_mask_read(tag, &p);
		for (; m; m &= m - 1) {
			JCOEF v;
			if (tag & JPEG_DEC_TAG_I8) {
				v = (int8_t)*p++;
			} else {
				memcpy(&v, p, sizeof(v));
				p += sizeof(v);
			}
			dst[x][__builtin_ctzll(m)] = v;
		}
	}
}

#if defined(__x86_64__)
/*
 * The same format a block row (8 coefficients) at a time with SSSE3
 * shuffles: no branch per coefficient, and the unpacker writes whole
 * blocks. x86-64 CPUs since 2008 have SSSE3 and POPCNT.
 */
#define JPEG_DEC_SSSE3 __attribute__((target("ssse3,popcnt")))

/* Row @r of a block (@v, AC mask @m) at @p, as bytes where @narrow is
 * all ones, else as JCOEFs (@wide 1). May store 16 bytes. */
JPEG_DEC_SSSE3
static inline uint8_t *jpeg_dec_row8_pack(const struct jpeg_dec *dec,
		__m128i v, uint64_t m, int r, __m128i narrow, unsigned wide,
		uint8_t *p)
{
	unsigned mb = (unsigned)(m >> (8 * r)) & 0xff;
	__m128i s = _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)
		(const void *)dec->shuf[0][mb]));

	s = _mm_or_si128(_mm_and_si128(narrow, _mm_packs_epi16(s, s)),
		_mm_andnot_si128(narrow, s));
	_mm_storeu_si128((__m128i *)(void *)p, s);
	return p + ((unsigned)__builtin_popcount(mb) << wide);
}

/* The reverse, into @c. May load 16 bytes. */
JPEG_DEC_SSSE3
static inline const uint8_t *jpeg_dec_row8_unpack(const struct jpeg_dec *dec,
		__m128i *c, uint64_t m, int r, __m128i narrow, unsigned wide,
		const uint8_t *p)
{
	unsigned mb = (unsigned)(m >> (8 * r)) & 0xff;
	__m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i w8 = _mm_unpacklo_epi8(w,
		_mm_cmpgt_epi8(_mm_setzero_si128(), w));

	w = _mm_or_si128(_mm_and_si128(narrow, w8), _mm_andnot_si128(narrow,
		w));
	_mm_storeu_si128(c + r, _mm_shuffle_epi8(w, _mm_loadu_si128(
		(const __m128i *)(const void *)dec->shuf[1][mb])));
	return p + ((unsigned)__builtin_popcount(mb) << wide);
}

JPEG_DEC_SSSE3
static uint8_t *jpeg_dec_blocks_pack_ssse3(const struct jpeg_dec *dec,
		JBLOCKROW src, JDIMENSION n, uint8_t *p, uint64_t *row_mask)
{
	const __m128i zero = _mm_setzero_si128();
	const __m128i bias = _mm_set1_epi16(128);
	const __m128i high = _mm_set1_epi16((short)0xff00);
	uint64_t all = 0;

	for (JDIMENSION x = 0; x < n; x++) {
		const __m128i *c = (const __m128i *)(const void *)src[x];
		/* the DC is stored apart */
		__m128i v0 = _mm_insert_epi16(_mm_loadu_si128(c), 0, 0);
		__m128i v1 = _mm_loadu_si128(c + 1);
		__m128i v2 = _mm_loadu_si128(c + 2);
		__m128i v3 = _mm_loadu_si128(c + 3);
		__m128i v4 = _mm_loadu_si128(c + 4);
		__m128i v5 = _mm_loadu_si128(c + 5);
		__m128i v6 = _mm_loadu_si128(c + 6);
		__m128i v7 = _mm_loadu_si128(c + 7);
		unsigned nbytes, wide;
		/* saturating: a nonzero JCOEF stays a nonzero byte */
		uint64_t m = ~((uint64_t)(uint16_t)_mm_movemask_epi8(
				_mm_cmpeq_epi8(_mm_packs_epi16(v0, v1), zero)) |
			(uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
				_mm_packs_epi16(v2, v3), zero)) << 16 |
			(uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
				_mm_packs_epi16(v4, v5), zero)) << 32 |
			(uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
				_mm_packs_epi16(v6, v7), zero)) << 48);

		if (!m) {
			/* DC only: half the blocks of a smooth image */
			*p++ = 0;
			continue;
		}
		all |= m;
		/* c + 128 has a high byte unless -128 <= c <= 127 */
		__m128i out = _mm_add_epi16(v0, bias);
		out = _mm_or_si128(out, _mm_add_epi16(v1, bias));
		out = _mm_or_si128(out, _mm_add_epi16(v2, bias));
		out = _mm_or_si128(out, _mm_add_epi16(v3, bias));
		out = _mm_or_si128(out, _mm_add_epi16(v4, bias));
		out = _mm_or_si128(out, _mm_add_epi16(v5, bias));
		out = _mm_or_si128(out, _mm_add_epi16(v6, bias));
		out = _mm_or_si128(out, _mm_add_epi16(v7, bias));
		bool fits8 = _mm_movemask_epi8(_mm_cmpeq_epi16(
			_mm_and_si128(out, high), zero)) == 0xffff;
		__m128i narrow = fits8 ? _mm_cmpeq_epi16(zero, zero) : zero;
		wide = !fits8;
		*p++ = jpeg_dec_block_tag(m, fits8, &nbytes);
		memcpy(p, &m, 8);
		p += nbytes;
		p = jpeg_dec_row8_pack(dec, v0, m, 0, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v1, m, 1, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v2, m, 2, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v3, m, 3, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v4, m, 4, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v5, m, 5, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v6, m, 6, narrow, wide, p);
		p = jpeg_dec_row8_pack(dec, v7, m, 7, narrow, wide, p);
	}
	*row_mask |= all;
	return p;
}

JPEG_DEC_SSSE3
static void jpeg_dec_blocks_unpack_ssse3(const struct jpeg_dec *dec,
		const uint8_t *p, JBLOCKROW dst, JDIMENSION n)
{
	const __m128i zero = _mm_setzero_si128();

	for (JDIMENSION x = 0; x < n; x++) {
		__m128i *c = (__m128i *)(void *)dst[x];
		unsigned tag = *p++;

		if (!tag) {
			/* not a loop, which GCC makes a slow rep stos */
			_mm_storeu_si128(c, zero);
			_mm_storeu_si128(c + 1, zero);
			_mm_storeu_si128(c + 2, zero);
			_mm_storeu_si128(c + 3, zero);
			_mm_storeu_si128(c + 4, zero);
			_mm_storeu_si128(c + 5, zero);
			_mm_storeu_si128(c + 6, zero);
			_mm_storeu_si128(c + 7, zero);
			continue;
		}
		bool fits8 = tag & JPEG_DEC_TAG_I8;
		__m128i narrow = fits8 ? _mm_cmpeq_epi16(zero, zero) : zero;
		unsigned wide = !fits8;
		uint64_t m = jpeg_dec_block_mask_read(tag, &p);
		p = jpeg_dec_row8_unpack(dec, c, m, 0, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 1, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 2, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 3, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 4, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 5, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 6, narrow, wide, p);
		p = jpeg_dec_row8_unpack(dec, c, m, 7, narrow, wide, p);
	}
}
#endif

/*
 * pshufb controls for 8 JCOEFs and a byte of nonzero mask: shuf[0]
 * squeezes the nonzero ones to the front, shuf[1] spreads them back and
 * zeroes the rest.
 */
static void jpeg_dec_shuf_init(struct jpeg_dec *dec)
{
	memset(dec->shuf, 0x80, sizeof(dec->shuf));
	for (unsigned mb = 0; mb < 256; mb++) {
		for (unsigned j = 0, i = 0; j < 8; j++) {
			if (!(mb >> j & 1)) {
				continue;
			}
			dec->shuf[0][mb][2 * i] = (uint8_t)(2 * j);
			dec->shuf[0][mb][2 * i + 1] = (uint8_t)(2 * j + 1);
			dec->shuf[1][mb][2 * j] = (uint8_t)(2 * i);
			dec->shuf[1][mb][2 * j + 1] = (uint8_t)(2 * i + 1);
			i++;
		}
	}
#if defined(__x86_64__)
	dec->ssse3 = __builtin_cpu_supports("ssse3") &&
		__builtin_cpu_supports("popcnt");
#endif
}

static uint8_t *jpeg_dec_blocks_pack(const struct jpeg_dec *dec,
		JBLOCKROW src, JDIMENSION n, uint8_t *p, uint64_t *row_mask)
{
#if defined(__x86_64__)
	if (dec->ssse3) {
		return jpeg_dec_blocks_pack_ssse3(dec, src, n, p, row_mask);
	}
#endif
	return jpeg_dec_blocks_pack_c(src, n, p, row_mask);
}

static void jpeg_dec_blocks_unpack(const struct jpeg_dec *dec,
		const uint8_t *p, JBLOCKROW dst, JDIMENSION n)
{
#if defined(__x86_64__)
	if (dec->ssse3) {
		jpeg_dec_blocks_unpack_ssse3(dec, p, dst, n);
		return;
	}
#endif
	jpeg_dec_blocks_unpack_c(p, dst, n);
}

/*
 * Room for @len bytes in @r, whose content is not kept. The max_memory
 * check comes first, so a hostile file is stopped before it allocates.
 */
static void jpeg_dec_row_reserve(j_common_ptr cinfo, struct jpeg_dec_row *r,
		size_t len, size_t other)
{
	struct jpeg_dec *dec = cinfo->client_data;
	size_t cap;
	uint8_t *p;

	jpeg_dec_held(cinfo, other + len);
	if (len <= r->cap) {
		return;
	}
	/* a row grows over the scans: room for a quarter more */
	cap = jpeg_dec_align(len + len / 4);
	p = malloc(cap + JPEG_DEC_PAD);
	if (!p) {
		jpeg_dec_set_reason(dec, -ENOMEM,
			"out of memory for %zu bytes of coefficients",
			other + len);
		longjmp(dec->jmp, 1);
	}
	free(r->data);
	dec->rows_bytes += cap - r->cap;
	r->data = p;
	r->cap = cap;
}

/*
 * Window slot @i back into its row. With @dc_only only the DC column is
 * valid in the slot (a DC scan's window), and only it is stored: a
 * row's AC terms, if any, stay as they are.
 */
static void jpeg_dec_row_pack(j_common_ptr cinfo, jvirt_barray_ptr a,
		JDIMENSION i, bool dc_only)
{
	struct jpeg_dec *dec = cinfo->client_data;
	struct jpeg_dec_row *r = &a->rows[a->win_start + i];
	JBLOCKROW src = a->slots[i];
	JDIMENSION n = a->blocksperrow;
	size_t other = dec->coef_held - r->len, dc_len = n * sizeof(JCOEF);
	size_t len = dc_len;
	uint64_t mask = 1;
	JCOEF *dc;

	if (dc_only) {
		/* in place; a row not yet written becomes a DC row */
		mask = r->mask | 1;
		len = r->len > dc_len ? r->len : dc_len;
		jpeg_dec_row_reserve(cinfo, r, len, other);
	} else if (a->slot_mask[i] & ~(uint64_t)1) {
		len = (size_t)(jpeg_dec_blocks_pack(dec, src, n,
			dec->scratch + dc_len, &mask) - dec->scratch);
		if (mask == 1) {
			len = dc_len;
		}
		jpeg_dec_row_reserve(cinfo, r, len, other);
		memcpy(r->data + dc_len, dec->scratch + dc_len, len - dc_len);
		/* now known exactly, which can spare the next unpack a
		 * memset */
		a->slot_mask[i] = mask;
	} else {
		jpeg_dec_row_reserve(cinfo, r, len, other);
	}
	dc = (JCOEF *)(void *)r->data;
	for (JDIMENSION x = 0; x < n; x++) {
		dc[x] = src[x][0];
	}
	r->len = len;
	r->mask = mask;
}

/*
 * Row @y into window slot @i, clearing only what may be stale there; with
 * @dc_only, only its DC column.
 */
static void jpeg_dec_row_unpack(const struct jpeg_dec *dec,
		jvirt_barray_ptr a, JDIMENSION y, JDIMENSION i, bool dc_only)
{
	const struct jpeg_dec_row *r = &a->rows[y];
	const JCOEF *dc = (const JCOEF *)(const void *)r->data;
	JBLOCKROW dst = a->slots[i];
	JDIMENSION n = a->blocksperrow;
	uint64_t stale = a->slot_mask[i];

	if (dc_only) {
		/* the AC terms left in the slot are never read nor stored */
		a->slot_mask[i] = stale | 1;
	} else if (r->mask > 1) {
		a->slot_mask[i] = r->mask;
		jpeg_dec_blocks_unpack(dec, r->data + n * sizeof(JCOEF), dst,
			n);
	} else {
		a->slot_mask[i] = r->mask;
		if (stale & ~(uint64_t)1) {
			memset(dst, 0, (size_t)n * sizeof(JBLOCK));
			stale = 0;
		}
		if (!r->mask && !stale) {
			return;
		}
	}
	for (JDIMENSION x = 0; x < n; x++) {
		dst[x][0] = r->mask ? dc[x] : 0;
	}
}

/*
 * True for a write access in a progressive DC scan, which changes the DC
 * terms alone (see above).
 */
static bool jpeg_dec_dc_write(j_common_ptr cinfo, boolean writable)
{
	j_decompress_ptr d = (j_decompress_ptr)cinfo;

	return writable && cinfo->is_decompressor && d->progressive_mode &&
		d->Ss == 0 && d->Se == 0;
}

/* Stores the window if it was written, then loads @n rows from @start. */
static void jpeg_dec_window_move(j_common_ptr cinfo, jvirt_barray_ptr a,
		JDIMENSION start, JDIMENSION n, bool dc_only)
{
	struct jpeg_dec *dec = cinfo->client_data;

	if (n > a->slots_used) {
		jpeg_dec_held(cinfo, dec->coef_held + (size_t)(n -
			a->slots_used) * a->blocksperrow * sizeof(JBLOCK));
		a->slots_used = n;
	}
	for (JDIMENSION i = 0; a->win_dirty && i < a->win_rows; i++) {
		jpeg_dec_row_pack(cinfo, a, i, a->win_dc);
	}
	for (JDIMENSION i = 0; i < n; i++) {
		jpeg_dec_row_unpack(dec, a, start + i, i, dc_only);
	}
	a->win_dirty = FALSE;
	a->win_dc = dc_only;
	a->win_start = start;
	a->win_rows = n;
}

/*
 * As jmemmgr.c does it: a writer may not skip rows, and a row not yet
 * written reads as zeros only from a pre-zeroed array. Such a row has no
 * compact form in this job (realize emptied them all), so it unpacks as
 * zeros and nothing of an earlier job's image can leak into this one.
 */
static JBLOCKARRAY jpeg_dec_access_barray(j_common_ptr cinfo,
		jvirt_barray_ptr a, JDIMENSION start_row, JDIMENSION num_rows,
		boolean writable)
{
	JDIMENSION end = start_row + num_rows;
	bool dc_write = jpeg_dec_dc_write(cinfo, writable);

	if (!a->slots || start_row > a->numrows ||
			num_rows > a->numrows - start_row ||
			num_rows > a->maxaccess) {
		ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
	}
	if (a->first_undef < end) {
		/* a reader may look ahead */
		if ((writable && a->first_undef < start_row) ||
				(!writable && !a->pre_zero)) {
			ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
		}
		if (writable) {
			a->first_undef = end;
		}
	}
	if (a->whole) {
		if (a->win_rows == 0) {
			jpeg_dec_window_move(cinfo, a, 0, a->numrows, false);
		}
	} else if (start_row < a->win_start ||
			end > a->win_start + a->win_rows ||
			(a->win_dc && !dc_write)) {
		jpeg_dec_window_move(cinfo, a, start_row, num_rows, dc_write);
	}
	if (writable) {
		uint64_t may = dc_write ? 1 : ~(uint64_t)0;
		for (JDIMENSION y = start_row; y < end; y++) {
			a->slot_mask[y - a->win_start] |= may;
		}
		a->win_dirty = TRUE;
	}
	return a->slots + (start_row - a->win_start);
}

/* Gives back the coefficient store, e.g. after a job that grew it past
 * JPEG_DEC_KEEP. */
static void jpeg_dec_store_free(struct jpeg_dec *dec)
{
	for (size_t i = 0; i < dec->rows_n; i++) {
		free(dec->rows[i].data);
	}
	free(dec->rows);
	dec->rows = NULL;
	dec->rows_n = 0;
	dec->rows_bytes = 0;
	free(dec->arena);
	dec->arena = NULL;
	dec->arena_cap = 0;
	dec->scratch = NULL;
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

/*
 * A fresh libjpeg object, for each job. libjpeg keeps the quantization and
 * Huffman tables a file defines for the next image read with the same
 * object (abbreviated streams), so a damaged file lacking one was decoded
 * with the last job's: its thumbnail depended on the file read before.
 * Renewing costs a few small allocations a job.
 */
static int jpeg_dec_renew(struct jpeg_dec *dec)
{
	if (dec->lib_live) {
		jpeg_destroy_decompress(&dec->cinfo);
		dec->lib_live = false;
	}
	dec->cinfo.err = &dec->jerr;
	if (jpeg_dec_create_lib(dec) < 0) {
		return -ENOMEM;
	}
	dec->lib_live = true;
	/* jpeg_create_decompress keeps err and client_data, clears the rest */
	dec->cinfo.progress = &dec->progress;
	dec->lib_realize = dec->cinfo.mem->realize_virt_arrays;
	dec->cinfo.mem->request_virt_barray = jpeg_dec_request_barray;
	dec->cinfo.mem->realize_virt_arrays = jpeg_dec_realize;
	dec->cinfo.mem->access_virt_barray = jpeg_dec_access_barray;
	return 0;
}

struct jpeg_dec *jpeg_dec_create(void)
{
	struct jpeg_dec *dec = calloc(1, sizeof(*dec));

	if (!dec) {
		return NULL;
	}
	dec->flat_max = JPEG_DEC_FLAT_MAX;
	jpeg_std_error(&dec->jerr);
	dec->jerr.error_exit = jpeg_dec_error_exit;
	dec->jerr.emit_message = jpeg_dec_emit_message;
	dec->jerr.output_message = jpeg_dec_output_message;
	dec->cinfo.client_data = dec;
	dec->progress.progress_monitor = jpeg_dec_progress;
	if (jpeg_dec_renew(dec) < 0) {
		free(dec);
		return NULL;
	}
	jpeg_dec_shuf_init(dec);
	jpeg_huff_tables_init(&dec->huff);
	return dec;
}

void jpeg_dec_destroy(struct jpeg_dec *dec)
{
	if (!dec) {
		return;
	}
	if (dec->lib_live) {
		jpeg_destroy_decompress(&dec->cinfo);
	}
	image_finish(&dec->img);
	for (int c = 0; c < 3; c++) {
		image_finish(&dec->ycc[c]);
	}
	free(dec->filter);
	free(dec->cmyk);
	jpeg_dec_store_free(dec);
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
		uint32_t denom, bool planar)
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
	/* planar: the IDCT's output as it is, no upsampling or conversion */
	ci->raw_data_out = planar;
	if (planar) {
		ci->out_color_space = JCS_YCbCr;
	}
}

/*
 * A planar job: jpeg_read_raw_data() hands each component's rows as the
 * IDCT left them, at the component's own (scaled) size. libjpeg writes
 * whole blocks, past the component's width and height, so the planes are
 * decoded with padded rows and packed to their real width afterwards.
 * Called under the setjmp of jpeg_dec_libjpeg().
 */
static int jpeg_dec_read_planes(struct jpeg_dec *dec)
{
	struct jpeg_decompress_struct *ci = &dec->cinfo;
	uint32_t lines = (uint32_t)(ci->max_v_samp_factor *
		ci->min_DCT_scaled_size);
	uint32_t imcu = (ci->output_height + lines - 1) / lines;
	uint32_t pw[3], step[3];
	JSAMPROW rows[3][JPEG_DEC_ROWS];
	JSAMPARRAY planes[3] = { rows[0], rows[1], rows[2] };
	int r = 0;

	for (int c = 0; c < 3 && r == 0; c++) {
		jpeg_component_info *comp = &ci->comp_info[c];
		uint32_t s = (uint32_t)comp->DCT_scaled_size;
		uint32_t hs = (uint32_t)comp->h_samp_factor;
		step[c] = (uint32_t)comp->v_samp_factor * s;
		pw[c] = (comp->width_in_blocks + hs - 1) / hs * hs * s;
		if (step[c] > JPEG_DEC_ROWS || step[c] > lines) {
			/* cannot happen with libjpeg's limits (4 x 8) */
			jpeg_dec_set_reason(dec, -EMEDIUMTYPE,
				"unsupported JPEG sampling");
			return -EMEDIUMTYPE;
		}
		r = image_reserve(&dec->ycc[c], pw[c], imcu * step[c], 1);
	}
	if (r < 0) {
		jpeg_dec_set_reason(dec, r, "out of memory for %ux%u pixels",
			ci->output_width, ci->output_height);
		return r;
	}
	for (uint32_t m = 0; ci->output_scanline < ci->output_height; m++) {
		for (int c = 0; c < 3; c++) {
			for (uint32_t i = 0; i < step[c]; i++) {
				rows[c][i] = dec->ycc[c].px +
					(size_t)(m * step[c] + i) * pw[c];
			}
		}
		if (jpeg_read_raw_data(ci, planes, lines) == 0) {
			/* only a suspending source returns no rows */
			jpeg_dec_set_reason(dec, -EBADMSG, "truncated JPEG");
			return -EBADMSG;
		}
	}
	for (int c = 0; c < 3; c++) {
		struct image *p = &dec->ycc[c];
		uint32_t w = ci->comp_info[c].downsampled_width;
		uint32_t h = ci->comp_info[c].downsampled_height;
		for (uint32_t y = 1; y < h && w < pw[c]; y++) {
			memmove(p->px + (size_t)y * w, p->px + (size_t)y * pw[c],
				w);
		}
		p->width = w;
		p->height = h;
		p->stride = w;
	}
	return 0;
}

/* A job's end: libjpeg frees the image's memory now (the object itself is
 * renewed before the next job, see jpeg_dec_renew). */
static void jpeg_dec_end(struct jpeg_dec *dec)
{
	jpeg_abort_decompress(&dec->cinfo);
	dec->barrays = NULL;
	if (dec->arena_cap + dec->rows_bytes +
			dec->rows_n * sizeof(*dec->rows) > JPEG_DEC_KEEP) {
		jpeg_dec_store_free(dec);
	}
}

/* Whether the job whose header libjpeg has read comes out planar. */
static bool jpeg_dec_planar(const struct jpeg_dec *dec)
{
	const struct jpeg_decompress_struct *ci = &dec->cinfo;

	/* Y must be the full-size plane: odd files sample chroma above it */
	return dec->want_ycc && ci->jpeg_color_space == JCS_YCbCr &&
		ci->num_components == 3 &&
		ci->comp_info[0].h_samp_factor == ci->max_h_samp_factor &&
		ci->comp_info[0].v_samp_factor == ci->max_v_samp_factor;
}

/*
 * Of the components in @keep, those whose AC a DC-only decode of @src
 * still reads: a planar job whose chroma comes out of 1x1 IDCTs (see
 * jpeg_dec_chroma_scale) needs no chroma AC at all. Asks libjpeg for the
 * header and the sizes it would choose, so the decode that follows makes
 * the same choice; a file libjpeg refuses keeps @keep and fails there.
 */
static uint32_t jpeg_dec_planar_keep(struct jpeg_dec *dec, const uint8_t *src,
		size_t len, uint32_t keep)
{
	struct jpeg_decompress_struct *ci = &dec->cinfo;
	volatile uint32_t out = keep;

	if (setjmp(dec->jmp)) {
		jpeg_abort_decompress(ci);
		dec->fail = 0;
		dec->reason[0] = '\0';
		dec->warnings = 0;
		return out;
	}
	jpeg_mem_src(ci, src, (unsigned long)len);
	jpeg_read_header(ci, TRUE);
	if (jpeg_dec_planar(dec)) {
		jpeg_dec_set_params(ci, 8, true);
		jpeg_calc_output_dimensions(ci);
		jpeg_dec_chroma_scale(dec);
		for (int c = 1; c < 3; c++) {
			if (ci->comp_info[c].DCT_scaled_size == 1) {
				out &= ~(1u << c);
			}
		}
	}
	jpeg_abort_decompress(ci);
	dec->warnings = 0;
	return out;
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
	dec->planar = jpeg_dec_planar(dec);
	jpeg_dec_set_params(ci, denom, dec->planar);
	jpeg_start_decompress(ci);
	r = dec->planar ? jpeg_dec_read_planes(dec) : jpeg_dec_read_rows(dec);
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
 *
 * A planar job drops them anyway when its chroma comes out of 1x1 IDCTs
 * (jpeg_dec_planar_keep): that chroma is exact block means, and covers
 * the output's. Three 2560x1600 4:2:0 photos made progressive with
 * jpegtran, 256 box: 224 M -> 69 M instructions (callgrind), about 5 ms
 * -> 1.7 ms a file.
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
	return jpeg_dec_run_ycc(dec, data, len, spec, out, NULL, info, err,
		errlen);
}

int jpeg_dec_run_ycc(struct jpeg_dec *dec, const uint8_t *data, size_t len,
		const struct thumb_spec *spec, struct image *out,
		struct image *ycc, struct decode_info *info, char *err,
		size_t errlen)
{
	struct jpeg_scans s;
	uint32_t need_w, need_h, margin, denom;
	const uint8_t *src = data;
	size_t src_len;
	int orientation, r;
	bool dc_only;

	dec->fail = 0;
	dec->warnings = 0;
	dec->reason[0] = '\0';
	dec->max_scans = spec->limits.max_scans;
	dec->max_memory = spec->limits.max_memory;
	dec->coef_held = 0;
	dec->coef_peak = 0;
	dec->want_ycc = ycc != NULL;
	dec->planar = false;
	r = jpeg_dec_check(dec, data, len, &spec->limits, &s);
	if (r < 0) {
		goto fail;
	}
	if (jpeg_dec_renew(dec) < 0) {
		r = -ENOMEM;
		jpeg_dec_set_reason(dec, r, "out of memory");
		goto fail;
	}
	src_len = s.end;
	orientation = s.exif ? exif_orientation(s.exif, s.exif_len) : 1;
	decode_need(s.width, s.height, orientation, spec, &need_w, &need_h);
	/* fine leaves the filter a factor of two; auto too, but not at the
	 * price of a full-size decode (see enum thumb_detail) */
	margin = spec->detail == THUMB_DETAIL_FAST ? 1 : 2;
	denom = geometry_jpeg_denom(s.width, s.height, margin * need_w,
		margin * need_h);
	if (spec->detail == THUMB_DETAIL_AUTO && denom == 1) {
		margin = 1;
		denom = geometry_jpeg_denom(s.width, s.height, need_w, need_h);
	}
	/* chroma covers the 4:2:0 output's, with the same margin as Y */
	dec->chroma_w = dec->chroma_libjpeg ? UINT32_MAX :
		(margin * need_w + 1) / 2;
	dec->chroma_h = dec->chroma_libjpeg ? UINT32_MAX :
		(margin * need_h + 1) / 2;
	dc_only = s.progressive && denom == 8;
	dec->dc_only = dc_only;
	if (dc_only) {
		/* sized exactly: the DC scans are a small part of the file,
		 * and this buffer stays with the worker */
		uint32_t keep = jpeg_dec_keep_ac(&s);
		if (keep && dec->want_ycc) {
			keep = jpeg_dec_planar_keep(dec, data, s.end, keep);
		}
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
	if (dec->planar) {
		for (int c = 0; c < 3; c++) {
			image_swap(&ycc[c], &dec->ycc[c]);
		}
	} else {
		image_swap(out, &dec->img);
	}
	*info = (struct decode_info){
		.planar = dec->planar,
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

void jpeg_dec_set_flat_max(struct jpeg_dec *dec, size_t bytes)
{
	dec->flat_max = bytes;
}

void jpeg_dec_set_chroma_scaling(struct jpeg_dec *dec, bool on)
{
	dec->chroma_libjpeg = !on;
}

void jpeg_dec_set_fast_huffman(struct jpeg_dec *dec, bool on)
{
	dec->huff_libjpeg = !on;
}

size_t jpeg_dec_coef_peak(const struct jpeg_dec *dec)
{
	return dec->coef_peak;
}
