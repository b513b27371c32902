/*
 * The master's queue: FIFO order, de-duplication, the bound and its rescan
 * flag, re-runs of paths that change while in flight, retries at the front,
 * dropping a watch, the memory of failed inputs, and the map underneath.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testlib.h"
/* daemon/ modules are not in a library: the test compiles its module in */
#include "../../daemon/queue.c"

static void test_fifo_and_dedupe(void)
{
	struct queue *q = queue_create(100);
	CHECK(q);
	CHECK_INT_EQ(queue_push(q, 1, "a.jpg", true), 0);
	CHECK_INT_EQ(queue_push(q, 1, "b.jpg", true), 0);
	CHECK_INT_EQ(queue_push(q, 2, "a.jpg", true), 0);   /* other watch */
	CHECK_INT_EQ(queue_push(q, 1, "a.jpg", true), 1);   /* queued twice */
	CHECK_INT_EQ(queue_push(q, 1, "a.jpg", false), 1);
	CHECK_INT_EQ(queue_length(q), 3);

	struct queue_item *a = queue_pop(q);
	CHECK(a && a->watch == 1 && strcmp(a->rel, "a.jpg") == 0);
	struct queue_item *b = queue_pop(q);
	CHECK(b && strcmp(b->rel, "b.jpg") == 0);
	struct queue_item *c = queue_pop(q);
	CHECK(c && c->watch == 2);
	CHECK(queue_pop(q) == NULL);
	CHECK_INT_EQ(queue_length(q), 0);
	CHECK_INT_EQ(queue_in_flight(q), 3);

	/* in flight: a scan finding it again does nothing, an event re-runs it
	 * once after it finishes, however often it arrives */
	CHECK_INT_EQ(queue_push(q, 1, "b.jpg", false), 1);
	CHECK_INT_EQ(queue_done(q, b), 0);
	CHECK_INT_EQ(queue_push(q, 1, "a.jpg", true), 1);
	CHECK_INT_EQ(queue_push(q, 1, "a.jpg", true), 1);
	CHECK_INT_EQ(queue_length(q), 0);
	CHECK_INT_EQ(queue_done(q, a), 1);
	CHECK_INT_EQ(queue_length(q), 1);
	CHECK_INT_EQ(queue_in_flight(q), 1);
	struct queue_item *again = queue_pop(q);
	CHECK(again && strcmp(again->rel, "a.jpg") == 0);
	CHECK_INT_EQ(queue_done(q, again), 0);
	CHECK_INT_EQ(queue_done(q, c), 0);
	CHECK_INT_EQ(queue_in_flight(q), 0);
	/* finished paths can be queued anew */
	CHECK_INT_EQ(queue_push(q, 1, "a.jpg", false), 0);
	queue_destroy(q);
}

static void test_bound(void)
{
	struct queue *q = queue_create(3);
	char rel[32];
	CHECK(q);
	CHECK(!queue_take_rescan(q));
	for (int i = 0; i < 3; i++) {
		snprintf(rel, sizeof(rel), "f%d.jpg", i);
		CHECK_INT_EQ(queue_push(q, 1, rel, true), 0);
	}
	CHECK(queue_full(q));
	CHECK_INT_EQ(queue_push(q, 1, "f3.jpg", true), -ENOBUFS);
	/* a duplicate is not refused: it is already in */
	CHECK_INT_EQ(queue_push(q, 1, "f0.jpg", true), 1);
	CHECK(queue_take_rescan(q));
	CHECK(!queue_take_rescan(q));   /* taken once */
	/* in-flight paths do not count against the bound */
	struct queue_item *it = queue_pop(q);
	CHECK(!queue_full(q));
	CHECK_INT_EQ(queue_push(q, 1, "f3.jpg", true), 0);
	CHECK(queue_full(q));
	CHECK_INT_EQ(queue_done(q, it), 0);
	queue_set_max(q, 10);
	CHECK(!queue_full(q));
	queue_destroy(q);
}

static void test_retry_and_drop(void)
{
	struct queue *q = queue_create(100);
	CHECK(q);
	CHECK_INT_EQ(queue_push(q, 1, "x.jpg", true), 0);
	CHECK_INT_EQ(queue_push(q, 1, "y.jpg", true), 0);
	struct queue_item *x = queue_pop(q);
	x->attempts++;
	queue_retry(q, x);   /* back at the front, attempts kept */
	CHECK_INT_EQ(queue_in_flight(q), 0);
	struct queue_item *x2 = queue_pop(q);
	CHECK(x2 == x && x2->attempts == 1);
	/* a retried path is still de-duplicated */
	CHECK_INT_EQ(queue_push(q, 1, "x.jpg", false), 1);
	CHECK_INT_EQ(queue_done(q, x2), 0);

	/* dropping a watch forgets its queued paths; in-flight ones finish
	 * without a re-run */
	CHECK_INT_EQ(queue_push(q, 2, "p.jpg", true), 0);
	CHECK_INT_EQ(queue_push(q, 1, "z.jpg", true), 0);
	CHECK_INT_EQ(queue_push(q, 2, "r.jpg", true), 0);
	struct queue_item *y = queue_pop(q);     /* y.jpg of watch 1 */
	CHECK(y && strcmp(y->rel, "y.jpg") == 0);
	struct queue_item *p = queue_pop(q);     /* p.jpg of watch 2 */
	CHECK(p->watch == 2);
	CHECK_INT_EQ(queue_push(q, 2, "p.jpg", true), 1);   /* rerun flag */
	queue_drop_watch(q, 2);
	CHECK_INT_EQ(queue_length(q), 1);
	CHECK_INT_EQ(queue_done(q, p), 0);                  /* no re-run */
	struct queue_item *z = queue_pop(q);
	CHECK(z && strcmp(z->rel, "z.jpg") == 0);
	CHECK(queue_pop(q) == NULL);
	/* the tail is right after a drop: appending still works */
	CHECK_INT_EQ(queue_push(q, 1, "w.jpg", true), 0);
	CHECK_INT_EQ(queue_push(q, 1, "v.jpg", true), 0);
	struct queue_item *w = queue_pop(q);
	CHECK(w && strcmp(w->rel, "w.jpg") == 0);
	struct queue_item *v = queue_pop(q);
	CHECK(v && strcmp(v->rel, "v.jpg") == 0);
	queue_done(q, y);
	queue_done(q, z);
	/* w and v are freed by queue_destroy while in flight */
	queue_destroy(q);
}

static void test_failed_memory(void)
{
	struct queue *q = queue_create(10);
	CHECK(q);
	CHECK(!queue_fail_known(q, 1, "bad.jpg", 100, 5));
	CHECK_INT_EQ(queue_fail_add(q, 1, "bad.jpg", 100, 5), 1);
	CHECK(queue_fail_known(q, 1, "bad.jpg", 100, 5));
	CHECK_INT_EQ(queue_fail_add(q, 1, "bad.jpg", 100, 5), 0);  /* said once */
	CHECK(!queue_fail_known(q, 1, "bad.jpg", 101, 5));          /* changed */
	CHECK(!queue_fail_known(q, 1, "bad.jpg", 100, 6));
	CHECK(!queue_fail_known(q, 2, "bad.jpg", 100, 5));
	CHECK_INT_EQ(queue_fail_add(q, 1, "bad.jpg", 100, 6), 1);  /* new version */
	queue_fail_forget(q, 1, "bad.jpg");
	CHECK(!queue_fail_known(q, 1, "bad.jpg", 100, 6));
	queue_fail_forget(q, 1, "never.jpg");
	queue_destroy(q);
}

static bool count_odd(uint32_t id, const char *key, void *value, void *arg)
{
	(void)key;
	(void)value;
	(*(int *)arg)++;
	return id % 2 == 1;   /* remove odd ids */
}

static void test_map(void)
{
	struct queue_map *m = queue_map_create();
	char key[32];
	static int values[5000];
	CHECK(m);
	/* enough entries to make the table grow several times */
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK_INT_EQ(queue_map_put(m, (uint32_t)i, key, &values[i], NULL), 0);
	}
	CHECK_INT_EQ(queue_map_count(m), 5000);
	for (int i = 0; i < 5000; i += 7) {
		snprintf(key, sizeof(key), "k%d", i);
		CHECK(queue_map_get(m, (uint32_t)i, key) == &values[i]);
		CHECK(queue_map_get(m, (uint32_t)i + 1, key) == NULL);
	}
	void *old = NULL;
	CHECK_INT_EQ(queue_map_put(m, 3, "k3", &values[0], &old), 0);
	CHECK(old == &values[3]);
	CHECK_INT_EQ(queue_map_count(m), 5000);
	CHECK(queue_map_remove(m, 3, "k3") == &values[0]);
	CHECK(queue_map_remove(m, 3, "k3") == NULL);
	/* the empty key is a key like any other (watch.c uses it) */
	CHECK_INT_EQ(queue_map_put(m, 77777, "", &values[1], NULL), 0);
	CHECK(queue_map_get(m, 77777, "") == &values[1]);
	int seen = 0;
	queue_map_foreach(m, count_odd, &seen);
	CHECK_INT_EQ(seen, 5000);
	CHECK_INT_EQ(queue_map_count(m), 2500);
	CHECK(queue_map_get(m, 5, "k5") == NULL);
	CHECK(queue_map_get(m, 6, "k6") == &values[6]);
	queue_map_destroy(m, NULL);
}

/* 100,000 paths in and out: the queue is not quadratic anywhere. */
static void test_many(void)
{
	struct queue *q = queue_create(1000000);
	char rel[64];
	CHECK(q);
	for (int i = 0; i < 100000; i++) {
		snprintf(rel, sizeof(rel), "dir%d/img%06d.jpg", i % 100, i);
		CHECK_INT_EQ(queue_push(q, 1, rel, false), 0);
	}
	for (int i = 0; i < 100000; i++) {
		snprintf(rel, sizeof(rel), "dir%d/img%06d.jpg", i % 100, i);
		CHECK_INT_EQ(queue_push(q, 1, rel, true), 1);
	}
	for (int i = 0; i < 100000; i++) {
		struct queue_item *it = queue_pop(q);
		snprintf(rel, sizeof(rel), "dir%d/img%06d.jpg", i % 100, i);
		CHECK(it && strcmp(it->rel, rel) == 0);
		CHECK_INT_EQ(queue_done(q, it), 0);
	}
	CHECK_INT_EQ(queue_length(q) + queue_in_flight(q), 0);
	queue_destroy(q);
}

int main(void)
{
	test_fifo_and_dedupe();
	test_bound();
	test_retry_and_drop();
	test_failed_memory();
	test_map();
	test_many();
	fprintf(stderr, "queue: all checks passed\n");
	return 0;
}
