#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "spec.h"
#include "thumb.h"

enum {
	RENDER_OPT_FORMAT = 256,
	RENDER_OPT_FIT,
	RENDER_OPT_DETAIL,
	RENDER_OPT_PROGRESSIVE,
	RENDER_OPT_LOSSLESS,
};

static const struct option render_options[] = {
	{ "size", required_argument, NULL, 's' },
	{ "format", required_argument, NULL, RENDER_OPT_FORMAT },
	{ "quality", required_argument, NULL, 'q' },
	{ "fit", required_argument, NULL, RENDER_OPT_FIT },
	{ "detail", required_argument, NULL, RENDER_OPT_DETAIL },
	{ "output", required_argument, NULL, 'o' },
	{ "progressive", no_argument, NULL, RENDER_OPT_PROGRESSIVE },
	{ "lossless", no_argument, NULL, RENDER_OPT_LOSSLESS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void render_usage(FILE *f)
{
	fputs("usage: thumbd render [options] -o OUTDIR FILE...\n"
		"\n"
		"Make thumbnails of each FILE in OUTDIR, in this process, as the\n"
		"daemon would: OUTDIR/NAME_SIZE.EXT (photo.jpg -> photo_256.jpg).\n"
		"\n"
		"  -s, --size N[,N...]     NxN boxes; WxH for other shapes (default 256)\n"
		"      --format F[,F]      jpeg, webp or both (default jpeg)\n"
		"  -q, --quality Q         1-100 (default 85)\n"
		"      --fit contain|cover fit inside the box, or fill it and crop\n"
		"                          (default contain)\n"
		"      --detail fast|fine|auto  JPEG: decode down to the box,\n"
		"                          keep twice the box for the filter, or that\n"
		"                          short of a full-size decode (default auto)\n"
		"      --progressive       progressive JPEG\n"
		"      --lossless          lossless WebP\n"
		"  -o, --output OUTDIR     created if missing\n"
		"  -v, --verbose           one line per written file on stdout\n"
		"  -h, --help              this text\n"
		"\n"
		"Exit status: 0 all written, 1 some file failed, 2 usage error.\n",
		f);
}

static int render_bad(const char *opt, const char *expected, const char *got)
{
	fprintf(stderr, "thumbd: render: %s: expected %s, got \"%s\"\n", opt,
		expected, log_path(got));
	return -EINVAL;
}

/* One of the @n @names (exactly) into *@out, its index. */
static int render_name(const char *const *names, uint32_t n, const char *opt,
		const char *expected, const char *s, uint32_t *out)
{
	int i = spec_name_index(names, n, s, false);
	if (i < 0) {
		return render_bad(opt, expected, s);
	}
	*out = (uint32_t)i;
	return 0;
}

/* A decimal in [lo, hi], the whole string. */
static bool render_uint(const char *s, unsigned long lo, unsigned long hi,
		char **end, unsigned long *v)
{
	char *e;
	unsigned long n;

	if (*s < '0' || *s > '9') {
		return false;
	}
	errno = 0;
	n = strtoul(s, &e, 10);
	if (errno || n < lo || n > hi) {
		return false;
	}
	if (end) {
		*end = e;
	} else if (*e) {
		return false;
	}
	*v = n;
	return true;
}

/* "256" or "1024x768" */
static bool render_one_size(const char *s, struct thumb_size *out)
{
	unsigned long w, h;
	char *e;

	if (!render_uint(s, 1, 65535, &e, &w)) {
		return false;
	}
	if (*e == '\0') {
		h = w;
	} else if (*e != 'x' || !render_uint(e + 1, 1, 65535, NULL, &h)) {
		return false;
	}
	out->width = (uint32_t)w;
	out->height = (uint32_t)h;
	return true;
}

/* Each -s adds to the list; the default 256 only holds without any -s. */
static int render_sizes(struct thumb_spec *spec, bool *given, const char *arg)
{
	static const char expected[] =
		"a comma-separated list of N or WxH, sides 1-65535";
	char buf[256];
	char *save = NULL, *tok;

	if (strlen(arg) >= sizeof(buf)) {
		return render_bad("--size", expected, arg);
	}
	strcpy(buf, arg);
	if (!*given) {
		spec->n_sizes = 0;
		*given = true;
	}
	tok = strtok_r(buf, ",", &save);
	if (!tok) {
		return render_bad("--size", expected, arg);
	}
	for (; tok; tok = strtok_r(NULL, ",", &save)) {
		struct thumb_size sz;
		if (!render_one_size(tok, &sz)) {
			return render_bad("--size", expected, arg);
		}
		if (spec->n_sizes >= THUMB_MAX_SIZES) {
			return render_bad("--size", "at most 8 sizes", arg);
		}
		spec->sizes[spec->n_sizes++] = sz;
	}
	return 0;
}

static int render_formats(struct thumb_spec *spec, const char *arg)
{
	static const char expected[] = "jpeg, webp or jpeg,webp";
	char buf[64];
	char *save = NULL, *tok;
	uint32_t f = 0;

	if (strlen(arg) >= sizeof(buf)) {
		return render_bad("--format", expected, arg);
	}
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok;
			tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "jpeg") == 0 || strcmp(tok, "jpg") == 0) {
			f |= THUMB_FORMAT_JPEG;
		} else if (strcmp(tok, "webp") == 0) {
			f |= THUMB_FORMAT_WEBP;
		} else {
			return render_bad("--format", expected, arg);
		}
	}
	if (!f) {
		return render_bad("--format", expected, arg);
	}
	spec->formats = f;
	return 0;
}

struct render_args {
	struct thumb_spec spec;
	const char *outdir;
	bool verbose;
};

static int render_option(struct render_args *a, int c, bool *sizes_given)
{
	unsigned long v;

	switch (c) {
	case 's':
		return render_sizes(&a->spec, sizes_given, optarg);
	case RENDER_OPT_FORMAT:
		return render_formats(&a->spec, optarg);
	case 'q':
		if (!render_uint(optarg, 1, 100, NULL, &v)) {
			return render_bad("--quality", "an integer 1-100", optarg);
		}
		a->spec.quality = (uint32_t)v;
		return 0;
	case RENDER_OPT_FIT:
		return render_name(thumb_fit_names, THUMB_FIT_N, "--fit",
			"contain or cover", optarg, &a->spec.fit);
	case RENDER_OPT_DETAIL:
		return render_name(thumb_detail_names, THUMB_DETAIL_N,
			"--detail", "fast, fine or auto", optarg, &a->spec.detail);
	case 'o':
		a->outdir = optarg;
		return 0;
	case RENDER_OPT_PROGRESSIVE:
		a->spec.progressive = true;
		return 0;
	case RENDER_OPT_LOSSLESS:
		a->spec.webp_lossless = true;
		return 0;
	case 'v':
		a->verbose = true;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Returns 1 after --help, 0 when the files start at argv[optind], or
 * -EINVAL after printing why.
 */
static int render_parse(int argc, char **argv, struct render_args *a)
{
	bool sizes_given = false;
	const char *why;
	int c;

	spec_init_default(&a->spec);
	/* we print our own messages; 0 also resets GNU getopt's state */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":s:q:o:vh", render_options,
			NULL)) != -1) {
		if (c == 'h') {
			render_usage(stdout);
			return 1;
		}
		if (c == ':') {
			fprintf(stderr, "thumbd: render: %s: needs a value\n",
				log_path(argv[optind - 1]));
			return -EINVAL;
		}
		if (c == '?') {
			/* optopt names a short option; a long one is in argv */
			if (optopt > ' ' && optopt < 127) {
				fprintf(stderr, "thumbd: render: -%c: unknown option\n",
					optopt);
			} else {
				fprintf(stderr, "thumbd: render: %s: unknown option\n",
					log_path(argv[optind - 1]));
			}
			return -EINVAL;
		}
		if (render_option(a, c, &sizes_given) < 0) {
			return -EINVAL;
		}
	}
	if (!a->outdir || !*a->outdir) {
		fprintf(stderr, "thumbd: render: -o OUTDIR is required\n");
		return -EINVAL;
	}
	if (optind >= argc) {
		fprintf(stderr, "thumbd: render: no input file given\n");
		return -EINVAL;
	}
	if (spec_validate(&a->spec, &why) < 0) {
		fprintf(stderr, "thumbd: render: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

/* mkdir -p: each missing parent, then the folder itself. */
static int render_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf)) {
		return -ENAMETOOLONG;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/') {
			continue;
		}
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

/*
 * One input: its folder is the input root and its name the relative path,
 * so the thumbnails land directly in OUTDIR and a symbolic link given as
 * FILE is refused just as the daemon would refuse it.
 */
static bool render_file(struct thumb_ctx *ctx, const struct render_args *a,
		const char *path)
{
	char root[PATH_MAX];
	char rel[PATH_MAX];
	struct thumb_result res;
	struct thumb_job job = { .out_root = a->outdir, .spec = &a->spec };
	size_t len = strlen(path);
	const char *slash;

	while (len > 1 && path[len - 1] == '/') {
		len--;
	}
	if (len >= sizeof(rel)) {
		fprintf(stderr, "thumbd: render: failed %s: path too long\n",
			log_path(path));
		return false;
	}
	memcpy(rel, path, len);
	rel[len] = '\0';
	slash = strrchr(rel, '/');
	if (!slash) {
		strcpy(root, ".");
		job.rel = rel;
	} else {
		size_t rlen = slash == rel ? 1 : (size_t)(slash - rel);
		memcpy(root, rel, rlen);
		root[rlen] = '\0';
		job.rel = slash + 1;
	}
	job.in_root = root;
	if (thumb_render(ctx, &job, &res) < 0) {
		fprintf(stderr, "thumbd: render: failed %s: %s\n", log_path(path),
			res.error);
		return false;
	}
	if (a->verbose) {
		printf("%s: %ux%u, %u outputs, %llu bytes, %.2f ms (read %.2f,"
			" decode %.2f, resize %.2f, encode %.2f, write %.2f)\n",
			log_path(path), res.src_width, res.src_height, res.outputs,
			(unsigned long long)res.bytes_out,
			(double)(res.read_ns + res.decode_ns + res.resize_ns +
				res.encode_ns + res.write_ns) / 1e6,
			(double)res.read_ns / 1e6, (double)res.decode_ns / 1e6,
			(double)res.resize_ns / 1e6, (double)res.encode_ns / 1e6,
			(double)res.write_ns / 1e6);
	}
	return true;
}

int render_main(int argc, char **argv)
{
	struct render_args a = { 0 };
	struct thumb_ctx *ctx;
	int r, failed = 0;

	r = render_parse(argc, argv, &a);
	if (r != 0) {
		if (r < 0) {
			fprintf(stderr, "Try 'thumbd render --help'.\n");
		}
		return r > 0 ? 0 : 2;
	}
	r = render_mkdirs(a.outdir);
	if (r < 0) {
		fprintf(stderr, "thumbd: render: cannot create %s: %s\n",
			log_path(a.outdir), strerror(-r));
		return 1;
	}
	ctx = thumb_ctx_create();
	if (!ctx) {
		fprintf(stderr, "thumbd: render: out of memory\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		if (!render_file(ctx, &a, argv[i])) {
			failed++;
		}
	}
	thumb_ctx_destroy(ctx);
	return failed ? 1 : 0;
}
