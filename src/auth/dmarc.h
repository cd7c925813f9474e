/*
 * dmarc: DMARC (RFC 7489) as I/O-free pieces — the policy record parser,
 * the organisational domain (libpsl, loaded once, before any chroot), the
 * author domain from the From: field(s), and the evaluation as a step
 * interface: the caller looks up the names the evaluator asks for and
 * hands the TXT answers back; SPF and DKIM results come from elsewhere.
 *
 *	e = dmarc_eval_new(psl, author_domain, ...);
 *	while ((name = dmarc_eval_query(e)) != NULL)
 *		... resolve TXT name asynchronously, then dmarc_eval_answer(e, ...);
 *	dmarc_eval_spf(e, mailfrom_domain, spf_passed);
 *	dmarc_eval_dkim(e, d, passed);  ... for each DKIM signature
 *	dmarc_eval_result(e, random_0_to_99, &outcome);
 */
#ifndef RAVEN_DMARC_H
#define RAVEN_DMARC_H

#include <stddef.h>

#include "dkim.h" /* enum dkim_dns_status */

#define DMARC_DOMAIN_MAX 253

enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

enum dmarc_align {
	DMARC_ALIGN_RELAXED,
	DMARC_ALIGN_STRICT,
};

/* fo= bits */
#define DMARC_FO_0 1u
#define DMARC_FO_1 2u
#define DMARC_FO_D 4u
#define DMARC_FO_S 8u

struct dmarc_record {
	enum dmarc_policy p, sp; /* sp is p when the record has no sp= */
	int p_from_rua;          /* p= (or sp=) was bad: p=none per §6.6.3 */
	unsigned pct;            /* 0..100 */
	enum dmarc_align adkim, aspf;
	unsigned fo;             /* DMARC_FO_* (default DMARC_FO_0) */
	unsigned long ri;        /* seconds (default 86400) */
	size_t nrua, nruf;       /* syntactically valid reporting URIs */
	char rua[512], ruf[512]; /* the tag values as published (cut to fit) */
};

/* Parse one TXT record that begins with v=DMARC1; 0 or -1 with a reason. */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r, char *err,
                       size_t errlen);
/* 1 if the record text starts with the DMARC1 version tag (RFC 7489 §6.6.3
 * step 3: other records at _dmarc are not ours). */
int dmarc_record_is_dmarc(const char *txt, size_t len);

/* ---- organisational domain ---- */

struct dmarc_psl;

/* Load the Public Suffix List from path (NULL: the Debian file), falling
 * back to libpsl's built-in list; NULL with a reason if neither exists.
 * Load it before a chroot; the context is read-only afterwards. */
struct dmarc_psl *dmarc_psl_load(const char *path, char *err, size_t errlen);
void dmarc_psl_free(struct dmarc_psl *psl);
/* 1 when the list came from libpsl's built-in copy, not a file. */
int dmarc_psl_builtin(const struct dmarc_psl *psl);
/*
 * The organisational (registrable) domain of domain, lowercased, into out:
 * 0, or -1 when there is none (domain is itself a public suffix, or not a
 * domain name).
 */
int dmarc_org_domain(const struct dmarc_psl *psl, const char *domain, char *out, size_t outlen);

/* ---- author domain (RFC5322.From) ---- */

#define DMARC_FROM_ADDRS_MAX 16
#define DMARC_FROM_VALUE_MAX 8192

struct dmarc_from {
	size_t n;
	char domain[DMARC_FROM_ADDRS_MAX][DMARC_DOMAIN_MAX + 1]; /* lowercased */
};

/*
 * Parse one From: field body (after the colon, folded or not): mailboxes
 * and groups with display names, comments, quoted strings; encoded words
 * are left alone. Collects each address's domain. -1 with a reason for a
 * syntax error, a domain literal or a non-ASCII domain.
 */
int dmarc_from_parse(const char *value, size_t len, struct dmarc_from *out, char *err,
                     size_t errlen);
/*
 * The author domain of a message given its From: field bodies (nvalues of
 * them). Exactly one From: field with at least one address, all addresses
 * in one domain (case-insensitive); anything else is -1 with a reason, and
 * the caller reports dmarc=permerror (see docs: RFC 7489 §6.6.1).
 */
int dmarc_author_domain(const char *const *values, const size_t *lens, size_t nvalues, char *out,
                        size_t outlen, char *err, size_t errlen);

/* ---- evaluation ---- */

enum dmarc_result {
	DMARC_RESULT_NONE,
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,
	DMARC_RESULT_PERMERROR,
};

struct dmarc_outcome {
	enum dmarc_result result;
	enum dmarc_policy policy;      /* the p= or sp= that applies (fail) */
	enum dmarc_policy disposition; /* what to do: policy after pct= */
	int sampled_out;               /* pct= let this failing message through */
	int dkim_aligned, spf_aligned;
	char from_domain[DMARC_DOMAIN_MAX + 1];
	char record_domain[DMARC_DOMAIN_MAX + 1]; /* where the record was found */
	char reason[160];
};

struct dmarc_eval;

/* from_domain: the author domain (dmarc_author_domain). The psl must
 * outlive the evaluator. */
struct dmarc_eval *dmarc_eval_new(const struct dmarc_psl *psl, const char *from_domain, char *err,
                                  size_t errlen);
void dmarc_eval_free(struct dmarc_eval *e);
/* The TXT name to look up now ("_dmarc.<domain>"), or NULL when policy
 * discovery is over. */
const char *dmarc_eval_query(const struct dmarc_eval *e);
/* The answer to the current query (see dkim_verify_key_answer). */
int dmarc_eval_answer(struct dmarc_eval *e, enum dkim_dns_status st, const char *const *txt,
                      const size_t *len, size_t ntxt);
/* The domain SPF authenticated (MAIL FROM, or HELO for a null sender) and
 * whether SPF passed; call once. */
void dmarc_eval_spf(struct dmarc_eval *e, const char *domain, int pass);
/* One DKIM signature's d= and whether it passed; call for each. */
void dmarc_eval_dkim(struct dmarc_eval *e, const char *d, int pass);
/*
 * The outcome once discovery is over. pct_roll is a caller-supplied
 * uniform random number in 0..99: a failing message is subject to the
 * policy when pct_roll < pct (RFC 7489 §6.6.4).
 */
void dmarc_eval_result(const struct dmarc_eval *e, unsigned pct_roll, struct dmarc_outcome *out);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
