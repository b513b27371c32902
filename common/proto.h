#ifndef THUMBD_COMMON_PROTO_H
#define THUMBD_COMMON_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "thumb.h"

/*
 * The master <-> worker protocol over a stream socketpair. Every message is
 * a fixed 12-byte header {magic, version, type, payload length} followed by
 * the payload; integers are little-endian, strings are a 32-bit length, the
 * bytes and a terminating NUL (so a decoder can point into the buffer).
 *
 *   master -> worker  SETUP   once, right after the spawn: CPU, sandbox
 *   worker -> master  HELLO   once, after the worker confined itself
 *   master -> worker  JOB     one input and the whole output spec
 *   worker -> master  RESULT  what thumb_render() said about that job
 *
 * Decoders trust nothing: every length, count, enum and path is checked and
 * anything malformed gives -EBADMSG, so a compromised worker can at worst get
 * itself killed. Pure functions, no I/O, no allocation (except the reader).
 */

#define PROTO_MAGIC 0x54484d42u /* "BMHT" on the wire: "THMB" read LE */
#define PROTO_VERSION 1
#define PROTO_HEADER_SIZE 12
#define PROTO_MAX_MSG (64u * 1024)  /* header included */
#define PROTO_MAX_PAYLOAD (PROTO_MAX_MSG - PROTO_HEADER_SIZE)
#define PROTO_MAX_PATH 4095         /* bytes, NUL excluded */
#define PROTO_MAX_ERROR 255         /* bytes of a RESULT's reason */
#define PROTO_MAX_ROOTS 256         /* sandbox roots of each kind */

enum proto_type {
	PROTO_SETUP = 1,
	PROTO_HELLO = 2,
	PROTO_JOB = 3,
	PROTO_RESULT = 4,
};

struct proto_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;   /* enum proto_type */
	uint32_t length; /* payload bytes after the header */
};

#define PROTO_SETUP_SECCOMP (1u << 0)

/* master -> worker: how to set itself up before the first job. */
struct proto_setup {
	uint32_t slot;
	int32_t cpu;         /* CPU to pin to, -1 for none */
	uint32_t flags;      /* PROTO_SETUP_* */
	uint64_t memory;     /* RLIMIT_AS bytes, 0 = unlimited */
	uint64_t file_size;  /* RLIMIT_FSIZE bytes, 0 = unlimited */
	uint32_t max_files;  /* RLIMIT_NOFILE, 0 = leave */
	uint32_t n_read;
	uint32_t n_write;
	const char *read_roots[PROTO_MAX_ROOTS];  /* absolute */
	const char *write_roots[PROTO_MAX_ROOTS];
};

/* worker -> master: set-up done (status 0) or failed (the worker exits). */
struct proto_hello {
	uint32_t slot;
	uint32_t pid;
	uint32_t layers;     /* sandbox layers in force (sandbox.h) */
	int32_t status;      /* 0 or a negative errno */
	const char *error;   /* why set-up failed, "" when status is 0 */
};

/* master -> worker: one input. Paths as in struct thumb_job. */
struct proto_job {
	uint64_t id;
	const char *in_root; /* absolute, no ".." */
	const char *rel;     /* relative, no "..", ".", empty or leading "/" */
	const char *out_root;
	struct thumb_spec spec;
};

/* worker -> master: the outcome of job @id. */
struct proto_result {
	uint64_t id;
	int32_t status;      /* thumb_render()'s return: 0 or a negative errno */
	uint64_t job_ns;     /* wall time of the job in the worker */
	struct thumb_result res;
};

/*
 * Encoders write one whole message (header included) into @buf and set
 * *@len. They check what they send as strictly as the decoders check what
 * they receive. Return 0, -EINVAL for content the decoder would reject, or
 * -EMSGSIZE if it does not fit in @cap or PROTO_MAX_MSG.
 */
int proto_encode_setup(const struct proto_setup *m, uint8_t *buf, size_t cap,
		size_t *len);
int proto_encode_hello(const struct proto_hello *m, uint8_t *buf, size_t cap,
		size_t *len);
int proto_encode_job(const struct proto_job *m, uint8_t *buf, size_t cap,
		size_t *len);
int proto_encode_result(const struct proto_result *m, uint8_t *buf,
		size_t cap, size_t *len);

/*
 * Check the @len >= PROTO_HEADER_SIZE bytes at @buf as a header: magic,
 * version, a known type and a payload length within PROTO_MAX_PAYLOAD.
 * Returns 0 or -EBADMSG; -EAGAIN if @len is too short to tell.
 */
int proto_decode_header(const uint8_t *buf, size_t len, struct proto_header *h);

/*
 * Decode a payload of the given type. Strings in the output point into
 * @p, so they live as long as the buffer. Returns 0 or -EBADMSG; the output
 * is untouched on failure.
 */
int proto_decode_setup(const uint8_t *p, size_t len, struct proto_setup *m);
int proto_decode_hello(const uint8_t *p, size_t len, struct proto_hello *m);
int proto_decode_job(const uint8_t *p, size_t len, struct proto_job *m);
int proto_decode_result(const uint8_t *p, size_t len, struct proto_result *m);

/*
 * True if @rel is a safe relative path: non-empty, not absolute, no empty,
 * "." or ".." component, no NUL within @len bytes, at most PROTO_MAX_PATH.
 */
bool proto_rel_ok(const char *rel, size_t len);

/*
 * Stream reassembly: bytes arrive in any split, messages come out whole.
 * The buffer grows to at most PROTO_MAX_MSG (a message never exceeds it).
 */
struct proto_reader {
	uint8_t *buf;
	size_t start;  /* first unconsumed byte */
	size_t end;    /* one past the last byte read */
	size_t cap;
};

void proto_reader_init(struct proto_reader *r);
void proto_reader_finish(struct proto_reader *r);

/*
 * Where the next read should go: *@p and *@n (at least 1 byte). Moves or
 * grows the buffer, so payload pointers from proto_reader_next() die here.
 * Returns 0 or -ENOMEM.
 */
int proto_reader_space(struct proto_reader *r, uint8_t **p, size_t *n);

/* Account for @n bytes written at the space just returned. */
void proto_reader_commit(struct proto_reader *r, size_t n);

/*
 * Take the next complete message: 1 with *@h and *@payload set (valid until
 * the next call of proto_reader_space), 0 if more bytes are needed, or
 * -EBADMSG if the stream is corrupt (it stays corrupt: drop the peer).
 */
int proto_reader_next(struct proto_reader *r, struct proto_header *h,
		const uint8_t **payload);

/* Bytes buffered but not yet returned as a message. */
size_t proto_reader_pending(const struct proto_reader *r);

#endif
