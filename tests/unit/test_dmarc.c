/*
 * Unit tests for DMARC evaluation: policy discovery step by step (author
 * domain, then organisational domain; temperror, several records, invalid
 * records), strict and relaxed alignment of DKIM and SPF, p= / sp= and
 * the pct= sampling, with the Debian public suffix list.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_fakedns.h"
#include "dmarc.h"
#include "xmalloc.h"

/* The list is loaded once for the group and handed to each test. */
static int setup(void **state)
{
	char err[256];
	*state = dmarc_psl_load(NULL, err, sizeof(err));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	dmarc_psl_free(*state);
	return 0;
}

struct spec {
	const char *from;
	const char *spf_domain;
	int spf_pass;
	const char *dkim[3]; /* passing d= values */
	const char *failed_dkim;
	unsigned roll;
};

/* Run discovery against dns; returns the names asked, comma-separated. */
static void evaluate(const struct dmarc_psl *psl, struct fakedns *dns, const struct spec *s,
                     struct dmarc_outcome *out, char *asked, size_t askedlen)
{
	char err[128];
	struct dmarc_eval *e = dmarc_eval_new(psl, s->from, err, sizeof(err));
	if (e == NULL)
		fail_msg("%s: %s", s->from, err);
	asked[0] = '\0';
	const char *q;
	int steps = 0;
	while ((q = dmarc_eval_query(e)) != NULL) {
		assert_true(++steps <= 2);
		snprintf(asked + strlen(asked), askedlen - strlen(asked), "%s%s",
		         asked[0] ? "," : "", q);
		const char *txt[8];
		size_t len[8], n;
		enum dkim_dns_status st = fakedns_lookup(dns, q, txt, len, 8, &n);
		assert_int_equal(dmarc_eval_answer(e, st, txt, len, n), 0);
	}
	assert_int_equal(dmarc_eval_answer(e, DKIM_DNS_NXDOMAIN, NULL, NULL, 0), -1);
	if (s->spf_domain)
		dmarc_eval_spf(e, s->spf_domain, s->spf_pass);
	for (int i = 0; i < 3 && s->dkim[i]; i++)
		dmarc_eval_dkim(e, s->dkim[i], 1);
	if (s->failed_dkim)
		dmarc_eval_dkim(e, s->failed_dkim, 0);
	dmarc_eval_result(e, s->roll, out);
	dmarc_eval_free(e);
}

static void test_alignment(void **state)
{
	const struct dmarc_psl *psl = *state;
	struct fakedns dns;
	fakedns_init(&dns);
	fakedns_add(&dns, "_dmarc.example.com", DKIM_DNS_OK, "v=spf1 -all"); /* not ours */
	fakedns_add(&dns, "_dmarc.example.com", DKIM_DNS_OK, "v=DMARC1; p=reject");
	fakedns_add(&dns, "_dmarc.strict.example", DKIM_DNS_OK,
	            "v=DMARC1; p=quarantine; adkim=s; aspf=s");
	fakedns_add(&dns, "_dmarc.example.co.uk", DKIM_DNS_OK, "v=DMARC1; p=reject");
	static const struct {
		struct spec s;
		enum dmarc_result r;
		int dkim_aligned, spf_aligned;
	} cases[] = {
	    /* relaxed: same organisational domain */
	    {{"example.com", NULL, 0, {"mail.example.com"}, NULL, 0}, DMARC_RESULT_PASS, 1, 0},
	    {{"example.com", NULL, 0, {"EXAMPLE.COM"}, NULL, 0}, DMARC_RESULT_PASS, 1, 0},
	    {{"example.com", "bounces.example.com", 1, {NULL}, NULL, 0}, DMARC_RESULT_PASS, 0, 1},
	    {{"example.com", "example.com", 0, {NULL}, "example.com", 0}, DMARC_RESULT_FAIL, 0, 0},
	    {{"example.com", "example.net", 1, {"example.org", "com"}, NULL, 0},
	     DMARC_RESULT_FAIL,
	     0,
	     0},
	    {{"example.com", NULL, 0, {"evilexample.com"}, NULL, 0}, DMARC_RESULT_FAIL, 0, 0},
	    /* strict: the very name */
	    {{"strict.example", NULL, 0, {"mail.strict.example"}, NULL, 0},
	     DMARC_RESULT_FAIL,
	     0,
	     0},
	    {{"strict.example", "mail.strict.example", 1, {NULL}, NULL, 0},
	     DMARC_RESULT_FAIL,
	     0,
	     0},
	    {{"strict.example", "Strict.Example", 1, {"strict.example"}, NULL, 0},
	     DMARC_RESULT_PASS,
	     1,
	     1},
	    /* the public suffix list decides what "organisation" means */
	    {{"a.example.co.uk", NULL, 0, {"b.example.co.uk"}, NULL, 0}, DMARC_RESULT_PASS, 1, 0},
	    {{"a.example.co.uk", NULL, 0, {"other.co.uk", "co.uk"}, NULL, 0},
	     DMARC_RESULT_FAIL,
	     0,
	     0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct dmarc_outcome o;
		char asked[512];
		evaluate(psl, &dns, &cases[i].s, &o, asked, sizeof(asked));
		if (o.result != cases[i].r || o.dkim_aligned != cases[i].dkim_aligned ||
		    o.spf_aligned != cases[i].spf_aligned)
			fail_msg("case %zu (%s): %s dkim %d spf %d", i, cases[i].s.from,
			         dmarc_result_name(o.result), o.dkim_aligned, o.spf_aligned);
	}
	fakedns_free(&dns);
}

static void test_discovery(void **state)
{
	const struct dmarc_psl *psl = *state;
	struct fakedns dns;
	fakedns_init(&dns);
	fakedns_add(&dns, "_dmarc.example.com", DKIM_DNS_OK,
	            "v=DMARC1; p=reject; sp=quarantine; pct=50");
	fakedns_add(&dns, "_dmarc.temp.example", DKIM_DNS_TEMPFAIL, NULL);
	fakedns_add(&dns, "_dmarc.two.example", DKIM_DNS_OK, "v=DMARC1; p=reject");
	fakedns_add(&dns, "_dmarc.two.example", DKIM_DNS_OK, "v=DMARC1; p=none");
	fakedns_add(&dns, "_dmarc.bad.example", DKIM_DNS_OK, "v=DMARC1; p=maybe");
	fakedns_add(&dns, "_dmarc.sub.orgtemp.example", DKIM_DNS_NODATA, NULL);
	fakedns_add(&dns, "_dmarc.orgtemp.example", DKIM_DNS_TEMPFAIL, NULL);
	struct dmarc_outcome o;
	char asked[512];

	/* the author domain's own record: p= applies */
	struct spec s = {"Example.COM", NULL, 0, {NULL}, NULL, 0};
	evaluate(psl, &dns, &s, &o, asked, sizeof(asked));
	assert_string_equal(asked, "_dmarc.example.com");
	assert_int_equal(o.result, DMARC_RESULT_FAIL);
	assert_int_equal(o.policy, DMARC_POLICY_REJECT);
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	assert_string_equal(o.record_domain, "example.com");
	assert_string_equal(o.from_domain, "example.com");
	/* pct=50: a roll of 50 or more is outside the sample: one step down */
	s.roll = 49;
	evaluate(psl, &dns, &s, &o, asked, sizeof(asked));
	assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
	assert_false(o.sampled_out);
	s.roll = 50;
	evaluate(psl, &dns, &s, &o, asked, sizeof(asked));
	assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
	assert_true(o.sampled_out);

	/* a subdomain without a record: the organisational record, sp= */
	struct spec sub = {"a.b.example.com", NULL, 0, {NULL}, NULL, 99};
	evaluate(psl, &dns, &sub, &o, asked, sizeof(asked));
	assert_string_equal(asked, "_dmarc.a.b.example.com,_dmarc.example.com");
	assert_int_equal(o.result, DMARC_RESULT_FAIL);
	assert_int_equal(o.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE); /* quarantine sampled out */
	assert_string_equal(o.record_domain, "example.com");
	sub.dkim[0] = "example.com";
	evaluate(psl, &dns, &sub, &o, asked, sizeof(asked));
	assert_int_equal(o.result, DMARC_RESULT_PASS);
	assert_int_equal(o.disposition, DMARC_POLICY_NONE);

	static const struct {
		const char *from, *asked;
		enum dmarc_result r;
	} other[] = {
	    {"nothing.example", "_dmarc.nothing.example", DMARC_RESULT_NONE},
	    {"x.nothing.example", "_dmarc.x.nothing.example,_dmarc.nothing.example",
	     DMARC_RESULT_NONE},
	    {"temp.example", "_dmarc.temp.example", DMARC_RESULT_TEMPERROR},
	    {"two.example", "_dmarc.two.example", DMARC_RESULT_NONE},
	    {"bad.example", "_dmarc.bad.example", DMARC_RESULT_PERMERROR},
	    {"sub.orgtemp.example", "_dmarc.sub.orgtemp.example,_dmarc.orgtemp.example",
	     DMARC_RESULT_TEMPERROR},
	    /* a public suffix has no organisational domain: one lookup */
	    {"co.uk", "_dmarc.co.uk", DMARC_RESULT_NONE},
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(*other); i++) {
		struct spec o2 = {other[i].from, "x.example", 1, {"y.example"}, NULL, 0};
		evaluate(psl, &dns, &o2, &o, asked, sizeof(asked));
		assert_string_equal(asked, other[i].asked);
		if (o.result != other[i].r)
			fail_msg("%s: %s (%s)", other[i].from, dmarc_result_name(o.result),
			         o.reason);
		assert_true(o.reason[0] != '\0');
	}
	fakedns_free(&dns);
}

static void test_api_edges(void **state)
{
	const struct dmarc_psl *psl = *state;
	char err[128];
	assert_null(dmarc_eval_new(psl, "", err, sizeof(err)));
	assert_null(dmarc_eval_new(psl, "bad domain", err, sizeof(err)));
	assert_null(dmarc_eval_new(psl, "legitimate.com(.attacker.com", err, sizeof(err)));
	/* a result before discovery is over is a temperror, not a guess */
	struct dmarc_eval *e = dmarc_eval_new(psl, "example.com", err, sizeof(err));
	struct dmarc_outcome o;
	dmarc_eval_result(e, 0, &o);
	assert_int_equal(o.result, DMARC_RESULT_TEMPERROR);
	dmarc_eval_free(e);
	assert_string_equal(dmarc_result_name(DMARC_RESULT_PERMERROR), "permerror");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alignment),
	    cmocka_unit_test(test_discovery),
	    cmocka_unit_test(test_api_edges),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
