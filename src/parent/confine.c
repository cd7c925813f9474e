/* confine: dumpable flag, root directory, capabilities, seccomp (see confine.h). */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <seccomp.h>
#include <stddef.h>
#include <sysexits.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

void confine_undumpable(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal_status(EX_CONFIG, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
}

void confine_root(const char *dir)
{
	if (chroot(dir) == -1 || chdir("/") == -1)
		fatal_status(EX_CONFIG, "cannot chroot to %s: %s", dir, strerror(errno));
}

void confine_setid_only(const struct privsep *p, const struct privsep_id *id)
{
	if (!p->root)
		return;
	static const cap_value_t keep[] = {CAP_SETUID, CAP_SETGID};
	/* While still root: nothing else may ever come back, not even
	 * through a program with file capabilities. */
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (c != keep[0] && c != keep[1] && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == -1 &&
		    errno != EINVAL)
			fatal_status(EX_CONFIG, "cannot drop capability %d from the bounding set",
			             (int)c);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 || setgroups(0, NULL) == -1 ||
	    setresgid(id->gid, id->gid, id->gid) == -1 ||
	    setresuid(id->uid, id->uid, id->uid) == -1)
		fatal_status(EX_CONFIG, "cannot become %s: %s", id->name, strerror(errno));
	cap_t caps = cap_init();
	if (caps == NULL || cap_set_flag(caps, CAP_PERMITTED, 2, keep, CAP_SET) == -1 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, 2, keep, CAP_SET) == -1 || cap_set_proc(caps) == -1)
		fatal_status(EX_CONFIG, "cannot keep CAP_SETUID and CAP_SETGID: %s",
		             strerror(errno));
	cap_free(caps);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1)
		fatal_status(EX_CONFIG, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
	uid_t r, e, s;
	if (getresuid(&r, &e, &s) == -1 || r == 0 || e == 0 || s == 0)
		fatal_status(EX_CONFIG, "privileges were not dropped: still uid 0");
}

/* What a libevent loop serving sockets and ipc channels calls. */
static const int network_calls[] = {
    SCMP_SYS(read),
    SCMP_SYS(readv),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(close),
    SCMP_SYS(fcntl),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(lseek),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(accept),
    SCMP_SYS(accept4),
    SCMP_SYS(recvmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg),
    SCMP_SYS(sendto),
    SCMP_SYS(shutdown),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(mprotect),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(getrandom),
    SCMP_SYS(futex),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(tgkill),
#if defined(__SANITIZE_ADDRESS__)
    /* The sanitizers' runtime: reports, stack traces, its allocator. */
    SCMP_SYS(open),
    SCMP_SYS(openat),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getrusage),
    SCMP_SYS(prctl),
    SCMP_SYS(pipe2),
    SCMP_SYS(getppid),
    SCMP_SYS(wait4),
#endif
};

/* What the delivering role may never do, whatever it is tricked into. */
static const int delivery_denied[] = {
    SCMP_SYS(setuid),    SCMP_SYS(setgid),           SCMP_SYS(setreuid),
    SCMP_SYS(setregid),  SCMP_SYS(setresuid),        SCMP_SYS(setresgid),
    SCMP_SYS(setgroups), SCMP_SYS(execve),           SCMP_SYS(execveat),
    SCMP_SYS(ptrace),    SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
    SCMP_SYS(capset),    SCMP_SYS(chroot),           SCMP_SYS(mount),
};

/* libseccomp's SCMP_An() leave datum_b out, which clang -Wextra refuses. */
static struct scmp_arg_cmp arg_eq(unsigned int arg, scmp_datum_t value)
{
	struct scmp_arg_cmp cmp = {.arg = arg, .op = SCMP_CMP_EQ, .datum_a = value, .datum_b = 0};
	return cmp;
}

static int network_rules(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < sizeof(network_calls) / sizeof(network_calls[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, network_calls[i], 0) < 0)
			return -1;
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' list allows any prctl */
	/* The role names itself once confined. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, arg_eq(0, PR_SET_NAME)) < 0)
		return -1;
#endif
	/* libevent asks how much input is waiting; stdio asks if stderr is a tty. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, arg_eq(1, FIONREAD)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, arg_eq(1, TCGETS)) < 0)
		return -1;
	return 0;
}

/* On top of the network list: its own sockets (IPv4, IPv6) and the spool. */
static const int relay_calls[] = {
    SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(pread64), SCMP_SYS(poll), SCMP_SYS(uname),
};

/* The relay's own sockets, less the spool: what libunbound needs. */
static const int resolver_calls[] = {
    SCMP_SYS(connect),
    SCMP_SYS(bind),
    SCMP_SYS(poll),
    SCMP_SYS(uname),
};

static int signer_rules(scmp_filter_ctx ctx)
{
	if (network_rules(ctx) == -1)
		return -1;
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(pread64), 0) < 0 ? -1 : 0;
}

static int socket_rules(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	if (network_rules(ctx) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0) < 0)
			return -1;
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg_eq(0, AF_INET)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg_eq(0, AF_INET6)) < 0)
		return -1;
	return 0;
}

/* open for reading only: no O_WRONLY, O_RDWR, O_CREAT, O_TRUNC */
static int read_only_open(scmp_filter_ctx ctx)
{
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' list allows any openat */
	struct scmp_arg_cmp ro = {.arg = 2,
	                          .op = SCMP_CMP_MASKED_EQ,
	                          .datum_a = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC,
	                          .datum_b = 0};
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, ro) < 0)
		return -1;
#else
	(void)ctx;
#endif
	return 0;
}

/* On top of the network list: the maildrop's files, read-only. */
static const int pickup_calls[] = {
    SCMP_SYS(pread64),   SCMP_SYS(getdents64), SCMP_SYS(unlinkat),  SCMP_SYS(renameat),
    SCMP_SYS(renameat2), SCMP_SYS(fsync),      SCMP_SYS(fdatasync),
};

static int pickup_rules(scmp_filter_ctx ctx)
{
	if (network_rules(ctx) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(pickup_calls) / sizeof(pickup_calls[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, pickup_calls[i], 0) < 0)
			return -1;
	return read_only_open(ctx);
}

/* On top of the network list: worker threads, database connections and
 * read-only files. */
static const int lookup_calls[] = {
    SCMP_SYS(clone),
    SCMP_SYS(clone3),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(connect),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(pread64),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(access),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(getcwd),
    SCMP_SYS(uname),
    SCMP_SYS(pipe2),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getdents64),
    SCMP_SYS(sched_getaffinity), /* thread starts */
};

static int lookup_rules(scmp_filter_ctx ctx)
{
	if (network_rules(ctx) == -1 || read_only_open(ctx) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(lookup_calls) / sizeof(lookup_calls[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, lookup_calls[i], 0) < 0)
			return -1;
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg_eq(0, AF_INET)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg_eq(0, AF_INET6)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg_eq(0, AF_UNIX)) < 0)
		return -1;
	return 0;
}

static int relay_rules(scmp_filter_ctx ctx)
{
	return socket_rules(ctx, relay_calls, sizeof(relay_calls) / sizeof(relay_calls[0]));
}

static int resolver_rules(scmp_filter_ctx ctx)
{
	return socket_rules(ctx, resolver_calls,
	                    sizeof(resolver_calls) / sizeof(resolver_calls[0]));
}

static int delivery_rules(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < sizeof(delivery_denied) / sizeof(delivery_denied[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, delivery_denied[i], 0) < 0)
			return -1;
	/* Switching the file-system identity, yes; to root, never. */
	if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(setfsuid), 1, arg_eq(0, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(setfsgid), 1, arg_eq(0, 0)) < 0)
		return -1;
	return 0;
}

void confine_filter(enum confine_filter filter)
{
	if (filter == FILTER_NONE)
		return;
	int deny = filter != FILTER_DELIVERY;
	scmp_filter_ctx ctx = seccomp_init(deny ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ALLOW);
	if (ctx == NULL)
		fatal_status(EX_CONFIG, "seccomp_init failed");
	int rc = filter == FILTER_NETWORK    ? network_rules(ctx)
	         : filter == FILTER_RELAY    ? relay_rules(ctx)
	         : filter == FILTER_PICKUP   ? pickup_rules(ctx)
	         : filter == FILTER_RESOLVER ? resolver_rules(ctx)
	         : filter == FILTER_SIGNER   ? signer_rules(ctx)
	         : filter == FILTER_LOOKUP   ? lookup_rules(ctx)
	                                     : delivery_rules(ctx);
	if (rc == -1 || seccomp_load(ctx) < 0)
		fatal_status(EX_CONFIG, "cannot install the system-call filter");
	seccomp_release(ctx);
}
