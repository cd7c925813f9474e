/*
 * Unit tests for conf_bundle: what the parent records while it parses is
 * what the queue parses from (tables included, no file opened), and the
 * decoder refuses every truncation, leftover byte and bad magic.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_bundle.h"
#include "route.h"
#include "xmalloc.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_record_then_parse(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char *users = xasprintf("%s/users", dir);
	write_file(users, "alice\nbob\n");
	char *text = xasprintf("listen on 127.0.0.1 port 2525\n"
	                       "data \"%s/var\"\n"
	                       "table users file \"%s\"\n"
	                       "action \"mbox\" maildir \"%s/mail/%%{user}\" users <users>\n"
	                       "match from any for domain { \"example.org\" } action \"mbox\"\n",
	                       dir, users, dir);
	struct conf_bundle b;
	memset(&b, 0, sizeof(b));
	char err[512];
	struct config *c = conf_parse_recording("t.conf", text, strlen(text), &b, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(b.n_files, 1);
	assert_non_null(conf_bundle_find(&b, users));

	struct buf out;
	buf_init(&out, 0);
	conf_bundle_encode(&b, &out);
	/* The file is gone: the copy in the bundle is what counts. */
	unlink(users);
	struct conf_bundle d;
	assert_int_equal(conf_bundle_decode(out.data, out.len, &d), 0);
	struct config *c2 = conf_parse_bundle(&d, err, sizeof(err));
	if (c2 == NULL)
		fail_msg("%s", err);
	assert_string_equal(c2->data_dir, c->data_dir);
	const struct action *a = conf_action(c2, "mbox");
	assert_non_null(a);
	assert_int_equal(table_lookup(a->users, "bob", NULL), 1);
	assert_int_equal(table_lookup(a->users, "carol", NULL), 0);

	/* Strict: every truncation, a byte more, another magic. */
	for (size_t n = 0; n < out.len; n++) {
		struct conf_bundle x;
		assert_int_equal(conf_bundle_decode(out.data, n, &x), -1);
	}
	buf_append_byte(&out, 0);
	struct conf_bundle z;
	assert_int_equal(conf_bundle_decode(out.data, out.len, &z), -1);
	out.data[0] ^= 1;
	struct conf_bundle y;
	assert_int_equal(conf_bundle_decode(out.data, out.len - 1, &y), -1);

	/* A table the bundle lacks is an error, not a read of the file system. */
	struct conf_bundle e;
	memset(&e, 0, sizeof(e));
	e.cwd = xstrdup("/");
	e.name = xstrdup("t.conf");
	e.text = xstrdup(text);
	e.len = strlen(text);
	assert_null(conf_parse_bundle(&e, err, sizeof(err)));
	assert_non_null(strstr(err, "t.conf:3:"));

	conf_bundle_free(&e);
	conf_bundle_free(&d);
	conf_bundle_free(&b);
	conf_free(c);
	conf_free(c2);
	buf_free(&out);
	free(text);
	free(users);
	unit_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_then_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
