/*
 * Unit tests for common/atomic.c: a write either leaves the complete new
 * file under its name or changes nothing, and never leaves a temp file,
 * whether the failure is a file size limit (EFBIG), a full file system
 * (ENOSPC, on a tiny tmpfs in a private mount namespace) or a rename that
 * cannot happen. Tests run as root, so permission bits cannot make a
 * write fail; these failures do.
 */

#include "testlib.h"

#include <dirent.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "atomic.h"

static int count_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL);
	while ((e = readdir(d))) {
		if (atomic_is_temp(e->d_name)) {
			n++;
		}
	}
	closedir(d);
	return n;
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static void check_content(const char *path, const void *data, size_t len)
{
	size_t n = 0;
	uint8_t *got = tl_read(path, &n);
	CHECK(got != NULL);
	CHECK_INT_EQ(n, len);
	CHECK(len == 0 || memcmp(got, data, len) == 0);
	free(got);
}

static void test_basic(void)
{
	const char *dir = tl_path("basic");
	char name[NAME_MAX + 1];
	struct stat st;
	int fd;

	CHECK(mkdir(dir, 0755) == 0);
	fd = open_dir(dir);
	umask(022);
	CHECK_INT_EQ(atomic_write(fd, "a.jpg", "first", 5, false), 0);
	check_content(tl_path("basic/a.jpg"), "first", 5);
	CHECK(stat(tl_path("basic/a.jpg"), &st) == 0);
	CHECK_INT_EQ(st.st_mode & 07777, 0644);
	/* replaced whole, durable this time */
	CHECK_INT_EQ(atomic_write(fd, "a.jpg", "second!", 7, true), 0);
	check_content(tl_path("basic/a.jpg"), "second!", 7);
	CHECK_INT_EQ(atomic_write(fd, "empty", "", 0, false), 0);
	check_content(tl_path("basic/empty"), "", 0);
	/* a final name at NAME_MAX still gets a (shortened) temp name */
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	CHECK_INT_EQ(atomic_write(fd, name, "long", 4, false), 0);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	check_content(path, "long", 4);
	/* names that are not one file name */
	CHECK_INT_EQ(atomic_write(fd, "", "x", 1, false), -EINVAL);
	CHECK_INT_EQ(atomic_write(fd, "sub/x", "x", 1, false), -EINVAL);
	CHECK_INT_EQ(atomic_write(-1, "x", "x", 1, false), -EBADF);
	CHECK_INT_EQ(count_temps(dir), 0);
	/* a big write goes through the loop whole */
	size_t big = 8u << 20;
	uint8_t *data = malloc(big);
	CHECK(data != NULL);
	for (size_t i = 0; i < big; i++) {
		data[i] = (uint8_t)(i * 7 + (i >> 13));
	}
	CHECK_INT_EQ(atomic_write(fd, "big", data, big, false), 0);
	check_content(tl_path("basic/big"), data, big);
	free(data);
	close(fd);
}

static void test_is_temp(void)
{
	CHECK(atomic_is_temp(".thumbd-a.jpg.abcdefgh"));
	CHECK(atomic_is_temp(ATOMIC_TMP_PREFIX));
	CHECK(!atomic_is_temp("a.jpg"));
	CHECK(!atomic_is_temp(".thumbd"));
	CHECK(!atomic_is_temp(".hidden"));
	CHECK(!atomic_is_temp(""));
}

/* The final name is a non-empty folder: rename fails, the temp goes. */
static void test_rename_fails(void)
{
	const char *dir = tl_path("rename");
	int fd;

	TL_SH_OK("mkdir -p rename/taken/inside");
	fd = open_dir(dir);
	int r = atomic_write(fd, "taken", "data", 4, false);
	CHECK(r == -EISDIR || r == -ENOTEMPTY);
	CHECK_INT_EQ(count_temps(dir), 0);
	close(fd);
}

/*
 * RLIMIT_FSIZE makes write() fail with EFBIG for root too (SIGXFSZ is
 * ignored so the error is returned instead). Run in a child so the limit
 * stays there. The old file must survive untouched.
 */
static void test_efbig(void)
{
	const char *dir = tl_path("efbig");
	pid_t pid;
	int st;

	CHECK(mkdir(dir, 0755) == 0);
	TL_SH_OK("printf old > efbig/out.jpg");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 4096, 4096 };
		static uint8_t data[64 * 1024];
		int fd = open_dir(dir);
		signal(SIGXFSZ, SIG_IGN);
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		CHECK_INT_EQ(atomic_write(fd, "out.jpg", data, sizeof(data), false),
			-EFBIG);
		CHECK_INT_EQ(atomic_write(fd, "new.jpg", data, sizeof(data), true),
			-EFBIG);
		/* under the limit it still works */
		CHECK_INT_EQ(atomic_write(fd, "small.jpg", data, 100, false), 0);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_INT_EQ(count_temps(dir), 0);
	check_content(tl_path("efbig/out.jpg"), "old", 3);
	CHECK(access(tl_path("efbig/new.jpg"), F_OK) < 0);
	CHECK(access(tl_path("efbig/small.jpg"), F_OK) == 0);
}

/*
 * A 64 KiB tmpfs mounted in a private mount namespace (so nothing outside
 * this child sees it) fills up: ENOSPC, the temp is removed, and the old
 * output stays whole. Returns 77 from the child when mounting is not
 * allowed here.
 */
static void test_enospc(void)
{
	const char *dir = tl_path("full");
	pid_t pid;
	int st;

	CHECK(mkdir(dir, 0755) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		static uint8_t data[256 * 1024];
		if (unshare(CLONE_NEWNS) < 0 ||
				mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
				mount("thumbd-test", dir, "tmpfs", 0, "size=64k") < 0) {
			fprintf(stderr, "ENOSPC case skipped: cannot mount a tmpfs: %s\n",
				strerror(errno));
			_exit(77);
		}
		int fd = open_dir(dir);
		CHECK_INT_EQ(atomic_write(fd, "old.jpg", "old", 3, false), 0);
		CHECK_INT_EQ(atomic_write(fd, "old.jpg", data, sizeof(data), false),
			-ENOSPC);
		CHECK_INT_EQ(atomic_write(fd, "other.jpg", data, sizeof(data), true),
			-ENOSPC);
		CHECK_INT_EQ(count_temps(dir), 0);
		check_content(tl_path("full/old.jpg"), "old", 3);
		CHECK(access(tl_path("full/other.jpg"), F_OK) < 0);
		/* the space came back: the next write works */
		CHECK_INT_EQ(atomic_write(fd, "other.jpg", data, 1000, false), 0);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 77));
}

int main(void)
{
	test_basic();
	test_is_temp();
	test_rename_fails();
	test_efbig();
	test_enospc();
	return 0;
}
