/*
 * Unit tests for pickup_file: a maildrop file as the pickup role sees it —
 * recipients routed (delivered, bounced with the right status), the
 * submitter taken from the file's owner, what is not a maildrop file
 * refused (garbage, a symbolic link, a hard link), and the message written
 * to the spool with our Received: field and CRLF line ends.
 */
#include "unit_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crc32c.h"
#include "drop.h"
#include "pickup_int.h"
#include "util.h"
#include "xmalloc.h"

static const char CONF[] = "hostname \"mx.test\"\n"
                           "listen on 127.0.0.1 port 25\n"
                           "limits message-size 1K\n"
                           "table users { \"alice\", \"bob\" }\n"
                           "action \"box\" maildir \"/tmp/x/%{user}\" users <users>\n"
                           "action \"out\" relay\n"
                           "match from any for domain \"localhost\" action \"box\"\n"
                           "match from local for domain \"remote.example\" action \"out\"\n";

struct env {
	char *dir;
	int dirfd;
	struct config *conf;
};

static int setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	char err[256];
	e->dir = unit_tmpdir();
	e->dirfd = open(e->dir, O_RDONLY | O_DIRECTORY);
	e->conf = conf_parse_string("t.conf", CONF, strlen(CONF), err, sizeof(err));
	if (e->conf == NULL)
		fail_msg("%s", err);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	close(e->dirfd);
	unit_rmtree(e->dir);
	free(e->dir);
	conf_free(e->conf);
	free(e);
	return 0;
}

static void drop_file(struct env *e, const char *name, const char *sender, const char *const *rcpts,
                      const char *data)
{
	struct buf b;
	struct drop_writer w;
	buf_init(&b, 0);
	drop_write_start(&w, &b);
	drop_write_sender(&w, &b, sender);
	for (; *rcpts; rcpts++)
		drop_write_rcpt(&w, &b, *rcpts);
	drop_write_data(&w, &b, data, strlen(data));
	drop_write_end(&w, &b);
	int fd = openat(e->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd != -1);
	assert_int_equal(fd_write_all(fd, b.data, b.len), 0);
	close(fd);
	buf_free(&b);
}

static void test_routes(void **state)
{
	struct env *e = *state;
	const char *rcpts[] = {"alice@localhost",
	                       "ALICE@localhost",
	                       "nobody@localhost",
	                       "x@remote.example",
	                       "y@elsewhere.example",
	                       "bad@@x",
	                       NULL};
	drop_file(e, "f1", "bob@localhost", rcpts, "Subject: s\n\nhi\n");
	struct pickup_file f;
	char why[256];
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "f1", &f, why, sizeof(why)),
	                 LOAD_OK);
	assert_int_equal(f.uid, getuid());
	assert_string_equal(f.sender, "bob@localhost");
	assert_int_equal(f.n_ok, 2); /* alice once; x@remote.example relayed */
	assert_string_equal(f.ok[0].user, "alice");
	assert_string_equal(f.ok[0].action, "box");
	assert_string_equal(f.ok[1].addr, "x@remote.example");
	assert_string_equal(f.ok[1].action, "out");
	assert_null(f.ok[1].user);
	assert_int_equal(f.n_bad, 3);
	assert_string_equal(f.bad[0].status, "5.1.1");
	assert_string_equal(f.bad[1].status, "5.7.1");
	assert_string_equal(f.bad[2].status, "5.1.3");
	assert_int_equal(f.eightbit, 0);

	/* written to the spool: Received first, CRLF line ends, ended */
	char *spool = xasprintf("%s/spool", e->dir);
	int fd = open(spool, O_RDWR | O_CREAT, 0600);
	uint64_t size;
	uint32_t crc;
	assert_int_equal(pickup_file_write(e->conf, &f, "ABC", fd, &size, &crc), 0);
	size_t len;
	char *got = unit_read_file(spool, &len);
	assert_int_equal(len, size);
	assert_int_equal(crc, crc32c_update(0, got, len)); /* what the envelope records */
	assert_true(strncmp(got, "Received: by mx.test (Raven, from userid ", 41) == 0);
	assert_non_null(strstr(got, "\tid ABC;\r\n"));
	assert_non_null(strstr(got, "\r\nSubject: s\r\n\r\nhi\r\n"));
	assert_int_equal(got[len - 1], '\n');

	/* the notice for the three, headers attached */
	struct buf dsn;
	buf_init(&dsn, 0);
	assert_int_equal(pickup_file_dsn(e->conf, &f, "ABC", fd, size, &dsn, why, sizeof(why)), 0);
	buf_append_byte(&dsn, 0);
	assert_non_null(strstr((char *)dsn.data, "Final-Recipient: rfc822; nobody@localhost"));
	assert_non_null(strstr((char *)dsn.data, "Status: 5.7.1"));
	assert_non_null(strstr((char *)dsn.data, "Subject: s"));
	buf_free(&dsn);
	close(fd);
	free(got);
	free(spool);
	pickup_file_free(&f);
}

static void test_line_ends_and_size(void **state)
{
	struct env *e = *state;
	const char *rcpts[] = {"alice@localhost", NULL};
	drop_file(e, "f2", "", rcpts, "A: b\n\nbare\rcr\nlf only\nno end \xc3\xa9");
	struct pickup_file f;
	char why[256];
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "f2", &f, why, sizeof(why)),
	                 LOAD_OK);
	assert_string_equal(f.sender, "");
	assert_int_equal(f.eightbit, 1);
	char *spool = xasprintf("%s/spool2", e->dir);
	int fd = open(spool, O_RDWR | O_CREAT, 0600);
	uint64_t size;
	uint32_t crc;
	assert_int_equal(pickup_file_write(e->conf, &f, "ID", fd, &size, &crc), 0);
	close(fd);
	size_t len;
	char *got = unit_read_file(spool, &len);
	assert_non_null(
	    strstr(got, "\r\nA: b\r\n\r\nbare\r\ncr\r\nlf only\r\nno end \xc3\xa9\r\n"));
	free(got);
	free(spool);
	pickup_file_free(&f);

	/* over limits message-size (1K): every recipient bounced 5.3.4 */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	drop_file(e, "f3", "bob@localhost", rcpts, big);
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "f3", &f, why, sizeof(why)),
	                 LOAD_OK);
	assert_int_equal(f.n_ok, 0);
	assert_int_equal(f.n_bad, 1);
	assert_string_equal(f.bad[0].status, "5.3.4");
	pickup_file_free(&f);
}

static void test_refused(void **state)
{
	struct env *e = *state;
	struct pickup_file f;
	char why[256];
	int fd = openat(e->dirfd, "garbage", O_WRONLY | O_CREAT, 0644);
	assert_int_equal(fd_write_all(fd, "not a maildrop file", 19), 0);
	close(fd);
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "garbage", &f, why, sizeof(why)),
	                 LOAD_CORRUPT);
	assert_string_equal(why, "not a maildrop file");
	pickup_file_free(&f);
	/* a file cut short has no END */
	const char *rcpts[] = {"alice@localhost", NULL};
	drop_file(e, "cut", "", rcpts, "x\n");
	char *cut = xasprintf("%s/cut", e->dir);
	struct stat st;
	assert_int_equal(stat(cut, &st), 0);
	assert_int_equal(truncate(cut, st.st_size - 1), 0);
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "cut", &f, why, sizeof(why)),
	                 LOAD_CORRUPT);
	pickup_file_free(&f);
	/* a symbolic link, a second name of a file: not the submitter's own file */
	drop_file(e, "real", "", rcpts, "x\n");
	assert_int_equal(symlinkat("real", e->dirfd, "sym"), 0);
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "sym", &f, why, sizeof(why)),
	                 LOAD_CORRUPT);
	pickup_file_free(&f);
	assert_int_equal(linkat(e->dirfd, "real", e->dirfd, "hard", 0), 0);
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "hard", &f, why, sizeof(why)),
	                 LOAD_CORRUPT);
	assert_string_equal(why, "linked elsewhere");
	pickup_file_free(&f);
	/* gone meanwhile: taken already */
	assert_int_equal(pickup_file_load(e->conf, NULL, e->dirfd, "missing", &f, why, sizeof(why)),
	                 LOAD_GONE);
	pickup_file_free(&f);
	/* a sender that does not parse */
	drop_file(e, "badsender", "a b@", rcpts, "x\n");
	assert_int_equal(
	    pickup_file_load(e->conf, NULL, e->dirfd, "badsender", &f, why, sizeof(why)),
	    LOAD_CORRUPT);
	assert_non_null(strstr(why, "bad sender"));
	pickup_file_free(&f);
	free(cut);
}

/* A fake lookup role's cache: users "carol" only, once it "knows". */
static enum route_answer fake_sql(void *arg, const struct table *t, const char *key,
                                  const char **value)
{
	(void)t;
	if (!*(int *)arg)
		return ROUTE_UNKNOWN;
	if (value)
		*value = "";
	return strcmp(key, "carol") == 0 ? ROUTE_FOUND : ROUTE_ABSENT;
}

/* Recipients routed through an SQL table: LOAD_PENDING names the question
 * (the role asks it and loads the file again); with the answer known, the
 * file loads; without a hook, such a table is a temporary failure. */
static void test_sql_routed(void **state)
{
	(void)state;
	static const char conf[] =
	    "hostname \"mx.test\"\n"
	    "listen on 127.0.0.1 port 25\n"
	    "table sqlusers sqlite \"/x/mail.db\" query \"SELECT 1 FROM u WHERE n = $1\"\n"
	    "action \"box\" maildir \"/tmp/x/%{user}\" users <sqlusers>\n"
	    "match from any for domain \"localhost\" action \"box\"\n";
	char err[256], why[256];
	struct config *c = conf_parse_string("t.conf", conf, strlen(conf), err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	struct env e = {.dir = unit_tmpdir()};
	e.dirfd = open(e.dir, O_RDONLY | O_DIRECTORY);
	const char *rcpts[] = {"Carol@localhost", "dave@localhost", NULL};
	drop_file(&e, "s1", "", rcpts, "Subject: s\n\nhi\n");
	int known = 0;
	struct route_lookup hook = {fake_sql, &known};
	struct pickup_file f;
	assert_int_equal(pickup_file_load(c, &hook, e.dirfd, "s1", &f, why, sizeof(why)),
	                 LOAD_PENDING);
	assert_string_equal(f.need_table, "sqlusers");
	assert_string_equal(f.need_key, "carol");
	pickup_file_free(&f);
	known = 1;
	assert_int_equal(pickup_file_load(c, &hook, e.dirfd, "s1", &f, why, sizeof(why)), LOAD_OK);
	assert_int_equal(f.n_ok, 1);
	assert_string_equal(f.ok[0].user, "carol");
	assert_int_equal(f.n_bad, 1);
	assert_string_equal(f.bad[0].status, "5.1.1");
	pickup_file_free(&f);
	assert_int_equal(pickup_file_load(c, NULL, e.dirfd, "s1", &f, why, sizeof(why)),
	                 LOAD_LATER);
	pickup_file_free(&f);
	close(e.dirfd);
	unit_rmtree(e.dir);
	free(e.dir);
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_ends_and_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test(test_sql_routed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
