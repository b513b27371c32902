/*
 * bench-floor: the decoder floor for scripts/bench.
 *
 * Decodes each input with libjpeg-turbo at the largest DCT scale (1/1, 1/2,
 * 1/4, 1/8) whose output keeps the long side >= the box, and does nothing
 * else: no resize, no encode, no write. Any thumbnailer that decodes with
 * libjpeg-turbo must at least do this much work, so its img/s is the ceiling
 * a thumbnailer can approach (or pass, for progressive files, by reading
 * fewer scans).
 *
 * With -w N it forks N processes that take the next file from a shared
 * counter (an atomic in a MAP_SHARED page), so a process that drew cheap
 * files takes more of them and all finish together, as a job queue would.
 * Each process reuses one decompress object and one row buffer, as a
 * long-lived worker would. WebP files (when built with -DFLOOR_WEBP and
 * libwebp) are decoded at full size into a reused buffer.
 *
 *   bench-floor [-w N] [-s BOX] [-v] (-l LISTFILE | FILE...)
 *
 * Prints "files=N ok=N failed=N seconds=S img_per_s=R" on stdout; exits 1
 * if any file failed to decode.
 *
 * Build: cc -O2 -o bench-floor bench-floor.c $(pkg-config --cflags --libs libjpeg)
 *        (add -DFLOOR_WEBP $(pkg-config --cflags --libs libwebp) for WebP)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#ifdef FLOOR_WEBP
#include <webp/decode.h>
#endif

struct floor_err {
	struct jpeg_error_mgr mgr;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static int verbose;

static void floor_error_exit(j_common_ptr cinfo)
{
	struct floor_err *e = (struct floor_err *)cinfo->err;

	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jb, 1);
}

static void floor_output_message(j_common_ptr cinfo)
{
	(void)cinfo; /* warnings (corrupt data etc.) are not our business */
}

/* Read the whole file into *buf (grown as needed). Returns size or -errno. */
static long floor_read_file(const char *path, unsigned char **buf, size_t *cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t off = 0;

	if (fd < 0) {
		return -errno;
	}
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		close(fd);
		return -EINVAL;
	}
	if ((size_t)st.st_size > *cap) {
		unsigned char *nb = realloc(*buf, (size_t)st.st_size);

		if (nb == NULL) {
			close(fd);
			return -ENOMEM;
		}
		*buf = nb;
		*cap = (size_t)st.st_size;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			close(fd);
			return n < 0 ? -errno : -EIO;
		}
		off += (size_t)n;
	}
	close(fd);
	return (long)off;
}

struct floor_state {
	struct jpeg_decompress_struct cinfo;
	struct floor_err err;
	unsigned char *file;
	size_t file_cap;
	unsigned char *rows;
	size_t rows_cap;
	int box;
};

static int floor_decode_jpeg(struct floor_state *fs, const char *path, long len)
{
	struct jpeg_decompress_struct *ci = &fs->cinfo;
	static const int denoms[] = { 8, 4, 2, 1 };
	JSAMPROW rowp[16];
	size_t stride;

	if (setjmp(fs->err.jb)) {
		if (verbose) {
			fprintf(stderr, "bench-floor: %s: %s\n", path, fs->err.msg);
		}
		jpeg_abort_decompress(ci);
		return -1;
	}
	jpeg_mem_src(ci, fs->file, (unsigned long)len);
	jpeg_read_header(ci, TRUE);
	/* Largest reduction that still leaves the long side >= box. */
	for (size_t i = 0; i < sizeof(denoms) / sizeof(denoms[0]); i++) {
		ci->scale_num = 1;
		ci->scale_denom = (unsigned)denoms[i];
		jpeg_calc_output_dimensions(ci);
		unsigned long longest = ci->output_width > ci->output_height ?
			ci->output_width : ci->output_height;
		if (longest >= (unsigned long)fs->box || denoms[i] == 1) {
			break;
		}
	}
	jpeg_start_decompress(ci);
	stride = (size_t)ci->output_width * (size_t)ci->output_components;
	size_t need = stride * (size_t)ci->rec_outbuf_height;
	if (need > fs->rows_cap) {
		unsigned char *nb = realloc(fs->rows, need);

		if (nb == NULL) {
			jpeg_abort_decompress(ci);
			return -1;
		}
		fs->rows = nb;
		fs->rows_cap = need;
	}
	for (int i = 0; i < ci->rec_outbuf_height && i < 16; i++) {
		rowp[i] = fs->rows + (size_t)i * stride;
	}
	while (ci->output_scanline < ci->output_height) {
		jpeg_read_scanlines(ci, rowp, (JDIMENSION)ci->rec_outbuf_height);
	}
	jpeg_finish_decompress(ci);
	return 0;
}

#ifdef FLOOR_WEBP
static int floor_decode_webp(struct floor_state *fs, const char *path, long len)
{
	int w, h;

	if (!WebPGetInfo(fs->file, (size_t)len, &w, &h)) {
		if (verbose) {
			fprintf(stderr, "bench-floor: %s: not a WebP file\n", path);
		}
		return -1;
	}
	size_t need = (size_t)w * (size_t)h * 3;
	if (need > fs->rows_cap) {
		unsigned char *nb = realloc(fs->rows, need);

		if (nb == NULL) {
			return -1;
		}
		fs->rows = nb;
		fs->rows_cap = need;
	}
	if (WebPDecodeRGBInto(fs->file, (size_t)len, fs->rows, need,
			w * 3) == NULL) {
		if (verbose) {
			fprintf(stderr, "bench-floor: %s: WebP decode failed\n", path);
		}
		return -1;
	}
	return 0;
}
#endif

/* Decode the files the shared @next hands out. Returns the failures. */
static int floor_run(char **files, int n, int *next, int box)
{
	struct floor_state fs;
	int failed = 0;

	memset(&fs, 0, sizeof(fs));
	fs.box = box;
	fs.cinfo.err = jpeg_std_error(&fs.err.mgr);
	fs.err.mgr.error_exit = floor_error_exit;
	fs.err.mgr.output_message = floor_output_message;
	jpeg_create_decompress(&fs.cinfo);
	for (;;) {
		int i = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
		if (i >= n) {
			break;
		}
		long len = floor_read_file(files[i], &fs.file, &fs.file_cap);

		if (len < 4) {
			if (verbose) {
				fprintf(stderr, "bench-floor: %s: cannot read\n", files[i]);
			}
			failed++;
			continue;
		}
		if (fs.file[0] == 0xFF && fs.file[1] == 0xD8) {
			failed += floor_decode_jpeg(&fs, files[i], len) != 0;
		} else if (len >= 12 && memcmp(fs.file, "RIFF", 4) == 0 &&
				memcmp(fs.file + 8, "WEBP", 4) == 0) {
#ifdef FLOOR_WEBP
			failed += floor_decode_webp(&fs, files[i], len) != 0;
#else
			failed++;
#endif
		} else {
			failed++;
		}
	}
	jpeg_destroy_decompress(&fs.cinfo);
	free(fs.file);
	free(fs.rows);
	return failed;
}

/* Read one path per line from @path into a NULL-terminated array. */
static char **floor_read_list(const char *path, int *count)
{
	FILE *f = fopen(path, "re");
	char **v = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;

	if (f == NULL) {
		return NULL;
	}
	while ((len = getline(&line, &lcap, f)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
			line[--len] = '\0';
		}
		if (len == 0) {
			continue;
		}
		if (n + 1 >= cap) {
			cap = cap ? cap * 2 : 1024;
			char **nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				exit(2);
			}
			v = nv;
		}
		v[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
	}
	v[n] = NULL;
	*count = (int)n;
	return v;
}

static double floor_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int workers = 1, box = 256, n = 0, opt, failed = 0;
	const char *list = NULL;
	char **files;

	while ((opt = getopt(argc, argv, "w:s:l:v")) != -1) {
		switch (opt) {
		case 'w': workers = atoi(optarg); break;
		case 's': box = atoi(optarg); break;
		case 'l': list = optarg; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: bench-floor [-w N] [-s BOX] [-v] "
				"(-l LISTFILE | FILE...)\n");
			return 2;
		}
	}
	if (workers < 1 || box < 1) {
		fprintf(stderr, "bench-floor: bad -w or -s\n");
		return 2;
	}
	if (list != NULL) {
		files = floor_read_list(list, &n);
		if (files == NULL) {
			perror(list);
			return 2;
		}
	} else {
		files = argv + optind;
		n = argc - optind;
	}

	int *next = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (next == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	*next = 0;
	double t0 = floor_now();
	if (workers == 1) {
		failed = floor_run(files, n, next, box);
	} else {
		for (int k = 0; k < workers; k++) {
			pid_t pid = fork();

			if (pid < 0) {
				perror("fork");
				return 2;
			}
			if (pid == 0) {
				int f = floor_run(files, n, next, box);
				_exit(f > 255 ? 255 : f);
			}
		}
		int status;
		while (wait(&status) > 0) {
			if (WIFEXITED(status)) {
				failed += WEXITSTATUS(status);
			} else {
				failed++;
			}
		}
	}
	double dt = floor_now() - t0;
	printf("files=%d ok=%d failed=%d seconds=%.4f img_per_s=%.1f\n", n,
		n - failed, failed, dt, dt > 0 ? (n - failed) / dt : 0.0);
	return failed ? 1 : 0;
}
