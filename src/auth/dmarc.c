/*
 * dmarc: DMARC policy discovery and evaluation (RFC 7489 §6.6) as a step
 * engine (see dmarc.h). Discovery asks for _dmarc.<author domain>, then,
 * when that has no DMARC record, _dmarc.<organisational domain>; a
 * temporary DNS failure stops it with temperror, an invalid record with
 * permerror, several DMARC records with none (§6.6.3 step 5).
 */
#include "dmarc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_tags.h" /* dkim_name_valid */
#include "util.h"
#include "xmalloc.h"

#define DKIM_PASSES_MAX 16

enum step {
	STEP_AUTHOR,
	STEP_ORG,
	STEP_DONE,
};

struct dmarc_eval {
	const struct dmarc_psl *psl;
	char from[DMARC_DOMAIN_MAX + 1];
	char org[DMARC_DOMAIN_MAX + 1]; /* the author domain itself if it has none */
	char query[DMARC_DOMAIN_MAX + 8];
	enum step step;
	int have_record;
	int at_org; /* the record came from the organisational domain */
	struct dmarc_record rec;
	enum dmarc_result early; /* none / temperror / permerror when no record */
	char reason[160];
	char spf_domain[DMARC_DOMAIN_MAX + 1];
	int spf_pass;
	size_t ndkim;
	char dkim[DKIM_PASSES_MAX][DMARC_DOMAIN_MAX + 1];
};

const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE:
		return "none";
	case DMARC_RESULT_PASS:
		return "pass";
	case DMARC_RESULT_FAIL:
		return "fail";
	case DMARC_RESULT_TEMPERROR:
		return "temperror";
	case DMARC_RESULT_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "none";
}

static void set_query(struct dmarc_eval *e, const char *domain)
{
	snprintf(e->query, sizeof(e->query), "_dmarc.%s", domain);
}

struct dmarc_eval *dmarc_eval_new(const struct dmarc_psl *psl, const char *from_domain, char *err,
                                  size_t errlen)
{
	size_t len = strlen(from_domain);
	/* _dmarc. + the domain must still be a DNS name. */
	if (!dkim_name_valid(from_domain, len, 0) || len + 7 > DMARC_DOMAIN_MAX) {
		err_set(err, errlen, "bad author domain");
		return NULL;
	}
	struct dmarc_eval *e = xcalloc(1, sizeof(*e));
	e->psl = psl;
	memcpy(e->from, from_domain, len + 1);
	ascii_lower_str(e->from);
	if (dmarc_org_domain(psl, e->from, e->org, sizeof(e->org)) == -1)
		memcpy(e->org, e->from, len + 1);
	e->step = STEP_AUTHOR;
	set_query(e, e->from);
	return e;
}

void dmarc_eval_free(struct dmarc_eval *e)
{
	free(e);
}

const char *dmarc_eval_query(const struct dmarc_eval *e)
{
	return e->step == STEP_DONE ? NULL : e->query;
}

int dmarc_eval_answer(struct dmarc_eval *e, enum dkim_dns_status st, const char *const *txt,
                      const size_t *len, size_t ntxt)
{
	if (e->step == STEP_DONE)
		return -1;
	const char *domain = e->step == STEP_AUTHOR ? e->from : e->org;
	size_t found = 0, which = 0;
	if (st == DKIM_DNS_TEMPFAIL) {
		e->early = DMARC_RESULT_TEMPERROR;
		snprintf(e->reason, sizeof(e->reason), "DNS lookup of _dmarc.%s failed", domain);
		e->step = STEP_DONE;
		return 0;
	}
	if (st == DKIM_DNS_OK) {
		for (size_t i = 0; i < ntxt; i++) {
			if (dmarc_record_is_dmarc(txt[i], len[i])) {
				found++;
				which = i;
			}
		}
	}
	if (found > 1) {
		e->early = DMARC_RESULT_NONE;
		snprintf(e->reason, sizeof(e->reason), "several DMARC records at _dmarc.%s",
		         domain);
		e->step = STEP_DONE;
		return 0;
	}
	if (found == 1) {
		char why[128];
		e->at_org = e->step == STEP_ORG;
		e->step = STEP_DONE;
		if (dmarc_record_parse(txt[which], len[which], &e->rec, why, sizeof(why)) == -1) {
			e->early = DMARC_RESULT_PERMERROR;
			snprintf(e->reason, sizeof(e->reason), "_dmarc.%s: %s", domain, why);
			return 0;
		}
		e->have_record = 1;
		return 0;
	}
	if (e->step == STEP_AUTHOR && strcmp(e->org, e->from) != 0) {
		e->step = STEP_ORG;
		set_query(e, e->org);
		return 0;
	}
	e->step = STEP_DONE;
	e->early = DMARC_RESULT_NONE;
	snprintf(e->reason, sizeof(e->reason), "no DMARC record for %s", e->from);
	return 0;
}

void dmarc_eval_spf(struct dmarc_eval *e, const char *domain, int pass)
{
	snprintf(e->spf_domain, sizeof(e->spf_domain), "%s", domain ? domain : "");
	e->spf_pass = pass;
}

void dmarc_eval_dkim(struct dmarc_eval *e, const char *d, int pass)
{
	if (!pass || e->ndkim == DKIM_PASSES_MAX)
		return; /* only passing signatures can align */
	snprintf(e->dkim[e->ndkim++], sizeof(e->dkim[0]), "%s", d);
}

/* Identifier alignment (RFC 7489 §3.1): strict is the same name, relaxed
 * the same organisational domain. */
static int aligned(const struct dmarc_eval *e, const char *domain, enum dmarc_align mode)
{
	if (domain[0] == '\0')
		return 0;
	if (strcasecmp(domain, e->from) == 0)
		return 1;
	if (mode == DMARC_ALIGN_STRICT)
		return 0;
	char org[DMARC_DOMAIN_MAX + 1];
	if (dmarc_org_domain(e->psl, domain, org, sizeof(org)) == -1)
		return 0;
	return strcmp(org, e->org) == 0;
}

void dmarc_eval_result(const struct dmarc_eval *e, unsigned pct_roll, struct dmarc_outcome *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->from_domain, e->from, sizeof(out->from_domain));
	if (e->step != STEP_DONE) {
		out->result = DMARC_RESULT_TEMPERROR;
		snprintf(out->reason, sizeof(out->reason), "policy discovery not finished");
		return;
	}
	if (!e->have_record) {
		out->result = e->early;
		memcpy(out->reason, e->reason, sizeof(out->reason));
		return;
	}
	memcpy(out->record_domain, e->at_org ? e->org : e->from, sizeof(out->record_domain));
	for (size_t i = 0; i < e->ndkim && !out->dkim_aligned; i++)
		out->dkim_aligned = aligned(e, e->dkim[i], e->rec.adkim);
	out->spf_aligned = e->spf_pass && aligned(e, e->spf_domain, e->rec.aspf);
	/* sp= governs subdomains of the organisational domain, whose record
	 * was found there (RFC 7489 §6.3). */
	out->policy = e->at_org ? e->rec.sp : e->rec.p;
	if (out->dkim_aligned || out->spf_aligned) {
		out->result = DMARC_RESULT_PASS;
		out->disposition = DMARC_POLICY_NONE;
		return;
	}
	out->result = DMARC_RESULT_FAIL;
	snprintf(out->reason, sizeof(out->reason), "no aligned DKIM or SPF pass");
	out->disposition = out->policy;
	if (pct_roll >= e->rec.pct && out->policy != DMARC_POLICY_NONE) {
		/* §6.6.4: outside the sample, the next policy down applies. */
		out->sampled_out = 1;
		out->disposition = out->policy == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE
		                                                      : DMARC_POLICY_NONE;
	}
}
