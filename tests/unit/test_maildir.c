/*
 * Unit tests for maildir delivery: directory creation, CRLF -> LF (also
 * across the 64 KiB read boundary), idempotency after a repeat or after the
 * reader moved the file to cur/, error classes, and name formatting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit_util.h"

#include "buf.h"
#include "crc32c.h"
#include "maildir.h"
#include "xmalloc.h"

#define NAME "1700000000.RQ42_0.mx.example.org"

struct fixture {
	char *root;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->root = unit_tmpdir();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unit_rmtree(f->root);
	free(f->root);
	free(f);
	return 0;
}

/* A spool-like data file holding p[0..n), with its offset left at 0. */
static int data_fd(const char *root, const void *p, size_t n)
{
	char *path = xasprintf("%s/spool-data", root);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd != -1);
	unlink(path);
	free(path);
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)p + done, n - done);
		assert_true(w > 0);
		done += (size_t)w;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Number of entries (not . or ..) in a directory; -1 if it cannot be read. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void assert_dir_mode(const char *path, mode_t mode)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
}

/* Deliver (head first, if any) and check the one file in new/ holds exactly want. */
static void deliver_head_and_check(const char *md, const char *head, const void *in, size_t inlen,
                                   const void *want, size_t wantlen, const char *root)
{
	char err[256] = "x";
	int fd = data_fd(root, in, inlen);
	assert_true(lseek(fd, 17, SEEK_SET) == 17);
	assert_int_equal(maildir_deliver(md, NAME, head, fd, err, sizeof(err)), MAILDIR_OK);
	assert_true(lseek(fd, 0, SEEK_CUR) == 17); /* pread only */
	close(fd);
	char *path = xasprintf("%s/new/%s", md, NAME);
	size_t len;
	char *got = unit_read_file(path, &len);
	assert_non_null(got);
	assert_int_equal(len, wantlen);
	assert_memory_equal(got, want, wantlen);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(got);
	free(path);
	char *tmp = xasprintf("%s/tmp", md);
	assert_int_equal(count_entries(tmp), 0);
	free(tmp);
}

static void deliver_and_check(const char *md, const void *in, size_t inlen, const void *want,
                              size_t wantlen, const char *root)
{
	deliver_head_and_check(md, NULL, in, inlen, want, wantlen, root);
}

/* The head: sender and mailbox; nothing that would break out of its lines. */
static void test_delivery_head_text(void **state)
{
	(void)state;
	char h[128];
	assert_int_equal(maildir_delivery_head(h, sizeof(h), "s@example.org", "bob",
	                                       "Bob+tag@Example.ORG", "mx.example"),
	                 0);
	assert_string_equal(h, "Return-Path: <s@example.org>\nDelivered-To: bob@Example.ORG\n");
	assert_int_equal(
	    maildir_delivery_head(h, sizeof(h), "", "postmaster", "postmaster", "mx.example"), 0);
	assert_string_equal(h, "Return-Path: <>\nDelivered-To: postmaster@mx.example\n");
	assert_int_equal(
	    maildir_delivery_head(h, sizeof(h), "s@x\nBcc: e@evil", "bob", "bob@x", "mx"), -1);
	assert_int_equal(maildir_delivery_head(h, sizeof(h), "s@x", "bob", "bob@x\r", "mx"), -1);
	char big[200];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(maildir_delivery_head(h, sizeof(h), big, "bob", "bob@x", "mx"), -1);
}

/* The delivery's own header lines come first, as given. */
static void test_delivery_head(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/var/mail/bob", f->root);
	static const char head[] = "Return-Path: <s@example.org>\nDelivered-To: bob@example.org\n";
	static const char in[] = "Subject: hi\r\n\r\nbody\r\n";
	static const char want[] = "Return-Path: <s@example.org>\nDelivered-To: bob@example.org\n"
	                           "Subject: hi\n\nbody\n";
	deliver_head_and_check(md, head, in, sizeof(in) - 1, want, sizeof(want) - 1, f->root);
	free(md);
	/* no data at all: the head alone */
	md = xasprintf("%s/var/mail/carol", f->root);
	deliver_head_and_check(md, head, "", 0, head, sizeof(head) - 1, f->root);
	free(md);
	/* several chunks (the head rides on the first), a CRLF across a chunk end */
	size_t n = 200003;
	char *big = xmalloc(n), *bigwant = xmalloc(sizeof(head) + n);
	size_t w = sizeof(head) - 1;
	memcpy(bigwant, head, w);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' : 'a';
	big[65535] = '\r'; /* the last octet of the first chunk, then LF */
	big[65536] = '\n';
	for (size_t i = 0; i < n; i++)
		if (!(big[i] == '\r' && i + 1 < n && big[i + 1] == '\n'))
			bigwant[w++] = big[i];
	md = xasprintf("%s/var/mail/dave", f->root);
	deliver_head_and_check(md, head, big, n, bigwant, w, f->root);
	free(md);
	free(big);
	free(bigwant);
}

static void test_fresh_delivery(void **state)
{
	struct fixture *f = *state;
	/* The parent var/mail does not exist yet either. */
	char *md = xasprintf("%s/var/mail/alice", f->root);
	static const char in[] = "Subject: hi\r\n\r\nbody\r\nlone\rcr\r\r\nend\r\n";
	static const char want[] = "Subject: hi\n\nbody\nlone\rcr\r\nend\n";
	deliver_and_check(md, in, sizeof(in) - 1, want, sizeof(want) - 1, f->root);
	assert_dir_mode(md, 0700);
	char *sub = xasprintf("%s/tmp", md);
	assert_dir_mode(sub, 0700);
	free(sub);
	sub = xasprintf("%s/new", md);
	assert_dir_mode(sub, 0700);
	assert_int_equal(count_entries(sub), 1);
	free(sub);
	sub = xasprintf("%s/cur", md);
	assert_dir_mode(sub, 0700);
	assert_int_equal(count_entries(sub), 0);
	free(sub);
	free(md);
}

/* The maildir exists but lacks its subdirectories (made by hand). */
static void test_missing_subdirs(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/box/", f->root); /* trailing slash on purpose */
	assert_int_equal(mkdir(md, 0700), 0);
	char *cur = xasprintf("%s/cur", md);
	assert_int_equal(mkdir(cur, 0700), 0);
	deliver_and_check(md, "x\r\n", 3, "x\n", 2, f->root);
	free(cur);
	free(md);
}

static void test_cr_edge_cases(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/m", f->root);
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"\r", "\r"},
	    {"\r\n", "\n"},
	    {"\r\r\n", "\r\n"},
	    {"\n\r", "\n\r"},
	    {"a\rb", "a\rb"},
	    {"\r\n\r\n", "\n\n"},
	    {"no newline", "no newline"},
	    {"\n\n", "\n\n"},
	    {"a\r\r", "a\r\r"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unit_rmtree(md);
		deliver_and_check(md, cases[i].in, strlen(cases[i].in), cases[i].want,
		                  strlen(cases[i].want), f->root);
	}
	free(md);
}

/*
 * A CRLF split by the 64 KiB read boundary, a lone CR as the last byte of a
 * chunk, and a CR as the very last byte of the message.
 */
static void test_chunk_boundaries(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/m", f->root);
	const size_t chunk = 64 * 1024;
	/* Variants put the boundary at each interesting position. */
	for (int variant = 0; variant < 4; variant++) {
		struct buf in, want;
		buf_init(&in, 0);
		buf_init(&want, 0);
		size_t total = 3 * chunk + 100;
		for (size_t i = 0; in.len < total; i++) {
			size_t pos = in.len;
			int at_b1 = pos == chunk - 1;     /* CRLF straddles boundary 1 */
			int at_b2 = pos == 2 * chunk - 1; /* lone CR ends chunk 2 */
			int at_b3 = pos == 3 * chunk - 1; /* CRCRLF: CR ends chunk 3 */
			if (variant == 1)
				at_b1 = pos == chunk - 2; /* CRLF just before boundary */
			if (variant == 2)
				at_b1 = pos == chunk; /* CRLF just after */
			if (variant == 3)
				at_b2 = at_b3 = 0;
			if (at_b1) {
				buf_append(&in, "\r\n", 2);
				buf_append(&want, "\n", 1);
			} else if (at_b2) {
				buf_append(&in, "\rX", 2);
				buf_append(&want, "\rX", 2);
			} else if (at_b3) {
				buf_append(&in, "\r\r\n", 3);
				buf_append(&want, "\r\n", 2);
			} else {
				char c = (char)('a' + i % 26);
				buf_append(&in, &c, 1);
				buf_append(&want, &c, 1);
			}
		}
		buf_append(&in, "\r", 1); /* trailing lone CR */
		buf_append(&want, "\r", 1);
		unit_rmtree(md);
		deliver_and_check(md, in.data, in.len, want.data, want.len, f->root);
		buf_free(&in);
		buf_free(&want);
	}
	/* Exactly one chunk ending in CR, then EOF: the CR must not be lost. */
	char *one = xmalloc(chunk);
	memset(one, 'z', chunk);
	one[chunk - 1] = '\r';
	unit_rmtree(md);
	deliver_and_check(md, one, chunk, one, chunk, f->root);
	free(one);
	free(md);
}

static void test_empty_message(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/m", f->root);
	deliver_and_check(md, "", 0, "", 0, f->root);
	free(md);
}

static void test_idempotent(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/m", f->root);
	char err[256];
	deliver_and_check(md, "one\r\n", 5, "one\n", 4, f->root);

	/* Same name again, different bytes: still the first copy, still one file. */
	int fd = data_fd(f->root, "two\r\n", 5);
	assert_int_equal(maildir_deliver(md, NAME, NULL, fd, err, sizeof(err)), MAILDIR_OK);
	char *newdir = xasprintf("%s/new", md);
	char *curdir = xasprintf("%s/cur", md);
	char *tmpdir = xasprintf("%s/tmp", md);
	char *newpath = xasprintf("%s/%s", newdir, NAME);
	assert_int_equal(count_entries(newdir), 1);
	size_t len;
	char *got = unit_read_file(newpath, &len);
	assert_non_null(got);
	assert_string_equal(got, "one\n");
	free(got);

	/* The reader moved it to cur/ with flags; each form counts as delivered. */
	static const char *const forms[] = {":2,S", "", ":2,", ":2,FRS", ":2,DFPRST"};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char *curpath = xasprintf("%s/%s%s", curdir, NAME, forms[i]);
		assert_int_equal(rename(newpath, curpath), 0);
		assert_int_equal(maildir_deliver(md, NAME, NULL, fd, err, sizeof(err)), MAILDIR_OK);
		assert_int_equal(count_entries(newdir), 0);
		assert_int_equal(count_entries(curdir), 1);
		assert_int_equal(count_entries(tmpdir), 0);
		/* Back to new/ for the next form. */
		assert_int_equal(rename(curpath, newpath), 0);
		free(curpath);
	}

	/* A different file in cur/ that merely shares a prefix is not ours. */
	assert_int_equal(unlink(newpath), 0);
	char *other = xasprintf("%s/%s0:2,S", curdir, NAME);
	int ofd = open(other, O_CREAT | O_WRONLY, 0600);
	assert_true(ofd != -1);
	close(ofd);
	assert_int_equal(maildir_deliver(md, NAME, NULL, fd, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(count_entries(newdir), 1);
	free(other);
	close(fd);
	free(newpath);
	free(newdir);
	free(curdir);
	free(tmpdir);
	free(md);
}

/* A large cur/ is not read; the common ":2,S" form is still found. */
static void test_idempotent_large_cur(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/m", f->root);
	deliver_and_check(md, "x\r\n", 3, "x\n", 2, f->root);
	char *curdir = xasprintf("%s/cur", md);
	struct stat st;
	for (int i = 0; i < 200000; i++) {
		assert_int_equal(stat(curdir, &st), 0);
		if (st.st_size > 256 * 1024)
			break;
		char *p =
		    xasprintf("%s/%d.filler-name-to-grow-the-directory-quickly:2,S", curdir, i);
		int fd = open(p, O_CREAT | O_WRONLY, 0600);
		assert_true(fd != -1);
		close(fd);
		free(p);
	}
	assert_true(st.st_size > 256 * 1024);
	char *newpath = xasprintf("%s/new/%s", md, NAME);
	char *curpath = xasprintf("%s/%s:2,S", curdir, NAME);
	assert_int_equal(rename(newpath, curpath), 0);
	char err[256];
	int fd = data_fd(f->root, "x\r\n", 3);
	assert_int_equal(maildir_deliver(md, NAME, NULL, fd, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(access(newpath, F_OK), -1);
	close(fd);
	free(newpath);
	free(curpath);
	free(curdir);
	free(md);
}

/* A tmp/<name> left by a crash is replaced, not an error. */
static void test_stale_tmp(void **state)
{
	struct fixture *f = *state;
	char *md = xasprintf("%s/m", f->root);
	deliver_and_check(md, "", 0, "", 0, f->root); /* creates the dirs */
	char *newpath = xasprintf("%s/new/%s", md, NAME);
	assert_int_equal(unlink(newpath), 0);
	char *tmppath = xasprintf("%s/tmp/%s", md, NAME);
	int t = open(tmppath, O_CREAT | O_WRONLY, 0600);
	assert_true(t != -1);
	assert_int_equal(write(t, "half a mess", 11), 11);
	close(t);
	deliver_and_check(md, "whole\r\n", 7, "whole\n", 6, f->root);
	free(tmppath);
	free(newpath);
	free(md);
}

static void touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd != -1);
	close(fd);
}

static void test_not_a_directory(void **state)
{
	struct fixture *f = *state;
	char err[256];
	int fd = data_fd(f->root, "x\r\n", 3);

	/* A file where the maildir should be. */
	char *md = xasprintf("%s/file", f->root);
	touch(md);
	err[0] = 0;
	assert_int_equal(maildir_deliver(md, NAME, NULL, fd, err, sizeof(err)), MAILDIR_PERM);
	assert_non_null(strstr(err, md));
	assert_non_null(strstr(err, strerror(ENOTDIR)));

	/* A file as an ancestor. */
	char *below = xasprintf("%s/file/sub/box", f->root);
	assert_int_equal(maildir_deliver(below, NAME, NULL, fd, err, sizeof(err)), MAILDIR_PERM);
	free(below);

	/* A file where new/ should be: nothing may be left in tmp/. */
	char *md2 = xasprintf("%s/box2", f->root);
	char *p = xasprintf("%s/new", md2);
	assert_int_equal(mkdir(md2, 0700), 0);
	touch(p);
	assert_int_equal(maildir_deliver(md2, NAME, NULL, fd, err, sizeof(err)), MAILDIR_PERM);
	free(p);
	p = xasprintf("%s/tmp", md2);
	assert_int_equal(count_entries(p), 0);
	free(p);
	free(md2);
	free(md);
	close(fd);
}

static void test_bad_name(void **state)
{
	struct fixture *f = *state;
	char err[256];
	char *md = xasprintf("%s/m", f->root);
	int fd = data_fd(f->root, "x", 1);
	static const char *const bad[] = {"", ".", "..", "a/b", "/abs"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(maildir_deliver(md, bad[i], NULL, fd, err, sizeof(err)),
		                 MAILDIR_PERM);
		assert_true(err[0] != 0);
	}
	char longname[600];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(maildir_deliver(md, longname, NULL, fd, err, sizeof(err)), MAILDIR_PERM);
	close(fd);
	free(md);
}

/* Unreadable spool data: TEMP, and neither tmp/ nor new/ keeps anything. */
static void test_bad_data_fd(void **state)
{
	struct fixture *f = *state;
	char err[256];
	char *md = xasprintf("%s/m", f->root);
	err[0] = 0;
	assert_int_equal(maildir_deliver(md, NAME, NULL, -1, err, sizeof(err)), MAILDIR_TEMP);
	assert_non_null(strstr(err, strerror(EBADF)));
	/* A directory fd cannot be read either (EISDIR). */
	int dfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(dfd != -1);
	assert_int_equal(maildir_deliver(md, NAME, NULL, dfd, err, sizeof(err)), MAILDIR_TEMP);
	close(dfd);
	char *p = xasprintf("%s/tmp", md);
	assert_int_equal(count_entries(p), 0);
	free(p);
	p = xasprintf("%s/new", md);
	assert_int_equal(count_entries(p), 0);
	free(p);
	free(md);
}

/*
 * Mode bits must stop the delivery with TEMP (a permission fix and a retry
 * may cure it). Root ignores mode bits, so as root the delivery runs in a
 * child that drops to nobody.
 */
static int deliver_as_unprivileged(const char *md, int fd, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return maildir_deliver(md, NAME, NULL, fd, err, errlen);
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	pid_t pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(pfd[0]);
		if (setgroups(0, NULL) == -1 || setgid(65534) == -1 || setuid(65534) == -1)
			_exit(100);
		int r = maildir_deliver(md, NAME, NULL, fd, err, errlen);
		ssize_t w = write(pfd[1], err, strlen(err) + 1);
		(void)w;
		_exit(r == MAILDIR_OK ? 0 : r == MAILDIR_TEMP ? 1 : 2);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], err, errlen - 1);
	err[n > 0 ? n : 0] = 0;
	close(pfd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 100);
	static const int map[] = {MAILDIR_OK, MAILDIR_TEMP, MAILDIR_PERM};
	return map[WEXITSTATUS(status)];
}

static void test_unwritable(void **state)
{
	struct fixture *f = *state;
	char err[256];
	assert_int_equal(chmod(f->root, 0755), 0); /* let "nobody" reach it */
	int fd = data_fd(f->root, "x\r\n", 3);

	/* Maildir exists with mode 000. */
	char *md = xasprintf("%s/locked", f->root);
	assert_int_equal(mkdir(md, 0), 0);
	assert_int_equal(chmod(md, 0), 0);
	err[0] = 0;
	assert_int_equal(deliver_as_unprivileged(md, fd, err, sizeof(err)), MAILDIR_TEMP);
	assert_non_null(strstr(err, md));
	assert_non_null(strstr(err, strerror(EACCES)));

	/* Maildir missing under a parent we may not write. */
	char *ro = xasprintf("%s/ro", f->root);
	assert_int_equal(mkdir(ro, 0555), 0);
	assert_int_equal(chmod(ro, 0555), 0);
	char *below = xasprintf("%s/user", ro);
	assert_int_equal(deliver_as_unprivileged(below, fd, err, sizeof(err)), MAILDIR_TEMP);
	assert_non_null(strstr(err, strerror(EACCES)));
	assert_int_equal(access(below, F_OK), -1);

	/* A complete maildir whose tmp/ is read-only: nothing reaches new/. */
	char *md3 = xasprintf("%s/rotmp", f->root);
	assert_int_equal(chmod(f->root, 0777), 0);
	assert_int_equal(deliver_as_unprivileged(md3, fd, err, sizeof(err)), MAILDIR_OK);
	char *newpath = xasprintf("%s/new/%s", md3, NAME);
	assert_int_equal(unlink(newpath), 0);
	char *tmp = xasprintf("%s/tmp", md3);
	assert_int_equal(chmod(tmp, 0500), 0);
	assert_int_equal(deliver_as_unprivileged(md3, fd, err, sizeof(err)), MAILDIR_TEMP);
	assert_int_equal(access(newpath, F_OK), -1);
	chmod(tmp, 0700);
	chmod(md, 0700);

	free(tmp);
	free(newpath);
	free(md3);
	free(below);
	free(ro);
	free(md);
	close(fd);
}

static void test_name_format(void **state)
{
	(void)state;
	char b[256];
	maildir_name(b, sizeof(b), 1700000000, "ABC123", 2, "mx.example.org");
	assert_string_equal(b, "1700000000.RABC123_2.mx.example.org");
	maildir_name(b, sizeof(b), 0, "x", 4294967295u, "h");
	assert_string_equal(b, "0.Rx_4294967295.h");
	maildir_name(b, sizeof(b), -5, "", 0, "");
	assert_string_equal(b, "-5.R_0.");
	/* Escapes per the spec; the id is escaped too so it can never be a path. */
	maildir_name(b, sizeof(b), 1, "a/b:c", 0, "host/with:colons");
	assert_string_equal(b, "1.Ra\\057b\\072c_0.host\\057with\\072colons");
	assert_null(strchr(b, '/'));
	assert_null(strchr(b, ':'));
	maildir_name(b, sizeof(b), 1, "m", 0, NULL);
	assert_string_equal(b, "1.Rm_0.");
}

/* Every short buffer: NUL-terminated, a prefix of the full name, no escape
 * cut in half, nothing written past dstlen. */
static void test_name_truncation(void **state)
{
	(void)state;
	char full[256];
	maildir_name(full, sizeof(full), 1700000000, "Q/1", 7, "a:b/c");
	assert_string_equal(full, "1700000000.RQ\\0571_7.a\\072b\\057c");
	for (size_t len = 0; len <= strlen(full) + 2; len++) {
		char b[80];
		memset(b, 'C', sizeof(b));
		maildir_name(b, len, 1700000000, "Q/1", 7, "a:b/c");
		for (size_t i = len; i < sizeof(b); i++)
			assert_int_equal(b[i], 'C');
		if (len == 0)
			continue;
		size_t n = strlen(b);
		assert_true(n < len);
		assert_memory_equal(b, full, n);
		char *bs = strrchr(b, '\\');
		if (bs)
			assert_true(strlen(bs) >= 4);
	}
}

/* With a check, the data is summed as it is read: what does not match its
 * size and CRC-32C is MAILDIR_CORRUPT, and leaves nothing in tmp/ or new/;
 * what matches is delivered as without a check. Also across a chunk. */
static void checked_case(struct fixture *f, size_t len)
{
	char *md = xasprintf("%s/mail/checked%zu", f->root, len);
	char *in = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		in[i] = (char)('a' + i % 26);
	memcpy(in, "Subject: x\r\n\r\n", 15);
	struct maildir_check good = {len, crc32c_update(0, in, len)};
	struct maildir_check bad_crc = {len, good.crc ^ 4};
	struct maildir_check bad_size = {len + 1, good.crc};
	const struct maildir_check *bad[] = {&bad_crc, &bad_size};
	char err[256];
	for (size_t i = 0; i < 2; i++) {
		int fd = data_fd(f->root, in, len);
		struct maildir_prep p;
		assert_int_equal(
		    maildir_prepare_checked(md, NAME, NULL, fd, bad[i], 1, &p, err, sizeof(err)),
		    MAILDIR_CORRUPT);
		assert_non_null(strstr(err, "damaged"));
		close(fd);
		char *sub = xasprintf("%s/tmp", md);
		assert_int_equal(count_entries(sub), 0);
		free(sub);
		sub = xasprintf("%s/new", md);
		assert_int_equal(count_entries(sub), 0);
		free(sub);
	}
	int fd = data_fd(f->root, in, len);
	struct maildir_prep p;
	assert_int_equal(
	    maildir_prepare_checked(md, NAME, NULL, fd, &good, 1, &p, err, sizeof(err)),
	    MAILDIR_OK);
	assert_int_equal(maildir_publish(&p, 1, err, sizeof(err)), MAILDIR_OK);
	maildir_prep_close(&p);
	close(fd);
	char *sub = xasprintf("%s/new", md);
	assert_int_equal(count_entries(sub), 1);
	free(sub);
	free(in);
	free(md);
}

static void test_checked_prepare(void **state)
{
	checked_case(*state, 40);
	checked_case(*state, 64 * 1024 + 17); /* more than one read */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fresh_delivery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delivery_head, setup, teardown),
	    cmocka_unit_test(test_delivery_head_text),
	    cmocka_unit_test_setup_teardown(test_missing_subdirs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cr_edge_cases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunk_boundaries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idempotent_large_cur, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_tmp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_data_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checked_prepare, setup, teardown),
	    cmocka_unit_test(test_name_format),
	    cmocka_unit_test(test_name_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
