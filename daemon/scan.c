#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomic.h"
#include "log.h"
#include "outpath.h"

/* Directory entries handled per loop turn, over all walks. */
#define SCAN_BUDGET 512

struct scan_dirq {
	struct scan_dirq *next;
	char rel[];
};

struct scan_walk {
	struct scan_walk *next;
	uint32_t root;
	enum scan_kind kind;
	bool recursive;
	int64_t cutoff_ns;
	char *top;
	int top_fd;               /* O_PATH fd of @top, -1 until opened */
	DIR *dir;                 /* the folder being read */
	char *dir_rel;
	struct scan_dirq *head;   /* folders still to read */
	struct scan_dirq *tail;
	uint64_t files;
	uint64_t removed;
};

struct scanner {
	uv_idle_t idle;
	struct scan_callbacks cb;
	void *arg;
	struct scan_walk *walks;
	uint32_t n_walks;
};

static void scan_walk_free(struct scan_walk *w)
{
	if (w->dir) {
		closedir(w->dir);
	}
	if (w->top_fd >= 0) {
		close(w->top_fd);
	}
	while (w->head) {
		struct scan_dirq *q = w->head;
		w->head = q->next;
		free(q);
	}
	free(w->dir_rel);
	free(w->top);
	free(w);
}

static int scan_push_dir(struct scan_walk *w, const char *rel)
{
	size_t n = strlen(rel);
	struct scan_dirq *q = malloc(sizeof(*q) + n + 1);
	if (!q) {
		return -ENOMEM;
	}
	q->next = NULL;
	memcpy(q->rel, rel, n + 1);
	if (w->tail) {
		w->tail->next = q;
	} else {
		w->head = q;
	}
	w->tail = q;
	return 0;
}

/* Open @rel below the walk's top without following any symlink on the
 * way (openat2 RESOLVE_NO_SYMLINKS where the kernel has it). */
static int scan_open_dir(struct scan_walk *w, const char *rel)
{
	if (w->top_fd < 0) {
		w->top_fd = open(w->top, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (w->top_fd < 0) {
			return -errno;
		}
	}
	if (!rel[0]) {
		int fd = openat(w->top_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH,
	};
	int fd = (int)syscall(SYS_openat2, w->top_fd, rel, &how, sizeof(how));
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		fd = openat(w->top_fd, rel,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd < 0 ? -errno : fd;
}

/* Open the next queued folder. Returns 1 if one is open, 0 if none left. */
static int scan_next_dir(struct scanner *s, struct scan_walk *w)
{
	while (w->head) {
		struct scan_dirq *q = w->head;
		w->head = q->next;
		if (!w->head) {
			w->tail = NULL;
		}
		if (w->kind == SCAN_INPUTS) {
			/* watch before reading: nothing created after the
			 * listing can slip through */
			s->cb.dir(s->arg, w->root, q->rel);
		}
		int fd = scan_open_dir(w, q->rel);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			int e = fd < 0 ? -fd : errno;
			if (fd >= 0) {
				close(fd);
			}
			if (e != ENOENT && e != ENOTDIR && e != ELOOP) {
				log_warning("cannot scan %s%s%s: %s", log_path(w->top),
					q->rel[0] ? "/" : "", log_path(q->rel),
					strerror(e));
			}
			free(q);
			continue;
		}
		free(w->dir_rel);
		w->dir_rel = strdup(q->rel);
		free(q);
		if (!w->dir_rel) {
			closedir(d);
			return 0;
		}
		w->dir = d;
		return 1;
	}
	return 0;
}

static void scan_entry(struct scanner *s, struct scan_walk *w,
		const struct dirent *de)
{
	char rel[PATH_MAX];
	struct stat st;
	const char *name = de->d_name;

	if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) {
		return;
	}
	int n = w->dir_rel[0] ? snprintf(rel, sizeof(rel), "%s/%s", w->dir_rel,
		name) : snprintf(rel, sizeof(rel), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(rel)) {
		return;
	}
	bool hidden = name[0] == '.';
	if (de->d_type == DT_DIR) {
		if (w->recursive && !(hidden && w->kind == SCAN_INPUTS)) {
			scan_push_dir(w, rel);
		}
		return;
	}
	if (de->d_type == DT_LNK && w->kind == SCAN_INPUTS && !hidden) {
		/* never followed: it could lead anywhere */
		log_debug("%s/%s is a symbolic link: skipped", log_path(w->top),
			log_path(rel));
		return;
	}
	if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN) {
		return;
	}
	if (w->kind == SCAN_TEMPS && !atomic_is_temp(name)) {
		return;
	}
	if (fstatat(dirfd(w->dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		if (w->recursive && !(hidden && w->kind == SCAN_INPUTS)) {
			scan_push_dir(w, rel);
		}
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		return;
	}
	if (w->kind == SCAN_TEMPS) {
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			st.st_mtim.tv_nsec;
		if (mt < w->cutoff_ns && unlinkat(dirfd(w->dir), name, 0) == 0) {
			w->removed++;
		}
		return;
	}
	w->files++;
	s->cb.file(s->arg, w->root, rel, &st);
}

/* Handle up to @budget entries of walk @w. Returns the entries used, or
 * -1 when the walk is complete. */
static int scan_step(struct scanner *s, struct scan_walk *w, int budget)
{
	int used = 0;

	while (used < budget) {
		if (!w->dir && !scan_next_dir(s, w)) {
			return -1;
		}
		errno = 0;
		struct dirent *de = readdir(w->dir);
		if (!de) {
			closedir(w->dir);
			w->dir = NULL;
			used++;
			continue;
		}
		scan_entry(s, w, de);
		used++;
	}
	return used;
}

static void scan_unlink(struct scanner *s, struct scan_walk *w)
{
	struct scan_walk **pp = &s->walks;
	while (*pp && *pp != w) {
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = w->next;
		s->n_walks--;
	}
}

static void scan_idle_cb(uv_idle_t *h)
{
	struct scanner *s = h->data;
	int budget = SCAN_BUDGET;

	while (budget > 0 && s->walks) {
		/* the oldest walk first: a start-up scan finishes before the
		 * many small walks of new folders it may cause */
		struct scan_walk *w = s->walks;
		int used = scan_step(s, w, budget);
		if (used >= 0) {
			budget -= used;
			continue;
		}
		scan_unlink(s, w);
		uint32_t root = w->root;
		enum scan_kind kind = w->kind;
		uint64_t files = w->files;
		if (kind == SCAN_TEMPS && w->removed > 0) {
			log_info("removed %llu stale temporary file%s from %s",
				(unsigned long long)w->removed,
				w->removed == 1 ? "" : "s", log_path(w->top));
		}
		scan_walk_free(w);
		/* done() may start or cancel walks: s->walks is re-read */
		s->cb.done(s->arg, root, kind, files);
		budget--;
	}
	if (!s->walks) {
		uv_idle_stop(&s->idle);
	}
}

int scan_create(uv_loop_t *loop, const struct scan_callbacks *cb, void *arg,
		struct scanner **out)
{
	struct scanner *s = calloc(1, sizeof(*s));
	if (!s) {
		return -ENOMEM;
	}
	s->cb = *cb;
	s->arg = arg;
	uv_idle_init(loop, &s->idle);
	s->idle.data = s;
	*out = s;
	return 0;
}

static void scan_closed(uv_handle_t *h)
{
	free(h->data);
}

void scan_close(struct scanner *s)
{
	while (s->walks) {
		struct scan_walk *w = s->walks;
		s->walks = w->next;
		scan_walk_free(w);
	}
	s->n_walks = 0;
	uv_close((uv_handle_t *)&s->idle, scan_closed);
}

int scan_start(struct scanner *s, uint32_t root, enum scan_kind kind,
		const char *top, const char *sub, bool recursive,
		int64_t cutoff_ns)
{
	struct scan_walk *w = calloc(1, sizeof(*w));

	if (!w) {
		return -ENOMEM;
	}
	w->root = root;
	w->kind = kind;
	w->recursive = recursive;
	w->cutoff_ns = cutoff_ns;
	w->top_fd = -1;
	if (!(w->top = strdup(top)) || scan_push_dir(w, sub) < 0) {
		scan_walk_free(w);
		return -ENOMEM;
	}
	/* append: walks run oldest first */
	struct scan_walk **pp = &s->walks;
	while (*pp) {
		pp = &(*pp)->next;
	}
	*pp = w;
	s->n_walks++;
	uv_idle_start(&s->idle, scan_idle_cb);
	return 0;
}

void scan_cancel(struct scanner *s, uint32_t root)
{
	struct scan_walk **pp = &s->walks;

	while (*pp) {
		struct scan_walk *w = *pp;
		if (w->root == root) {
			*pp = w->next;
			s->n_walks--;
			scan_walk_free(w);
		} else {
			pp = &w->next;
		}
	}
	if (!s->walks) {
		uv_idle_stop(&s->idle);
	}
}

uint32_t scan_active(const struct scanner *s)
{
	return s->n_walks;
}

bool scan_needs_work(const struct config_watch *w, const char *rel,
		const struct stat *st)
{
	char orel[PATH_MAX], path[PATH_MAX];
	struct stat ost;
	const uint32_t formats[] = { THUMB_FORMAT_JPEG, THUMB_FORMAT_WEBP };

	for (uint32_t i = 0; i < w->spec.n_sizes; i++) {
		for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
			if (!(w->spec.formats & formats[f])) {
				continue;
			}
			int n = outpath_rel(&w->spec, rel, i,
				(enum thumb_format)formats[f], orel, sizeof(orel));
			if (n < 0) {
				return true; /* the worker reports why */
			}
			n = snprintf(path, sizeof(path), "%s/%s", w->output, orel);
			if (n < 0 || (size_t)n >= sizeof(path) ||
					stat(path, &ost) < 0) {
				return true;
			}
			if (ost.st_mtim.tv_sec < st->st_mtim.tv_sec ||
					(ost.st_mtim.tv_sec == st->st_mtim.tv_sec &&
					 ost.st_mtim.tv_nsec < st->st_mtim.tv_nsec)) {
				return true;
			}
		}
	}
	return false;
}

/* True if @name is atomic.c's temp name for final name @base:
 * ATOMIC_TMP_PREFIX, @base (possibly cut short), '.', a random suffix. */
static bool scan_is_temp_of(const char *name, const char *base)
{
	size_t plen = sizeof(ATOMIC_TMP_PREFIX) - 1;

	if (strncmp(name, ATOMIC_TMP_PREFIX, plen) != 0) {
		return false;
	}
	const char *rest = name + plen;
	const char *dot = strrchr(rest, '.');
	if (!dot || dot == rest || dot[1] == '\0') {
		return false;
	}
	/* the final name may have been shortened to fit NAME_MAX */
	return strncmp(base, rest, (size_t)(dot - rest)) == 0;
}

unsigned scan_clean_job_temps(const struct config_watch *w, const char *rel)
{
	const uint32_t formats[] = { THUMB_FORMAT_JPEG, THUMB_FORMAT_WEBP };
	char orel[PATH_MAX], dir[PATH_MAX];
	unsigned removed = 0;

	for (uint32_t i = 0; i < w->spec.n_sizes; i++) {
		for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
			if (!(w->spec.formats & formats[f]) ||
					outpath_rel(&w->spec, rel, i,
						(enum thumb_format)formats[f], orel,
						sizeof(orel)) < 0) {
				continue;
			}
			char *slash = strrchr(orel, '/');
			const char *base = slash ? slash + 1 : orel;
			int n = slash ? snprintf(dir, sizeof(dir), "%s/%.*s", w->output,
				(int)(slash - orel), orel) :
				snprintf(dir, sizeof(dir), "%s", w->output);
			if (n < 0 || (size_t)n >= sizeof(dir)) {
				continue;
			}
			DIR *d = opendir(dir);
			if (!d) {
				continue;
			}
			struct dirent *de;
			while ((de = readdir(d))) {
				if (scan_is_temp_of(de->d_name, base) &&
						unlinkat(dirfd(d), de->d_name, 0) == 0) {
					removed++;
				}
			}
			closedir(d);
		}
	}
	return removed;
}
