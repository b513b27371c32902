/*
 * The protocol decoder: a byte stream from a (possibly compromised) worker
 * or master, cut at arbitrary points, through the reader and every payload
 * decoder. Whatever decodes must encode again and decode to the same thing.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "fuzz_main.h"

static uint8_t again[PROTO_MAX_MSG];

static void check_payload(const struct proto_header *h, const uint8_t *p)
{
	size_t len;

	switch (h->type) {
	case PROTO_SETUP: {
		static struct proto_setup m, m2;
		if (proto_decode_setup(p, h->length, &m) == 0) {
			if (proto_encode_setup(&m, again, sizeof(again), &len) < 0 ||
					proto_decode_setup(again + PROTO_HEADER_SIZE,
						len - PROTO_HEADER_SIZE, &m2) < 0 ||
					m2.n_read != m.n_read || m2.n_write != m.n_write) {
				abort();
			}
		}
		break;
	}
	case PROTO_HELLO: {
		struct proto_hello m, m2;
		if (proto_decode_hello(p, h->length, &m) == 0) {
			if (proto_encode_hello(&m, again, sizeof(again), &len) < 0 ||
					proto_decode_hello(again + PROTO_HEADER_SIZE,
						len - PROTO_HEADER_SIZE, &m2) < 0 ||
					strcmp(m.error, m2.error) != 0) {
				abort();
			}
		}
		break;
	}
	case PROTO_JOB: {
		struct proto_job m, m2;
		if (proto_decode_job(p, h->length, &m) == 0) {
			if (!proto_rel_ok(m.rel, strlen(m.rel)) ||
					proto_encode_job(&m, again, sizeof(again), &len) < 0 ||
					proto_decode_job(again + PROTO_HEADER_SIZE,
						len - PROTO_HEADER_SIZE, &m2) < 0 ||
					strcmp(m.rel, m2.rel) != 0 ||
					m.spec.n_sizes != m2.spec.n_sizes) {
				abort();
			}
		}
		break;
	}
	case PROTO_RESULT: {
		struct proto_result m, m2;
		if (proto_decode_result(p, h->length, &m) == 0) {
			if (proto_encode_result(&m, again, sizeof(again), &len) < 0 ||
					proto_decode_result(again + PROTO_HEADER_SIZE,
						len - PROTO_HEADER_SIZE, &m2) < 0 ||
					m.id != m2.id) {
				abort();
			}
		}
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_reader r;
	size_t off = 0;
	/* the first byte picks the read size, so splits are exercised too */
	size_t chunk = size ? (size_t)data[0] % 61 + 1 : 1;

	proto_reader_init(&r);
	while (off < size) {
		uint8_t *p;
		size_t n;
		if (proto_reader_space(&r, &p, &n) < 0) {
			break;
		}
		if (n > chunk) {
			n = chunk;
		}
		if (n > size - off) {
			n = size - off;
		}
		memcpy(p, data + off, n);
		proto_reader_commit(&r, n);
		off += n;

		struct proto_header h;
		const uint8_t *payload;
		int got;
		while ((got = proto_reader_next(&r, &h, &payload)) == 1) {
			check_payload(&h, payload);
		}
		if (got < 0) {
			break;
		}
	}
	proto_reader_finish(&r);
	return 0;
}
