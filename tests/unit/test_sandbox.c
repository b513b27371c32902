/*
 * The worker sandbox, tested in forked children (no event loop here): what
 * a job needs works, and everything else fails or kills the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build-config.h"
#include "testlib.h"
#include "../../daemon/sandbox.h"

static uint32_t layers;

/* Run @fn in a sandboxed child; returns its wait status. */
static int in_sandbox(int (*fn)(void))
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sandbox_opts o = {
			.memory = 512u << 20,
			.file_size = 1u << 20,
			.max_files = 64,
			.n_read = 1,
			.n_write = 1,
			.seccomp = true,
		};
		char err[256];
		o.read_roots[0] = tl_path("in");
		o.write_roots[0] = tl_path("out");
		if (sandbox_enter(&o, &layers, err, sizeof(err)) < 0) {
			fprintf(stderr, "sandbox_enter: %s\n", err);
			_exit(100);
		}
		_exit(fn());
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	return st;
}

static int exited(int st, int code)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == code;
}

static int job_like_io(void)
{
	char buf[16];
	int fd = open(tl_path("in/a.txt"), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || read(fd, buf, sizeof(buf)) != 5) {
		return 1;
	}
	close(fd);
	int dir = open(tl_path("out"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || mkdirat(dir, "sub", 0755) < 0) {
		return 2;
	}
	fd = openat(dir, "sub/.t", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "thumb", 5) != 5 || fsync(fd) < 0) {
		return 3;
	}
	close(fd);
	if (renameat(dir, "sub/.t", dir, "sub/t.jpg") < 0) {
		return 4;
	}
	return 0;
}

static int read_outside(void)
{
	int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	return fd < 0 && errno == EACCES ? 0 : 1;
}

static int follow_symlink_out(void)
{
	int fd = open(tl_path("in/link.jpg"), O_RDONLY | O_CLOEXEC);
	return fd < 0 && errno == EACCES ? 0 : 1;
}

static int write_input(void)
{
	int fd = open(tl_path("in/new"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 && errno == EACCES ? 0 : 1;
}

static int open_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
	return 0; /* reached only if not killed */
}

static int run_exec(void)
{
	char *argv[] = { "/bin/true", NULL };
	execv("/bin/true", argv);
	return 0;
}

static int run_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 0;
}

static int raise_self(void)
{
	raise(SIGUSR2);
	return 0; /* reached only if the signal was refused */
}

static int kill_parent(void)
{
	return kill(getppid(), 0) < 0 && errno == EPERM ? 0 : 1;
}

static int big_alloc(void)
{
	/* 1 GiB cannot fit under a 512 MiB RLIMIT_AS */
	void *p = malloc(1u << 30);
	return p == NULL ? 0 : 1;
}

static int big_file(void)
{
	static char chunk[64 << 10];
	int fd = open(tl_path("out/big"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ssize_t w = 0;
	for (int i = 0; i < 32 && w >= 0; i++) {
		w = write(fd, chunk, sizeof(chunk));
	}
	return w < 0 && errno == EFBIG ? 0 : 1;
}

int main(void)
{
	TL_SH_OK("mkdir in out && printf hello > in/a.txt && ln -s /etc/hostname in/link.jpg");

	CHECK(exited(in_sandbox(job_like_io), 0));
	int st = in_sandbox(read_outside);
	if (exited(st, 1)) {
		SKIP("Landlock is not available in this kernel");
	}
	CHECK(exited(st, 0));
	CHECK(exited(in_sandbox(follow_symlink_out), 0));
	CHECK(exited(in_sandbox(write_input), 0));
	CHECK(exited(in_sandbox(big_file), 0));
#if HAVE_LIBSECCOMP
	st = in_sandbox(open_socket);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	st = in_sandbox(run_exec);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	st = in_sandbox(run_ptrace);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
	st = in_sandbox(raise_self);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR2);
	CHECK(exited(in_sandbox(kill_parent), 0));
#else
	(void)open_socket;
	(void)run_exec;
	(void)run_ptrace;
	(void)raise_self;
	(void)kill_parent;
	fprintf(stderr, "seccomp checks skipped: built without libseccomp\n");
#endif
#if !HAVE_SANITIZER
	CHECK(exited(in_sandbox(big_alloc), 0));
#else
	(void)big_alloc;
	fprintf(stderr, "RLIMIT_AS check skipped: sanitizer build\n");
#endif
	printf("sandbox: job I/O allowed; outside reads, symlink escape, input "
		"writes, oversize files, sockets, exec, ptrace and signalling others refused\n");
	return 0;
}
