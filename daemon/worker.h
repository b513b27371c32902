#ifndef THUMBD_WORKER_H
#define THUMBD_WORKER_H

/*
 * Worker mode: `thumbd --worker SLOT`, started by the master (pool.c) with
 * its end of a socketpair on WORKER_FD. A plain blocking loop without
 * libuv: read SETUP, pin to a CPU, confine itself (sandbox.h), answer
 * HELLO, then for each JOB run thumb_render() with one thumb_ctx kept
 * across jobs and write back a RESULT. It exits 0 when the master closes
 * the socket, non-zero on a malformed message or a failed set-up.
 */

#define WORKER_FD 3

/* @argc/@argv start at "--worker". Returns the exit status. */
int worker_main(int argc, char **argv);

#endif
