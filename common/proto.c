#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------ */

struct proto_out {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool overflow;
};

static void proto_put(struct proto_out *o, const void *data, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, data, n);
	o->len += n;
}

static void proto_put_u32(struct proto_out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
		(uint8_t)(v >> 24) };
	proto_put(o, b, 4);
}

static void proto_put_u64(struct proto_out *o, uint64_t v)
{
	proto_put_u32(o, (uint32_t)v);
	proto_put_u32(o, (uint32_t)(v >> 32));
}

static void proto_put_str(struct proto_out *o, const char *s, size_t len)
{
	proto_put_u32(o, (uint32_t)len);
	proto_put(o, s, len);
	proto_put(o, "", 1);
}

/* Start a message: reserve the header, filled in by proto_out_end(). */
static void proto_out_begin(struct proto_out *o, uint8_t *buf, size_t cap)
{
	o->p = buf;
	o->len = 0;
	o->cap = cap < PROTO_MAX_MSG ? cap : PROTO_MAX_MSG;
	o->overflow = false;
	uint8_t zero[PROTO_HEADER_SIZE] = { 0 };
	proto_put(o, zero, sizeof(zero));
}

static int proto_out_end(struct proto_out *o, enum proto_type type,
		size_t *len)
{
	if (o->overflow) {
		return -EMSGSIZE;
	}
	size_t total = o->len;
	o->len = 0;
	proto_put_u32(o, PROTO_MAGIC);
	uint8_t vt[4] = { PROTO_VERSION & 0xff, PROTO_VERSION >> 8,
		(uint8_t)type, (uint8_t)((unsigned)type >> 8) };
	proto_put(o, vt, 4);
	proto_put_u32(o, (uint32_t)(total - PROTO_HEADER_SIZE));
	*len = total;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct proto_in {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static uint32_t proto_get_u32(struct proto_in *in)
{
	if (in->bad || in->left < 4) {
		in->bad = true;
		return 0;
	}
	const uint8_t *b = in->p;
	in->p += 4;
	in->left -= 4;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		(uint32_t)b[3] << 24;
}

static uint64_t proto_get_u64(struct proto_in *in)
{
	uint64_t lo = proto_get_u32(in);
	uint64_t hi = proto_get_u32(in);
	return lo | hi << 32;
}

static bool proto_get_bool(struct proto_in *in)
{
	uint32_t v = proto_get_u32(in);
	if (v > 1) {
		in->bad = true;
	}
	return v == 1;
}

/* A string of at most @max bytes with no NUL inside, NUL-terminated on the
 * wire; returns a pointer into the buffer, or "" with in->bad set. */
static const char *proto_get_str(struct proto_in *in, size_t max, size_t *out_len)
{
	uint32_t n = proto_get_u32(in);
	if (in->bad || n > max || in->left < (size_t)n + 1 ||
			memchr(in->p, '\0', n) || in->p[n] != '\0') {
		in->bad = true;
		return "";
	}
	const char *s = (const char *)in->p;
	in->p += (size_t)n + 1;
	in->left -= (size_t)n + 1;
	if (out_len) {
		*out_len = n;
	}
	return s;
}

/* ---- validation --------------------------------------------------------- */

/* No empty, "." or ".." component between the slashes of @s[0..len). */
static bool proto_components_ok(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != '/') {
			j++;
		}
		size_t n = j - i;
		if (n == 0 || (n == 1 && s[i] == '.') ||
				(n == 2 && s[i] == '.' && s[i + 1] == '.')) {
			return false;
		}
		i = j + 1;
	}
	/* a trailing slash leaves an empty last component */
	return len > 0 && s[len - 1] != '/';
}

bool proto_rel_ok(const char *rel, size_t len)
{
	if (len == 0 || len > PROTO_MAX_PATH || rel[0] == '/' ||
			memchr(rel, '\0', len)) {
		return false;
	}
	return proto_components_ok(rel, len);
}

/* An absolute path with no "." or ".." component; "/" itself is fine. */
static bool proto_root_ok(const char *root, size_t len)
{
	if (len == 0 || len > PROTO_MAX_PATH || root[0] != '/' ||
			memchr(root, '\0', len)) {
		return false;
	}
	if (len == 1) {
		return true;
	}
	/* skip the leading slash; tolerate one trailing slash */
	size_t n = len - 1;
	if (root[len - 1] == '/') {
		n--;
	}
	return n > 0 && proto_components_ok(root + 1, n);
}

static bool proto_spec_ok(const struct thumb_spec *s)
{
	if (s->n_sizes < 1 || s->n_sizes > THUMB_MAX_SIZES) {
		return false;
	}
	for (uint32_t i = 0; i < s->n_sizes; i++) {
		if (s->sizes[i].width < 1 || s->sizes[i].width > 65535 ||
				s->sizes[i].height < 1 || s->sizes[i].height > 65535) {
			return false;
		}
	}
	const uint32_t all = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
	if (s->formats == 0 || (s->formats & ~all) != 0) {
		return false;
	}
	if (s->quality < 1 || s->quality > 100 || s->fit >= THUMB_FIT_N ||
			s->detail >= THUMB_DETAIL_N) {
		return false;
	}
	size_t n = strnlen(s->name, sizeof(s->name));
	return n > 0 && n < sizeof(s->name) && !memchr(s->name, '/', n);
}

static void proto_put_spec(struct proto_out *o, const struct thumb_spec *s)
{
	proto_put_u32(o, s->n_sizes);
	for (uint32_t i = 0; i < s->n_sizes; i++) {
		proto_put_u32(o, s->sizes[i].width);
		proto_put_u32(o, s->sizes[i].height);
	}
	proto_put_u32(o, s->formats);
	proto_put_u32(o, s->quality);
	proto_put_u32(o, s->fit);
	proto_put_u32(o, s->detail);
	proto_put_u32(o, s->progressive);
	proto_put_u32(o, s->webp_lossless);
	proto_put_u32(o, s->durable);
	proto_put_str(o, s->name, strlen(s->name));
	proto_put_u64(o, s->limits.max_pixels);
	proto_put_u64(o, s->limits.max_file_size);
	proto_put_u64(o, s->limits.max_memory);
	proto_put_u32(o, s->limits.max_scans);
}

static void proto_get_spec(struct proto_in *in, struct thumb_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->n_sizes = proto_get_u32(in);
	if (s->n_sizes < 1 || s->n_sizes > THUMB_MAX_SIZES) {
		in->bad = true;
		return;
	}
	for (uint32_t i = 0; i < s->n_sizes; i++) {
		s->sizes[i].width = proto_get_u32(in);
		s->sizes[i].height = proto_get_u32(in);
	}
	s->formats = proto_get_u32(in);
	s->quality = proto_get_u32(in);
	s->fit = proto_get_u32(in);
	s->detail = proto_get_u32(in);
	s->progressive = proto_get_bool(in);
	s->webp_lossless = proto_get_bool(in);
	s->durable = proto_get_bool(in);
	size_t n = 0;
	const char *name = proto_get_str(in, THUMB_NAME_MAX - 1, &n);
	memcpy(s->name, name, n);
	s->name[n] = '\0';
	s->limits.max_pixels = proto_get_u64(in);
	s->limits.max_file_size = proto_get_u64(in);
	s->limits.max_memory = proto_get_u64(in);
	s->limits.max_scans = proto_get_u32(in);
	if (!in->bad && !proto_spec_ok(s)) {
		in->bad = true;
	}
}

/* ---- messages ----------------------------------------------------------- */

int proto_encode_setup(const struct proto_setup *m, uint8_t *buf, size_t cap,
		size_t *len)
{
	struct proto_out o;

	if (m->n_read > PROTO_MAX_ROOTS || m->n_write > PROTO_MAX_ROOTS ||
			m->cpu < -1 || (m->flags & ~PROTO_SETUP_SECCOMP)) {
		return -EINVAL;
	}
	proto_out_begin(&o, buf, cap);
	proto_put_u32(&o, m->slot);
	proto_put_u32(&o, (uint32_t)m->cpu);
	proto_put_u32(&o, m->flags);
	proto_put_u64(&o, m->memory);
	proto_put_u64(&o, m->file_size);
	proto_put_u32(&o, m->max_files);
	proto_put_u32(&o, m->n_read);
	proto_put_u32(&o, m->n_write);
	for (uint32_t i = 0; i < m->n_read + m->n_write; i++) {
		const char *r = i < m->n_read ? m->read_roots[i] :
			m->write_roots[i - m->n_read];
		size_t n = strlen(r);
		if (!proto_root_ok(r, n)) {
			return -EINVAL;
		}
		proto_put_str(&o, r, n);
	}
	return proto_out_end(&o, PROTO_SETUP, len);
}

int proto_decode_setup(const uint8_t *p, size_t len, struct proto_setup *m)
{
	struct proto_in in = { p, len, false };
	struct proto_setup s;

	s.slot = proto_get_u32(&in);
	s.cpu = (int32_t)proto_get_u32(&in);
	s.flags = proto_get_u32(&in);
	s.memory = proto_get_u64(&in);
	s.file_size = proto_get_u64(&in);
	s.max_files = proto_get_u32(&in);
	s.n_read = proto_get_u32(&in);
	s.n_write = proto_get_u32(&in);
	if (in.bad || s.cpu < -1 || (s.flags & ~PROTO_SETUP_SECCOMP) ||
			s.n_read > PROTO_MAX_ROOTS || s.n_write > PROTO_MAX_ROOTS) {
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < s.n_read + s.n_write && !in.bad; i++) {
		size_t n = 0;
		const char *r = proto_get_str(&in, PROTO_MAX_PATH, &n);
		if (!in.bad && !proto_root_ok(r, n)) {
			in.bad = true;
		}
		if (i < s.n_read) {
			s.read_roots[i] = r;
		} else {
			s.write_roots[i - s.n_read] = r;
		}
	}
	if (in.bad || in.left != 0) {
		return -EBADMSG;
	}
	*m = s;
	return 0;
}

int proto_encode_hello(const struct proto_hello *m, uint8_t *buf, size_t cap,
		size_t *len)
{
	struct proto_out o;
	const char *err = m->error ? m->error : "";
	size_t n = strlen(err);

	if (n > PROTO_MAX_ERROR || m->status > 0 || m->status < -4095) {
		return -EINVAL;
	}
	proto_out_begin(&o, buf, cap);
	proto_put_u32(&o, m->slot);
	proto_put_u32(&o, m->pid);
	proto_put_u32(&o, m->layers);
	proto_put_u32(&o, (uint32_t)m->status);
	proto_put_str(&o, err, n);
	return proto_out_end(&o, PROTO_HELLO, len);
}

int proto_decode_hello(const uint8_t *p, size_t len, struct proto_hello *m)
{
	struct proto_in in = { p, len, false };
	struct proto_hello h;

	h.slot = proto_get_u32(&in);
	h.pid = proto_get_u32(&in);
	h.layers = proto_get_u32(&in);
	h.status = (int32_t)proto_get_u32(&in);
	h.error = proto_get_str(&in, PROTO_MAX_ERROR, NULL);
	if (in.bad || in.left != 0 || h.status > 0 || h.status < -4095 ||
			h.pid == 0) {
		return -EBADMSG;
	}
	*m = h;
	return 0;
}

int proto_encode_job(const struct proto_job *m, uint8_t *buf, size_t cap,
		size_t *len)
{
	struct proto_out o;
	size_t ni = strlen(m->in_root), nr = strlen(m->rel);
	size_t no = strlen(m->out_root);

	if (!proto_root_ok(m->in_root, ni) || !proto_rel_ok(m->rel, nr) ||
			!proto_root_ok(m->out_root, no) ||
			!proto_spec_ok(&m->spec)) {
		return -EINVAL;
	}
	proto_out_begin(&o, buf, cap);
	proto_put_u64(&o, m->id);
	proto_put_str(&o, m->in_root, ni);
	proto_put_str(&o, m->rel, nr);
	proto_put_str(&o, m->out_root, no);
	proto_put_spec(&o, &m->spec);
	return proto_out_end(&o, PROTO_JOB, len);
}

int proto_decode_job(const uint8_t *p, size_t len, struct proto_job *m)
{
	struct proto_in in = { p, len, false };
	struct proto_job j;
	size_t ni = 0, nr = 0, no = 0;

	j.id = proto_get_u64(&in);
	j.in_root = proto_get_str(&in, PROTO_MAX_PATH, &ni);
	j.rel = proto_get_str(&in, PROTO_MAX_PATH, &nr);
	j.out_root = proto_get_str(&in, PROTO_MAX_PATH, &no);
	if (in.bad || !proto_root_ok(j.in_root, ni) ||
			!proto_rel_ok(j.rel, nr) || !proto_root_ok(j.out_root, no)) {
		return -EBADMSG;
	}
	proto_get_spec(&in, &j.spec);
	if (in.bad || in.left != 0) {
		return -EBADMSG;
	}
	*m = j;
	return 0;
}

int proto_encode_result(const struct proto_result *m, uint8_t *buf,
		size_t cap, size_t *len)
{
	struct proto_out o;
	const struct thumb_result *r = &m->res;
	size_t n = strnlen(r->error, sizeof(r->error));

	if (n > PROTO_MAX_ERROR || n == sizeof(r->error) || m->status > 0 ||
			m->status < -4095 || r->fault > THUMB_FAULT_INTERNAL ||
			(m->status == 0) != (r->fault == THUMB_FAULT_NONE)) {
		return -EINVAL;
	}
	proto_out_begin(&o, buf, cap);
	proto_put_u64(&o, m->id);
	proto_put_u32(&o, (uint32_t)m->status);
	proto_put_u64(&o, m->job_ns);
	proto_put_u32(&o, r->fault);
	proto_put_u32(&o, r->src_width);
	proto_put_u32(&o, r->src_height);
	proto_put_u32(&o, r->outputs);
	proto_put_u64(&o, r->bytes_in);
	proto_put_u64(&o, r->bytes_out);
	proto_put_u64(&o, r->read_ns);
	proto_put_u64(&o, r->decode_ns);
	proto_put_u64(&o, r->resize_ns);
	proto_put_u64(&o, r->encode_ns);
	proto_put_u64(&o, r->write_ns);
	proto_put_str(&o, r->error, n);
	return proto_out_end(&o, PROTO_RESULT, len);
}

int proto_decode_result(const uint8_t *p, size_t len, struct proto_result *m)
{
	struct proto_in in = { p, len, false };
	struct proto_result x;
	struct thumb_result *r = &x.res;
	size_t n = 0;

	memset(&x, 0, sizeof(x));
	x.id = proto_get_u64(&in);
	x.status = (int32_t)proto_get_u32(&in);
	x.job_ns = proto_get_u64(&in);
	r->fault = proto_get_u32(&in);
	r->src_width = proto_get_u32(&in);
	r->src_height = proto_get_u32(&in);
	r->outputs = proto_get_u32(&in);
	r->bytes_in = proto_get_u64(&in);
	r->bytes_out = proto_get_u64(&in);
	r->read_ns = proto_get_u64(&in);
	r->decode_ns = proto_get_u64(&in);
	r->resize_ns = proto_get_u64(&in);
	r->encode_ns = proto_get_u64(&in);
	r->write_ns = proto_get_u64(&in);
	const char *err = proto_get_str(&in, PROTO_MAX_ERROR, &n);
	if (in.bad || in.left != 0 || x.status > 0 || x.status < -4095 ||
			r->fault > THUMB_FAULT_INTERNAL ||
			(x.status == 0) != (r->fault == THUMB_FAULT_NONE)) {
		return -EBADMSG;
	}
	memcpy(r->error, err, n);
	r->error[n] = '\0';
	*m = x;
	return 0;
}

int proto_decode_header(const uint8_t *buf, size_t len, struct proto_header *h)
{
	struct proto_in in = { buf, len, false };
	struct proto_header x;

	if (len < PROTO_HEADER_SIZE) {
		return -EAGAIN;
	}
	x.magic = proto_get_u32(&in);
	x.version = (uint16_t)(buf[4] | buf[5] << 8);
	x.type = (uint16_t)(buf[6] | buf[7] << 8);
	in.p += 4;
	in.left -= 4;
	x.length = proto_get_u32(&in);
	if (x.magic != PROTO_MAGIC || x.version != PROTO_VERSION ||
			x.type < PROTO_SETUP || x.type > PROTO_RESULT ||
			x.length > PROTO_MAX_PAYLOAD) {
		return -EBADMSG;
	}
	*h = x;
	return 0;
}

/* ---- stream reader ------------------------------------------------------ */

void proto_reader_init(struct proto_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void proto_reader_finish(struct proto_reader *r)
{
	if (!r) {
		return;
	}
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

int proto_reader_space(struct proto_reader *r, uint8_t **p, size_t *n)
{
	if (r->start > 0 && (r->end == r->cap || r->start == r->end)) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		/* unconsumed bytes are less than one message (else next() would
		 * have returned it), so PROTO_MAX_MSG always suffices */
		size_t ncap = r->cap ? r->cap * 2 : 4096;
		if (ncap > PROTO_MAX_MSG) {
			ncap = PROTO_MAX_MSG;
		}
		if (ncap <= r->cap) {
			return -ENOBUFS;
		}
		uint8_t *nb = realloc(r->buf, ncap);
		if (!nb) {
			return -ENOMEM;
		}
		r->buf = nb;
		r->cap = ncap;
	}
	*p = r->buf + r->end;
	*n = r->cap - r->end;
	return 0;
}

void proto_reader_commit(struct proto_reader *r, size_t n)
{
	if (n > r->cap - r->end) {
		n = r->cap - r->end;
	}
	r->end += n;
}

int proto_reader_next(struct proto_reader *r, struct proto_header *h,
		const uint8_t **payload)
{
	size_t have = r->end - r->start;
	struct proto_header x;

	if (have < PROTO_HEADER_SIZE) {
		return 0;
	}
	if (proto_decode_header(r->buf + r->start, have, &x) < 0) {
		return -EBADMSG;
	}
	if (have < PROTO_HEADER_SIZE + (size_t)x.length) {
		return 0;
	}
	*h = x;
	*payload = r->buf + r->start + PROTO_HEADER_SIZE;
	r->start += PROTO_HEADER_SIZE + (size_t)x.length;
	return 1;
}

size_t proto_reader_pending(const struct proto_reader *r)
{
	return r->end - r->start;
}
