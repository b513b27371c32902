/*
 * Unit tests for common/safeio.c: inputs opened beneath their root only
 * (symbolic links, "..", absolute paths refused, both through openat2 and
 * through the per-component fallback), special files refused without
 * blocking, the size limit, a file changing while read, and output
 * folders created beneath their root.
 */

#include "testlib.h"

#include <signal.h>
#include <time.h>

#include "safeio.h"

static int root_fd(void)
{
	int fd = open(tl_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

/* The tree every case looks at, inside the test's folder. */
static void make_tree(void)
{
	TL_SH_OK("mkdir -p in/sub/deeper out outside && "
		"printf 'hello' > in/a.jpg && printf 'deep' > in/sub/deeper/d.jpg && "
		"printf 'secret' > outside/s.jpg && "
		"ln -s a.jpg in/link.jpg && ln -s ../outside in/escape && "
		"ln -s sub in/sublink && ln -s /etc/passwd in/abs.jpg && "
		"mkfifo in/fifo.jpg && mkdir in/dir.jpg && "
		"ln -s in rootlink");
}

static void test_read_ok(void)
{
	struct safeio_buf buf = { 0 };
	struct stat st;
	char err[128] = "";
	uint8_t *first;

	CHECK_INT_EQ(safeio_read_file(tl_path("in"), "a.jpg", 100, &buf, &st,
		err, sizeof(err)), 0);
	CHECK_INT_EQ(buf.len, 5);
	CHECK(memcmp(buf.data, "hello", 5) == 0);
	CHECK_INT_EQ(st.st_size, 5);
	CHECK(S_ISREG(st.st_mode));
	/* the buffer is kept: a smaller file reuses it */
	first = buf.data;
	CHECK_INT_EQ(safeio_read_file(tl_path("in"), "sub/deeper/d.jpg", 100,
		&buf, &st, err, sizeof(err)), 0);
	CHECK(buf.data == first);
	CHECK_INT_EQ(buf.len, 4);
	CHECK(memcmp(buf.data, "deep", 4) == 0);
	/* "." components and doubled slashes are harmless */
	CHECK_INT_EQ(safeio_read_file(tl_path("in"), "./sub//deeper/./d.jpg",
		100, &buf, &st, err, sizeof(err)), 0);
	/* the root itself may be reached through a link: it is configuration */
	CHECK_INT_EQ(safeio_read_file(tl_path("rootlink"), "a.jpg", 100, &buf,
		&st, err, sizeof(err)), 0);
	/* an empty file is read, not refused here */
	TL_SH_OK(": > in/empty.jpg");
	CHECK_INT_EQ(safeio_read_file(tl_path("in"), "empty.jpg", 100, &buf,
		&st, err, sizeof(err)), 0);
	CHECK_INT_EQ(buf.len, 0);
	safeio_buf_finish(&buf);
	CHECK(buf.data == NULL && buf.cap == 0);
}

struct refuse_case {
	const char *rel;
	int want;
	const char *reason;
};

static const struct refuse_case refuse_cases[] = {
	{ "link.jpg", -ELOOP, "symbolic link" },
	{ "abs.jpg", -ELOOP, "symbolic link" },
	{ "escape/s.jpg", -ELOOP, "symbolic link" },
	{ "sublink/deeper/d.jpg", -ELOOP, "symbolic link" },
	{ "../outside/s.jpg", -EXDEV, "outside" },
	{ "sub/../../outside/s.jpg", -EXDEV, "outside" },
	{ "/etc/passwd", -EXDEV, "outside" },
	{ "missing.jpg", -ENOENT, "no such file" },
	{ "a.jpg/x", -ENOTDIR, "not a folder" },
	{ "fifo.jpg", -EINVAL, "not a regular file (a FIFO)" },
	{ "dir.jpg", -EINVAL, "not a regular file (a folder)" },
	{ "sub", -EINVAL, "not a regular file" },
};

static void test_refused(void)
{
	struct safeio_buf buf = { 0 };
	struct stat st;
	char err[128];

	/* a FIFO that blocked would hang here: the alarm turns that into a failure */
	alarm(20);
	for (size_t i = 0; i < sizeof(refuse_cases) / sizeof(refuse_cases[0]); i++) {
		const struct refuse_case *c = &refuse_cases[i];
		err[0] = '\0';
		int r = safeio_read_file(tl_path("in"), c->rel, 100, &buf, &st, err,
			sizeof(err));
		if (r != c->want || !strstr(err, c->reason)) {
			fprintf(stderr, "%s: got %d \"%s\", want %d \"%s\"\n", c->rel,
				r, err, c->want, c->reason);
			exit(1);
		}
	}
	CHECK_INT_EQ(safeio_read_file(tl_path("in"), "a.jpg", 4, &buf, &st, err,
		sizeof(err)), -E2BIG);
	CHECK_STR_CONTAINS(err, "file is 5 bytes, over max_file_size 4");
	CHECK_INT_EQ(safeio_read_file(tl_path("nope"), "a.jpg", 4, &buf, &st,
		err, sizeof(err)), -ENOENT);
	CHECK_STR_CONTAINS(err, "input folder");
	alarm(0);
	safeio_buf_finish(&buf);
}

/* The fallback walk and openat2 agree on every case. */
static void test_walk(void)
{
	int root = root_fd();
	int fd = -1;

	for (size_t i = 0; i < sizeof(refuse_cases) / sizeof(refuse_cases[0]); i++) {
		const struct refuse_case *c = &refuse_cases[i];
		char rel[256];
		int want = c->want == -EINVAL ? 0 : c->want;
		snprintf(rel, sizeof(rel), "in/%s", c->rel);
		if (c->rel[0] == '/') {
			snprintf(rel, sizeof(rel), "%s", c->rel);
		}
		for (int walk = 0; walk < 2; walk++) {
			int r = walk ?
				safeio_open_walk(root, rel, O_RDONLY | O_NONBLOCK, &fd) :
				safeio_openat(root, rel, O_RDONLY | O_NONBLOCK, &fd);
			if (r != want) {
				fprintf(stderr, "%s (%s): got %d, want %d\n", rel,
					walk ? "walk" : "openat2", r, want);
				exit(1);
			}
			if (r == 0) {
				CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
				close(fd);
			}
		}
	}
	CHECK_INT_EQ(safeio_open_walk(root, "in/sub/deeper/d.jpg", O_RDONLY, &fd), 0);
	char got[8] = "";
	CHECK_INT_EQ(read(fd, got, sizeof(got)), 4);
	CHECK(memcmp(got, "deep", 4) == 0);
	close(fd);
	CHECK_INT_EQ(safeio_open_walk(root, ".", O_RDONLY | O_DIRECTORY, &fd), 0);
	close(fd);
	close(root);
}

/*
 * A writer appends to a file as fast as it can: some reads must see the
 * change and say so, and every read that succeeds must be a consistent
 * snapshot (its length is what fstat said before and after).
 */
static void test_changing(void)
{
	struct safeio_buf buf = { 0 };
	struct stat st;
	char err[128];
	int stale = 0, ok = 0;
	pid_t pid;

	TL_SH_OK("head -c 4000000 /dev/zero > in/grow.jpg");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(tl_path("in/grow.jpg"), O_WRONLY | O_APPEND);
		for (;;) {
			if (write(fd, "x", 1) != 1) {
				_exit(1);
			}
		}
	}
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int r = safeio_read_file(tl_path("in"), "grow.jpg", 1u << 30, &buf,
			&st, err, sizeof(err));
		if (r == -ESTALE) {
			CHECK_STR_CONTAINS(err, "changed while being read");
			stale++;
		} else {
			CHECK_INT_EQ(r, 0);
			CHECK_INT_EQ((long long)buf.len, (long long)st.st_size);
			ok++;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (stale < 3 && now.tv_sec - t0.tv_sec < 10);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fprintf(stderr, "changing file: %d stale, %d consistent reads\n", stale, ok);
	CHECK(stale >= 1);
	safeio_buf_finish(&buf);
}

static void test_outdir(void)
{
	char err[128];
	struct stat st;
	int fd = -1;

	umask(022);
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "a/b/c", &fd, err,
		sizeof(err)), 0);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	int f = openat(fd, "probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(f >= 0);
	close(f);
	CHECK(fsync(fd) == 0);
	close(fd);
	CHECK(stat(tl_path("out/a/b/c/probe"), &st) == 0);
	CHECK(stat(tl_path("out/a/b"), &st) == 0);
	CHECK_INT_EQ(st.st_mode & 07777, 0755);
	/* existing folders, the root itself, "." parts */
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "a/b", &fd, err,
		sizeof(err)), 0);
	close(fd);
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "", &fd, err,
		sizeof(err)), 0);
	close(fd);
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "./a/./x", &fd, err,
		sizeof(err)), 0);
	close(fd);
	CHECK(stat(tl_path("out/a/x"), &st) == 0);
	/* a link planted in the output tree is not followed */
	TL_SH_OK("ln -s ../outside out/evil");
	fd = -1;
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "evil/new", &fd, err,
		sizeof(err)), -ELOOP);
	CHECK_INT_EQ(fd, -1);
	CHECK_STR_CONTAINS(err, "symbolic link");
	CHECK(stat(tl_path("outside/new"), &st) < 0);
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "../outside/x", &fd, err,
		sizeof(err)), -EXDEV);
	CHECK(stat(tl_path("outside/x"), &st) < 0);
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "/tmp", &fd, err,
		sizeof(err)), -EXDEV);
	/* a file in the way */
	TL_SH_OK("touch out/file");
	CHECK_INT_EQ(safeio_open_outdir(tl_path("out"), "file/x", &fd, err,
		sizeof(err)), -ENOTDIR);
	CHECK_STR_CONTAINS(err, "cannot create the output folder");
	CHECK_INT_EQ(safeio_open_outdir(tl_path("missing"), "x", &fd, err,
		sizeof(err)), -ENOENT);
	CHECK_STR_CONTAINS(err, "output folder");
}

int main(void)
{
	make_tree();
	test_read_ok();
	test_refused();
	test_walk();
	test_changing();
	test_outdir();
	return 0;
}
