/*
 * Unit tests for sm_addr: the domain bare names get, recipients from
 * arguments (bare names, addresses, lists), the -f sender, the From: field
 * (quoted, RFC 2047-encoded) and the gecos full name.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sm_addr.h"

static struct config *conf(const char *text)
{
	char err[256];
	struct config *c = conf_parse_string("test.conf", text, strlen(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	return c;
}

static void test_origin(void **state)
{
	(void)state;
	/* the hostname when it is local, else localhost when that is */
	struct config *c = conf("hostname \"mx.example.org\"\nlisten on 127.0.0.1 port 25\n"
	                        "action \"m\" maildir \"/tmp/m/%{user}\"\n"
	                        "match from any for domain \"mx.example.org\" action \"m\"\n");
	assert_string_equal(sm_origin(c), "mx.example.org");
	conf_free(c);
	c = conf("hostname \"mx.example.org\"\nlisten on 127.0.0.1 port 25\n"
	         "table users { \"alice\" }\n"
	         "action \"m\" maildir \"/tmp/m/%{user}\" users <users>\n"
	         "match from any for domain \"localhost\" action \"m\"\n");
	assert_string_equal(sm_origin(c), "localhost");
	conf_free(c);
	c = conf("hostname \"mx.example.org\"\nlisten on 127.0.0.1 port 25\n"
	         "action \"m\" maildir \"/tmp/m/%{user}\"\n"
	         "match from any for domain \"example.org\" action \"m\"\n");
	assert_string_equal(sm_origin(c), "mx.example.org"); /* neither: the hostname */
	conf_free(c);
}

static void test_rcpts(void **state)
{
	(void)state;
	struct sm_rcpts r = {0};
	char err[300];
	assert_int_equal(sm_rcpts_add_arg(&r, "alice", "localhost", err, sizeof(err)), 0);
	assert_int_equal(
	    sm_rcpts_add_arg(&r, "Bob <bob@x.example>, carol", "h.example", err, sizeof(err)), 0);
	assert_int_equal(sm_rcpts_add_arg(&r, "ALICE@localhost", "localhost", err, sizeof(err)), 0);
	assert_int_equal(sm_rcpts_add_arg(&r, "\"j d\"@x.example", "h", err, sizeof(err)), 0);
	assert_int_equal(sm_rcpts_add(&r, "dave", "h.example", err, sizeof(err)), 0);
	assert_int_equal(r.n, 5); /* ALICE@localhost is alice@localhost */
	assert_string_equal(r.addr[0], "alice@localhost");
	assert_string_equal(r.addr[1], "bob@x.example");
	assert_string_equal(r.addr[2], "carol@h.example");
	assert_string_equal(r.addr[3], "\"j d\"@x.example");
	assert_string_equal(r.addr[4], "dave@h.example");
	static const char *bad[] = {"bad@@x", "<a@b", "a@b c", "", "a@-b.example", "G: ;", "a@b@c"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (sm_rcpts_add_arg(&r, bad[i], "h", err, sizeof(err)) == 0 &&
		    strcmp(bad[i], "G: ;"))
			fail_msg("\"%s\" accepted", bad[i]);
	}
	assert_int_equal(r.n, 5);
	sm_rcpts_free(&r);
	assert_int_equal(r.n, 0);
}

static void test_sender(void **state)
{
	(void)state;
	char out[600], err[300];
	assert_int_equal(sm_sender("<>", "h", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sm_sender("", "h", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sm_sender("alice", "h.example", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "alice@h.example");
	assert_int_equal(sm_sender("<b@x.example>", "h", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "b@x.example");
	assert_int_equal(sm_sender("a b@x", "h", out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a b@x"));
}

static void test_from_field(void **state)
{
	(void)state;
	char *f = sm_from_field("Alice Liddell", "a@x");
	assert_string_equal(f, "Alice Liddell <a@x>");
	free(f);
	f = sm_from_field("Liddell, Alice (Dr.)", "a@x");
	assert_string_equal(f, "\"Liddell, Alice (Dr.)\" <a@x>");
	free(f);
	f = sm_from_field("say \"hi\"\\", "a@x");
	assert_string_equal(f, "\"say \\\"hi\\\"\\\\\" <a@x>");
	free(f);
	f = sm_from_field("J\xc3\xb6ran", "j@x");
	assert_string_equal(f, "=?UTF-8?B?SsO2cmFu?= <j@x>");
	free(f);
	f = sm_from_field("", "a@x");
	assert_string_equal(f, "a@x");
	free(f);
	f = sm_from_field("bad\r\nBcc: x", "a@x"); /* no header injection */
	assert_string_equal(f, "a@x");
	free(f);
	/* a long non-ASCII name: several encoded words, none splitting a character */
	char name[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(name, "\xc3\xb6");
	f = sm_from_field(name, "a@x");
	assert_non_null(strstr(f, "?= =?UTF-8?B?"));
	free(f);
}

static void test_gecos(void **state)
{
	(void)state;
	char out[64];
	sm_gecos_name("Alice Liddell,Room 1,555", "alice", out, sizeof(out));
	assert_string_equal(out, "Alice Liddell");
	sm_gecos_name("& Smith", "bob", out, sizeof(out));
	assert_string_equal(out, "Bob Smith");
	sm_gecos_name(NULL, "bob", out, sizeof(out));
	assert_string_equal(out, "");
	char small[6];
	sm_gecos_name("A very long name", "x", small, sizeof(small));
	assert_string_equal(small, "A ver");
}

static void test_date(void **state)
{
	(void)state;
	char d[64];
	setenv("TZ", "UTC", 1);
	sm_date(0, d, sizeof(d));
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_origin), cmocka_unit_test(test_rcpts),
	    cmocka_unit_test(test_sender), cmocka_unit_test(test_from_field),
	    cmocka_unit_test(test_gecos),  cmocka_unit_test(test_date),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
