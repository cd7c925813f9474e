/*
 * Unit tests for spf_record: record selection (§4.5) and the syntax of
 * every mechanism and modifier, good and bad, with the fields a good one
 * parses to. Records are parsed from exactly-sized heap copies (not
 * NUL-terminated), and every record that parses also parses with trailing
 * spaces (the ABNF allows them) to the same terms.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "spf_macro.h"
#include "spf_record.h"
#include "xmalloc.h"

static int parse(const char *txt, size_t len, struct spf_record *rec, char *err, size_t errlen)
{
	char *copy = xmemdup(txt, len ? len : 1);
	int rc = spf_record_parse(copy, len, rec, err, errlen);
	free(copy);
	return rc;
}

/* Parse txt, fail the test on error; also with "  " appended. */
static void parse_ok(const char *txt, struct spf_record *rec)
{
	char err[200];
	if (parse(txt, strlen(txt), rec, err, sizeof(err)) != 0)
		fail_msg("\"%s\": %s", txt, err);
	char *spaced = xasprintf("%s  ", txt);
	struct spf_record again;
	if (parse(spaced, strlen(spaced), &again, err, sizeof(err)) != 0)
		fail_msg("\"%s  \": %s", txt, err);
	assert_int_equal(again.nterm, rec->nterm);
	for (size_t i = 0; i < rec->nterm; i++)
		assert_string_equal(again.term[i].text, rec->term[i].text);
	spf_record_free(&again);
	free(spaced);
}

static void parse_bad_len(const char *txt, size_t len, const char *why)
{
	struct spf_record rec;
	char err[200] = "";
	if (parse(txt, len, &rec, err, sizeof(err)) == 0)
		fail_msg("accepted \"%s\"", txt);
	if (strstr(err, why) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", txt, err, why);
	assert_null(rec.term);
	assert_null(rec.redirect);
}

static void parse_bad(const char *txt, const char *why)
{
	parse_bad_len(txt, strlen(txt), why);
}

static void test_is_spf(void **state)
{
	(void)state;
	assert_true(spf_record_is_spf((const uint8_t *)"v=spf1", 6));
	assert_true(spf_record_is_spf((const uint8_t *)"v=spf1 -all", 11));
	assert_true(spf_record_is_spf((const uint8_t *)"V=SpF1 -all", 11));
	assert_false(spf_record_is_spf((const uint8_t *)"v=spf10", 7));
	assert_false(spf_record_is_spf((const uint8_t *)"v=spf1mx", 8)); /* nospace1 */
	assert_false(spf_record_is_spf((const uint8_t *)"v=spf", 5));
	assert_false(spf_record_is_spf((const uint8_t *)" v=spf1", 7));
	assert_false(spf_record_is_spf((const uint8_t *)"v=spf1\t-all", 11));
	assert_false(spf_record_is_spf((const uint8_t *)"", 0));
}

static void test_mechanisms(void **state)
{
	(void)state;
	struct spf_record r;
	parse_ok("v=spf1 +all -ALL ~all ?all all", &r);
	assert_int_equal(r.nterm, 5);
	assert_int_equal(r.term[0].qual, SPF_PASS);
	assert_int_equal(r.term[1].qual, SPF_FAIL);
	assert_int_equal(r.term[1].mech, SPF_MECH_ALL);
	assert_int_equal(r.term[2].qual, SPF_SOFTFAIL);
	assert_int_equal(r.term[3].qual, SPF_NEUTRAL);
	assert_int_equal(r.term[4].qual, SPF_PASS);
	spf_record_free(&r);

	parse_ok("v=spf1 a mx ptr a:%{d}.x.example mx:mail.example.org/24 a/16//48 mx//64 "
	         "a:foo:bar/baz.example.com ptr:Example.COM exists:%{ir}.bl.example "
	         "include:_spf.example.net",
	         &r);
	assert_int_equal(r.nterm, 11);
	assert_int_equal(r.term[0].mech, SPF_MECH_A);
	assert_null(r.term[0].spec);
	assert_int_equal(r.term[0].cidr4, 32);
	assert_int_equal(r.term[0].cidr6, 128);
	assert_string_equal(r.term[3].spec, "%{d}.x.example");
	assert_int_equal(r.term[3].letters, SPF_LETTER('d'));
	assert_string_equal(r.term[4].spec, "mail.example.org");
	assert_int_equal(r.term[4].cidr4, 24);
	assert_int_equal(r.term[4].cidr6, 128);
	assert_null(r.term[5].spec);
	assert_int_equal(r.term[5].cidr4, 16);
	assert_int_equal(r.term[5].cidr6, 48);
	assert_int_equal(r.term[6].cidr4, 32);
	assert_int_equal(r.term[6].cidr6, 64);
	assert_string_equal(r.term[7].spec, "foo:bar/baz.example.com");
	assert_int_equal(r.term[8].mech, SPF_MECH_PTR);
	assert_string_equal(r.term[8].spec, "Example.COM");
	assert_int_equal(r.term[9].mech, SPF_MECH_EXISTS);
	assert_int_equal(r.term[9].letters, SPF_LETTER('i'));
	assert_int_equal(r.term[10].mech, SPF_MECH_INCLUDE);
	assert_string_equal(r.term[10].text, "include:_spf.example.net");
	spf_record_free(&r);

	uint8_t want[16];
	parse_ok("v=spf1 ip4:192.0.2.0/24 -ip4:10.1.2.3 ip6:2001:DB8::/32 ip6:::ffff:1.2.3.4 "
	         "ip4:0.0.0.0/0 ip6:::/0",
	         &r);
	assert_int_equal(r.nterm, 6);
	assert_memory_equal(r.term[0].net, "\xc0\x00\x02\x00", 4);
	assert_int_equal(r.term[0].cidr4, 24);
	assert_int_equal(r.term[1].cidr4, 32);
	inet_pton(AF_INET6, "2001:db8::", want);
	assert_memory_equal(r.term[2].net, want, 16);
	assert_int_equal(r.term[2].cidr6, 32);
	inet_pton(AF_INET6, "::ffff:1.2.3.4", want);
	assert_memory_equal(r.term[3].net, want, 16);
	assert_int_equal(r.term[3].cidr6, 128);
	assert_int_equal(r.term[4].cidr4, 0);
	assert_int_equal(r.term[5].cidr6, 0);
	spf_record_free(&r);

	parse_ok("v=spf1", &r); /* empty: neutral at evaluation */
	assert_int_equal(r.nterm, 0);
	spf_record_free(&r);
}

static void test_modifiers(void **state)
{
	(void)state;
	struct spf_record r;
	parse_ok("v=spf1 redirect=_spf.%{d2} exp=explain.%{d}. moo.cow-far_out=man:dog/cat "
	         "default=pass foo= x=%{c}%%%_",
	         &r);
	assert_int_equal(r.nterm, 0);
	assert_string_equal(r.redirect, "_spf.%{d2}");
	assert_int_equal(r.redirect_letters, SPF_LETTER('d'));
	assert_string_equal(r.exp, "explain.%{d}.");
	spf_record_free(&r);
	parse_ok("v=spf1 REDIRECT=a.example Exp=b.example", &r);
	assert_string_equal(r.redirect, "a.example");
	assert_string_equal(r.exp, "b.example");
	spf_record_free(&r);
}

static void test_errors(void **state)
{
	(void)state;
	parse_bad("v=spf1 ip4:1.2.3.4 -all moo", "unknown mechanism");
	parse_bad("v=spf1 -all.", "unknown mechanism");
	parse_bad("v=spf1 -all:foobar", "no argument");
	parse_bad("v=spf1 -all/8", "no argument");
	parse_bad("v=spf1 moo.cow/far_out=man:dog/cat", "unknown mechanism");
	parse_bad("v=spf1 moo.cow:far_out=man:dog/cat", "unknown mechanism");
	parse_bad("v=spf1 redirect:t2.example.com", "unknown mechanism");
	parse_bad("v=spf1 1up=foo", "unknown mechanism");
	parse_bad("v=spf1 =all", "unknown mechanism");
	parse_bad("v=spf1 *all", "unknown mechanism");
	parse_bad("v=spf1 foo=%abc", "invalid macro");
	parse_bad("v=spf1 a:foo-bar -all", "top label");
	parse_bad("v=spf1 a:example.com:8080", "top label");
	parse_bad("v=spf1 a:111.222.33.44", "top label");
	parse_bad("v=spf1 a:abc.123", "top label");
	parse_bad("v=spf1 a:museum", "top label");
	parse_bad("v=spf1 a:museum.", "top label");
	parse_bad("v=spf1 a:example.-com", "top label");
	parse_bad("v=spf1 a:", "empty domain-spec");
	parse_bad("v=spf1 a/33", "CIDR");
	parse_bad("v=spf1 a//129", "CIDR");
	parse_bad("v=spf1 a/24/64", "CIDR");
	parse_bad("v=spf1 a/24/16", "unexpected");
	parse_bad("v=spf1 a/024", "CIDR");
	parse_bad("v=spf1 mx:%{x}.example", "macro letter");
	parse_bad("v=spf1 mx:%{r}.example", "explanations only");
	parse_bad("v=spf1 ptr/0 -all", "takes only");
	parse_bad("v=spf1 ptr:", "empty domain-spec");
	parse_bad("v=spf1 include", "needs");
	parse_bad("v=spf1 include: -all", "empty domain-spec");
	parse_bad("v=spf1 include:ip5.example.com/24", "top label");
	parse_bad("v=spf1 exists", "needs");
	parse_bad("v=spf1 exists:mail.example.com/24", "top label");
	parse_bad("v=spf1 ip4", "network");
	parse_bad("v=spf1 ip4:", "network");
	parse_bad("v=spf1 ip4:1.2.3", "network");
	parse_bad("v=spf1 ip4:1.2.3.4:8080", "network");
	parse_bad("v=spf1 ip4:1.2.3.256", "network");
	parse_bad("v=spf1 ip4:1.2.03.4", "network");
	parse_bad("v=spf1 ip4:1.2.3.4/33", "CIDR");
	parse_bad("v=spf1 ip4:1.2.3.4/032", "CIDR");
	parse_bad("v=spf1 ip4:1.2.3.4//32", "CIDR");
	parse_bad("v=spf1 ip4:1.2.3.4/", "CIDR");
	parse_bad("v=spf1 -all ip6", "network");
	parse_bad("v=spf1 ip6::CAFE::BABE", "network");
	parse_bad("v=spf1 ip6:::1.1.1.1/129", "CIDR");
	parse_bad("v=spf1 ip6:::1.1.1.1//33", "CIDR");
	parse_bad("v=spf1 ip6:1.2.3.4", "network");
	parse_bad("v=spf1 exp= -all", "empty domain-spec");
	parse_bad("v=spf1 exp=-all", "top label");
	parse_bad("v=spf1 redirect=", "empty domain-spec");
	parse_bad("v=spf1 exp=a.example exp=b.example", "twice");
	parse_bad("v=spf1 redirect=a.example -all redirect=a.example", "twice");
	parse_bad("v=spf1 a:ctrl.example.com\rptr -all", "0x0d");
	parse_bad("v=spf1 ip4:192.0.2.5\n include:x.example ~all", "0x0a");
	parse_bad("v=spf1 a:\xc3\xaf\xc2\xbbgarbage.example.net -all", "ASCII only");
	parse_bad_len("v=spf1 a:foo.example.com\0", 25, "0x00");
	parse_bad("v=spf1\t-all", "not an SPF record");
	parse_bad("spf1 -all", "not an SPF record");
}

static void test_limits(void **state)
{
	(void)state;
	struct spf_record r;
	char err[200];
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "v=spf1");
	for (int i = 0; i < SPF_TERMS_MAX; i++)
		buf_append_str(&b, " +all");
	assert_int_equal(parse((char *)b.data, b.len, &r, err, sizeof(err)), 0);
	assert_int_equal(r.nterm, SPF_TERMS_MAX);
	spf_record_free(&r);
	buf_append_str(&b, " -all");
	assert_int_equal(parse((char *)b.data, b.len, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "terms"));
	buf_reset(&b);
	buf_append_str(&b, "v=spf1 ");
	while (b.len <= SPF_RECORD_MAX)
		buf_append_str(&b, "      ");
	assert_int_equal(parse((char *)b.data, b.len, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer"));
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_is_spf),    cmocka_unit_test(test_mechanisms),
	    cmocka_unit_test(test_modifiers), cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
