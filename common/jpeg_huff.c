#include "jpeg_huff.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <jerror.h>
#include <jpegint.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/*
 * Huffman decoding for libjpeg, sequential and progressive, put in place
 * of jdhuff.c's and jdphuff.c's decode_mcu through the module pointer
 * cinfo->entropy.
 *
 * Entropy decoding is most of a reduced-size decode: 71 % of the
 * instructions in a 1/8 decode of the benchmark's baseline photos and 70 %
 * at 1/4, where libjpeg also stores the AC terms. libjpeg-turbo looks up
 * 8 bits to find a symbol, then reads the coefficient's extra bits and
 * sign-extends them as a second step. Here one lookup of HUFF_FAST bits
 * gives the whole coefficient (run, value, bits to drop) for every code
 * whose length plus extra bits fits, which in photos is nearly all of
 * them; and the bit buffer is refilled 8 bytes at a time when they hold
 * no 0xFF (a stuffed byte or a marker). Callgrind, thumbd render -s 256
 * of the 19 distinct baseline photos: 1.541 G -> 1.285 G instructions at
 * 1/8, 1.872 G -> 1.442 G at 1/4 (detail = fine), where the decoder
 * floor's plain libjpeg decode at 1/8 takes 1.550 G.
 *
 * In progressive files the AC refinement scans cost most: libjpeg visits
 * every position of the band in every block to find the coefficients
 * already nonzero, which take a correction bit each. Here a block's
 * nonzero coefficients are found once, as a mask in bitstream order
 * (SSE2 compares and a table), and a refinement visits those alone
 * (huff_ac_refine). Callgrind, 200 of the benchmark's 640x400 images (42
 * progressive): 1.834 G -> 1.641 G instructions; the five progressive
 * photos at 1/4: 1.506 G -> 1.279 G.
 *
 * The coefficients are the ones jdhuff.c and jdphuff.c would produce
 * from the same bits, including in damaged data: codes longer than
 * HUFF_FAST and bad codes are decoded as libjpeg does, the data past a
 * marker reads as zeros with one JWRN_HIT_MARKER, restart markers go
 * through libjpeg's marker reader, a block's run past coefficient 63
 * writes where libjpeg's writes, and a DC that overflows is refused as in
 * jdphuff.c. libjpeg's own decoder still runs its start_pass for each
 * scan, so a table or scan header it would refuse is refused the same
 * way (and a progressive file's record of the bits each scan brought is
 * kept). test_jpeg_decode compares every scale and sampling with libjpeg's
 * decode, and fuzz_jpeg compares the two on damaged files.
 */

#define HUFF_FAST JPEG_HUFF_FAST

/*
 * A lookup entry, indexed by the next HUFF_FAST bits:
 *  - bits 0-4: bits it takes (0: the code is longer than HUFF_FAST);
 *  - HUFF_VAL: a whole coefficient: zero run in bits 8-11, its size (the
 *    extra bits, counted in the length) in 12-15, value in 16-31;
 *  - HUFF_EOB: end of block (in a progressive AC scan, EOBr: r in 8-11);
 *  - HUFF_ZRL: a run of 16 zeros;
 *  - none of these: the symbol alone (bits 8-15), its extra bits still to
 *    read.
 * A DC table's entries are HUFF_VAL, or a symbol, with a run of 0.
 */
#define HUFF_LEN 0x1fu
#define HUFF_VAL 0x20u
#define HUFF_EOB 0x40u
#define HUFF_ZRL 0x80u

/* The bit reader. buf holds n bits, most significant first; the last pad
 * of them are zeros made up after the data ended at a marker. */
struct huff_bits {
	uint64_t buf;
	int n;
	int pad;
	const JOCTET *p, *end;  /* the source's buffer */
	const JOCTET *lim;      /* end, or p once a marker stopped reading */
};

struct jpeg_huff {
	struct jpeg_entropy_decoder pub; /* first: cinfo->entropy points here */
	struct jpeg_entropy_decoder *lib;
	struct jpeg_huff_tables *tables; /* the decoder's, kept between jobs */
	struct huff_bits bits;
	unsigned restarts_to_go;
	unsigned eobrun;        /* progressive AC: blocks left in an EOB run */
	int last_dc[MAX_COMPS_IN_SCAN];
	const struct jpeg_huff_tbl *dc[D_MAX_BLOCKS_IN_MCU];
	const struct jpeg_huff_tbl *ac[D_MAX_BLOCKS_IN_MCU];
	bool dc_needed[D_MAX_BLOCKS_IN_MCU];
	bool ac_needed[D_MAX_BLOCKS_IN_MCU];
};

/* Zigzag to natural order, with 16 more entries so that a run past the
 * end of a damaged block lands on 63, as in libjpeg. */
static const uint8_t huff_natural[DCTSIZE2 + 16] = {
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
};

/* The value of s extra bits x (JPEG's EXTEND, F.12). */
static inline int huff_extend(uint32_t x, int s)
{
	return x < (1u << (s - 1)) ? (int)x - (1 << s) + 1 : (int)x;
}

static void huff_fill(struct jpeg_huff_tbl *t, uint32_t code, int len, int sym,
		bool dc)
{
	uint32_t first = code << (HUFF_FAST - len);
	uint32_t count = 1u << (HUFF_FAST - len);
	int s = dc ? sym : sym & 15;
	int r = dc ? 0 : sym >> 4;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t idx = first + i, e;

		if (s == 0 && !dc) {
			e = (r == 15 ? HUFF_ZRL : HUFF_EOB) | (uint32_t)r << 8 |
				(uint32_t)len;
		} else if (s == 0) {
			e = HUFF_VAL | (uint32_t)len;
		} else if (len + s <= HUFF_FAST) {
			uint32_t x = (idx >> (HUFF_FAST - len - s)) &
				((1u << s) - 1);
			uint16_t v = (uint16_t)huff_extend(x, s);
			e = (uint32_t)v << 16 | (uint32_t)s << 12 |
				(uint32_t)r << 8 | HUFF_VAL | (uint32_t)(len + s);
		} else {
			e = (uint32_t)sym << 8 | (uint32_t)len;
		}
		t->fast[idx] = e;
	}
}

/*
 * Canonical codes from a table's counts (Annex C). libjpeg has checked the
 * table by now; the checks that keep this code inside its arrays are made
 * again here all the same.
 */
static void huff_build(j_decompress_ptr cinfo, struct jpeg_huff_tbl *t,
		const JHUFF_TBL *ht, bool dc, int tblno)
{
	uint32_t code = 0;
	int p = 0;

	if (!ht) {
		ERREXIT1(cinfo, JERR_NO_HUFF_TABLE, tblno);
	}
	memset(t->fast, 0, sizeof(t->fast));
	for (int len = 1; len <= 16; len++) {
		int n = ht->bits[len];

		if (n > 256 - p || (n && code + (uint32_t)n > 1u << len)) {
			ERREXIT(cinfo, JERR_BAD_HUFF_TABLE);
		}
		t->valoffset[len] = p - (int32_t)code;
		for (int i = 0; i < n; i++, p++, code++) {
			int sym = ht->huffval[p];

			if (dc && sym > 15) {
				ERREXIT(cinfo, JERR_BAD_HUFF_TABLE);
			}
			if (len <= HUFF_FAST) {
				huff_fill(t, code, len, sym, dc);
			}
		}
		t->maxcode[len] = n ? (int32_t)code - 1 : -1;
		code <<= 1;
	}
	t->maxcode[17] = INT32_MAX;
	t->valoffset[17] = 0;
	memcpy(t->val, ht->huffval, sizeof(t->val));
}

/* The next byte of the source, or -1 if it has none (it suspended). */
static int huff_byte(j_decompress_ptr cinfo, struct huff_bits *b)
{
	if (b->p == b->end) {
		struct jpeg_source_mgr *src = cinfo->src;

		src->next_input_byte = b->p;
		src->bytes_in_buffer = 0;
		if (!(*src->fill_input_buffer)(cinfo) ||
				src->bytes_in_buffer == 0) {
			return -1;
		}
		b->p = src->next_input_byte;
		b->end = b->lim = b->p + src->bytes_in_buffer;
	}
	return *b->p++;
}

/* Byte by byte, past stuffed bytes, stopping at a marker (jdhuff.c's
 * jpeg_fill_bit_buffer); then zeros, counted in pad. */
static void huff_refill_slow(j_decompress_ptr cinfo, struct huff_bits *b)
{
	while (b->n <= 56 && !cinfo->unread_marker) {
		int c = huff_byte(cinfo, b);

		if (c == 0xFF) {
			do {
				c = huff_byte(cinfo, b);
			} while (c == 0xFF);
			if (c > 0) {
				cinfo->unread_marker = c;
				break;
			}
			c = c == 0 ? 0xFF : c;
		}
		if (c < 0) {
			break;
		}
		b->buf |= (uint64_t)c << (56 - b->n);
		b->n += 8;
	}
	if (b->n <= 56) {
		b->lim = b->p;
		b->pad += 64 - b->n;
		b->n = 64;
	}
}

/*
 * At least 32 bits in the buffer after this: a code (16) and its extra
 * bits (15). Eight bytes without 0xFF go in at once; the bits below n are
 * then the next bytes' own, so a later refill ORs the same bits again.
 */
static inline void huff_refill(j_decompress_ptr cinfo, struct huff_bits *b)
{
	if (b->lim - b->p >= 8) {
		uint64_t v, x;

		memcpy(&v, b->p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		v = __builtin_bswap64(v);
#endif
		x = ~v;
		if (!((x - 0x0101010101010101u) & ~x & 0x8080808080808080u)) {
			b->buf |= v >> b->n;
			b->p += (63 - b->n) >> 3;
			b->n |= 56;
			return;
		}
	}
	/* through a copy, so that the caller's reader can live in
	 * registers */
	struct huff_bits t = *b;
	huff_refill_slow(cinfo, &t);
	*b = t;
}

static inline void huff_drop(struct huff_bits *b, int len)
{
	b->buf <<= len;
	b->n -= len;
}

static inline uint32_t huff_get(struct huff_bits *b, int s)
{
	uint32_t x = (uint32_t)(b->buf >> (64 - s));

	huff_drop(b, s);
	return x;
}

/* A code longer than HUFF_FAST at the top of buf (jdhuff.c's
 * jpeg_huff_decode): its symbol, and its length in *len. */
static __attribute__((noinline)) int huff_long(j_decompress_ptr cinfo,
		uint64_t buf, const struct jpeg_huff_tbl *t, int *len)
{
	for (int l = HUFF_FAST + 1; l <= 16; l++) {
		int32_t code = (int32_t)(buf >> (64 - l));

		if (code <= t->maxcode[l]) {
			*len = l;
			return t->val[(code + t->valoffset[l]) & 0xff];
		}
	}
	/* libjpeg reads a 17th bit before giving up with symbol 0 */
	*len = 17;
	WARNMS(cinfo, JWRN_HUFF_BAD_CODE);
	return 0;
}

/* The symbol of a code that entry e did not finish: a short code whose
 * extra bits do not fit, or a long one. */
static inline int huff_symbol(j_decompress_ptr cinfo, struct huff_bits *b,
		const struct jpeg_huff_tbl *t, uint32_t e)
{
	int len = (int)(e & HUFF_LEN), sym;

	if (len) {
		sym = (int)(e >> 8) & 0xff;
	} else {
		sym = huff_long(cinfo, b->buf, t, &len);
	}
	huff_drop(b, len);
	return sym;
}

/* A DC difference (F.2.2.1). */
static inline int huff_dc_diff(j_decompress_ptr cinfo, struct huff_bits *b,
		const struct jpeg_huff_tbl *t)
{
	uint32_t e;
	int s;

	if (b->n < 32) {
		huff_refill(cinfo, b);
	}
	e = t->fast[b->buf >> (64 - HUFF_FAST)];
	if (e & HUFF_VAL) {
		huff_drop(b, (int)(e & HUFF_LEN));
		return (int16_t)(e >> 16);
	}
	s = huff_symbol(cinfo, b, t, e);
	return s ? huff_extend(huff_get(b, s), s) : 0;
}

/* An AC symbol (run << 4 | size), reading its code alone. */
static inline int huff_ac_symbol(j_decompress_ptr cinfo,
		struct huff_bits *b, const struct jpeg_huff_tbl *t)
{
	uint32_t e = t->fast[b->buf >> (64 - HUFF_FAST)];
	int len = (int)(e & HUFF_LEN), rs;

	if (e & HUFF_VAL) {
		int size = (int)(e >> 12) & 15;
		rs = ((int)(e >> 8) & 15) << 4 | size;
		len -= size;
	} else if (e & HUFF_EOB) {
		rs = ((int)(e >> 8) & 15) << 4;
	} else if (e & HUFF_ZRL) {
		rs = 0xf0;
	} else if (len) {
		rs = (int)(e >> 8) & 0xff;
	} else {
		rs = huff_long(cinfo, b->buf, t, &len);
	}
	huff_drop(b, len);
	return rs;
}

/* One block of a sequential scan (jdhuff.c's decode_mcu_fast). */
static inline void huff_block(j_decompress_ptr cinfo, struct jpeg_huff *h,
		struct huff_bits *b, int blkn, JCOEF *block)
{
	const struct jpeg_huff_tbl *t = h->ac[blkn];
	int v = huff_dc_diff(cinfo, b, h->dc[blkn]);
	uint32_t e;

	if (h->dc_needed[blkn]) {
		int ci = cinfo->MCU_membership[blkn];

		/* wraps as jdhuff.c's does on hostile files, without UB */
		v = (int)((unsigned)v + (unsigned)h->last_dc[ci]);
		h->last_dc[ci] = v;
		if (block) {
			block[0] = (JCOEF)v;
		}
	}
	if (!h->ac_needed[blkn] || !block) {
		block = NULL;
	}
	for (int k = 1; k < DCTSIZE2; k++) {
		int rs, s;

		if (b->n < 32) {
			huff_refill(cinfo, b);
		}
		e = t->fast[b->buf >> (64 - HUFF_FAST)];
		if (e & HUFF_VAL) {
			huff_drop(b, (int)(e & HUFF_LEN));
			k += (int)(e >> 8) & 15;
			if (block) {
				block[huff_natural[k]] = (JCOEF)(int16_t)(e >> 16);
			}
			continue;
		}
		if (e & (HUFF_EOB | HUFF_ZRL)) {
			huff_drop(b, (int)(e & HUFF_LEN));
			if (e & HUFF_EOB) {
				break;
			}
			k += 15;
			continue;
		}
		rs = huff_symbol(cinfo, b, t, e);
		s = rs & 15;
		if (s) {
			k += rs >> 4;
			v = huff_extend(huff_get(b, s), s);
			if (block) {
				block[huff_natural[k]] = (JCOEF)v;
			}
		} else if (rs >> 4 == 15) {
			k += 15;
		} else {
			break;
		}
	}
}

/* The length of an EOB run whose symbol gave r (G.1.2.2). */
static inline unsigned huff_eobrun(struct huff_bits *b, int r)
{
	return (1u << r) + (r ? huff_get(b, r) : 0);
}

/* A progressive DC scan's first pass (jdphuff.c's decode_mcu_DC_first). */
static void huff_dc_first(j_decompress_ptr cinfo, struct jpeg_huff *h,
		struct huff_bits *b, JBLOCKROW *mcu)
{
	for (int blkn = 0; blkn < cinfo->blocks_in_MCU; blkn++) {
		int ci = cinfo->MCU_membership[blkn];
		int v = huff_dc_diff(cinfo, b, h->dc[blkn]);
		int last = h->last_dc[ci];

		if ((last >= 0 && v > INT_MAX - last) ||
				(last < 0 && v < INT_MIN - last)) {
			ERREXIT(cinfo, JERR_BAD_DCT_COEF);
		}
		h->last_dc[ci] = last + v;
		mcu[blkn][0][0] = (JCOEF)((unsigned)(last + v) << cinfo->Al);
	}
}

/* A DC refinement: the next bit of each DC. */
static void huff_dc_refine(j_decompress_ptr cinfo, struct jpeg_huff *h,
		struct huff_bits *b, JBLOCKROW *mcu)
{
	(void)h;
	for (int blkn = 0; blkn < cinfo->blocks_in_MCU; blkn++) {
		if (b->n < 32) {
			huff_refill(cinfo, b);
		}
		if (huff_get(b, 1)) {
			mcu[blkn][0][0] |= (JCOEF)(1 << cinfo->Al);
		}
	}
}

/* A progressive AC scan's first pass, one block (decode_mcu_AC_first). */
static void huff_ac_first(j_decompress_ptr cinfo, struct jpeg_huff *h,
		struct huff_bits *b, JBLOCKROW *mcu)
{
	const struct jpeg_huff_tbl *t = h->ac[0];
	JCOEF *block = mcu[0][0];
	int se = cinfo->Se, al = cinfo->Al;

	if (h->eobrun > 0) {
		h->eobrun--;
		return;
	}
	for (int k = cinfo->Ss; k <= se; k++) {
		uint32_t e;
		int rs, s;

		if (b->n < 32) {
			huff_refill(cinfo, b);
		}
		e = t->fast[b->buf >> (64 - HUFF_FAST)];
		if (e & HUFF_VAL) {
			huff_drop(b, (int)(e & HUFF_LEN));
			k += (int)(e >> 8) & 15;
			block[huff_natural[k]] = (JCOEF)((unsigned)(int16_t)
				(e >> 16) << al);
			continue;
		}
		rs = huff_ac_symbol(cinfo, b, t);
		s = rs & 15;
		if (s) {
			k += rs >> 4;
			block[huff_natural[k]] = (JCOEF)((unsigned)huff_extend(
				huff_get(b, s), s) << al);
		} else if (rs >> 4 == 15) {
			k += 15;
		} else {
			h->eobrun = huff_eobrun(b, rs >> 4) - 1;
			break;
		}
	}
}

/*
 * Refinement scans walk the coefficients already nonzero, as a mask in
 * zigzag order (bit k for the bitstream's k-th coefficient), instead of
 * every position of the band: zz[j][v] maps byte j of a mask in natural
 * order to zigzag order.
 */
void jpeg_huff_tables_init(struct jpeg_huff_tables *t)
{
	memset(t, 0, sizeof(*t));
	for (int k = 0; k < DCTSIZE2; k++) {
		int n = huff_natural[k];

		for (int v = 0; v < 256; v++) {
			if (v >> (n & 7) & 1) {
				t->zz[n >> 3][v] |= 1ull << k;
			}
		}
	}
}

static inline uint64_t huff_nonzero(const struct jpeg_huff_tables *t,
		const JCOEF *block)
{
	uint64_t nat = 0, zz = 0;

#if defined(__x86_64__)
	const __m128i zero = _mm_setzero_si128();
	for (int i = 0; i < 4; i++) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)
			(block + 16 * i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)
			(block + 16 * i + 8));
		__m128i e = _mm_packs_epi16(_mm_cmpeq_epi16(a, zero),
			_mm_cmpeq_epi16(b, zero));
		nat |= (uint64_t)(uint16_t)_mm_movemask_epi8(e) << (16 * i);
	}
	nat = ~nat;
#else
	for (int i = 0; i < DCTSIZE2; i++) {
		nat |= (uint64_t)(block[i] != 0) << i;
	}
#endif
	for (int j = 0; j < 8; j++) {
		zz |= t->zz[j][(nat >> (8 * j)) & 0xff];
	}
	return zz;
}

/* Zigzag positions lo..hi as a mask (none if lo > hi; hi <= 63). */
static inline uint64_t huff_span(int lo, int hi)
{
	return lo > hi ? 0 : (~0ull >> (63 - hi)) & (~0ull << lo);
}

/* A correction bit for each coefficient of @m, in bitstream order: a 1
 * moves the coefficient one step of p1 away from zero, unless this scan's
 * bit is set in it already. */
static inline void huff_correct(j_decompress_ptr cinfo, struct huff_bits *b,
		JCOEF *block, uint64_t m, int p1)
{
	while (m) {
		JCOEF *c = block + huff_natural[__builtin_ctzll(m)];

		m &= m - 1;
		if (b->n < 32) {
			huff_refill(cinfo, b);
		}
		if (huff_get(b, 1) && (*c & p1) == 0) {
			*c = (JCOEF)(*c >= 0 ? *c + p1 : *c - p1);
		}
	}
}

/*
 * A progressive AC refinement, one block (decode_mcu_AC_refine): each
 * symbol passes r zero coefficients, correcting the nonzero ones between,
 * and may make the next zero one +-p1; an EOB run corrects what is left.
 */
static void huff_ac_refine(j_decompress_ptr cinfo, struct jpeg_huff *h,
		struct huff_bits *b, JBLOCKROW *mcu)
{
	const struct jpeg_huff_tbl *t = h->ac[0];
	JCOEF *block = mcu[0][0];
	int se = cinfo->Se, p1 = 1 << cinfo->Al;
	int k = cinfo->Ss;
	uint64_t nz = huff_nonzero(h->tables, block);

	if (h->eobrun == 0) {
		for (; k <= se; k++) {
			int rs, r, s = 0, target;
			uint64_t z;

			if (b->n < 32) {
				huff_refill(cinfo, b);
			}
			rs = huff_ac_symbol(cinfo, b, t);
			r = rs >> 4;
			if (rs & 15) {
				/* a newly nonzero coefficient is always +-1 */
				if ((rs & 15) != 1) {
					WARNMS(cinfo, JWRN_HUFF_BAD_CODE);
				}
				s = huff_get(b, 1) ? p1 : -p1;
			} else if (r != 15) {
				h->eobrun = huff_eobrun(b, r);
				break;
			}
			/* the (r+1)-th zero coefficient from k on, or past the
			 * band if there are fewer */
			z = ~nz & huff_span(k, se);
			while (r-- > 0 && z) {
				z &= z - 1;
			}
			target = z ? __builtin_ctzll(z) : se + 1;
			huff_correct(cinfo, b, block, nz & huff_span(k,
				target - 1), p1);
			/* nz needs no update: later spans start past k */
			k = target;
			if (s) {
				/* past the band, as in libjpeg: position 63 */
				block[huff_natural[k]] = (JCOEF)s;
			}
		}
	}
	if (h->eobrun > 0) {
		huff_correct(cinfo, b, block, nz & huff_span(k, se), p1);
		h->eobrun--;
	}
}

/* jdhuff.c's and jdphuff.c's process_restart: drop the bits left, read
 * RSTn, start the DC predictions and the EOB run again. */
static boolean huff_restart(j_decompress_ptr cinfo, struct jpeg_huff *h)
{
	int real = h->bits.n - h->bits.pad;

	if (real > 0) {
		cinfo->marker->discarded_bytes += (unsigned)real / 8;
	}
	memset(&h->bits, 0, sizeof(h->bits));
	if (!(*cinfo->marker->read_restart_marker)(cinfo)) {
		return FALSE;
	}
	for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
		h->last_dc[ci] = 0;
	}
	h->eobrun = 0;
	h->restarts_to_go = cinfo->restart_interval;
	if (cinfo->unread_marker == 0) {
		h->pub.insufficient_data = FALSE;
	}
	return TRUE;
}

/*
 * One MCU: the restart marker due, then @decode with the bit reader in
 * locals, unless the segment's data has run out (the blocks then stay as
 * they are: zero, grey); a DC refinement reads on, as jdphuff.c's does,
 * since zeros change nothing. Inlined into each decode_mcu below.
 */
static inline __attribute__((always_inline)) boolean huff_mcu(
		j_decompress_ptr cinfo, JBLOCKROW *MCU_data,
		void (*decode)(j_decompress_ptr, struct jpeg_huff *,
			struct huff_bits *, JBLOCKROW *), bool always)
{
	struct jpeg_huff *h = (struct jpeg_huff *)(void *)cinfo->entropy;

	if (cinfo->restart_interval && h->restarts_to_go == 0 &&
			!huff_restart(cinfo, h)) {
		return FALSE;
	}
	if (always || !h->pub.insufficient_data) {
		struct jpeg_source_mgr *src = cinfo->src;
		struct huff_bits b = h->bits;

		b.p = src->next_input_byte;
		b.end = b.p + src->bytes_in_buffer;
		b.lim = cinfo->unread_marker ? b.p : b.end;
		decode(cinfo, h, &b, MCU_data);
		src->next_input_byte = b.p;
		src->bytes_in_buffer = (size_t)(b.end - b.p);
		h->bits = b;
		if (b.n < b.pad && !h->pub.insufficient_data) {
			/* made-up zeros were read */
			h->pub.insufficient_data = TRUE;
			WARNMS(cinfo, JWRN_HIT_MARKER);
		}
	}
	if (cinfo->restart_interval) {
		h->restarts_to_go--;
	}
	return TRUE;
}

static void huff_sequential(j_decompress_ptr cinfo, struct jpeg_huff *h,
		struct huff_bits *b, JBLOCKROW *mcu)
{
	for (int blkn = 0; blkn < cinfo->blocks_in_MCU; blkn++) {
		huff_block(cinfo, h, b, blkn, mcu ? mcu[blkn][0] : NULL);
	}
}

/* A decode_mcu for each kind of scan, each with its own copy of huff_mcu */
#define HUFF_DECODE_MCU(name, decode, always) \
	static boolean name(j_decompress_ptr cinfo, JBLOCKROW *MCU_data) \
	{ \
		return huff_mcu(cinfo, MCU_data, decode, always); \
	}
HUFF_DECODE_MCU(huff_decode_mcu, huff_sequential, false)
HUFF_DECODE_MCU(huff_decode_dc_first, huff_dc_first, false)
HUFF_DECODE_MCU(huff_decode_dc_refine, huff_dc_refine, true)
HUFF_DECODE_MCU(huff_decode_ac_first, huff_ac_first, false)
HUFF_DECODE_MCU(huff_decode_ac_refine, huff_ac_refine, false)

/* Builds table @no of one kind for this scan, unless *built says it is
 * done (bit no for DC tables, NUM_HUFF_TBLS + no for AC ones). */
static void huff_table(j_decompress_ptr cinfo, struct jpeg_huff *h, int no,
		bool dc, unsigned *built)
{
	unsigned bit;

	if (no < 0 || no >= NUM_HUFF_TBLS) {
		ERREXIT1(cinfo, JERR_NO_HUFF_TABLE, no);
	}
	bit = 1u << (dc ? no : NUM_HUFF_TBLS + no);
	if (!(*built & bit)) {
		huff_build(cinfo, dc ? &h->tables->dc[no] : &h->tables->ac[no],
			dc ? cinfo->dc_huff_tbl_ptrs[no] :
			cinfo->ac_huff_tbl_ptrs[no], dc, no);
		*built |= bit;
	}
}

static void huff_start_pass(j_decompress_ptr cinfo)
{
	struct jpeg_huff *h = (struct jpeg_huff *)(void *)cinfo->entropy;
	bool dc_band = cinfo->Ss == 0;
	/* the tables the scan reads: a DC refinement reads none */
	bool dc = !cinfo->progressive_mode || (dc_band && !cinfo->Ah);
	bool ac = !cinfo->progressive_mode || !dc_band;
	unsigned built = 0;

	/* libjpeg's own, for its checks of the scan and tables (and, in a
	 * progressive file, its record of which bits each scan brought) */
	cinfo->entropy = h->lib;
	(*h->lib->start_pass)(cinfo);
	cinfo->entropy = &h->pub;

	if (!cinfo->progressive_mode) {
		h->pub.decode_mcu = huff_decode_mcu;
	} else if (dc_band) {
		h->pub.decode_mcu = cinfo->Ah ? huff_decode_dc_refine :
			huff_decode_dc_first;
	} else {
		h->pub.decode_mcu = cinfo->Ah ? huff_decode_ac_refine :
			huff_decode_ac_first;
	}
	for (int ci = 0; ci < cinfo->comps_in_scan; ci++) {
		const jpeg_component_info *comp = cinfo->cur_comp_info[ci];

		if (dc) {
			huff_table(cinfo, h, comp->dc_tbl_no, true, &built);
		}
		if (ac) {
			huff_table(cinfo, h, comp->ac_tbl_no, false, &built);
		}
		h->last_dc[ci] = 0;
	}
	for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
		const jpeg_component_info *comp =
			cinfo->cur_comp_info[cinfo->MCU_membership[b]];

		h->dc[b] = dc ? &h->tables->dc[comp->dc_tbl_no] : NULL;
		h->ac[b] = ac ? &h->tables->ac[comp->ac_tbl_no] : NULL;
		/* as jdhuff.c: a 1x1 IDCT needs no AC terms */
		h->dc_needed[b] = comp->component_needed;
		h->ac_needed[b] = comp->component_needed &&
			comp->DCT_scaled_size > 1;
	}
	memset(&h->bits, 0, sizeof(h->bits));
	h->eobrun = 0;
	h->pub.insufficient_data = FALSE;
	h->restarts_to_go = cinfo->restart_interval;
}

bool jpeg_huff_install(j_decompress_ptr cinfo,
		struct jpeg_huff_tables *tables)
{
	struct jpeg_huff *h;

	if (cinfo->arith_code || cinfo->data_precision != 8 ||
			!cinfo->entropy) {
		return false;
	}
	h = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE,
		sizeof(*h));
	memset(h, 0, sizeof(*h));
	h->lib = cinfo->entropy;
	h->tables = tables;
	h->pub.start_pass = huff_start_pass;
	h->pub.decode_mcu = huff_decode_mcu;
	cinfo->entropy = &h->pub;
	return true;
}
