/*
 * Unit tests for the From: parser behind DMARC's author domain: display
 * names, comments, quoted strings, groups, encoded words, obsolete forms,
 * and the refusals (syntax errors, domain literals, several domains).
 * Each value is parsed from an exactly-sized heap copy, and every strict
 * prefix of it must not crash (and rarely parses).
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "xmalloc.h"

static int parse(const char *v, size_t len, struct dmarc_from *f, char *err, size_t errlen)
{
	char *copy = xmemdup(v, len);
	int rc = dmarc_from_parse(copy, len, f, err, errlen);
	free(copy);
	return rc;
}

static const struct {
	const char *in;
	const char *domains; /* comma-separated, lowercased; NULL: refused */
} cases[] = {
    {"joe@example.com", "example.com"},
    {" Joe SixPack <joe@football.example.com>", "football.example.com"},
    {"\"Joe Q. Public\" <john.q.public@Example.COM>", "example.com"},
    {"Joe Q. Public <jqp@example.com>", "example.com"}, /* obs-phrase: a bare dot */
    {"=?utf-8?Q?J=C3=B6rg?= <joerg@example.de>", "example.de"},
    {"=?ISO-8859-1?B?SvZyZw==?= <j@example.de>", "example.de"},
    {"(comment) joe (more (nested) comment) @ (x) example . com (y)", "example.com"},
    {"\"a@evil.com\" <b@good.example>", "good.example"},
    {"\"quoted\\\"local\"@example.org", "example.org"},
    {"<@route.example,@other.example:user@real.example>", "real.example"},
    {"a@x.example, b@y.example", "x.example,y.example"},
    {"a@x.example,,b@x.example,", "x.example,x.example"},
    {"Team: a@x.example, B <b@y.example>;", "x.example,y.example"},
    {"undisclosed-recipients:;", ""},
    {"Group: ;, c@z.example", "z.example"},
    {"joe@example.com\r\n (folded comment)", "example.com"},
    {"Joe\r\n <joe@example.com>", "example.com"},
    {"", ""},
    {"   ", ""},
    /* refused */
    {"joe@[192.0.2.1]", NULL},
    {"joe", NULL},
    {"Joe Smith", NULL},
    {"joe@example.com <other@example.org>", NULL},
    {"joe@evil.com@good.com", NULL},
    {"<joe@example.com", NULL},
    {"joe@example.com>", NULL},
    {"\"unterminated <a@b.example>", NULL},
    {"(unterminated comment a@b.example", NULL},
    {"a@b.example; c@d.example", NULL},
    {"joe@exa_mple.com", NULL},
    {"joe@-example.com", NULL},
    {"joe@example..com", NULL},
    {"joe@example.com.", NULL},
    {"joe@ex\xc3\xa4mple.com", NULL}, /* a U-label: no A-label conversion here */
    {"G1: G2: a@b.example;;", NULL},
    {"joe@example.com\x01", NULL},
    {"a\\b@example.com", NULL},
    {"Group: ; c@z.example", NULL}, /* groups and mailboxes are separated by ',' */
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct dmarc_from f;
		char err[128];
		size_t len = strlen(cases[i].in);
		int rc = parse(cases[i].in, len, &f, err, sizeof(err));
		if (cases[i].domains == NULL) {
			if (rc != -1)
				fail_msg("accepted \"%s\"", cases[i].in);
			assert_true(strncmp(err, "From: ", 6) == 0);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", cases[i].in, err);
		char got[512] = "";
		for (size_t k = 0; k < f.n; k++) {
			strcat(got, k ? "," : "");
			strcat(got, f.domain[k]);
		}
		if (strcmp(got, cases[i].domains) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].in, got,
			         cases[i].domains);
		/* no prefix may read past its end (ASan) */
		for (size_t k = 0; k < len; k++)
			parse(cases[i].in, k, &f, err, sizeof(err));
	}
}

static void test_limits(void **state)
{
	(void)state;
	struct dmarc_from f;
	char err[128];
	char *many = xmalloc(DMARC_FROM_ADDRS_MAX * 16 + 16);
	many[0] = '\0';
	for (int i = 0; i <= DMARC_FROM_ADDRS_MAX; i++)
		strcat(many, i ? ",a@b.example" : "a@b.example");
	assert_int_equal(parse(many, strlen(many), &f, err, sizeof(err)), -1);
	assert_string_equal(err, "From: too many addresses");
	free(many);
	char deep[200];
	memset(deep, '(', 100);
	memset(deep + 100, ')', 100);
	assert_int_equal(parse(deep, sizeof(deep), &f, err, sizeof(err)), -1);
	assert_string_equal(err, "From: comments nested too deep");
	char *big = xmalloc(DMARC_FROM_VALUE_MAX + 2);
	memset(big, 'a', DMARC_FROM_VALUE_MAX + 1);
	assert_int_equal(parse(big, DMARC_FROM_VALUE_MAX + 1, &f, err, sizeof(err)), -1);
	free(big);
}

static void test_author_domain(void **state)
{
	(void)state;
	char out[256], err[128];
	const char *one[] = {"Joe <joe@Example.COM>"};
	size_t onel[] = {strlen(one[0])};
	assert_int_equal(dmarc_author_domain(one, onel, 1, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "example.com");
	const char *same[] = {"a@x.example, B <b@X.Example>"};
	size_t samel[] = {strlen(same[0])};
	assert_int_equal(dmarc_author_domain(same, samel, 1, out, sizeof(out), err, sizeof(err)),
	                 0);
	assert_string_equal(out, "x.example");
	/* refused: the caller reports dmarc=permerror */
	const char *diff[] = {"a@x.example, b@y.example"};
	size_t diffl[] = {strlen(diff[0])};
	assert_int_equal(dmarc_author_domain(diff, diffl, 1, out, sizeof(out), err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "From addresses in different domains");
	assert_int_equal(dmarc_author_domain(NULL, NULL, 0, out, sizeof(out), err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "no From field");
	const char *two[] = {"a@x.example", "a@x.example"};
	size_t twol[] = {11, 11};
	assert_int_equal(dmarc_author_domain(two, twol, 2, out, sizeof(out), err, sizeof(err)), -1);
	assert_string_equal(err, "2 From fields");
	const char *empty[] = {"undisclosed:;"};
	size_t emptyl[] = {strlen(empty[0])};
	assert_int_equal(dmarc_author_domain(empty, emptyl, 1, out, sizeof(out), err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "From field without an address");
	assert_int_equal(dmarc_author_domain(one, onel, 1, out, 5, err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_author_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
