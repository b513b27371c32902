#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "build-config.h"

#if HAVE_LIBSECCOMP
#include <seccomp.h>
#endif

static int sandbox_rlimit(int res, uint64_t value, const char *name,
		char *err, size_t errlen)
{
	struct rlimit rl = { .rlim_cur = value, .rlim_max = value };
	struct rlimit old;

	/* never raise a limit the administrator set lower */
	if (getrlimit(res, &old) == 0 && old.rlim_max != RLIM_INFINITY &&
			old.rlim_max < value) {
		rl.rlim_cur = rl.rlim_max = old.rlim_max;
	}
	if (setrlimit(res, &rl) < 0) {
		int e = errno;
		snprintf(err, errlen, "setrlimit(%s): %s", name, strerror(e));
		return -e;
	}
	return 0;
}

static int sandbox_limits(const struct sandbox_opts *o, char *err, size_t errlen)
{
	int r;

	if ((r = sandbox_rlimit(RLIMIT_CORE, 0, "RLIMIT_CORE", err, errlen)) < 0) {
		return r;
	}
	if (o->max_files &&
			(r = sandbox_rlimit(RLIMIT_NOFILE, o->max_files,
				"RLIMIT_NOFILE", err, errlen)) < 0) {
		return r;
	}
	if (o->file_size) {
		/* a write past the limit must fail with EFBIG, not kill us */
		signal(SIGXFSZ, SIG_IGN);
		if ((r = sandbox_rlimit(RLIMIT_FSIZE, o->file_size,
				"RLIMIT_FSIZE", err, errlen)) < 0) {
			return r;
		}
	}
#if !HAVE_SANITIZER
	/* ASan reserves terabytes of shadow address space: RLIMIT_AS would
	 * kill every sanitizer build at start-up. */
	if (o->memory &&
			(r = sandbox_rlimit(RLIMIT_AS, o->memory, "RLIMIT_AS",
				err, errlen)) < 0) {
		return r;
	}
#endif
	return 0;
}

static int landlock_create_ruleset_(const struct landlock_ruleset_attr *attr,
		size_t size, uint32_t flags)
{
	return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

static int sandbox_landlock_add(int ruleset, const char *path, uint64_t access,
		char *err, size_t errlen)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access };
	int fd = open(path, O_PATH | O_CLOEXEC | O_DIRECTORY);

	if (fd < 0) {
		/* a root that does not exist yet (re-armed later) is skipped;
		 * the master restarts workers when watches change */
		return errno == ENOENT ? 0 : -errno;
	}
	pb.parent_fd = fd;
	int r = (int)syscall(SYS_landlock_add_rule, ruleset,
		LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	int e = errno;
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "landlock rule for %s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

/* Returns 1 when Landlock is in force, 0 when the kernel lacks it. */
static int sandbox_landlock(const struct sandbox_opts *o, char *err,
		size_t errlen)
{
	const uint64_t read_acc = LANDLOCK_ACCESS_FS_READ_FILE |
		LANDLOCK_ACCESS_FS_READ_DIR;
	uint64_t write_acc = read_acc | LANDLOCK_ACCESS_FS_WRITE_FILE |
		LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR |
		LANDLOCK_ACCESS_FS_REMOVE_FILE;
	uint64_t handled = write_acc | LANDLOCK_ACCESS_FS_EXECUTE |
		LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_MAKE_CHAR |
		LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
		LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
	int abi = landlock_create_ruleset_(NULL, 0,
		LANDLOCK_CREATE_RULESET_VERSION);

	if (abi < 0) {
		return 0;
	}
#ifdef LANDLOCK_ACCESS_FS_REFER
	if (abi >= 2) {
		handled |= LANDLOCK_ACCESS_FS_REFER;
	}
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (abi >= 3) {
		handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
		write_acc |= LANDLOCK_ACCESS_FS_TRUNCATE;
	}
#endif
	struct landlock_ruleset_attr attr = { .handled_access_fs = handled };
	int rs = landlock_create_ruleset_(&attr, sizeof(attr), 0);
	if (rs < 0) {
		int e = errno;
		snprintf(err, errlen, "landlock_create_ruleset: %s", strerror(e));
		return -e;
	}
	int r = 0;
	for (uint32_t i = 0; r == 0 && i < o->n_read; i++) {
		r = sandbox_landlock_add(rs, o->read_roots[i], read_acc, err, errlen);
	}
	for (uint32_t i = 0; r == 0 && i < o->n_write; i++) {
		r = sandbox_landlock_add(rs, o->write_roots[i], write_acc, err,
			errlen);
	}
	if (r == 0 && syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "landlock_restrict_self: %s", strerror(-r));
	}
	close(rs);
	return r < 0 ? r : 1;
}

#if HAVE_LIBSECCOMP
/* What the job loop needs: file I/O beneath open directory fds, memory,
 * clocks, the socket to the master, and exit. */
static const int sandbox_allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(recvfrom),
	SCMP_SYS(sendto), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lseek),
	SCMP_SYS(fcntl), SCMP_SYS(mkdirat), SCMP_SYS(renameat),
	SCMP_SYS(renameat2), SCMP_SYS(unlinkat), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(ftruncate), SCMP_SYS(getdents64),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(getrandom),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getrusage), SCMP_SYS(futex), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(poll),
	SCMP_SYS(ppoll), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(restart_syscall), SCMP_SYS(prlimit64), SCMP_SYS(getrlimit),
#if HAVE_SANITIZER
	/* the sanitizer runtimes report through these */
	SCMP_SYS(sigaltstack), SCMP_SYS(prctl), SCMP_SYS(readlink),
	SCMP_SYS(readlinkat), SCMP_SYS(getppid), SCMP_SYS(uname),
	SCMP_SYS(ioctl), SCMP_SYS(wait4),
	SCMP_SYS(sched_getparam), SCMP_SYS(getpgrp),
#endif
};

/* What a hijacked worker would want first: these kill it outright. */
static const int sandbox_killed[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace),
	SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect),
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
	SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
	SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(clone), SCMP_SYS(clone3),
	SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(mount), SCMP_SYS(chroot),
	SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(kexec_load),
	SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),
	SCMP_SYS(userfaultfd), SCMP_SYS(io_uring_setup),
};

static int sandbox_seccomp(char *err, size_t errlen)
{
	/* Anything not listed fails with EPERM rather than killing, so a libc
	 * fallback path degrades into a job error instead of a crash loop. */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r = 0;

	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < sizeof(sandbox_allowed) /
			sizeof(sandbox_allowed[0]); i++) {
		if (sandbox_allowed[i] >= 0) {
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
				sandbox_allowed[i], 0);
		}
	}
	for (size_t i = 0; r == 0 && i < sizeof(sandbox_killed) /
			sizeof(sandbox_killed[0]); i++) {
		if (sandbox_killed[i] >= 0) {
			r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS,
				sandbox_killed[i], 0);
		}
	}
	/* raise(), abort() and assert() signal the worker itself; signalling
	 * anything else stays refused */
	pid_t self = getpid();
	if (r == 0) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	}
	if (r == 0) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
			SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	}
	if (r == 0) {
		r = seccomp_load(ctx);
	}
	if (r < 0) {
		snprintf(err, errlen, "seccomp: %s", strerror(-r));
	}
	seccomp_release(ctx);
	return r;
}
#endif

int sandbox_enter(const struct sandbox_opts *opts, uint32_t *layers,
		char *err, size_t errlen)
{
	uint32_t in_force = 0;
	int r;

	if ((r = sandbox_limits(opts, err, errlen)) < 0) {
		return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(-r));
		return r;
	}
	r = sandbox_landlock(opts, err, errlen);
	if (r < 0) {
		return r;
	}
	if (r == 1) {
		in_force |= SANDBOX_LANDLOCK;
	}
#if HAVE_LIBSECCOMP
	if (opts->seccomp) {
		if ((r = sandbox_seccomp(err, errlen)) < 0) {
			return r;
		}
		in_force |= SANDBOX_SECCOMP;
	}
#endif
	*layers = in_force;
	return 0;
}
