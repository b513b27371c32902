#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- map ---------------------------------------------------------------- */

struct queue_map_entry {
	struct queue_map_entry *next;
	uint64_t hash;
	uint32_t id;
	void *value;
	char key[];
};

struct queue_map {
	struct queue_map_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t count;
};

static uint64_t queue_hash(uint32_t id, const char *key)
{
	/* FNV-1a: keys are paths we chose to watch, not adversarial input
	 * worth a keyed hash, and chains stay short with the load kept <= 1 */
	uint64_t h = 0xcbf29ce484222325ull;
	for (int i = 0; i < 4; i++) {
		h = (h ^ ((id >> (8 * i)) & 0xff)) * 0x100000001b3ull;
	}
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h = (h ^ *p) * 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

struct queue_map *queue_map_create(void)
{
	struct queue_map *m = calloc(1, sizeof(*m));
	if (!m) {
		return NULL;
	}
	m->n_buckets = 64;
	m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	return m;
}

void queue_map_destroy(struct queue_map *m, void (*free_value)(void *))
{
	if (!m) {
		return;
	}
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct queue_map_entry *e = m->buckets[i];
		while (e) {
			struct queue_map_entry *next = e->next;
			if (free_value) {
				free_value(e->value);
			}
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct queue_map_entry **queue_map_slot(const struct queue_map *m,
		uint32_t id, const char *key, uint64_t h)
{
	struct queue_map_entry **pp = &m->buckets[h & (m->n_buckets - 1)];
	while (*pp) {
		struct queue_map_entry *e = *pp;
		if (e->hash == h && e->id == id && strcmp(e->key, key) == 0) {
			break;
		}
		pp = &e->next;
	}
	return pp;
}

void *queue_map_get(const struct queue_map *m, uint32_t id, const char *key)
{
	struct queue_map_entry **pp = queue_map_slot(m, id, key,
		queue_hash(id, key));
	return *pp ? (*pp)->value : NULL;
}

/* Double the bucket array; on ENOMEM just stay at the higher load. */
static void queue_map_grow(struct queue_map *m)
{
	size_t n = m->n_buckets * 2;
	struct queue_map_entry **nb = calloc(n, sizeof(*nb));
	if (!nb) {
		return;
	}
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct queue_map_entry *e = m->buckets[i];
		while (e) {
			struct queue_map_entry *next = e->next;
			size_t b = e->hash & (n - 1);
			e->next = nb[b];
			nb[b] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->n_buckets = n;
}

int queue_map_put(struct queue_map *m, uint32_t id, const char *key,
		void *value, void **old)
{
	uint64_t h = queue_hash(id, key);
	struct queue_map_entry **pp = queue_map_slot(m, id, key, h);

	if (*pp) {
		if (old) {
			*old = (*pp)->value;
		}
		(*pp)->value = value;
		return 0;
	}
	size_t klen = strlen(key);
	struct queue_map_entry *e = malloc(sizeof(*e) + klen + 1);
	if (!e) {
		return -ENOMEM;
	}
	e->next = NULL;
	e->hash = h;
	e->id = id;
	e->value = value;
	memcpy(e->key, key, klen + 1);
	*pp = e;
	m->count++;
	if (old) {
		*old = NULL;
	}
	if (m->count > m->n_buckets) {
		queue_map_grow(m);
	}
	return 0;
}

void *queue_map_remove(struct queue_map *m, uint32_t id, const char *key)
{
	struct queue_map_entry **pp = queue_map_slot(m, id, key,
		queue_hash(id, key));
	struct queue_map_entry *e = *pp;

	if (!e) {
		return NULL;
	}
	void *v = e->value;
	*pp = e->next;
	free(e);
	m->count--;
	return v;
}

size_t queue_map_count(const struct queue_map *m)
{
	return m->count;
}

void queue_map_foreach(struct queue_map *m,
		bool (*fn)(uint32_t id, const char *key, void *value, void *arg),
		void *arg)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct queue_map_entry **pp = &m->buckets[i];
		while (*pp) {
			struct queue_map_entry *e = *pp;
			if (fn(e->id, e->key, e->value, arg)) {
				*pp = e->next;
				free(e);
				m->count--;
			} else {
				pp = &e->next;
			}
		}
	}
}

/* ---- queue -------------------------------------------------------------- */

enum {
	QUEUE_QUEUED = 1,
	QUEUE_RUNNING = 2,
};

/* Past this many remembered failures the memory starts over: a retry of an
 * old bad file costs one job, unbounded memory could cost the master. */
#define QUEUE_FAIL_MAX 100000

struct queue_fail {
	uint64_t size;
	int64_t mtime_ns;
};

struct queue {
	/* queued and in flight, by (watch, rel): an intrusive table, as a
	 * million queued paths must stay cheap for the master */
	struct queue_item **tab;
	size_t n_tab;             /* a power of two */
	size_t n_items;
	struct queue_map *failed; /* struct queue_fail */
	struct queue_item *head;
	struct queue_item *tail;
	uint64_t length;
	uint64_t in_flight;
	uint64_t max;
	bool rescan;
};

struct queue *queue_create(uint64_t max)
{
	struct queue *q = calloc(1, sizeof(*q));
	if (!q) {
		return NULL;
	}
	q->n_tab = 64;
	q->tab = calloc(q->n_tab, sizeof(*q->tab));
	q->failed = queue_map_create();
	if (!q->tab || !q->failed) {
		free(q->tab);
		queue_map_destroy(q->failed, NULL);
		free(q);
		return NULL;
	}
	q->max = max;
	return q;
}

void queue_destroy(struct queue *q)
{
	if (!q) {
		return;
	}
	/* every item, queued or in flight, is in the table */
	for (size_t i = 0; i < q->n_tab; i++) {
		struct queue_item *it = q->tab[i];
		while (it) {
			struct queue_item *next = it->hnext;
			free(it);
			it = next;
		}
	}
	free(q->tab);
	queue_map_destroy(q->failed, free);
	free(q);
}

void queue_set_max(struct queue *q, uint64_t max)
{
	q->max = max;
}

static struct queue_item **queue_slot(const struct queue *q, uint32_t watch,
		const char *rel, uint32_t h)
{
	struct queue_item **pp = &q->tab[h & (q->n_tab - 1)];
	while (*pp) {
		struct queue_item *it = *pp;
		if (it->hash == h && it->watch == watch &&
				strcmp(it->rel, rel) == 0) {
			break;
		}
		pp = &it->hnext;
	}
	return pp;
}

/* Double the table; on ENOMEM just stay at the higher load. */
static void queue_grow(struct queue *q)
{
	size_t n = q->n_tab * 2;
	struct queue_item **nt = calloc(n, sizeof(*nt));
	if (!nt) {
		return;
	}
	for (size_t i = 0; i < q->n_tab; i++) {
		struct queue_item *it = q->tab[i];
		while (it) {
			struct queue_item *next = it->hnext;
			it->hnext = nt[it->hash & (n - 1)];
			nt[it->hash & (n - 1)] = it;
			it = next;
		}
	}
	free(q->tab);
	q->tab = nt;
	q->n_tab = n;
}

static void queue_unhash(struct queue *q, struct queue_item *it)
{
	struct queue_item **pp = queue_slot(q, it->watch, it->rel, it->hash);
	if (*pp == it) {
		*pp = it->hnext;
		q->n_items--;
	}
}

static void queue_append(struct queue *q, struct queue_item *it)
{
	it->next = NULL;
	it->state = QUEUE_QUEUED;
	if (q->tail) {
		q->tail->next = it;
	} else {
		q->head = it;
	}
	q->tail = it;
	q->length++;
}

int queue_push(struct queue *q, uint32_t watch, const char *rel, bool changed)
{
	uint32_t h = (uint32_t)queue_hash(watch, rel);
	struct queue_item **slot = queue_slot(q, watch, rel, h);
	struct queue_item *it = *slot;

	if (it) {
		if (it->state == QUEUE_RUNNING && changed) {
			it->rerun = true;
		}
		return 1;
	}
	if (q->length >= q->max) {
		q->rescan = true;
		return -ENOBUFS;
	}
	size_t n = strlen(rel);
	it = calloc(1, sizeof(*it) + n + 1);
	if (!it) {
		return -ENOMEM;
	}
	it->watch = watch;
	it->hash = h;
	it->avoid_slot = -1;
	memcpy(it->rel, rel, n + 1);
	*slot = it;
	q->n_items++;
	queue_append(q, it);
	if (q->n_items > q->n_tab) {
		queue_grow(q);
	}
	return 0;
}

struct queue_item *queue_pop(struct queue *q)
{
	struct queue_item *it = q->head;

	if (!it) {
		return NULL;
	}
	q->head = it->next;
	if (!q->head) {
		q->tail = NULL;
	}
	it->next = NULL;
	it->state = QUEUE_RUNNING;
	q->length--;
	q->in_flight++;
	return it;
}

int queue_done(struct queue *q, struct queue_item *it)
{
	q->in_flight--;
	if (it->rerun) {
		it->rerun = false;
		it->attempts = 0;
		it->avoid_slot = -1;
		queue_append(q, it);
		return 1;
	}
	queue_unhash(q, it);
	free(it);
	return 0;
}

void queue_retry(struct queue *q, struct queue_item *it)
{
	q->in_flight--;
	it->state = QUEUE_QUEUED;
	it->next = q->head;
	q->head = it;
	if (!q->tail) {
		q->tail = it;
	}
	q->length++;
}

void queue_drop_watch(struct queue *q, uint32_t watch)
{
	struct queue_item **pp = &q->head;
	struct queue_item *last = NULL;

	while (*pp) {
		struct queue_item *it = *pp;
		if (it->watch == watch) {
			*pp = it->next;
			queue_unhash(q, it);
			free(it);
			q->length--;
		} else {
			last = it;
			pp = &it->next;
		}
	}
	q->tail = last;
	/* what is left of that watch is in flight: no re-runs for it */
	for (size_t i = 0; i < q->n_tab; i++) {
		for (struct queue_item *it = q->tab[i]; it; it = it->hnext) {
			if (it->watch == watch) {
				it->rerun = false;
			}
		}
	}
}

void queue_rerun_watch(struct queue *q, uint32_t watch)
{
	for (size_t i = 0; i < q->n_tab; i++) {
		for (struct queue_item *it = q->tab[i]; it; it = it->hnext) {
			if (it->watch == watch && it->state == QUEUE_RUNNING) {
				it->rerun = true;
			}
		}
	}
}

uint64_t queue_length(const struct queue *q)
{
	return q->length;
}

uint64_t queue_in_flight(const struct queue *q)
{
	return q->in_flight;
}

bool queue_full(const struct queue *q)
{
	return q->length >= q->max;
}

bool queue_take_rescan(struct queue *q)
{
	bool r = q->rescan;
	q->rescan = false;
	return r;
}

static bool queue_drop_all(uint32_t id, const char *key, void *value,
		void *arg)
{
	(void)id;
	(void)key;
	(void)arg;
	free(value);
	return true;
}

int queue_fail_add(struct queue *q, uint32_t watch, const char *rel,
		uint64_t size, int64_t mtime_ns)
{
	struct queue_fail *f = queue_map_get(q->failed, watch, rel);

	if (f) {
		if (f->size == size && f->mtime_ns == mtime_ns) {
			return 0;
		}
		f->size = size;
		f->mtime_ns = mtime_ns;
		return 1;
	}
	if (queue_map_count(q->failed) >= QUEUE_FAIL_MAX) {
		queue_map_foreach(q->failed, queue_drop_all, NULL);
	}
	f = malloc(sizeof(*f));
	if (!f) {
		return -ENOMEM;
	}
	f->size = size;
	f->mtime_ns = mtime_ns;
	if (queue_map_put(q->failed, watch, rel, f, NULL) < 0) {
		free(f);
		return -ENOMEM;
	}
	return 1;
}

bool queue_fail_known(const struct queue *q, uint32_t watch, const char *rel,
		uint64_t size, int64_t mtime_ns)
{
	const struct queue_fail *f = queue_map_get(q->failed, watch, rel);
	return f && f->size == size && f->mtime_ns == mtime_ns;
}

void queue_fail_forget(struct queue *q, uint32_t watch, const char *rel)
{
	free(queue_map_remove(q->failed, watch, rel));
}
