#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct progress {
	bool tty;
	bool drawn;           /* a bar is on the current line */
	uint64_t start_ns;
	uint64_t last_ns;     /* last redraw or print */
};

struct progress *progress_create(bool tty, uint64_t start_ns)
{
	struct progress *p = calloc(1, sizeof(*p));
	if (p) {
		p->tty = tty;
		p->start_ns = start_ns;
		p->last_ns = start_ns;
	}
	return p;
}

void progress_destroy(struct progress *p)
{
	free(p);
}

uint64_t progress_period_ms(const struct progress *p)
{
	return p->tty ? 1000 / PROGRESS_TTY_HZ : PROGRESS_PLAIN_MS;
}

static void progress_eta(char *buf, size_t cap, double secs)
{
	if (secs < 0 || secs > 359999) {
		snprintf(buf, cap, "--:--");
	} else if (secs >= 3600) {
		snprintf(buf, cap, "%d:%02d:%02d", (int)secs / 3600,
			(int)secs / 60 % 60, (int)secs % 60);
	} else {
		snprintf(buf, cap, "%d:%02d", (int)secs / 60, (int)secs % 60);
	}
}

static void progress_draw(struct progress *p, const struct progress_counts *c,
		uint64_t now_ns)
{
	double secs = (double)(now_ns - p->start_ns) / 1e9;
	uint64_t n = c->done + c->failed + c->skipped;
	double rate = secs > 0 ? n / secs : 0;
	char eta[32];
	char line[160];

	if (c->scanning || rate <= 0) {
		snprintf(eta, sizeof(eta), "--:--");
	} else {
		progress_eta(eta, sizeof(eta), (double)(c->total - n) / rate);
	}
	if (p->tty) {
		int width = 30;
		int fill = c->total ? (int)(width * (double)n / (double)c->total) : 0;
		char bar[64];
		for (int i = 0; i < width; i++) {
			bar[i] = i < fill ? '#' : '.';
		}
		bar[width] = '\0';
		snprintf(line, sizeof(line), "\r[%s] %llu/%llu%s  %.1f img/s  "
			"ETA %s  failed %llu\033[K", bar, (unsigned long long)n,
			(unsigned long long)c->total, c->scanning ? "+" : "", rate,
			eta, (unsigned long long)c->failed);
		/* the bar is not a log line: no timestamp, no newline */
		if (write(STDERR_FILENO, line, strlen(line)) > 0) {
			p->drawn = true;
		}
	} else {
		log_info("progress: %llu/%llu%s done, %llu failed, %.1f img/s, ETA %s",
			(unsigned long long)n, (unsigned long long)c->total,
			c->scanning ? " (still scanning)" : "",
			(unsigned long long)c->failed, rate, eta);
	}
	p->last_ns = now_ns;
}

void progress_update(struct progress *p, const struct progress_counts *c,
		uint64_t now_ns)
{
	if (now_ns - p->last_ns + 1000000 < progress_period_ms(p) * 1000000ull) {
		return;
	}
	progress_draw(p, c, now_ns);
}

void progress_clear(struct progress *p)
{
	if (p->tty && p->drawn) {
		static const char clear[] = "\r\033[K";
		if (write(STDERR_FILENO, clear, sizeof(clear) - 1) < 0) {
			/* nothing to do: the summary follows on the same line */
		}
		p->drawn = false;
	}
}

void progress_summary(struct progress *p, const struct progress_counts *c,
		uint64_t now_ns)
{
	double secs = (double)(now_ns - p->start_ns) / 1e9;
	uint64_t n = c->done + c->failed;

	progress_clear(p);
	log_info("summary: %llu done, %llu failed, %llu skipped of %llu in %.2f s: "
		"%.1f img/s", (unsigned long long)c->done,
		(unsigned long long)c->failed, (unsigned long long)c->skipped,
		(unsigned long long)c->total, secs, secs > 0 ? n / secs : 0.0);
}
