/*
 * confine: the system-call filters kill what they forbid and let through
 * what a role needs — each case in a child process, since a filter is for
 * the life of the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "confine.h"
#include "unit_util.h"

/* Run fn in a child under filter; its wait status. */
static int in_child(enum confine_filter filter, void (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		confine_filter(filter);
		fn();
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void killed_by_sigsys(int status)
{
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void exited_ok(int status)
{
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void open_a_file(void)
{
	(void)syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
}

static void make_a_socket(void)
{
	(void)socket(AF_INET, SOCK_STREAM, 0);
}

static void run_a_program(void)
{
	char *argv[] = {"/bin/true", NULL};
	execv("/bin/true", argv);
}

/* What a session loop does: I/O on descriptors it has, memory, time. */
static void serve(void)
{
	char buf[4] = "ok";
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	void *p = malloc(1 << 20);
	free(p);
	if (write(STDERR_FILENO, buf, 0) != 0 || getpid() <= 0)
		_exit(2);
}

static void test_network_filter(void **state)
{
	(void)state;
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' runtime opens files */
	killed_by_sigsys(in_child(FILTER_NETWORK, open_a_file));
#endif
	killed_by_sigsys(in_child(FILTER_NETWORK, make_a_socket));
	killed_by_sigsys(in_child(FILTER_NETWORK, run_a_program));
	exited_ok(in_child(FILTER_NETWORK, serve));
}

static void make_a_unix_socket(void)
{
	(void)socket(AF_UNIX, SOCK_STREAM, 0);
}

static void make_inet_sockets(void)
{
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET6, SOCK_DGRAM, 0);
	if (a == -1 || b == -1)
		_exit(2);
	close(a);
	close(b);
}

/* The relay: its own IPv4/IPv6 sockets, never a unix-domain one (LMTP
 * sockets are the parent's to connect), no files, no programs. */
static void test_relay_filter(void **state)
{
	(void)state;
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' runtime opens files */
	killed_by_sigsys(in_child(FILTER_RELAY, open_a_file));
#endif
	killed_by_sigsys(in_child(FILTER_RELAY, make_a_unix_socket));
	killed_by_sigsys(in_child(FILTER_RELAY, run_a_program));
	exited_ok(in_child(FILTER_RELAY, make_inet_sockets));
	exited_ok(in_child(FILTER_RELAY, serve));
}

/* What the DKIM signer does besides serving its channel: read a file it
 * was handed, at an offset. */
static void read_handed_file(void)
{
	char buf[8];
	if (pread(STDIN_FILENO, buf, sizeof(buf), 0) < 0 && errno != ESPIPE && errno != EBADF)
		_exit(2);
	serve();
}

static void test_signer_filter(void **state)
{
	(void)state;
#if !defined(__SANITIZE_ADDRESS__)
	killed_by_sigsys(in_child(FILTER_SIGNER, open_a_file));
#endif
	killed_by_sigsys(in_child(FILTER_SIGNER, make_a_socket));
	killed_by_sigsys(in_child(FILTER_SIGNER, run_a_program));
	exited_ok(in_child(FILTER_SIGNER, read_handed_file));
}

#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' runtime opens files */
static void open_for_writing(void)
{
	(void)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
}
#endif

/* The lookup role: database sockets (a unix-domain one too), files for
 * reading only, no programs. */
static void test_lookup_filter(void **state)
{
	(void)state;
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' runtime opens files */
	killed_by_sigsys(in_child(FILTER_LOOKUP, open_for_writing));
	exited_ok(in_child(FILTER_LOOKUP, open_a_file));
#endif
	killed_by_sigsys(in_child(FILTER_LOOKUP, run_a_program));
	exited_ok(in_child(FILTER_LOOKUP, make_a_unix_socket));
	exited_ok(in_child(FILTER_LOOKUP, make_inet_sockets));
	exited_ok(in_child(FILTER_LOOKUP, serve));
}

static void become_root(void)
{
	(void)syscall(SYS_setuid, 0);
}

static void fs_identity_root(void)
{
	(void)syscall(SYS_setfsuid, 0);
}

static void fs_identity_other(void)
{
	/* Allowed: a mailbox owner's ids (without the capability it just
	 * does not change, which is not the filter's business). */
	(void)syscall(SYS_setfsuid, 4242);
	(void)syscall(SYS_setfsgid, 4242);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		_exit(3);
	close(fd);
}

static void test_delivery_filter(void **state)
{
	(void)state;
	killed_by_sigsys(in_child(FILTER_DELIVERY, become_root));
	killed_by_sigsys(in_child(FILTER_DELIVERY, fs_identity_root));
	killed_by_sigsys(in_child(FILTER_DELIVERY, run_a_program));
	exited_ok(in_child(FILTER_DELIVERY, fs_identity_other));
	exited_ok(in_child(FILTER_NONE, open_a_file));
}

#if defined(__SANITIZE_ADDRESS__)
/* A memory error in a confined role must be reported whole, not cut short
 * by the filter killing the sanitizer's report (SIGSYS). */
static void heap_overflow(void)
{
	char *p = malloc(16);
	volatile size_t past = 16;
	p[past] = 'x';
	free(p);
}

static void test_sanitizer_reports_under_filters(void **state)
{
	(void)state;
	enum confine_filter filters[] = {FILTER_NETWORK, FILTER_RELAY, FILTER_SIGNER,
	                                 FILTER_DELIVERY};
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		int out[2];
		assert_int_equal(pipe(out), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(out[1], STDERR_FILENO);
			confine_filter(filters[i]);
			heap_overflow();
			_exit(0);
		}
		close(out[1]);
		static char report[1 << 16];
		size_t len = 0;
		ssize_t r;
		while (len < sizeof(report) - 1 &&
		       (r = read(out[0], report + len, sizeof(report) - 1 - len)) > 0)
			len += (size_t)r;
		report[len] = '\0';
		close(out[0]);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_false(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
		assert_non_null(strstr(report, "heap-buffer-overflow"));
		assert_non_null(strstr(report, "SUMMARY: AddressSanitizer"));
	}
}
#endif

#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' runtime needs any openat */
static void create_a_file(void)
{
	(void)syscall(SYS_openat, AT_FDCWD, "/tmp/raven-confine-never", O_WRONLY | O_CREAT, 0600);
}

static void write_a_file(void)
{
	(void)syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDWR);
}
#endif

/* What pickup does in the maildrop: read files, list, rename, remove, sync. */
static void take_a_file(void)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
	char b[8];
	if (fd == -1 || pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
		_exit(2);
	(void)unlinkat(AT_FDCWD, "/nonexistent/raven", 0);
	(void)renameat(AT_FDCWD, "/nonexistent/a", AT_FDCWD, "/nonexistent/b");
	(void)fsync(fd);
	close(fd);
}

static void test_pickup_filter(void **state)
{
	(void)state;
	exited_ok(in_child(FILTER_PICKUP, take_a_file));
	exited_ok(in_child(FILTER_PICKUP, serve));
	killed_by_sigsys(in_child(FILTER_PICKUP, make_a_socket));
	killed_by_sigsys(in_child(FILTER_PICKUP, run_a_program));
#if !defined(__SANITIZE_ADDRESS__) /* the sanitizers' runtime needs any openat */
	killed_by_sigsys(in_child(FILTER_PICKUP, create_a_file));
	killed_by_sigsys(in_child(FILTER_PICKUP, write_a_file));
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_filter),
		cmocka_unit_test(test_relay_filter),
		cmocka_unit_test(test_lookup_filter),
		cmocka_unit_test(test_delivery_filter),
		cmocka_unit_test(test_pickup_filter),
		cmocka_unit_test(test_signer_filter),
#if defined(__SANITIZE_ADDRESS__)
		cmocka_unit_test(test_sanitizer_reports_under_filters),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
