/*
 * Unit tests for spf_macro: the RFC 7208 §7.4 examples, every transformer,
 * the literal escapes, URL-escaping of capital letters, syntax errors,
 * domain-spec endings and the 253-octet truncation. Inputs are parsed from
 * exactly-sized heap copies (not NUL-terminated), so ASan sees any read past
 * the end.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf_macro.h"
#include "xmalloc.h"

/* The §7.4 example: strong-bad@email.example.com from 192.0.2.3. */
static const struct spf_macro_env env4 = {
    .s = "strong-bad@email.example.com",
    .l = "strong-bad",
    .o = "email.example.com",
    .d = "email.example.com",
    .i = "192.0.2.3",
    .p = "mx.example.org",
    .v = "in-addr",
    .h = "mx.example.org",
    .c = "192.0.2.3",
    .r = "receiver.example",
    .t = "1700000000",
};

static char *expand(const char *in, unsigned flags, const struct spf_macro_env *env, char *err,
                    size_t errlen)
{
	size_t len = strlen(in);
	char *copy = xmemdup(in, len ? len : 1);
	struct buf b;
	buf_init(&b, 0);
	int rc = spf_macro_expand(copy, len, flags, env, &b, err, errlen);
	free(copy);
	char *out = rc == 0 ? buf_strdup(&b) : NULL;
	if (rc == -1)
		assert_int_equal(b.len, 0); /* nothing half-written */
	buf_free(&b);
	return out;
}

static void check_expands(const char *in, unsigned flags, const struct spf_macro_env *env,
                          const char *want)
{
	char err[128];
	size_t len = strlen(in);
	char *copy = xmemdup(in, len ? len : 1);
	if (spf_macro_check(copy, len, flags, NULL, err, sizeof(err)) != 0)
		fail_msg("%s: check refused it: %s", in, err);
	free(copy);
	char *got = expand(in, flags, env, err, sizeof(err));
	if (got == NULL)
		fail_msg("%s: %s", in, err);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", in, got, want);
	free(got);
}

static void test_rfc_examples(void **state)
{
	(void)state;
	check_expands("%{s}", 0, &env4, "strong-bad@email.example.com");
	check_expands("%{o}", 0, &env4, "email.example.com");
	check_expands("%{d}", 0, &env4, "email.example.com");
	check_expands("%{d4}", 0, &env4, "email.example.com");
	check_expands("%{d3}", 0, &env4, "email.example.com");
	check_expands("%{d2}", 0, &env4, "example.com");
	check_expands("%{d1}", 0, &env4, "com");
	check_expands("%{dr}", 0, &env4, "com.example.email");
	check_expands("%{d2r}", 0, &env4, "example.email");
	check_expands("%{l}", 0, &env4, "strong-bad");
	check_expands("%{l-}", 0, &env4, "strong.bad");
	check_expands("%{lr}", 0, &env4, "strong-bad");
	check_expands("%{lr-}", 0, &env4, "bad.strong");
	check_expands("%{l1r-}", 0, &env4, "strong");
	check_expands("%{ir}.%{v}._spf.%{d2}", 0, &env4, "3.2.0.192.in-addr._spf.example.com");
	check_expands("%{lr-}.lp._spf.%{d2}", 0, &env4, "bad.strong.lp._spf.example.com");
	check_expands("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", 0, &env4,
	              "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
	check_expands("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", 0, &env4,
	              "3.2.0.192.in-addr.strong.lp._spf.example.com");
	check_expands("%{d2}.trusted-domains.example.net", 0, &env4,
	              "example.com.trusted-domains.example.net");
	struct spf_macro_env env6 = env4;
	env6.i = "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1";
	env6.v = "ip6";
	check_expands("%{ir}.%{v}._spf.%{d2}", 0, &env6,
	              "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf."
	              "example.com");
}

static void test_transformers_and_escapes(void **state)
{
	(void)state;
	struct spf_macro_env e = env4;
	e.l = "foo-bar+zip+quux";
	check_expands("%{l2r+-}", 0, &e, "bar.foo"); /* several delimiters at once */
	check_expands("%{l+}", 0, &e, "foo-bar.zip.quux");
	check_expands("%{l1+-.}", 0, &e, "quux");
	check_expands("%{l99}", 0, &e, "foo-bar+zip+quux"); /* more parts than there are */
	check_expands("%{d123456789}", 0, &e, "email.example.com");
	check_expands("%{D}", 0, &e, "email.example.com"); /* nothing to escape */
	e.l = "~jack&jill=up-a_b3.c";
	check_expands("%{L}", 0, &e, "~jack%26jill%3Dup-a_b3.c");
	e.l = "a b/\xc3\xa9";
	check_expands("%{L}", 0, &e, "a%20b%2F%C3%A9");
	check_expands("x%%y%_z%-w", 0, &env4, "x%y z%20w");
	check_expands("%{c} %{r} %{t} %{p}", SPF_MACRO_EXP, &env4,
	              "192.0.2.3 receiver.example 1700000000 mx.example.org");
	check_expands("%{h}", 0, &env4, "mx.example.org");
	e.l = "a..b";
	check_expands("%{lr}", 0, &e, "b..a"); /* empty parts are kept */
	check_expands("", 0, &env4, "");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	const char *bad[] = {
	    "%",    "a%",    "%x",          "%(ir)",    "%{",    "%{d",   "%{d2",  "%{dr",
	    "%{x}", "%{d0}", "%{d01x}",     "%{d2r-x}", "%{c}",  "%{r}",  "%{t}",  "%{R}",
	    "a b",  "a\tb",  "caf\xc3\xa9", "a\x7f",    "%{d}%", "%{ d}", "%{d }",
	};
	char err[128];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		char *copy = xmemdup(bad[i], len);
		err[0] = 0;
		if (spf_macro_check(copy, len, 0, NULL, err, sizeof(err)) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != 0);
		free(copy);
		char *out = expand(bad[i], 0, &env4, err, sizeof(err));
		assert_null(out);
	}
	/* c, r, t and spaces are fine in explanations */
	unsigned letters = 0;
	assert_int_equal(
	    spf_macro_check("%{c} is %{r} at %{t}", 20, SPF_MACRO_EXP, &letters, err, sizeof(err)),
	    0);
	assert_int_equal(letters, SPF_LETTER('c') | SPF_LETTER('r') | SPF_LETTER('t'));
	assert_int_equal(spf_macro_check("%{p}.%{I}", 9, 0, &letters, err, sizeof(err)), 0);
	assert_int_equal(letters, SPF_LETTER('p') | SPF_LETTER('i'));
	/* a NUL inside the length is not the end */
	assert_int_equal(spf_macro_check("ab\0c", 4, 0, NULL, err, sizeof(err)), -1);
}

static void test_unknown_value(void **state)
{
	(void)state;
	struct spf_macro_env e = env4;
	char err[128];
	e.p = NULL; /* not known yet: the caller must look it up first */
	char *out = expand("%{p}.example", 0, &e, err, sizeof(err));
	assert_null(out);
	assert_non_null(strstr(err, "%{p}"));
}

static void test_expansion_cap(void **state)
{
	(void)state;
	struct spf_macro_env e = env4;
	char err[128];
	char *big = xmalloc(300);
	memset(big, 'a', 299);
	big[299] = 0;
	e.l = big;
	/* 14 x 300 > SPF_EXPAND_MAX: refused, nothing kept */
	char *out = expand("%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}", 0, &e, err,
	                   sizeof(err));
	assert_null(out);
	assert_non_null(strstr(err, "longer"));
	/* capital letters triple: 5 x 3 x 299 > 4096 */
	memset(big, '&', 299);
	out = expand("%{L}%{L}%{L}%{L}%{L}", 0, &e, err, sizeof(err));
	assert_null(out);
	free(big);
	/* the cap holds within a buffer that already has content */
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	assert_int_equal(spf_macro_expand("%{x}", 4, 0, &env4, &b, err, sizeof(err)), -1);
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

static void test_domain_spec(void **state)
{
	(void)state;
	const char *good[] = {
	    "example.com",
	    "example.com.",
	    "%{d}",
	    "%{d}.",
	    "foo.%{d2}",
	    "%{ir}.bl.example",
	    "a.xn--zckzah",
	    "foo:bar/baz.example.com",
	    "x.1-2",
	    ".com",
	    "mail.example...com",
	    "%%.example",
	    "a.%-",
	    "%{i}.%_",
	};
	const char *bad[] = {
	    "",
	    "foo-bar",
	    "museum",
	    "museum.",
	    "example.com:8080",
	    "111.222.33.44",
	    "abc.123",
	    "example.-com",
	    "example.com-",
	    "foo.%{d}bar",
	    "%{d}x",
	    "ip5.example.com/24",
	    "a.b..",
	    ".",
	    "%{c}.example",
	    "a b.example",
	    "%{d.}com",
	};
	char err[128];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t len = strlen(good[i]);
		char *copy = xmemdup(good[i], len);
		if (spf_domain_spec_check(copy, len, NULL, err, sizeof(err)) != 0)
			fail_msg("refused \"%s\": %s", good[i], err);
		free(copy);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		char *copy = xmemdup(bad[i], len ? len : 1);
		if (spf_domain_spec_check(copy, len, NULL, err, sizeof(err)) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
		free(copy);
	}
}

static void test_truncate(void **state)
{
	(void)state;
	char name[600];
	strcpy(name, "example.com.");
	spf_domain_truncate(name);
	assert_string_equal(name, "example.com");
	/* 8 x "somewhat.long.exp.example.com." + "example.com" = 251: kept */
	char want[300] = "";
	for (int i = 0; i < 8; i++)
		strcat(want, "somewhat.long.exp.example.com.");
	strcat(want, "example.com");
	snprintf(name, sizeof(name), "foobar.%s", want); /* 258: loses "foobar." */
	spf_domain_truncate(name);
	assert_string_equal(name, want);
	assert_true(strlen(name) <= 253);
	/* several labels go when needed */
	snprintf(name, sizeof(name), "a.bb.ccc.%s", want);
	spf_domain_truncate(name);
	assert_string_equal(name, want);
	/* one label longer than 253 is left to the name check */
	memset(name, 'x', 300);
	name[300] = 0;
	spf_domain_truncate(name);
	assert_int_equal(strlen(name), 300);
	name[0] = 0;
	spf_domain_truncate(name);
	assert_string_equal(name, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_examples),  cmocka_unit_test(test_transformers_and_escapes),
	    cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_unknown_value),
	    cmocka_unit_test(test_expansion_cap), cmocka_unit_test(test_domain_spec),
	    cmocka_unit_test(test_truncate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
