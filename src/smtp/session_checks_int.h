/*
 * session_checks_int: the state of a session's sender checks, shared by
 * session_checks.c (the session: DNSBL, SPF, MAIL FROM's verdict) and
 * session_checks_msg.c (the message: the header filter, DKIM, DMARC, the
 * final dot's verdict and the Authentication-Results header).
 */
#ifndef RAVEN_SESSION_CHECKS_INT_H
#define RAVEN_SESSION_CHECKS_INT_H

#include <stddef.h>

#include "authres_filter.h"
#include "dkim.h"
#include "dmarc.h"
#include "dnsbl.h"
#include "session_checks.h"
#include "spf.h"

struct dns_query;
struct dns_answer;
struct event;
struct session;

#define CHECKS_MAX_KEYS 8 /* the DKIM verifier's signature cap */

struct bl_lookup {
	struct session_checks *c;
	const struct dnsbl_zone *zone;
	struct dns_query *q; /* while it is out */
	int done;
	enum dnsbl_verdict v;
	char code[32];
};

struct key_lookup {
	struct session_checks *c;
	char name[DKIM_DOMAIN_MAX * 2 + 16];
	struct dns_query *q;
};

struct session_checks {
	struct session *s;
	int active; /* checks apply to this client (until it authenticates) */
	/* DNSBL, per session */
	struct bl_lookup *bl;
	size_t n_bl;
	/* SPF, per transaction */
	struct spf_check *spf;
	int spf_ran, spf_done;
	enum spf_result spf_res;
	char spf_reason[256];
	char spf_expl[256];
	int mail_waiting; /* MAIL FROM's reply waits for DNSBL or SPF */
	/* the message */
	struct authres_filter filt;
	int filt_on;
	struct buf scratch; /* the filter's output, swapped with the session's */
	struct dkim_verify *v;
	int keys_started;
	struct key_lookup *keys; /* CHECKS_MAX_KEYS of them (4 KB), made for the
	                          * first message with signatures to check */
	size_t n_keys;
	struct dmarc_eval *dm;
	struct dns_query *dm_q;
	int from_ok; /* an author domain was found (else dmarc=permerror) */
	char from_domain[DMARC_DOMAIN_MAX + 1];
	char from_err[128];
	int dot_waiting;
	struct event *deadline;
	char *trace; /* the header fields for TRACE, once the verdict is in */
};

/* session_checks.c */
/* The session's check state, made on first need. */
struct session_checks *checks_state(struct session *s);
/* 1 if the checks apply to the session's mail now. */
int checks_apply(const struct session *s);
/* A lookup came back: the verdict that waited for it may be due. */
void checks_progress(struct session_checks *c);
/* 1 while a DNSBL lookup is out (reject_only: only of reject zones). */
int checks_bl_pending(const struct session_checks *c, int reject_only);
/* The x-dnsbl results for the Authentication-Results header. */
struct authres;
void checks_bl_authres(const struct session_checks *c, struct authres *a);

/* session_checks_msg.c */
/* 1 while the final dot's verdict waits for a lookup. */
int checks_dot_pending(const struct session_checks *c);
/* The final dot's verdict is due: reply or commit. */
void checks_dot_finish(struct session_checks *c);
/* Drop the message's checks (a new transaction, the session's end). */
void checks_msg_reset(struct session_checks *c);
/* TXT records of an answer as the DKIM and DMARC engines take them. */
enum dkim_dns_status checks_txt(const struct dns_answer *a, const char **txt, size_t *len,
                                size_t max, size_t *n);

#endif
