/*
 * Unit tests for addrlist: RFC 5322 address lists as To:, Cc:, Bcc: and
 * From: carry them. Every case is parsed from an exactly-sized heap copy
 * (ASan sees any read past the end); every strict prefix of an accepted
 * list either parses to a prefix of its addresses or is refused, never to
 * an address that is not in the whole.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrlist.h"
#include "buf.h"
#include "xmalloc.h"

struct collected {
	struct buf out; /* addresses, each followed by '\n' ('L' marks a literal) */
	size_t n, stop_at;
	unsigned flags;
};

static int collect(const struct addrlist_spec *a, void *arg, char *err, size_t errlen)
{
	struct collected *c = arg;
	assert_true(a->at <= strlen(a->text));
	assert_true(a->text[a->at] == '@' || (c->flags & ADDRLIST_BARE));
	if (c->stop_at && c->n + 1 == c->stop_at) {
		snprintf(err, errlen, "stopped");
		return -1;
	}
	c->n++;
	buf_printf(&c->out, "%s%s\n", a->literal ? "L" : "", a->text);
	return 0;
}

static int parse(const char *v, size_t len, struct collected *c, char *err, size_t errlen)
{
	char *copy = xmalloc(len ? len : 1);
	memcpy(copy, v, len);
	buf_init(&c->out, 0);
	c->n = 0;
	int rc = addrlist_parse(copy, len, c->flags, collect, c, err, errlen);
	buf_append_byte(&c->out, 0);
	free(copy);
	return rc;
}

static const struct {
	const char *in;
	const char *addrs; /* each followed by '\n'; NULL: refused */
} cases[] = {
    {"joe@example.com", "joe@example.com\n"},
    {" Joe SixPack <joe@football.example.com>", "joe@football.example.com\n"},
    {"\"Joe Q. Public\" <john.q.public@Example.COM>", "john.q.public@Example.COM\n"},
    {"Joe Q. Public <jqp@example.com>", "jqp@example.com\n"},
    {"=?utf-8?Q?J=C3=B6rg?= <joerg@example.de>", "joerg@example.de\n"},
    {"(comment) joe (more (nested) comment) @ (x) example . com (y)", "joe@example.com\n"},
    {"\"a@evil.com\" <b@good.example>", "b@good.example\n"},
    {"\"quoted\\\"local\"@example.org", "\"quoted\\\"local\"@example.org\n"},
    {"\"john doe\"@example.org", "\"john doe\"@example.org\n"},
    {"<@route.example,@other.example:user@real.example>", "user@real.example\n"},
    {"a@x.example, b@y.example", "a@x.example\nb@y.example\n"},
    {"a@x.example,,b@x.example,", "a@x.example\nb@x.example\n"},
    {"Team: a@x.example, B <b@y.example>;", "a@x.example\nb@y.example\n"},
    {"undisclosed-recipients:;", ""},
    {"Group: ;, c@z.example", "c@z.example\n"},
    {"joe@example.com\r\n (folded comment)", "joe@example.com\n"},
    {"Joe\r\n <joe@example.com>", "joe@example.com\n"},
    {"joe@[192.0.2.1]", "Ljoe@[192.0.2.1]\n"},
    {"j\xc3\xb6ran@ex\xc3\xa4mple.com", "j\xc3\xb6ran@ex\xc3\xa4mple.com\n"},
    {"first.last@example.com", "first.last@example.com\n"},
    {"", ""},
    {"   ", ""},
    /* refused */
    {"joe", NULL},
    {"Joe Smith", NULL},
    {"joe doe@example.com", NULL},
    {"joe@example.com <other@example.org>", NULL},
    {"joe@evil.com@good.com", NULL},
    {"<joe@example.com", NULL},
    {"joe@example.com>", NULL},
    {"\"unterminated <a@b.example>", NULL},
    {"(unterminated comment a@b.example", NULL},
    {"a@b.example; c@d.example", NULL},
    {"joe@example.com.", NULL},
    {"joe@", NULL},
    {"@example.com", NULL},
    {"G1: G2: a@b.example;;", NULL},
    {"joe@example.com\x01", NULL},
    {"a\\b@example.com", NULL},
    {"Group: ; c@z.example", NULL},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collected c = {.stop_at = 0};
		char err[128] = "";
		size_t len = strlen(cases[i].in);
		int rc = parse(cases[i].in, len, &c, err, sizeof(err));
		if (cases[i].addrs == NULL) {
			if (rc != -1)
				fail_msg("\"%s\" accepted as %s", cases[i].in, (char *)c.out.data);
			assert_true(err[0] != '\0');
		} else {
			if (rc != 0)
				fail_msg("\"%s\": %s", cases[i].in, err);
			assert_string_equal((char *)c.out.data, cases[i].addrs);
			/* A prefix never yields an address the whole does not have
			 * (only a shorter form of the last one being read). */
			for (size_t k = 0; k < len; k++) {
				struct collected p = {.stop_at = 0};
				if (parse(cases[i].in, k, &p, err, sizeof(err)) == 0)
					assert_true(p.n <= c.n);
				buf_free(&p.out);
			}
		}
		buf_free(&c.out);
	}
}

static void test_bare(void **state)
{
	(void)state;
	static const struct {
		const char *in, *addrs;
	} bare[] = {
	    {"alice", "alice\n"},
	    {"alice, Bob <bob>, carol@x.example", "alice\nbob\ncarol@x.example\n"},
	    {"G: alice, bob;", "alice\nbob\n"},
	    {"first.last", "first.last\n"},
	    {"Joe Smith", NULL},
	    {"alice bob", NULL},
	};
	for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
		struct collected c = {.flags = ADDRLIST_BARE};
		char err[128];
		int rc = parse(bare[i].in, strlen(bare[i].in), &c, err, sizeof(err));
		if (bare[i].addrs == NULL)
			assert_int_equal(rc, -1);
		else if (rc != 0)
			fail_msg("\"%s\": %s", bare[i].in, err);
		else
			assert_string_equal((char *)c.out.data, bare[i].addrs);
		buf_free(&c.out);
		/* without the flag, a bare name is refused */
		struct collected strict = {.flags = 0};
		if (bare[i].addrs != NULL)
			assert_int_equal(
			    parse(bare[i].in, strlen(bare[i].in), &strict, err, sizeof(err)), -1);
		buf_free(&strict.out);
	}
}

static void test_nul(void **state)
{
	(void)state;
	/* a NUL is never part of an address, even quoted */
	static const char lit[] = "joe@[1.2\0003.4]", q[] = "\"a\000b\"@x.example";
	struct collected c = {.flags = 0};
	char err[128];
	assert_int_equal(parse(lit, sizeof(lit) - 1, &c, err, sizeof(err)), -1);
	buf_free(&c.out);
	assert_int_equal(parse(q, sizeof(q) - 1, &c, err, sizeof(err)), -1);
	buf_free(&c.out);
}

static void test_callback_stops(void **state)
{
	(void)state;
	struct collected c = {.stop_at = 2};
	char err[64];
	const char *v = "a@x.example, b@y.example, c@z.example";
	assert_int_equal(parse(v, strlen(v), &c, err, sizeof(err)), -1);
	assert_string_equal(err, "stopped");
	assert_int_equal(c.n, 1);
	buf_free(&c.out);
}

static void test_limits(void **state)
{
	(void)state;
	char err[128];
	struct collected c = {.stop_at = 0};
	char local[ADDRLIST_LOCAL_MAX + 32];
	memset(local, 'a', ADDRLIST_LOCAL_MAX + 1);
	strcpy(local + ADDRLIST_LOCAL_MAX + 1, "@x.example");
	assert_int_equal(parse(local, strlen(local), &c, err, sizeof(err)), -1);
	assert_string_equal(err, "local part too long");
	buf_free(&c.out);
	char dom[ADDRLIST_DOMAIN_MAX + 32] = "a@";
	for (size_t i = 2; i < ADDRLIST_DOMAIN_MAX + 4; i += 2)
		memcpy(dom + i, "b.", 2);
	strcpy(dom + ADDRLIST_DOMAIN_MAX + 4, "c");
	assert_int_equal(parse(dom, strlen(dom), &c, err, sizeof(err)), -1);
	assert_string_equal(err, "domain too long");
	buf_free(&c.out);
	char deep[80];
	memset(deep, '(', sizeof(deep));
	assert_int_equal(parse(deep, sizeof(deep), &c, err, sizeof(err)), -1);
	assert_string_equal(err, "comments nested too deep");
	buf_free(&c.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),  cmocka_unit_test(test_bare),
	    cmocka_unit_test(test_nul),    cmocka_unit_test(test_callback_stops),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
