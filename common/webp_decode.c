#include "decode.h"
#include "errtext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "exif.h"

/*
 * The scaled decode stops at twice the size the largest output needs:
 * libwebp's rescaler is an area average, fine for the bulk of a large
 * reduction but softer and more aliased than the Lanczos filter that does
 * the last factor of two. The VP8 decode itself runs at full size either
 * way, so the margin costs little time.
 */
#define WEBP_DEC_MARGIN 2

/* An EXIF chunk is read up to this many bytes: IFD0 sits at its start. */
#define WEBP_DEC_EXIF_MAX (64u * 1024)

/* The part of the file that holds the picture to decode. */
struct webp_dec_frame {
	const uint8_t *bytes;
	size_t size;
	uint32_t x, y, w, h; /* placement on the canvas */
	bool has_alpha;
};

static int webp_dec_status(VP8StatusCode st, char *err, size_t errlen)
{
	switch (st) {
	case VP8_STATUS_OUT_OF_MEMORY:
		errtext_set(err, errlen, "out of memory decoding WebP");
		return -ENOMEM;
	case VP8_STATUS_NOT_ENOUGH_DATA:
		errtext_set(err, errlen, "truncated WebP");
		return -EBADMSG;
	case VP8_STATUS_UNSUPPORTED_FEATURE:
		errtext_set(err, errlen, "unsupported WebP feature");
		return -EMEDIUMTYPE;
	default:
		errtext_set(err, errlen, "corrupt WebP data");
		return -EBADMSG;
	}
}

/*
 * exif_orientation() wants the JPEG APP1 form, "Exif\0\0" then TIFF;
 * WebP's EXIF chunk usually holds the bare TIFF, so the prefix is added
 * in a small copy.
 */
static int webp_dec_orientation(const uint8_t *p, size_t n)
{
	static const uint8_t magic[6] = { 'E', 'x', 'i', 'f', 0, 0 };
	uint8_t *copy;
	int o;

	if (n >= sizeof(magic) && memcmp(p, magic, sizeof(magic)) == 0) {
		return exif_orientation(p, n);
	}
	n = n < WEBP_DEC_EXIF_MAX ? n : WEBP_DEC_EXIF_MAX;
	copy = malloc(n + sizeof(magic));
	if (!copy) {
		/* orientation is a nicety: a thumbnail on its side beats none */
		return 1;
	}
	memcpy(copy, magic, sizeof(magic));
	memcpy(copy + sizeof(magic), p, n);
	o = exif_orientation(copy, n + sizeof(magic));
	free(copy);
	return o;
}

/*
 * For an extended (VP8X) file, read what only the demuxer sees: the EXIF
 * orientation and, when animated, where the first frame's bitstream is.
 * The whole file must parse: a truncated animation is a file still being
 * written or a broken one, and neither should become a thumbnail.
 */
static int webp_dec_extended(const uint8_t *data, size_t len, bool animated,
		struct webp_dec_frame *fr, int *orientation, char *err,
		size_t errlen)
{
	WebPData wd = { data, len };
	WebPDemuxState state;
	WebPDemuxer *dmx = WebPDemuxPartial(&wd, &state);
	WebPChunkIterator ci;
	WebPIterator it;
	int r = 0;

	if (!dmx || state != WEBP_DEMUX_DONE) {
		WebPDemuxDelete(dmx);
		errtext_set(err, errlen, state == WEBP_DEMUX_PARSE_ERROR ?
			"corrupt WebP container" : "truncated WebP");
		return -EBADMSG;
	}
	if ((WebPDemuxGetI(dmx, WEBP_FF_FORMAT_FLAGS) & EXIF_FLAG) &&
			WebPDemuxGetChunk(dmx, "EXIF", 1, &ci)) {
		*orientation = webp_dec_orientation(ci.chunk.bytes, ci.chunk.size);
		WebPDemuxReleaseChunkIterator(&ci);
	}
	if (animated) {
		if (!WebPDemuxGetFrame(dmx, 1, &it)) {
			errtext_set(err, errlen, "animated WebP without a frame");
			r = -EBADMSG;
		} else {
			/* the fragment points into @data, not into the demuxer */
			fr->bytes = it.fragment.bytes;
			fr->size = it.fragment.size;
			fr->x = (uint32_t)it.x_offset;
			fr->y = (uint32_t)it.y_offset;
			fr->w = (uint32_t)it.width;
			fr->h = (uint32_t)it.height;
			fr->has_alpha = it.has_alpha;
			WebPDemuxReleaseIterator(&it);
		}
	}
	WebPDemuxDelete(dmx);
	return r;
}

/* (a * b + c - 1) / c in 64 bits; every input fits 32 bits. */
static uint32_t webp_dec_div_up(uint32_t a, uint32_t b, uint32_t c)
{
	return (uint32_t)(((uint64_t)a * b + c - 1) / c);
}

/*
 * The decoded canvas size: the need (with margin) in the side that sets
 * the scale, the other side rounded up to keep the aspect ratio; never
 * larger than the canvas.
 */
static void webp_dec_scale(uint32_t cw, uint32_t ch, int orientation,
		const struct thumb_spec *spec, uint32_t *sw, uint32_t *sh)
{
	uint32_t nw, nh;
	uint64_t mw, mh;

	decode_need(cw, ch, orientation, spec, &nw, &nh);
	mw = (uint64_t)nw * WEBP_DEC_MARGIN;
	mh = (uint64_t)nh * WEBP_DEC_MARGIN;
	if (mw >= cw || mh >= ch) {
		*sw = cw;
		*sh = ch;
		return;
	}
	if (mw * ch >= mh * cw) {
		*sw = (uint32_t)mw;
		*sh = webp_dec_div_up(ch, (uint32_t)mw, cw);
	} else {
		*sh = (uint32_t)mh;
		*sw = webp_dec_div_up(cw, (uint32_t)mh, ch);
	}
	*sw = *sw < 1 ? 1 : *sw > cw ? cw : *sw;
	*sh = *sh < 1 ? 1 : *sh > ch ? ch : *sh;
}

/*
 * Decode @fr straight into its rectangle of @out (external memory: no
 * copy), scaled to (fw x fh).
 */
static int webp_dec_frame_into(const struct webp_dec_frame *fr,
		struct image *out, uint32_t ox, uint32_t oy, uint32_t fw,
		uint32_t fh, char *err, size_t errlen)
{
	WebPDecoderConfig cfg;
	VP8StatusCode st;
	size_t c = out->channels;

	if (!WebPInitDecoderConfig(&cfg)) {
		errtext_set(err, errlen, "WebP decoder: library version mismatch");
		return -EINVAL;
	}
	/* workers are one process per core: no extra threads */
	cfg.options.use_threads = 0;
	if (fw != fr->w || fh != fr->h) {
		cfg.options.use_scaling = 1;
		cfg.options.scaled_width = (int)fw;
		cfg.options.scaled_height = (int)fh;
	}
	cfg.output.colorspace = c == 4 ? MODE_RGBA : MODE_RGB;
	cfg.output.is_external_memory = 1;
	cfg.output.u.RGBA.rgba = out->px + (size_t)oy * out->stride + ox * c;
	cfg.output.u.RGBA.stride = (int)out->stride;
	cfg.output.u.RGBA.size = out->stride * (fh - 1) + fw * c;
	st = WebPDecode(fr->bytes, fr->size, &cfg);
	WebPFreeDecBuffer(&cfg.output);
	if (st != VP8_STATUS_OK) {
		return webp_dec_status(st, err, errlen);
	}
	return 0;
}

/*
 * Place the first frame on the scaled canvas. A frame smaller than the
 * canvas is scaled by the canvas's factor and composited on transparent
 * black, which is what a viewer shows for frame one.
 */
static int webp_dec_pixels(const struct webp_dec_frame *fr, uint32_t cw,
		uint32_t ch, uint32_t sw, uint32_t sh, struct image *out,
		bool *has_alpha, char *err, size_t errlen)
{
	bool covers = fr->x == 0 && fr->y == 0 && fr->w == cw && fr->h == ch;
	bool alpha = fr->has_alpha || !covers;
	uint32_t x0, y0, x1, y1;
	int r = image_reserve(out, sw, sh, alpha ? 4 : 3);

	if (r < 0) {
		errtext_set(err, errlen, "out of memory for %ux%u", sw, sh);
		return r;
	}
	if (covers) {
		x0 = y0 = 0;
		x1 = sw;
		y1 = sh;
	} else {
		memset(out->px, 0, out->stride * sh);
		x0 = (uint32_t)((uint64_t)fr->x * sw / cw);
		y0 = (uint32_t)((uint64_t)fr->y * sh / ch);
		x1 = webp_dec_div_up(fr->x + fr->w, sw, cw);
		y1 = webp_dec_div_up(fr->y + fr->h, sh, ch);
		x1 = x1 > sw ? sw : x1 <= x0 ? x0 + 1 : x1;
		/* x0 < sw since the frame starts inside the canvas */
		y1 = y1 > sh ? sh : y1 <= y0 ? y0 + 1 : y1;
	}
	r = webp_dec_frame_into(fr, out, x0, y0, x1 - x0, y1 - y0, err, errlen);
	if (r == 0) {
		*has_alpha = alpha;
	}
	return r;
}

/*
 * Everything the header says is checked before any pixel memory exists:
 * the canvas against max_pixels (an animation's canvas may be 2^24 on a
 * side whatever its frames are), and the first frame against the canvas.
 */
int webp_decode(const uint8_t *data, size_t len, const struct thumb_spec *spec,
		struct image *out, struct decode_info *info, char *err,
		size_t errlen)
{
	WebPBitstreamFeatures f;
	struct webp_dec_frame fr;
	bool vp8x = len >= 30 && memcmp(data + 12, "VP8X", 4) == 0;
	bool alpha = false;
	int orientation = 1;
	uint32_t cw, ch, sw, sh;
	VP8StatusCode st;
	int r;

	st = WebPGetFeatures(data, len, &f);
	if (st != VP8_STATUS_OK) {
		return webp_dec_status(st, err, errlen);
	}
	cw = (uint32_t)f.width;
	ch = (uint32_t)f.height;
	if (f.width <= 0 || f.height <= 0) {
		errtext_set(err, errlen, "corrupt WebP: empty canvas");
		return -EBADMSG;
	}
	if ((uint64_t)cw * ch > spec->limits.max_pixels) {
		errtext_set(err, errlen, "WebP %s %ux%u exceeds max_pixels %llu",
			vp8x ? "canvas" : "image", cw, ch,
			(unsigned long long)spec->limits.max_pixels);
		return -E2BIG;
	}
	fr = (struct webp_dec_frame){ data, len, 0, 0, cw, ch, f.has_alpha };
	/*
	 * Only animations and files flagged as carrying EXIF need the
	 * demuxer; a plain extended file (alpha, ICC) decodes like any other.
	 */
	if (vp8x && (f.has_animation || (data[20] & EXIF_FLAG))) {
		r = webp_dec_extended(data, len, f.has_animation, &fr,
			&orientation, err, errlen);
		if (r < 0) {
			return r;
		}
	}
	if (fr.w == 0 || fr.h == 0 || fr.x > cw || fr.y > ch ||
			fr.w > cw - fr.x || fr.h > ch - fr.y) {
		errtext_set(err, errlen, "corrupt WebP: frame outside the canvas");
		return -EBADMSG;
	}
	webp_dec_scale(cw, ch, orientation, spec, &sw, &sh);
	r = webp_dec_pixels(&fr, cw, ch, sw, sh, out, &alpha, err, errlen);
	if (r < 0) {
		return r;
	}
	memset(info, 0, sizeof(*info));
	info->width = cw;
	info->height = ch;
	info->orientation = orientation;
	info->scale_denom = 1;
	info->has_alpha = alpha;
	info->animated = f.has_animation;
	return 0;
}
