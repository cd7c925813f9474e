/*
 * Unit tests for the DMARC record parser: the 19 cases OpenDMARC's
 * test_dmarc_parse.c checks (opendmarc-record-parse.tsv in
 * $RAVEN_TESTDATA/dmarc), with the RFC 7489 difference noted where we
 * disagree, then our own cases for every tag.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "util.h"
#include "xmalloc.h"

static const char *tdir(void)
{
	return unit_testdata();
}

static int parse(const char *txt, struct dmarc_record *r, char *err, size_t errlen)
{
	size_t len = strlen(txt);
	char *copy = xmemdup(txt, len);
	int rc = dmarc_record_parse(copy, len, r, err, errlen);
	free(copy);
	return rc;
}

/*
 * Where RFC 7489 and OpenDMARC differ, by case number. Case 5 "p=n":
 * §6.3 allows only none, quarantine and reject, and §6.6.3 keeps a record
 * with a bad p= only when it has a valid rua= (as p=none); this one has
 * none, so it is refused. Cases 16-18 (rua=ftp://..., ruf=mailto://...)
 * agree: those are syntactically valid URIs (RFC 3986), merely unusable
 * for reports, which is not the parser's business.
 */
static int rfc_differs(int casenum)
{
	return casenum == 5;
}

static void test_opendmarc_cases(void **state)
{
	(void)state;
	char *path = xasprintf("%s/dmarc/opendmarc-record-parse.tsv", tdir());
	size_t len;
	char *text = file_read_bounded(path, 65536, &len, NULL, 0);
	if (text == NULL)
		fail_msg("missing %s (set RAVEN_TESTDATA)", path);
	free(path);
	int n = 0, agree = 0;
	char *save;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		assert_non_null(tab2);
		*tab1 = *tab2 = '\0';
		int casenum = atoi(tab2 + 1);
		int upstream_ok = strcmp(tab1 + 1, "DMARC_PARSE_OKAY") == 0;
		struct dmarc_record r;
		char err[128];
		int ok = parse(line, &r, err, sizeof(err)) == 0;
		int want = rfc_differs(casenum) ? !upstream_ok : upstream_ok;
		if (ok != want)
			fail_msg("case %d \"%s\": %s (%s)", casenum, line,
			         ok ? "accepted" : "refused", ok ? "" : err);
		agree += ok == upstream_ok;
		n++;
	}
	assert_int_equal(n, 19);
	print_message("# OpenDMARC record cases: %d/%d as expected, %d agree with OpenDMARC "
	              "(case 5 p=n refused per RFC 7489 s6.3/s6.6.3)\n",
	              n, n, agree);
	free(text);
}

static void test_values(void **state)
{
	(void)state;
	struct dmarc_record r;
	char err[128];
	assert_int_equal(parse("v=DMARC1; p=reject", &r, err, sizeof(err)), 0);
	assert_int_equal(r.p, DMARC_POLICY_REJECT);
	assert_int_equal(r.sp, DMARC_POLICY_REJECT); /* sp defaults to p */
	assert_int_equal(r.pct, 100);
	assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.aspf, DMARC_ALIGN_RELAXED);
	assert_int_equal(r.fo, DMARC_FO_0);
	assert_int_equal(r.ri, 86400);
	assert_int_equal(parse(" v = DMARC1 ;P=Quarantine; SP=none; pct=0; adkim=s; aspf=S; "
	                       "fo=1:d:s; rf=afrf; ri=3600; rua=mailto:a@example.com!10m, "
	                       "mailto:b@example.com; ruf=mailto:c@example.com; x-unknown=1;",
	                       &r, err, sizeof(err)),
	                 0);
	assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.sp, DMARC_POLICY_NONE);
	assert_int_equal(r.pct, 0);
	assert_int_equal(r.adkim, DMARC_ALIGN_STRICT);
	assert_int_equal(r.aspf, DMARC_ALIGN_STRICT);
	assert_int_equal(r.fo, DMARC_FO_1 | DMARC_FO_D | DMARC_FO_S);
	assert_int_equal(r.ri, 3600);
	assert_int_equal(r.nrua, 2);
	assert_int_equal(r.nruf, 1);
	assert_false(r.p_from_rua);

	/* §6.6.3: a bad or missing p= with a valid rua= is p=none */
	assert_int_equal(parse("v=DMARC1; p=bogus; rua=mailto:a@example.com", &r, err, sizeof(err)),
	                 0);
	assert_int_equal(r.p, DMARC_POLICY_NONE);
	assert_true(r.p_from_rua);
	assert_int_equal(parse("v=DMARC1; rua=mailto:a@example.com", &r, err, sizeof(err)), 0);
	assert_true(r.p_from_rua);
	assert_int_equal(
	    parse("v=DMARC1; p=reject; sp=x; rua=mailto:a@example.com", &r, err, sizeof(err)), 0);
	assert_int_equal(r.p, DMARC_POLICY_NONE); /* the whole record counts as p=none */
	/* ... but not with an invalid rua= */
	assert_int_equal(parse("v=DMARC1; p=bogus; rua=not a uri", &r, err, sizeof(err)), -1);

	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"v=DMARC1", "no p= tag"},
	    {"v=dmarc1; p=none", "not a DMARC1 record (v=DMARC1 first)"},
	    {"p=none; v=DMARC1", "not a DMARC1 record (v=DMARC1 first)"},
	    {"v=DMARC10; p=none", "not a DMARC1 record (v=DMARC1 first)"},
	    {"v=DMARC1; p=none; p=reject", "duplicate tag p"},
	    {"v=DMARC1; p=none; pct=101", "bad pct= value"},
	    {"v=DMARC1; p=none; pct=-1", "bad pct= value"},
	    {"v=DMARC1; p=none; pct=", "bad pct= value"},
	    {"v=DMARC1; p=none; fo=2", "bad fo= value"},
	    {"v=DMARC1; p=none; fo=1:", "bad fo= value"},
	    {"v=DMARC1; p=none; rf=afrf:iodef", "bad rf= value"},
	    {"v=DMARC1; p=none; ri=99999999999", "bad ri= value"},
	    {"v=DMARC1; p=none; adkim=", "bad adkim= value"},
	    {"v=DMARC1; p=none; junk", "tag without '='"},
	    {"v=DMARC1; p=none; =x", "empty tag name"},
	    {"v=DMARC1; p=none\n", "control character in record"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		if (parse(bad[i].s, &r, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i].s);
		if (strcmp(err, bad[i].why) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].s, err, bad[i].why);
	}
}

static void test_is_dmarc(void **state)
{
	(void)state;
	assert_true(dmarc_record_is_dmarc("v=DMARC1", 8));
	assert_true(dmarc_record_is_dmarc("v = DMARC1 ;p=none", 18));
	assert_true(dmarc_record_is_dmarc("V=DMARC1;", 9));
	assert_false(dmarc_record_is_dmarc("v=spf1 -all", 11));
	assert_false(dmarc_record_is_dmarc("v=DMARC1x", 9));
	assert_false(dmarc_record_is_dmarc("", 0));
	assert_false(dmarc_record_is_dmarc("v=DMARC", 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opendmarc_cases),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_is_dmarc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
