/*
 * Unit tests for src/conf/senders.c: the addresses an authenticated login
 * may use as envelope sender — by default its own name in the local
 * domains (or the login itself when it is an address), otherwise what the
 * "auth senders" table lists (addresses, "@domain", "domain").
 */
#include "unit_util.h"

#include <string.h>

#include "senders.h"

static struct config *load(const char *text)
{
	char err[512];
	struct config *c = conf_parse_string("s.conf", text, strlen(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("config: %s", err);
	return c;
}

static int owns(const struct config *c, const char *login, const char *path)
{
	struct mailaddr a;
	size_t used;
	struct smtp_reply err;
	if (addr_parse_path(path, strlen(path), ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8, &a, &used,
	                    &err) == -1)
		fail_msg("%s: %s", path, err.text);
	return senders_owns(c, login, &a);
}

static void test_default(void **state)
{
	(void)state;
	struct config *c = load("hostname \"mx.example.org\"\n"
	                        "listen on ::1\n"
	                        "table d { \"example.org\", \"example.net\" }\n"
	                        "table passwd { \"alice\", \"bob@elsewhere.test\" }\n"
	                        "auth users <passwd>\n"
	                        "action \"box\" maildir \"/m/%{user}\"\n"
	                        "match from any for domain <d> action \"box\"\n");
	assert_true(owns(c, "alice", "<alice@example.org>"));
	assert_true(owns(c, "alice", "<ALICE@Example.NET>"));
	assert_true(owns(c, "alice", "<alice+lists@example.org>"));
	assert_true(owns(c, "alice", "<alice@mx.example.org>")); /* the host name */
	assert_true(owns(c, "alice", "<>"));
	assert_false(owns(c, "alice", "<bob@example.org>"));
	assert_false(owns(c, "alice", "<alice@remote.test>"));
	assert_false(owns(c, "alice", "<alice@sub.example.org>"));
	assert_false(owns(c, "alice", "<alicex@example.org>"));
	assert_false(owns(c, "alice", "<ali@example.org>"));
	assert_false(owns(c, "alice", "<+alice@example.org>"));
	assert_false(owns(c, "alice", "<\"alice@example.org\"@remote.test>"));
	assert_false(owns(c, "alice", "<alice@[192.0.2.1]>"));
	/* a login that is an address owns that address only */
	assert_true(owns(c, "bob@elsewhere.test", "<bob@elsewhere.test>"));
	assert_true(owns(c, "bob@elsewhere.test", "<Bob+x@ELSEWHERE.test>"));
	assert_false(owns(c, "bob@elsewhere.test", "<bob@example.org>"));
	conf_free(c);
}

static void test_table(void **state)
{
	(void)state;
	struct config *c =
	    load("listen on ::1\n"
	         "table d { \"example.org\" }\n"
	         "table passwd { \"alice\", \"bob\", \"carol\" }\n"
	         "table senders { \"alice\" = \"alice@example.org, @example.net\",\n"
	         "  \"bob\" = \"sales.example ,info@example.org\", \"carol\" = \"\" }\n"
	         "auth users <passwd>\n"
	         "auth senders <senders>\n"
	         "action \"box\" maildir \"/m/%{user}\"\n"
	         "match from any for domain <d> action \"box\"\n");
	assert_true(owns(c, "alice", "<alice@example.org>"));
	assert_true(owns(c, "alice", "<anyone@EXAMPLE.net>"));
	assert_false(owns(c, "alice", "<other@example.org>"));
	assert_false(owns(c, "alice", "<alice@sub.example.net>"));
	assert_true(owns(c, "bob", "<x@sales.example>"));
	assert_true(owns(c, "bob", "<info+tag@example.org>"));
	assert_false(owns(c, "bob", "<bob@example.org>"));     /* listed: the list alone counts */
	assert_false(owns(c, "carol", "<carol@example.org>")); /* listed, owns nothing */
	assert_true(owns(c, "carol", "<>"));
	/* a login the table does not list keeps the default */
	assert_true(owns(c, "dave", "<dave@example.org>"));
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default),
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
