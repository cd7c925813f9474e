/* util: err_set and fd_write_all. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_util.h"
#include "util.h"
#include "xmalloc.h"

static void test_err_set(void **state)
{
	(void)state;
	char err[8];
	err_set(err, sizeof(err), "%s:%d", "file", 12);
	assert_string_equal(err, "file:12"); /* exactly fits */
	err_set(err, sizeof(err), "%s", "much too long");
	assert_string_equal(err, "much to"); /* cut, terminated */
	err_set(NULL, 10, "%s", "ignored");  /* no crash */
	err[0] = 'x';
	err_set(err, 0, "%s", "ignored");
	assert_int_equal(err[0], 'x');
}

static void test_write_all_file(void **state)
{
	(void)state;
	int fd = memfd_create("w", 0);
	assert_true(fd >= 0);
	size_t n = 3 * 1024 * 1024 + 7;
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 31);
	assert_int_equal(fd_write_all(fd, p, n), 0);
	char *back = malloc(n);
	assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
	assert_memory_equal(p, back, n);
	assert_int_equal(fd_write_all(fd, p, 0), 0);
	free(p);
	free(back);
	close(fd);
}

static void test_write_all_errors(void **state)
{
	(void)state;
	assert_int_equal(fd_write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	/* a pipe whose reader is gone: EPIPE, not a crash or a loop */
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	close(pp[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(fd_write_all(pp[1], "abc", 3), -1);
	assert_int_equal(errno, EPIPE);
	close(pp[1]);
}

static void test_file_read_bounded(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char *path = xasprintf("%s/f", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_int_equal(fd_write_all(fd, "hello\nworld", 11), 0);
	close(fd);
	char err[256];
	size_t len = 0;
	char *t = file_read_bounded(path, 11, &len, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(len, 11);
	assert_string_equal(t, "hello\nworld");
	free(t);
	assert_null(file_read_bounded(path, 10, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "too large"));
	assert_null(file_read_bounded(dir, 100, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
	char *fifo = xasprintf("%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_null(file_read_bounded(fifo, 100, &len, err, sizeof(err))); /* no hang */
	char *missing = xasprintf("%s/missing", dir);
	assert_null(file_read_bounded(missing, 100, &len, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	unit_rmtree(dir);
	free(fifo);
	free(missing);
	free(path);
	free(dir);
}

static void test_ascii_lower_str(void **state)
{
	(void)state;
	char s[] = "Relay:Example.ORG-\xc3\x84Z@[IPv6:AB::1]";
	assert_ptr_equal(ascii_lower_str(s), s);
	assert_string_equal(s, "relay:example.org-\xc3\x84z@[ipv6:ab::1]");
	char empty[] = "";
	assert_string_equal(ascii_lower_str(empty), "");
}

static void test_b64_digit(void **state)
{
	(void)state;
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (int i = 0; i < 64; i++)
		assert_int_equal(b64_digit((unsigned char)abc[i]), i);
	/* Every other octet is not a digit: padding, the URL-safe alphabet's
	 * '-' and '_', white space, NUL and 8-bit octets. */
	int digits = 0;
	for (int c = 0; c < 256; c++)
		digits += b64_digit((unsigned char)c) >= 0;
	assert_int_equal(digits, 64);
	assert_int_equal(b64_digit('='), -1);
	assert_int_equal(b64_digit('-'), -1);
	assert_int_equal(b64_digit('_'), -1);
	assert_int_equal(b64_digit(' '), -1);
	assert_int_equal(b64_digit('\0'), -1);
	assert_int_equal(b64_digit(0xc1), -1); /* 'A' | 0x80 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_err_set),          cmocka_unit_test(test_write_all_file),
	    cmocka_unit_test(test_write_all_errors), cmocka_unit_test(test_file_read_bounded),
	    cmocka_unit_test(test_ascii_lower_str),  cmocka_unit_test(test_b64_digit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
