#ifndef THUMBD_PROGRESS_H
#define THUMBD_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Progress of a --once run on stderr. On a terminal: one line redrawn in
 * place (done/total, img/s, ETA) at most PROGRESS_TTY_HZ times a second;
 * elsewhere (a log, a pipe): a plain line every PROGRESS_PLAIN_MS.
 */

#define PROGRESS_TTY_HZ 10
#define PROGRESS_PLAIN_MS 5000

struct progress_counts {
	uint64_t done;      /* written */
	uint64_t failed;
	uint64_t skipped;   /* vanished before or while they were read */
	uint64_t total;     /* queued so far */
	bool scanning;      /* total may still grow */
};

struct progress;

/* @tty: draw the one-line bar (isatty(stderr)). NULL on ENOMEM. */
struct progress *progress_create(bool tty, uint64_t start_ns);
void progress_destroy(struct progress *p);

/* How often the caller should call progress_update(), in ms. */
uint64_t progress_period_ms(const struct progress *p);

/* Redraw or print if it is time. */
void progress_update(struct progress *p, const struct progress_counts *c,
		uint64_t now_ns);

/* Clear the bar (if any) so that the summary starts on a clean line. */
void progress_clear(struct progress *p);

/* "done 1000, failed 2, skipped 0 of 1002 in 4.1 s: 244.4 img/s". */
void progress_summary(struct progress *p, const struct progress_counts *c,
		uint64_t now_ns);

#endif
