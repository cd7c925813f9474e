/*
 * Unit tests for the SPF evaluator (spf.c) without a network: a zone in a
 * table answers the lookups spf_step() asks for, and every test also checks
 * which lookups were asked, in order (the limits of §4.6.4 are about
 * lookups). The RFC 7208 suite runs end to end in tests/integ; these cover
 * the API and what the suite cannot see: lookup counts, the HELO identity,
 * spf_abort, the default explanation.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_rdata.h"
#include "spf.h"
#include "xmalloc.h"

struct zrec {
	const char *name, *type, *data;
};

struct zone {
	const struct zrec *r;
	size_t n;
	char log[8192]; /* "TYPE name;" per lookup */
};

static uint16_t type_of(const char *t)
{
	return dns_type_from_name(t);
}

/* Build the answer the zone gives to (name, type). */
static void answer_for(const struct zone *z, const char *name, uint16_t type, struct dns_answer *a)
{
	int exists = 0, timeout = 0, servfail = 0;
	memset(a, 0, sizeof(*a));
	a->qname = xstrdup(name);
	a->qtype = type;
	a->rr = xcalloc(z->n + 1, sizeof(*a->rr));
	for (size_t i = 0; i < z->n; i++) {
		const struct zrec *r = &z->r[i];
		if (strcasecmp(r->name, name) != 0)
			continue;
		exists = 1;
		timeout |= strcmp(r->type, "TIMEOUT") == 0;
		servfail |= strcmp(r->type, "SERVFAIL") == 0;
		if (type_of(r->type) != type)
			continue;
		struct dns_rr *rr = &a->rr[a->nrr++];
		rr->type = type;
		rr->ttl = 300;
		switch (type) {
		case DNS_T_A:
			assert_int_equal(inet_pton(AF_INET, r->data, rr->u.a), 1);
			break;
		case DNS_T_AAAA:
			assert_int_equal(inet_pton(AF_INET6, r->data, rr->u.aaaa), 1);
			break;
		case DNS_T_MX:
			rr->u.mx.pref = (uint16_t)atoi(r->data);
			rr->u.mx.exchange = xstrdup(strchr(r->data, ' ') + 1);
			break;
		case DNS_T_PTR:
			rr->u.name = xstrdup(r->data);
			break;
		case DNS_T_TXT:
			rr->u.txt.nstr = 1;
			rr->u.txt.str = xcalloc(1, sizeof(*rr->u.txt.str));
			rr->u.txt.joined = (uint8_t *)xstrdup(r->data);
			rr->u.txt.joined_len = strlen(r->data);
			rr->u.txt.str[0].p = rr->u.txt.joined;
			rr->u.txt.str[0].len = rr->u.txt.joined_len;
			break;
		}
	}
	if (a->nrr > 0)
		a->status = DNS_OK;
	else if (timeout)
		a->status = DNS_TIMEOUT;
	else if (servfail)
		a->status = DNS_TEMPFAIL;
	else
		a->status = exists ? DNS_NODATA : DNS_NXDOMAIN;
}

/* Evaluate until done; the caller frees *out. */
static enum spf_result run(struct zone *z, const struct spf_request *req, enum spf_identity id,
                           struct spf **out)
{
	struct spf *s = spf_new(req, id);
	const char *name;
	uint16_t type;
	char tn[16];
	assert_non_null(s);
	z->log[0] = 0;
	for (int steps = 0; spf_step(s, &name, &type) == SPF_STEP_DNS; steps++) {
		struct dns_answer a;
		assert_true(steps < 300);
		size_t l = strlen(z->log);
		snprintf(z->log + l, sizeof(z->log) - l, "%s %s;",
		         dns_type_name(type, tn, sizeof(tn)), name);
		answer_for(z, name, type, &a);
		spf_answer(s, &a);
		dns_answer_free(&a);
	}
	*out = s;
	return spf_result(s);
}

#define ZONE(z, recs) struct zone z = {recs, sizeof(recs) / sizeof(recs[0]), ""}

static struct spf_request request(const char *ip, const char *sender, const char *helo)
{
	struct spf_request r;
	memset(&r, 0, sizeof(r));
	r.ip = ip;
	r.sender = sender;
	r.helo = helo;
	r.receiver = "mx.receiver.example";
	r.now = 1700000000;
	return r;
}

static void test_pass_fail_and_default_explanation(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"example.org", "TXT", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"},
	    {"example.org", "TXT", "some other text"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.9", "alice@example.org", "mail.example.org");
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	assert_string_equal(z.log, "TXT example.org;");
	assert_null(spf_explanation(s));
	assert_string_equal(spf_reason(s), "example.org matched ip4:192.0.2.0/24");
	assert_string_equal(spf_domain(s), "example.org");
	assert_int_equal(spf_lookups(s), 1);
	spf_free(s);

	req.ip = "2001:db8::25";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	spf_free(s);

	req.ip = "::ffff:192.0.2.9"; /* IPv4-mapped is IPv4 (§5) */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	spf_free(s);

	req.ip = "198.51.100.1";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	assert_string_equal(spf_explanation(s),
	                    "example.org does not allow 198.51.100.1 to send its mail (SPF)");
	assert_string_equal(spf_reason(s), "example.org matched -all");
	spf_free(s);

	req.default_explanation = "%{l} from %{c} at %{t} for %{r} (%{v})";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	assert_string_equal(
	    spf_explanation(s),
	    "alice from 198.51.100.1 at 1700000000 for mx.receiver.example (in-addr)");
	spf_free(s);

	req.default_explanation = "100%"; /* not a macro-string: used as it is */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	assert_string_equal(spf_explanation(s), "100%");
	spf_free(s);
}

static void test_include_redirect_and_exp(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"example.org", "TXT",
	     "v=spf1 include:_a.example.org -include:_b.example.org "
	     "redirect=_c.example.org exp=ignored.example.org"},
	    {"_a.example.org", "TXT", "v=spf1 ip4:192.0.2.1 -all exp=also.ignored.example.org"},
	    {"_b.example.org", "TXT", "v=spf1 ip4:192.0.2.2"},
	    {"_c.example.org", "TXT", "v=spf1 a:%{l}.users.example.org -all exp=why.%{d}"},
	    {"bob.users.example.org", "A", "192.0.2.3"},
	    {"why._c.example.org", "TXT", "%{l} may not send from %{i} (%{d})"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.1", "alice@example.org", "mail.example.org");
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	assert_string_equal(spf_reason(s), "example.org matched include:_a.example.org");
	spf_free(s);

	req.ip = "192.0.2.2"; /* _b passes: -include matches: fail */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	spf_free(s);

	req.ip = "192.0.2.3";
	req.sender = "bob@example.org";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	assert_string_equal(z.log, "TXT example.org;TXT _a.example.org;TXT _b.example.org;"
	                           "TXT _c.example.org;A bob.users.example.org;");
	spf_free(s);

	req.sender = "carol@example.org"; /* the redirect's exp=, not the first record's */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	assert_string_equal(spf_explanation(s),
	                    "carol may not send from 192.0.2.3 (_c.example.org)");
	assert_non_null(strstr(z.log, "TXT why._c.example.org;"));
	spf_free(s);
}

static void test_p_macro_and_ptr(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"example.org", "TXT",
	     "v=spf1 ptr:trusted.example -exists:%{p}.bad.example ptr -all "
	     "exp=exp.example.org"},
	    {"exp.example.org", "TXT", "%{p} is not %{d}"},
	    {"9.2.0.192.in-addr.arpa", "PTR", "a.example.com"},
	    {"9.2.0.192.in-addr.arpa", "PTR", "host.example.org"},
	    {"9.2.0.192.in-addr.arpa", "PTR", "liar.example.org"},
	    {"a.example.com", "A", "192.0.2.9"},
	    {"host.example.org", "A", "192.0.2.9"},
	    {"liar.example.org", "A", "198.51.100.7"},
	    {"8.2.0.192.in-addr.arpa", "PTR", "a.example.com"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.9", "x@example.org", "h.example");
	/* host.example.org is validated and under example.org: the ptr term */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	assert_string_equal(spf_reason(s), "example.org matched ptr");
	/* validated once, though ptr and %{p} both need it */
	assert_string_equal(z.log, "TXT example.org;PTR 9.2.0.192.in-addr.arpa;A a.example.com;"
	                           "A host.example.org;A liar.example.org;"
	                           "A host.example.org.bad.example;");
	spf_free(s);

	req.ip = "192.0.2.8"; /* its PTR name does not point back: p is unknown */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	assert_string_equal(spf_explanation(s), "unknown is not example.org");
	spf_free(s);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"slow.example", "TXT", "v=spf1 include:timeout.example -all"},
	    {"timeout.example", "TIMEOUT", ""},
	    {"broken.example", "TXT", "v=spf1 a:servfail.example -all"},
	    {"servfail.example", "SERVFAIL", ""},
	    {"none.example", "TXT", "v=spf1 include:nothing.example -all"},
	    {"two.example", "TXT", "v=spf1 -all"},
	    {"two.example", "TXT", "V=SPF1 +all"},
	    {"syntax.example", "TXT", "v=spf1 ip4:192.0.2.1 moo"},
	    {"self.example", "TXT", "v=spf1 redirect=self.example"},
	    {"gone.example", "TXT", "v=spf1 redirect=nothing.example"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.1", "a@slow.example", "h.example");
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_TEMPERROR);
	spf_free(s);
	req.sender = "a@broken.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_TEMPERROR);
	assert_non_null(strstr(spf_reason(s), "servfail.example"));
	spf_free(s);
	req.sender = "a@none.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	assert_non_null(strstr(spf_reason(s), "include:nothing.example has no SPF record"));
	spf_free(s);
	req.sender = "a@two.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	spf_free(s);
	req.sender = "a@syntax.example"; /* an error after a matching term */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	spf_free(s);
	req.sender = "a@self.example"; /* a redirect loop ends at the term limit */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	assert_int_equal(spf_lookups(s), 11);
	assert_non_null(strstr(spf_reason(s), "DNS-querying terms"));
	spf_free(s);
	req.sender = "a@gone.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	spf_free(s);
	req.sender = "a@nothing.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_NONE);
	spf_free(s);
}

static void test_limits(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"terms.example", "TXT", "v=spf1 a a a a a a a a a a a -all"},
	    {"terms.example", "A", "198.51.100.9"}, /* answers, so no lookup is void */
	    {"ten.example", "A", "198.51.100.9"},
	    {"ten.example", "TXT", "v=spf1 a a a a a a a a a a ip4:192.0.2.1 -all"},
	    {"void.example", "TXT", "v=spf1 a:n1.example mx:n2.example exists:n3.example -all"},
	    {"void2.example", "TXT", "v=spf1 a:n1.example a:n2.example ?all"},
	    {"mx.example", "TXT", "v=spf1 mx -all"},
	    {"mx.example", "MX", "0 m.example"},
	    {"mx.example", "MX", "1 m.example"},
	    {"mx.example", "MX", "2 m.example"},
	    {"mx.example", "MX", "3 m.example"},
	    {"mx.example", "MX", "4 m.example"},
	    {"mx.example", "MX", "5 m.example"},
	    {"mx.example", "MX", "6 m.example"},
	    {"mx.example", "MX", "7 m.example"},
	    {"mx.example", "MX", "8 m.example"},
	    {"mx.example", "MX", "9 m.example"},
	    {"mx.example", "MX", "10 m.example"},
	    {"ptr.example", "TXT", "v=spf1 ptr ~all"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p1.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p2.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p3.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p4.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p5.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p6.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p7.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p8.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p9.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "p10.example"},
	    {"1.2.0.192.in-addr.arpa", "PTR", "ptr.example"},
	    {"ptr.example", "A", "192.0.2.1"},
	    {"p5.example", "A", "198.51.100.1"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.1", "a@terms.example", "h.example");
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	assert_int_equal(spf_lookups(s), 11); /* the record and 10 a: the 11th is not asked */
	spf_free(s);
	req.sender = "a@ten.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	spf_free(s);
	req.sender = "a@void.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	assert_non_null(strstr(spf_reason(s), "void lookups"));
	spf_free(s);
	req.sender = "a@void2.example";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_NEUTRAL);
	spf_free(s);
	req.sender = "a@mx.example"; /* 11 MX records: permerror before any A lookup */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PERMERROR);
	assert_string_equal(z.log, "TXT mx.example;MX mx.example;");
	spf_free(s);
	req.sender = "a@ptr.example"; /* the 11th PTR name, the matching one, is ignored */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_SOFTFAIL);
	assert_null(strstr(z.log, "A ptr.example;"));
	assert_non_null(strstr(z.log, "A p10.example;"));
	spf_free(s);
}

static void test_helo_identity(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"mail.example.org", "TXT", "v=spf1 a -all exp=e.example.org"},
	    {"mail.example.org", "A", "192.0.2.5"},
	    {"e.example.org", "TXT", "%{s} %{l} %{o} %{d} %{h}"},
	    {"example.org", "TXT", "v=spf1 +all"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.6", "", "mail.example.org");
	/* null reverse-path: the HELO identity, local-part "postmaster" (§2.4) */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	assert_string_equal(spf_explanation(s),
	                    "postmaster@mail.example.org postmaster mail.example.org "
	                    "mail.example.org mail.example.org");
	assert_string_equal(spf_domain(s), "mail.example.org");
	spf_free(s);
	/* the HELO check on its own ignores MAIL FROM */
	req.sender = "someone@example.org";
	req.ip = "192.0.2.5";
	assert_int_equal(run(&z, &req, SPF_ID_HELO, &s), SPF_PASS);
	assert_string_equal(z.log, "TXT mail.example.org;A mail.example.org;");
	spf_free(s);
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	assert_string_equal(z.log, "TXT example.org;");
	spf_free(s);
	/* "@example.org" and "example.org" both mean postmaster@example.org */
	req.sender = "@example.org";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	spf_free(s);
	req.sender = "example.org";
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	spf_free(s);
	req.sender = "\"odd@local\"@example.org."; /* the last @; a trailing dot */
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_PASS);
	assert_string_equal(spf_domain(s), "example.org");
	spf_free(s);
}

static void test_none_without_lookups(void **state)
{
	(void)state;
	ZONE(z, ((const struct zrec[]){{"x.example", "TXT", "v=spf1 +all"}}));
	const char *bad[] = {"localhost", "[192.0.2.1]", "a..example",
	                     "",          ".example",    "a\x01.example"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spf *s;
		struct spf_request req = request("192.0.2.1", NULL, bad[i]);
		assert_int_equal(run(&z, &req, SPF_ID_HELO, &s), SPF_NONE);
		assert_int_equal(spf_lookups(s), 0);
		spf_free(s);
	}
	struct spf_request req = request("not-an-ip", "a@x.example", "h.example");
	assert_null(spf_new(&req, SPF_ID_MAILFROM));
	req.ip = NULL;
	assert_null(spf_new(&req, SPF_ID_MAILFROM));
}

static void test_abort_and_stray_answers(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"example.org", "TXT", "v=spf1 -all exp=exp.example.org"},
	    {"exp.example.org", "TXT", "go away"},
	};
	ZONE(z, recs);
	struct spf_request req = request("192.0.2.1", "a@example.org", "h.example");
	const char *name;
	uint16_t type;
	struct dns_answer a;

	/* aborted while the record is looked up: temperror */
	struct spf *s = spf_new(&req, SPF_ID_MAILFROM);
	assert_int_equal(spf_step(s, &name, &type), SPF_STEP_DNS);
	spf_abort(s, "too slow");
	assert_int_equal(spf_step(s, &name, &type), SPF_STEP_DONE);
	assert_int_equal(spf_result(s), SPF_TEMPERROR);
	assert_string_equal(spf_reason(s), "too slow");
	answer_for(&z, "example.org", DNS_T_TXT, &a);
	spf_answer(s, &a); /* too late: ignored */
	dns_answer_free(&a);
	assert_int_equal(spf_result(s), SPF_TEMPERROR);
	spf_free(s);

	/* aborted while only the explanation is missing: fail, default text */
	s = spf_new(&req, SPF_ID_MAILFROM);
	assert_int_equal(spf_step(s, &name, &type), SPF_STEP_DNS);
	answer_for(&z, name, type, &a);
	spf_answer(s, &a);
	spf_answer(s, &a); /* twice: the second is not for anything */
	dns_answer_free(&a);
	assert_int_equal(spf_step(s, &name, &type), SPF_STEP_DNS);
	assert_string_equal(name, "exp.example.org");
	spf_abort(s, "too slow");
	assert_int_equal(spf_step(s, &name, &type), SPF_STEP_DONE);
	assert_int_equal(spf_result(s), SPF_FAIL);
	assert_string_equal(spf_explanation(s),
	                    "example.org does not allow 192.0.2.1 to send its mail (SPF)");
	spf_free(s);
}

static void test_names_are_quoted(void **state)
{
	(void)state;
	static const struct zrec recs[] = {
	    {"example.org", "TXT", "v=spf1 exists:%{l}.%_x.example -all"},
	};
	ZONE(z, recs);
	struct spf *s;
	struct spf_request req = request("192.0.2.1", "a\\b@example.org", "h.example");
	assert_int_equal(run(&z, &req, SPF_ID_MAILFROM, &s), SPF_FAIL);
	/* the expansion "a\b. x.example" is asked in presentation form */
	assert_string_equal(z.log, "TXT example.org;A a\\\\b.\\032x.example;");
	spf_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pass_fail_and_default_explanation),
	    cmocka_unit_test(test_include_redirect_and_exp),
	    cmocka_unit_test(test_p_macro_and_ptr),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_helo_identity),
	    cmocka_unit_test(test_none_without_lookups),
	    cmocka_unit_test(test_abort_and_stray_answers),
	    cmocka_unit_test(test_names_are_quoted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
