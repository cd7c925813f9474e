/*
 * Unit tests for addr: RFC 5321 paths and mailboxes, good and bad. Every
 * case is parsed from an exactly-sized heap copy (so ASan sees any read
 * past the end), again with octets after it (the result must not change),
 * and every strict prefix of an accepted path must be refused (the parser
 * never guesses what it has not seen).
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "xmalloc.h"

#define LOCAL64   "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"
#define LOCAL65   LOCAL64 "m"
#define LABEL63   "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
#define LABEL64   LABEL63 "l"
#define DOMAIN255 LABEL63 "." LABEL63 "." LABEL63 "." LABEL63
#define DOMAIN256 LABEL63 "." LABEL63 "." LABEL63 "." LABEL63 "a"
/* 64 + 1 + 189 + 2 = 256 octets of path; one more is too long */
#define DOMAIN189                                                                                  \
	LABEL63 "." LABEL63 "."                                                                    \
	        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi"
#define DOMAIN190 DOMAIN189 "j"

#define OK   0
#define FAIL -1

struct path_case {
	const char *in;
	unsigned flags;
	int rc;
	/* success: expected fields */
	const char *local, *domain, *text;
	int is_null, is_literal, has_utf8;
	/* failure: expected reply */
	int code;
	const char *enh, *why;
};

#define GOOD(in, fl, l, d, t)                                                                      \
	{                                                                                          \
		in, fl, OK, l, d, t, 0, 0, 0, 0, NULL, NULL                                        \
	}
#define GOODLIT(in, fl, l, d, t)                                                                   \
	{                                                                                          \
		in, fl, OK, l, d, t, 0, 1, 0, 0, NULL, NULL                                        \
	}
#define GOODUTF(in, fl, l, d, t)                                                                   \
	{                                                                                          \
		in, fl, OK, l, d, t, 0, 0, 1, 0, NULL, NULL                                        \
	}
#define BAD(in, fl, why)                                                                           \
	{                                                                                          \
		in, fl, FAIL, NULL, NULL, NULL, 0, 0, 0, 501, "5.1.3", why                         \
	}
#define BADC(in, fl, c, enh, why)                                                                  \
	{                                                                                          \
		in, fl, FAIL, NULL, NULL, NULL, 0, 0, 0, c, enh, why                               \
	}

static const struct path_case path_cases[] = {
    GOOD("<user@example.com>", 0, "user", "example.com", "user@example.com"),
    GOOD("<User.Name+tag@Sub.Example.COM>", 0, "User.Name+tag", "Sub.Example.COM",
         "User.Name+tag@Sub.Example.COM"),
    GOOD("<a@b>", 0, "a", "b", "a@b"),
    GOOD("<!#$%&'*+-/=?^_`{|}~@x.org>", 0, "!#$%&'*+-/=?^_`{|}~", "x.org",
         "!#$%&'*+-/=?^_`{|}~@x.org"),
    GOOD("<a@1.2.3.4>", 0, "a", "1.2.3.4", "a@1.2.3.4"),
    GOOD("<a@x-y.z9>", 0, "a", "x-y.z9", "a@x-y.z9"),
    GOOD("<\"john doe\"@example.com>", 0, "john doe", "example.com", "\"john doe\"@example.com"),
    GOOD("<\"john\\\"q\"@x.org>", 0, "john\"q", "x.org", "\"john\\\"q\"@x.org"),
    GOOD("<\"back\\\\slash\"@x.org>", 0, "back\\slash", "x.org", "\"back\\\\slash\"@x.org"),
    GOOD("<\"plain\"@x.org>", 0, "plain", "x.org", "plain@x.org"),
    GOOD("<\"a\\b\"@x.org>", 0, "ab", "x.org", "ab@x.org"),
    GOOD("<\"\"@x.org>", 0, "", "x.org", "\"\"@x.org"),
    GOOD("<\".a\"@x.org>", 0, ".a", "x.org", "\".a\"@x.org"),
    GOOD("<\"a..b\"@x>", 0, "a..b", "x", "\"a..b\"@x"),
    GOOD("<\"a@b\"@x>", 0, "a@b", "x", "\"a@b\"@x"),
    GOODLIT("<user@[192.0.2.1]>", 0, "user", "[192.0.2.1]", "user@[192.0.2.1]"),
    GOODLIT("<user@[IPv6:2001:db8::1]>", 0, "user", "[IPv6:2001:db8::1]",
            "user@[IPv6:2001:db8::1]"),
    GOODLIT("<u@[ipv6:::1]>", 0, "u", "[ipv6:::1]", "u@[ipv6:::1]"),
    GOODLIT("<u@[IPv6:::ffff:192.0.2.1]>", 0, "u", "[IPv6:::ffff:192.0.2.1]",
            "u@[IPv6:::ffff:192.0.2.1]"),
    GOOD("<@a.example,@b.example:user@c.example>", 0, "user", "c.example", "user@c.example"),
    GOOD("<@a.example:user@c.example>", 0, "user", "c.example", "user@c.example"),
    {"<>", ADDR_ALLOW_NULL, OK, "", "", "", 1, 0, 0, 0, NULL, NULL},
    GOOD("<postmaster>", ADDR_ALLOW_POSTMASTER, "postmaster", "", "postmaster"),
    GOOD("<PostMaster>", ADDR_ALLOW_POSTMASTER, "postmaster", "", "postmaster"),
    GOOD("<postmaster@example.com>", ADDR_ALLOW_POSTMASTER, "postmaster", "example.com",
         "postmaster@example.com"),
    GOOD("<" LOCAL64 "@x>", 0, LOCAL64, "x", LOCAL64 "@x"),
    BAD("<a@" DOMAIN255 ">", 0, "Address too long"), /* the domain alone is fine */
    GOOD("<a@" LABEL63 ">", 0, "a", LABEL63, "a@" LABEL63),
    GOOD("<" LOCAL64 "@" DOMAIN189 ">", 0, LOCAL64, DOMAIN189, LOCAL64 "@" DOMAIN189),
    GOODUTF("<j\xc3\xb6ran@b\xc3\xbc"
            "cher.example>",
            ADDR_ALLOW_UTF8, "j\xc3\xb6ran",
            "b\xc3\xbc"
            "cher.example",
            "j\xc3\xb6ran@b\xc3\xbc"
            "cher.example"),
    GOODUTF("<\xf0\x9f\x98\x80@x.org>", ADDR_ALLOW_UTF8, "\xf0\x9f\x98\x80", "x.org",
            "\xf0\x9f\x98\x80@x.org"),
    GOODUTF("<\"\xe2\x82\xac x\"@x.org>", ADDR_ALLOW_UTF8, "\xe2\x82\xac x", "x.org",
            "\"\xe2\x82\xac x\"@x.org"),
    GOODUTF("<\"\xe2\x82\xac\"@x.org>", ADDR_ALLOW_UTF8, "\xe2\x82\xac", "x.org",
            "\xe2\x82\xac@x.org"),

    BAD("user@example.com", 0, "enclosed in <>"),
    BAD("", 0, "enclosed in <>"),
    BAD("<>", 0, "Null address not allowed"),
    BAD("<>", ADDR_ALLOW_POSTMASTER, "Null address not allowed"),
    BAD("<postmaster>", 0, "Address has no domain"),
    BAD("<postmaster>", ADDR_ALLOW_NULL, "Address has no domain"),
    BAD("<user>", 0, "Address has no domain"),
    BAD("<user", 0, "Address has no domain"),
    BAD("<user@example.com", 0, "Missing closing '>'"),
    BAD("<", 0, "Invalid character in local part"),
    BAD("<.user@x>", 0, "Local part starts with a dot"),
    BAD("<user.@x>", 0, "Local part ends with a dot"),
    BAD("<us..er@x>", 0, "Local part contains consecutive dots"),
    BAD("<a b@x>", 0, "Invalid character in local part"),
    BAD("<a(b)@x>", 0, "Invalid character in local part"),
    BAD("<a\"b\"@x>", 0, "Invalid character in local part"),
    BAD("<\"a\"b@x>", 0, "Invalid character in local part"),
    BAD("<\"abc@x>", 0, "Unbalanced quotes"),
    BAD("<\"abc\\", 0, "Unbalanced quotes"),
    BAD("<\"a\\\x01\"@x>", 0, "Invalid quoted-pair"),
    BAD("<\"a\x01\"@x>", 0, "Invalid character in quoted local part"),
    BAD("<\"a\tb\"@x>", 0, "Invalid character in quoted local part"),
    BAD("<a\x7f@x>", 0, "Invalid character in local part"),
    BAD("<" LOCAL65 "@x>", 0, "Local part too long"),
    BAD("<\"" LOCAL64 "\"@x>", 0, "Local part too long"),
    BAD("<a@-x.com>", 0, "Domain label starts with a hyphen"),
    BAD("<a@x-.com>", 0, "Domain label ends with a hyphen"),
    BAD("<a@x.-y>", 0, "Domain label starts with a hyphen"),
    BAD("<a@x..com>", 0, "Domain has an empty label"),
    BAD("<a@x.com.>", 0, "Domain ends with a dot"),
    BAD("<a@.x.com>", 0, "Domain starts with a dot"),
    BAD("<a@>", 0, "Missing or invalid domain"),
    BAD("<a@x_y.com>", 0, "Invalid character in domain"),
    BAD("<a@x.com >", 0, "Invalid character in domain"),
    BAD("<a@" LABEL64 ">", 0, "Domain label too long"),
    BAD("<a@" DOMAIN256 ">", 0, "Domain too long"),
    BAD("<" LOCAL64 "@" DOMAIN190 ">", 0, "Address too long"),
    BAD("<a@[300.1.1.1]>", 0, "Invalid IPv4 address literal"),
    BAD("<a@[1.2.3]>", 0, "Invalid IPv4 address literal"),
    BAD("<a@[01.2.3.4]>", 0, "Invalid IPv4 address literal"),
    BAD("<a@[]>", 0, "Invalid IPv4 address literal"),
    BAD("<a@[IPv6:zz::1]>", 0, "Invalid IPv6 address literal"),
    BAD("<a@[IPv6:1.2.3.4]>", 0, "Invalid IPv6 address literal"),
    BAD("<a@[x-tag:foo]>", 0, "Unsupported address literal"),
    BAD("<a@[1.2.3.4>", 0, "Unterminated address literal"),
    BAD("<a@[1.2.3.4 ]>", 0, "Invalid character in address literal"),
    BAD("<a@[1.2.3.4]x>", 0, "Invalid character in domain"),
    BAD("<@[1.2.3.4]:a@b>", 0, "Address literal not allowed here"),
    BAD("<@a.example;user@b>", 0, "Invalid source route"),
    BAD("<@a.example,user@b>", 0, "Invalid source route"),
    BAD("<@x>", 0, "Invalid source route"),
    BAD("<@a.example:>", 0, "Invalid character in local part"),
    BADC("<a@\xc3\xa4.com>", ADDR_ALLOW_NULL, 553, "5.6.7", "SMTPUTF8"),
    BADC("<j\xc3\xb6ran@x.org>", 0, 553, "5.6.7", "SMTPUTF8"),
    BADC("<joran@b\xc3\xbc"
         "cher.example>",
         0, 553, "5.6.7", "SMTPUTF8"),
    BADC("<\"\xe2\x82\xac\"@x.org>", 0, 553, "5.6.7", "SMTPUTF8"),
    BAD("<\xc0\xaf@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<\xe0\x80\xaf@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<\xed\xa0\x80@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<\xf4\x90\x80\x80@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<\xf8\x88\x80\x80\x80@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<\x80@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<a\xc3@x.org>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<a@x\xe2\x82>", ADDR_ALLOW_UTF8, "Invalid UTF-8"),
    BAD("<\xc0\xaf@x.org>", 0, "Invalid UTF-8"),
};

static void check_path_result(const struct path_case *c, int rc, const struct mailaddr *a,
                              const struct smtp_reply *err)
{
	if (rc != c->rc)
		fail_msg("%s: rc %d, expected %d (%d %s %s)", c->in, rc, c->rc, err->code, err->enh,
		         err->text);
	if (rc == 0) {
		assert_int_equal(a->is_null, c->is_null);
		assert_int_equal(a->is_literal, c->is_literal);
		assert_int_equal(a->has_utf8, c->has_utf8);
		assert_string_equal(a->local, c->local);
		assert_string_equal(a->domain, c->domain);
		assert_string_equal(a->text, c->text);
	} else {
		assert_int_equal(err->code, c->code);
		assert_string_equal(err->enh, c->enh);
		if (c->why != NULL && strstr(err->text, c->why) == NULL)
			fail_msg("%s: reason \"%s\", expected \"%s\"", c->in, err->text, c->why);
	}
}

static void test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case c = path_cases[i];
		size_t len = strlen(c.in);
		char *copy = xmemdup(c.in, len);
		struct mailaddr a;
		struct smtp_reply err = {0};
		size_t used = 999;
		int rc = addr_parse_path(copy, len, c.flags, &a, &used, &err);
		check_path_result(&c, rc, &a, &err);
		if (rc == 0)
			assert_int_equal(used, len);
		/* Octets after the path do not change the result or what is used. */
		char *more = xasprintf("%s SIZE=1", c.in);
		size_t used2 = 999;
		struct mailaddr a2;
		struct smtp_reply err2 = {0};
		int rc2 = addr_parse_path(more, strlen(more), c.flags, &a2, &used2, &err2);
		if (rc == 0) {
			assert_int_equal(rc2, 0);
			assert_int_equal(used2, used);
			assert_string_equal(a2.text, a.text);
		}
		/* Every strict prefix of an accepted path is refused. */
		if (rc == 0) {
			for (size_t k = 0; k < len; k++) {
				char *pre = xmemdup(c.in, k);
				struct mailaddr a3;
				struct smtp_reply err3;
				size_t used3;
				if (addr_parse_path(pre, k, c.flags, &a3, &used3, &err3) == 0)
					fail_msg("prefix %zu of %s accepted", k, c.in);
				free(pre);
			}
		}
		free(more);
		free(copy);
	}
}

/* Canonical text re-parses to the same address (as a mailbox and a path). */
static void test_text_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct mailaddr a, b;
		struct smtp_reply err;
		size_t used;
		if (c->rc != OK || c->is_null || c->domain[0] == 0)
			continue;
		assert_int_equal(addr_parse_path(c->in, strlen(c->in), c->flags, &a, &used, &err),
		                 0);
		if (addr_parse_mailbox(a.text, strlen(a.text), c->flags, &b, &err) != 0)
			fail_msg("%s: text %s does not re-parse: %s", c->in, a.text, err.text);
		assert_string_equal(a.local, b.local);
		assert_string_equal(a.domain, b.domain);
		assert_string_equal(a.text, b.text);
	}
}

struct mbox_case {
	const char *in;
	unsigned flags;
	int rc;
	const char *text_or_why;
};

static const struct mbox_case mbox_cases[] = {
    {"user@example.com", 0, OK, "user@example.com"},
    {"\"a b\"@example.com", 0, OK, "\"a b\"@example.com"},
    {"a@[10.0.0.1]", 0, OK, "a@[10.0.0.1]"},
    {"\xc3\xa4@x.org", ADDR_ALLOW_UTF8, OK, "\xc3\xa4@x.org"},
    {"<user@example.com>", 0, FAIL, "Invalid character in local part"},
    {"user@example.com ", 0, FAIL, "Invalid character in domain"},
    {"user@example.com>", 0, FAIL, "Invalid character in domain"},
    {"user", 0, FAIL, "Address has no domain"},
    {"", 0, FAIL, "Invalid character in local part"},
    {"@x", 0, FAIL, "Empty local part"},
    {"postmaster", ADDR_ALLOW_POSTMASTER, FAIL, "Address has no domain"},
    {LOCAL64 "@" DOMAIN189, 0, OK, LOCAL64 "@" DOMAIN189},
    {LOCAL64 "@" DOMAIN190, 0, FAIL, "Address too long"},
};

static void test_mailbox_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mbox_cases) / sizeof(mbox_cases[0]); i++) {
		const struct mbox_case *c = &mbox_cases[i];
		size_t len = strlen(c->in);
		char *copy = xmemdup(c->in, len);
		struct mailaddr a;
		struct smtp_reply err = {0};
		int rc = addr_parse_mailbox(copy, len, c->flags, &a, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d (%s)", c->in, rc, err.text);
		if (rc == 0)
			assert_string_equal(a.text, c->text_or_why);
		else if (strstr(err.text, c->text_or_why) == NULL)
			fail_msg("%s: reason \"%s\", expected \"%s\"", c->in, err.text,
			         c->text_or_why);
		free(copy);
	}
}

static void test_utf8_in_mailbox_without_flag(void **state)
{
	(void)state;
	struct mailaddr a;
	struct smtp_reply err;
	assert_int_equal(addr_parse_mailbox("\xc3\xa4@x.org", 6, 0, &a, &err), -1);
	assert_int_equal(err.code, 553);
	assert_string_equal(err.enh, "5.6.7");
}

struct helo_case {
	const char *in;
	int ok;
};

static const struct helo_case helo_cases[] = {
    {"mail.example.com", 1},
    {"localhost", 1},
    {"[192.0.2.1]", 1},
    {"[IPv6:::1]", 1},
    {"a-b.c", 1},
    {DOMAIN255, 1},
    {"", 0},
    {"foo_bar", 0},
    {"-a.com", 0},
    {"a-.com", 0},
    {"a.com.", 0},
    {".a.com", 0},
    {"a..com", 0},
    {"a com", 0},
    {"a.com ", 0},
    {"b\xc3\xbc"
     "cher.de",
     0},
    {"[1.2.3]", 0},
    {"[1.2.3.4", 0},
    {"[1.2.3.4]x", 0},
    {DOMAIN256, 0},
    {LABEL64, 0},
    {"<a.com>", 0},
};

static void test_helo(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(helo_cases) / sizeof(helo_cases[0]); i++) {
		size_t len = strlen(helo_cases[i].in);
		char *copy = xmemdup(helo_cases[i].in, len);
		if (addr_valid_helo(copy, len) != helo_cases[i].ok)
			fail_msg("helo \"%s\": expected %d", helo_cases[i].in, helo_cases[i].ok);
		free(copy);
	}
}

/* The literal must be copied with its brackets and len-bounded. */
static void test_path_not_nul_terminated(void **state)
{
	(void)state;
	const char s[] = "<a@[1.2.3.4]>zzzz";
	struct mailaddr a;
	struct smtp_reply err;
	size_t used;
	assert_int_equal(addr_parse_path(s, 13, 0, &a, &used, &err), 0);
	assert_int_equal(used, 13);
	assert_int_equal(addr_parse_path(s, 12, 0, &a, &used, &err), -1);
	assert_string_equal(err.text, "Missing closing '>' in address");
	assert_int_equal(addr_parse_path(s, 11, 0, &a, &used, &err), -1);
	assert_string_equal(err.text, "Unterminated address literal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_table),
	    cmocka_unit_test(test_text_roundtrip),
	    cmocka_unit_test(test_mailbox_table),
	    cmocka_unit_test(test_utf8_in_mailbox_without_flag),
	    cmocka_unit_test(test_helo),
	    cmocka_unit_test(test_path_not_nul_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
