#include "config.h"
#include "errtext.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "atomic.h"
#include "outpath.h"
#include "spec.h"

/*
 * One table drives everything a key needs: which section holds it, how its
 * value is parsed, where it is stored, and how config_dump() writes it back.
 * The dump writes keys in table order.
 */

#define CONFIG_LINE_MAX 8192        /* bytes per line, newline included */
#define CONFIG_WATCH_NAME_MAX 32    /* shows up in every log and stats line */
#define CONFIG_KEY_MAX 40           /* longer than any key we know */
#define CONFIG_GLOB_MAX 200         /* 32 of them still fit on one line */
#define CONFIG_MAX_WORKERS 1024
#define CONFIG_MAX_SIDE 16384

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)

enum key_kind {
	KEY_BOOL,
	KEY_WORKERS,
	KEY_UINT,
	KEY_PIXELS,
	KEY_SIZE,
	KEY_DURATION,
	KEY_ENUM,
	KEY_PATH,
	KEY_OPT_PATH,
	KEY_SIZES,
	KEY_FORMATS,
	KEY_TEMPLATE,
	KEY_GLOBS,
	KEY_ON_SUCCESS,
	KEY_ON_FAILURE,
};

struct key_def {
	const char *name;
	bool watch;            /* a [watch] key, else a [daemon] key */
	enum key_kind kind;
	size_t off;            /* field in struct config_watch or config_daemon */
	size_t size;           /* its size, for numbers of either width */
	size_t off2;           /* second field: a count or an action's folder */
	uint64_t lo, hi;       /* accepted range for numbers */
	bool zero_ok;          /* 0 is accepted below lo (it means off/unlimited) */
	const char *expect;    /* "expected ..." in messages */
	const char *const *names; /* KEY_ENUM: the name of each value 0..hi */
};

#define FIELD_SIZE(type, f) sizeof(((type *)0)->f)
#define DKEY(n, k, f, lo, hi, z, e) \
	{ n, false, k, offsetof(struct config_daemon, f), \
	  FIELD_SIZE(struct config_daemon, f), 0, lo, hi, z, e, NULL }
#define WKEY(n, k, f, f2, lo, hi, e) \
	{ n, true, k, offsetof(struct config_watch, f), \
	  FIELD_SIZE(struct config_watch, f), offsetof(struct config_watch, f2), \
	  lo, hi, false, e, NULL }
/* A key taking one of the names in @names (an array), stored as its index. */
#define DENUM(n, f, names, e) \
	{ n, false, KEY_ENUM, offsetof(struct config_daemon, f), \
	  FIELD_SIZE(struct config_daemon, f), 0, 0, \
	  sizeof(names) / sizeof((names)[0]) - 1, false, e, names }
#define WENUM(n, f, names, e) \
	{ n, true, KEY_ENUM, offsetof(struct config_watch, f), \
	  FIELD_SIZE(struct config_watch, f), offsetof(struct config_watch, f), \
	  0, sizeof(names) / sizeof((names)[0]) - 1, false, e, names }

static const char *const log_level_names[] = {
	[CONFIG_LOG_ERROR] = "error",
	[CONFIG_LOG_WARNING] = "warning",
	[CONFIG_LOG_INFO] = "info",
	[CONFIG_LOG_DEBUG] = "debug",
};

static const struct key_def config_keys[] = {
	DKEY("workers", KEY_WORKERS, workers, 1, CONFIG_MAX_WORKERS, true,
		"an integer 1-1024 or auto"),
	DKEY("cpu_affinity", KEY_BOOL, cpu_affinity, 0, 1, false,
		"yes or no"),
	DKEY("stats_interval", KEY_DURATION, stats_interval_ms, 1, UINT64_MAX,
		true, "a duration such as 10s or 500ms (ms, s, min, h), or 0 for off"),
	DENUM("log_level", log_level, log_level_names,
		"error, warning, info or debug"),
	DKEY("metrics_file", KEY_OPT_PATH, metrics_file, 0, 0, false,
		"a file path, or nothing for none"),
	DKEY("job_timeout", KEY_DURATION, job_timeout_ms, 1, UINT64_MAX, false,
		"a duration above 0 such as 30s or 1500ms (ms, s, min, h)"),
	DKEY("max_jobs_per_worker", KEY_UINT, max_jobs_per_worker, 0,
		UINT32_MAX, false,
		"an integer 0-4294967295 (0 = never recycle)"),
	DKEY("worker_memory", KEY_SIZE, worker_memory, 64 * MIB, UINT64_MAX,
		true, "a size of at least 64M such as 1G, or 0 for unlimited"),
	DKEY("max_pixels", KEY_PIXELS, max_pixels, 1, 1000000000000ull, false,
		"a pixel count 1-1000G such as 100M (K, M, G = 10^3, 10^6, 10^9)"),
	DKEY("max_file_size", KEY_SIZE, max_file_size, 1, UINT64_MAX, false,
		"a size above 0 such as 256M (K, M, G = 1024, 1024^2, 1024^3)"),
	DKEY("max_memory", KEY_SIZE, max_memory, MIB, UINT64_MAX, false,
		"a size of at least 1M such as 256M"),
	DKEY("max_scans", KEY_UINT, max_scans, 1, 100000, false,
		"an integer 1-100000"),
	DKEY("max_queue", KEY_UINT, max_queue, 1, 1000000000, false,
		"an integer 1-1000000000"),
	DKEY("settle_time", KEY_DURATION, settle_ms, 1, UINT64_MAX, true,
		"a duration such as 1s or 500ms (ms, s, min, h)"),
	/* no "off": folders that send no events have only this */
	DKEY("scan_interval", KEY_DURATION, scan_interval_ms, 1, UINT64_MAX,
		false, "a duration above 0 such as 60s or 5min (ms, s, min, h)"),

	WKEY("input", KEY_PATH, input, input, 0, 0,
		"a folder path"),
	WKEY("output", KEY_PATH, output, output, 0, 0,
		"a folder path"),
	WKEY("recursive", KEY_BOOL, recursive, recursive, 0, 1,
		"yes or no"),
	WKEY("sizes", KEY_SIZES, spec.sizes, spec.n_sizes, 1, CONFIG_MAX_SIDE,
		"up to 8 sizes such as 128, 256, 1024x768 (sides 1-16384)"),
	WKEY("format", KEY_FORMATS, spec.formats, spec.formats, 0, 0,
		"jpeg, webp, or both: jpeg, webp"),
	WKEY("quality", KEY_UINT, spec.quality, spec.quality, 1, 100,
		"an integer 1-100"),
	WENUM("fit", spec.fit, thumb_fit_names, "contain or cover"),
	WENUM("detail", spec.detail, thumb_detail_names, "fast, fine or auto"),
	WKEY("progressive", KEY_BOOL, spec.progressive, spec.progressive, 0, 1,
		"yes or no"),
	WKEY("lossless", KEY_BOOL, spec.webp_lossless, spec.webp_lossless, 0, 1,
		"yes or no"),
	WKEY("name", KEY_TEMPLATE, spec.name, spec.name, 0, 0,
		"a name template such as {stem}_{size}.{ext}"),
	WKEY("include", KEY_GLOBS, include, n_include, 0, 0,
		"up to 32 comma-separated patterns such as *.jpg, *.webp"),
	WKEY("exclude", KEY_GLOBS, exclude, n_exclude, 0, 0,
		"up to 32 comma-separated patterns such as *.raw, tmp/*"),
	WKEY("on_success", KEY_ON_SUCCESS, on_success, success_dir, 0, 0,
		"keep, delete or move FOLDER"),
	WKEY("on_failure", KEY_ON_FAILURE, on_failure, failure_dir, 0, 0,
		"keep or move FOLDER"),
	WKEY("durable", KEY_BOOL, spec.durable, spec.durable, 0, 1,
		"yes or no"),
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Where a key's value came from, for cross-check messages and CLI priority. */
struct key_origin {
	char *where;           /* "FILE:LINE: [watch x] key" or "--option"; NULL if unset */
	bool cli;              /* set by config_set: a file parsed later keeps it */
};

/* The public structs sit first in private ones the callers never see. */
struct config_impl {
	struct config pub;
	struct key_origin origin[N_KEYS];    /* [daemon] keys */
};

struct watch_impl {
	struct config_watch pub;
	char *where;                         /* "FILE:LINE" of the header */
	unsigned line;                       /* that LINE, 0 if not from a file */
	struct key_origin origin[N_KEYS];
};

static struct config_impl *config_impl_of(const struct config *cfg)
{
	return (struct config_impl *)((char *)cfg - offsetof(struct config_impl, pub));
}

static struct watch_impl *watch_impl_of(const struct config_watch *w)
{
	return (struct watch_impl *)((char *)w - offsetof(struct watch_impl, pub));
}

/* A value parsed but not stored yet, so that a bad one changes nothing. */
struct key_value {
	uint64_t num;
	char *str;
	struct thumb_size sizes[THUMB_MAX_SIZES];
	uint32_t n_sizes;
	char *globs[CONFIG_MAX_GLOBS];
	uint32_t n_globs;
	char why[96];          /* what exactly is wrong, for the message */
};

struct unit {
	const char *name;
	uint64_t factor;
};

/* Accepted spellings; matched without regard to case. */
static const struct unit size_units[] = {
	{ "", 1 }, { "B", 1 },
	{ "K", KIB }, { "KiB", KIB }, { "M", MIB }, { "MiB", MIB },
	{ "G", GIB }, { "GiB", GIB }, { "T", TIB }, { "TiB", TIB },
	{ NULL, 0 },
};
static const struct unit plain_units[] = {
	{ "", 1 }, { NULL, 0 },
};
static const struct unit pixel_units[] = {
	{ "", 1 }, { "K", 1000 }, { "M", 1000000 }, { "G", 1000000000 },
	{ NULL, 0 },
};
/*
 * Durations are kept in milliseconds; a plain number means seconds. "m" is
 * minutes, as in systemd: there is no month here to confuse it with.
 */
static const struct unit duration_units[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "min", 60000 },
	{ "m", 60000 }, { "h", 3600000 },
	{ NULL, 0 },
};

/* Canonical spellings for the dump, largest first. */
static const struct unit size_dump_units[] = {
	{ "T", TIB }, { "G", GIB }, { "M", MIB }, { "K", KIB }, { NULL, 0 },
};
static const struct unit pixel_dump_units[] = {
	{ "G", 1000000000 }, { "M", 1000000 }, { "K", 1000 }, { NULL, 0 },
};
static const struct unit duration_dump_units[] = {
	{ "h", 3600000 }, { "min", 60000 }, { "s", 1000 }, { "ms", 1 },
	{ NULL, 0 },
};


/* Names that uploaders and editors give to files still being written. */
static const char *const partial_suffixes[] = {
	".part", ".partial", ".crdownload", ".tmp", ".temp", ".swp", ".filepart",
	"~",
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim spaces and tabs at both ends of [*s, *s + *len). */
static void trim_span(const char **s, size_t *len)
{
	while (*len > 0 && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*s)[*len - 1])) {
		(*len)--;
	}
}

static const struct key_def *key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0) {
			return &config_keys[i];
		}
	}
	return NULL;
}

static size_t key_index(const struct key_def *def)
{
	return (size_t)(def - config_keys);
}

/* ---- numbers ----------------------------------------------------------- */

/* Decimal digits only: no sign, no base prefix, no fraction. */
static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s)) {
		return -EINVAL;
	}
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10) {
			return -ERANGE;
		}
		v = v * 10 + d;
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

/* A number with an optional unit from @units (blanks may separate them). */
static int parse_scaled(const char *s, const struct unit *units, uint64_t *out)
{
	uint64_t v;
	int r = parse_digits(&s, &v);

	if (r < 0) {
		return r;
	}
	while (is_blank(*s)) {
		s++;
	}
	for (const struct unit *u = units; u->name; u++) {
		if (strcasecmp(s, u->name) != 0) {
			continue;
		}
		if (v > UINT64_MAX / u->factor) {
			return -ERANGE;
		}
		*out = v * u->factor;
		return 0;
	}
	return -EINVAL;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* The largest unit that divides @v exactly, "0" for zero, else plain. */
static void format_scaled(char *buf, size_t cap, uint64_t v,
		const struct unit *units)
{
	if (v != 0) {
		for (const struct unit *u = units; u->name; u++) {
			if (v % u->factor == 0) {
				snprintf(buf, cap, "%llu%s",
					(unsigned long long)(v / u->factor), u->name);
				return;
			}
		}
	}
	snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* ---- paths ------------------------------------------------------------- */

/*
 * @path joined to @base when relative, then cleaned without touching the
 * disk: no "//", no ".", no trailing '/', and ".." drops the component
 * before it. Comparisons that must see through symlinks use
 * path_canonical() instead.
 */
static int path_resolve(const char *base, const char *path, char **out)
{
	char buf[PATH_MAX];
	size_t len = 0;
	const char *parts[2] = { path[0] == '/' ? "" : base, path };

	for (int i = 0; i < 2; i++) {
		const char *p = parts[i];
		while (*p) {
			const char *end;
			size_t n;
			while (*p == '/') {
				p++;
			}
			end = strchrnul(p, '/');
			n = (size_t)(end - p);
			if (n == 0 || (n == 1 && p[0] == '.')) {
				p = end;
				continue;
			}
			if (n == 2 && p[0] == '.' && p[1] == '.') {
				while (len > 0 && buf[len - 1] != '/') {
					len--;
				}
				if (len > 0) {
					len--;
				}
				p = end;
				continue;
			}
			if (len + 1 + n + 1 > sizeof(buf)) {
				return -ENAMETOOLONG;
			}
			buf[len++] = '/';
			memcpy(buf + len, p, n);
			len += n;
			p = end;
		}
	}
	if (len == 0) {
		buf[len++] = '/';
	}
	buf[len] = '\0';
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

/*
 * The real path of absolute, clean @path: the longest part that exists is
 * resolved through symlinks and the rest appended, so that two spellings
 * of one folder compare equal even before the folder is created.
 */
static char *path_canonical(const char *path)
{
	char head[PATH_MAX];
	char real[PATH_MAX];
	size_t cut = strlen(path);
	char *out;

	if (cut >= sizeof(head)) {
		return NULL;
	}
	memcpy(head, path, cut + 1);
	for (;;) {
		if (realpath(head, real)) {
			break;
		}
		if (errno == ENOMEM) {
			return NULL;
		}
		char *slash = strrchr(head, '/');
		if (!slash || slash == head) {
			memcpy(real, "/", 2);
			cut = 0;
			break;
		}
		*slash = '\0';
		cut = (size_t)(slash - head);
	}
	const char *rest = path + cut;
	if (strcmp(real, "/") == 0 && *rest == '/') {
		real[0] = '\0';
	}
	size_t a = strlen(real), b = strlen(rest);
	out = malloc(a + b + 2);
	if (!out) {
		return NULL;
	}
	memcpy(out, real, a);
	memcpy(out + a, rest, b + 1);
	if (out[0] == '\0') {
		memcpy(out, "/", 2);
	}
	return out;
}

/* True if @a is @b or lies below it (both canonical). */
static bool path_inside(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strcmp(b, "/") == 0) {
		return true;
	}
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static int path_parse(const char *s, const char *base, char **out)
{
	if (*s == '~') {
		/* a shell would have expanded "~": we cannot, so refuse it */
		return -EDOM;
	}
	if (*s == '\0') {
		return -EINVAL;
	}
	return path_resolve(base, s, out);
}

/* ---- lists ------------------------------------------------------------- */

/*
 * Split @s at commas, trimming each item. Calls @item for each; an empty
 * item is an error (a stray comma is more likely a typo than a wish).
 */
static int list_each(const char *s, int (*item)(const char *p, size_t n,
		void *arg), void *arg)
{
	if (*s == '\0') {
		return 0;
	}
	for (;;) {
		const char *end = strchrnul(s, ',');
		const char *p = s;
		size_t n = (size_t)(end - s);
		int r;
		trim_span(&p, &n);
		if (n == 0) {
			return -ENODATA;
		}
		r = item(p, n, arg);
		if (r < 0) {
			return r;
		}
		if (*end == '\0') {
			return 0;
		}
		s = end + 1;
	}
}

static int size_item(const char *p, size_t n, void *arg)
{
	struct key_value *v = arg;
	char buf[32];
	const char *s = buf;
	uint64_t w, h;

	if (v->n_sizes >= THUMB_MAX_SIZES) {
		snprintf(v->why, sizeof(v->why), "more than %d sizes",
			THUMB_MAX_SIZES);
		return -EINVAL;
	}
	if (n >= sizeof(buf)) {
		snprintf(v->why, sizeof(v->why), "\"%.20s...\" is not a size", p);
		return -EINVAL;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	int r = parse_digits(&s, &w);
	h = w;
	if (r == 0 && (*s == 'x' || *s == 'X')) {
		s++;
		r = parse_digits(&s, &h);
	}
	if (r < 0 || *s != '\0') {
		snprintf(v->why, sizeof(v->why), "\"%s\" is not a size", buf);
		return -EINVAL;
	}
	if (w < 1 || w > CONFIG_MAX_SIDE || h < 1 || h > CONFIG_MAX_SIDE) {
		snprintf(v->why, sizeof(v->why), "%s is out of range", buf);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < v->n_sizes; i++) {
		if (v->sizes[i].width == w && v->sizes[i].height == h) {
			snprintf(v->why, sizeof(v->why), "%s is listed twice", buf);
			return -EINVAL;
		}
	}
	v->sizes[v->n_sizes].width = (uint32_t)w;
	v->sizes[v->n_sizes].height = (uint32_t)h;
	v->n_sizes++;
	return 0;
}

static int format_item(const char *p, size_t n, void *arg)
{
	struct key_value *v = arg;
	uint64_t bit;

	if (n == 4 && strncasecmp(p, "jpeg", 4) == 0) {
		bit = THUMB_FORMAT_JPEG;
	} else if (n == 3 && strncasecmp(p, "jpg", 3) == 0) {
		bit = THUMB_FORMAT_JPEG;
	} else if (n == 4 && strncasecmp(p, "webp", 4) == 0) {
		bit = THUMB_FORMAT_WEBP;
	} else {
		snprintf(v->why, sizeof(v->why), "\"%.*s\" is not a format",
			(int)(n > 20 ? 20 : n), p);
		return -EINVAL;
	}
	if (v->num & bit) {
		snprintf(v->why, sizeof(v->why), "%s is listed twice",
			bit == THUMB_FORMAT_JPEG ? "jpeg" : "webp");
		return -EINVAL;
	}
	v->num |= bit;
	return 0;
}

static int glob_item(const char *p, size_t n, void *arg)
{
	struct key_value *v = arg;

	if (v->n_globs >= CONFIG_MAX_GLOBS) {
		snprintf(v->why, sizeof(v->why), "more than %d patterns",
			CONFIG_MAX_GLOBS);
		return -EINVAL;
	}
	if (n > CONFIG_GLOB_MAX) {
		snprintf(v->why, sizeof(v->why), "a pattern longer than %d bytes",
			CONFIG_GLOB_MAX);
		return -EINVAL;
	}
	v->globs[v->n_globs] = strndup(p, n);
	if (!v->globs[v->n_globs]) {
		return -ENOMEM;
	}
	v->n_globs++;
	return 0;
}

/* ---- one key ----------------------------------------------------------- */

static void key_value_free(struct key_value *v)
{
	free(v->str);
	for (uint32_t i = 0; i < v->n_globs; i++) {
		free(v->globs[i]);
	}
	memset(v, 0, sizeof(*v));
}

/* "keep", "delete" (when @allow_delete) or "move FOLDER". */
static int parse_action(const char *s, bool allow_delete, const char *base,
		struct key_value *v)
{
	if (strcasecmp(s, "keep") == 0) {
		v->num = CONFIG_ACTION_KEEP;
		return 0;
	}
	if (allow_delete && strcasecmp(s, "delete") == 0) {
		v->num = CONFIG_ACTION_DELETE;
		return 0;
	}
	if (strncasecmp(s, "move", 4) == 0 && is_blank(s[4])) {
		const char *dir = s + 4;
		while (is_blank(*dir)) {
			dir++;
		}
		v->num = CONFIG_ACTION_MOVE;
		return path_parse(dir, base, &v->str);
	}
	if (strcasecmp(s, "move") == 0) {
		snprintf(v->why, sizeof(v->why), "move needs a folder");
	}
	return -EINVAL;
}

static bool in_range(const struct key_def *def, uint64_t n)
{
	return (n >= def->lo && n <= def->hi) || (def->zero_ok && n == 0);
}

/*
 * Parse @s for @def into @v. Relative paths resolve against @base. Returns
 * 0, -EINVAL with a message naming @prefix, or -ENOMEM.
 */
static int key_parse(const struct key_def *def, const char *s,
		const char *base, const char *prefix, struct key_value *v,
		char *err, size_t errlen)
{
	const char *why = NULL;
	bool b = false;
	int r = 0;

	switch (def->kind) {
	case KEY_BOOL:
		r = parse_bool(s, &b) ? 0 : -EINVAL;
		v->num = b;
		break;
	case KEY_WORKERS:
		if (strcasecmp(s, "auto") == 0) {
			v->num = 0;
			break;
		}
		r = parse_scaled(s, plain_units, &v->num);
		if (r == 0 && (v->num < def->lo || v->num > def->hi)) {
			r = -EINVAL;
		}
		break;
	case KEY_UINT:
	case KEY_PIXELS:
	case KEY_SIZE:
	case KEY_DURATION:
		r = parse_scaled(s, def->kind == KEY_PIXELS ? pixel_units :
			def->kind == KEY_SIZE ? size_units :
			def->kind == KEY_DURATION ? duration_units :
			plain_units, &v->num);
		if (r == 0 && !in_range(def, v->num)) {
			r = -EINVAL;
		}
		break;
	case KEY_ENUM: {
		int i = spec_name_index(def->names, (uint32_t)def->hi + 1, s,
			true);
		r = i < 0 ? -EINVAL : 0;
		v->num = i < 0 ? 0 : (uint64_t)i;
		break;
	}
	case KEY_PATH:
		r = path_parse(s, base, &v->str);
		break;
	case KEY_OPT_PATH:
		r = *s ? path_parse(s, base, &v->str) : 0;
		break;
	case KEY_SIZES:
		r = list_each(s, size_item, v);
		if (r == 0 && v->n_sizes == 0) {
			r = -EINVAL;
		}
		break;
	case KEY_FORMATS:
		r = list_each(s, format_item, v);
		if (r == 0 && v->num == 0) {
			r = -EINVAL;
		}
		break;
	case KEY_TEMPLATE:
		if (strlen(s) >= THUMB_NAME_MAX) {
			why = "at most 127 bytes";
			r = -EINVAL;
		} else if (outpath_check_template(s, &why) < 0) {
			r = -EINVAL;
		} else {
			v->str = strdup(s);
			r = v->str ? 0 : -ENOMEM;
		}
		break;
	case KEY_GLOBS:
		r = list_each(s, glob_item, v);
		break;
	case KEY_ON_SUCCESS:
	case KEY_ON_FAILURE:
		r = parse_action(s, def->kind == KEY_ON_SUCCESS, base, v);
		break;
	}
	if (r == -ENODATA) {
		why = "an empty item between commas";
	} else if (r == -EDOM) {
		why = "~ is not expanded";
	} else if (r == -ERANGE) {
		why = "too large";
	} else if (r == -ENAMETOOLONG) {
		why = "longer than PATH_MAX";
	} else if (r < 0 && !why && v->why[0]) {
		why = v->why;
	}
	if (r == -ENOMEM) {
		errtext_set(err, errlen, "%s: out of memory", prefix);
	} else if (r < 0 && why) {
		errtext_set(err, errlen, "%s: expected %s, got \"%s\": %s", prefix,
			def->expect, s, why);
		r = -EINVAL;
	} else if (r < 0) {
		errtext_set(err, errlen, "%s: expected %s, got \"%s\"", prefix,
			def->expect, s);
		r = -EINVAL;
	}
	if (r < 0) {
		key_value_free(v);
	}
	return r;
}

static void store_uint(void *field, size_t size, uint64_t n)
{
	if (size == sizeof(uint32_t)) {
		*(uint32_t *)field = (uint32_t)n;
	} else {
		*(uint64_t *)field = n;
	}
}

static uint64_t load_uint(const void *field, size_t size)
{
	if (size == sizeof(uint32_t)) {
		return *(const uint32_t *)field;
	}
	return *(const uint64_t *)field;
}

static void swap_str(char **field, char **str)
{
	char *old = *field;
	*field = *str;
	*str = old;
}

/* Move @v into the struct at @base (a config_daemon or config_watch). */
static void key_store(const struct key_def *def, void *base,
		struct key_value *v)
{
	char *field = (char *)base + def->off;
	char *field2 = (char *)base + def->off2;

	switch (def->kind) {
	case KEY_BOOL:
		*(bool *)field = v->num != 0;
		break;
	case KEY_PATH:
	case KEY_OPT_PATH:
		swap_str((char **)field, &v->str);
		break;
	case KEY_TEMPLATE:
		memcpy(field, v->str, strlen(v->str) + 1);
		break;
	case KEY_SIZES:
		memcpy(field, v->sizes, sizeof(v->sizes));
		*(uint32_t *)field2 = v->n_sizes;
		break;
	case KEY_GLOBS: {
		char **globs = (char **)field;
		uint32_t *n = (uint32_t *)field2;
		for (uint32_t i = 0; i < *n; i++) {
			free(globs[i]);
			globs[i] = NULL;
		}
		memcpy(globs, v->globs, v->n_globs * sizeof(char *));
		*n = v->n_globs;
		v->n_globs = 0;
		break;
	}
	case KEY_ON_SUCCESS:
	case KEY_ON_FAILURE:
		*(uint32_t *)field = (uint32_t)v->num;
		swap_str((char **)field2, &v->str);
		break;
	default:
		store_uint(field, def->size, v->num);
		break;
	}
	key_value_free(v);
}

static int origin_set(struct key_origin *o, const char *where, bool cli)
{
	char *copy = strdup(where);

	if (!copy) {
		return -ENOMEM;
	}
	free(o->where);
	o->where = copy;
	o->cli = cli;
	return 0;
}

/*
 * Parse and store one value: nothing changes unless it is valid. @prefix
 * starts messages, @where is kept for later cross-check messages.
 */
static int config_set_def(struct config *cfg, struct config_watch *w,
		const struct key_def *def, const char *value, const char *base,
		const char *prefix, const char *where, bool cli, char *err,
		size_t errlen)
{
	struct key_value v = { 0 };
	struct key_origin *o;
	int r;

	r = key_parse(def, value, base, prefix, &v, err, errlen);
	if (r < 0) {
		return r;
	}
	o = w ? &watch_impl_of(w)->origin[key_index(def)]
		: &config_impl_of(cfg)->origin[key_index(def)];
	r = origin_set(o, where, cli);
	if (r < 0) {
		key_value_free(&v);
		errtext_set(err, errlen, "%s: out of memory", prefix);
		return r;
	}
	key_store(def, w ? (void *)w : (void *)&cfg->daemon, &v);
	return 0;
}

/* ---- create, destroy --------------------------------------------------- */

struct config *config_create(void)
{
	struct config_impl *impl = calloc(1, sizeof(*impl));
	struct config_daemon *d;

	if (!impl) {
		return NULL;
	}
	d = &impl->pub.daemon;
	d->workers = 0;
	d->cpu_affinity = true;
	d->stats_interval_ms = 10000;
	d->log_level = CONFIG_LOG_INFO;
	d->metrics_file = NULL;
	d->job_timeout_ms = 30000;
	d->max_jobs_per_worker = 10000;
	d->worker_memory = GIB;
	d->max_pixels = THUMB_DEFAULT_MAX_PIXELS;
	d->max_file_size = THUMB_DEFAULT_MAX_FILE_SIZE;
	d->max_memory = THUMB_DEFAULT_MAX_MEMORY;
	d->max_scans = THUMB_DEFAULT_MAX_SCANS;
	d->max_queue = 1000000;
	d->settle_ms = 1000;
	d->scan_interval_ms = 60000;
	return &impl->pub;
}

static void watch_destroy(struct config_watch *w)
{
	struct watch_impl *impl;

	if (!w) {
		return;
	}
	impl = watch_impl_of(w);
	free(w->name);
	free(w->input);
	free(w->output);
	for (uint32_t i = 0; i < w->n_include; i++) {
		free(w->include[i]);
	}
	for (uint32_t i = 0; i < w->n_exclude; i++) {
		free(w->exclude[i]);
	}
	free(w->success_dir);
	free(w->failure_dir);
	free(impl->where);
	for (size_t i = 0; i < N_KEYS; i++) {
		free(impl->origin[i].where);
	}
	free(impl);
}

void config_destroy(struct config *cfg)
{
	struct config_impl *impl;

	if (!cfg) {
		return;
	}
	impl = config_impl_of(cfg);
	for (uint32_t i = 0; i < cfg->n_watches; i++) {
		watch_destroy(cfg->watches[i]);
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		free(impl->origin[i].where);
	}
	free(cfg->daemon.metrics_file);
	free(cfg->path);
	free(impl);
}

struct config_watch *config_add_watch(struct config *cfg, const char *name)
{
	struct watch_impl *impl;
	struct config_watch *w;

	if (cfg->n_watches >= CONFIG_MAX_WATCHES) {
		errno = ENOSPC;
		return NULL;
	}
	impl = calloc(1, sizeof(*impl));
	if (!impl) {
		return NULL;
	}
	w = &impl->pub;
	w->name = strdup(name);
	if (!w->name) {
		free(impl);
		return NULL;
	}
	w->recursive = true;
	spec_init_default(&w->spec);
	w->on_success = CONFIG_ACTION_KEEP;
	w->on_failure = CONFIG_ACTION_KEEP;
	cfg->watches[cfg->n_watches++] = w;
	return w;
}

static struct config_watch *config_find_watch(const struct config *cfg,
		const char *name)
{
	for (uint32_t i = 0; i < cfg->n_watches; i++) {
		if (strcmp(cfg->watches[i]->name, name) == 0) {
			return cfg->watches[i];
		}
	}
	return NULL;
}

/* ---- config_set -------------------------------------------------------- */

static void format_section(char *buf, size_t cap, const struct config_watch *w)
{
	if (w) {
		snprintf(buf, cap, "[watch %s]", w->name);
	} else {
		snprintf(buf, cap, "[daemon]");
	}
}

int config_set(struct config *cfg, struct config_watch *w, const char *key,
		const char *value, const char *origin, char *err, size_t errlen)
{
	const struct key_def *def = key_find(key);
	char cwd[PATH_MAX];
	char section[CONFIG_WATCH_NAME_MAX + 64];

	if (!def || def->watch != (w != NULL)) {
		format_section(section, sizeof(section), w);
		errtext_set(err, errlen, "%s: unknown key \"%s\" in %s", origin, key,
			section);
		return -EINVAL;
	}
	/* command-line paths are relative to where the command was typed */
	if (!getcwd(cwd, sizeof(cwd))) {
		errtext_set(err, errlen, "%s: cannot find the current folder: %s",
			origin, strerror(errno));
		return -EINVAL;
	}
	return config_set_def(cfg, w, def, value, cwd, origin, origin, true, err,
		errlen);
}

/* ---- the file ---------------------------------------------------------- */

enum parse_section {
	SECTION_NONE = 0,
	SECTION_DAEMON,
	SECTION_WATCH,
};

struct parse_ctx {
	struct config *cfg;        /* the caller's: read only until the end */
	struct config *tmp;        /* gets the file's values, merged on success */
	const char *path;          /* as given, for messages */
	char *dir;                 /* the file's folder, absolute */
	FILE *f;
	char *line;
	size_t cap;
	unsigned lineno;
	const char *value;         /* the current key's value, in @line */
	enum parse_section section;
	struct config_watch *watch;   /* the current [watch], in @tmp */
	unsigned watch_line;
	unsigned daemon_line;      /* line of [daemon], 0 before it */
	unsigned key_line[N_KEYS]; /* where each key was set in this section */
	int error;
	char *err;
	size_t errlen;
};

static void parse_err(struct parse_ctx *ctx, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void parse_err(struct parse_ctx *ctx, int error, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (ctx->error) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->error = error;
	errtext_set(ctx->err, ctx->errlen, "%s:%u: %s", ctx->path, ctx->lineno,
		msg);
}

/* A [watch] must say where to read and where to write. */
static void parse_end_section(struct parse_ctx *ctx)
{
	struct config_watch *w = ctx->watch;
	const char *missing = NULL;

	if (ctx->section != SECTION_WATCH || ctx->error) {
		return;
	}
	if (!w->input) {
		missing = "input";
	} else if (!w->output) {
		missing = "output";
	}
	if (missing) {
		ctx->error = -EINVAL;
		errtext_set(ctx->err, ctx->errlen,
			"%s:%u: [watch %s]: missing %s = FOLDER (every [watch] needs input and output)",
			ctx->path, ctx->watch_line, w->name, missing);
	}
}

static bool watch_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > CONFIG_WATCH_NAME_MAX) {
		return false;
	}
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789_.-") == n;
}

static void parse_watch_header(struct parse_ctx *ctx, const char *name)
{
	struct config_watch *w;
	char where[PATH_MAX + 32];

	if (!watch_name_ok(name)) {
		parse_err(ctx, -EINVAL,
			"expected [watch NAME] with a NAME of 1-32 letters, digits, '_', '.' or '-', got \"%s\"",
			name);
		return;
	}
	w = config_find_watch(ctx->tmp, name);
	if (w) {
		parse_err(ctx, -EINVAL, "duplicate [watch %s] (first on line %u)",
			name, watch_impl_of(w)->line);
		return;
	}
	if (config_find_watch(ctx->cfg, name)) {
		parse_err(ctx, -EINVAL,
			"duplicate [watch %s] (already given on the command line)",
			name);
		return;
	}
	if (ctx->cfg->n_watches + ctx->tmp->n_watches >= CONFIG_MAX_WATCHES) {
		parse_err(ctx, -EINVAL, "[watch %s]: too many watches (at most %d)",
			name, CONFIG_MAX_WATCHES);
		return;
	}
	w = config_add_watch(ctx->tmp, name);
	snprintf(where, sizeof(where), "%s:%u", ctx->path, ctx->lineno);
	if (!w || !(watch_impl_of(w)->where = strdup(where))) {
		parse_err(ctx, -ENOMEM, "out of memory");
		return;
	}
	watch_impl_of(w)->line = ctx->lineno;
	ctx->section = SECTION_WATCH;
	ctx->watch = w;
	ctx->watch_line = ctx->lineno;
}

/* [@s]: the text between the brackets, trimmed. */
static void parse_section_header(struct parse_ctx *ctx, const char *s)
{
	parse_end_section(ctx);
	if (ctx->error) {
		return;
	}
	memset(ctx->key_line, 0, sizeof(ctx->key_line));
	ctx->watch = NULL;
	ctx->section = SECTION_NONE;
	if (strcmp(s, "daemon") == 0) {
		if (ctx->daemon_line) {
			parse_err(ctx, -EINVAL, "duplicate [daemon] (first on line %u)",
				ctx->daemon_line);
			return;
		}
		ctx->daemon_line = ctx->lineno;
		ctx->section = SECTION_DAEMON;
	} else if (strncmp(s, "watch", 5) == 0 && (s[5] == '\0' || is_blank(s[5]))) {
		const char *name = s + 5;
		while (is_blank(*name)) {
			name++;
		}
		parse_watch_header(ctx, name);
	} else {
		parse_err(ctx, -EINVAL,
			"unknown section [%s]; expected [daemon] or [watch NAME]", s);
	}
}

/* Where an inline comment starts: ';' or '#' after a blank. */
static size_t find_comment(const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((*p == ';' || *p == '#') && (p == s || is_blank(p[-1]))) {
			return (size_t)(p - s);
		}
	}
	return strlen(s);
}

/*
 * One physical line, @s without its newline. Writes what inih should see
 * into @buf: a blank line, "[daemon]", "[watch NAME]" or "KEY=".
 */
static void parse_lex(struct parse_ctx *ctx, char *s, char *buf, size_t cap)
{
	char *end;

	buf[0] = '\0';
	while (is_blank(*s)) {
		s++;
	}
	end = s + find_comment(s);
	while (end > s && is_blank(end[-1])) {
		end--;
	}
	*end = '\0';
	if (*s == '\0') {
		return;
	}
	if (*s == '[') {
		char *close = strchr(s, ']');
		const char *name = s + 1;
		size_t n;
		if (!close || close[1] != '\0') {
			parse_err(ctx, -EINVAL,
				"expected a section header such as [watch NAME], got \"%s\"", s);
			return;
		}
		n = (size_t)(close - name);
		trim_span(&name, &n);
		s[name - s + (ptrdiff_t)n] = '\0';
		parse_section_header(ctx, name);
		if (ctx->section == SECTION_DAEMON) {
			snprintf(buf, cap, "[daemon]\n");
		} else if (ctx->section == SECTION_WATCH) {
			snprintf(buf, cap, "[watch %s]\n", ctx->watch->name);
		}
		return;
	}
	size_t klen = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789_.-");
	char *eq = s + klen;
	while (is_blank(*eq)) {
		eq++;
	}
	if (klen == 0 || *eq != '=') {
		parse_err(ctx, -EINVAL,
			"expected \"key = value\", a [section] header or a comment, got \"%s\"",
			s);
		return;
	}
	if (klen > CONFIG_KEY_MAX) {
		parse_err(ctx, -EINVAL, "unknown key \"%.*s\"", (int)klen, s);
		return;
	}
	s[klen] = '\0';
	ctx->value = eq + 1;
	while (is_blank(*ctx->value)) {
		ctx->value++;
	}
	snprintf(buf, cap, "%s=\n", s);
}

/*
 * inih's reader hook. Debian builds inih with a 200-byte line buffer (a
 * longer line is cut and its tail parsed as a line of its own), without
 * line numbers in the handler, with Python-style continuation lines and
 * with only ';' for inline comments; those are compile-time choices shared
 * by the whole process. So each physical line is read and checked here,
 * where the line number is known, and inih is handed a short normalised
 * line; the handler takes the whole value from @ctx.
 */
static char *parse_read_line(char *buf, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	ssize_t n;
	char *s;

	if (ctx->error) {
		return NULL;
	}
	errno = 0;
	n = getline(&ctx->line, &ctx->cap, ctx->f);
	if (n < 0) {
		if (ferror(ctx->f)) {
			int e = errno ? errno : EIO;
			ctx->error = -e;
			errtext_set(ctx->err, ctx->errlen, "%s: cannot read: %s",
				ctx->path, strerror(e));
		}
		return NULL;
	}
	ctx->lineno++;
	s = ctx->line;
	if ((size_t)n > CONFIG_LINE_MAX) {
		parse_err(ctx, -EINVAL, "line longer than %d bytes", CONFIG_LINE_MAX);
		return NULL;
	}
	if (memchr(s, '\0', (size_t)n)) {
		parse_err(ctx, -EINVAL, "line holds a NUL byte");
		return NULL;
	}
	if (n > 0 && s[n - 1] == '\n') {
		s[--n] = '\0';
	}
	if (n > 0 && s[n - 1] == '\r') {
		s[--n] = '\0';
	}
	if (ctx->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
	}
	ctx->value = NULL;
	parse_lex(ctx, s, buf, (size_t)num);
	return ctx->error ? NULL : buf;
}

static int parse_handle(void *user, const char *section, const char *name,
		const char *value)
{
	struct parse_ctx *ctx = user;
	const struct key_def *def = key_find(name);
	struct config_watch *w = ctx->watch;
	char sect[CONFIG_WATCH_NAME_MAX + 64];
	char prefix[PATH_MAX + 96];
	char where[PATH_MAX + 160];
	size_t i;

	(void)section;
	(void)value;  /* inih saw only "KEY=": the value is in ctx->value */
	if (ctx->error) {
		return 0;
	}
	if (ctx->section == SECTION_NONE) {
		parse_err(ctx, -EINVAL,
			"%s: key outside any section; expected [daemon] or [watch NAME] first",
			name);
		return 0;
	}
	format_section(sect, sizeof(sect), w);
	if (!def || def->watch != (w != NULL)) {
		parse_err(ctx, -EINVAL, "unknown key \"%s\" in %s", name, sect);
		return 0;
	}
	i = key_index(def);
	if (ctx->key_line[i]) {
		parse_err(ctx, -EINVAL, "duplicate key \"%s\" in %s (first on line %u)",
			name, sect, ctx->key_line[i]);
		return 0;
	}
	ctx->key_line[i] = ctx->lineno;
	snprintf(prefix, sizeof(prefix), "%s:%u: %s", ctx->path, ctx->lineno,
		name);
	snprintf(where, sizeof(where), "%s:%u: %s %s", ctx->path, ctx->lineno,
		sect, name);
	ctx->error = config_set_def(ctx->tmp, w, def, ctx->value, ctx->dir, prefix,
		where, false, ctx->err, ctx->errlen);
	return ctx->error == 0;
}

/* Swap the [daemon] values the file set into @dst, except command-line ones. */
static void config_merge(struct config *dst, struct config *src)
{
	struct config_impl *d = config_impl_of(dst);
	struct config_impl *s = config_impl_of(src);

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_def *def = &config_keys[i];
		unsigned char tmp[sizeof(uint64_t) > sizeof(char *) ?
			sizeof(uint64_t) : sizeof(char *)];
		char *a, *b;
		if (def->watch || !s->origin[i].where || d->origin[i].cli) {
			continue;
		}
		/* a raw swap moves owned strings too; @src frees what it gets back */
		a = (char *)&dst->daemon + def->off;
		b = (char *)&src->daemon + def->off;
		memcpy(tmp, a, def->size);
		memcpy(a, b, def->size);
		memcpy(b, tmp, def->size);
		swap_str(&d->origin[i].where, &s->origin[i].where);
		d->origin[i].cli = false;
	}
	for (uint32_t i = 0; i < src->n_watches; i++) {
		dst->watches[dst->n_watches++] = src->watches[i];
	}
	src->n_watches = 0;
}

/* The absolute folder holding @path, the base for its relative paths. */
static int parse_base_dir(const char *path, char **out)
{
	char cwd[PATH_MAX];
	char *full, *slash;
	int r;

	if (!getcwd(cwd, sizeof(cwd))) {
		return -errno;
	}
	r = path_resolve(cwd, path, &full);
	if (r < 0) {
		return r;
	}
	slash = strrchr(full, '/');
	if (slash == full) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	*out = full;
	return 0;
}

int config_parse_file(struct config *cfg, const char *path, char *err,
		size_t errlen)
{
	struct parse_ctx ctx = {
		.cfg = cfg, .path = path, .err = err, .errlen = errlen,
	};
	char *path_copy = NULL;
	int r;

	ctx.tmp = config_create();
	path_copy = strdup(path);
	if (!ctx.tmp || !path_copy) {
		errtext_set(err, errlen, "%s: out of memory", path);
		r = -ENOMEM;
		goto out;
	}
	r = parse_base_dir(path, &ctx.dir);
	if (r < 0) {
		errtext_set(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	ctx.f = fopen(path, "re");
	if (!ctx.f) {
		r = -errno;
		errtext_set(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		goto out;
	}
	r = ini_parse_stream(parse_read_line, &ctx, parse_handle, &ctx);
	if (!ctx.error) {
		parse_end_section(&ctx);
	}
	if (ctx.error) {
		r = ctx.error;
	} else if (r == -2) {
		errtext_set(err, errlen, "%s: out of memory", path);
		r = -ENOMEM;
	} else if (r != 0) {
		/* every line inih sees was checked above: this is a backstop */
		errtext_set(err, errlen, "%s:%d: cannot parse this line", path, r);
		r = -EINVAL;
	}
	if (r == 0) {
		config_merge(cfg, ctx.tmp);
		free(cfg->path);
		cfg->path = path_copy;
		path_copy = NULL;
	}
out:
	if (ctx.f) {
		fclose(ctx.f);
	}
	free(ctx.line);
	free(ctx.dir);
	free(path_copy);
	config_destroy(ctx.tmp);
	return r;
}

/* ---- config_finish ----------------------------------------------------- */

/* Finish-time values for one watch, applied only when every check passed. */
struct finish_watch {
	char *input, *output, *success_dir, *failure_dir;  /* absolute */
	char *real_input, *real_output;                    /* canonical */
	struct thumb_spec spec;
};

static void finish_watch_free(struct finish_watch *f)
{
	free(f->input);
	free(f->output);
	free(f->success_dir);
	free(f->failure_dir);
	free(f->real_input);
	free(f->real_output);
}

/* "FILE:LINE: [watch x] key" or "--option" for a message about @w's @key. */
static void watch_where(char *buf, size_t cap, const struct config_watch *w,
		const char *key)
{
	const struct key_def *def = key_find(key);
	const char *where = watch_impl_of(w)->origin[key_index(def)].where;

	if (where) {
		snprintf(buf, cap, "%s", where);
	} else {
		snprintf(buf, cap, "[watch %s] %s", w->name, key);
	}
}

/* Relative paths set directly in the structs resolve against the cwd. */
static int finish_abs(const char *cwd, const char *path, char **out)
{
	if (!path) {
		*out = NULL;
		return 0;
	}
	return path_resolve(cwd, path, out);
}

static int finish_one_paths(const struct config_watch *w, const char *cwd,
		struct finish_watch *f, char *err, size_t errlen)
{
	char where[PATH_MAX + 160];
	const char *head = watch_impl_of(w)->where;

	if (!w->input || !w->output) {
		errtext_set(err, errlen, "%s%s[watch %s]: missing %s folder",
			head ? head : "", head ? ": " : "", w->name,
			w->input ? "output" : "input");
		return -EINVAL;
	}
	if (finish_abs(cwd, w->input, &f->input) < 0 ||
			finish_abs(cwd, w->output, &f->output) < 0 ||
			finish_abs(cwd, w->success_dir, &f->success_dir) < 0 ||
			finish_abs(cwd, w->failure_dir, &f->failure_dir) < 0) {
		watch_where(where, sizeof(where), w, "input");
		errtext_set(err, errlen, "%s: a path is too long", where);
		return -EINVAL;
	}
	return 0;
}

static int finish_one_folders(const struct config_watch *w,
		struct finish_watch *f, char *err, size_t errlen)
{
	char where[PATH_MAX + 160];
	struct stat st;
	const char *real_in;
	int r = 0;

	watch_where(where, sizeof(where), w, "input");
	if (stat(f->input, &st) < 0) {
		errtext_set(err, errlen, "%s: cannot use folder \"%s\": %s", where,
			f->input, strerror(errno));
		return -EINVAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		errtext_set(err, errlen, "%s: \"%s\" is not a folder", where, f->input);
		return -EINVAL;
	}
	watch_where(where, sizeof(where), w, "output");
	if (stat(f->output, &st) == 0 && !S_ISDIR(st.st_mode)) {
		errtext_set(err, errlen, "%s: \"%s\" is not a folder", where,
			f->output);
		return -EINVAL;
	}
	f->real_input = path_canonical(f->input);
	f->real_output = path_canonical(f->output);
	if (!f->real_input || !f->real_output) {
		errtext_set(err, errlen, "%s: out of memory", where);
		return -ENOMEM;
	}
	real_in = f->real_input;
	if (path_inside(f->real_output, real_in)) {
		errtext_set(err, errlen,
			"%s: \"%s\" is inside the input folder \"%s\"; thumbnails would be taken for new inputs",
			where, f->output, f->input);
		r = -EINVAL;
	} else if (path_inside(real_in, f->real_output)) {
		watch_where(where, sizeof(where), w, "input");
		errtext_set(err, errlen,
			"%s: \"%s\" is inside the output folder \"%s\"; thumbnails would be taken for new inputs",
			where, f->input, f->output);
		r = -EINVAL;
	}
	for (int i = 0; r == 0 && i < 2; i++) {
		const char *dir = i == 0 ? f->success_dir : f->failure_dir;
		char *real;
		if (!dir) {
			continue;
		}
		real = path_canonical(dir);
		if (!real) {
			r = -ENOMEM;
			break;
		}
		if (path_inside(real, real_in)) {
			watch_where(where, sizeof(where), w,
				i == 0 ? "on_success" : "on_failure");
			errtext_set(err, errlen,
				"%s: move folder \"%s\" is inside the input folder \"%s\"; moved files would be taken again",
				where, dir, f->input);
			r = -EINVAL;
		}
		free(real);
	}
	return r;
}

static int finish_one_spec(const struct config *cfg,
		const struct config_watch *w, struct finish_watch *f, char *err,
		size_t errlen)
{
	const struct key_origin *durable =
		&watch_impl_of(w)->origin[key_index(key_find("durable"))];
	const char *head = watch_impl_of(w)->where;
	char where[PATH_MAX + 160];
	const char *why = NULL;

	f->spec = w->spec;
	f->spec.limits.max_pixels = cfg->daemon.max_pixels;
	f->spec.limits.max_file_size = cfg->daemon.max_file_size;
	f->spec.limits.max_memory = cfg->daemon.max_memory;
	f->spec.limits.max_scans = cfg->daemon.max_scans;
	if (w->on_success != CONFIG_ACTION_KEEP) {
		/* the input goes away: its thumbnails must be on disk first */
		if (durable->where && !w->spec.durable) {
			watch_where(where, sizeof(where), w, "durable");
			errtext_set(err, errlen,
				"%s: on_success = %s needs durable = yes (thumbnails are synced to disk before the input is removed)",
				where, w->on_success == CONFIG_ACTION_DELETE ?
				"delete" : "move");
			return -EINVAL;
		}
		f->spec.durable = true;
	}
	if (spec_validate(&f->spec, &why) < 0) {
		/* mostly the template against sizes and formats: point at it */
		if (watch_impl_of(w)->origin[key_index(key_find("name"))].where) {
			watch_where(where, sizeof(where), w, "name");
			errtext_set(err, errlen, "%s: %s", where, why);
		} else {
			errtext_set(err, errlen, "%s%s[watch %s]: %s", head ? head : "",
				head ? ": " : "", w->name, why);
		}
		return -EINVAL;
	}
	return 0;
}

/*
 * Two watches writing into one tree could overwrite each other's files, and
 * inotify gives one folder one watch descriptor, so two watches cannot
 * both see one folder's events.
 */
static int finish_cross(const struct config *cfg, struct finish_watch *f,
		char *err, size_t errlen)
{
	char where[PATH_MAX + 160];

	for (uint32_t i = 0; i < cfg->n_watches; i++) {
		for (uint32_t j = 0; j < i; j++) {
			const struct config_watch *a = cfg->watches[j];
			const struct config_watch *b = cfg->watches[i];
			if (strcmp(a->name, b->name) == 0) {
				const char *head = watch_impl_of(b)->where;
				errtext_set(err, errlen, "%s%sduplicate [watch %s]",
					head ? head : "", head ? ": " : "", b->name);
				return -EINVAL;
			}
			watch_where(where, sizeof(where), b, "input");
			if (strcmp(f[i].real_input, f[j].real_input) == 0) {
				errtext_set(err, errlen,
					"%s: \"%s\" is also the input folder of [watch %s]",
					where, f[i].input, a->name);
				return -EINVAL;
			}
			if ((a->recursive && path_inside(f[i].real_input,
					f[j].real_input)) || (b->recursive &&
					path_inside(f[j].real_input, f[i].real_input))) {
				errtext_set(err, errlen,
					"%s: \"%s\" and the input folder \"%s\" of [watch %s] overlap (a recursive watch would share folders)",
					where, f[i].input, f[j].input, a->name);
				return -EINVAL;
			}
			watch_where(where, sizeof(where), b, "output");
			if (strcmp(f[i].real_output, f[j].real_output) == 0) {
				errtext_set(err, errlen,
					"%s: \"%s\" is also the output folder of [watch %s]",
					where, f[i].output, a->name);
				return -EINVAL;
			}
			if (path_inside(f[i].real_output, f[j].real_output) ||
					path_inside(f[j].real_output, f[i].real_output)) {
				errtext_set(err, errlen,
					"%s: \"%s\" overlaps the output folder \"%s\" of [watch %s]",
					where, f[i].output, f[j].output, a->name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void finish_apply(struct config *cfg, struct finish_watch *f,
		char **metrics)
{
	for (uint32_t i = 0; i < cfg->n_watches; i++) {
		struct config_watch *w = cfg->watches[i];
		swap_str(&w->input, &f[i].input);
		swap_str(&w->output, &f[i].output);
		swap_str(&w->success_dir, &f[i].success_dir);
		swap_str(&w->failure_dir, &f[i].failure_dir);
		w->spec = f[i].spec;
	}
	swap_str(&cfg->daemon.metrics_file, metrics);
}

int config_finish(struct config *cfg, char *err, size_t errlen)
{
	struct finish_watch *f;
	char cwd[PATH_MAX];
	char *metrics = NULL;
	int r = 0;

	if (cfg->n_watches == 0) {
		if (cfg->path) {
			errtext_set(err, errlen,
				"%s: no [watch NAME] section: nothing to watch", cfg->path);
		} else {
			errtext_set(err, errlen,
				"nothing to watch: give an input and an output folder, or a config file with a [watch NAME] section");
		}
		return -EINVAL;
	}
	if (!getcwd(cwd, sizeof(cwd))) {
		r = -errno;
		errtext_set(err, errlen, "cannot find the current folder: %s",
			strerror(-r));
		return r;
	}
	f = calloc(cfg->n_watches, sizeof(*f));
	if (!f) {
		errtext_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; r == 0 && i < cfg->n_watches; i++) {
		const struct config_watch *w = cfg->watches[i];
		r = finish_one_paths(w, cwd, &f[i], err, errlen);
		if (r == 0) {
			r = finish_one_folders(w, &f[i], err, errlen);
		}
		if (r == 0) {
			r = finish_one_spec(cfg, w, &f[i], err, errlen);
		}
	}
	if (r == 0) {
		r = finish_cross(cfg, f, err, errlen);
	}
	if (r == 0 && finish_abs(cwd, cfg->daemon.metrics_file, &metrics) < 0) {
		errtext_set(err, errlen, "metrics_file: path too long");
		r = -EINVAL;
	}
	if (r == 0) {
		finish_apply(cfg, f, &metrics);
	}
	for (uint32_t i = 0; i < cfg->n_watches; i++) {
		finish_watch_free(&f[i]);
	}
	free(f);
	free(metrics);
	return r;
}

/* ---- config_watch_wants ------------------------------------------------ */

static bool name_is_partial(const char *base)
{
	size_t n = strlen(base);

	for (size_t i = 0; i < sizeof(partial_suffixes) / sizeof(partial_suffixes[0]);
			i++) {
		size_t m = strlen(partial_suffixes[i]);
		if (n > m && strcasecmp(base + n - m, partial_suffixes[i]) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * Globs match the file name or the whole relative path; '*' stays within
 * one folder in the latter. Case is ignored: cameras write IMG_0001.JPG.
 */
static bool glob_matches(const char *glob, const char *base, const char *rel)
{
	return fnmatch(glob, base, FNM_CASEFOLD) == 0 ||
		fnmatch(glob, rel, FNM_CASEFOLD | FNM_PATHNAME) == 0;
}

bool config_watch_wants(const struct config_watch *w, const char *rel)
{
	const char *base = rel;

	if (!rel || !*rel) {
		return false;
	}
	for (const char *p = rel; *p;) {
		const char *end = strchrnul(p, '/');
		if (end > p) {
			if (*p == '.') {
				return false;  /* hidden files and rsync's temp names */
			}
			base = p;
		}
		p = *end ? end + 1 : end;
	}
	if (atomic_is_temp(base) || name_is_partial(base)) {
		return false;
	}
	for (uint32_t i = 0; i < w->n_exclude; i++) {
		if (glob_matches(w->exclude[i], base, rel)) {
			return false;
		}
	}
	if (w->n_include == 0) {
		return true;
	}
	for (uint32_t i = 0; i < w->n_include; i++) {
		if (glob_matches(w->include[i], base, rel)) {
			return true;
		}
	}
	return false;
}

/* ---- config_dump ------------------------------------------------------- */

/* Append to a fixed buffer; false once it is full. */
static bool buf_add(char *buf, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= cap) {
		return false;
	}
	memcpy(buf + *o, s, n + 1);
	*o += n;
	return true;
}

static bool dump_list(char *buf, size_t cap, char *const *items, uint32_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n; i++) {
		if ((i > 0 && !buf_add(buf, cap, &o, ", ")) ||
				!buf_add(buf, cap, &o, items[i])) {
			return false;
		}
	}
	return true;
}

/* The value of @def in the struct at @base, as the file would spell it. */
static bool dump_value(const struct key_def *def, const void *base,
		char *buf, size_t cap)
{
	const char *field = (const char *)base + def->off;
	const char *field2 = (const char *)base + def->off2;
	uint64_t n = 0;
	size_t o = 0;

	if (def->kind == KEY_BOOL) {
		n = *(const bool *)field;
	} else if (def->kind != KEY_PATH && def->kind != KEY_OPT_PATH &&
			def->kind != KEY_TEMPLATE && def->kind != KEY_SIZES &&
			def->kind != KEY_GLOBS) {
		n = load_uint(field, def->size);
	}

	buf[0] = '\0';
	switch (def->kind) {
	case KEY_BOOL:
		snprintf(buf, cap, "%s", n ? "yes" : "no");
		break;
	case KEY_WORKERS:
		if (n == 0) {
			snprintf(buf, cap, "auto");
		} else {
			snprintf(buf, cap, "%llu", (unsigned long long)n);
		}
		break;
	case KEY_UINT:
		snprintf(buf, cap, "%llu", (unsigned long long)n);
		break;
	case KEY_PIXELS:
		format_scaled(buf, cap, n, pixel_dump_units);
		break;
	case KEY_SIZE:
		format_scaled(buf, cap, n, size_dump_units);
		break;
	case KEY_DURATION:
		format_scaled(buf, cap, n, duration_dump_units);
		break;
	case KEY_ENUM:
		snprintf(buf, cap, "%s", n <= def->hi ? def->names[n] : "?");
		break;
	case KEY_PATH:
	case KEY_OPT_PATH: {
		const char *s = *(char *const *)field;
		return snprintf(buf, cap, "%s", s ? s : "") < (int)cap;
	}
	case KEY_TEMPLATE:
		snprintf(buf, cap, "%s", field);
		break;
	case KEY_SIZES: {
		const struct thumb_size *sz = (const struct thumb_size *)field;
		uint32_t count = *(const uint32_t *)field2;
		for (uint32_t i = 0; i < count; i++) {
			char one[48];
			if (sz[i].width == sz[i].height) {
				snprintf(one, sizeof(one), "%s%u", i ? ", " : "",
					sz[i].width);
			} else {
				snprintf(one, sizeof(one), "%s%ux%u", i ? ", " : "",
					sz[i].width, sz[i].height);
			}
			if (!buf_add(buf, cap, &o, one)) {
				return false;
			}
		}
		break;
	}
	case KEY_FORMATS:
		snprintf(buf, cap, "%s%s%s", n & THUMB_FORMAT_JPEG ? "jpeg" : "",
			(n & THUMB_FORMAT_JPEG) && (n & THUMB_FORMAT_WEBP) ? ", " : "",
			n & THUMB_FORMAT_WEBP ? "webp" : "");
		break;
	case KEY_GLOBS:
		return dump_list(buf, cap, (char *const *)field,
			*(const uint32_t *)field2);
	case KEY_ON_SUCCESS:
	case KEY_ON_FAILURE: {
		const char *dir = *(char *const *)field2;
		if (n == CONFIG_ACTION_MOVE) {
			return snprintf(buf, cap, "move %s", dir ? dir : "") < (int)cap &&
				dir;
		}
		snprintf(buf, cap, "%s", n == CONFIG_ACTION_DELETE ? "delete" : "keep");
		break;
	}
	}
	return true;
}

/*
 * True if "key = @s" reads back as @s: the format has no quoting, so no
 * line breaks, no blanks at either end and nothing that starts a comment.
 */
static bool dump_representable(const char *s)
{
	size_t n = strlen(s);

	if (n == 0) {
		return true;
	}
	if (is_blank(s[0]) || is_blank(s[n - 1]) || strpbrk(s, "\n\r") ||
			find_comment(s) != n) {
		return false;
	}
	return true;
}

static int dump_section(FILE *out, bool watch, const void *base)
{
	char *buf = malloc(CONFIG_LINE_MAX);

	if (!buf) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key_def *def = &config_keys[i];
		if (def->watch != watch) {
			continue;
		}
		if (!dump_value(def, base, buf, CONFIG_LINE_MAX - 64) ||
				!dump_representable(buf)) {
			free(buf);
			return -EINVAL;
		}
		fprintf(out, "%s =%s%s\n", def->name, buf[0] ? " " : "", buf);
	}
	free(buf);
	return 0;
}

int config_dump(const struct config *cfg, FILE *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int r;

	/* built in memory first so that a value we cannot write writes nothing */
	mem = open_memstream(&text, &len);
	if (!mem) {
		return -errno;
	}
	fprintf(mem, "[daemon]\n");
	r = dump_section(mem, false, &cfg->daemon);
	for (uint32_t i = 0; r == 0 && i < cfg->n_watches; i++) {
		if (!watch_name_ok(cfg->watches[i]->name)) {
			r = -EINVAL;
			break;
		}
		fprintf(mem, "\n[watch %s]\n", cfg->watches[i]->name);
		r = dump_section(mem, true, cfg->watches[i]);
	}
	if (fclose(mem) != 0 && r == 0) {
		r = -ENOMEM;
	}
	if (r == 0 && (fwrite(text, 1, len, out) != len || fflush(out) != 0)) {
		r = -EIO;
	}
	free(text);
	return r;
}
