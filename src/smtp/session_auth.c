/*
 * session_auth: SMTP AUTH (RFC 4954) in a session — the AUTH command, the
 * lines of its exchange, the auth role's verdict, and what an
 * authentication means afterwards (submission needs one before MAIL; an
 * authenticated client sends only from addresses it owns).
 *
 * AUTH is offered and accepted only over TLS, or on a listener marked
 * plaintext-auth (loopback only). The session parses the exchange (sasl.c)
 * but never judges a password: it asks the auth role, through the queue,
 * and holds the client while it waits. A refusal is delayed (1 to 2 s by
 * default) so that guessing is slow even on one connection; the auth role
 * locks out an address after repeated failures (454 4.7.0).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "log.h"
#include "proto.h"
#include "senders.h"
#include "server.h"
#include "route_cache.h"
#include "session.h"
#include "util.h"
#include "xmalloc.h"

/* How long the auth role may take to answer one question. */
#define AUTH_ANSWER_SECS 30
static void auth_timer_cb(evutil_socket_t fd, short what, void *arg);

/* auth_result while the answer itself is awaited. */
#define AUTH_WAITING (-1)

int session_auth_offer(const struct session *s)
{
	return conf_auth_enabled(s->conf) && (s->tls || (s->l != NULL && s->l->plaintext_auth));
}

/* The exchange's state lives only while it lasts (a password above all). */
static void sasl_drop(struct session *s)
{
	if (s->sasl == NULL)
		return;
	sasl_clear(s->sasl);
	free(s->sasl);
	s->sasl = NULL;
}

void session_auth_reset(struct session *s)
{
	s->authenticated = 0;
	free(s->login);
	s->login = NULL;
	sasl_drop(s);
	if (s->state == S_AUTH)
		s->state = S_HELO;
}

static void auth_over(struct session *s)
{
	sasl_drop(s);
	s->state = S_HELO;
}

static void send_challenge(struct session *s)
{
	s->state = S_AUTH;
	session_reply(s, "334 %s", s->sasl->challenge);
}

/* The exchange gave a user name and a password: ask the auth role. */
static void submit(struct session *s)
{
	struct smtp_reply r;
	if (s->sasl->authzid[0] != '\0' && strcasecmp(s->sasl->authzid, s->sasl->authcid) != 0) {
		/* Acting for someone else (RFC 4616 authzid) is nobody's right here. */
		auth_over(s);
		smtp_reply_set(&r, 535, "5.7.8", "Authorization identity not permitted");
		session_refuse(s, &r);
		return;
	}
	s->state = S_AUTH;
	s->auth_result = AUTH_WAITING;
	struct timeval tv = {AUTH_ANSWER_SECS, 0};
	session_timer_add(s, &s->auth_timer, auth_timer_cb, &tv);
	smtp_server_request_auth(s->srv, s, s->sasl->authcid, s->sasl->passwd);
	/* The password is in the frame now; nothing here keeps it. */
	explicit_bzero(s->sasl->passwd, sizeof(s->sasl->passwd));
}

static void step_result(struct session *s, enum sasl_result r, const struct smtp_reply *err)
{
	if (r == SASL_CHALLENGE)
		send_challenge(s);
	else if (r == SASL_DONE)
		submit(s);
	else {
		auth_over(s);
		session_refuse(s, err);
	}
}

void session_cmd_auth(struct session *s, const struct smtp_cmd *c, const char *line)
{
	struct smtp_reply r;
	if (!conf_auth_enabled(s->conf)) {
		smtp_reply_set(&r, 502, "5.5.1", "AUTH not available");
		session_refuse(s, &r);
		return;
	}
	if (!s->esmtp) {
		smtp_reply_set(&r, 503, "5.5.1", "Send EHLO first");
		session_refuse(s, &r);
		return;
	}
	if (s->authenticated) {
		smtp_reply_set(&r, 503, "5.5.1", "Already authenticated");
		session_refuse(s, &r);
		return;
	}
	if (!session_auth_offer(s)) {
		smtp_reply_set(&r, 530, "5.7.0", "Must issue a STARTTLS command first");
		session_refuse(s, &r);
		return;
	}
	enum sasl_mech m = sasl_mech_parse(c->arg, strlen(c->arg));
	if (s->sasl == NULL)
		s->sasl = xcalloc(1, sizeof(*s->sasl));
	enum sasl_result res = sasl_start(s->sasl, m, c->has_ir, line + c->ir_off, c->ir_len, &r);
	step_result(s, res, &r);
}

void session_auth_line(struct session *s, const char *line, size_t len, int too_long)
{
	struct smtp_reply r;
	if (too_long) {
		auth_over(s);
		smtp_reply_set(&r, 500, "5.5.6", "Authentication Exchange line is too long");
		session_refuse(s, &r);
		return;
	}
	enum sasl_result res = sasl_step(s->sasl, line, len, &r);
	step_result(s, res, &r);
}

/* The delayed refusal, or the auth role that never answered. */
static void auth_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct smtp_reply r;
	(void)fd;
	(void)what;
	if (s->state != S_AUTH)
		return;
	if (s->auth_result == AUTH_WAITING) {
		smtp_server_cancel(s->srv, s);
		log_warn("event=auth-timeout session=%s client=%s", s->idtext, s->peer_text);
		smtp_reply_set(&r, 454, "4.7.0", "Temporary authentication failure");
	} else if (s->auth_result == AUTH_LOCKED) {
		smtp_reply_set(&r, 454, "4.7.0",
		               "Too many failed authentications from your address, try later");
	} else {
		smtp_reply_set(&r, 535, "5.7.8", "Authentication credentials invalid");
	}
	s->waiting = 0;
	auth_over(s);
	session_refuse(s, &r);
	session_resume(s);
}

/* 1 to 2 s (the server's auth delay and as much again at random), so a
 * refusal's timing tells nothing either. */
static void delay_refusal(struct session *s, int status)
{
	unsigned ms = smtp_server_auth_delay(s->srv);
	unsigned jitter = 0;
	if (ms > 0 && getrandom(&jitter, sizeof(jitter), GRND_NONBLOCK) == sizeof(jitter))
		ms += jitter % ms;
	s->auth_result = status;
	s->waiting = 1; /* nothing the client sends meanwhile is read */
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	session_timer_add(s, &s->auth_timer, auth_timer_cb, &tv);
}

void session_auth_result(struct session *s, int status, const char *login)
{
	char esc[600];
	session_timer_del(s->auth_timer);
	log_escape(esc, sizeof(esc), s->sasl->authcid, strlen(s->sasl->authcid));
	if (status == AUTH_OK) {
		s->waiting = 0;
		s->authenticated = 1;
		free(s->login);
		s->login = xstrdup(login);
		log_info("event=auth session=%s client=%s login=\"%s\" tls=%d", s->idtext,
		         s->peer_text, esc, s->tls);
		auth_over(s);
		session_reply(s, "235 2.7.0 Authentication successful");
		session_resume(s);
		return;
	}
	if (status == AUTH_TEMP) {
		s->waiting = 0;
		log_warn("event=auth-unavailable session=%s client=%s", s->idtext, s->peer_text);
		auth_over(s);
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		session_resume(s);
		return;
	}
	s->auth_failures++;
	log_info("event=auth-failed session=%s client=%s login=\"%s\" failures=%u locked=%d",
	         s->idtext, s->peer_text, esc, s->auth_failures, status == AUTH_LOCKED);
	delay_refusal(s, status);
}

/*
 * Whether the login owns sender; with an SQL "auth senders" table, from
 * the lookup role's cached answer: -1 (and the lookup started) if there
 * is none yet.
 */
static int owns(struct session *s, const struct smtp_cmd *c)
{
	const struct table *t = s->conf->auth_senders;
	if (t == NULL || table_kind(t) == TABLE_MEMORY)
		return senders_owns(s->conf, s->login, &c->addr);
	char key[SASL_FIELD_MAX + 1];
	const char *list = NULL;
	snprintf(key, sizeof(key), "%s", s->login);
	ascii_lower_str(key);
	enum route_answer a = route_cache_get(smtp_server_lookups(s->srv), t, key, &list);
	if (a == ROUTE_UNKNOWN) {
		session_lookup_start(s, c, session_cmd_mail, table_name(t), key);
		return -1;
	}
	return senders_owns_listed(s->conf, s->login, &c->addr, a == ROUTE_FOUND, list);
}

int session_auth_mail(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_reply r;
	const struct mailaddr *sender = &c->addr;
	if (s->submission && !s->authenticated) {
		smtp_reply_set(&r, 530, "5.7.0", "Authentication required");
		session_refuse(s, &r);
		return -1;
	}
	if (!s->authenticated)
		return 0;
	int owned = owns(s, c);
	if (owned == -1)
		return 1; /* asked: MAIL runs again when the answer comes */
	if (owned)
		return 0;
	char from[600], login[600];
	log_escape(from, sizeof(from), sender->text, strlen(sender->text));
	log_escape(login, sizeof(login), s->login, strlen(s->login));
	log_info("event=sender-refused session=%s login=\"%s\" from=\"%s\"", s->idtext, login,
	         from);
	snprintf(r.text, sizeof(r.text), "<%.60s>: Sender address not owned by user %.60s",
	         sender->text, s->login);
	r.code = 553;
	snprintf(r.enh, sizeof(r.enh), "5.7.1");
	session_refuse(s, &r);
	return -1;
}
