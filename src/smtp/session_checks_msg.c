/*
 * session_checks_msg: the checks of the message (see session_checks.h).
 * As the message streams to the spool, our own Authentication-Results
 * fields are filtered out and what is written is fed to the DKIM verifier
 * (no second copy of the message is kept); once the header section is in,
 * the DKIM keys and the DMARC policy of the From: domain are looked up, so
 * that by the final dot they are usually there. The dot's verdict waits
 * for what is still out (CHECKS_DOT_WAIT_MS at most: then temperror), then
 * the Authentication-Results header is built, DMARC's policy applied
 * (reject: 550 5.7.1; quarantine: a header a mailbox filter can act on),
 * and the message committed with both in its envelope.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authres.h"
#include "dns.h"
#include "envelope.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "session_checks_int.h"
#include "xmalloc.h"

#define CHECKS_MAX_TXT 16 /* TXT records of one answer handed to an engine */

enum dkim_dns_status checks_txt(const struct dns_answer *a, const char **txt, size_t *len,
                                size_t max, size_t *n)
{
	*n = 0;
	switch (a->status) {
	case DNS_OK:
		for (size_t i = 0; i < a->nrr && *n < max; i++)
			if (a->rr[i].type == DNS_T_TXT) {
				txt[*n] = (const char *)a->rr[i].u.txt.joined;
				len[*n] = a->rr[i].u.txt.joined_len;
				(*n)++;
			}
		return DKIM_DNS_OK;
	case DNS_NXDOMAIN:
		return DKIM_DNS_NXDOMAIN;
	case DNS_NODATA:
		return DKIM_DNS_NODATA;
	default:
		return DKIM_DNS_TEMPFAIL;
	}
}

/* ---- DKIM keys and the DMARC policy ---- */

static void key_answer(const struct dns_answer *a, void *arg)
{
	struct key_lookup *k = arg;
	const char *txt[CHECKS_MAX_TXT];
	size_t len[CHECKS_MAX_TXT], n;
	k->q = NULL;
	enum dkim_dns_status st = checks_txt(a, txt, len, CHECKS_MAX_TXT, &n);
	dkim_verify_key_answer(k->c->v, k->name, st, txt, len, n);
	checks_progress(k->c);
}

static void dm_answer(const struct dns_answer *a, void *arg);

/* The next DMARC lookup, or none when discovery is over. */
static void dm_next(struct session_checks *c)
{
	const char *name;
	while ((name = dmarc_eval_query(c->dm)) != NULL) {
		c->dm_q = dns_lookup(smtp_server_dns(c->s->srv), name, DNS_T_TXT, dm_answer, c);
		if (c->dm_q != NULL)
			return;
		dmarc_eval_answer(c->dm, DKIM_DNS_TEMPFAIL, NULL, NULL, 0);
	}
}

static void dm_answer(const struct dns_answer *a, void *arg)
{
	struct session_checks *c = arg;
	const char *txt[CHECKS_MAX_TXT];
	size_t len[CHECKS_MAX_TXT], n;
	c->dm_q = NULL;
	enum dkim_dns_status st = checks_txt(a, txt, len, CHECKS_MAX_TXT, &n);
	dmarc_eval_answer(c->dm, st, txt, len, n);
	dm_next(c);
	checks_progress(c);
}

/* The header section is in: the keys it names, the From: domain's policy. */
static void lookups_start(struct session_checks *c)
{
	struct session *s = c->s;
	struct dns_resolver *dns = smtp_server_dns(s->srv);
	const char *names[CHECKS_MAX_KEYS];
	c->keys_started = 1;
	size_t n = dkim_verify_keys_needed(c->v, names, CHECKS_MAX_KEYS);
	if (n > 0 && c->keys == NULL)
		c->keys = xcalloc(CHECKS_MAX_KEYS, sizeof(*c->keys));
	for (size_t i = 0; i < n && i < CHECKS_MAX_KEYS; i++) {
		struct key_lookup *k = &c->keys[c->n_keys++];
		k->c = c;
		snprintf(k->name, sizeof(k->name), "%s", names[i]);
		k->q = dns_lookup(dns, k->name, DNS_T_TXT, key_answer, k);
		if (k->q == NULL)
			dkim_verify_key_answer(c->v, k->name, DKIM_DNS_TEMPFAIL, NULL, NULL, 0);
	}
	if (s->conf->dmarc == CHECK_OFF)
		return;
	const char *vals[2];
	size_t lens[2];
	size_t nv = dkim_verify_header_values(c->v, "From", vals, lens, 2);
	char err[160];
	if (dmarc_author_domain(vals, lens, nv > 2 ? 2 : nv, c->from_domain, sizeof(c->from_domain),
	                        c->from_err, sizeof(c->from_err)) == 0) {
		c->dm = dmarc_eval_new(smtp_server_psl(s->srv), c->from_domain, err, sizeof(err));
		if (c->dm == NULL)
			snprintf(c->from_err, sizeof(c->from_err), "%s", err);
	}
	c->from_ok = c->dm != NULL;
	if (c->dm)
		dm_next(c);
}

/* ---- streaming ---- */

void session_checks_data_start(struct session *s)
{
	struct session_checks *c = checks_state(s);
	checks_msg_reset(c);
	authres_filter_init(&c->filt, s->conf->hostname);
	c->filt_on = 1;
	if (checks_apply(s) && conf_dkim_verifying(s->conf)) {
		struct dkim_verify_opts o = {.now = (int64_t)time(NULL),
		                             .keys = smtp_server_dkim_keys(s->srv)};
		c->v = dkim_verify_new(&o);
	}
}

void session_checks_data(struct session *s, struct buf *out, int final)
{
	struct session_checks *c = s->chk;
	if (c == NULL)
		return;
	if (c->filt_on && (final || !authres_filter_passing(&c->filt))) {
		buf_reset(&c->scratch);
		authres_filter_feed(&c->filt, out->data, out->len, &c->scratch);
		if (final)
			authres_filter_end(&c->filt, &c->scratch);
		struct buf t = *out;
		*out = c->scratch;
		c->scratch = t;
		if (final && c->filt.removed > 0)
			log_info("event=authres-removed session=%s id=%s fields=%zu", s->idtext,
			         s->tx.id, c->filt.removed);
	}
	if (c->v != NULL) {
		dkim_verify_update(c->v, out->data, out->len);
		if (!c->keys_started && dkim_verify_headers_done(c->v))
			lookups_start(c);
	}
}

/* ---- the final dot ---- */

int checks_dot_pending(const struct session_checks *c)
{
	return (c->spf_ran && !c->spf_done) || checks_bl_pending(c, 0) ||
	       (c->v != NULL && !dkim_verify_done(c->v)) || c->dm_q != NULL;
}

/* Time is up: what has not come is a temporary error. */
static void dot_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct session_checks *c = arg;
	(void)fd;
	(void)what;
	if (c->spf) {
		spf_check_cancel(c->spf);
		c->spf = NULL;
		c->spf_done = 1;
		c->spf_res = SPF_TEMPERROR;
		snprintf(c->spf_reason, sizeof(c->spf_reason), "no verdict by the end of data");
	}
	for (size_t i = 0; i < c->n_bl; i++)
		if (!c->bl[i].done) {
			dns_cancel(c->bl[i].q);
			c->bl[i].q = NULL;
			c->bl[i].done = 1;
			c->bl[i].v = DNSBL_ERROR;
		}
	for (size_t i = 0; i < c->n_keys; i++)
		if (c->keys[i].q) {
			dns_cancel(c->keys[i].q);
			c->keys[i].q = NULL;
			dkim_verify_key_answer(c->v, c->keys[i].name, DKIM_DNS_TEMPFAIL, NULL, NULL,
			                       0);
		}
	if (c->dm_q) {
		dns_cancel(c->dm_q);
		c->dm_q = NULL;
		while (dmarc_eval_query(c->dm) != NULL)
			dmarc_eval_answer(c->dm, DKIM_DNS_TEMPFAIL, NULL, NULL, 0);
	}
	log_warn("event=checks-timeout session=%s id=%s ms=%d", c->s->idtext, c->s->tx.id,
	         CHECKS_DOT_WAIT_MS);
	checks_dot_finish(c);
}

/* The domain SPF vouched for: MAIL FROM's, or the HELO name for <>. */
static const char *spf_vouched(const struct session *s)
{
	const char *at = strrchr(session_sender(s), '@');
	return at ? at + 1 : s->helo;
}

struct verdict {
	struct dmarc_outcome dmarc;
	int have_dmarc;
	int quarantine;
	int reject;
};

static void dmarc_verdict(struct session_checks *c, struct verdict *vd)
{
	struct session *s = c->s;
	if (c->dm == NULL)
		return;
	dmarc_eval_spf(c->dm, spf_vouched(s), c->spf_done && c->spf_res == SPF_PASS);
	for (size_t i = 0; c->v && i < dkim_verify_result_count(c->v); i++) {
		const struct dkim_result *r = dkim_verify_result(c->v, i);
		dmarc_eval_dkim(c->dm, r->domain, r->status == DKIM_PASS);
	}
	dmarc_eval_result(c->dm, smtp_server_random(s->srv) % 100, &vd->dmarc);
	vd->have_dmarc = 1;
	if (vd->dmarc.result != DMARC_RESULT_FAIL)
		return;
	if (vd->dmarc.disposition == DMARC_POLICY_REJECT && s->conf->dmarc == CHECK_REJECT)
		vd->reject = 1;
	else if (vd->dmarc.disposition != DMARC_POLICY_NONE && s->conf->dmarc >= CHECK_QUARANTINE)
		vd->quarantine = 1;
}

/* Our Authentication-Results header (and the quarantine mark). */
static char *trace_build(struct session_checks *c, const struct verdict *vd)
{
	struct session *s = c->s;
	struct authres *a = authres_new(s->conf->hostname);
	checks_bl_authres(c, a);
	if (c->spf_ran) {
		int null = session_sender(s)[0] == '\0';
		authres_add_spf(a, spf_result_name(c->spf_res), null ? NULL : session_sender(s),
		                null ? s->helo : NULL, NULL);
	}
	if (c->v != NULL && dkim_verify_result_count(c->v) == 0)
		authres_add(a, "dkim", "none", NULL, NULL, NULL, 0);
	for (size_t i = 0; c->v && i < dkim_verify_result_count(c->v); i++)
		authres_add_dkim(a, dkim_verify_result(c->v, i));
	if (vd->have_dmarc)
		authres_add_dmarc(a, &vd->dmarc);
	else if (s->conf->dmarc != CHECK_OFF && c->v != NULL)
		authres_add(a, "dmarc", "permerror", NULL, c->from_err, NULL, 0);
	char *text = authres_build(a);
	authres_free(a);
	if (vd->quarantine) {
		char *q = xasprintf("%sX-Raven-Quarantine: DMARC policy of %s (p=%s)\r\n", text,
		                    vd->dmarc.from_domain, dmarc_policy_name(vd->dmarc.policy));
		free(text);
		text = q;
	}
	if (!envelope_trace_valid(text, strlen(text))) {
		/* never expected: every value is escaped; never deliver a broken header */
		log_warn("event=authres-dropped session=%s id=%s reason=\"not valid header text\"",
		         s->idtext, s->tx.id);
		free(text);
		return NULL;
	}
	return text;
}

static void log_verdict(const struct session_checks *c, const struct verdict *vd)
{
	const struct session *s = c->s;
	char dkim[160] = "";
	size_t n = c->v ? dkim_verify_result_count(c->v) : 0, o = 0;
	for (size_t i = 0; i < n && o + 32 < sizeof(dkim); i++) {
		const struct dkim_result *r = dkim_verify_result(c->v, i);
		int w = snprintf(dkim + o, sizeof(dkim) - o, "%s%s", i ? "," : "",
		                 dkim_status_name(r->status));
		o += w > 0 ? (size_t)w : 0;
	}
	log_info("event=checks session=%s id=%s spf=%s dkim=%s dmarc=%s from_domain=%s "
	         "disposition=%s",
	         s->idtext, s->tx.id, c->spf_ran ? spf_result_name(c->spf_res) : "off",
	         c->v == NULL ? "off"
	         : n == 0     ? "none"
	                      : dkim,
	         vd->have_dmarc   ? dmarc_result_name(vd->dmarc.result)
	         : s->conf->dmarc ? "permerror"
	                          : "off",
	         vd->have_dmarc ? vd->dmarc.from_domain : "-",
	         vd->reject       ? "reject"
	         : vd->quarantine ? "quarantine"
	                          : "accept");
}

/* The verdict, all its lookups in: 1 if the message was refused. */
static int dot_verdict(struct session_checks *c)
{
	struct session *s = c->s;
	struct verdict vd;
	memset(&vd, 0, sizeof(vd));
	dmarc_verdict(c, &vd);
	log_verdict(c, &vd);
	free(c->trace);
	c->trace = trace_build(c, &vd);
	if (vd.reject) {
		char text[400];
		snprintf(text, sizeof(text), "Email from %s rejected per its DMARC policy",
		         vd.dmarc.from_domain);
		session_data_refuse(s, 550, "5.7.1", text);
		return 1;
	}
	return 0;
}

void checks_dot_finish(struct session_checks *c)
{
	struct session *s = c->s;
	c->dot_waiting = 0;
	s->checks_wait = 0;
	if (c->deadline)
		evtimer_del(c->deadline);
	if (dot_verdict(c) == 0)
		session_data_commit(s);
	session_resume(s);
}

int session_checks_dot(struct session *s)
{
	struct session_checks *c = s->chk;
	if (c == NULL || !checks_apply(s))
		return 0;
	if (c->v != NULL) {
		dkim_verify_end(c->v);
		if (!c->keys_started)
			lookups_start(c);
	}
	if (!checks_dot_pending(c))
		return dot_verdict(c);
	c->dot_waiting = 1;
	s->checks_wait = 1;
	if (c->deadline == NULL)
		c->deadline = evtimer_new(smtp_server_base(s->srv), dot_deadline, c);
	struct timeval tv = {CHECKS_DOT_WAIT_MS / 1000, (CHECKS_DOT_WAIT_MS % 1000) * 1000};
	evtimer_add(c->deadline, &tv);
	return 1;
}

const char *session_checks_trace(const struct session *s)
{
	return s->chk ? s->chk->trace : NULL;
}

void checks_msg_reset(struct session_checks *c)
{
	for (size_t i = 0; i < c->n_keys; i++)
		if (c->keys[i].q)
			dns_cancel(c->keys[i].q);
	c->n_keys = 0;
	c->keys_started = 0;
	if (c->dm_q)
		dns_cancel(c->dm_q);
	c->dm_q = NULL;
	dmarc_eval_free(c->dm);
	c->dm = NULL;
	dkim_verify_free(c->v);
	c->v = NULL;
	c->from_ok = 0;
	c->from_domain[0] = c->from_err[0] = '\0';
	if (c->filt_on)
		authres_filter_free(&c->filt);
	c->filt_on = 0;
	if (c->deadline) {
		event_free(c->deadline);
		c->deadline = NULL;
	}
	if (c->dot_waiting)
		c->s->checks_wait = 0;
	c->dot_waiting = 0;
	free(c->trace);
	c->trace = NULL;
}
