#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "queue.h"

/* What each folder is watched for. IN_OPEN tells a writer's CREATE (cp:
 * its IN_CLOSE_WRITE will follow) from a bare CREATE (ln, linkat). */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
	IN_CREATE | IN_OPEN | IN_DELETE_SELF | IN_MOVE_SELF | \
	IN_EXCL_UNLINK | IN_ONLYDIR | IN_DONT_FOLLOW)

/* How often lost roots are looked for and network roots rescanned. */
#define WATCH_TICK_MS 500
/* A bare CREATE that a reader (not a writer) opened gets no CLOSE_WRITE:
 * after this long with a stable size it is taken anyway. */
#define WATCH_OPENED_SETTLE_NS (30ull * 1000 * 1000 * 1000)
/* An IN_OPEN this soon after the IN_CREATE is the creator's own open. */
#define WATCH_WRITER_OPEN_NS (100ull * 1000 * 1000)
/* Events read per poll callback before the loop gets a turn again. */
#define WATCH_READS_PER_CB 16
#define WATCH_BUF_SIZE (64 * 1024)

struct watch_root {
	uint32_t id;
	char *path;
	bool recursive;
	bool lost;            /* missing; polled for */
	bool periodic;        /* network filesystem or out of watches */
	uint64_t scan_interval_ms;
	uint64_t next_scan_ns;
};

struct watch_dir {
	int wd;
	struct watch_root *root;
	char *rel;            /* "" for the root itself */
};

struct watch_pending {
	uint32_t root;
	bool opened;          /* a writer has it open: wait for CLOSE_WRITE */
	bool from_scan;       /* found by a scan, not by a CREATE event */
	bool seen;            /* size and mtime below are valid */
	uint64_t size;
	int64_t mtime_ns;
	uint64_t stable_since_ns;
	uint64_t created_ns;
};

struct watcher {
	uv_loop_t *loop;
	struct watch_callbacks cb;
	void *arg;
	int fd;
	uv_poll_t poll;
	uv_timer_t settle_timer;
	uv_timer_t tick_timer;
	bool paused;
	bool closing;
	int open_handles;
	void (*done)(void *);
	void *done_arg;
	uint64_t settle_ms;
	struct watch_root *roots[CONFIG_MAX_WATCHES];
	uint32_t n_roots;
	struct queue_map *dirs;     /* (wd, "") -> struct watch_dir */
	struct queue_map *pending;  /* (root, rel) -> struct watch_pending */
	uint8_t *buf;
	bool warned_limit;
};

static uint64_t watch_now_ns(void)
{
	return uv_hrtime();
}

static struct watch_root *watch_find_root(const struct watcher *w, uint32_t id)
{
	for (uint32_t i = 0; i < w->n_roots; i++) {
		if (w->roots[i]->id == id) {
			return w->roots[i];
		}
	}
	return NULL;
}

/* "a/b" into @buf, or just one of them if the other is empty; false if
 * it does not fit. */
static bool watch_join(char *buf, size_t cap, const char *a, const char *b)
{
	int n = a[0] && b[0] ? snprintf(buf, cap, "%s/%s", a, b) :
		snprintf(buf, cap, "%s", a[0] ? a : b);
	return n >= 0 && (size_t)n < cap;
}

static void watch_dir_free(void *v)
{
	struct watch_dir *d = v;
	if (d) {
		free(d->rel);
		free(d);
	}
}

static void watch_update_ticker(struct watcher *w);

/* ---- roots -------------------------------------------------------------- */

/* Filesystems whose remote changes inotify never hears about. */
static const char *watch_network_fs(const char *path)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} fs[] = {
		{ 0x6969, "nfs" },
		{ 0xff534d42, "cifs" },
		{ 0xfe534d42, "smb2" },
		{ 0x517b, "smb" },
		{ 0x65735546, "fuse" },
		{ 0x01021997, "9p" },
		{ 0x00c36400, "ceph" },
		{ 0x5346414f, "afs" },
		{ 0x6b414653, "afs" },
		{ 0x47504653, "gpfs" },
		{ 0x0bd00bd0, "lustre" },
		{ 0x73757245, "coda" },
	};
	struct statfs sf;

	if (statfs(path, &sf) < 0) {
		return NULL;
	}
	for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
		if ((unsigned long)sf.f_type == fs[i].magic) {
			return fs[i].name;
		}
	}
	return NULL;
}

static int watch_add_wd(struct watcher *w, struct watch_root *r,
		const char *rel)
{
	char path[PATH_MAX];

	if (!watch_join(path, sizeof(path), r->path, rel)) {
		return -ENAMETOOLONG;
	}
	int wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	if (wd < 0) {
		int e = errno;
		if (e == ENOSPC && !w->warned_limit) {
			w->warned_limit = true;
			log_warning("inotify watch limit reached "
				"(fs.inotify.max_user_watches) at %s: folders past "
				"it are %s", log_path(path), r->scan_interval_ms ?
				"rescanned every scan_interval instead" :
				"not watched (scan_interval is off)");
		}
		if (e == ENOSPC && !r->periodic && r->scan_interval_ms > 0) {
			/* out of inotify watches: keep the root correct by
			 * scanning it now and then */
			r->periodic = true;
			r->next_scan_ns = watch_now_ns() +
				r->scan_interval_ms * 1000000ull;
			watch_update_ticker(w);
		}
		return -e;
	}
	struct watch_dir *d = queue_map_get(w->dirs, (uint32_t)wd, "");
	if (d) {
		/* the same folder under a new name: it was renamed */
		if (strcmp(d->rel, rel) != 0) {
			char *nrel = strdup(rel);
			if (!nrel) {
				return -ENOMEM;
			}
			free(d->rel);
			d->rel = nrel;
		}
		d->root = r;
		return 0;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->rel = strdup(rel))) {
		free(d);
		inotify_rm_watch(w->fd, wd);
		return -ENOMEM;
	}
	d->wd = wd;
	d->root = r;
	if (queue_map_put(w->dirs, (uint32_t)wd, "", d, NULL) < 0) {
		watch_dir_free(d);
		inotify_rm_watch(w->fd, wd);
		return -ENOMEM;
	}
	return 0;
}

/* Start watching a root folder that exists. */
static int watch_arm_root(struct watcher *w, struct watch_root *r)
{
	int e = watch_add_wd(w, r, "");
	if (e < 0) {
		return e;
	}
	r->lost = false;
	const char *net = watch_network_fs(r->path);
	if (net && !r->periodic && r->scan_interval_ms == 0) {
		log_warning("%s is on a network filesystem (%s): inotify does not "
			"see remote changes, and scan_interval is off",
			log_path(r->path), net);
	} else if (net && !r->periodic) {
		log_warning("%s is on a network filesystem (%s): inotify does not "
			"see remote changes, so it is rescanned every %" PRIu64 " s",
			log_path(r->path), net, r->scan_interval_ms / 1000);
		r->periodic = true;
		r->next_scan_ns = watch_now_ns() + r->scan_interval_ms * 1000000ull;
	}
	return 0;
}

struct watch_forget_arg {
	struct watcher *w;
	struct watch_root *root;
	const char *prefix;   /* NULL: the whole root */
	size_t plen;
};

static bool watch_forget_one(uint32_t id, const char *key, void *value,
		void *arg)
{
	struct watch_forget_arg *a = arg;
	struct watch_dir *d = value;
	(void)id;
	(void)key;

	if (d->root != a->root) {
		return false;
	}
	if (a->prefix && !(strncmp(d->rel, a->prefix, a->plen) == 0 &&
			(d->rel[a->plen] == '\0' || d->rel[a->plen] == '/'))) {
		return false;
	}
	inotify_rm_watch(a->w->fd, d->wd);
	watch_dir_free(d);
	return true;
}

/* Stop watching @prefix (a folder moved away) or, if NULL, all of root. */
static void watch_forget(struct watcher *w, struct watch_root *r,
		const char *prefix)
{
	struct watch_forget_arg a = { w, r, prefix, prefix ? strlen(prefix) : 0 };
	queue_map_foreach(w->dirs, watch_forget_one, &a);
}

static bool watch_drop_pending_of(uint32_t id, const char *key, void *value,
		void *arg)
{
	(void)key;
	if (id == *(const uint32_t *)arg) {
		free(value);
		return true;
	}
	return false;
}

static void watch_root_lost(struct watcher *w, struct watch_root *r,
		const char *how)
{
	if (r->lost) {
		return;
	}
	log_warning("watched folder %s %s; waiting for it to come back",
		log_path(r->path), how);
	watch_forget(w, r, NULL);
	queue_map_foreach(w->pending, watch_drop_pending_of, &r->id);
	r->lost = true;
	watch_update_ticker(w);
}

int watch_add_root(struct watcher *w, uint32_t id, const char *path,
		bool recursive, uint64_t scan_interval_ms)
{
	struct watch_root *r;

	if (w->n_roots >= CONFIG_MAX_WATCHES || watch_find_root(w, id)) {
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->path = strdup(path))) {
		free(r);
		return -ENOMEM;
	}
	r->id = id;
	r->recursive = recursive;
	r->scan_interval_ms = scan_interval_ms;
	w->roots[w->n_roots++] = r;
	int e = watch_arm_root(w, r);
	if (e == -ENOMEM) {
		w->n_roots--;
		free(r->path);
		free(r);
		return e;
	}
	if (e < 0) {
		log_warning("cannot watch %s: %s; waiting for it", log_path(path),
			strerror(-e));
		r->lost = true;
	}
	watch_update_ticker(w);
	return 0;
}

void watch_remove_root(struct watcher *w, uint32_t id)
{
	for (uint32_t i = 0; i < w->n_roots; i++) {
		struct watch_root *r = w->roots[i];
		if (r->id != id) {
			continue;
		}
		watch_forget(w, r, NULL);
		queue_map_foreach(w->pending, watch_drop_pending_of, &id);
		w->roots[i] = w->roots[--w->n_roots];
		free(r->path);
		free(r);
		watch_update_ticker(w);
		return;
	}
}

bool watch_root_ok(const struct watcher *w, uint32_t id)
{
	const struct watch_root *r = watch_find_root(w, id);
	return r && !r->lost;
}

int watch_add_dir(struct watcher *w, uint32_t id, const char *rel)
{
	struct watch_root *r = watch_find_root(w, id);

	if (!r || r->lost) {
		return -ENOENT;
	}
	if (!r->recursive && rel[0]) {
		return 0;
	}
	return watch_add_wd(w, r, rel);
}

uint64_t watch_count_dirs(const struct watcher *w)
{
	return queue_map_count(w->dirs);
}

/* ---- settling ----------------------------------------------------------- */

static void watch_settle_cb(uv_timer_t *t);

static void watch_settle_arm(struct watcher *w)
{
	if (uv_is_active((uv_handle_t *)&w->settle_timer) || w->closing) {
		return;
	}
	uint64_t every = w->settle_ms / 4;
	every = every < 20 ? 20 : every > 500 ? 500 : every;
	uv_timer_start(&w->settle_timer, watch_settle_cb, every, every);
}

static void watch_pending_add(struct watcher *w, uint32_t root,
		const char *rel, bool from_scan)
{
	struct watch_pending *p = queue_map_get(w->pending, root, rel);

	if (p) {
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		return; /* a rescan finds it later */
	}
	p->root = root;
	p->from_scan = from_scan;
	p->created_ns = watch_now_ns();
	if (queue_map_put(w->pending, root, rel, p, NULL) < 0) {
		free(p);
		return;
	}
	watch_settle_arm(w);
}

void watch_settle(struct watcher *w, uint32_t id, const char *rel)
{
	watch_pending_add(w, id, rel, true);
}

struct watch_ready {
	uint32_t root;
	char *rel;
};

struct watch_settle_arg {
	struct watcher *w;
	uint64_t now;
	struct watch_ready *ready;
	size_t n, cap;
};

/* Decide about one pending file; true removes it from the map. */
static bool watch_settle_one(uint32_t id, const char *rel, void *value,
		void *arg)
{
	struct watch_settle_arg *a = arg;
	struct watch_pending *p = value;
	struct watch_root *r = watch_find_root(a->w, id);
	char path[PATH_MAX];
	struct stat st = { 0 };

	if (!r || r->lost || !watch_join(path, sizeof(path), r->path, rel) ||
			lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (r && S_ISLNK(st.st_mode)) {
			log_info("%s is a symbolic link: skipped", log_path(path));
		}
		free(p);
		return true;
	}
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		st.st_mtim.tv_nsec;
	if (!p->seen || p->size != (uint64_t)st.st_size || p->mtime_ns != mtime) {
		p->seen = true;
		p->size = (uint64_t)st.st_size;
		p->mtime_ns = mtime;
		p->stable_since_ns = a->now;
		return false;
	}
	uint64_t need = p->opened ? WATCH_OPENED_SETTLE_NS :
		a->w->settle_ms * 1000000ull;
	if (a->now - p->stable_since_ns < need) {
		return false;
	}
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		struct watch_ready *nr = realloc(a->ready, ncap * sizeof(*nr));
		if (!nr) {
			return false; /* try again next tick */
		}
		a->ready = nr;
		a->cap = ncap;
	}
	char *copy = strdup(rel);
	if (!copy) {
		return false;
	}
	a->ready[a->n].root = id;
	a->ready[a->n].rel = copy;
	a->n++;
	free(p);
	return true;
}

static void watch_settle_cb(uv_timer_t *t)
{
	struct watcher *w = t->data;
	struct watch_settle_arg a = { w, watch_now_ns(), NULL, 0, 0 };

	queue_map_foreach(w->pending, watch_settle_one, &a);
	if (queue_map_count(w->pending) == 0) {
		uv_timer_stop(&w->settle_timer);
	}
	/* callbacks only after the walk: they may add pending files */
	for (size_t i = 0; i < a.n; i++) {
		if (!w->closing) {
			w->cb.file(w->arg, a.ready[i].root, a.ready[i].rel, true);
		}
		free(a.ready[i].rel);
	}
	free(a.ready);
}

/* ---- events ------------------------------------------------------------- */

static void watch_on_dir_event(struct watcher *w, struct watch_root *r,
		const struct inotify_event *ev, const char *rel)
{
	if (!r->recursive || ev->name[0] == '.') {
		return;
	}
	if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
		int e = watch_add_wd(w, r, rel);
		if (e < 0 && e != -ENOENT && e != -ENOSPC) {
			log_warning("cannot watch %s/%s: %s", log_path(r->path),
				log_path(rel), strerror(-e));
		}
		w->cb.dir(w->arg, r->id, rel);
	} else if (ev->mask & IN_MOVED_FROM) {
		/* moved away or renamed: a MOVED_TO (if any) re-adds it under
		 * its new name with fresh watches */
		watch_forget(w, r, rel);
	}
}

static void watch_on_file_event(struct watcher *w, struct watch_root *r,
		const struct inotify_event *ev, const char *rel)
{
	if (ev->mask & IN_OPEN) {
		/* A writer's open comes with its CREATE (open(O_CREAT) makes
		 * both); a later open is a reader, such as our own worker. */
		struct watch_pending *p = queue_map_get(w->pending, r->id, rel);
		if (p && !p->from_scan &&
				watch_now_ns() - p->created_ns < WATCH_WRITER_OPEN_NS) {
			p->opened = true;
		}
		return;
	}
	if (ev->mask & IN_MOVED_FROM) {
		free(queue_map_remove(w->pending, r->id, rel));
		return;
	}
	if (!w->cb.wants(w->arg, r->id, rel)) {
		return;
	}
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
		free(queue_map_remove(w->pending, r->id, rel));
		w->cb.file(w->arg, r->id, rel, false);
	} else if (ev->mask & IN_CREATE) {
		/* a link (or a fifo, a socket) is not going to settle into an
		 * image: say so now rather than after the settle time */
		char path[PATH_MAX];
		struct stat st;
		if (watch_join(path, sizeof(path), r->path, rel) &&
				lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (S_ISLNK(st.st_mode)) {
				log_info("%s is a symbolic link: skipped",
					log_path(path));
			}
			return;
		}
		watch_pending_add(w, r->id, rel, false);
	}
}

static void watch_event(struct watcher *w, const struct inotify_event *ev)
{
	char rel[PATH_MAX];

	if (ev->mask & IN_Q_OVERFLOW) {
		log_warning("inotify queue overflow: events were lost, rescanning "
			"every watch");
		w->cb.rescan(w->arg, WATCH_ALL);
		return;
	}
	struct watch_dir *d = queue_map_get(w->dirs, (uint32_t)ev->wd, "");
	if (!d) {
		return; /* a folder we stopped watching */
	}
	struct watch_root *r = d->root;
	if (ev->mask & IN_IGNORED) {
		bool is_root = d->rel[0] == '\0';
		watch_dir_free(queue_map_remove(w->dirs, (uint32_t)ev->wd, ""));
		if (is_root) {
			watch_root_lost(w, r, "is no longer watchable");
		}
		return;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		if (d->rel[0] == '\0') {
			watch_root_lost(w, r, ev->mask & IN_MOVE_SELF ?
				"was moved away" : "was removed");
		}
		return;
	}
	if (ev->len == 0 || ev->name[0] == '\0') {
		return; /* about the folder itself, e.g. it was opened */
	}
	if (!watch_join(rel, sizeof(rel), d->rel, ev->name)) {
		return;
	}
	if (ev->mask & IN_ISDIR) {
		watch_on_dir_event(w, r, ev, rel);
	} else {
		watch_on_file_event(w, r, ev, rel);
	}
}

static void watch_poll_cb(uv_poll_t *h, int status, int events)
{
	struct watcher *w = h->data;
	(void)events;

	if (status < 0) {
		log_error("inotify poll: %s", uv_strerror(status));
		return;
	}
	for (int i = 0; i < WATCH_READS_PER_CB && !w->paused && !w->closing; i++) {
		ssize_t n = read(w->fd, w->buf, WATCH_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno != EAGAIN) {
				log_error("inotify read: %s", strerror(errno));
			}
			return;
		}
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev =
				(const struct inotify_event *)(w->buf + off);
			watch_event(w, ev);
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	}
}

/* ---- the tick: lost roots and network roots ----------------------------- */

static void watch_tick_cb(uv_timer_t *t)
{
	struct watcher *w = t->data;
	uint64_t now = watch_now_ns();
	struct stat st;

	for (uint32_t i = 0; i < w->n_roots; i++) {
		struct watch_root *r = w->roots[i];
		if (r->lost) {
			if (stat(r->path, &st) == 0 && S_ISDIR(st.st_mode) &&
					watch_arm_root(w, r) == 0) {
				log_info("watched folder %s is back; rescanning it",
					log_path(r->path));
				w->cb.root_back(w->arg, r->id);
				w->cb.rescan(w->arg, r->id);
			}
		} else if (r->periodic && now >= r->next_scan_ns) {
			r->next_scan_ns = now + r->scan_interval_ms * 1000000ull;
			w->cb.rescan(w->arg, r->id);
		}
	}
	watch_update_ticker(w);
}

static void watch_update_ticker(struct watcher *w)
{
	bool need = false;

	for (uint32_t i = 0; i < w->n_roots; i++) {
		need = need || w->roots[i]->lost || w->roots[i]->periodic;
	}
	if (w->closing) {
		return;
	}
	if (need && !uv_is_active((uv_handle_t *)&w->tick_timer)) {
		uv_timer_start(&w->tick_timer, watch_tick_cb, WATCH_TICK_MS,
			WATCH_TICK_MS);
	} else if (!need) {
		uv_timer_stop(&w->tick_timer);
	}
}

/* ---- life --------------------------------------------------------------- */

int watch_create(uv_loop_t *loop, const struct watch_callbacks *cb, void *arg,
		uint64_t settle_ms, struct watcher **out)
{
	struct watcher *w = calloc(1, sizeof(*w));
	int e;

	if (!w) {
		return -ENOMEM;
	}
	w->loop = loop;
	w->cb = *cb;
	w->arg = arg;
	w->settle_ms = settle_ms;
	w->dirs = queue_map_create();
	w->pending = queue_map_create();
	w->buf = malloc(WATCH_BUF_SIZE);
	if (!w->dirs || !w->pending || !w->buf) {
		e = -ENOMEM;
		goto fail;
	}
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		e = -errno;
		goto fail;
	}
	if ((e = uv_poll_init(loop, &w->poll, w->fd)) < 0) {
		close(w->fd);
		goto fail;
	}
	w->poll.data = w;
	uv_timer_init(loop, &w->settle_timer);
	w->settle_timer.data = w;
	uv_timer_init(loop, &w->tick_timer);
	w->tick_timer.data = w;
	uv_poll_start(&w->poll, UV_READABLE, watch_poll_cb);
	*out = w;
	return 0;
fail:
	queue_map_destroy(w->dirs, NULL);
	queue_map_destroy(w->pending, NULL);
	free(w->buf);
	free(w);
	return e;
}

void watch_set_settle(struct watcher *w, uint64_t settle_ms)
{
	w->settle_ms = settle_ms;
}

void watch_pause(struct watcher *w)
{
	if (!w->paused) {
		w->paused = true;
		uv_poll_stop(&w->poll);
	}
}

void watch_resume(struct watcher *w)
{
	if (w->paused && !w->closing) {
		w->paused = false;
		uv_poll_start(&w->poll, UV_READABLE, watch_poll_cb);
	}
}

static void watch_handle_closed(uv_handle_t *h)
{
	struct watcher *w = h->data;

	if (--w->open_handles > 0) {
		return;
	}
	close(w->fd);
	queue_map_destroy(w->dirs, watch_dir_free);
	queue_map_destroy(w->pending, free);
	for (uint32_t i = 0; i < w->n_roots; i++) {
		free(w->roots[i]->path);
		free(w->roots[i]);
	}
	free(w->buf);
	void (*done)(void *) = w->done;
	void *arg = w->done_arg;
	free(w);
	if (done) {
		done(arg);
	}
}

void watch_close(struct watcher *w, void (*done)(void *), void *arg)
{
	w->closing = true;
	w->done = done;
	w->done_arg = arg;
	w->open_handles = 3;
	uv_close((uv_handle_t *)&w->poll, watch_handle_closed);
	uv_close((uv_handle_t *)&w->settle_timer, watch_handle_closed);
	uv_close((uv_handle_t *)&w->tick_timer, watch_handle_closed);
}
