/*
 * config: the golden cases in tests/golden (NAME.conf with NAME.dump, the
 * expected effective configuration, or NAME.err, the expected message),
 * then unit checks of config_set, units, precedence, line handling, the
 * example thumbd.conf and config_watch_wants.
 *
 * Golden files name the test's temporary folder @TMP@. Each case is copied
 * to @TMP@/conf/NAME.conf and parsed from @TMP@/conf as "NAME.conf", so
 * messages start with "NAME.conf:LINE:". @TMP@ holds the folders in, in/sub,
 * in2, in3 and out. THUMBD_GOLDEN_UPDATE=1 rewrites the expected files from
 * what the code does now (review the diff before keeping it).
 */
#include "testlib.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>

#include "config.h"

#define ERR_LEN 2048

static char tmp_root[PATH_MAX];
static char golden_dir[PATH_MAX];

/* @rel inside the test's folder, symlinks resolved (rotating buffers). */
static const char *root_path(const char *rel)
{
	static char bufs[4][PATH_MAX + 64];
	static unsigned n;
	char *b = bufs[n++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmp_root, rel);
	return b;
}

/* A malloc'd copy of @s with every @from replaced by @to. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t nf = strlen(from), nt = strlen(to), cap = strlen(s) + 1;
	const char *p;
	char *out, *o;

	for (p = s; (p = strstr(p, from)); p += nf) {
		cap += nt;
	}
	out = malloc(cap);
	CHECK(out);
	o = out;
	while ((p = strstr(s, from))) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, to, nt);
		o += nt;
		s = p + nf;
	}
	strcpy(o, s);
	return out;
}

static char *read_text(const char *path)
{
	size_t len;
	uint8_t *buf = tl_read(path, &len);
	char *s;

	if (!buf) {
		return NULL;
	}
	s = malloc(len + 1);
	CHECK(s);
	memcpy(s, buf, len);
	s[len] = '\0';
	free(buf);
	return s;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	CHECK(f);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
}

static char *dump_text(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f);
	CHECK_INT_EQ(config_dump(cfg, f), 0);
	CHECK(fclose(f) == 0);
	return text;
}

/* Parse and finish @name (relative to the cwd); NULL with @err on failure. */
static struct config *load(const char *name, char *err)
{
	struct config *cfg = config_create();
	int r;

	CHECK(cfg);
	err[0] = '\0';
	r = config_parse_file(cfg, name, err, ERR_LEN);
	if (r == 0) {
		r = config_finish(cfg, err, ERR_LEN);
	}
	if (r < 0) {
		CHECK(err[0] != '\0');
		config_destroy(cfg);
		return NULL;
	}
	return cfg;
}

static void expect_text(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "%s: got:\n%s\n--- expected:\n%s\n", what, got, want);
		exit(1);
	}
}

static void update_golden(const char *name, const char *ext, const char *text)
{
	char path[PATH_MAX + 64];
	char *generic = replace_all(text, tmp_root, "@TMP@");

	snprintf(path, sizeof(path), "%s/%s.%s", golden_dir, name, ext);
	write_text(path, generic);
	fprintf(stderr, "updated %s\n", path);
	free(generic);
}

static void golden_case(const char *name)
{
	char path[PATH_MAX + 64], file[PATH_MAX + 64];
	char err[ERR_LEN];
	bool update = getenv("THUMBD_GOLDEN_UPDATE") != NULL;
	char *conf, *want_dump, *want_err, *text;
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/%s.conf", golden_dir, name);
	conf = read_text(path);
	CHECK(conf);
	text = replace_all(conf, "@TMP@", tmp_root);
	snprintf(file, sizeof(file), "%s.conf", name);
	write_text(file, text);
	free(text);
	free(conf);

	snprintf(path, sizeof(path), "%s/%s.dump", golden_dir, name);
	text = read_text(path);
	want_dump = text ? replace_all(text, "@TMP@", tmp_root) : NULL;
	free(text);
	snprintf(path, sizeof(path), "%s/%s.err", golden_dir, name);
	text = read_text(path);
	want_err = text ? replace_all(text, "@TMP@", tmp_root) : NULL;
	free(text);
	if (!want_dump && !want_err && !update) {
		fprintf(stderr, "%s: no %s.dump or %s.err\n", name, name, name);
		exit(1);
	}

	cfg = load(file, err);
	if (update) {
		if (cfg) {
			char *d = dump_text(cfg);
			update_golden(name, "dump", d);
			free(d);
		} else {
			strcat(err, "\n");
			update_golden(name, "err", err);
		}
	} else if (want_err) {
		if (cfg) {
			fprintf(stderr, "%s: parsed, but expected the error:\n%s", name,
				want_err);
			exit(1);
		}
		strcat(err, "\n");
		expect_text(name, err, want_err);
	} else {
		if (!cfg) {
			fprintf(stderr, "%s: unexpected error: %s\n", name, err);
			exit(1);
		}
		char *first = dump_text(cfg);
		expect_text(name, first, want_dump);
		/* the dump reads back as the same configuration */
		snprintf(file, sizeof(file), "%s.redump", name);
		write_text(file, first);
		config_destroy(cfg);
		cfg = load(file, err);
		if (!cfg) {
			fprintf(stderr, "%s: its dump does not parse: %s\n", name, err);
			exit(1);
		}
		char *second = dump_text(cfg);
		expect_text(name, second, first);
		free(first);
		free(second);
	}
	config_destroy(cfg);
	free(want_dump);
	free(want_err);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_golden(void)
{
	char *names[512];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(golden_dir);

	CHECK(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".conf") == 0) {
			CHECK(n < sizeof(names) / sizeof(names[0]));
			names[n++] = strndup(e->d_name, len - 5);
		}
	}
	closedir(d);
	CHECK(n >= 40);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		golden_case(names[i]);
		free(names[i]);
	}
	fprintf(stderr, "golden: %zu cases\n", n);
}

/* ---- config_set with a command-line origin ---------------------------- */

static void expect_set_err(struct config *cfg, struct config_watch *w,
		const char *key, const char *value, const char *origin,
		const char *want)
{
	char err[ERR_LEN] = "";
	int r = config_set(cfg, w, key, value, origin, err, sizeof(err));

	if (r != -EINVAL || strcmp(err, want) != 0) {
		fprintf(stderr, "config_set(%s, \"%s\"): %d \"%s\", expected \"%s\"\n",
			key, value, r, err, want);
		exit(1);
	}
}

static void test_set_messages(void)
{
	struct config *cfg = config_create();
	struct config_watch *w;
	char err[ERR_LEN];

	CHECK(cfg);
	w = config_add_watch(cfg, "default");
	CHECK(w);
	expect_set_err(cfg, w, "quality", "high", "--quality",
		"--quality: expected an integer 1-100, got \"high\"");
	expect_set_err(cfg, w, "quality", "0", "--quality",
		"--quality: expected an integer 1-100, got \"0\"");
	expect_set_err(cfg, NULL, "workers", "0", "--workers",
		"--workers: expected an integer 1-1024 or auto, got \"0\"");
	expect_set_err(cfg, w, "sizes", "256, 256", "--sizes",
		"--sizes: expected up to 8 sizes such as 128, 256, 1024x768 (sides 1-16384), got \"256, 256\": 256 is listed twice");
	expect_set_err(cfg, w, "qualty", "80", "--qualty",
		"--qualty: unknown key \"qualty\" in [watch default]");
	expect_set_err(cfg, NULL, "quality", "80", "--quality",
		"--quality: unknown key \"quality\" in [daemon]");
	expect_set_err(cfg, w, "workers", "2", "--workers",
		"--workers: unknown key \"workers\" in [watch default]");
	expect_set_err(cfg, w, "name", "{stem}.jpg", "--name",
		"--name: expected a name template such as {stem}_{size}.{ext}, got \"{stem}.jpg\": the name template needs {ext} or {size}");
	expect_set_err(cfg, w, "on_failure", "delete", "--on-failure",
		"--on-failure: expected keep or move FOLDER, got \"delete\"");
	expect_set_err(cfg, w, "input", "~/drop", "--input",
		"--input: expected a folder path, got \"~/drop\": ~ is not expanded");
	/* a rejected value leaves the old one */
	CHECK_INT_EQ(w->spec.quality, 85);
	CHECK_INT_EQ(config_set(cfg, w, "quality", "70", "--quality", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(w->spec.quality, 70);
	expect_set_err(cfg, w, "quality", "70%", "--quality",
		"--quality: expected an integer 1-100, got \"70%\"");
	CHECK_INT_EQ(w->spec.quality, 70);

	/* command-line paths are relative to the cwd, cleaned */
	CHECK_INT_EQ(config_set(cfg, w, "input", "../in/./sub/..", "--input", err,
		sizeof(err)), 0);
	expect_text("cli input", w->input, root_path("in"));
	CHECK_INT_EQ(config_set(cfg, w, "output", "..//out/", "--output", err,
		sizeof(err)), 0);
	expect_text("cli output", w->output, root_path("out"));
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), 0);

	/* one watch made only from the command line: its errors name the option */
	config_destroy(cfg);
	cfg = config_create();
	w = config_add_watch(cfg, "default");
	CHECK_INT_EQ(config_set(cfg, w, "input", "nowhere", "--input", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(cfg, w, "output", "../out", "--output", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		"--input: cannot use folder \"%s\": No such file or directory",
		root_path("conf/nowhere"));
	expect_text("cli missing input", err, want);
	CHECK_INT_EQ(config_set(cfg, w, "input", "../in", "--input", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(cfg, w, "output", "../in/thumbs", "--output", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "--output: \"");
	CHECK_STR_CONTAINS(err, "is inside the input folder");
	config_destroy(cfg);

	/* no output at all */
	cfg = config_create();
	w = config_add_watch(cfg, "default");
	CHECK_INT_EQ(config_set(cfg, w, "input", "../in", "--input", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	expect_text("cli no output", err, "[watch default]: missing output folder");
	config_destroy(cfg);

	cfg = config_create();
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "nothing to watch");
	config_destroy(cfg);
}

/* ---- units ------------------------------------------------------------- */

struct unit_case {
	const char *key;
	const char *value;
	bool ok;
	uint64_t want;
};

static uint64_t daemon_value(const struct config *cfg, const char *key)
{
	const struct config_daemon *d = &cfg->daemon;

	if (strcmp(key, "max_file_size") == 0) {
		return d->max_file_size;
	}
	if (strcmp(key, "worker_memory") == 0) {
		return d->worker_memory;
	}
	if (strcmp(key, "job_timeout") == 0) {
		return d->job_timeout_ms;
	}
	if (strcmp(key, "stats_interval") == 0) {
		return d->stats_interval_ms;
	}
	if (strcmp(key, "max_pixels") == 0) {
		return d->max_pixels;
	}
	if (strcmp(key, "cpu_affinity") == 0) {
		return d->cpu_affinity;
	}
	if (strcmp(key, "workers") == 0) {
		return d->workers;
	}
	if (strcmp(key, "max_queue") == 0) {
		return d->max_queue;
	}
	if (strcmp(key, "log_level") == 0) {
		return d->log_level;
	}
	fprintf(stderr, "no accessor for %s\n", key);
	exit(1);
}

static void test_units(void)
{
	static const struct unit_case cases[] = {
		{ "max_file_size", "1024", true, 1024 },
		{ "max_file_size", "1B", true, 1 },
		{ "max_file_size", "512K", true, 512ull << 10 },
		{ "max_file_size", "512k", true, 512ull << 10 },
		{ "max_file_size", "3KiB", true, 3ull << 10 },
		{ "max_file_size", "256M", true, 256ull << 20 },
		{ "max_file_size", "256 MiB", true, 256ull << 20 },
		{ "max_file_size", "2G", true, 2ull << 30 },
		{ "max_file_size", "2GiB", true, 2ull << 30 },
		{ "max_file_size", "1T", true, 1ull << 40 },
		{ "max_file_size", "18446744073709551615", true, UINT64_MAX },
		{ "max_file_size", "18446744073709551616", false, 0 },
		{ "max_file_size", "16777216T", false, 0 },
		{ "max_file_size", "0", false, 0 },
		{ "max_file_size", "-1", false, 0 },
		{ "max_file_size", "+1", false, 0 },
		{ "max_file_size", "1.5G", false, 0 },
		{ "max_file_size", "10KB", false, 0 },
		{ "max_file_size", "10MB", false, 0 },
		{ "max_file_size", "0x10", false, 0 },
		{ "max_file_size", "G", false, 0 },
		{ "max_file_size", "", false, 0 },
		{ "worker_memory", "0", true, 0 },
		{ "worker_memory", "64M", true, 64ull << 20 },
		{ "worker_memory", "63M", false, 0 },
		{ "job_timeout", "30", true, 30000 },
		{ "job_timeout", "30s", true, 30000 },
		{ "job_timeout", "1500ms", true, 1500 },
		{ "job_timeout", "2min", true, 120000 },
		{ "job_timeout", "2 MIN", true, 120000 },
		{ "job_timeout", "1h", true, 3600000 },
		{ "job_timeout", "0", false, 0 },
		{ "job_timeout", "0s", false, 0 },
		{ "job_timeout", "1m", true, 60000 },
		{ "job_timeout", "1d", false, 0 },
		{ "job_timeout", "1 minute", false, 0 },
		{ "job_timeout", "1.5s", false, 0 },
		{ "job_timeout", "-5s", false, 0 },
		{ "job_timeout", "5 s x", false, 0 },
		{ "job_timeout", "18446744073709551615ms", true, UINT64_MAX },
		{ "job_timeout", "18446744073709551615s", false, 0 },
		{ "stats_interval", "0", true, 0 },
		{ "stats_interval", "250ms", true, 250 },
		{ "max_pixels", "100M", true, 100000000 },
		{ "max_pixels", "50K", true, 50000 },
		{ "max_pixels", "2G", true, 2000000000 },
		{ "max_pixels", "1000G", true, 1000000000000ull },
		{ "max_pixels", "1001G", false, 0 },
		{ "max_pixels", "12345", true, 12345 },
		{ "max_pixels", "0", false, 0 },
		{ "max_pixels", "1MiB", false, 0 },
		{ "cpu_affinity", "yes", true, 1 },
		{ "cpu_affinity", "No", true, 0 },
		{ "cpu_affinity", "TRUE", true, 1 },
		{ "cpu_affinity", "false", true, 0 },
		{ "cpu_affinity", "on", true, 1 },
		{ "cpu_affinity", "off", true, 0 },
		{ "cpu_affinity", "1", true, 1 },
		{ "cpu_affinity", "0", true, 0 },
		{ "cpu_affinity", "maybe", false, 0 },
		{ "cpu_affinity", "2", false, 0 },
		{ "workers", "auto", true, 0 },
		{ "workers", "AUTO", true, 0 },
		{ "workers", "1024", true, 1024 },
		{ "workers", "1025", false, 0 },
		{ "workers", "4k", false, 0 },
		{ "max_queue", "1000000000", true, 1000000000 },
		{ "max_queue", "1000000001", false, 0 },
		{ "log_level", "debug", true, CONFIG_LOG_DEBUG },
		{ "log_level", "Warning", true, CONFIG_LOG_WARNING },
		{ "log_level", "warn", false, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct unit_case *c = &cases[i];
		struct config *cfg = config_create();
		char err[ERR_LEN] = "";
		uint64_t before = daemon_value(cfg, c->key);
		int r = config_set(cfg, NULL, c->key, c->value, "--x", err,
			sizeof(err));
		if ((r == 0) != c->ok ||
				daemon_value(cfg, c->key) != (c->ok ? c->want : before)) {
			fprintf(stderr, "%s = \"%s\": r=%d value=%llu err=\"%s\"\n",
				c->key, c->value, r,
				(unsigned long long)daemon_value(cfg, c->key), err);
			exit(1);
		}
		if (!c->ok) {
			CHECK(strncmp(err, "--x: expected ", 14) == 0);
		}
		config_destroy(cfg);
	}
	fprintf(stderr, "units: %zu cases\n", sizeof(cases) / sizeof(cases[0]));
}

/* ---- the file: precedence, atomicity, lines --------------------------- */

static void test_cli_precedence(void)
{
	struct config *cfg = config_create();
	char err[ERR_LEN];

	write_text("prec.conf",
		"[daemon]\nworkers = 5\nlog_level = debug\n"
		"[watch a]\ninput = ../in\noutput = ../out\n");
	/* the command line first: the file must not override it */
	CHECK_INT_EQ(config_set(cfg, NULL, "workers", "3", "--workers", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_parse_file(cfg, "prec.conf", err, sizeof(err)), 0);
	CHECK_INT_EQ(cfg->daemon.workers, 3);
	CHECK_INT_EQ(cfg->daemon.log_level, CONFIG_LOG_DEBUG);
	CHECK_INT_EQ(cfg->n_watches, 1);
	CHECK_INT_EQ(strcmp(cfg->path, "prec.conf"), 0);
	/* and after it, the command line still wins */
	CHECK_INT_EQ(config_set(cfg, NULL, "log_level", "error", "--log-level",
		err, sizeof(err)), 0);
	CHECK_INT_EQ(cfg->daemon.log_level, CONFIG_LOG_ERROR);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), 0);
	/* [daemon] limits reach every watch's spec */
	CHECK_INT_EQ(cfg->watches[0]->spec.limits.max_pixels,
		cfg->daemon.max_pixels);
	config_destroy(cfg);

	/* a watch named on the command line cannot come again from the file */
	cfg = config_create();
	CHECK(config_add_watch(cfg, "a"));
	CHECK_INT_EQ(config_parse_file(cfg, "prec.conf", err, sizeof(err)),
		-EINVAL);
	expect_text("cli dup watch", err,
		"prec.conf:4: duplicate [watch a] (already given on the command line)");
	config_destroy(cfg);
}

static void test_parse_failure_keeps_config(void)
{
	struct config *cfg = config_create();
	char err[ERR_LEN];

	write_text("half.conf",
		"[daemon]\nworkers = 7\n[watch a]\ninput = ../in\noutput = ../out\n"
		"[watch b]\ninput = ../in2\noutput = ../out/b\nquality = best\n");
	CHECK_INT_EQ(config_parse_file(cfg, "half.conf", err, sizeof(err)),
		-EINVAL);
	expect_text("half", err,
		"half.conf:9: quality: expected an integer 1-100, got \"best\"");
	CHECK_INT_EQ(cfg->daemon.workers, 0);
	CHECK_INT_EQ(cfg->n_watches, 0);
	CHECK(cfg->path == NULL);
	CHECK_INT_EQ(config_parse_file(cfg, "absent.conf", err, sizeof(err)),
		-ENOENT);
	expect_text("absent", err,
		"absent.conf: cannot open: No such file or directory");
	CHECK(config_parse_file(cfg, "../in", err, sizeof(err)) < 0);
	expect_text("directory", err, "../in: cannot read: Is a directory");
	config_destroy(cfg);
}

static struct config *parse_only(const char *name, const char *text,
		char *err)
{
	struct config *cfg = config_create();

	write_text(name, text);
	if (config_parse_file(cfg, name, err, ERR_LEN) < 0) {
		config_destroy(cfg);
		return NULL;
	}
	return cfg;
}

static void test_lines(void)
{
	char err[ERR_LEN];
	char *text, *longdir;
	struct config *cfg;
	size_t n;

	/* CRLF, a byte order mark, indented keys and both comment marks */
	cfg = parse_only("crlf.conf",
		"\xef\xbb\xbf# comment\r\n[watch a]\r\n  input = /x ; inline\r\n"
		"\toutput = /y # inline\r\n name = a;b_{size}.{ext}\r\n"
		"include = *.jpg,*.png ;\r\n  ; indented comment\r\n", err);
	if (!cfg) {
		fprintf(stderr, "crlf: %s\n", err);
		exit(1);
	}
	CHECK_INT_EQ(strcmp(cfg->watches[0]->input, "/x"), 0);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->output, "/y"), 0);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->spec.name, "a;b_{size}.{ext}"), 0);
	CHECK_INT_EQ(cfg->watches[0]->n_include, 2);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->include[1], "*.png"), 0);
	config_destroy(cfg);

	/* a line well past inih's 200-byte buffer keeps its whole value */
	longdir = malloc(1001);
	CHECK(longdir);
	memset(longdir, 'd', 1000);
	longdir[0] = '/';
	longdir[1000] = '\0';
	for (size_t i = 100; i < 1000; i += 100) {
		longdir[i] = '/';
	}
	n = strlen(longdir) + 128;
	text = malloc(n);
	CHECK(text);
	snprintf(text, n, "[watch a]\ninput = %s\noutput = /o\nquality = 50\n",
		longdir);
	cfg = parse_only("long.conf", text, err);
	CHECK(cfg);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->input, longdir), 0);
	CHECK_INT_EQ(cfg->watches[0]->spec.quality, 50);
	config_destroy(cfg);
	free(text);
	free(longdir);

	/* past our own limit: an error naming the line, not a silent cut */
	text = malloc(9100);
	CHECK(text);
	memcpy(text, "[watch a]\nname = ", 17);
	memset(text + 17, 'x', 9000);
	memcpy(text + 9017, "\n", 2);
	cfg = parse_only("huge.conf", text, err);
	CHECK(!cfg);
	expect_text("huge", err, "huge.conf:2: line longer than 8192 bytes");
	free(text);

	/* no continuation lines: an indented value is an error on its line */
	cfg = parse_only("cont.conf",
		"[watch a]\ninput = /x\noutput = /y\ninclude = *.jpg\n    *.png\n",
		err);
	CHECK(!cfg);
	expect_text("cont", err,
		"cont.conf:5: expected \"key = value\", a [section] header or a comment, got \"*.png\"");

	static const char nul[] = "[daemon]\nworkers = 2\0\n";
	FILE *f = fopen("nul.conf", "we");
	CHECK(f);
	CHECK(fwrite(nul, 1, sizeof(nul) - 1, f) == sizeof(nul) - 1);
	CHECK(fclose(f) == 0);
	cfg = config_create();
	CHECK(cfg);
	CHECK_INT_EQ(config_parse_file(cfg, "nul.conf", err, ERR_LEN), -EINVAL);
	config_destroy(cfg);
	expect_text("nul", err, "nul.conf:2: line holds a NUL byte");

	/* a file with no keys at all is valid, it only has nothing to watch */
	cfg = parse_only("empty.conf", "", err);
	CHECK(cfg);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	expect_text("empty", err,
		"empty.conf: no [watch NAME] section: nothing to watch");
	config_destroy(cfg);
}

/* Containment is checked on real paths: a symlink does not hide a loop. */
static void test_symlinks(void)
{
	struct config *cfg;
	char err[ERR_LEN];

	TL_SH_OK("ln -s in/sub lnk && ln -s out outlink");
	cfg = parse_only("sym.conf",
		"[watch a]\ninput = ../in\noutput = ../lnk/thumbs\n", err);
	CHECK(cfg);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "sym.conf:3: [watch a] output: \"");
	CHECK_STR_CONTAINS(err, "/lnk/thumbs\" is inside the input folder");
	config_destroy(cfg);

	cfg = parse_only("sym2.conf",
		"[watch a]\ninput = ../in\noutput = ../out/x\n"
		"[watch b]\ninput = ../in2\noutput = ../outlink/x\n", err);
	CHECK(cfg);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "is also the output folder of [watch a]");
	config_destroy(cfg);
}

/* ---- dump -------------------------------------------------------------- */

static void test_dump(void)
{
	struct config *cfg = config_create();
	struct config_watch *w = config_add_watch(cfg, "x");
	char err[ERR_LEN];
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(w);
	/* a value the file format cannot carry is refused, writing nothing */
	CHECK_INT_EQ(config_set(cfg, w, "input", "/a #b", "--input", err,
		sizeof(err)), 0);
	f = open_memstream(&text, &len);
	CHECK(f);
	CHECK_INT_EQ(config_dump(cfg, f), -EINVAL);
	fclose(f);
	CHECK_INT_EQ(len, 0);
	free(text);
	config_destroy(cfg);

	/* so is a watch name the file could not hold */
	cfg = config_create();
	CHECK(config_add_watch(cfg, "my photos"));
	f = fopen("/dev/null", "we");
	CHECK(f);
	CHECK_INT_EQ(config_dump(cfg, f), -EINVAL);
	fclose(f);
	config_destroy(cfg);

	/* a configuration made on the command line reads back the same */
	cfg = config_create();
	w = config_add_watch(cfg, "default");
	CHECK(w);
	CHECK_INT_EQ(config_set(cfg, w, "input", "../in", "-i", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(cfg, w, "output", "../out", "-o", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(cfg, w, "sizes", "64,1280x720", "-s", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(cfg, NULL, "stats_interval", "5", "--stats", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_finish(cfg, err, sizeof(err)), 0);
	text = dump_text(cfg);
	CHECK_STR_CONTAINS(text, "\nsizes = 64, 1280x720\n");
	CHECK_STR_CONTAINS(text, "\nstats_interval = 5s\n");
	write_text("cli.conf", text);
	config_destroy(cfg);
	cfg = load("cli.conf", err);
	CHECK(cfg);
	char *again = dump_text(cfg);
	expect_text("cli dump", again, text);
	free(again);
	free(text);
	config_destroy(cfg);
}

/* ---- the example ------------------------------------------------------- */

static void test_example(const char *srcdir)
{
	char path[PATH_MAX + 64];
	char err[ERR_LEN];
	struct config *cfg = config_create();
	struct config *ref = config_create();
	char *got, *want, *text, *man;

	snprintf(path, sizeof(path), "%s/config/thumbd.conf", srcdir);
	if (config_parse_file(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "example: %s\n", err);
		exit(1);
	}
	CHECK_INT_EQ(cfg->n_watches, 1);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->name, "photos"), 0);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->input, "/srv/thumbd/drop"), 0);
	CHECK_INT_EQ(strcmp(cfg->watches[0]->output, "/srv/thumbd/thumbs"), 0);
	/* /srv/thumbd/drop does not exist here: the only complaint */
	if (config_finish(cfg, err, sizeof(err)) == 0) {
		fprintf(stderr, "example: /srv/thumbd/drop exists, skipped finish\n");
	} else {
		CHECK_STR_CONTAINS(err, "cannot use folder \"/srv/thumbd/drop\"");
	}

	/*
	 * Every key is there, commented out with its default: uncommented, the
	 * example must still give exactly the defaults.
	 */
	CHECK_INT_EQ(tl_sh("sed -E 's/^#([a-z_]+ =)/\\1/' '%s' >conf/example.conf",
		path), 0);
	config_destroy(cfg);
	cfg = config_create();
	if (config_parse_file(cfg, "example.conf", err, sizeof(err)) < 0) {
		fprintf(stderr, "uncommented example: %s\n", err);
		exit(1);
	}
	struct config_watch *w = config_add_watch(ref, "photos");
	CHECK(w);
	CHECK_INT_EQ(config_set(ref, w, "input", "/srv/thumbd/drop", "-", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(ref, w, "output", "/srv/thumbd/thumbs", "-", err,
		sizeof(err)), 0);
	got = dump_text(cfg);
	want = dump_text(ref);
	expect_text("uncommented example vs defaults", got, want);
	snprintf(path, sizeof(path), "%s/config/thumbd.conf.5", srcdir);
	man = read_text(path);
	CHECK(man);
	text = read_text("example.conf");
	CHECK(text);
	for (char *line = strtok(want, "\n"); line; line = strtok(NULL, "\n")) {
		char key[64];
		if (sscanf(line, "%63[a-z_] =", key) == 1) {
			char pat[80];
			snprintf(pat, sizeof(pat), "\n%s =", key);
			CHECK_STR_CONTAINS(text, pat);
			/* and the manual documents it */
			snprintf(pat, sizeof(pat), "\n\\fB%s =\\fR", key);
			CHECK_STR_CONTAINS(man, pat);
		}
	}
	free(text);
	free(man);
	free(got);
	free(want);
	config_destroy(cfg);
	config_destroy(ref);
}

/* ---- config_watch_wants ------------------------------------------------ */

static void test_wants(void)
{
	struct config *cfg = config_create();
	struct config_watch *w = config_add_watch(cfg, "w");
	char err[ERR_LEN];
	static const struct {
		const char *rel;
		bool all, filtered;
	} cases[] = {
		{ "a.jpg", true, true },
		{ "IMG_0001.JPG", true, true },
		{ "sub/b.webp", true, true },
		{ "sub/deeper/c.jpg", true, true },
		{ "a.png", true, false },
		{ ".hidden.jpg", false, false },
		{ "sub/.hidden.jpg", false, false },
		{ ".git/x.jpg", false, false },
		{ "sub/.cache/x.jpg", false, false },
		{ ".a.jpg.Xy12Zq", false, false },
		{ ".thumbd-1234-a.jpg", false, false },
		{ "a.jpg.part", false, false },
		{ "a.jpg.partial", false, false },
		{ "a.jpg.crdownload", false, false },
		{ "a.jpg.tmp", false, false },
		{ "a.jpg.TMP", false, false },
		{ "a.jpg.temp", false, false },
		{ "a.jpg.swp", false, false },
		{ "a.jpg.filepart", false, false },
		{ "a.jpg~", false, false },
		{ "part", true, false },
		{ "raw/a.jpg", true, false },
		{ "sub/raw/a.jpg", true, true },
		{ "a_skip.jpg", true, false },
		{ "sub/a_skip.jpg", true, false },
		{ "", false, false },
	};

	CHECK(w);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (config_watch_wants(w, cases[i].rel) != cases[i].all) {
			fprintf(stderr, "wants(\"%s\") without globs != %d\n",
				cases[i].rel, cases[i].all);
			exit(1);
		}
	}
	CHECK_INT_EQ(config_set(cfg, w, "include", "*.jpg, *.webp", "-", err,
		sizeof(err)), 0);
	CHECK_INT_EQ(config_set(cfg, w, "exclude", "raw/*, *_skip.*", "-", err,
		sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (config_watch_wants(w, cases[i].rel) != cases[i].filtered) {
			fprintf(stderr, "wants(\"%s\") with globs != %d\n",
				cases[i].rel, cases[i].filtered);
			exit(1);
		}
	}
	/* an empty include list means everything again */
	CHECK_INT_EQ(config_set(cfg, w, "include", "", "-", err, sizeof(err)), 0);
	CHECK_INT_EQ(w->n_include, 0);
	CHECK(config_watch_wants(w, "a.png"));
	config_destroy(cfg);
}

int main(void)
{
	const char *srcdir = getenv("THUMBD_SRCDIR");
	const char *t;

	if (!srcdir) {
		SKIP("THUMBD_SRCDIR is not set (run through meson test)");
	}
	snprintf(golden_dir, sizeof(golden_dir), "%s/tests/golden", srcdir);
	t = tl_tmpdir();
	CHECK(realpath(t, tmp_root));
	TL_SH_OK("mkdir -p in/sub in2 in3 out conf");
	CHECK(chdir(tl_path("conf")) == 0);

	test_golden();
	test_set_messages();
	test_units();
	test_cli_precedence();
	test_parse_failure_keeps_config();
	test_lines();
	test_symlinks();
	test_dump();
	test_example(srcdir);
	test_wants();
	fprintf(stderr, "config: all checks passed\n");
	return 0;
}
