#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "log.h"
#include "master.h"
#include "render.h"
#include "worker.h"

enum {
	OPT_FORMAT = 256,
	OPT_FIT,
	OPT_DETAIL,
	OPT_ONCE,
	OPT_STATS_INTERVAL,
	OPT_QUIET,
	OPT_NO_AFFINITY,
	OPT_VERSION,
};

static const struct option main_long[] = {
	{ "input", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "sizes", required_argument, NULL, 's' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "quality", required_argument, NULL, 'q' },
	{ "fit", required_argument, NULL, OPT_FIT },
	{ "detail", required_argument, NULL, OPT_DETAIL },
	{ "workers", required_argument, NULL, 'w' },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "config", required_argument, NULL, 'c' },
	{ "check", no_argument, NULL, 'n' },
	{ "no-cpu-affinity", no_argument, NULL, OPT_NO_AFFINITY },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void main_usage(FILE *f)
{
	fprintf(f,
"Usage: thumbd -i DIR -o DIR [options]     watch DIR, write thumbnails\n"
"       thumbd -c FILE [options]           watch the folders of a config file\n"
"       thumbd render [options] -o DIR FILE...   thumbnail files once\n"
"\n"
"  -i, --input DIR          drop folder to watch (with -o: the watch \"default\")\n"
"  -o, --output DIR         folder for the thumbnails\n"
"  -s, --sizes N[,N...]     boxes, e.g. 256 or 128,1024x768 (default 256)\n"
"      --format F           jpeg, webp or jpeg,webp (default jpeg)\n"
"  -q, --quality Q          encoder quality 1-100 (default 85); note: -q is\n"
"                           quality, as in thumbd render; --quiet is quiet\n"
"      --fit contain|cover  fit inside the box, or fill it and crop\n"
"      --detail fast|fine|auto  JPEG: decode down to the box (fast), keep\n"
"                           twice the box for the filter (fine), or fine\n"
"                           short of a full-size decode (auto, default)\n"
"  -w, --workers N          worker processes (default: one per online CPU)\n"
"      --once               process what is missing or out of date, then exit\n"
"                           (status 0 if all succeeded, 1 if any failed)\n"
"      --stats-interval SEC stats lines every SEC seconds (default 10, 0 = off)\n"
"  -v, --verbose            log debug messages\n"
"      --quiet              log warnings and errors only\n"
"  -c, --config FILE        read FILE (see thumbd.conf(5)); options given here\n"
"                           override it: -s, --format, -q, --fit and\n"
"                           --detail apply to every watch. With neither -c\n"
"                           nor -i, the installed\n"
"                           " CONFIG_DEFAULT_PATH " is read\n"
"  -n, --check              check the configuration, print it, exit\n"
"      --no-cpu-affinity    do not pin worker N to CPU N\n"
"      --version            print the version\n"
"  -h, --help               this help\n"
"\n"
"Signals: TERM/INT stop after the jobs in flight, HUP reloads -c FILE,\n"
"USR1 logs stats now.\n");
}

static int main_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int main_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "thumbd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'thumbd --help' for more information.\n");
	return 2;
}

static int main_add(struct master_opts *o, const char *key, const char *value,
		const char *origin, bool watch)
{
	if (o->n_ov >= MASTER_MAX_OVERRIDES) {
		return main_usage_error("too many options");
	}
	/* an option given twice: the last one wins, as usual */
	for (uint32_t i = 0; i < o->n_ov; i++) {
		if (strcmp(o->ov[i].key, key) == 0 && o->ov[i].watch == watch) {
			o->ov[i].value = value;
			o->ov[i].origin = origin;
			return 0;
		}
	}
	o->ov[o->n_ov++] = (struct master_override){ key, value, origin, watch };
	return 0;
}

/* Check every option value on a scratch config, so a bad value is a usage
 * error (status 2) with the same message the config file would give. */
static int main_check_values(const struct master_opts *o)
{
	struct config *cfg = config_create();
	struct config_watch *w = cfg ? config_add_watch(cfg, "cli") : NULL;
	char err[512];
	int status = 0;

	if (!w) {
		fprintf(stderr, "thumbd: out of memory\n");
		config_destroy(cfg);
		return 1;
	}
	for (uint32_t i = 0; i < o->n_ov && status == 0; i++) {
		const struct master_override *ov = &o->ov[i];
		if (config_set(cfg, ov->watch ? w : NULL, ov->key, ov->value,
				ov->origin, err, sizeof(err)) < 0) {
			status = main_usage_error("%s", err);
		}
	}
	config_destroy(cfg);
	return status;
}

static int main_parse(int argc, char **argv, struct master_opts *o, bool *check)
{
	int c, r = 0;

	opterr = 0;
	while (r == 0 && (c = getopt_long(argc, argv, ":i:o:s:q:w:vc:nh",
			main_long, NULL)) != -1) {
		switch (c) {
		case 'i': o->input = optarg; break;
		case 'o': o->output = optarg; break;
		case 's': r = main_add(o, "sizes", optarg, "--sizes", true); break;
		case OPT_FORMAT: r = main_add(o, "format", optarg, "--format", true); break;
		case 'q': r = main_add(o, "quality", optarg, "--quality", true); break;
		case OPT_FIT: r = main_add(o, "fit", optarg, "--fit", true); break;
		case OPT_DETAIL: r = main_add(o, "detail", optarg, "--detail", true); break;
		case 'w': r = main_add(o, "workers", optarg, "--workers", false); break;
		case OPT_ONCE: o->once = true; break;
		case OPT_STATS_INTERVAL:
			r = main_add(o, "stats_interval", optarg, "--stats-interval", false);
			break;
		case 'v': r = main_add(o, "log_level", "debug", "--verbose", false); break;
		case OPT_QUIET: r = main_add(o, "log_level", "warning", "--quiet", false); break;
		case 'c': o->config_path = optarg; break;
		case 'n': *check = true; break;
		case OPT_NO_AFFINITY:
			r = main_add(o, "cpu_affinity", "no", "--no-cpu-affinity", false);
			break;
		case OPT_VERSION:
			printf("thumbd %s\n", THUMBD_VERSION);
			exit(0);
		case 'h':
			main_usage(stdout);
			exit(0);
		case ':':
			return main_usage_error("option %s needs a value",
				argv[optind - 1]);
		default:
			return main_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (r != 0) {
		return r;
	}
	if (optind < argc) {
		return main_usage_error("unexpected argument \"%s\"", argv[optind]);
	}
	if (!o->input != !o->output) {
		return main_usage_error("%s", o->input ?
			"-i needs -o: where do the thumbnails go?" :
			"-o needs -i: which folder is watched?");
	}
	if (!o->input && !o->config_path) {
		/* like other Debian daemons: no arguments means the installed
		 * configuration, when there is one */
		if (access(CONFIG_DEFAULT_PATH, F_OK) == 0) {
			o->config_path = CONFIG_DEFAULT_PATH;
		} else {
			return main_usage_error("nothing to watch: give -i DIR -o DIR, "
				"or -c FILE (%s does not exist)", CONFIG_DEFAULT_PATH);
		}
	}
	return main_check_values(o);
}

int main(int argc, char **argv)
{
	struct master_opts o;
	struct config *cfg = NULL;
	char err[1024];
	bool check = false;

	if (argc >= 2 && strcmp(argv[1], "--worker") == 0) {
		return worker_main(argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "render") == 0) {
		return render_main(argc - 1, argv + 1);
	}
	log_init();
	memset(&o, 0, sizeof(o));
	int r = main_parse(argc, argv, &o, &check);
	if (r != 0) {
		return r;
	}
	if (master_load_config(&o, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "thumbd: %s\n", err);
		return 1;
	}
	if (check) {
		r = config_dump(cfg, stdout) < 0 || fflush(stdout) != 0;
		config_destroy(cfg);
		if (r) {
			fprintf(stderr, "thumbd: cannot print the configuration\n");
		}
		return r ? 1 : 0;
	}
	return master_run(&o, cfg);
}
