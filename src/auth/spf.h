/*
 * spf: Sender Policy Framework (RFC 7208) checks of the MAIL FROM and the
 * HELO identities.
 *
 * The evaluator (spf.c) is a resumable state machine that never does I/O:
 * spf_step() either finishes or asks for one DNS lookup, whose answer the
 * caller hands back with spf_answer(). That makes it testable without a
 * network and usable on an event loop. spf_check_start() (spf_dns.c) is the
 * thin adapter that drives it with the dns module, on the loop of the
 * resolver, under an overall time limit.
 *
 *   struct spf *s = spf_new(&req, SPF_ID_MAILFROM);
 *   while (spf_step(s, &name, &type) == SPF_STEP_DNS)
 *           spf_answer(s, answer_to(name, type));
 *   result = spf_result(s);   explanation = spf_explanation(s);
 */
#ifndef RAVEN_SPF_H
#define RAVEN_SPF_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct dns_answer;
struct dns_resolver;

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

enum spf_identity {
	SPF_ID_MAILFROM, /* MAIL FROM; the HELO identity when it is <> (§2.4) */
	SPF_ID_HELO,     /* the HELO identity on its own (§2.3) */
};

/* RFC 7208 §4.6.4 limits. */
#define SPF_MAX_DNS_TERMS   10    /* include a mx ptr exists redirect */
#define SPF_MAX_VOID        2     /* lookups with no answer */
#define SPF_MAX_MX_NAMES    10    /* more: permerror */
#define SPF_MAX_PTR_NAMES   10    /* more: ignored */
#define SPF_TIME_LIMIT_MS   20000 /* spf_check_start's overall limit (§4.6.4) */
#define SPF_DEFAULT_EXPLAIN "%{o} does not allow %{c} to send its mail (SPF)"

struct spf_request {
	const char *ip;       /* the client: "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" */
	const char *sender;   /* MAIL FROM address without <>; NULL or "": <> */
	const char *helo;     /* HELO/EHLO argument */
	const char *receiver; /* %{r}: our host name; NULL: "unknown" */
	/* Explanation when a failing domain gives none; a macro-string
	 * (letters as in exp text). NULL: SPF_DEFAULT_EXPLAIN. */
	const char *default_explanation;
	time_t now;             /* %{t}; 0: time(NULL) */
	unsigned time_limit_ms; /* spf_check_start's limit; 0: SPF_TIME_LIMIT_MS */
};

enum spf_step {
	SPF_STEP_DNS,  /* look up *name (presentation form) for *type */
	SPF_STEP_DONE, /* spf_result() is final */
};

/* An evaluation of req (copied) for one identity; NULL if req->ip is not an
 * IP address. */
struct spf *spf_new(const struct spf_request *req, enum spf_identity id);
/* Run until the result is known (SPF_STEP_DONE) or a lookup is needed.
 * name stays valid until the next call. */
enum spf_step spf_step(struct spf *s, const char **name, uint16_t *type);
/* The answer to the lookup spf_step() asked for (copied as needed). */
void spf_answer(struct spf *s, const struct dns_answer *a);
/* End the evaluation now with temperror (a time limit was reached). */
void spf_abort(struct spf *s, const char *why);
enum spf_result spf_result(const struct spf *s);
/* For fail: the domain's explanation (exp=) or the default; else NULL. */
const char *spf_explanation(const struct spf *s);
/* What decided the result: the matching term, or the error. */
const char *spf_reason(const struct spf *s);
/* The domain checked first (for Received-SPF / Authentication-Results). */
const char *spf_domain(const struct spf *s);
/* DNS lookups asked for so far. */
unsigned spf_lookups(const struct spf *s);
void spf_free(struct spf *s);
/* "pass", "fail", ... */
const char *spf_result_name(enum spf_result r);

/*
 * The adapter: evaluate on the resolver's event loop. cb is called once,
 * from the loop (never from inside spf_check_start), after at most
 * SPF_TIME_LIMIT_MS (then with temperror); explanation and reason live
 * until cb returns. NULL if req->ip is not an IP address.
 */
struct spf_check;
struct spf_check *spf_check_start(struct dns_resolver *r, const struct spf_request *req,
                                  enum spf_identity id,
                                  void (*cb)(enum spf_result res, const char *explanation,
                                             const char *reason, void *arg),
                                  void *arg);
/* Stop a check whose callback has not run: it never will. */
void spf_check_cancel(struct spf_check *c);

#endif
