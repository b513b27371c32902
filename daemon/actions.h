#ifndef THUMBD_ACTIONS_H
#define THUMBD_ACTIONS_H

#include <stdbool.h>

#include "config.h"

/*
 * What happens to an input after its job: the watch's on_success (keep,
 * delete, move FOLDER) and on_failure (keep, move FOLDER) actions. A moved
 * input keeps its path relative to the watch's input folder. These are the
 * only places an input is ever removed or moved. Failures are logged here,
 * once, with the path and the reason; the input then stays where it is.
 */

/* True if on_success removes the input from its folder: its job must then
 * run with spec.durable, so the thumbnails survive a power cut first. */
bool actions_need_durable(const struct config_watch *w);

/* Apply on_success to input @rel of @w (all its thumbnails are written).
 * Returns 0 or the negative errno that was logged. */
int actions_success(const struct config_watch *w, const char *rel);

/* Apply on_failure to input @rel of @w (it cannot be thumbnailed). */
int actions_failure(const struct config_watch *w, const char *rel);

#endif
