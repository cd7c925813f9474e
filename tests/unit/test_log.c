/*
 * Unit tests for log: log_escape (what is kept, what is escaped, truncation
 * that never overflows) and the shape of the lines log_* write to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit_util.h"

#include "log.h"
#include "xmalloc.h"

/* Reference escaper: what log.h promises, byte by byte. */
static size_t ref_escape_one(unsigned char c, char out[5])
{
	if (c == '"' || c == '\\')
		return (size_t)snprintf(out, 5, "\\%c", c);
	if (c >= 0x20 && c < 0x7f)
		return (size_t)snprintf(out, 5, "%c", c);
	return (size_t)snprintf(out, 5, "\\x%02x", c);
}

/* Full escape of src; *bounds[i] = 1 where an escape sequence starts or ends. */
static char *ref_escape(const unsigned char *src, size_t n, char **bounds)
{
	char *out = xmalloc(n * 4 + 1);
	char *b = xcalloc(n * 4 + 1, 1);
	size_t o = 0;
	b[0] = 1;
	for (size_t i = 0; i < n; i++) {
		char t[5];
		size_t k = ref_escape_one(src[i], t);
		memcpy(out + o, t, k);
		o += k;
		b[o] = 1;
	}
	out[o] = 0;
	*bounds = b;
	return out;
}

static void test_escape_bytes(void **state)
{
	(void)state;
	/* Every byte value on its own. */
	for (int c = 0; c < 256; c++) {
		unsigned char in = (unsigned char)c;
		char want[5], got[16];
		ref_escape_one(in, want);
		log_escape(got, sizeof(got), &in, 1);
		assert_string_equal(got, want);
	}
	char out[128];
	log_escape(out, sizeof(out), "plain text 123 ~!@#$%^&*()", 26);
	assert_string_equal(out, "plain text 123 ~!@#$%^&*()");
	log_escape(out, sizeof(out), "say \"hi\"\\", 9);
	assert_string_equal(out, "say \\\"hi\\\"\\\\");
	log_escape(out, sizeof(out), "a\r\nb\tc\0d\x7f\x80\xff", 11);
	assert_string_equal(out, "a\\x0d\\x0ab\\x09c\\x00d\\x7f\\x80\\xff");
	/* A fake key=value injected into a log line stays inside the quotes. */
	log_escape(out, sizeof(out), "x\" evil=\"1\nfake line", 20);
	assert_null(strchr(out, '\n'));
	for (char *p = strchr(out, '"'); p; p = strchr(p + 1, '"'))
		assert_int_equal(p[-1], '\\');
	log_escape(out, sizeof(out), "", 0);
	assert_string_equal(out, "");
	log_escape(out, sizeof(out), NULL, 0);
	assert_string_equal(out, "");
	assert_ptr_equal(log_escape(out, sizeof(out), "x", 1), out);
}

/*
 * For every dstlen 0..64 and every input length 0..40 (a mix of plain and
 * escaped bytes): nothing written at or past dstlen (canary), always
 * NUL-terminated, the whole escape when it fits, otherwise a prefix that
 * ends at an escape boundary followed by "...".
 */
static void test_escape_truncation(void **state)
{
	(void)state;
	static const unsigned char src[] = "ab\"c\\d\x01"
	                                   "efg\xfe"
	                                   "hijklmno\npqrstuvwxyz0123456789ABCDEF";
	for (size_t srclen = 0; srclen <= 40; srclen++) {
		char *bounds;
		char *full = ref_escape(src, srclen, &bounds);
		size_t fulllen = strlen(full);
		for (size_t dstlen = 0; dstlen <= 64; dstlen++) {
			char dst[64 + 16];
			memset(dst, 0x5a, sizeof(dst));
			log_escape(dst, dstlen, src, srclen);
			for (size_t i = dstlen; i < sizeof(dst); i++)
				assert_int_equal((unsigned char)dst[i], 0x5a);
			if (dstlen == 0)
				continue;
			size_t n = strnlen(dst, dstlen);
			assert_true(n < dstlen);
			if (fulllen + 1 <= dstlen) {
				assert_string_equal(dst, full);
				continue;
			}
			/* Too long: shortened, and marked when there is room to. */
			if (dstlen < 4) {
				assert_int_equal(n, 0);
				continue;
			}
			assert_true(n >= 3);
			assert_memory_equal(dst + n - 3, "...", 3);
			size_t keep = n - 3;
			assert_memory_equal(dst, full, keep);
			assert_int_equal(bounds[keep], 1);
			/* As much as fits: one more escape would not have. */
			size_t next = keep + 1;
			while (next <= fulllen && !bounds[next])
				next++;
			assert_true(next + 3 + 1 > dstlen);
		}
		free(full);
		free(bounds);
	}
}

/* A long input into every buffer size: the canary survives. */
static void test_escape_long_input(void **state)
{
	(void)state;
	size_t n = 100000;
	unsigned char *src = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		src[i] = (unsigned char)(i * 31);
	for (size_t dstlen = 0; dstlen <= 64; dstlen++) {
		char *dst = xmalloc(dstlen + 8);
		memset(dst, 0x5a, dstlen + 8);
		log_escape(dst, dstlen, src, n);
		for (size_t i = dstlen; i < dstlen + 8; i++)
			assert_int_equal((unsigned char)dst[i], 0x5a);
		if (dstlen > 0)
			assert_true(strnlen(dst, dstlen) < dstlen);
		if (dstlen >= 4)
			assert_memory_equal(dst + strlen(dst) - 3, "...", 3);
		free(dst);
	}
	free(src);
}

/* Run fn with stderr sent to a file; return what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	char *dir = unit_tmpdir();
	char *path = xasprintf("%s/err", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	int saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn();
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	close(fd);
	char *out = unit_read_file(path, NULL);
	assert_non_null(out);
	unit_rmtree(dir);
	free(path);
	free(dir);
	return out;
}

static void emit_lines(void)
{
	log_init("tester", 0);
	log_info("event=one n=%d", 1);
	log_warn("event=two");
	log_debug("event=hidden");
	log_init("tester", 1);
	log_debug("event=shown");
	log_init("a-role-name-longer-than-sixteen", 0);
	log_info("event=three");
}

static void test_lines(void **state)
{
	(void)state;
	char *out = capture_stderr(emit_lines);
	char *pid = xasprintf("[%d]", (int)getpid());
	/* Four lines: info, warn, the debug line only once verbose. */
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 4);
	assert_null(strstr(out, "hidden"));
	char *l1 = strstr(out, " tester");
	assert_non_null(l1);
	assert_non_null(strstr(out, "tester[")); /* role[pid] */
	assert_non_null(strstr(out, pid));
	assert_non_null(strstr(out, "info: event=one n=1\n"));
	assert_non_null(strstr(out, "warn: event=two\n"));
	assert_non_null(strstr(out, "debug: event=shown\n"));
	/* The role is cut to fit its 16-byte field, not overflowing it. */
	assert_non_null(strstr(out, " a-role-name-lon["));
	/* Lines start with an ISO 8601 UTC timestamp. */
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[23], 'Z');
	free(pid);
	free(out);
}

static void emit_long(void)
{
	log_init("tester", 0);
	char *big = xmalloc(10000);
	memset(big, 'L', 9999);
	big[9999] = 0;
	log_info("big=%s", big);
	log_info("after");
	free(big);
}

/* An overlong event is cut to one line of at most 4 KiB, still newline-ended. */
static void test_long_line(void **state)
{
	(void)state;
	char *out = capture_stderr(emit_long);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_true((size_t)(nl - out) + 1 <= 4096);
	assert_true((size_t)(nl - out) > 4000);
	assert_non_null(strstr(nl + 1, "info: after\n"));
	free(out);
}

/* Syslog: one datagram a line, "<PRI>Mmm dd hh:mm:ss raven/ROLE[PID]: level:
 * text", facility mail; a line the socket refuses goes to stderr. */
static int syslog_peer = -1;

static void emit_syslog(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	log_init("tester", 1);
	log_set_target(sv[0], 1);
	assert_int_equal(log_target_fd(), sv[0]);
	log_info("event=one");
	log_warn("event=two");
	log_debug("event=three");
	char want[64];
	snprintf(want, sizeof(want), " raven/tester[%d]: ", (int)getpid());
	static const char *const body[] = {"<22>", "info: event=one",   "<20>", "warn: event=two",
	                                   "<23>", "debug: event=three"};
	for (int i = 0; i < 3; i++) {
		char dg[512];
		ssize_t n = recv(sv[1], dg, sizeof(dg) - 1, MSG_DONTWAIT);
		assert_true(n > 0);
		dg[n] = '\0';
		assert_memory_equal(dg, body[2 * i], 4);
		assert_non_null(strstr(dg, want));
		/* one datagram, no newline at its end */
		assert_true(strlen(dg) > strlen(body[2 * i + 1]));
		assert_string_equal(dg + strlen(dg) - strlen(body[2 * i + 1]), body[2 * i + 1]);
		assert_int_equal(dg[7], ' '); /* "<22>Dec  2 ..." */
	}
	close(sv[1]); /* syslogd gone: the next line falls back to stderr */
	log_info("event=fallback");
	syslog_peer = sv[0];
}

static void test_syslog(void **state)
{
	(void)state;
	char *out = capture_stderr(emit_syslog);
	assert_non_null(strstr(out, "info: event=fallback\n"));
	assert_null(strstr(out, "event=one"));
	log_set_target(STDERR_FILENO, 0);
	assert_int_equal(log_target_fd(), -1);
	close(syslog_peer);
	free(out);
}

static void test_fatal(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		log_init("child", 0);
		errno = ENOENT;
		fatalx("event=boom path=%s", "/nope");
	}
	close(p[1]);
	char out[4096];
	size_t got = 0;
	for (;;) {
		ssize_t r = read(p[0], out + got, sizeof(out) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = 0;
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	char *want = xasprintf("fatal: event=boom path=/nope: %s\n", strerror(ENOENT));
	assert_non_null(strstr(out, want));
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_bytes),
	    cmocka_unit_test(test_escape_truncation),
	    cmocka_unit_test(test_escape_long_input),
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_fatal),
	    cmocka_unit_test(test_syslog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
