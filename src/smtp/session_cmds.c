/*
 * session_cmds: the SMTP command table. One row per verb: the states it is
 * allowed in, the reply when it is not, and the proceed step. Syntax is
 * checked before by cmd_parse(); policy (routing, limits) in the proceed
 * step. Adding an extension is adding rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "session.h"
#include "session_checks.h"
#include "xmalloc.h"

struct smtp_command {
	enum smtp_verb verb;
	unsigned states;
	void (*proceed)(struct session *s, const struct smtp_cmd *c);
};

#define ANY_STATE (S_CONNECTED | S_HELO | S_MAIL | S_RCPT)

static void cmd_helo(struct session *s, const struct smtp_cmd *c)
{
	session_tx_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%s", c->arg);
	s->esmtp = c->verb == CMD_EHLO;
	s->state = S_HELO;
	if (!s->esmtp) {
		session_reply(s, "250 %s", s->conf->hostname);
		return;
	}
	session_reply(s, "250-%s", s->conf->hostname);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %zu", s->conf->limits.message_size);
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-SMTPUTF8");
	session_reply(s, "250-DSN");
	if (session_tls_offer(s))
		session_reply(s, "250-STARTTLS");
	if (session_auth_offer(s))
		session_reply(s, "250-AUTH PLAIN LOGIN");
	session_reply(s, "250 ENHANCEDSTATUSCODES");
}

void session_cmd_mail(struct session *s, const struct smtp_cmd *c)
{
	if (!s->esmtp && (c->has_size || c->body || c->smtputf8 || c->ret || c->envid[0] ||
	                  c->ignored.event != NULL)) {
		struct smtp_reply r;
		smtp_reply_set(&r, 555, "5.5.4", "MAIL parameters require EHLO");
		session_refuse(s, &r);
		return;
	}
	/* AUTH= (RFC 4954 §5) is accepted where AUTH is, and not used: the
	 * authenticated login speaks for the session, not a MAIL parameter. */
	int auth_param_ok = session_auth_offer(s) || s->authenticated;
	if (c->body == BODY_BINARYMIME || (c->has_auth && !auth_param_ok)) {
		struct smtp_reply r;
		smtp_reply_set(&r, 555, "5.5.4",
		               c->has_auth && !auth_param_ok
		                   ? "AUTH= parameter is not supported (AUTH not offered)"
		                   : "BODY=BINARYMIME requires CHUNKING, which is not offered");
		session_refuse(s, &r);
		return;
	}
	if (c->has_size && c->size > s->conf->limits.message_size) {
		smtp_server_count(s->srv, MET_SMTP_MSG_REFUSED_SIZE);
		session_reply(s, "552 5.3.4 Message size exceeds fixed limit of %zu octets",
		              s->conf->limits.message_size);
		return;
	}
	if (session_auth_mail(s, c) != 0) /* refused, or waiting for a lookup */
		return;
	session_tx_reset(s);
	struct transaction *tx = &s->tx;
	tx->sender = xstrdup(c->addr.text);
	tx->size_param = c->size;
	tx->body = c->body;
	tx->smtputf8 = c->smtputf8;
	tx->ret = c->ret;
	snprintf(tx->envid, sizeof(tx->envid), "%s", c->envid);
	s->state = S_MAIL;
	if (session_checks_mail(s) == 0) /* DNSBL and SPF may refuse, or wait */
		session_reply(s, "250 2.1.0 Ok");
}

/* Mailboxes one transaction may reach after alias expansion, and the
 * envelope octets they may take: the commit must fit one ipc frame. */
#define TX_MAX_DELIVERIES 1000
#define TX_MAX_ENVELOPE   (1024 * 1024)

static int tx_has_delivery(const struct transaction *tx, const struct action *a, const char *user)
{
	for (size_t i = 0; i < tx->n_rcpts; i++) {
		const struct session_rcpt *r = &tx->rcpts[i];
		if (r->action != a)
			continue;
		for (size_t j = 0; j < r->n_users; j++)
			if (r->users[j] != NULL && strcmp(r->users[j], user) == 0)
				return 1;
	}
	return 0;
}

/* Drop mailboxes the transaction already delivers to (user+1@, user+2@,
 * overlapping aliases: one copy each). */
static void dedupe_users(const struct transaction *tx, struct route_result *rr)
{
	size_t k = 0;
	for (size_t i = 0; i < rr->n_users; i++) {
		int dup = tx_has_delivery(tx, rr->action, rr->users[i]);
		for (size_t j = 0; j < k && !dup; j++)
			dup = strcmp(rr->users[j], rr->users[i]) == 0;
		if (dup)
			free(rr->users[i]);
		else
			rr->users[k++] = rr->users[i];
	}
	rr->n_users = k;
}

static size_t delivery_octets(const struct mailaddr *a, const char *orcpt,
                              const struct route_result *rr)
{
	size_t n = 0;
	for (size_t i = 0; i < rr->n_users; i++)
		n += strlen(a->text) + strlen(orcpt) + strlen(rr->action->name) +
		     (rr->users[i] ? strlen(rr->users[i]) : 0) + 64;
	return n;
}

static int rcpt_duplicate(const struct transaction *tx, const struct mailaddr *a)
{
	for (size_t i = 0; i < tx->n_rcpts; i++)
		if (strcasecmp(tx->rcpts[i].addr.text, a->text) == 0)
			return 1;
	return 0;
}

/* What a refused recipient counts as (metrics.h). */
static enum metric_id refusal_metric(enum route_verdict v)
{
	return v == ROUTE_UNKNOWN_USER ? MET_SMTP_RCPT_UNKNOWN_USER
	       : v == ROUTE_TEMP_ERROR ? MET_SMTP_RCPT_TEMPFAIL
	       : v == ROUTE_ERROR      ? MET_SMTP_RCPT_ROUTING
	                               : MET_SMTP_RCPT_RELAY_DENIED;
}

void session_cmd_rcpt(struct session *s, const struct smtp_cmd *c)
{
	struct transaction *tx = &s->tx;
	char esc[600];
	log_escape(esc, sizeof(esc), c->addr.text, strlen(c->addr.text));
	if (!s->esmtp && (c->notify || c->orcpt[0] || c->ignored.event != NULL)) {
		struct smtp_reply r;
		smtp_reply_set(&r, 555, "5.5.4", "RCPT parameters require EHLO");
		session_refuse(s, &r);
		return;
	}
	if (rcpt_duplicate(tx, &c->addr)) {
		session_reply(s, "250 2.1.5 Ok");
		return;
	}
	if (tx->n_rcpts >= s->conf->limits.recipients) {
		smtp_server_count(s->srv, MET_SMTP_RCPT_TOO_MANY);
		session_reply(s, "452 4.5.3 Too many recipients (limit %zu per message)",
		              s->conf->limits.recipients);
		return;
	}
	struct route_request rq = {
	    .local = c->addr.local,
	    .domain = c->addr.domain,
	    .from = s->peer_local ? FROM_LOCAL : FROM_ANY,
	    .authenticated = s->authenticated,
	    .lookup = smtp_server_lookup_hook(s->srv),
	};
	struct route_result rr;
	struct smtp_reply r;
	route_resolve(s->conf, &rq, &rr);
	if (rr.verdict == ROUTE_PENDING) {
		session_lookup_start(s, c, session_cmd_rcpt, rr.need_table, rr.need_key);
		route_result_free(&rr);
		return;
	}
	switch (rr.verdict) {
	case ROUTE_LOCAL:
		break;
	case ROUTE_RELAY:
		/* One delivery to the relay transport, no mailbox. */
		rr.users = xcalloc(1, sizeof(*rr.users));
		rr.n_users = 1;
		break;
	case ROUTE_UNKNOWN_USER:
		snprintf(r.text, sizeof(r.text), "<%.60s>: Recipient address rejected: %.80s",
		         c->addr.text, rr.reason[0] ? rr.reason : "No such user here");
		r.code = 550;
		snprintf(r.enh, sizeof(r.enh), "5.1.1");
		break;
	case ROUTE_TEMP_ERROR:
		snprintf(r.text, sizeof(r.text), "<%.60s>: Temporary lookup failure: %.80s",
		         c->addr.text, rr.reason);
		r.code = 451;
		snprintf(r.enh, sizeof(r.enh), "4.3.0");
		break;
	case ROUTE_ERROR:
		snprintf(r.text, sizeof(r.text), "<%.60s>: %.80s", c->addr.text, rr.reason);
		r.code = 550;
		snprintf(r.enh, sizeof(r.enh), "5.3.0");
		break;
	case ROUTE_RELAY_DENIED:
	default:
		snprintf(r.text, sizeof(r.text), "<%.60s>: Relay access denied", c->addr.text);
		r.code = 550;
		snprintf(r.enh, sizeof(r.enh), "5.7.1");
		break;
	}
	if (rr.verdict != ROUTE_LOCAL && rr.verdict != ROUTE_RELAY) {
		log_info("event=rcpt-refused session=%s rcpt=\"%s\" code=%d reason=\"%s\"",
		         s->idtext, esc, r.code, rr.reason);
		smtp_server_count(s->srv, refusal_metric(rr.verdict));
		route_result_free(&rr);
		session_refuse(s, &r);
		return;
	}
	if (rr.verdict == ROUTE_LOCAL)
		dedupe_users(tx, &rr);
	size_t octets = delivery_octets(&c->addr, c->orcpt, &rr);
	if (tx->n_deliveries + rr.n_users > TX_MAX_DELIVERIES ||
	    tx->envelope_octets + octets > TX_MAX_ENVELOPE) {
		route_result_free(&rr);
		smtp_server_count(s->srv, MET_SMTP_RCPT_TOO_MANY);
		session_reply(s, "452 4.5.3 Too many recipients after alias expansion");
		return;
	}
	tx->envelope_octets += octets;
	tx->rcpts = xreallocarray(tx->rcpts, tx->n_rcpts + 1, sizeof(*tx->rcpts));
	struct session_rcpt *sr = &tx->rcpts[tx->n_rcpts++];
	memset(sr, 0, sizeof(*sr));
	sr->addr = c->addr;
	sr->notify = c->notify;
	sr->orcpt = c->orcpt[0] ? xstrdup(c->orcpt) : NULL;
	sr->action = rr.action;
	sr->users = rr.users; /* ownership moves to the transaction */
	sr->n_users = rr.n_users;
	tx->n_deliveries += rr.n_users;
	rr.users = NULL;
	rr.n_users = 0;
	route_result_free(&rr);
	s->state = S_RCPT;
	smtp_server_count(s->srv, MET_SMTP_RCPT_ACCEPTED);
	session_reply(s, "250 2.1.5 Ok");
}

static void cmd_data(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_data_start(s);
}

static void cmd_rset(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_tx_reset(s);
	if (s->state != S_CONNECTED)
		s->state = S_HELO;
	session_reply(s, "250 2.0.0 Ok");
}

static void cmd_noop(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_reply(s, "250 2.0.0 Ok");
}

static void cmd_quit(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_close(s, "221 2.0.0 %s Bye", s->conf->hostname);
}

static void cmd_vrfy(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	/* No user enumeration (RFC 5321 §3.5.3 permits 252). */
	session_reply(s,
	              "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_help(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_reply(s, "214-2.0.0 Raven SMTP server. Commands:");
	session_reply(s, "214-2.0.0   HELO EHLO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY "
	                 "HELP");
	session_reply(s, "214 2.0.0 See RFC 5321");
}

/* The initial response is located in the line being dispatched, which is
 * the line reader's. */
static void cmd_auth(struct session *s, const struct smtp_cmd *c)
{
	session_cmd_auth(s, c, s->lines.line);
}

static void cmd_not_implemented(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	struct smtp_reply r;
	smtp_reply_set(&r, 502, "5.5.1", "Command not implemented");
	session_refuse(s, &r);
}

static const struct smtp_command command_table[] = {
    {CMD_HELO, ANY_STATE, cmd_helo},
    {CMD_EHLO, ANY_STATE, cmd_helo},
    {CMD_MAIL, S_HELO, session_cmd_mail},
    {CMD_RCPT, S_MAIL | S_RCPT, session_cmd_rcpt},
    {CMD_DATA, S_RCPT, cmd_data},
    {CMD_RSET, ANY_STATE, cmd_rset},
    {CMD_NOOP, ANY_STATE, cmd_noop},
    {CMD_QUIT, ANY_STATE, cmd_quit},
    {CMD_VRFY, ANY_STATE, cmd_vrfy},
    {CMD_HELP, ANY_STATE, cmd_help},
    {CMD_EXPN, ANY_STATE, cmd_not_implemented},
    {CMD_BDAT, ANY_STATE, cmd_not_implemented},
    {CMD_STARTTLS, S_HELO | S_MAIL | S_RCPT, session_cmd_starttls},
    {CMD_AUTH, S_HELO, cmd_auth},
};

/* Why a verb is refused in the current state (RFC 5321 §4.1.4). */
static const char *wrong_state_text(const struct session *s, enum smtp_verb v)
{
	if (s->state == S_CONNECTED)
		return "Send HELO/EHLO first";
	switch (v) {
	case CMD_MAIL:
		return "Nested MAIL command";
	case CMD_RCPT:
		return "Need MAIL command first";
	case CMD_DATA:
		return s->state == S_MAIL ? "No valid recipients" : "Need MAIL command first";
	case CMD_AUTH:
		return "AUTH not permitted during a mail transaction";
	default:
		return "Bad sequence of commands";
	}
}

/*
 * A malformed ORCPT or ENVID that cmd_parse dropped: the command goes on
 * without it, and the log says what the client sent and why it was not
 * used (escaped: the client chose those bytes).
 */
static void log_ignored(const struct session *s, const struct smtp_cmd *c, const char *line)
{
	char addr[600], value[600];
	log_escape(addr, sizeof(addr), c->addr.text, strlen(c->addr.text));
	log_escape(value, sizeof(value), line + c->ignored.off, c->ignored.len);
	log_info("event=%s session=%s %s=\"%s\" value=\"%s\" reason=\"%s\"", c->ignored.event,
	         s->idtext, c->verb == CMD_MAIL ? "from" : "rcpt", addr, value, c->ignored.why);
}

void session_dispatch(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	struct smtp_reply err;
	if (log_verbose_enabled()) {
		char esc[600];
		log_debug("event=command session=%s text=\"%s\"", s->idtext,
		          log_escape(esc, sizeof(esc), line, len));
	}
	if (cmd_parse(line, len, s->tx.smtputf8, &cmd, &err) == -1) {
		session_refuse(s, &err);
		return;
	}
	for (size_t i = 0; i < sizeof(command_table) / sizeof(command_table[0]); i++) {
		const struct smtp_command *row = &command_table[i];
		if (row->verb != cmd.verb)
			continue;
		if (!(row->states & s->state)) {
			smtp_reply_set(&err, 503, "5.5.1", wrong_state_text(s, cmd.verb));
			session_refuse(s, &err);
			return;
		}
		/* Without EHLO the command is refused for having parameters at all. */
		if (cmd.ignored.event != NULL && s->esmtp)
			log_ignored(s, &cmd, line);
		row->proceed(s, &cmd);
		return;
	}
	smtp_reply_set(&err, 500, "5.5.1", "Command unrecognized");
	session_refuse(s, &err);
}
