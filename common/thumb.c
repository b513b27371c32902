#include "thumb.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "decode.h"
#include "encode.h"
#include "geometry.h"
#include "image.h"
#include "orient.h"
#include "outpath.h"
#include "resize.h"
#include "safeio.h"
#include "sniff.h"

struct thumb_ctx {
	struct safeio_buf in;
	struct jpeg_dec *jpeg;
	struct encoder *enc;
	struct resizer *rs;
	/*
	 * The image as decoded, upright, and each size before any crop: RGB
	 * or RGBA in [0], or on the planar path Y, Cb and Cr in [0..2].
	 */
	struct image decoded[3];
	struct image oriented[3];
	struct image fit[THUMB_MAX_SIZES][3];
	struct image crop;
};

/* The state of one job while it runs. */
struct thumb_run {
	struct thumb_ctx *ctx;
	const struct thumb_job *job;
	struct thumb_result *res;
	const char *base;    /* file name part of job->rel */
	int outfd;           /* output folder, opened at the first write */
	uint32_t ow, oh;     /* the full image, upright */
	const struct image *done[THUMB_MAX_SIZES]; /* results so far, largest first */
	uint32_t n_done;
};

/* Images of an array, freed. */
static void thumb_images_finish(struct image *img, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		image_finish(&img[i]);
	}
}

static uint64_t thumb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int thumb_fail(struct thumb_result *res, enum thumb_fault fault, int r,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int thumb_fail(struct thumb_result *res, enum thumb_fault fault, int r,
		const char *fmt, ...)
{
	va_list ap;

	res->fault = fault;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(res->error, sizeof(res->error), fmt, ap);
		va_end(ap);
	}
	return r;
}

struct thumb_ctx *thumb_ctx_create(void)
{
	struct thumb_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx) {
		return NULL;
	}
	ctx->jpeg = jpeg_dec_create();
	ctx->enc = encoder_create();
	ctx->rs = resizer_create();
	if (!ctx->jpeg || !ctx->enc || !ctx->rs) {
		thumb_ctx_destroy(ctx);
		return NULL;
	}
	return ctx;
}

void thumb_ctx_destroy(struct thumb_ctx *ctx)
{
	if (!ctx) {
		return;
	}
	safeio_buf_finish(&ctx->in);
	jpeg_dec_destroy(ctx->jpeg);
	encoder_destroy(ctx->enc);
	resizer_destroy(ctx->rs);
	thumb_images_finish(ctx->decoded, 3);
	thumb_images_finish(ctx->oriented, 3);
	thumb_images_finish(&ctx->fit[0][0], THUMB_MAX_SIZES * 3);
	image_finish(&ctx->crop);
	free(ctx);
}

/*
 * A file that vanished or changed under us is not its fault: the event
 * that replaced it queues it again. Running out of memory or descriptors
 * is ours. Everything else is the file's.
 */
static enum thumb_fault thumb_read_fault(int r)
{
	switch (r) {
	case -ENOENT:
	case -ESTALE:
	case -ENOTDIR:
		return THUMB_FAULT_GONE;
	case -ENOMEM:
	case -EMFILE:
	case -ENFILE:
		return THUMB_FAULT_INTERNAL;
	default:
		return THUMB_FAULT_INPUT;
	}
}

/*
 * Whether a job may take the planar path: YCbCr JPEG in, 4:2:0 JPEG out,
 * Y and chroma resized as the planes they are. It skips libjpeg's
 * upsampling and both colour conversions, and resizes half the samples
 * (on 320x200 -> 256x160 photos: 0.06 ms against 0.08 ms for RGB).
 * WebP output and cover crops keep the RGB path: a crop of an odd offset
 * would split a chroma sample.
 */
static bool thumb_planar(const struct thumb_spec *spec)
{
	return spec->formats == THUMB_FORMAT_JPEG &&
		spec->fit == THUMB_FIT_CONTAIN;
}

static int thumb_decode(struct thumb_run *run, struct decode_info *info)
{
	struct thumb_ctx *ctx = run->ctx;
	struct thumb_result *res = run->res;
	const struct thumb_spec *spec = run->job->spec;
	enum sniff_format f = sniff_format(ctx->in.data, ctx->in.len);
	int r;

	if (ctx->in.len == 0) {
		return thumb_fail(res, THUMB_FAULT_INPUT, -EMEDIUMTYPE,
			"empty file");
	}
	switch (f) {
	case SNIFF_JPEG:
		r = jpeg_dec_run_ycc(ctx->jpeg, ctx->in.data, ctx->in.len,
			spec, ctx->decoded, thumb_planar(spec) ? ctx->decoded :
			NULL, info, res->error, sizeof(res->error));
		break;
	case SNIFF_WEBP:
		r = webp_decode(ctx->in.data, ctx->in.len, spec, ctx->decoded,
			info, res->error, sizeof(res->error));
		break;
	case SNIFF_UNKNOWN:
		return thumb_fail(res, THUMB_FAULT_INPUT, -EMEDIUMTYPE,
			"not an image");
	default:
		return thumb_fail(res, THUMB_FAULT_INPUT, -EMEDIUMTYPE,
			"%s is not supported", sniff_name(f));
	}
	if (r < 0) {
		return thumb_fail(res, r == -ENOMEM ? THUMB_FAULT_INTERNAL :
			THUMB_FAULT_INPUT, r, NULL);
	}
	return 0;
}

/* Sizes by decreasing area; equal areas keep their order (insertion sort). */
static void thumb_order(const struct thumb_spec *spec, uint32_t *order)
{
	for (uint32_t i = 0; i < spec->n_sizes; i++) {
		uint64_t a = (uint64_t)spec->sizes[i].width * spec->sizes[i].height;
		uint32_t j = i;
		while (j > 0) {
			const struct thumb_size *p = &spec->sizes[order[j - 1]];
			if ((uint64_t)p->width * p->height >= a) {
				break;
			}
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
}

/*
 * The smallest image made so far that still covers (w x h): usually the
 * previous size. Boxes of different shapes can make an earlier result too
 * narrow or too short, and then an earlier one, or the decode, is used,
 * so nothing is ever upscaled.
 */
static const struct image *thumb_source(const struct thumb_run *run,
		const struct image *base, uint32_t w, uint32_t h)
{
	for (uint32_t i = run->n_done; i-- > 0;) {
		const struct image *c = run->done[i];
		if (c->width >= w && c->height >= h) {
			return c;
		}
	}
	return base;
}

static int thumb_write(struct thumb_run *run, struct thumb_size box,
		enum thumb_format fmt, const uint8_t *data, size_t len)
{
	const struct thumb_job *job = run->job;
	struct thumb_result *res = run->res;
	char name[NAME_MAX + 1];
	int r;

	if (run->outfd < 0) {
		char dir[PATH_MAX];
		size_t dlen = (size_t)(run->base - job->rel);
		if (dlen >= sizeof(dir)) {
			return thumb_fail(res, THUMB_FAULT_INPUT, -ENAMETOOLONG,
				"path too long");
		}
		memcpy(dir, job->rel, dlen);
		dir[dlen] = '\0';
		r = safeio_open_outdir(job->out_root, dir, &run->outfd,
			res->error, sizeof(res->error));
		if (r < 0) {
			return thumb_fail(res, r == -ENOMEM ? THUMB_FAULT_INTERNAL :
				THUMB_FAULT_OUTPUT, r, NULL);
		}
	}
	r = outpath_name(job->spec->name, run->base, box, fmt, name, sizeof(name));
	if (r < 0) {
		return thumb_fail(res, THUMB_FAULT_INPUT, r,
			"output name too long");
	}
	r = atomic_write(run->outfd, name, data, len, job->spec->durable);
	if (r < 0) {
		return thumb_fail(res, r == -ENOMEM ? THUMB_FAULT_INTERNAL :
			THUMB_FAULT_OUTPUT, r, "writing the %ux%u %s output: %s",
			box.width, box.height, outpath_ext(fmt), strerror(-r));
	}
	res->outputs++;
	res->bytes_out += len;
	return 0;
}

/*
 * @img in each format the spec asks for, written out. Planar: @img is Y,
 * Cb and Cr, and JPEG the only format (see thumb_planar()).
 */
static int thumb_encode_all(struct thumb_run *run, const struct image *img,
		bool planar, struct thumb_size box)
{
	static const enum thumb_format formats[] = {
		THUMB_FORMAT_JPEG, THUMB_FORMAT_WEBP,
	};
	struct thumb_result *res = run->res;

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		const uint8_t *data;
		size_t len;
		uint64_t t0 = thumb_now(), t1;
		int r;
		if (!(run->job->spec->formats & formats[i])) {
			continue;
		}
		r = planar ? encoder_run_ycc(run->ctx->enc, img,
				run->job->spec, &data, &len, res->error,
				sizeof(res->error)) :
			encoder_run(run->ctx->enc, img, formats[i],
				run->job->spec, &data, &len, res->error,
				sizeof(res->error));
		t1 = thumb_now();
		res->encode_ns += t1 - t0;
		if (r < 0) {
			/* -EINVAL: this image cannot be encoded so (too large for WebP) */
			return thumb_fail(res, r == -EINVAL ? THUMB_FAULT_INPUT :
				THUMB_FAULT_INTERNAL, r, NULL);
		}
		r = thumb_write(run, box, formats[i], data, len);
		res->write_ns += thumb_now() - t1;
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

/*
 * One size: resize from the best source, crop for cover, encode, write.
 * Planar, Y goes to (fw x fh) and chroma to its 4:2:0 size, always into
 * the slot, since the encoder takes the three planes together.
 */
static int thumb_one_size(struct thumb_run *run, const struct image *base,
		bool planar, uint32_t idx, uint32_t slot)
{
	struct thumb_ctx *ctx = run->ctx;
	const struct thumb_spec *spec = run->job->spec;
	struct thumb_size box = spec->sizes[idx];
	enum thumb_fit fit = (enum thumb_fit)spec->fit;
	struct image *dst = ctx->fit[slot];
	const struct image *cur, *src;
	uint32_t fw, fh, tw, th;
	uint64_t t0 = thumb_now();
	int r = 0;

	geometry_fit(run->ow, run->oh, box, fit, &fw, &fh);
	geometry_output(run->ow, run->oh, box, fit, &tw, &th);
	if (fw > base->width || fh > base->height) {
		/* the decode came out smaller than planned: never upscale it */
		geometry_fit(base->width, base->height, box, fit, &fw, &fh);
		geometry_output(base->width, base->height, box, fit, &tw, &th);
	}
	src = thumb_source(run, base, fw, fh);
	cur = src;
	if (planar || src->width != fw || src->height != fh) {
		r = resizer_run(ctx->rs, src, dst, fw, fh);
		for (int c = 1; planar && c < 3 && r == 0; c++) {
			r = resizer_run_chroma(ctx->rs, &src[c], &dst[c], fw,
				fh);
		}
		cur = dst;
	}
	if (r == 0) {
		run->done[run->n_done++] = cur;
		if (tw != fw || th != fh) {
			r = image_crop_centre(cur, &ctx->crop, tw, th);
			cur = &ctx->crop;
		}
	}
	run->res->resize_ns += thumb_now() - t0;
	if (r < 0) {
		return thumb_fail(run->res, THUMB_FAULT_INTERNAL, r,
			"out of memory resizing to %ux%u", fw, fh);
	}
	return thumb_encode_all(run, cur, planar, box);
}

static int thumb_outputs(struct thumb_run *run, const struct decode_info *info)
{
	struct thumb_ctx *ctx = run->ctx;
	const struct thumb_spec *spec = run->job->spec;
	const struct image *base = ctx->decoded;
	uint32_t order[THUMB_MAX_SIZES];
	uint32_t planes = info->planar ? 3 : 1;
	uint64_t t0 = thumb_now();
	int r = 1;

	for (uint32_t c = 0; c < planes && r >= 0; c++) {
		r = orient_apply(&ctx->decoded[c], info->orientation,
			&ctx->oriented[c]);
	}
	run->res->resize_ns += thumb_now() - t0;
	if (r < 0) {
		return thumb_fail(run->res, THUMB_FAULT_INTERNAL, r,
			"out of memory orienting the image");
	}
	if (r == 0) {
		base = ctx->oriented;
	}
	bool transposed = info->orientation >= 5 && info->orientation <= 8;
	run->ow = transposed ? info->height : info->width;
	run->oh = transposed ? info->width : info->height;
	thumb_order(spec, order);
	for (uint32_t k = 0; k < spec->n_sizes; k++) {
		r = thumb_one_size(run, base, info->planar, order[k], k);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

int thumb_render(struct thumb_ctx *ctx, const struct thumb_job *job,
		struct thumb_result *res)
{
	const struct thumb_spec *spec = job->spec;
	struct thumb_run run = { .ctx = ctx, .job = job, .res = res, .outfd = -1 };
	struct decode_info info;
	struct stat st;
	const char *why = NULL, *slash;
	uint64_t t0, t1;
	int r;

	memset(res, 0, sizeof(*res));
	if (spec_validate(spec, &why) < 0) {
		return thumb_fail(res, THUMB_FAULT_INTERNAL, -EINVAL,
			"bad output spec: %s", why);
	}
	slash = strrchr(job->rel, '/');
	run.base = slash ? slash + 1 : job->rel;
	t0 = thumb_now();
	r = safeio_read_file(job->in_root, job->rel, spec->limits.max_file_size,
		&ctx->in, &st, res->error, sizeof(res->error));
	t1 = thumb_now();
	res->read_ns = t1 - t0;
	if (r < 0) {
		return thumb_fail(res, thumb_read_fault(r), r, NULL);
	}
	res->bytes_in = ctx->in.len;
	r = thumb_decode(&run, &info);
	res->decode_ns = thumb_now() - t1;
	if (r < 0) {
		return r;
	}
	res->src_width = info.width;
	res->src_height = info.height;
	r = thumb_outputs(&run, &info);
	if (run.outfd >= 0) {
		close(run.outfd);
	}
	return r;
}
