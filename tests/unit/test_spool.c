/*
 * Unit tests for the spool (src/queue/spool.c) in a temporary directory:
 * the commit protocol (including items that fail inside a batch without
 * failing the others), STATE appends, removal, quarantine, id validation,
 * and start-up recovery of every crash leftover docs/SPOOL.md lists.
 */
#include "unit_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "envelope.h"
#include "log.h"
#include "spool.h"
#include "spool_fixture.h"
#include "xmalloc.h"

static void append_file(const struct fixture *f, const char *sub, const char *name,
                        const void *data, size_t n)
{
	char *p = fx_path(f, sub, name);
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	free(p);
}

static void test_commit_and_load(void **state)
{
	struct fixture *f = *state;
	const char *body = "Subject: hi\r\n\r\nhello\r\n";
	struct envelope e, d;
	fx_env_make(&e, "Msg1", strlen(body), 3);
	struct spool_commit it = {.env = &e, .data_fd = fx_data_make(f, "Msg1", body)};
	spool_commit_batch(f->s, &it, 1);
	assert_int_equal(it.result, 0);
	assert_int_equal(it.error, 0);
	close(it.data_fd);

	assert_true(fx_exists(f, "env", "Msg1"));
	assert_false(fx_exists(f, "tmp", "Msg1"));
	char err[128];
	assert_int_equal(spool_load(f->s, "Msg1", &d, err, sizeof(err)), 0);
	assert_string_equal(d.id, "Msg1");
	assert_int_equal(d.n_rcpts, 3);
	assert_string_equal(d.rcpts[2].addr, "rcpt2@example.org");
	assert_int_equal(d.size, strlen(body));
	envelope_free(&d);

	int fd = spool_open_data(f->s, "Msg1");
	assert_true(fd >= 0);
	char got[64] = "";
	assert_int_equal(read(fd, got, sizeof(got) - 1), (ssize_t)strlen(body));
	assert_string_equal(got, body);
	close(fd);

	/* files are private to the queue user */
	char *p = fx_path(f, "env", "Msg1");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);

	assert_int_equal(spool_load(f->s, "Nope", &d, err, sizeof(err)), -1);
	assert_int_equal(spool_open_data(f->s, "Nope"), -1);
	envelope_free(&e);
}

static void test_batch_partial_failure(void **state)
{
	struct fixture *f = *state;
	struct envelope a, b, c, dup, bad, other;
	fx_env_make(&a, "A", 5, 1);
	fx_env_make(&b, "B", 99, 1); /* data file has 5 octets */
	fx_env_make(&c, "C", 5, 2);
	fx_env_make(&dup, "Dup", 5, 1);
	fx_env_make(&bad, "Bad", 5, 1);
	fx_env_make(&other, "Other", 5, 1);
	strcpy(bad.id, "../x");
	/* an envelope already committed under Dup must not be replaced */
	fx_put_file(f, "env", "Dup", "precious", 8);
	int other_fd = fx_data_make(f, "Other", "12345");

	struct spool_commit items[6] = {
	    {.env = &a, .data_fd = fx_data_make(f, "A", "12345")},
	    {.env = &b, .data_fd = fx_data_make(f, "B", "12345")},
	    {.env = &c, .data_fd = fx_data_make(f, "C", "12345")},
	    {.env = &dup, .data_fd = fx_data_make(f, "Dup", "12345")},
	    {.env = &bad, .data_fd = other_fd},
	    {.env = &other, .data_fd = -1},
	};
	items[5].data_fd = items[0].data_fd; /* the fd of data/A, not data/Other */
	spool_commit_batch(f->s, items, 6);
	assert_int_equal(items[0].result, 0);
	assert_int_equal(items[2].result, 0);

	assert_int_equal(items[1].result, -1);
	assert_int_equal(items[1].error, EINVAL);
	assert_non_null(strstr(items[1].reason, "size"));
	assert_int_equal(items[3].result, -1);
	assert_int_equal(items[3].error, EEXIST);
	assert_int_equal(items[4].result, -1);
	assert_int_equal(items[4].error, EINVAL);
	assert_int_equal(items[5].result, -1);

	/* failed items leave no trace in tmp/ or env/; data is the caller's */
	assert_false(fx_exists(f, "env", "B"));
	assert_false(fx_exists(f, "tmp", "B"));
	assert_true(fx_exists(f, "data", "B"));
	assert_false(fx_exists(f, "tmp", "Dup"));
	assert_false(fx_exists(f, "env", "Other"));
	assert_false(fx_exists(f, "tmp", "Other"));
	size_t len;
	char *p = fx_path(f, "env", "Dup");
	char *content = unit_read_file(p, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(content, "precious", 8);
	free(content);
	free(p);
	assert_true(fx_exists(f, "env", "A"));
	assert_true(fx_exists(f, "env", "C"));

	spool_discard(f->s, "B");
	assert_false(fx_exists(f, "data", "B"));
	for (int i = 0; i < 5; i++)
		close(items[i].data_fd);
	envelope_free(&a);
	envelope_free(&b);
	envelope_free(&c);
	envelope_free(&dup);
	envelope_free(&bad);
	envelope_free(&other);

	/* an empty batch is a no-op */
	spool_commit_batch(f->s, NULL, 0);
}

static void test_large_batch(void **state)
{
	struct fixture *f = *state;
	/* more items than one sync chunk, with failures spread through it */
	enum { N = 300 };
	struct envelope *e = xcalloc(N, sizeof(*e));
	struct spool_commit *items = xcalloc(N, sizeof(*items));
	for (size_t i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "L%zu", i);
		fx_env_make(&e[i], id, i % 7 == 3 ? 999 : 4, 1);
		items[i].env = &e[i];
		items[i].data_fd = fx_data_make(f, id, "body");
	}
	spool_commit_batch(f->s, items, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(items[i].result, i % 7 == 3 ? -1 : 0);
		assert_int_equal(fx_exists(f, "env", e[i].id), i % 7 != 3);
		assert_false(fx_exists(f, "tmp", e[i].id));
		close(items[i].data_fd);
		envelope_free(&e[i]);
	}
	free(items);
	free(e);
}

static void test_commit_write_error(void **state)
{
	struct fixture *f = *state;
	/* Make the envelope write fail the way a full disk does: a file size
	 * limit gives EFBIG where a full disk gives ENOSPC, through the same
	 * path, so the errno must come back in item->error. */
	struct envelope e;
	fx_env_make(&e, "Big", 3, 2000);
	struct spool_commit it = {.env = &e, .data_fd = fx_data_make(f, "Big", "abc")};
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	spool_commit_batch(f->s, &it, 1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);

	assert_int_equal(it.result, -1);
	assert_int_equal(it.error, EFBIG);
	assert_non_null(strstr(it.reason, "write"));
	assert_false(fx_exists(f, "tmp", "Big"));
	assert_false(fx_exists(f, "env", "Big"));
	close(it.data_fd);
	spool_discard(f->s, "Big");
	assert_false(fx_exists(f, "data", "Big"));
	envelope_free(&e);
}

static void test_append_state(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "St1", "x", 3);
	assert_int_equal(
	    spool_append_state(f->s, "St1", 1, RCPT_DEFERRED, 1, 1700000600, "451 4.7.1 later"), 0);
	assert_int_equal(spool_append_state(f->s, "St1", 2, RCPT_DELIVERED, 1, 0, NULL), 0);
	struct envelope d;
	char err[128];
	assert_int_equal(spool_load(f->s, "St1", &d, err, sizeof(err)), 0);
	assert_int_equal(d.rcpts[0].state, RCPT_PENDING);
	assert_int_equal(d.rcpts[1].state, RCPT_DEFERRED);
	assert_int_equal(d.rcpts[1].attempts, 1);
	assert_true(d.rcpts[1].next_try == 1700000600);
	assert_string_equal(d.rcpts[1].last_error, "451 4.7.1 later");
	assert_int_equal(d.rcpts[2].state, RCPT_DELIVERED);
	envelope_free(&d);

	errno = 0;
	assert_int_equal(spool_append_state(f->s, "../St1", 0, RCPT_DELIVERED, 1, 0, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_append_state(f->s, "St1", 0, 77, 1, 0, NULL), -1);
	assert_int_equal(spool_append_state(f->s, "Missing", 0, RCPT_DELIVERED, 1, 0, NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(fx_exists(f, "env", "Missing"));
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Rm", "body", 1);
	assert_true(fx_exists(f, "env", "Rm"));
	spool_remove(f->s, "Rm");
	assert_false(fx_exists(f, "env", "Rm"));
	assert_false(fx_exists(f, "data", "Rm"));
	spool_remove(f->s, "Rm"); /* already gone: quiet */
}

static ino_t inode_of(const struct fixture *f, const char *sub, const char *name)
{
	char *p = fx_path(f, sub, name);
	struct stat st;
	assert_int_equal(lstat(p, &st), 0);
	free(p);
	return st.st_ino;
}

static size_t count_dir_entries(const struct fixture *f, const char *sub)
{
	char *p = xasprintf("%s/%s", f->queue, sub);
	DIR *d = opendir(p);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	free(p);
	return n;
}

/* Finished messages' files are recycled, not deleted: the next message's
 * files are the same inodes, empty, and the pool outlives a restart. */
static void test_recycled_files(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Old1", "a rather long old message body\r\n", 1);
	ino_t data_ino = inode_of(f, "data", "Old1"), env_ino = inode_of(f, "env", "Old1");
	spool_remove(f->s, "Old1");
	assert_false(fx_exists(f, "data", "Old1"));
	assert_false(fx_exists(f, "env", "Old1"));
	assert_int_equal(count_dir_entries(f, "free"), 2);

	/* a recycled data file shows its writer none of the old bytes: what
	 * is not overwritten reads as zeros (or the file is empty) */
	int peek = spool_create_data(f->s, "Peek1");
	assert_true(peek >= 0);
	char old[64];
	ssize_t got_n = pread(peek, old, sizeof(old), 0);
	assert_true(got_n >= 0);
	for (ssize_t i = 0; i < got_n; i++)
		assert_int_equal(old[i], 0);
	close(peek);
	spool_discard(f->s, "Peek1");
	assert_int_equal(count_dir_entries(f, "free"), 2);

	/* the next message reuses both inodes, and none of the old bytes */
	fx_commit_msg(f, "New1", "short\r\n", 1);
	ino_t got[2] = {inode_of(f, "data", "New1"), inode_of(f, "env", "New1")};
	for (size_t i = 0; i < 2; i++)
		assert_true(got[i] == data_ino || got[i] == env_ino);
	assert_int_equal(count_dir_entries(f, "free"), 0);
	struct envelope d;
	char err[128];
	assert_int_equal(spool_load(f->s, "New1", &d, err, sizeof(err)), 0);
	assert_int_equal(d.size, 7);
	envelope_free(&d);
	size_t len;
	char *p = fx_path(f, "data", "New1");
	char *text = unit_read_file(p, &len);
	assert_int_equal(len, 7);
	assert_memory_equal(text, "short\r\n", 7);
	free(text);
	free(p);

	/* a discarded (never committed) data file is recycled too, and the pool
	 * is found again after a restart */
	int fd = spool_create_data(f->s, "Gone1");
	assert_true(fd >= 0);
	close(fd);
	spool_discard(f->s, "Gone1");
	spool_remove(f->s, "New1");
	assert_int_equal(count_dir_entries(f, "free"), 3);
	spool_close(f->s);
	char e2[128];
	f->s = spool_open(f->queue, e2, sizeof(e2));
	assert_non_null(f->s);
	spool_recover(f->s, NULL, NULL);
	fd = spool_create_data(f->s, "Again1");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(count_dir_entries(f, "free"), 2);
}

/* The pool keeps a burst's worth of files (more than a thousand), and a
 * large file keeps its inode there but not its blocks. */
static void test_pool_keeps_burst(void **state)
{
	struct fixture *f = *state;
	enum { BURST = 3000 };
	char id[32];
	for (int i = 0; i < BURST; i++) {
		snprintf(id, sizeof(id), "Burst%d", i);
		int fd = spool_create_data(f->s, id);
		assert_true(fd >= 0);
		close(fd);
	}
	for (int i = 0; i < BURST; i++) {
		snprintf(id, sizeof(id), "Burst%d", i);
		spool_discard(f->s, id);
	}
	assert_int_equal(count_dir_entries(f, "free"), BURST);
	assert_int_equal(count_dir_entries(f, "data"), 0);

	int fd = spool_create_data(f->s, "Big1");
	assert_true(fd >= 0);
	char *big = xcalloc(1, 2 * 1024 * 1024);
	memset(big, 'x', 2 * 1024 * 1024);
	assert_int_equal(write(fd, big, 2 * 1024 * 1024), 2 * 1024 * 1024);
	free(big);
	close(fd);
	spool_discard(f->s, "Big1");
	assert_int_equal(count_dir_entries(f, "free"), BURST);
	/* the next file taken is the big one: empty, no blocks */
	fd = spool_create_data(f->s, "After1");
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_blocks, 0);
	close(fd);
}

/* Below the room kept free the spool says so, gives the pool's files back
 * at once, and deletes finished messages' files instead of pooling them;
 * above it, nothing changes. */
static void test_space_short(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Sp1", "body one\r\n", 1);
	fx_commit_msg(f, "Sp2", "body two\r\n", 1);
	spool_remove(f->s, "Sp1");
	assert_int_equal(count_dir_entries(f, "free"), 2);

	struct spool_space sp;
	spool_set_min_free(f->s, 0, 0);
	assert_int_equal(spool_space_short(f->s, 1, &sp), 0);
	assert_true(sp.avail > 0);
	assert_int_equal(count_dir_entries(f, "free"), 2);

	/* more free octets wanted than any disk has */
	spool_set_min_free(f->s, (uint64_t)1 << 60, 0);
	assert_int_equal(spool_space_short(f->s, 0, &sp), 1);
	assert_int_equal(sp.short_space, 1);
	assert_int_equal(count_dir_entries(f, "free"), 0);
	spool_remove(f->s, "Sp2");
	assert_false(fx_exists(f, "env", "Sp2"));
	assert_int_equal(count_dir_entries(f, "free"), 0);

	/* the figures are taken at most once a second unless forced */
	spool_set_min_free(f->s, 0, 0);
	assert_int_equal(spool_space_short(f->s, 0, NULL), 0); /* set_min_free forgets */
	spool_set_min_free(f->s, 0, UINT64_MAX);
	assert_int_equal(spool_space_short(f->s, 1, NULL), 1); /* too few inodes */
	spool_set_min_free(f->s, 0, 0);
	assert_int_equal(spool_space_short(f->s, 1, NULL), 0);
	fx_commit_msg(f, "Sp3", "x", 1);
	spool_remove(f->s, "Sp3");
	assert_int_equal(count_dir_entries(f, "free"), 2); /* pooled again */
	assert_int_equal(spool_release(f->s), 2);
	assert_int_equal(count_dir_entries(f, "free"), 0);
	assert_int_equal(spool_release(f->s), 0);
}

static void test_invalid_ids(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"",  "../evil", "a/b",
	                                  ".", "a.b",     "0123456789abcdef0123456789ABCDEF0"};
	fx_put_file(f, "env", "Keep", "x", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(spool_create_data(f->s, bad[i]), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(spool_open_data(f->s, bad[i]), -1);
		struct envelope d;
		char err[64];
		assert_int_equal(spool_load(f->s, bad[i], &d, err, sizeof(err)), -1);
		spool_discard(f->s, bad[i]);
		spool_remove(f->s, bad[i]);
		spool_quarantine(f->s, bad[i], "test");
	}
	assert_true(fx_exists(f, "env", "Keep"));
	char *evil = xasprintf("%s/evil", f->queue);
	struct stat st;
	assert_int_equal(lstat(evil, &st), -1);
	free(evil);
	/* a valid id that exists already */
	int fd = spool_create_data(f->s, "Twice");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spool_create_data(f->s, "Twice"), -1);
	assert_int_equal(errno, EEXIST);
}

static void test_quarantine_clash(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Qq", "abc", 1);
	spool_quarantine(f->s, "Qq", "first \"reason\"\n");
	assert_true(fx_exists(f, "corrupt", "Qq.env"));
	assert_true(fx_exists(f, "corrupt", "Qq.data"));
	assert_false(fx_exists(f, "env", "Qq"));
	assert_false(fx_exists(f, "data", "Qq"));
	fx_commit_msg(f, "Qq", "abcd", 1);
	spool_quarantine(f->s, "Qq", "second");
	assert_true(fx_exists(f, "corrupt", "Qq.1.env"));
	assert_true(fx_exists(f, "corrupt", "Qq.1.data"));
	/* the first pair was not overwritten */
	size_t len;
	char *p = fx_path(f, "corrupt", "Qq.data");
	free(unit_read_file(p, &len));
	assert_int_equal(len, 3);
	free(p);
}

struct seen {
	size_t n;
	struct envelope e[16];
};

static void collect(const struct envelope *e, void *arg)
{
	struct seen *s = arg;
	assert_true(s->n < 16);
	envelope_copy(&s->e[s->n++], e);
}

static const struct envelope *seen_find(const struct seen *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->e[i].id, id))
			return &s->e[i];
	return NULL;
}

static void test_recover(void **state)
{
	struct fixture *f = *state;
	/* good one */
	fx_commit_msg(f, "Good", "good body", 2);
	/* uncommitted data file: never acknowledged */
	close(fx_data_make(f, "Uncommitted", "half"));
	/* leftovers in tmp/, with and without an id name */
	fx_put_file(f, "tmp", "Tmp1", "junk", 4);
	fx_put_file(f, "tmp", "not.an.id", "junk", 4);
	/* a committed envelope damaged on disk */
	fx_commit_msg(f, "Corrupt", "c", 1);
	char *p = fx_path(f, "env", "Corrupt");
	size_t len;
	char *content = unit_read_file(p, &len);
	content[len / 2] ^= 0x40;
	fx_put_file(f, "env", "Corrupt", content, len);
	free(content);
	free(p);
	fx_put_file(f, "corrupt", "Corrupt.env", "older", 5); /* a name clash */
	/* an envelope without its data file */
	fx_commit_msg(f, "NoData", "n", 1);
	p = fx_path(f, "data", "NoData");
	assert_int_equal(unlink(p), 0);
	free(p);
	/* a data file of the wrong size */
	fx_commit_msg(f, "Grown", "g", 1);
	append_file(f, "data", "Grown", "more", 4);
	/* an interrupted removal: all recipients final, data already gone */
	fx_commit_msg(f, "Done", "d", 2);
	assert_int_equal(spool_append_state(f->s, "Done", 0, RCPT_DELIVERED, 1, 0, NULL), 0);
	assert_int_equal(spool_append_state(f->s, "Done", 1, RCPT_FAILED, 1, 0, "550"), 0);
	p = fx_path(f, "data", "Done");
	assert_int_equal(unlink(p), 0);
	free(p);
	/* a torn STATE append */
	fx_commit_msg(f, "Torn", "t", 2);
	assert_int_equal(spool_append_state(f->s, "Torn", 1, RCPT_HELD, 0, 0, NULL), 0);
	p = fx_path(f, "env", "Torn");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	off_t whole = st.st_size;
	free(p);
	struct buf rec;
	buf_init(&rec, 0);
	assert_int_equal(envelope_encode_state(0, RCPT_DELIVERED, 1, 0, NULL, &rec), 0);
	append_file(f, "env", "Torn", rec.data, rec.len - 2);
	buf_free(&rec);
	/* names that are not message ids are left alone */
	fx_put_file(f, "env", "README.txt", "hello", 5);
	fx_put_file(f, "data", "foo.bar", "hello", 5);
	/* an env whose HEADER names another id */
	fx_commit_msg(f, "Orig", "o", 1);
	char *from = fx_path(f, "env", "Orig"), *to = fx_path(f, "env", "Renamed");
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);
	from = fx_path(f, "data", "Orig");
	to = fx_path(f, "data", "Renamed");
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);

	/* restart */
	spool_close(f->s);
	char err[128];
	f->s = spool_open(f->queue, err, sizeof(err));
	assert_non_null(f->s);
	struct seen seen = {0};
	size_t n = spool_recover(f->s, collect, &seen);
	assert_int_equal(n, 2);
	assert_int_equal(seen.n, 2);
	const struct envelope *g = seen_find(&seen, "Good");
	assert_non_null(g);
	assert_int_equal(g->n_rcpts, 2);
	assert_int_equal(g->size, strlen("good body"));
	const struct envelope *t = seen_find(&seen, "Torn");
	assert_non_null(t);
	assert_int_equal(t->rcpts[0].state, RCPT_PENDING);
	assert_int_equal(t->rcpts[1].state, RCPT_HELD);

	assert_true(fx_exists(f, "env", "Good"));
	assert_true(fx_exists(f, "data", "Good"));
	assert_false(fx_exists(f, "data", "Uncommitted"));
	assert_false(fx_exists(f, "tmp", "Tmp1"));
	assert_false(fx_exists(f, "tmp", "not.an.id"));

	assert_false(fx_exists(f, "env", "Corrupt"));
	assert_false(fx_exists(f, "data", "Corrupt"));
	assert_true(fx_exists(f, "corrupt", "Corrupt.1.env"));
	assert_true(fx_exists(f, "corrupt", "Corrupt.1.data"));

	assert_false(fx_exists(f, "env", "NoData"));
	assert_true(fx_exists(f, "corrupt", "NoData.env"));

	assert_false(fx_exists(f, "env", "Grown"));
	assert_true(fx_exists(f, "corrupt", "Grown.env"));
	assert_true(fx_exists(f, "corrupt", "Grown.data"));

	assert_false(fx_exists(f, "env", "Done"));
	assert_false(fx_exists(f, "corrupt", "Done.env"));

	assert_false(fx_exists(f, "env", "Renamed"));
	assert_true(fx_exists(f, "corrupt", "Renamed.env"));

	assert_true(fx_exists(f, "env", "README.txt"));
	assert_true(fx_exists(f, "data", "foo.bar"));
	assert_false(fx_exists(f, "corrupt", "README.txt.env"));

	/* the torn tail was cut, so a new append lands on a record boundary */
	p = fx_path(f, "env", "Torn");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, whole);
	free(p);
	assert_int_equal(spool_append_state(f->s, "Torn", 0, RCPT_DELIVERED, 1, 0, NULL), 0);
	struct envelope d;
	assert_int_equal(spool_load(f->s, "Torn", &d, err, sizeof(err)), 0);
	assert_int_equal(d.rcpts[0].state, RCPT_DELIVERED);
	assert_int_equal(d.rcpts[1].state, RCPT_HELD);
	envelope_free(&d);

	/* recovery is idempotent */
	struct seen again = {0};
	assert_int_equal(spool_recover(f->s, collect, &again), 2);
	for (size_t i = 0; i < seen.n; i++)
		envelope_free(&seen.e[i]);
	for (size_t i = 0; i < again.n; i++)
		envelope_free(&again.e[i]);
	assert_int_equal(spool_recover(f->s, NULL, NULL), 2);
}

/* Overwrite name in sub with n octets of what it holds, the rest zeros
 * (the blocks a crash left unwritten read as zeros). */
static void zero_tail(const struct fixture *f, const char *sub, const char *name, size_t keep)
{
	char *p = fx_path(f, sub, name);
	size_t len;
	char *content = unit_read_file(p, &len);
	assert_true(keep <= len);
	memset(content + keep, 0, len - keep);
	fx_put_file(f, sub, name, content, len);
	free(content);
	free(p);
}

/*
 * The one-wave commit renames envelopes into env/ before the wave that
 * syncs them, so a crash during the wave can leave, in env/, messages that
 * were never acknowledged and whose files are not whole: the data missing,
 * short, or not what its checksum says; the envelope torn. Recovery must
 * never deliver those (never half a message) and never delete them (it
 * cannot tell them from acknowledged messages damaged afterwards): they
 * are set aside in corrupt/, logged. An acknowledged message beside them
 * is recovered, whole.
 */
static void test_recover_unfinished_wave(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Acked", "acknowledged body\r\n", 1);
	fx_commit_msg(f, "Tried", "tried body\r\n", 1); /* with a delivery history */
	assert_int_equal(spool_append_state(f->s, "Tried", 0, RCPT_DEFERRED, 1, 0, "451"), 0);
	/* the wave's leftovers, as a crash finds them */
	fx_commit_msg(f, "NoData", "n body\r\n", 1);
	char *p = fx_path(f, "data", "NoData");
	assert_int_equal(unlink(p), 0);
	free(p);
	fx_commit_msg(f, "Short", "short body\r\n", 1);
	p = fx_path(f, "data", "Short");
	assert_int_equal(truncate(p, 3), 0);
	free(p);
	fx_commit_msg(f, "Zeroed", "zeroed body\r\n", 1); /* size reached the disk, blocks not */
	zero_tail(f, "data", "Zeroed", 2);
	fx_commit_msg(f, "TornEnv", "torn env body\r\n", 1);
	p = fx_path(f, "env", "TornEnv");
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(truncate(p, st.st_size / 2), 0);
	free(p);
	fx_commit_msg(f, "ZeroEnv", "zero env body\r\n", 1);
	zero_tail(f, "env", "ZeroEnv", 0);
	fx_commit_msg(f, "EmptyEnv", "empty env body\r\n", 1);
	p = fx_path(f, "env", "EmptyEnv");
	assert_int_equal(truncate(p, 0), 0);
	free(p);

	spool_close(f->s);
	f->s = NULL;
	char *logp = fx_path(f, "", "recover.log");
	int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(logfd >= 0);
	log_set_target(logfd, 0);
	char err[128];
	f->s = spool_open(f->queue, err, sizeof(err));
	assert_non_null(f->s);
	struct seen seen = {0};
	size_t n = spool_recover(f->s, collect, &seen);
	log_set_target(STDERR_FILENO, 0);
	close(logfd);

	assert_int_equal(n, 2);
	assert_non_null(seen_find(&seen, "Acked"));
	assert_non_null(seen_find(&seen, "Tried"));
	const char *aside[] = {"NoData", "Short", "Zeroed", "TornEnv", "ZeroEnv", "EmptyEnv"};
	size_t len;
	char *log = unit_read_file(logp, &len);
	for (size_t i = 0; i < sizeof(aside) / sizeof(aside[0]); i++) {
		char name[64], line[96];
		assert_false(fx_exists(f, "env", aside[i]));
		assert_false(fx_exists(f, "data", aside[i]));
		snprintf(name, sizeof(name), "%s.env", aside[i]);
		assert_true(fx_exists(f, "corrupt", name));
		snprintf(line, sizeof(line), "action=set-aside id=%s committed=unknown", aside[i]);
		if (strstr(log, line) == NULL)
			fail_msg("not logged: %s", line);
	}
	assert_non_null(
	    strstr(log, "id=Zeroed committed=unknown reason=\"data file fails its checksum\""));
	assert_non_null(strstr(log, "id=NoData committed=unknown reason=\"data file missing\""));
	free(log);
	free(logp);
	/* the acknowledged ones are whole and stay */
	struct envelope d;
	assert_int_equal(spool_load(f->s, "Acked", &d, err, sizeof(err)), 0);
	envelope_free(&d);
	assert_true(fx_exists(f, "data", "Acked"));
	assert_true(fx_exists(f, "data", "Tried"));
	for (size_t i = 0; i < seen.n; i++)
		envelope_free(&seen.e[i]);
	/* idempotent */
	assert_int_equal(spool_recover(f->s, NULL, NULL), 2);
}

/* A message with a delivery history was acknowledged: damaged on disk
 * afterwards, it is logged as such when set aside. */
static void test_recover_damaged_after_commit(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Hist", "history body\r\n", 2);
	assert_int_equal(spool_append_state(f->s, "Hist", 1, RCPT_DEFERRED, 1, 0, "451"), 0);
	char *p = fx_path(f, "data", "Hist");
	assert_int_equal(unlink(p), 0);
	free(p);
	fx_reopen(f);
	assert_int_equal(spool_recover(f->s, NULL, NULL), 0);
	assert_true(fx_exists(f, "corrupt", "Hist.env"));
}

/* Without a journal, a crash can bring back a renamed file's old name in
 * tmp/ or free/ beside its new one: recovery must neither delete nor
 * recycle such a name, or it would free or overwrite a committed message. */
static void test_recover_keeps_second_names(void **state)
{
	struct fixture *f = *state;
	fx_commit_msg(f, "Kept", "kept body\r\n", 1);
	char *env = fx_path(f, "env", "Kept"), *data = fx_path(f, "data", "Kept");
	char *tmp = fx_path(f, "tmp", "Kept"), *pooled = fx_path(f, "free", "f0000000000000009");
	assert_int_equal(link(env, tmp), 0);
	assert_int_equal(link(data, pooled), 0);
	fx_put_file(f, "tmp", "Stray", "x", 1); /* an ordinary leftover still goes */
	fx_reopen(f);
	struct seen seen = {0};
	assert_int_equal(spool_recover(f->s, collect, &seen), 1);
	assert_true(fx_exists(f, "tmp", "Kept"));
	assert_true(fx_exists(f, "free", "f0000000000000009"));
	assert_false(fx_exists(f, "tmp", "Stray"));
	/* the pool does not hand out the committed data file's inode */
	ino_t kept = inode_of(f, "data", "Kept");
	int fd = spool_create_data(f->s, "Fresh");
	assert_true(fd >= 0);
	close(fd);
	assert_true(inode_of(f, "data", "Fresh") != kept);
	size_t len;
	char *text = unit_read_file(data, &len);
	assert_int_equal(len, 11);
	assert_memory_equal(text, "kept body\r\n", 11);
	free(text);
	envelope_free(&seen.e[0]);
	free(env);
	free(data);
	free(tmp);
	free(pooled);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	char *file = xasprintf("%s/plainfile", f->dir);
	int fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	char err[128] = "";
	assert_null(spool_open(file, err, sizeof(err)));
	assert_true(err[0] != '\0');
	char *under = xasprintf("%s/x", file);
	err[0] = '\0';
	assert_null(spool_open(under, err, sizeof(err)));
	assert_true(err[0] != '\0');
	free(under);
	free(file);
	/* opening an existing spool again works */
	struct spool *s2 = spool_open(f->queue, err, sizeof(err));
	assert_non_null(s2);
	spool_close(s2);
	spool_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_and_load, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_batch_partial_failure, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_large_batch, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_commit_write_error, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_append_state, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_remove, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_recycled_files, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_pool_keeps_burst, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_space_short, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_ids, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_quarantine_clash, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_recover, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_recover_keeps_second_names, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_recover_unfinished_wave, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_recover_damaged_after_commit, fx_setup,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
