#include "resize.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RESIZE_X86 1
#endif

/*
 * Separable Lanczos-3 resampling in float.
 *
 * The horizontal pass runs first, eight source rows at a time, into a ring
 * of intermediate rows; the vertical pass then combines the ring rows a
 * destination row needs and rounds them to bytes. Each source row is
 * converted (and premultiplied) exactly once, and only max-taps + 7
 * intermediate rows are alive, so the scratch memory stays small even for
 * 5120x2880 sources.
 *
 * Layout: the h pass converts source rows in pairs, pixel x of two rows
 * side by side (four floats each, the fourth unused for RGB), so one
 * aligned eight-float load and FMA make a tap of two rows, and one
 * broadcast weight serves four of them. Its tables give every output the
 * same tap count, the widest window's, so the loops carry no per-output
 * trip count. Measured worse on 320x200 -> 256x160: two outputs per
 * vector loaded from two offsets (three loads a tap, 0.12 ms), taps two
 * at a time against weights stored four times over (their 32 KB did not
 * stay in L1, 0.10 ms), four rows per pass instead of eight (0.085 ms);
 * unrolling the tap loop did not help. The vertical pass keeps eight
 * vector sums per block: with four it waited on FMA latency. Running it
 * first would pay only for a shrink much larger in height than in width,
 * which aspect-preserving thumbnails do not make; for 5120x2880 ->
 * 256x144 it alone took nearly twice the whole resize.
 *
 * Kernels: AVX2 + FMA ones when the CPU has them, chosen once per
 * resizer; the portable ones use four-float GCC vectors (SSE2 on x86-64)
 * and are the only ones elsewhere. Both compute the same sums, in a
 * different order.
 *
 * Float rather than Pillow-style int32 fixed point: the x86-64 baseline
 * (SSE2) has no packed 32-bit multiply, so the fixed-point tap loop stays
 * scalar, while a pixel of four floats is one vector. Measured on the
 * horizontal pass, 4 channels, 2000 rows: 1280->1024 took 16.7 ms fixed
 * against 4.9 ms float (conversion included), 5120->256 47 ms against
 * 16 ms. Float intermediates also keep premultiplied low-alpha colour
 * exact instead of rounding it to 8 bits between the passes.
 *
 * `test_resize bench`, median of five runs on a Zen 5 VM: 320x200 ->
 * 256x160 RGB 0.073 ms with AVX2, 0.150 ms portable (0.206 ms before this
 * layout); 5120x2880 -> 256x144 RGB 11.6 ms and 21.3 ms (27.7 ms).
 */

#define RESIZE_SUPPORT 3.0

enum {
	RESIZE_BLOCK = 16,
	RESIZE_HROWS = 8,  /* source rows per h pass, as the kernels assume */
	RESIZE_CACHE = 8,  /* weight tables kept per axis */
	RESIZE_ALIGN = 64, /* scratch and tables start on a cache line */
};

enum resize_simd {
	RESIZE_SIMD_PORTABLE, /* 4-wide vectors: SSE2 on x86, any target */
	RESIZE_SIMD_AVX2,     /* 8-wide AVX2 with FMA, chosen at run time */
};

/*
 * Weights for one axis: output i combines inputs start[i]..start[i] +
 * count[i] - 1 with the weights at w + i * ksize.
 *
 * Horizontal tables have no count: every output runs exactly ksize taps,
 * the widest window, so the kernels need no per-output trip count. A
 * narrower window is padded with zero weights, and shifted left where it
 * would run past the input, so start[i] + ksize <= in still holds.
 */
struct resize_axis {
	uint32_t in;
	uint32_t out;
	uint32_t span2;  /* twice the output length the input spans */
	uint32_t ksize;
	uint32_t *start;
	uint32_t *count; /* vertical only */
	float *w;
	size_t cap_idx;  /* uint32_t allocated at start (count follows) */
	size_t cap_w;    /* floats allocated in w */
	uint64_t used;   /* LRU stamp; 0 marks an empty or broken entry */
};

/*
 * Row kernels for one channel count. The h pass takes RESIZE_HROWS = 8
 * source rows at a time, converted by load() in pairs into pair buffers
 * of eight floats a pixel: the first row's pixel x then the second row's,
 * four floats each, premultiplied when C == 4. For C == 3 the fourth
 * float is never used in a result and only has to be finite. vrow()
 * makes one output row of bytes from the ring rows; @acc is scratch.
 */
struct resize_kernels {
	void (*load)(const uint8_t *s0, const uint8_t *s1, float *d,
		uint32_t w);
	void (*hrow)(const struct resize_axis *ax, const float *const *p,
		float *const *d);
	void (*vrow)(float *acc, const float *const *rows, const float *w,
		uint32_t n, uint8_t *d, uint32_t width);
};

/*
 * One channel (a plane of Y, Cb or Cr) has its own layout: load8() puts
 * sample x of the eight source rows side by side, eight floats, so one
 * vector is a tap of all eight rows and hrow8() needs a single FMA per
 * tap. It then scatters each output's eight lanes to the eight ring rows.
 */
struct resize_kernels1 {
	void (*load8)(const uint8_t *const *s, float *d, uint32_t w);
	void (*hrow8)(const struct resize_axis *ax, const float *p,
		float *const *d);
	void (*vrow)(float *acc, const float *const *rows, const float *w,
		uint32_t n, uint8_t *d, uint32_t width);
};

struct resizer {
	/*
	 * A few tables per axis, least recently used out: the daemon
	 * alternates between source aspects, and with one table per axis
	 * rebuilding the vertical one every other image (two sin() per
	 * tap) took 4% of its CPU.
	 */
	struct resize_axis hcache[RESIZE_CACHE];
	struct resize_axis vcache[RESIZE_CACHE];
	uint64_t tick;
	enum resize_simd simd;
	const struct resize_axis *hx; /* the tables of the current run */
	const struct resize_axis *vy;
	float *row;      /* the h pass's pair buffers, row_stride apart */
	size_t cap_row;
	size_t row_stride;
	float *ring;     /* ring_rows intermediate rows, ring_stride apart */
	size_t cap_ring;
	size_t ring_stride;
	uint32_t ring_rows;
	float *acc;      /* an output row before rounding (AVX2: the tail) */
	size_t cap_acc;
	const float **rows; /* the ring rows one output row combines */
	size_t cap_rows;
};

/*
 * Grow a scratch array to hold @n elements of @size, aligned to
 * RESIZE_ALIGN; contents are lost.
 */
static int resize_grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t bytes;

	if (n <= *cap) {
		return 0;
	}
	if (__builtin_mul_overflow(n, size, &bytes) ||
			__builtin_add_overflow(bytes, (size_t)RESIZE_ALIGN - 1,
				&bytes)) {
		return -EOVERFLOW;
	}
	bytes &= ~(size_t)(RESIZE_ALIGN - 1);
	void *q = aligned_alloc(RESIZE_ALIGN, bytes);
	if (!q) {
		return -ENOMEM;
	}
	free(*p);
	*p = q;
	*cap = n;
	return 0;
}

/*
 * The filter for resampling @in samples to @out. Shrinking widens it by
 * the scale factor so every input sample contributes (anti-aliasing).
 */
struct resize_filter {
	uint32_t in;
	uint32_t out;
	uint32_t ksize;  /* no window is wider */
	double scale;
	double fscale;
	double support;
	/* sin and cos of the phase steps of sin(pi x) and sin(pi x / 3)
	 * from one tap to the next (taps are 1 / fscale apart in x) */
	double s1, c1, s3, c3;
	bool copy;       /* in == out over the same span: a copy */
};

static void resize_filter_init(struct resize_filter *f, uint32_t in,
		uint32_t out, uint32_t span2)
{
	double ksize_d;

	f->in = in;
	f->out = out;
	f->scale = 2.0 * (double)in / (double)span2;
	f->copy = in == out && span2 == 2 * (uint64_t)out;
	f->fscale = f->scale > 1.0 ? f->scale : 1.0;
	f->support = RESIZE_SUPPORT * f->fscale;
	ksize_d = f->copy ? 1.0 : ceil(f->support) * 2.0 + 1.0;
	f->ksize = ksize_d > (double)in ? in : (uint32_t)ksize_d;
	f->s1 = sin(M_PI / f->fscale);
	f->c1 = cos(M_PI / f->fscale);
	f->s3 = sin(M_PI / (RESIZE_SUPPORT * f->fscale));
	f->c3 = cos(M_PI / (RESIZE_SUPPORT * f->fscale));
}

/*
 * The input window of output @i, clamped to the image. Equal sizes give
 * one tap (of weight 1) so that axis is an exact copy.
 */
static void resize_window(const struct resize_filter *f, uint32_t i,
		uint32_t *start, uint32_t *count)
{
	if (f->copy) {
		*start = i;
		*count = 1;
		return;
	}
	double centre = ((double)i + 0.5) * f->scale;
	double lo = floor(centre - f->support + 0.5);
	double hi = floor(centre + f->support + 0.5);
	if (lo < 0.0) {
		lo = 0.0;
	}
	if (hi > (double)f->in) {
		hi = (double)f->in;
	}
	uint32_t s = (uint32_t)lo;
	uint32_t n = (uint32_t)hi - s;
	if (n > f->ksize) {
		n = f->ksize;
	}
	if (n == 0) {
		/* Cannot happen for in, out >= 1; keep one tap anyway. */
		s = s < f->in ? s : f->in - 1;
		n = 1;
	}
	*start = s;
	*count = n;
}

/*
 * Output @i's weights for its window (@s, @n), renormalised to sum 1 as
 * Pillow and ImageMagick do where the window is clamped, stored @step
 * floats apart.
 *
 * Lanczos-3 is sin(pi x) sin(pi x / 3) / (pi^2 x^2 / 3), and the taps are
 * a fixed step apart in x, so both sines advance from tap to tap by a
 * rotation: four sin() or cos() an output rather than four sin() a tap.
 * Computed directly, they were 1.4 % of a worker's instructions on the
 * benchmark's photos, whose sizes cycle through more tables than the
 * cache keeps. The recurrence drifts by about 1e-16 a tap.
 */
static void resize_weights(const struct resize_filter *f, uint32_t i,
		uint32_t s, uint32_t n, float *w, size_t step)
{
	double centre = ((double)i + 0.5) * f->scale;
	double a = M_PI * ((double)s - centre + 0.5) / f->fscale;
	double sa = sin(a), ca = cos(a);
	double sb = sin(a / RESIZE_SUPPORT), cb = cos(a / RESIZE_SUPPORT);
	double sum = 0.0, t;

	for (uint32_t k = 0; k < n; k++) {
		double x = ((double)(s + k) - centre + 0.5) / f->fscale;
		double v = 0.0;
		if (x == 0.0) {
			v = 1.0;
		} else if (x > -RESIZE_SUPPORT && x < RESIZE_SUPPORT) {
			v = sa * sb * RESIZE_SUPPORT / (M_PI * M_PI * x * x);
		}
		w[k * step] = (float)v;
		sum += v;
		t = sa * f->c1 + ca * f->s1;
		ca = ca * f->c1 - sa * f->s1;
		sa = t;
		t = sb * f->c3 + cb * f->s3;
		cb = cb * f->c3 - sb * f->s3;
		sb = t;
	}
	for (uint32_t k = 0; k < n; k++) {
		w[k * step] = sum != 0.0 ? (float)((double)w[k * step] / sum)
			: 0.0f;
	}
}

/* Vertical layout, see struct resize_axis. */
static int resize_axis_build_v(struct resize_axis *ax, uint32_t in,
		uint32_t out, uint32_t span2)
{
	struct resize_filter f;
	size_t nw, nidx;
	int r;

	resize_filter_init(&f, in, out, span2);
	if (__builtin_mul_overflow((size_t)out, (size_t)f.ksize, &nw) ||
			__builtin_mul_overflow((size_t)out, (size_t)2, &nidx)) {
		return -EOVERFLOW;
	}
	r = resize_grow((void **)&ax->w, &ax->cap_w, nw, sizeof(float));
	if (r == 0) {
		r = resize_grow((void **)&ax->start, &ax->cap_idx, nidx,
			sizeof(uint32_t));
	}
	if (r < 0) {
		return r;
	}
	ax->count = ax->start + out;
	for (uint32_t i = 0; i < out; i++) {
		resize_window(&f, i, &ax->start[i], &ax->count[i]);
		resize_weights(&f, i, ax->start[i], ax->count[i],
			ax->w + (size_t)i * f.ksize, 1);
	}
	ax->in = in;
	ax->out = out;
	ax->span2 = span2;
	ax->ksize = f.ksize;
	return 0;
}

/* Horizontal layout, see struct resize_axis. */
static int resize_axis_build_h(struct resize_axis *ax, uint32_t in,
		uint32_t out, uint32_t span2)
{
	struct resize_filter f;
	uint32_t kmax = 1, s, n;
	size_t nw;
	int r;

	resize_filter_init(&f, in, out, span2);
	for (uint32_t i = 0; i < out; i++) {
		resize_window(&f, i, &s, &n);
		kmax = n > kmax ? n : kmax;
	}
	if (__builtin_mul_overflow((size_t)out, (size_t)kmax, &nw)) {
		return -EOVERFLOW;
	}
	r = resize_grow((void **)&ax->w, &ax->cap_w, nw, sizeof(float));
	if (r == 0) {
		r = resize_grow((void **)&ax->start, &ax->cap_idx, out,
			sizeof(uint32_t));
	}
	if (r < 0) {
		return r;
	}
	memset(ax->w, 0, nw * sizeof(float));
	for (uint32_t i = 0; i < out; i++) {
		resize_window(&f, i, &s, &n);
		/* kmax <= in, so the shifted window stays inside the row */
		uint32_t s2 = s > in - kmax ? in - kmax : s;
		resize_weights(&f, i, s, n, ax->w + (size_t)i * kmax + (s - s2),
			1);
		ax->start[i] = s2;
	}
	ax->count = NULL;
	ax->in = in;
	ax->out = out;
	ax->span2 = span2;
	ax->ksize = kmax;
	return 0;
}

/*
 * Find the table for (@in, @out) in @cache or build it over the least
 * recently used entry.
 */
static int resize_table(struct resize_axis *cache, uint64_t *tick,
		uint32_t in, uint32_t out, uint32_t span2, int horizontal,
		const struct resize_axis **res)
{
	struct resize_axis *e = &cache[0];
	int r;

	for (size_t i = 0; i < RESIZE_CACHE; i++) {
		struct resize_axis *c = &cache[i];
		if (c->used && c->in == in && c->out == out &&
				c->span2 == span2) {
			c->used = ++*tick;
			*res = c;
			return 0;
		}
		if (c->used < e->used) {
			e = c;
		}
	}
	/* Invalidate first: a failure below must not leave stale tables. */
	e->used = 0;
	r = horizontal ? resize_axis_build_h(e, in, out, span2)
		: resize_axis_build_v(e, in, out, span2);
	if (r < 0) {
		return r;
	}
	e->used = ++*tick;
	*res = e;
	return 0;
}

static void resize_axis_finish(struct resize_axis *ax)
{
	free(ax->start);
	free(ax->w);
}

/*
 * THUMBD_RESIZE_SIMD=sse2 forces the portable four-wide kernels where
 * AVX2 would be used, so the tests can check both paths on one machine;
 * unset or any other value picks the best the CPU has. Read once here.
 */
static enum resize_simd resize_simd_pick(void)
{
#ifdef RESIZE_X86
	const char *env = getenv("THUMBD_RESIZE_SIMD");

	if (env && strcmp(env, "sse2") == 0) {
		return RESIZE_SIMD_PORTABLE;
	}
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		return RESIZE_SIMD_AVX2;
	}
#endif
	return RESIZE_SIMD_PORTABLE;
}

struct resizer *resizer_create(void)
{
	struct resizer *r = calloc(1, sizeof(struct resizer));

	if (r) {
		r->simd = resize_simd_pick();
	}
	return r;
}

void resizer_destroy(struct resizer *r)
{
	if (!r) {
		return;
	}
	for (size_t i = 0; i < RESIZE_CACHE; i++) {
		resize_axis_finish(&r->hcache[i]);
		resize_axis_finish(&r->vcache[i]);
	}
	free(r->row);
	free(r->ring);
	free(r->acc);
	free(r->rows);
	free(r);
}

const char *resizer_simd_name(const struct resizer *r)
{
	return r->simd == RESIZE_SIMD_AVX2 ? "avx2" : "sse2";
}

/*
 * Portable row kernels. gcc -O2 (gcc 12 and later) vectorises only loops
 * whose trip count it knows, so the long loops below run in fixed blocks
 * of RESIZE_BLOCK floats with a scalar tail, and the per-pixel tap loop
 * works on a whole pixel at once through a four-float vector. Each kernel
 * is inlined with a constant channel count @C.
 */
typedef float resize_v4 __attribute__((vector_size(16), aligned(4)));

static inline resize_v4 resize_v4_load(const float *p)
{
	resize_v4 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* For @p on 16 bytes: SSE2 can then take it as an operand of mulps. */
static inline resize_v4 resize_v4_loada(const float *p)
{
	resize_v4 v;
	memcpy(&v, __builtin_assume_aligned(p, 16), sizeof(v));
	return v;
}

/*
 * Two source rows to a pair buffer, see struct resize_kernels. The rows
 * are first converted in blocks (which gcc vectorises), to the scratch
 * space after the pair buffer, then interleaved a pixel at a time. For
 * C == 3 the fourth lane is the next pixel's first channel, or zero:
 * finite, and its results are never used.
 */
static inline __attribute__((always_inline)) void resize_load_row(
		const uint8_t *restrict s0, const uint8_t *restrict s1,
		float *restrict d, uint32_t w, int C)
{
	size_t n = (size_t)w * (size_t)C, i = 0;
	float *restrict t0 = d + 8 * (size_t)w, *restrict t1 = t0 + n + 1;

	for (; i + RESIZE_BLOCK <= n; i += RESIZE_BLOCK) {
		for (size_t j = 0; j < RESIZE_BLOCK; j++) {
			t0[i + j] = (float)s0[i + j];
			t1[i + j] = (float)s1[i + j];
		}
	}
	for (; i < n; i++) {
		t0[i] = (float)s0[i];
		t1[i] = (float)s1[i];
	}
	/* the fourth lane of the last three-channel pixels */
	t0[n] = t1[n] = 0.0f;
	for (size_t x = 0; x < w; x++, t0 += C, t1 += C, d += 8) {
		resize_v4 a = resize_v4_load(t0), b = resize_v4_load(t1);
		if (C == 4) {
			float ka = a[3] * (1.0f / 255.0f);
			float kb = b[3] * (1.0f / 255.0f);
			a *= (resize_v4){ ka, ka, ka, 1.0f };
			b *= (resize_v4){ kb, kb, kb, 1.0f };
		}
		memcpy(d, &a, sizeof(a));
		memcpy(d + 4, &b, sizeof(b));
	}
}

static void resize_load3(const uint8_t *s0, const uint8_t *s1, float *d,
		uint32_t w)
{
	resize_load_row(s0, s1, d, w, 3);
}

static void resize_load4(const uint8_t *s0, const uint8_t *s1, float *d,
		uint32_t w)
{
	resize_load_row(s0, s1, d, w, 4);
}

/*
 * Eight source rows, in the four pair buffers @pp, through the horizontal
 * filter into rows @d; each weight is loaded once for all eight. Every
 * output is stored as four floats: for C == 3 the fourth lane is
 * overwritten by the next output or lands in the ring row's padding. (A
 * three-float store made gcc spill the vector and reload it, a
 * store-forwarding stall.) @d may repeat a row, with the same source.
 */
static inline __attribute__((always_inline)) void resize_hrow(
		const struct resize_axis *restrict ax, const float *const *pp,
		float *const *d, int C)
{
	const float *restrict w = ax->w;
	uint32_t kn = ax->ksize;

	for (uint32_t x = 0; x < ax->out; x++, w += kn) {
		size_t o = (size_t)ax->start[x] * 8;
		const float *p = pp[0] + o, *q = pp[1] + o;
		const float *u = pp[2] + o, *v = pp[3] + o;
		resize_v4 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
		resize_v4 a4 = { 0 }, a5 = { 0 }, a6 = { 0 }, a7 = { 0 };

		for (size_t k = 0; k < kn; k++) {
			a0 += w[k] * resize_v4_loada(p + 8 * k);
			a1 += w[k] * resize_v4_loada(p + 8 * k + 4);
			a2 += w[k] * resize_v4_loada(q + 8 * k);
			a3 += w[k] * resize_v4_loada(q + 8 * k + 4);
			a4 += w[k] * resize_v4_loada(u + 8 * k);
			a5 += w[k] * resize_v4_loada(u + 8 * k + 4);
			a6 += w[k] * resize_v4_loada(v + 8 * k);
			a7 += w[k] * resize_v4_loada(v + 8 * k + 4);
		}
		memcpy(d[0] + (size_t)C * x, &a0, sizeof(a0));
		memcpy(d[1] + (size_t)C * x, &a1, sizeof(a1));
		memcpy(d[2] + (size_t)C * x, &a2, sizeof(a2));
		memcpy(d[3] + (size_t)C * x, &a3, sizeof(a3));
		memcpy(d[4] + (size_t)C * x, &a4, sizeof(a4));
		memcpy(d[5] + (size_t)C * x, &a5, sizeof(a5));
		memcpy(d[6] + (size_t)C * x, &a6, sizeof(a6));
		memcpy(d[7] + (size_t)C * x, &a7, sizeof(a7));
	}
}

static void resize_hrow3(const struct resize_axis *ax, const float *const *p,
		float *const *d)
{
	resize_hrow(ax, p, d, 3);
}

static void resize_hrow4(const struct resize_axis *ax, const float *const *p,
		float *const *d)
{
	resize_hrow(ax, p, d, 4);
}

/*
 * acc = sum over k of w[k] * rows[k], 32 floats at a time so the partial
 * sums stay in registers across all the taps instead of going through
 * memory once per tap; eight independent sums hide the add latency. Ring
 * rows start on 32 bytes.
 */
static void resize_vrow(float *restrict acc, const float *const *rows,
		const float *restrict w, uint32_t n, size_t len)
{
	size_t i = 0;

	for (; i + 2 * RESIZE_BLOCK <= len; i += 2 * RESIZE_BLOCK) {
		const float *r0 = rows[0] + i;
		resize_v4 t0 = w[0] * resize_v4_loada(r0 + 0);
		resize_v4 t1 = w[0] * resize_v4_loada(r0 + 4);
		resize_v4 t2 = w[0] * resize_v4_loada(r0 + 8);
		resize_v4 t3 = w[0] * resize_v4_loada(r0 + 12);
		resize_v4 t4 = w[0] * resize_v4_loada(r0 + 16);
		resize_v4 t5 = w[0] * resize_v4_loada(r0 + 20);
		resize_v4 t6 = w[0] * resize_v4_loada(r0 + 24);
		resize_v4 t7 = w[0] * resize_v4_loada(r0 + 28);
		for (uint32_t k = 1; k < n; k++) {
			const float *rk = rows[k] + i;
			t0 += w[k] * resize_v4_loada(rk + 0);
			t1 += w[k] * resize_v4_loada(rk + 4);
			t2 += w[k] * resize_v4_loada(rk + 8);
			t3 += w[k] * resize_v4_loada(rk + 12);
			t4 += w[k] * resize_v4_loada(rk + 16);
			t5 += w[k] * resize_v4_loada(rk + 20);
			t6 += w[k] * resize_v4_loada(rk + 24);
			t7 += w[k] * resize_v4_loada(rk + 28);
		}
		memcpy(acc + i + 0, &t0, sizeof(t0));
		memcpy(acc + i + 4, &t1, sizeof(t1));
		memcpy(acc + i + 8, &t2, sizeof(t2));
		memcpy(acc + i + 12, &t3, sizeof(t3));
		memcpy(acc + i + 16, &t4, sizeof(t4));
		memcpy(acc + i + 20, &t5, sizeof(t5));
		memcpy(acc + i + 24, &t6, sizeof(t6));
		memcpy(acc + i + 28, &t7, sizeof(t7));
	}
	for (; i < len; i++) {
		float t = w[0] * rows[0][i];
		for (uint32_t k = 1; k < n; k++) {
			t += w[k] * rows[k][i];
		}
		acc[i] = t;
	}
}

/*
 * Round to nearest and clamp: Lanczos rings past 0 and 255. Integer
 * clamping vectorises where float compares do not. The conversion cannot
 * overflow: |v| stays below 1.3 * 255 * 510 (kernel overshoot times the
 * largest un-premultiply factor).
 */
static inline uint8_t resize_round(float v)
{
	int32_t i = (int32_t)(v + 0.5f);
	i = i < 0 ? 0 : i;
	i = i > 255 ? 255 : i;
	return (uint8_t)i;
}

/*
 * The factor that un-premultiplies a pixel of alpha @a. Below half a
 * step the pixel rounds to fully transparent; its colour is meaningless,
 * make it 0.
 */
static inline float resize_unpremul(float a)
{
	return a >= 0.5f ? 255.0f / (a < 255.0f ? a : 255.0f) : 0.0f;
}

/* @n floats to bytes; un-premultiply when C == 4. */
static inline __attribute__((always_inline)) void resize_store_row(
		float *restrict acc, uint8_t *restrict d, size_t n, int C)
{
	size_t i = 0;

	if (C == 4) {
		for (size_t x = 0; x < n; x += 4) {
			float k = resize_unpremul(acc[x + 3]);
			acc[x + 0] *= k;
			acc[x + 1] *= k;
			acc[x + 2] *= k;
		}
	}
	for (; i + RESIZE_BLOCK <= n; i += RESIZE_BLOCK) {
		for (size_t j = 0; j < RESIZE_BLOCK; j++) {
			d[i + j] = resize_round(acc[i + j]);
		}
	}
	for (; i < n; i++) {
		d[i] = resize_round(acc[i]);
	}
}

/* One output row: the vertical filter, then rounding to bytes. */
static void resize_vrow3(float *acc, const float *const *rows, const float *w,
		uint32_t n, uint8_t *d, uint32_t width)
{
	resize_vrow(acc, rows, w, n, (size_t)width * 3);
	resize_store_row(acc, d, (size_t)width * 3, 3);
}

static void resize_vrow4(float *acc, const float *const *rows, const float *w,
		uint32_t n, uint8_t *d, uint32_t width)
{
	resize_vrow(acc, rows, w, n, (size_t)width * 4);
	resize_store_row(acc, d, (size_t)width * 4, 4);
}

static const struct resize_kernels resize_portable[2] = {
	{ resize_load3, resize_hrow3, resize_vrow3 },
	{ resize_load4, resize_hrow4, resize_vrow4 },
};

/* Eight one-channel rows to d[8 * x + i] = s[i][x]. */
static void resize_load8(const uint8_t *const *s, float *restrict d,
		uint32_t w)
{
	const uint8_t *restrict s0 = s[0], *restrict s1 = s[1];
	const uint8_t *restrict s2 = s[2], *restrict s3 = s[3];
	const uint8_t *restrict s4 = s[4], *restrict s5 = s[5];
	const uint8_t *restrict s6 = s[6], *restrict s7 = s[7];

	for (size_t x = 0; x < w; x++, d += 8) {
		d[0] = (float)s0[x];
		d[1] = (float)s1[x];
		d[2] = (float)s2[x];
		d[3] = (float)s3[x];
		d[4] = (float)s4[x];
		d[5] = (float)s5[x];
		d[6] = (float)s6[x];
		d[7] = (float)s7[x];
	}
}

/* The one-channel h pass: two four-row halves of each tap. */
static void resize_hrow8(const struct resize_axis *restrict ax,
		const float *p, float *const *d)
{
	const float *restrict w = ax->w;
	uint32_t kn = ax->ksize;

	for (uint32_t x = 0; x < ax->out; x++, w += kn) {
		const float *q = p + (size_t)ax->start[x] * 8;
		resize_v4 a0 = { 0 }, a1 = { 0 }, b0 = { 0 }, b1 = { 0 };
		size_t k = 0;

		for (; k + 2 <= kn; k += 2) {
			a0 += w[k] * resize_v4_loada(q + 8 * k);
			a1 += w[k] * resize_v4_loada(q + 8 * k + 4);
			b0 += w[k + 1] * resize_v4_loada(q + 8 * k + 8);
			b1 += w[k + 1] * resize_v4_loada(q + 8 * k + 12);
		}
		if (k < kn) {
			a0 += w[k] * resize_v4_loada(q + 8 * k);
			a1 += w[k] * resize_v4_loada(q + 8 * k + 4);
		}
		a0 += b0;
		a1 += b1;
		for (int i = 0; i < 4; i++) {
			d[i][x] = a0[i];
			d[4 + i][x] = a1[i];
		}
	}
}

static void resize_vrow1(float *acc, const float *const *rows, const float *w,
		uint32_t n, uint8_t *d, uint32_t width)
{
	resize_vrow(acc, rows, w, n, width);
	resize_store_row(acc, d, width, 1);
}

static const struct resize_kernels1 resize_portable1 = {
	resize_load8, resize_hrow8, resize_vrow1,
};

#ifdef RESIZE_X86
/*
 * AVX2 + FMA row kernels, the same computations eight floats wide. Only
 * functions carrying this target attribute may see 256-bit types.
 * ISO C mode turns off gcc's FMA contraction, hence the intrinsics.
 */
#define RESIZE_AVX2 __attribute__((target("avx2,fma")))
#define RESIZE_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) \
	inline

/* Eight values of pixels with alpha in lanes 3 and 7: colour times
 * alpha/255, the same rounding as resize_load_row(). */
static RESIZE_AVX2_INLINE __m256 resize_avx2_premul(__m256 v)
{
	__m256 k = _mm256_mul_ps(_mm256_shuffle_ps(v, v, 0xff),
		_mm256_set1_ps(1.0f / 255.0f));
	return _mm256_mul_ps(v, _mm256_blend_ps(k, _mm256_set1_ps(1.0f), 0x88));
}

/* Byte shuffle: pixel @j of each 128-bit half to four 32-bit lanes. */
static RESIZE_AVX2_INLINE __m256i resize_avx2_spread(int j, int C)
{
	char b0 = (char)(C * j), b1 = (char)(C * j + 1), b2 = (char)(C * j + 2);
	char b3 = C == 4 ? (char)(C * j + 3) : -1;

	return _mm256_setr_epi8(b0, -1, -1, -1, b1, -1, -1, -1, b2, -1, -1, -1,
		b3, -1, -1, -1, b0, -1, -1, -1, b1, -1, -1, -1, b2, -1, -1, -1,
		b3, -1, -1, -1);
}

/*
 * resize_load_row() four pixels at a time: sixteen bytes of each row in
 * the two halves of a vector, one byte shuffle per pixel puts a pixel of
 * each row in the right lanes.
 */
static RESIZE_AVX2_INLINE void resize_avx2_load_row(const uint8_t *restrict s0,
		const uint8_t *restrict s1, float *restrict d, uint32_t w,
		int C)
{
	const __m256i m0 = resize_avx2_spread(0, C);
	const __m256i m1 = resize_avx2_spread(1, C);
	const __m256i m2 = resize_avx2_spread(2, C);
	const __m256i m3 = resize_avx2_spread(3, C);
	/* the sixteen-byte loads must stay inside the row: 3x + 16 <= 3w */
	uint32_t end = C == 4 ? w : (w > 2 ? w - 2 : 0);
	uint32_t x = 0;

	for (; x + 4 <= end; x += 4) {
		__m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(
			_mm_loadu_si128((const void *)(s0 + (size_t)C * x))),
			_mm_loadu_si128((const void *)(s1 + (size_t)C * x)), 1);
		__m256 v0 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(b, m0));
		__m256 v1 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(b, m1));
		__m256 v2 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(b, m2));
		__m256 v3 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(b, m3));
		if (C == 4) {
			v0 = resize_avx2_premul(v0);
			v1 = resize_avx2_premul(v1);
			v2 = resize_avx2_premul(v2);
			v3 = resize_avx2_premul(v3);
		}
		_mm256_store_ps(d + 8 * (size_t)x, v0);
		_mm256_store_ps(d + 8 * (size_t)x + 8, v1);
		_mm256_store_ps(d + 8 * (size_t)x + 16, v2);
		_mm256_store_ps(d + 8 * (size_t)x + 24, v3);
	}
	for (; x < w; x++) {
		const uint8_t *a = s0 + (size_t)C * x, *b = s1 + (size_t)C * x;
		float *p = d + 8 * (size_t)x;
		float ka = C == 4 ? (float)a[3] * (1.0f / 255.0f) : 1.0f;
		float kb = C == 4 ? (float)b[3] * (1.0f / 255.0f) : 1.0f;
		for (int c = 0; c < 3; c++) {
			p[c] = (float)a[c] * ka;
			p[4 + c] = (float)b[c] * kb;
		}
		p[3] = C == 4 ? (float)a[3] : 0.0f;
		p[7] = C == 4 ? (float)b[3] : 0.0f;
	}
}

static RESIZE_AVX2 void resize_avx2_load3(const uint8_t *s0,
		const uint8_t *s1, float *d, uint32_t w)
{
	resize_avx2_load_row(s0, s1, d, w, 3);
}

static RESIZE_AVX2 void resize_avx2_load4(const uint8_t *s0,
		const uint8_t *s1, float *d, uint32_t w)
{
	resize_avx2_load_row(s0, s1, d, w, 4);
}

/* Lanes 0-3 of @v to row @d0, lanes 4-7 to @d1, four floats each. */
static RESIZE_AVX2_INLINE void resize_avx2_split(float *d0, float *d1,
		__m256 v)
{
	_mm_storeu_ps(d0, _mm256_castps256_ps128(v));
	_mm_storeu_ps(d1, _mm256_extractf128_ps(v, 1));
}

/*
 * Output x of the eight rows in pair buffers @pp: a broadcast weight for
 * four aligned loads and FMAs of two rows each. Two sets of sums (even
 * and odd taps) halve the FMA chains.
 */
static RESIZE_AVX2_INLINE void resize_avx2_hout(const struct resize_axis *ax,
		const float *const *pp, float *const *d, uint32_t x,
		const float *w, int C)
{
	uint32_t kn = ax->ksize;
	size_t o = (size_t)ax->start[x] * 8;
	const float *p = pp[0] + o, *q = pp[1] + o, *u = pp[2] + o;
	const float *v = pp[3] + o;
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	__m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
	size_t k = 0;

	for (; k + 2 <= kn; k += 2) {
		__m256 wk = _mm256_broadcast_ss(w + k);
		a0 = _mm256_fmadd_ps(wk, _mm256_load_ps(p + 8 * k), a0);
		a1 = _mm256_fmadd_ps(wk, _mm256_load_ps(q + 8 * k), a1);
		a2 = _mm256_fmadd_ps(wk, _mm256_load_ps(u + 8 * k), a2);
		a3 = _mm256_fmadd_ps(wk, _mm256_load_ps(v + 8 * k), a3);
		wk = _mm256_broadcast_ss(w + k + 1);
		b0 = _mm256_fmadd_ps(wk, _mm256_load_ps(p + 8 * k + 8), b0);
		b1 = _mm256_fmadd_ps(wk, _mm256_load_ps(q + 8 * k + 8), b1);
		b2 = _mm256_fmadd_ps(wk, _mm256_load_ps(u + 8 * k + 8), b2);
		b3 = _mm256_fmadd_ps(wk, _mm256_load_ps(v + 8 * k + 8), b3);
	}
	if (k < kn) {
		__m256 wk = _mm256_broadcast_ss(w + k);
		a0 = _mm256_fmadd_ps(wk, _mm256_load_ps(p + 8 * k), a0);
		a1 = _mm256_fmadd_ps(wk, _mm256_load_ps(q + 8 * k), a1);
		a2 = _mm256_fmadd_ps(wk, _mm256_load_ps(u + 8 * k), a2);
		a3 = _mm256_fmadd_ps(wk, _mm256_load_ps(v + 8 * k), a3);
	}
	a0 = _mm256_add_ps(a0, b0);
	a1 = _mm256_add_ps(a1, b1);
	a2 = _mm256_add_ps(a2, b2);
	a3 = _mm256_add_ps(a3, b3);
	x *= (uint32_t)C;
	resize_avx2_split(d[0] + x, d[1] + x, a0);
	resize_avx2_split(d[2] + x, d[3] + x, a1);
	resize_avx2_split(d[4] + x, d[5] + x, a2);
	resize_avx2_split(d[6] + x, d[7] + x, a3);
}

static RESIZE_AVX2_INLINE void resize_avx2_hrow(const struct resize_axis *ax,
		const float *const *p, float *const *d, int C)
{
	const float *w = ax->w;

	for (uint32_t x = 0; x < ax->out; x++, w += ax->ksize) {
		resize_avx2_hout(ax, p, d, x, w, C);
	}
}

static RESIZE_AVX2 void resize_avx2_hrow3(const struct resize_axis *ax,
		const float *const *p, float *const *d)
{
	resize_avx2_hrow(ax, p, d, 3);
}

static RESIZE_AVX2 void resize_avx2_hrow4(const struct resize_axis *ax,
		const float *const *p, float *const *d)
{
	resize_avx2_hrow(ax, p, d, 4);
}

/* resize_round() of eight floats, un-premultiplied first when C == 4. */
static RESIZE_AVX2_INLINE __m256i resize_avx2_round(__m256 v, int C)
{
	if (C == 4) {
		__m256 a = _mm256_shuffle_ps(v, v, 0xff);
		__m256 k = _mm256_div_ps(_mm256_set1_ps(255.0f),
			_mm256_min_ps(a, _mm256_set1_ps(255.0f)));
		k = _mm256_and_ps(k, _mm256_cmp_ps(a, _mm256_set1_ps(0.5f),
			_CMP_GE_OQ));
		v = _mm256_mul_ps(v, _mm256_blend_ps(k, _mm256_set1_ps(1.0f),
			0x88));
	}
	return _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5f)));
}

/*
 * 32 floats to 32 bytes: truncation after adding one half as in
 * resize_round(), the two saturating packs doing the clamping.
 */
static RESIZE_AVX2_INLINE void resize_avx2_pack(uint8_t *d, __m256 v0,
		__m256 v1, __m256 v2, __m256 v3, int C)
{
	__m256i lo = _mm256_packs_epi32(resize_avx2_round(v0, C),
		resize_avx2_round(v1, C));
	__m256i hi = _mm256_packs_epi32(resize_avx2_round(v2, C),
		resize_avx2_round(v3, C));
	__m256i b = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(lo, hi),
		_mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));

	_mm256_storeu_si256((__m256i *)(void *)d, b);
}

/*
 * One output row: resize_vrow() with 8-wide FMAs, 64 floats at a time
 * (eight independent sums hide the FMA latency, four did not), rounded
 * to bytes straight from the registers. The tail goes through @acc.
 */
static RESIZE_AVX2_INLINE void resize_avx2_vrow(float *restrict acc,
		const float *const *rows, const float *restrict w, uint32_t n,
		uint8_t *restrict d, uint32_t width, int C)
{
	size_t len = (size_t)width * (size_t)C, i = 0, tail;

	for (; i + 64 <= len; i += 64) {
		const float *r0 = rows[0] + i;
		__m256 w0 = _mm256_set1_ps(w[0]);
		__m256 t0 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 0));
		__m256 t1 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 8));
		__m256 t2 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 16));
		__m256 t3 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 24));
		__m256 t4 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 32));
		__m256 t5 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 40));
		__m256 t6 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 48));
		__m256 t7 = _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + 56));
		for (uint32_t k = 1; k < n; k++) {
			const float *rk = rows[k] + i;
			__m256 wk = _mm256_set1_ps(w[k]);
			t0 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 0), t0);
			t1 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 8), t1);
			t2 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 16), t2);
			t3 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 24), t3);
			t4 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 32), t4);
			t5 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 40), t5);
			t6 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 48), t6);
			t7 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(rk + 56), t7);
		}
		resize_avx2_pack(d + i, t0, t1, t2, t3, C);
		resize_avx2_pack(d + i + 32, t4, t5, t6, t7, C);
	}
	tail = i;
	for (; i + 8 <= len; i += 8) {
		__m256 t = _mm256_mul_ps(_mm256_set1_ps(w[0]),
			_mm256_loadu_ps(rows[0] + i));
		for (uint32_t k = 1; k < n; k++) {
			t = _mm256_fmadd_ps(_mm256_set1_ps(w[k]),
				_mm256_loadu_ps(rows[k] + i), t);
		}
		_mm256_storeu_ps(acc + i, t);
	}
	for (; i < len; i++) {
		float t = w[0] * rows[0][i];
		for (uint32_t k = 1; k < n; k++) {
			t += w[k] * rows[k][i];
		}
		acc[i] = t;
	}
	/* 64 floats are whole four-channel pixels */
	resize_store_row(acc + tail, d + tail, len - tail, C);
}

static RESIZE_AVX2 void resize_avx2_vrow3(float *acc, const float *const *rows,
		const float *w, uint32_t n, uint8_t *d, uint32_t width)
{
	resize_avx2_vrow(acc, rows, w, n, d, width, 3);
}

static RESIZE_AVX2 void resize_avx2_vrow4(float *acc, const float *const *rows,
		const float *w, uint32_t n, uint8_t *d, uint32_t width)
{
	resize_avx2_vrow(acc, rows, w, n, d, width, 4);
}

static const struct resize_kernels resize_avx2[2] = {
	{ resize_avx2_load3, resize_avx2_hrow3, resize_avx2_vrow3 },
	{ resize_avx2_load4, resize_avx2_hrow4, resize_avx2_vrow4 },
};

/*
 * resize_load8() eight samples at a time: eight bytes of each row widened
 * to floats, then an 8x8 transpose so each vector holds one column.
 */
static RESIZE_AVX2 void resize_avx2_load8(const uint8_t *const *s,
		float *restrict d, uint32_t w)
{
	uint32_t x = 0;

	for (; x + 8 <= w; x += 8) {
		__m256 r[8], t[8], u[8];
		for (int i = 0; i < 8; i++) {
			r[i] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
				_mm_loadl_epi64((const void *)(s[i] + x))));
		}
		for (int i = 0; i < 8; i += 2) {
			t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
			t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
		}
		for (int i = 0; i < 8; i += 4) {
			u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
			u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
			u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
			u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
		}
		float *o = d + 8 * (size_t)x;
		for (int j = 0; j < 4; j++) {
			_mm256_store_ps(o + 8 * j, _mm256_permute2f128_ps(
				u[j], u[4 + j], 0x20));
			_mm256_store_ps(o + 8 * (j + 4), _mm256_permute2f128_ps(
				u[j], u[4 + j], 0x31));
		}
	}
	for (; x < w; x++) {
		for (int i = 0; i < 8; i++) {
			d[8 * (size_t)x + (size_t)i] = (float)s[i][x];
		}
	}
}

static RESIZE_AVX2 void resize_avx2_hrow8(const struct resize_axis *ax,
		const float *p, float *const *d)
{
	const float *w = ax->w;
	uint32_t kn = ax->ksize;
	float lane[8] __attribute__((aligned(32)));

	for (uint32_t x = 0; x < ax->out; x++, w += kn) {
		const float *q = p + (size_t)ax->start[x] * 8;
		__m256 a = _mm256_setzero_ps(), b = a;
		size_t k = 0;

		for (; k + 2 <= kn; k += 2) {
			a = _mm256_fmadd_ps(_mm256_broadcast_ss(w + k),
				_mm256_load_ps(q + 8 * k), a);
			b = _mm256_fmadd_ps(_mm256_broadcast_ss(w + k + 1),
				_mm256_load_ps(q + 8 * k + 8), b);
		}
		if (k < kn) {
			a = _mm256_fmadd_ps(_mm256_broadcast_ss(w + k),
				_mm256_load_ps(q + 8 * k), a);
		}
		_mm256_store_ps(lane, _mm256_add_ps(a, b));
		for (int i = 0; i < 8; i++) {
			d[i][x] = lane[i];
		}
	}
}

static RESIZE_AVX2 void resize_avx2_vrow1(float *acc, const float *const *rows,
		const float *w, uint32_t n, uint8_t *d, uint32_t width)
{
	resize_avx2_vrow(acc, rows, w, n, d, width, 1);
}

static const struct resize_kernels1 resize_avx2_1 = {
	resize_avx2_load8, resize_avx2_hrow8, resize_avx2_vrow1,
};
#endif

static int resize_prepare(struct resizer *r, const struct image *src,
		uint32_t w, uint32_t h, uint32_t span2_w, uint32_t span2_h)
{
	size_t c = src->channels, n_row, n_ring, n_acc, stride;
	uint32_t rows;
	int e;

	e = resize_table(r->hcache, &r->tick, src->width, w, span2_w, 1,
		&r->hx);
	if (e == 0) {
		e = resize_table(r->vcache, &r->tick, src->height, h, span2_h,
			0, &r->vy);
	}
	if (e < 0) {
		return e;
	}
	/*
	 * Windows never exceed ksize taps, and the h pass runs up to
	 * RESIZE_HROWS - 1 rows past the window it fills for.
	 */
	rows = r->vy->ksize + RESIZE_HROWS - 1;
	/*
	 * RESIZE_HROWS / 2 pair buffers of eight floats a pixel, each with
	 * room after it to convert two rows in. The h pass stores four
	 * floats an output, so three channels write one float past the
	 * ring row; rows are whole vectors apart.
	 */
	if (__builtin_mul_overflow((size_t)src->width, (size_t)16,
				&n_row) ||
			__builtin_add_overflow(n_row, (size_t)8, &n_row) ||
			__builtin_mul_overflow(n_row, (size_t)RESIZE_HROWS / 2,
				&n_row) ||
			__builtin_mul_overflow((size_t)w, c, &n_acc) ||
			__builtin_add_overflow(n_acc, c + 8, &stride) ||
			__builtin_mul_overflow(stride & ~(size_t)7,
				(size_t)rows, &n_ring)) {
		return -EOVERFLOW;
	}
	stride &= ~(size_t)7;
	e = resize_grow((void **)&r->row, &r->cap_row, n_row, sizeof(float));
	if (e == 0) {
		e = resize_grow((void **)&r->ring, &r->cap_ring, n_ring,
			sizeof(float));
	}
	if (e == 0) {
		e = resize_grow((void **)&r->acc, &r->cap_acc, n_acc,
			sizeof(float));
	}
	if (e == 0) {
		e = resize_grow((void **)&r->rows, &r->cap_rows, rows,
			sizeof(*r->rows));
	}
	if (e < 0) {
		return e;
	}
	r->row_stride = n_row / (RESIZE_HROWS / 2);
	r->ring_rows = rows;
	r->ring_stride = stride;
	return 0;
}

/*
 * Source rows @y.. through the h pass into their ring slots. Past the
 * bottom a row of the same pair repeats, computed and written twice.
 */
static void resize_hpass(struct resizer *r, const struct resize_kernels *kn,
		const struct image *src, uint32_t y)
{
	const float *p[RESIZE_HROWS / 2];
	float *d[RESIZE_HROWS];

	for (uint32_t i = 0; i < RESIZE_HROWS; i += 2) {
		if (y + i >= src->height) {
			p[i / 2] = p[0];
			d[i] = d[0];
			d[i + 1] = d[1];
			continue;
		}
		uint32_t y1 = y + i + 1 < src->height ? y + i + 1 : y + i;
		float *row = r->row + i / 2 * r->row_stride;
		kn->load(src->px + (size_t)(y + i) * src->stride,
			src->px + (size_t)y1 * src->stride, row, src->width);
		p[i / 2] = row;
		d[i] = r->ring + (size_t)((y + i) % r->ring_rows) *
			r->ring_stride;
		d[i + 1] = r->ring + (size_t)(y1 % r->ring_rows) *
			r->ring_stride;
	}
	/*
	 * The next group's rows, while this one is filtered. In the daemon
	 * the decoded image is not in the cache, and rows of a few lines are
	 * too short for the hardware prefetcher to catch on.
	 */
	for (uint32_t i = RESIZE_HROWS; i < 2 * RESIZE_HROWS &&
			y + i < src->height; i++) {
		const uint8_t *q = src->px + (size_t)(y + i) * src->stride;
		for (size_t o = 0; o < src->stride; o += 64) {
			__builtin_prefetch(q + o);
		}
	}
	kn->hrow(r->hx, p, d);
}

/* resize_hpass() for one channel; rows past the bottom repeat row @y. */
static void resize_hpass1(struct resizer *r, const struct resize_kernels1 *kn,
		const struct image *src, uint32_t y)
{
	const uint8_t *s[RESIZE_HROWS];
	float *d[RESIZE_HROWS];

	for (uint32_t i = 0; i < RESIZE_HROWS; i++) {
		uint32_t yi = y + i < src->height ? y + i : y;
		s[i] = src->px + (size_t)yi * src->stride;
		d[i] = r->ring + (size_t)(yi % r->ring_rows) * r->ring_stride;
	}
	kn->load8(s, r->row, src->width);
	kn->hrow8(r->hx, r->row, d);
}

static void resize_compute(struct resizer *r, const struct image *src,
		struct image *dst)
{
	const struct resize_kernels *kn = &resize_portable[src->channels == 4];
	const struct resize_kernels1 *k1 = &resize_portable1;
	const struct resize_axis *vy = r->vy;
	uint32_t rows = r->ring_rows;
	uint32_t next = 0; /* next source row to run through the h pass */

#ifdef RESIZE_X86
	if (r->simd == RESIZE_SIMD_AVX2) {
		kn = &resize_avx2[src->channels == 4];
		k1 = &resize_avx2_1;
	}
#endif
	for (uint32_t y = 0; y < dst->height; y++) {
		uint32_t s0 = vy->start[y], n = vy->count[y];
		const float *wy = vy->w + (size_t)y * vy->ksize;
		uint8_t *d = dst->px + (size_t)y * dst->stride;

		/* Windows move forward only: fill the ring up to this one's end. */
		for (; next < s0 + n; next += RESIZE_HROWS) {
			if (src->channels == 1) {
				resize_hpass1(r, k1, src, next);
			} else {
				resize_hpass(r, kn, src, next);
			}
		}
		for (uint32_t k = 0; k < n; k++) {
			r->rows[k] = r->ring + (size_t)((s0 + k) % rows) *
				r->ring_stride;
		}
		if (src->channels == 1) {
			k1->vrow(r->acc, r->rows, wy, n, d, dst->width);
		} else {
			kn->vrow(r->acc, r->rows, wy, n, d, dst->width);
		}
	}
}

/*
 * Resample @src to (w x h) into @dst, the output spanning @span2_w / 2 by
 * @span2_h / 2 output samples' worth of the source (normally w and h).
 * See resizer_run().
 */
static int resize_run(struct resizer *r, const struct image *src,
		struct image *dst, uint32_t w, uint32_t h, uint32_t span2_w,
		uint32_t span2_h)
{
	int e;

	if (src == dst || w == 0 || h == 0 || src->width == 0 ||
			src->height == 0 ||
			(src->channels != 1 && src->channels != 3 &&
			 src->channels != 4)) {
		return -EINVAL;
	}
	if (w == src->width && h == src->height &&
			span2_w == 2 * (uint64_t)w && span2_h == 2 * (uint64_t)h) {
		e = image_reserve(dst, w, h, src->channels);
		if (e < 0) {
			return e;
		}
		for (uint32_t y = 0; y < h; y++) {
			memcpy(dst->px + (size_t)y * dst->stride,
				src->px + (size_t)y * src->stride, dst->stride);
		}
		return 0;
	}
	e = resize_prepare(r, src, w, h, span2_w, span2_h);
	if (e < 0) {
		return e;
	}
	e = image_reserve(dst, w, h, src->channels);
	if (e < 0) {
		return e;
	}
	resize_compute(r, src, dst);
	return 0;
}

int resizer_run(struct resizer *r, const struct image *src, struct image *dst,
		uint32_t w, uint32_t h)
{
	if (w > UINT32_MAX / 2 || h > UINT32_MAX / 2) {
		return -EOVERFLOW;
	}
	return resize_run(r, src, dst, w, h, 2 * w, 2 * h);
}

int resizer_run_chroma(struct resizer *r, const struct image *src,
		struct image *dst, uint32_t luma_w, uint32_t luma_h)
{
	if (src->channels != 1) {
		return -EINVAL;
	}
	return resize_run(r, src, dst, luma_w / 2 + luma_w % 2,
		luma_h / 2 + luma_h % 2, luma_w, luma_h);
}

/*
 * Copy the centred (w x h) window of @src into @dst (a different image).
 * Odd leftovers go to the right and bottom. Returns 0, -EINVAL when the
 * window is empty or larger than @src, or an image_reserve() error.
 */
int image_crop_centre(const struct image *src, struct image *dst, uint32_t w,
		uint32_t h)
{
	size_t x0, y0;
	int e;

	if (src == dst || w == 0 || h == 0 || w > src->width ||
			h > src->height) {
		return -EINVAL;
	}
	e = image_reserve(dst, w, h, src->channels);
	if (e < 0) {
		return e;
	}
	x0 = (src->width - w) / 2;
	y0 = (src->height - h) / 2;
	for (uint32_t y = 0; y < h; y++) {
		memcpy(dst->px + (size_t)y * dst->stride,
			src->px + (y0 + y) * src->stride + x0 * src->channels,
			dst->stride);
	}
	return 0;
}
