#include "jpeg_scans.h"

#include <errno.h>
#include <string.h>

#define M_SOI 0xd8
#define M_EOI 0xd9
#define M_SOS 0xda
#define M_APP1 0xe1
#define M_TEM 0x01

/* One marker segment, as offsets into the data. */
struct jpeg_seg {
	size_t start;    /* the 0xff that introduces the marker */
	size_t body;     /* just past the length field */
	size_t body_len;
	size_t end;      /* past the segment; for SOS, past its scan data */
	uint8_t marker;
};

enum jpeg_step {
	JPEG_STEP_SEG = 0, /* *seg is a whole segment */
	JPEG_STEP_EOF = 1, /* the data ended first: truncated */
};

static bool jpeg_scans_standalone(uint8_t m)
{
	return m == M_SOI || m == M_EOI || m == M_TEM ||
		(m >= 0xd0 && m <= 0xd7);
}

/*
 * The end of the entropy-coded data starting at @p: the 0xff of the next
 * marker that is not a restart marker. 0xff00 is a stuffed data byte and
 * any run of 0xff is fill, as libjpeg reads them. memchr keeps this close
 * to memory speed: in coded data 0xff is about one byte in 256.
 */
static enum jpeg_step jpeg_scans_skip_data(const uint8_t *d, size_t len,
		size_t p, size_t *end)
{
	while (p < len) {
		const uint8_t *ff = memchr(d + p, 0xff, len - p);
		if (!ff) {
			break;
		}
		size_t i = (size_t)(ff - d);
		if (i + 1 >= len) {
			break;
		}
		uint8_t b = d[i + 1];
		if (b == 0x00 || (b >= 0xd0 && b <= 0xd7)) {
			p = i + 2;
		} else if (b == 0xff) {
			p = i + 1;
		} else {
			*end = i;
			return JPEG_STEP_SEG;
		}
	}
	return JPEG_STEP_EOF;
}

/*
 * The offset of the next marker byte at or after @p, as libjpeg's
 * next_marker() finds it: bytes before a 0xff are skipped (it warns about
 * "extraneous bytes"), a run of 0xff is fill, and 0xff00 outside a scan
 * is skipped as garbage too. Reading exactly as libjpeg does keeps both
 * of us on the same markers, so no segment can hide from this walk.
 * Returns @len if the data ends first.
 */
static size_t jpeg_scans_marker(const uint8_t *d, size_t len, size_t p)
{
	while (p < len) {
		const uint8_t *ff = memchr(d + p, 0xff, len - p);
		if (!ff) {
			return len;
		}
		p = (size_t)(ff - d);
		while (p < len && d[p] == 0xff) {
			p++;
		}
		if (p < len && d[p] != 0x00) {
			return p;
		}
		p++;
	}
	return len;
}

/* The segment at or after *pos. */
static int jpeg_scans_next(const uint8_t *d, size_t len, size_t *pos,
		struct jpeg_seg *seg)
{
	size_t p = jpeg_scans_marker(d, len, *pos);

	if (p >= len) {
		return JPEG_STEP_EOF;
	}
	seg->start = p - 1;
	seg->marker = d[p++];
	if (jpeg_scans_standalone(seg->marker)) {
		seg->body = p;
		seg->body_len = 0;
		seg->end = p;
		*pos = p;
		return JPEG_STEP_SEG;
	}
	if (len - p < 2) {
		return JPEG_STEP_EOF;
	}
	size_t l = (size_t)d[p] << 8 | d[p + 1];
	if (l < 2) {
		return -EBADMSG;
	}
	if (len - p < l) {
		return JPEG_STEP_EOF;
	}
	seg->body = p + 2;
	seg->body_len = l - 2;
	seg->end = p + l;
	if (seg->marker == M_SOS &&
			jpeg_scans_skip_data(d, len, seg->end, &seg->end) ==
			JPEG_STEP_EOF) {
		return JPEG_STEP_EOF;
	}
	*pos = seg->end;
	return JPEG_STEP_SEG;
}

static int jpeg_scans_sof(const uint8_t *b, size_t n, uint8_t marker,
		struct jpeg_scans *s, const char **why)
{
	/* SOF3/7/11/15 are lossless (7 and 15 also hierarchical) */
	if ((marker & 3) == 3) {
		*why = "lossless JPEG not supported";
		return -EMEDIUMTYPE;
	}
	if (marker == 0xc5 || marker == 0xc6 || marker == 0xcd ||
			marker == 0xce) {
		*why = "hierarchical JPEG not supported";
		return -EMEDIUMTYPE;
	}
	if (n < 6) {
		*why = "corrupt JPEG frame header";
		return -EBADMSG;
	}
	if (b[0] != 8) {
		*why = b[0] == 12 ? "12-bit JPEG not supported" :
			b[0] == 16 ? "16-bit JPEG not supported" :
			"unsupported JPEG sample precision";
		return -EMEDIUMTYPE;
	}
	s->sof = marker;
	s->precision = b[0];
	s->height = (uint32_t)b[1] << 8 | b[2];
	s->width = (uint32_t)b[3] << 8 | b[4];
	s->components = b[5];
	s->progressive = marker == 0xc2 || marker == 0xca;
	s->arithmetic = marker == 0xc9 || marker == 0xca;
	for (size_t c = 0; c < s->components && c < JPEG_SCANS_MAX_COMPONENTS &&
			6 + 3 * c + 3 <= n; c++) {
		const uint8_t *e = b + 6 + 3 * c;
		s->comp_id[c] = e[0];
		s->h_samp[c] = e[1] >> 4;
		s->v_samp[c] = e[1] & 15;
	}
	return 0;
}

static bool jpeg_scans_is_sof(uint8_t m)
{
	/* 0xc4 (DHT), 0xc8 (JPG) and 0xcc (DAC) share the range */
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

int jpeg_scans_parse(const uint8_t *data, size_t len, struct jpeg_scans *out,
		const char **why)
{
	struct jpeg_scans s;
	struct jpeg_seg seg;
	size_t pos = 2;
	int r;

	if (!data || len < 2 || data[0] != 0xff || data[1] != M_SOI) {
		*why = "not a JPEG";
		return -EMEDIUMTYPE;
	}
	memset(&s, 0, sizeof(s));
	s.truncated = true;
	s.end = len;
	while ((r = jpeg_scans_next(data, len, &pos, &seg)) == JPEG_STEP_SEG) {
		const uint8_t *b = data + seg.body;
		if (seg.marker == M_EOI) {
			s.truncated = false;
			s.end = seg.end;
			break;
		}
		if (seg.marker == M_SOI) {
			*why = "corrupt JPEG: two SOI markers";
			return -EBADMSG;
		}
		if (jpeg_scans_is_sof(seg.marker) && !s.sof) {
			r = jpeg_scans_sof(b, seg.body_len, seg.marker, &s, why);
			if (r < 0) {
				return r;
			}
		} else if (seg.marker == M_SOS) {
			if (!s.sof) {
				*why = "corrupt JPEG: scan before frame header";
				return -EBADMSG;
			}
			s.n_scans++;
		} else if (seg.marker == M_APP1 && !s.exif &&
				seg.body_len >= 6 &&
				memcmp(b, "Exif\0\0", 6) == 0) {
			s.exif = b;
			s.exif_len = seg.body_len;
		}
	}
	if (r < 0) {
		*why = "corrupt JPEG: bad marker length";
		return r;
	}
	*out = s;
	return 0;
}

/*
 * Which scans a 1/8 decode reads: the DC passes (Ss == 0), and the AC
 * passes of components in @keep_ac. In a progressive file every AC scan
 * has exactly one component (ITU T.81 G.1.1.1.1), but a malformed one is
 * kept whole unless all its components may go.
 */
static bool jpeg_scans_keep(const uint8_t *b, size_t n,
		const struct jpeg_scans *s, uint32_t keep_ac)
{
	if (n < 1) {
		return true;
	}
	size_t ns = b[0];
	if (n < 1 + 2 * ns + 3) {
		return true;
	}
	if (b[1 + 2 * ns] == 0) {
		return true;
	}
	for (size_t i = 0; i < ns; i++) {
		uint8_t id = b[1 + 2 * i];
		size_t c = 0;
		while (c < s->components && c < JPEG_SCANS_MAX_COMPONENTS &&
				s->comp_id[c] != id) {
			c++;
		}
		if (c >= s->components || c >= JPEG_SCANS_MAX_COMPONENTS ||
				!(keep_ac & (1u << c))) {
			return false;
		}
	}
	return true;
}

size_t jpeg_scans_filter_dc(const uint8_t *data, size_t len,
		const struct jpeg_scans *s, uint32_t keep_ac, uint8_t *dst)
{
	struct jpeg_seg seg;
	size_t pos = 2, o = 0;

	static const uint8_t soi[2] = { 0xff, M_SOI }, eoi[2] = { 0xff, M_EOI };

	if (dst) {
		memcpy(dst, soi, 2);
	}
	o = 2;
	while (jpeg_scans_next(data, len, &pos, &seg) == JPEG_STEP_SEG) {
		if (seg.marker == M_EOI) {
			break;
		}
		if (seg.marker == M_SOS && !jpeg_scans_keep(data + seg.body,
				seg.body_len, s, keep_ac)) {
			continue;
		}
		/* segments never overlap and each starts past the last one's
		 * end, so the copy cannot outgrow @len */
		if (dst) {
			memcpy(dst + o, data + seg.start, seg.end - seg.start);
		}
		o += seg.end - seg.start;
	}
	if (dst) {
		memcpy(dst + o, eoi, 2);
	}
	return o + 2;
}
