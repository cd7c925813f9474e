/*
 * session_checks: the checks that belong to the session and to MAIL FROM
 * (see session_checks.h) — the DNSBL lookups made at connect, SPF started
 * at MAIL FROM, and MAIL FROM's reply when a reject policy makes it wait
 * for them. A listed client is refused at MAIL FROM, not at the greeting
 * or EHLO: a client that authenticates is exempt, so AUTH must stay
 * possible. Lookups that fail, time out or find the list refusing us fail
 * open and are logged.
 */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "dns.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "session_checks_int.h"
#include "xmalloc.h"

int checks_apply(const struct session *s)
{
	return s->chk != NULL && s->chk->active && !s->authenticated;
}

/* ---- DNSBL ---- */

static void bl_answer(const struct dns_answer *a, void *arg)
{
	struct bl_lookup *b = arg;
	struct session_checks *c = b->c;
	struct session *s = c->s;
	b->q = NULL;
	b->done = 1;
	b->v =
	    dnsbl_classify(a, b->zone->lo, b->zone->hi, b->zone->n_codes, b->code, sizeof(b->code));
	if (b->v == DNSBL_LISTED)
		log_info("event=dnsbl-listed session=%s client=%s zone=%s code=%s policy=%s",
		         s->idtext, s->peer_text, b->zone->zone, b->code,
		         b->zone->reject ? "reject" : "tag");
	else if (b->v == DNSBL_REFUSED)
		log_warn("event=dnsbl-refused session=%s client=%s zone=%s code=%s reason=\"the "
		         "list refuses our resolver's queries; not a listing\"",
		         s->idtext, s->peer_text, b->zone->zone, b->code);
	else if (b->v == DNSBL_ERROR)
		log_warn("event=dnsbl-error session=%s client=%s zone=%s status=%s reason=\"%s\"",
		         s->idtext, s->peer_text, b->zone->zone, dns_status_name(a->status),
		         a->why ? a->why : "");
	checks_progress(c);
}

static void bl_start(struct session_checks *c)
{
	struct session *s = c->s;
	const struct config *conf = s->conf;
	if (conf->n_dnsbl == 0 || conf_netmask_match(conf->dnsbl_allow, conf->n_dnsbl_allow,
	                                             (const struct sockaddr *)&s->peer))
		return;
	struct dns_resolver *dns = smtp_server_dns(s->srv);
	c->bl = xcalloc(conf->n_dnsbl, sizeof(*c->bl));
	c->n_bl = conf->n_dnsbl;
	for (size_t i = 0; i < c->n_bl; i++) {
		struct bl_lookup *b = &c->bl[i];
		char name[DNS_NAME_TEXT_MAX];
		b->c = c;
		b->zone = &conf->dnsbl[i];
		if (dnsbl_query_name(s->peer_text, b->zone->zone, name, sizeof(name)) == -1 ||
		    (b->q = dns_lookup(dns, name, DNS_T_A, bl_answer, b)) == NULL) {
			b->done = 1;
			b->v = DNSBL_ERROR;
		}
	}
}

int checks_bl_pending(const struct session_checks *c, int reject_only)
{
	for (size_t i = 0; i < c->n_bl; i++)
		if (!c->bl[i].done && (!reject_only || c->bl[i].zone->reject))
			return 1;
	return 0;
}

/* The first zone of a reject policy that lists the client, or NULL. */
static const struct bl_lookup *bl_refusing(const struct session_checks *c)
{
	for (size_t i = 0; i < c->n_bl; i++)
		if (c->bl[i].done && c->bl[i].v == DNSBL_LISTED && c->bl[i].zone->reject)
			return &c->bl[i];
	return NULL;
}

void checks_bl_authres(const struct session_checks *c, struct authres *a)
{
	for (size_t i = 0; i < c->n_bl; i++) {
		const struct bl_lookup *b = &c->bl[i];
		const char *res = !b->done                   ? "temperror"
		                  : b->v == DNSBL_LISTED     ? "fail"
		                  : b->v == DNSBL_NOT_LISTED ? "pass"
		                                             : "temperror";
		authres_add_dnsbl(a, res, b->zone->zone, b->v == DNSBL_LISTED ? b->code : NULL,
		                  NULL);
	}
}

/* ---- SPF ---- */

static void spf_done(enum spf_result res, const char *explanation, const char *reason, void *arg)
{
	struct session_checks *c = arg;
	c->spf = NULL;
	c->spf_done = 1;
	c->spf_res = res;
	snprintf(c->spf_reason, sizeof(c->spf_reason), "%s", reason ? reason : "");
	snprintf(c->spf_expl, sizeof(c->spf_expl), "%s", explanation ? explanation : "");
	char from[600], helo[600], why[600];
	const char *sender = session_sender(c->s);
	log_escape(from, sizeof(from), sender, strlen(sender));
	log_escape(helo, sizeof(helo), c->s->helo, strlen(c->s->helo));
	log_escape(why, sizeof(why), c->spf_reason, strlen(c->spf_reason));
	log_info("event=spf session=%s client=%s from=\"%s\" helo=\"%s\" result=%s reason=\"%s\"",
	         c->s->idtext, c->s->peer_text, from, helo, spf_result_name(res), why);
	checks_progress(c);
}

static void spf_start(struct session_checks *c)
{
	struct session *s = c->s;
	struct spf_request req = {
	    .ip = s->peer_text,
	    .sender = session_sender(s),
	    .helo = s->helo,
	    .receiver = s->conf->hostname,
	};
	c->spf_ran = 1;
	c->spf = spf_check_start(smtp_server_dns(s->srv), &req, SPF_ID_MAILFROM, spf_done, c);
	if (c->spf == NULL) { /* not an IP address: nothing to check */
		c->spf_done = 1;
		c->spf_res = SPF_NONE;
		snprintf(c->spf_reason, sizeof(c->spf_reason), "client address not checkable");
	}
}

/* ---- MAIL FROM ---- */

static int mail_must_wait(const struct session_checks *c)
{
	if (checks_bl_pending(c, 1))
		return 1;
	return conf_spf_policy(c->s->conf) == CHECK_REJECT && c->spf_ran && !c->spf_done;
}

/* Reply text that came from a DNS record: printable ASCII, bounded. */
static void reply_safe(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	for (; src[i] != '\0' && i + 1 < len && i < 300; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/* Refuse MAIL FROM: the transaction is over. */
static void mail_refuse(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mail_refuse(struct session *s, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	char esc[800];
	log_info("event=mail-refused session=%s client=%s reply=\"%s\"", s->idtext, s->peer_text,
	         log_escape(esc, sizeof(esc), text, strlen(text)));
	session_tx_reset(s);
	s->state = S_HELO;
	session_reply(s, "%s", text);
}

/* MAIL FROM's verdict, all it waits for in: refuse, or 250. */
static void mail_decide(struct session_checks *c)
{
	struct session *s = c->s;
	const struct bl_lookup *b = bl_refusing(c);
	if (b != NULL) {
		mail_refuse(s, "554 5.7.1 Service unavailable; client [%s] listed at %s (%s)",
		            s->peer_text, b->zone->zone, b->code);
		return;
	}
	if (conf_spf_policy(s->conf) == CHECK_REJECT && c->spf_done) {
		char text[320];
		if (c->spf_res == SPF_FAIL) {
			reply_safe(text, sizeof(text),
			           c->spf_expl[0] ? c->spf_expl : "SPF check failed");
			mail_refuse(s, "550 5.7.23 %s", text);
			return;
		}
		if (c->spf_res == SPF_TEMPERROR) {
			mail_refuse(s, "451 4.7.24 Temporary SPF error; try again later");
			return;
		}
	}
	session_reply(s, "250 2.1.0 Ok");
}

int session_checks_mail(struct session *s)
{
	struct session_checks *c = s->chk;
	if (!checks_apply(s))
		return 0;
	if (conf_spf_policy(s->conf) != CHECK_OFF)
		spf_start(c);
	if (!mail_must_wait(c) && bl_refusing(c) == NULL)
		return 0;
	if (mail_must_wait(c)) {
		c->mail_waiting = 1;
		s->checks_wait = 1;
		return 1;
	}
	mail_decide(c);
	return 1;
}

/* ---- progress, life cycle ---- */

void checks_progress(struct session_checks *c)
{
	struct session *s = c->s;
	if (s->state == S_CLOSING)
		return;
	if (c->mail_waiting && !mail_must_wait(c)) {
		c->mail_waiting = 0;
		s->checks_wait = 0;
		mail_decide(c);
		session_resume(s);
		return;
	}
	if (c->dot_waiting && !checks_dot_pending(c))
		checks_dot_finish(c);
}

struct session_checks *checks_state(struct session *s)
{
	if (s->chk == NULL) {
		s->chk = xcalloc(1, sizeof(*s->chk));
		s->chk->s = s;
		buf_init(&s->chk->scratch, 0);
	}
	return s->chk;
}

/* The state is made only for a client the checks apply to (or at DATA, for
 * the header filter): an idle connection should cost little. */
void session_checks_connect(struct session *s)
{
	if (!conf_checks_on(s->conf) || s->peer_local || smtp_server_dns(s->srv) == NULL)
		return;
	struct session_checks *c = checks_state(s);
	c->active = 1;
	bl_start(c);
}

void session_checks_tx_reset(struct session *s)
{
	struct session_checks *c = s->chk;
	if (c == NULL)
		return;
	if (c->spf)
		spf_check_cancel(c->spf);
	c->spf = NULL;
	c->spf_ran = c->spf_done = 0;
	c->spf_reason[0] = c->spf_expl[0] = '\0';
	if (c->mail_waiting)
		s->checks_wait = 0;
	c->mail_waiting = 0;
	checks_msg_reset(c);
}

void session_checks_free(struct session *s)
{
	struct session_checks *c = s->chk;
	if (c == NULL)
		return;
	session_checks_tx_reset(s);
	for (size_t i = 0; i < c->n_bl; i++)
		if (c->bl[i].q)
			dns_cancel(c->bl[i].q);
	free(c->bl);
	free(c->keys);
	buf_free(&c->scratch);
	free(c);
	s->chk = NULL;
}
