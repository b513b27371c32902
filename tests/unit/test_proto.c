/*
 * The master <-> worker protocol: every message type round-trips, and every
 * class of malformed input (bad magic, version, type, length, truncation,
 * trailing bytes, bad strings, paths, enums and counts) gives -EBADMSG
 * without touching the output. The stream reader reassembles any split.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "testlib.h"

static uint8_t buf[PROTO_MAX_MSG];

static struct thumb_spec make_spec(void)
{
	struct thumb_spec s;
	spec_init_default(&s);
	s.n_sizes = 2;
	s.sizes[0] = (struct thumb_size){ 256, 256 };
	s.sizes[1] = (struct thumb_size){ 1024, 768 };
	s.formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
	s.quality = 77;
	s.fit = THUMB_FIT_COVER;
	s.detail = THUMB_DETAIL_FINE;
	s.durable = true;
	s.limits.max_pixels = 123456789;
	return s;
}

static struct proto_job make_job(void)
{
	struct proto_job j = {
		.id = 0x123456789abcull,
		.in_root = "/srv/in",
		.rel = "a/b/c.jpg",
		.out_root = "/srv/out",
		.spec = make_spec(),
	};
	return j;
}

/* Encode @j, then decode it from a copy; returns the decode status. */
static int job_roundtrip(const struct proto_job *j, struct proto_job *out)
{
	size_t len;
	struct proto_header h;
	if (proto_encode_job(j, buf, sizeof(buf), &len) < 0) {
		return -EINVAL;
	}
	CHECK_INT_EQ(proto_decode_header(buf, len, &h), 0);
	CHECK_INT_EQ(h.type, PROTO_JOB);
	CHECK_INT_EQ(h.length + PROTO_HEADER_SIZE, len);
	return proto_decode_job(buf + PROTO_HEADER_SIZE, h.length, out);
}

static void test_job_roundtrip(void)
{
	struct proto_job j = make_job(), out;
	CHECK_INT_EQ(job_roundtrip(&j, &out), 0);
	CHECK(out.id == j.id);
	CHECK(strcmp(out.in_root, j.in_root) == 0);
	CHECK(strcmp(out.rel, j.rel) == 0);
	CHECK(strcmp(out.out_root, j.out_root) == 0);
	CHECK_INT_EQ(out.spec.n_sizes, 2);
	CHECK_INT_EQ(out.spec.sizes[1].width, 1024);
	CHECK_INT_EQ(out.spec.sizes[1].height, 768);
	CHECK_INT_EQ(out.spec.formats, THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP);
	CHECK_INT_EQ(out.spec.quality, 77);
	CHECK_INT_EQ(out.spec.fit, THUMB_FIT_COVER);
	CHECK_INT_EQ(out.spec.detail, THUMB_DETAIL_FINE);
	CHECK(out.spec.durable && !out.spec.progressive);
	CHECK(strcmp(out.spec.name, THUMB_DEFAULT_NAME) == 0);
	CHECK(out.spec.limits.max_pixels == 123456789);
	CHECK(out.spec.limits.max_scans == j.spec.limits.max_scans);

	/* names with every odd byte except NUL and '/' are fine */
	j.rel = "dir with space/\n\t\x01\xff name..jpg";
	CHECK_INT_EQ(job_roundtrip(&j, &out), 0);
	CHECK(strcmp(out.rel, j.rel) == 0);
}

static void test_job_encode_rejects(void)
{
	static const char *bad_rel[] = {
		"", "/abs.jpg", "../x.jpg", "a/../x.jpg", "a/..", "./x.jpg",
		"a/./x.jpg", "a//x.jpg", "a/", "..",
	};
	struct proto_job j = make_job(), out;
	for (size_t i = 0; i < sizeof(bad_rel) / sizeof(bad_rel[0]); i++) {
		j.rel = bad_rel[i];
		CHECK_INT_EQ(job_roundtrip(&j, &out), -EINVAL);
	}
	j = make_job();
	j.in_root = "relative/in";
	CHECK_INT_EQ(job_roundtrip(&j, &out), -EINVAL);
	j = make_job();
	j.out_root = "/srv/../etc";
	CHECK_INT_EQ(job_roundtrip(&j, &out), -EINVAL);
	j = make_job();
	j.spec.n_sizes = 0;
	CHECK_INT_EQ(job_roundtrip(&j, &out), -EINVAL);
	j = make_job();
	j.spec.formats = 4;
	CHECK_INT_EQ(job_roundtrip(&j, &out), -EINVAL);
	j = make_job();
	j.spec.quality = 101;
	CHECK_INT_EQ(job_roundtrip(&j, &out), -EINVAL);

	/* too long for the buffer given */
	size_t len;
	j = make_job();
	CHECK_INT_EQ(proto_encode_job(&j, buf, 40, &len), -EMSGSIZE);
	char *longp = malloc(PROTO_MAX_PATH + 10);
	CHECK(longp);
	memset(longp, 'a', PROTO_MAX_PATH + 9);
	longp[PROTO_MAX_PATH + 9] = '\0';
	j.rel = longp;
	CHECK_INT_EQ(proto_encode_job(&j, buf, sizeof(buf), &len), -EINVAL);
	free(longp);
}

/* Offsets into an encoded JOB payload (see proto.c's layout). */
#define JOB_OFF_INROOT_LEN 8

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Decode a mutated copy of a good payload: must be -EBADMSG, out untouched. */
static void expect_bad_job(const uint8_t *payload, size_t len)
{
	struct proto_job out;
	memset(&out, 0xa5, sizeof(out));
	CHECK_INT_EQ(proto_decode_job(payload, len, &out), -EBADMSG);
	const uint8_t *b = (const uint8_t *)&out;
	for (size_t i = 0; i < sizeof(out); i++) {
		CHECK(b[i] == 0xa5);
	}
}

static void test_job_decode_malformed(void)
{
	struct proto_job j = make_job();
	size_t len;
	CHECK_INT_EQ(proto_encode_job(&j, buf, sizeof(buf), &len), 0);
	uint8_t *p = buf + PROTO_HEADER_SIZE;
	size_t plen = len - PROTO_HEADER_SIZE;
	uint8_t *copy = malloc(plen + 16);
	CHECK(copy);

	/* every truncation */
	for (size_t n = 0; n < plen; n++) {
		memcpy(copy, p, n);
		expect_bad_job(copy, n);
	}
	/* trailing garbage */
	memcpy(copy, p, plen);
	copy[plen] = 0;
	expect_bad_job(copy, plen + 1);

	/* string length pointing past the end, or huge */
	memcpy(copy, p, plen);
	put_u32(copy + JOB_OFF_INROOT_LEN, (uint32_t)plen);
	expect_bad_job(copy, plen);
	put_u32(copy + JOB_OFF_INROOT_LEN, 0xffffffffu);
	expect_bad_job(copy, plen);

	/* a NUL inside a string, and a missing terminator */
	size_t s0 = JOB_OFF_INROOT_LEN + 4; /* "/srv/in" */
	memcpy(copy, p, plen);
	copy[s0 + 3] = '\0';
	expect_bad_job(copy, plen);
	memcpy(copy, p, plen);
	copy[s0 + strlen(j.in_root)] = 'x';
	expect_bad_job(copy, plen);

	/* a ".." smuggled into rel by editing bytes: "a/b/c.jpg" -> "../c.jpg"
	 * needs a length change, so overwrite "a/b" with ".." + '/' games */
	size_t r0 = s0 + strlen(j.in_root) + 1 + 4;
	memcpy(copy, p, plen);
	memcpy(copy + r0, "../", 3);
	expect_bad_job(copy, plen);
	memcpy(copy, p, plen);
	copy[r0] = '/';
	expect_bad_job(copy, plen);

	/* every single-byte corruption either decodes to something valid or
	 * is rejected, and never crashes */
	for (size_t i = 0; i < plen; i++) {
		for (int v = 0; v < 256; v += 51) {
			struct proto_job out;
			memcpy(copy, p, plen);
			copy[i] = (uint8_t)v;
			int r = proto_decode_job(copy, plen, &out);
			CHECK(r == 0 || r == -EBADMSG);
			if (r == 0) {
				CHECK(proto_rel_ok(out.rel, strlen(out.rel)));
				CHECK(out.spec.n_sizes >= 1 &&
					out.spec.n_sizes <= THUMB_MAX_SIZES);
				CHECK(out.spec.quality >= 1 && out.spec.quality <= 100);
			}
		}
	}
	free(copy);
}

static void test_spec_fields(void)
{
	/* find each spec field by re-encoding with a changed value */
	struct proto_job j = make_job();
	size_t len;
	CHECK_INT_EQ(proto_encode_job(&j, buf, sizeof(buf), &len), 0);
	size_t plen = len - PROTO_HEADER_SIZE;
	uint8_t *good = malloc(plen);
	CHECK(good);
	memcpy(good, buf + PROTO_HEADER_SIZE, plen);
	size_t spec0 = 8 + (4 + strlen(j.in_root) + 1) + (4 + strlen(j.rel) + 1) +
		(4 + strlen(j.out_root) + 1);
	uint8_t *copy = malloc(plen);
	CHECK(copy);

	struct {
		size_t off;
		uint32_t value;
	} bad[] = {
		{ spec0, 0 },                    /* n_sizes 0 */
		{ spec0, THUMB_MAX_SIZES + 1 },  /* n_sizes too many */
		{ spec0 + 4, 0 },                /* width 0 */
		{ spec0 + 8, 70000 },            /* height too big */
		{ spec0 + 4 + 16, 0 },           /* formats none */
		{ spec0 + 4 + 16, 8 },           /* formats unknown bit */
		{ spec0 + 4 + 20, 0 },           /* quality 0 */
		{ spec0 + 4 + 24, 2 },           /* fit out of range */
		{ spec0 + 4 + 28, THUMB_DETAIL_N }, /* detail out of range */
		{ spec0 + 4 + 32, 2 },           /* bool not 0/1 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(copy, good, plen);
		put_u32(copy + bad[i].off, bad[i].value);
		expect_bad_job(copy, plen);
	}
	free(copy);
	free(good);
}

static void test_header(void)
{
	struct proto_header h;
	struct proto_job j = make_job();
	size_t len;
	uint8_t hdr[PROTO_HEADER_SIZE];

	CHECK_INT_EQ(proto_encode_job(&j, buf, sizeof(buf), &len), 0);
	memcpy(hdr, buf, sizeof(hdr));
	CHECK_INT_EQ(proto_decode_header(hdr, 5, &h), -EAGAIN);

	hdr[0] ^= 1; /* magic */
	CHECK_INT_EQ(proto_decode_header(hdr, sizeof(hdr), &h), -EBADMSG);
	memcpy(hdr, buf, sizeof(hdr));
	hdr[4] = 2; /* version */
	CHECK_INT_EQ(proto_decode_header(hdr, sizeof(hdr), &h), -EBADMSG);
	memcpy(hdr, buf, sizeof(hdr));
	hdr[6] = 0; /* type */
	CHECK_INT_EQ(proto_decode_header(hdr, sizeof(hdr), &h), -EBADMSG);
	hdr[6] = 99;
	CHECK_INT_EQ(proto_decode_header(hdr, sizeof(hdr), &h), -EBADMSG);
	memcpy(hdr, buf, sizeof(hdr));
	put_u32(hdr + 8, PROTO_MAX_PAYLOAD + 1); /* oversize length */
	CHECK_INT_EQ(proto_decode_header(hdr, sizeof(hdr), &h), -EBADMSG);
	put_u32(hdr + 8, PROTO_MAX_PAYLOAD);
	CHECK_INT_EQ(proto_decode_header(hdr, sizeof(hdr), &h), 0);
}

static void test_result(void)
{
	struct proto_result r, out;
	size_t len;
	struct proto_header h;

	memset(&r, 0, sizeof(r));
	r.id = 42;
	r.status = -EBADMSG;
	r.job_ns = 1234567;
	r.res.fault = THUMB_FAULT_INPUT;
	r.res.src_width = 6000;
	r.res.src_height = 4000;
	r.res.bytes_in = 1u << 30;
	r.res.write_ns = 99;
	snprintf(r.res.error, sizeof(r.res.error), "truncated JPEG");
	CHECK_INT_EQ(proto_encode_result(&r, buf, sizeof(buf), &len), 0);
	CHECK_INT_EQ(proto_decode_header(buf, len, &h), 0);
	CHECK_INT_EQ(h.type, PROTO_RESULT);
	CHECK_INT_EQ(proto_decode_result(buf + PROTO_HEADER_SIZE, h.length, &out), 0);
	CHECK(out.id == 42 && out.status == -EBADMSG && out.job_ns == 1234567);
	CHECK(out.res.fault == THUMB_FAULT_INPUT && out.res.src_width == 6000);
	CHECK(out.res.bytes_in == (1u << 30) && out.res.write_ns == 99);
	CHECK(strcmp(out.res.error, "truncated JPEG") == 0);

	/* inconsistent: success with a fault, failure without one, a
	 * positive status, an unknown fault */
	struct proto_result bad = r;
	bad.status = 0;
	CHECK_INT_EQ(proto_encode_result(&bad, buf, sizeof(buf), &len), -EINVAL);
	bad = r;
	bad.res.fault = THUMB_FAULT_NONE;
	CHECK_INT_EQ(proto_encode_result(&bad, buf, sizeof(buf), &len), -EINVAL);
	bad = r;
	bad.status = 5;
	CHECK_INT_EQ(proto_encode_result(&bad, buf, sizeof(buf), &len), -EINVAL);

	/* the same classes, forged on the wire */
	CHECK_INT_EQ(proto_encode_result(&r, buf, sizeof(buf), &len), 0);
	uint8_t *p = buf + PROTO_HEADER_SIZE;
	size_t plen = len - PROTO_HEADER_SIZE;
	put_u32(p + 8, 0); /* status 0 with fault INPUT */
	memset(&out, 0x5a, sizeof(out));
	CHECK_INT_EQ(proto_decode_result(p, plen, &out), -EBADMSG);
	CHECK(out.id == 0x5a5a5a5a5a5a5a5aull);
	CHECK_INT_EQ(proto_encode_result(&r, buf, sizeof(buf), &len), 0);
	put_u32(p + 20, 9); /* fault out of range */
	CHECK_INT_EQ(proto_decode_result(p, plen, &out), -EBADMSG);
	CHECK_INT_EQ(proto_encode_result(&r, buf, sizeof(buf), &len), 0);
	/* error text length beyond PROTO_MAX_ERROR */
	size_t err_off = plen - (strlen(r.res.error) + 1) - 4;
	put_u32(p + err_off, PROTO_MAX_ERROR + 1);
	CHECK_INT_EQ(proto_decode_result(p, plen, &out), -EBADMSG);
	for (size_t n = 0; n < plen; n++) {
		CHECK_INT_EQ(proto_decode_result(p, n, &out), -EBADMSG);
	}
}

static void test_setup_hello(void)
{
	struct proto_setup s, out;
	size_t len;
	struct proto_header h;

	memset(&s, 0, sizeof(s));
	s.slot = 3;
	s.cpu = 1;
	s.flags = PROTO_SETUP_SECCOMP;
	s.memory = 1ull << 30;
	s.max_files = 64;
	s.n_read = 2;
	s.read_roots[0] = "/a";
	s.read_roots[1] = "/b/c";
	s.n_write = 1;
	s.write_roots[0] = "/out";
	CHECK_INT_EQ(proto_encode_setup(&s, buf, sizeof(buf), &len), 0);
	CHECK_INT_EQ(proto_decode_header(buf, len, &h), 0);
	CHECK_INT_EQ(h.type, PROTO_SETUP);
	CHECK_INT_EQ(proto_decode_setup(buf + PROTO_HEADER_SIZE, h.length, &out), 0);
	CHECK(out.slot == 3 && out.cpu == 1 && out.flags == PROTO_SETUP_SECCOMP);
	CHECK(out.memory == 1ull << 30 && out.max_files == 64);
	CHECK(out.n_read == 2 && out.n_write == 1);
	CHECK(strcmp(out.read_roots[1], "/b/c") == 0);
	CHECK(strcmp(out.write_roots[0], "/out") == 0);
	for (size_t n = 0; n < h.length; n++) {
		CHECK_INT_EQ(proto_decode_setup(buf + PROTO_HEADER_SIZE, n, &out),
			-EBADMSG);
	}
	/* a root count beyond the limit on the wire */
	put_u32(buf + PROTO_HEADER_SIZE + 32, PROTO_MAX_ROOTS + 1);
	CHECK_INT_EQ(proto_decode_setup(buf + PROTO_HEADER_SIZE, h.length, &out),
		-EBADMSG);
	s.read_roots[1] = "relative";
	CHECK_INT_EQ(proto_encode_setup(&s, buf, sizeof(buf), &len), -EINVAL);
	s.read_roots[1] = "/b/c";
	s.cpu = -2;
	CHECK_INT_EQ(proto_encode_setup(&s, buf, sizeof(buf), &len), -EINVAL);

	struct proto_hello hi = { .slot = 3, .pid = 1234, .layers = 3,
		.status = 0, .error = "" }, hout;
	CHECK_INT_EQ(proto_encode_hello(&hi, buf, sizeof(buf), &len), 0);
	CHECK_INT_EQ(proto_decode_header(buf, len, &h), 0);
	CHECK_INT_EQ(proto_decode_hello(buf + PROTO_HEADER_SIZE, h.length, &hout), 0);
	CHECK(hout.pid == 1234 && hout.layers == 3 && hout.error[0] == '\0');
	/* trailing bytes and truncation */
	CHECK_INT_EQ(proto_decode_hello(buf + PROTO_HEADER_SIZE, h.length + 1,
		&hout), -EBADMSG);
	for (size_t n = 0; n < h.length; n++) {
		CHECK_INT_EQ(proto_decode_hello(buf + PROTO_HEADER_SIZE, n, &hout),
			-EBADMSG);
	}
	hi.status = -EPERM;
	hi.error = "landlock_restrict_self: Operation not permitted";
	CHECK_INT_EQ(proto_encode_hello(&hi, buf, sizeof(buf), &len), 0);
	CHECK_INT_EQ(proto_decode_header(buf, len, &h), 0);
	CHECK_INT_EQ(proto_decode_hello(buf + PROTO_HEADER_SIZE, h.length, &hout), 0);
	CHECK(hout.status == -EPERM && strstr(hout.error, "landlock"));
	put_u32(buf + PROTO_HEADER_SIZE + 4, 0); /* pid 0 */
	CHECK_INT_EQ(proto_decode_hello(buf + PROTO_HEADER_SIZE, h.length, &hout),
		-EBADMSG);
}

/* Feed a stream of three messages to a reader in pieces of every size. */
static void test_reader(void)
{
	static uint8_t stream[3 * 1024];
	size_t total = 0, len;
	struct proto_job j = make_job();
	struct proto_result r;

	memset(&r, 0, sizeof(r));
	for (int i = 0; i < 3; i++) {
		if (i == 1) {
			r.id = 7;
			CHECK_INT_EQ(proto_encode_result(&r, stream + total,
				sizeof(stream) - total, &len), 0);
		} else {
			j.id = (uint64_t)i;
			CHECK_INT_EQ(proto_encode_job(&j, stream + total,
				sizeof(stream) - total, &len), 0);
		}
		total += len;
	}
	for (size_t piece = 1; piece <= total; piece += (piece < 16 ? 1 : 37)) {
		struct proto_reader rd;
		int got = 0;
		proto_reader_init(&rd);
		for (size_t off = 0; off < total;) {
			uint8_t *p;
			size_t n;
			CHECK_INT_EQ(proto_reader_space(&rd, &p, &n), 0);
			CHECK(n >= 1);
			size_t take = total - off < piece ? total - off : piece;
			if (take > n) {
				take = n;
			}
			memcpy(p, stream + off, take);
			proto_reader_commit(&rd, take);
			off += take;
			struct proto_header h;
			const uint8_t *payload;
			int m;
			while ((m = proto_reader_next(&rd, &h, &payload)) == 1) {
				if (got == 1) {
					struct proto_result out;
					CHECK_INT_EQ(h.type, PROTO_RESULT);
					CHECK_INT_EQ(proto_decode_result(payload, h.length,
						&out), 0);
					CHECK(out.id == 7);
				} else {
					struct proto_job out;
					CHECK_INT_EQ(h.type, PROTO_JOB);
					CHECK_INT_EQ(proto_decode_job(payload, h.length,
						&out), 0);
					CHECK(out.id == (uint64_t)got);
				}
				got++;
			}
			CHECK_INT_EQ(m, 0);
		}
		CHECK_INT_EQ(got, 3);
		CHECK_INT_EQ(proto_reader_pending(&rd), 0);
		proto_reader_finish(&rd);
	}

	/* a corrupt header poisons the stream */
	struct proto_reader rd;
	struct proto_header h;
	const uint8_t *payload;
	uint8_t *p;
	size_t n;
	proto_reader_init(&rd);
	CHECK_INT_EQ(proto_reader_space(&rd, &p, &n), 0);
	memset(p, 0x41, PROTO_HEADER_SIZE);
	proto_reader_commit(&rd, PROTO_HEADER_SIZE);
	CHECK_INT_EQ(proto_reader_next(&rd, &h, &payload), -EBADMSG);
	CHECK_INT_EQ(proto_reader_next(&rd, &h, &payload), -EBADMSG);
	proto_reader_finish(&rd);

	/* a maximal message fits the reader's buffer */
	proto_reader_init(&rd);
	static uint8_t big[PROTO_MAX_MSG];
	memcpy(big, stream, PROTO_HEADER_SIZE);
	put_u32(big + 8, PROTO_MAX_PAYLOAD);
	size_t off = 0;
	while (off < PROTO_MAX_MSG) {
		CHECK_INT_EQ(proto_reader_space(&rd, &p, &n), 0);
		size_t take = PROTO_MAX_MSG - off < n ? PROTO_MAX_MSG - off : n;
		memcpy(p, big + off, take);
		proto_reader_commit(&rd, take);
		off += take;
	}
	CHECK_INT_EQ(proto_reader_next(&rd, &h, &payload), 1);
	CHECK_INT_EQ(h.length, PROTO_MAX_PAYLOAD);
	proto_reader_finish(&rd);
}

int main(void)
{
	test_job_roundtrip();
	test_job_encode_rejects();
	test_job_decode_malformed();
	test_spec_fields();
	test_header();
	test_result();
	test_setup_hello();
	test_reader();
	fprintf(stderr, "proto: all checks passed\n");
	return 0;
}
