#ifndef THUMBD_SANDBOX_H
#define THUMBD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The worker's confinement, entered once after start-up and before the first
 * job: resource limits, no new privileges, Landlock (read the input trees,
 * write the output trees, nothing else) and a seccomp allow-list of the
 * system calls the job loop makes. Irreversible by design.
 */

#define SANDBOX_MAX_ROOTS 256

struct sandbox_opts {
	uint64_t memory;     /* RLIMIT_AS in bytes, 0 = leave unlimited */
	uint64_t file_size;  /* RLIMIT_FSIZE in bytes, 0 = leave unlimited */
	uint32_t max_files;  /* RLIMIT_NOFILE */
	const char *read_roots[SANDBOX_MAX_ROOTS];
	uint32_t n_read;
	const char *write_roots[SANDBOX_MAX_ROOTS];
	uint32_t n_write;
	bool seccomp;        /* install the system-call filter */
};

enum sandbox_layer {
	SANDBOX_LANDLOCK = 1u << 0, /* Landlock rules are in force */
	SANDBOX_SECCOMP = 1u << 1,  /* the seccomp filter is in force */
};

/*
 * Confine the calling process. Returns 0 with the layers in force in
 * *@layers (a layer the kernel or the build lacks is simply absent, and the
 * caller says so once), or a negative errno with the step that failed in
 * @err; the caller must then exit rather than run jobs unconfined.
 */
int sandbox_enter(const struct sandbox_opts *opts, uint32_t *layers,
		char *err, size_t errlen);

#endif
