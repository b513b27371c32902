#ifndef THUMBD_QUEUE_H
#define THUMBD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The master's job queue: a FIFO of (watch, relative path) with
 * de-duplication, a bound with back-pressure, and re-runs for paths that
 * change while in flight. Also the memory of failed inputs, so rescans do
 * not retry a bad file until it changes. No libuv, no logging: unit-tested.
 */

/* A map from (id, string) to a pointer; the building block of the above. */
struct queue_map;

struct queue_map *queue_map_create(void);

/* Free the map; @free_value (may be NULL) is called on every value. */
void queue_map_destroy(struct queue_map *m, void (*free_value)(void *));

/* The value for (@id, @key), or NULL. */
void *queue_map_get(const struct queue_map *m, uint32_t id, const char *key);

/* Set (@id, @key) to @value (not NULL), replacing any old value, which is
 * returned in *@old (NULL if none; @old may be NULL). 0 or -ENOMEM. */
int queue_map_put(struct queue_map *m, uint32_t id, const char *key,
		void *value, void **old);

/* Remove (@id, @key); returns its value or NULL if absent. */
void *queue_map_remove(struct queue_map *m, uint32_t id, const char *key);

size_t queue_map_count(const struct queue_map *m);

/*
 * Call @fn on every entry, in no particular order. If @fn returns true the
 * entry is removed (its value is the callback's to free).
 */
void queue_map_foreach(struct queue_map *m,
		bool (*fn)(uint32_t id, const char *key, void *value, void *arg),
		void *arg);

/* One path, queued or in flight. Fields are read-only for callers except
 * @attempts and @avoid_slot, which the master uses for its retry policy. */
struct queue_item {
	struct queue_item *next;  /* FIFO link, private */
	struct queue_item *hnext; /* hash chain, private */
	uint32_t hash;            /* private */
	uint32_t watch;
	uint8_t state;            /* private */
	bool rerun;               /* private: arrived again while in flight */
	uint8_t attempts;         /* jobs lost to crashes or timeouts so far */
	int32_t avoid_slot;       /* worker slot that lost it last, -1 if none */
	char rel[];
};

struct queue;

/* An empty queue holding at most @max paths (queued, not in flight). */
struct queue *queue_create(uint64_t max);
void queue_destroy(struct queue *q);

/* Change the bound; paths already queued stay. */
void queue_set_max(struct queue *q, uint64_t max);

/*
 * Queue (@watch, @rel). A path already queued is not queued again. A path
 * in flight is queued again after it finishes only if @changed (an event
 * says it was written; a scan merely finds it). Returns 0 if queued, 1 if
 * there was nothing to do, -ENOBUFS if the queue is full (the rescan flag
 * is then set: nothing is lost, a rescan finds it later), -ENOMEM.
 */
int queue_push(struct queue *q, uint32_t watch, const char *rel, bool changed);

/* Take the oldest queued path; it is in flight until queue_done(). NULL
 * if nothing is queued. */
struct queue_item *queue_pop(struct queue *q);

/*
 * A path taken with queue_pop() is finished. If it arrived again while in
 * flight, it goes to the back of the queue (returns 1, the item lives on);
 * otherwise it is freed (returns 0).
 */
int queue_done(struct queue *q, struct queue_item *item);

/* Put an in-flight path back at the front, to be taken again next (a job
 * lost with its worker). */
void queue_retry(struct queue *q, struct queue_item *item);

/* Mark every in-flight path of @watch to run again after it finishes (its
 * job was sent with settings that changed since). */
void queue_rerun_watch(struct queue *q, uint32_t watch);

/* Forget every queued path of @watch (a watch removed by a reload). Paths
 * in flight finish normally but are not re-run. */
void queue_drop_watch(struct queue *q, uint32_t watch);

uint64_t queue_length(const struct queue *q);
uint64_t queue_in_flight(const struct queue *q);
bool queue_full(const struct queue *q);

/* True (once) if a push was refused since the last call: rescan then. */
bool queue_take_rescan(struct queue *q);

/*
 * Failed inputs, by (watch, rel) and the file's (size, mtime). Returns 1
 * if this failure is new (log it), 0 if the same file version had already
 * failed (stay quiet), -ENOMEM.
 */
int queue_fail_add(struct queue *q, uint32_t watch, const char *rel,
		uint64_t size, int64_t mtime_ns);

/* True if this version of the file already failed: do not queue it. */
bool queue_fail_known(const struct queue *q, uint32_t watch, const char *rel,
		uint64_t size, int64_t mtime_ns);

/* Forget a failure (the file succeeded or went away). */
void queue_fail_forget(struct queue *q, uint32_t watch, const char *rel);

#endif
