/*
 * Unit tests for lookup tables (src/conf/table.c): the map itself, the
 * file format (aliases(5), users, plain lists) and its errors with path:line.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "xmalloc.h"

static void test_map(void **state)
{
	(void)state;
	struct table *t = table_new("t");
	assert_string_equal(table_name(t), "t");
	assert_int_equal(table_size(t), 0);
	assert_false(table_lookup(t, "a", NULL));
	table_put(t, "Alice", "1");
	table_put(t, "bob", NULL);
	assert_int_equal(table_size(t), 2);
	const char *v = "unchanged";
	assert_true(table_lookup(t, "ALICE", &v));
	assert_string_equal(v, "1");
	assert_true(table_lookup(t, "bob", &v));
	assert_null(v);
	assert_false(table_lookup(t, "carol", NULL));
	assert_false(table_lookup(t, "alic", NULL));
	assert_false(table_lookup(t, "alicee", NULL));
	table_put(t, "aLiCe", "2"); /* replace, case-insensitively */
	assert_int_equal(table_size(t), 2);
	assert_true(table_lookup(t, "alice", &v));
	assert_string_equal(v, "2");
	assert_false(table_lookup(NULL, "alice", NULL));
	/* growth keeps every entry */
	for (int i = 0; i < 20000; i++) {
		char k[32], val[32];
		snprintf(k, sizeof(k), "Key%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		table_put(t, k, val);
	}
	assert_int_equal(table_size(t), 20002);
	for (int i = 0; i < 20000; i += 7) {
		char k[32], val[32];
		snprintf(k, sizeof(k), "KEY%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		assert_true(table_lookup(t, k, &v));
		assert_string_equal(v, val);
	}
	assert_false(table_lookup(t, "key20000", NULL));
	table_free(t);
	table_free(NULL);
}

static void test_format(void **state)
{
	(void)state;
	const char *text = "# aliases and users\n"
	                   "\n"
	                   "postmaster: root\n"
	                   "root:alice, bob\n"
	                   "Spaced  :  spaced value  \r\n"
	                   "alice:$6$salt$hash:with:colons\n"
	                   "white space\tseparated value\n"
	                   "bare\n"
	                   "empty:\n"
	                   "\t# indented comment\n"
	                   "key#notcomment: x\n"
	                   "last: no newline";
	struct table *t = table_new("t");
	char err[256];
	assert_int_equal(table_load_string(t, "mem", text, strlen(text), err, sizeof(err)), 0);
	assert_int_equal(table_size(t), 9);
	const char *v;
	assert_true(table_lookup(t, "POSTMASTER", &v));
	assert_string_equal(v, "root");
	assert_true(table_lookup(t, "root", &v));
	assert_string_equal(v, "alice, bob");
	assert_true(table_lookup(t, "spaced", &v));
	assert_string_equal(v, "spaced value");
	assert_true(table_lookup(t, "alice", &v));
	assert_string_equal(v, "$6$salt$hash:with:colons");
	assert_true(table_lookup(t, "white", &v));
	assert_string_equal(v, "space\tseparated value");
	assert_true(table_lookup(t, "bare", &v));
	assert_null(v);
	assert_true(table_lookup(t, "empty", &v));
	assert_null(v);
	assert_true(table_lookup(t, "key#notcomment", &v));
	assert_true(table_lookup(t, "last", &v));
	assert_string_equal(v, "no newline");
	table_free(t);

	/* aliases(5) continuation: a line that starts with white space goes on
	 * with the entry before it, across comments and blank lines */
	const char *cont = "staff: alice,\n"
	                   "   bob,\n"
	                   "\n"
	                   "  # still staff\n"
	                   "\tcarol\n"
	                   "next: dave\n"
	                   "tail:\n"
	                   " erin";
	t = table_new("t");
	assert_int_equal(table_load_string(t, "mem", cont, strlen(cont), err, sizeof(err)), 0);
	assert_int_equal(table_size(t), 3);
	assert_true(table_lookup(t, "staff", &v));
	assert_string_equal(v, "alice,    bob, \tcarol");
	assert_false(table_lookup(t, "bob", NULL));
	assert_true(table_lookup(t, "next", &v));
	assert_string_equal(v, "dave");
	assert_true(table_lookup(t, "tail", &v));
	assert_string_equal(v, "erin");
	table_free(t);

	/* empty input is an empty table */
	t = table_new("t");
	assert_int_equal(table_load_string(t, "mem", "", 0, err, sizeof(err)), 0);
	assert_int_equal(table_size(t), 0);
	table_free(t);
}

static void expect_load_err(const char *text, size_t len, const char *want)
{
	struct table *t = table_new("t");
	char err[256] = "";
	int rc = table_load_string(t, "f", text, len, err, sizeof(err));
	table_free(t);
	assert_int_equal(rc, -1);
	assert_string_equal(err, want);
}

static void test_errors(void **state)
{
	(void)state;
	const char *s = "a\n: value\n";
	expect_load_err(s, strlen(s), "f:2: empty key");
	s = "a\nb\n\nA: x\n";
	expect_load_err(s, strlen(s), "f:4: duplicate key \"A\"");
	expect_load_err("a\nb\0c\n", 6, "f:2: NUL byte");
	s = "# comment\n  bob\n";
	expect_load_err(s, strlen(s), "f:2: continuation line without an entry before it");
	/* an error in a continued entry names the line where it began */
	s = "a\nb: x\nb: y,\n  z\n";
	expect_load_err(s, strlen(s), "f:3: duplicate key \"b\"");
	char *longline = xmalloc(4097 + 3);
	memcpy(longline, "x\n", 2);
	memset(longline + 2, 'a', 4097);
	longline[4099] = '\n';
	expect_load_err(longline, 4100, "f:2: line too long (more than 4096 bytes)");
	/* exactly the limit is fine */
	struct table *t = table_new("t");
	char err[256];
	assert_int_equal(table_load_string(t, "f", longline + 3, 4096, err, sizeof(err)), 0);
	assert_int_equal(table_size(t), 1);
	table_free(t);
	/* continuations count towards the limit of one entry */
	char *joined = xmalloc(2100 * 2 + 8);
	memset(joined, 'a', 4200);
	joined[0] = 'k';
	joined[1] = ':';
	joined[2100] = '\n';
	joined[2101] = ' ';
	expect_load_err(joined, 4200, "f:1: entry too long (more than 4096 bytes)");
	free(joined);
	free(longline);
	/* NULL error buffer */
	t = table_new("t");
	assert_int_equal(table_load_string(t, "f", ":", 1, NULL, 0), -1);
	table_free(t);
}

static void test_file(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char *path = xasprintf("%s/users", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("alice:$y$hash\nbob:$6$x\n# end\n", f);
	fclose(f);
	struct table *t = table_new("users");
	char err[512];
	assert_int_equal(table_load_file(t, path, err, sizeof(err)), 0);
	assert_int_equal(table_size(t), 2);
	const char *v;
	assert_true(table_lookup(t, "Bob", &v));
	assert_string_equal(v, "$6$x");
	table_free(t);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("alice:x\n\nalice:y\n", f);
	fclose(f);
	t = table_new("users");
	assert_int_equal(table_load_file(t, path, err, sizeof(err)), -1);
	char *want = xasprintf("%s:3: duplicate key \"alice\"", path);
	assert_string_equal(err, want);
	free(want);
	table_free(t);

	t = table_new("x");
	assert_int_equal(table_load_file(t, dir, err, sizeof(err)), -1);
	want = xasprintf("%s: not a regular file", dir);
	assert_string_equal(err, want);
	free(want);
	char *missing = xasprintf("%s/missing", dir);
	assert_int_equal(table_load_file(t, missing, err, sizeof(err)), -1);
	want = xasprintf("%s: No such file or directory", missing);
	assert_string_equal(err, want);
	free(want);
	free(missing);
	table_free(t);

	free(path);
	unit_rmtree(dir);
	free(dir);
}

/* Every prefix of a file loads or fails cleanly; the entries seen agree. */
static void test_prefixes(void **state)
{
	(void)state;
	const char *text = "root: alice, bob\nalice:$6$h\n# c\nbob carol\n";
	size_t len = strlen(text);
	for (size_t i = 0; i <= len; i++) {
		char *copy = xmemdup(text, i);
		struct table *t = table_new("t");
		char err[256];
		assert_int_equal(table_load_string(t, "f", copy, i, err, sizeof(err)), 0);
		const char *v;
		if (i >= 17) {
			assert_true(table_lookup(t, "root", &v));
			assert_string_equal(v, "alice, bob");
		}
		if (i == len)
			assert_int_equal(table_size(t), 3);
		table_free(t);
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map),      cmocka_unit_test(test_format),
	    cmocka_unit_test(test_errors),   cmocka_unit_test(test_file),
	    cmocka_unit_test(test_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
