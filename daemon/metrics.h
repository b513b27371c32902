#ifndef THUMBD_METRICS_H
#define THUMBD_METRICS_H

#include "stats.h"

/*
 * Write @st to @path in Prometheus text exposition format (for
 * node_exporter's textfile collector), atomically: temp file and rename.
 * Returns 0 or a negative errno; the caller logs.
 */
int metrics_write(const char *path, const struct stats *st);

#endif
