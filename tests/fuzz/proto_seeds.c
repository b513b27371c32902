/* Writes one valid message of each type (and a stream of several) into the
 * directory given, as seeds for fuzz_proto. Used by scripts/fuzz-seeds. */
#include <stdio.h>
#include <string.h>

#include "proto.h"

static int put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n) {
		perror(path);
		return 1;
	}
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[PROTO_MAX_MSG], stream[4 * PROTO_MAX_MSG];
	size_t len, slen = 0;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: proto_seeds DIR\n");
		return 2;
	}
	struct proto_setup setup = { .slot = 1, .cpu = 0, .memory = 1u << 30,
		.n_read = 1, .n_write = 1, .read_roots = { "/srv/in" },
		.write_roots = { "/srv/out" } };
	struct proto_hello hello = { .slot = 1, .pid = 42, .error = "" };
	struct proto_job job = { .id = 7, .in_root = "/srv/in",
		.rel = "a/b c.jpg", .out_root = "/srv/out" };
	struct proto_result result = { .id = 7, .status = -74 };

	spec_init_default(&job.spec);
	job.spec.sizes[1] = (struct thumb_size){ 1024, 768 };
	job.spec.n_sizes = 2;
	job.spec.formats = THUMB_FORMAT_JPEG | THUMB_FORMAT_WEBP;
	result.res.fault = THUMB_FAULT_INPUT;
	strcpy(result.res.error, "truncated JPEG");

	if (proto_encode_setup(&setup, buf, sizeof(buf), &len) == 0) {
		bad |= put(argv[1], "setup", buf, len);
		memcpy(stream + slen, buf, len);
		slen += len;
	}
	if (proto_encode_hello(&hello, buf, sizeof(buf), &len) == 0) {
		bad |= put(argv[1], "hello", buf, len);
	}
	if (proto_encode_job(&job, buf, sizeof(buf), &len) == 0) {
		bad |= put(argv[1], "job", buf, len);
		memcpy(stream + slen, buf, len);
		slen += len;
	}
	if (proto_encode_result(&result, buf, sizeof(buf), &len) == 0) {
		bad |= put(argv[1], "result", buf, len);
		memcpy(stream + slen, buf, len);
		slen += len;
	}
	bad |= put(argv[1], "stream", stream, slen);
	return bad;
}
