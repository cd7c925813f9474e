/*
 * client: the session half of the SMTP client engine (client.h): reply
 * dispatch, greeting, EHLO with HELO fallback (LHLO without one in LMTP
 * mode), STARTTLS, AUTH PLAIN/LOGIN, QUIT, aborts and timeouts. The mail
 * transaction is in client_txn.c.
 *
 * Rules that hold in every state:
 * - 421 (RFC 5321 §3.8) ends the session at once, without QUIT; whatever is
 *   unfinished is deferred with the peer's reply.
 * - A reply that breaks the grammar, or does not fit the command it answers,
 *   means we no longer know which reply belongs to which command: every
 *   unfinished recipient is deferred (4.5.0) and the connection closed
 *   without QUIT, since its answer could not be trusted either.
 * - Credentials never go out before TLS is active; nothing is sent between
 *   the server's 220 to STARTTLS and the caller's client_tls_done().
 */
#include "client_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

/* RFC 5321 §4.5.3.2; the RFC gives no value for EHLO, STARTTLS, AUTH, RSET
 * and QUIT: they get the 5 minutes of the other commands. */
/* RFC 5321 §4.5.3.2 */
#define TIMEOUT_GREETING 300
#define TIMEOUT_COMMAND  300
#define TIMEOUT_DATA     120
#define TIMEOUT_BLOCK    180
#define TIMEOUT_EOD      600

static unsigned or_default(unsigned configured, unsigned rfc)
{
	return configured ? configured : rfc;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct client *client_new(const struct client_config *cfg)
{
	struct client *c = xcalloc(1, sizeof(*c));
	c->cfg = *cfg;
	c->cfg.helo_name = xstrdup(cfg->helo_name != NULL ? cfg->helo_name : "localhost");
	c->cfg.auth_user = dup_or_null(cfg->auth_user);
	c->cfg.auth_pass =
	    cfg->auth_user == NULL ? NULL : xstrdup(cfg->auth_pass != NULL ? cfg->auth_pass : "");
	c->tls_active = cfg->tls_active;
	c->state = CS_GREETING;
	reply_parser_init(&c->rp, 0, 0);
	buf_init(&c->out, 0); /* every command is bounded by what it is built from */
	c->session.text = xstrdup("");
	return c;
}

static void free_secret(const char *s)
{
	if (s == NULL)
		return;
	char *p = (char *)s;
	explicit_bzero(p, strlen(p));
	free(p);
}

void client_free(struct client *c)
{
	if (c == NULL)
		return;
	txn_clear(&c->txn);
	reply_parser_free(&c->rp);
	if (c->out.data != NULL)
		explicit_bzero(c->out.data, c->out.cap); /* may hold AUTH */
	buf_free(&c->out);
	free((char *)c->cfg.helo_name);
	free_secret(c->cfg.auth_user);
	free_secret(c->cfg.auth_pass);
	free(c->session.text);
	free(c);
}

enum client_want client_want(const struct client *c)
{
	switch (c->state) {
	case CS_TLS:
		return CLIENT_WANT_TLS;
	case CS_READY:
		return CLIENT_WANT_MESSAGE;
	case CS_BODY:
		return CLIENT_WANT_BODY;
	case CS_CLOSED:
		return CLIENT_WANT_CLOSE;
	default:
		return CLIENT_WANT_REPLY;
	}
}

const uint8_t *client_output(const struct client *c, size_t *len)
{
	*len = c->out.len;
	return c->out.len ? c->out.data : NULL;
}

void client_output_done(struct client *c, size_t n)
{
	buf_consume(&c->out, n > c->out.len ? c->out.len : n);
}

const struct client_result *client_session(const struct client *c)
{
	return &c->session;
}

const struct caps *client_caps(const struct client *c)
{
	return &c->caps;
}

int client_tls_active(const struct client *c)
{
	return c->tls_active;
}

const char *client_stage_name(enum client_stage s)
{
	static const char *const names[] = {
	    [CLIENT_STAGE_NONE] = "none",         [CLIENT_STAGE_CONNECT] = "connection",
	    [CLIENT_STAGE_GREETING] = "greeting", [CLIENT_STAGE_EHLO] = "EHLO",
	    [CLIENT_STAGE_HELO] = "HELO",         [CLIENT_STAGE_STARTTLS] = "STARTTLS",
	    [CLIENT_STAGE_TLS] = "TLS handshake", [CLIENT_STAGE_AUTH] = "AUTH",
	    [CLIENT_STAGE_MAIL] = "MAIL FROM",    [CLIENT_STAGE_RCPT] = "RCPT TO",
	    [CLIENT_STAGE_DATA] = "DATA",         [CLIENT_STAGE_EOD] = "end of data",
	    [CLIENT_STAGE_RSET] = "RSET",         [CLIENT_STAGE_QUIT] = "QUIT",
	    [CLIENT_STAGE_LHLO] = "LHLO",
	};
	if ((unsigned)s >= sizeof(names) / sizeof(names[0]) || names[s] == NULL)
		return "unknown";
	return names[s];
}

/* The stage whose reply the engine waits for in its current state. */
static enum client_stage client_stage_now(const struct client *c)
{
	switch (c->state) {
	case CS_GREETING:
		return CLIENT_STAGE_GREETING;
	case CS_EHLO:
		return c->cfg.lmtp ? CLIENT_STAGE_LHLO : CLIENT_STAGE_EHLO;
	case CS_HELO:
		return CLIENT_STAGE_HELO;
	case CS_STARTTLS:
		return CLIENT_STAGE_STARTTLS;
	case CS_TLS:
		return CLIENT_STAGE_TLS;
	case CS_AUTH_PLAIN:
	case CS_AUTH_LOGIN:
	case CS_AUTH_USER:
	case CS_AUTH_PASS:
		return CLIENT_STAGE_AUTH;
	case CS_TXN:
		return txn_stage(c);
	case CS_BODY:
		return CLIENT_STAGE_DATA;
	case CS_EOD:
	case CS_DOT:
		return CLIENT_STAGE_EOD;
	case CS_RSET:
		return CLIENT_STAGE_RSET;
	case CS_QUIT:
		return CLIENT_STAGE_QUIT;
	default:
		return CLIENT_STAGE_CONNECT;
	}
}

unsigned client_timeout(const struct client *c)
{
	switch (c->state) {
	case CS_GREETING:
		return or_default(c->cfg.timeout.greeting, TIMEOUT_GREETING);
	case CS_TXN:
		return txn_stage(c) == CLIENT_STAGE_DATA
		           ? or_default(c->cfg.timeout.data, TIMEOUT_DATA)
		           : or_default(c->cfg.timeout.command, TIMEOUT_COMMAND);
	case CS_BODY:
		return or_default(c->cfg.timeout.block, TIMEOUT_BLOCK); /* for each block written */
	case CS_EOD:
	case CS_DOT:
		return or_default(c->cfg.timeout.dot, TIMEOUT_EOD);
	case CS_READY:
	case CS_CLOSED:
		return 0;
	default:
		return or_default(c->cfg.timeout.command, TIMEOUT_COMMAND);
	}
}

enum client_status client_status_of(int code)
{
	if (code >= 200 && code < 300)
		return CLIENT_OK;
	if (code >= 500 && code < 600)
		return CLIENT_PERM;
	return CLIENT_TEMP;
}

void client_result_set(struct client_result *res, enum client_status st, enum client_stage stage,
                       int code, const char *enh, const char *text)
{
	res->status = st;
	res->stage = stage;
	res->code = code;
	snprintf(res->enh, sizeof(res->enh), "%s", enh != NULL ? enh : "");
	free(res->text);
	res->text = xstrdup(text != NULL ? text : "");
}

void client_send(struct client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("out of memory");    /* as xmalloc would */
	buf_append(&c->out, s, (size_t)n); /* no maximum: cannot fail */
	free(s);
}

static void client_close(struct client *c)
{
	c->state = CS_CLOSED;
}

void client_send_quit(struct client *c)
{
	client_send(c, "QUIT\r\n");
	c->state = CS_QUIT;
}

void client_fail_session(struct client *c, enum client_status st, enum client_stage stage, int code,
                         const char *enh, const char *text)
{
	if (c->session.status == CLIENT_PENDING)
		client_result_set(&c->session, st, stage, code, enh, text);
	if (c->txn.active)
		txn_fail_unfinished(c, stage, code, enh, text);
}

void client_fail_reply(struct client *c, enum client_status st, enum client_stage stage,
                       const struct reply *r)
{
	client_fail_session(c, st, stage, r->code, r->enh, r->text);
}

void client_protocol_error(struct client *c, enum client_stage stage, const char *why)
{
	char text[256];
	snprintf(text, sizeof(text), "protocol error in reply to %s: %s", client_stage_name(stage),
	         why);
	client_fail_session(c, CLIENT_TEMP, stage, 0, "4.5.0", text);
	client_close(c);
}

static void client_ehlo(struct client *c)
{
	client_send(c, "%s %s\r\n", c->cfg.lmtp ? "LHLO" : "EHLO", c->cfg.helo_name);
	c->state = CS_EHLO;
}

void client_tls_done(struct client *c)
{
	if (c->state != CS_TLS)
		return;
	c->tls_active = 1;
	/* Nothing learnt in clear is kept (RFC 3207 §4.2). */
	memset(&c->caps, 0, sizeof(c->caps));
	c->esmtp = 0;
	reply_parser_free(&c->rp);
	reply_parser_init(&c->rp, 0, 0);
	client_ehlo(c);
}

void client_abort(struct client *c, enum client_abort why)
{
	char text[256];
	enum client_stage stage = client_stage_now(c);
	const char *what = client_stage_name(stage);
	if (c->state == CS_CLOSED)
		return;
	if (c->state == CS_QUIT) { /* the peer may close before it answers QUIT */
		client_close(c);
		return;
	}
	if (why == CLIENT_ABORT_TLS) {
		client_fail_session(c, CLIENT_TEMP, CLIENT_STAGE_TLS, 0, "4.7.5",
		                    "TLS handshake failed");
	} else if (why == CLIENT_ABORT_TIMEOUT) {
		snprintf(text, sizeof(text), "timeout after %u s waiting for the reply to %s",
		         client_timeout(c), what);
		if (c->state == CS_BODY)
			snprintf(text, sizeof(text), "timeout while sending the message");
		client_fail_session(c, CLIENT_TEMP, stage, 0, "4.4.2", text);
	} else {
		if (c->state == CS_BODY)
			snprintf(text, sizeof(text), "lost connection while sending the message");
		else if (c->state == CS_READY)
			snprintf(text, sizeof(text), "lost connection while idle");
		else
			snprintf(text, sizeof(text), "lost connection waiting for the reply to %s",
			         what);
		client_fail_session(c, CLIENT_TEMP, stage, 0, "4.4.2", text);
	}
	client_close(c);
}

void client_quit(struct client *c)
{
	if (c->state == CS_READY)
		client_send_quit(c);
}

/* One line of base64 (with CRLF) on the output: AUTH's data. */
static void client_send_b64(struct client *c, const char *prefix, const uint8_t *p, size_t n)
{
	buf_append_str(&c->out, prefix);
	buf_append_b64(&c->out, p, n);
	buf_append_str(&c->out, "\r\n");
}

static void client_ready(struct client *c)
{
	c->state = CS_READY;
}

static void client_auth_start(struct client *c)
{
	char mechs[128];
	if (!c->tls_active) {
		client_fail_session(c, CLIENT_TEMP, CLIENT_STAGE_AUTH, 0, "4.7.4",
		                    "not sending credentials without TLS (host does not offer "
		                    "STARTTLS or refused it)");
		client_send_quit(c);
		return;
	}
	if (c->caps.mechs & CAPS_MECH_PLAIN) {
		/* RFC 4616: authzid NUL authcid NUL passwd, as the initial response (RFC 4954). */
		size_t ul = strlen(c->cfg.auth_user), pl = strlen(c->cfg.auth_pass);
		uint8_t *msg = xmalloc(ul + pl + 2);
		msg[0] = 0;
		memcpy(msg + 1, c->cfg.auth_user, ul);
		msg[1 + ul] = 0;
		memcpy(msg + 2 + ul, c->cfg.auth_pass, pl);
		client_send_b64(c, "AUTH PLAIN ", msg, ul + pl + 2);
		explicit_bzero(msg, ul + pl + 2);
		free(msg);
		c->state = CS_AUTH_PLAIN;
	} else if (c->caps.mechs & CAPS_MECH_LOGIN) {
		client_send(c, "AUTH LOGIN\r\n");
		c->state = CS_AUTH_LOGIN;
	} else {
		char text[256];
		snprintf(text, sizeof(text),
		         "host offers no AUTH mechanism we support (PLAIN, LOGIN); offered: %s",
		         (c->caps.flags & CAPS_AUTH)
		             ? caps_mechs_str(c->caps.mechs, mechs, sizeof(mechs))
		             : "no AUTH");
		client_fail_session(c, CLIENT_TEMP, CLIENT_STAGE_AUTH, 0, "4.7.0", text);
		client_send_quit(c);
	}
}

/* After a successful EHLO/HELO, or a STARTTLS refused under TLS "may". */
static void client_after_hello(struct client *c, int starttls_refused)
{
	if (!c->tls_active && c->cfg.tls != CLIENT_TLS_NONE && !starttls_refused &&
	    (c->caps.flags & CAPS_STARTTLS)) {
		client_send(c, "STARTTLS\r\n");
		c->state = CS_STARTTLS;
		return;
	}
	if (!c->tls_active && c->cfg.tls == CLIENT_TLS_REQUIRE) {
		/* Nothing of the message has been sent in clear. */
		client_fail_session(c, CLIENT_TEMP,
		                    c->cfg.lmtp ? CLIENT_STAGE_LHLO
		                    : c->esmtp  ? CLIENT_STAGE_EHLO
		                                : CLIENT_STAGE_HELO,
		                    0, "4.7.4",
		                    "TLS is required, but the host did not offer STARTTLS");
		client_send_quit(c);
		return;
	}
	if (c->cfg.auth_user != NULL) {
		client_auth_start(c);
		return;
	}
	client_ready(c);
}

/* 4xx/5xx ends the session: the next host may do better. */
static void client_setup_failed(struct client *c, enum client_stage stage, const struct reply *r)
{
	client_fail_reply(c, client_status_of(r->code), stage, r);
	client_send_quit(c);
}

static void client_on_auth(struct client *c, const struct reply *r)
{
	int cls = r->code / 100;
	if (cls == 2 && (c->state == CS_AUTH_PLAIN || c->state == CS_AUTH_PASS)) {
		client_ready(c);
		return;
	}
	if (r->code == 334 && c->state == CS_AUTH_LOGIN) {
		client_send_b64(c, "", (const uint8_t *)c->cfg.auth_user, strlen(c->cfg.auth_user));
		c->state = CS_AUTH_USER;
		return;
	}
	if (r->code == 334 && c->state == CS_AUTH_USER) {
		client_send_b64(c, "", (const uint8_t *)c->cfg.auth_pass, strlen(c->cfg.auth_pass));
		c->state = CS_AUTH_PASS;
		return;
	}
	if (cls == 4 || cls == 5) {
		/* Refused credentials wait for the operator (temporary, whatever
		 * the code): bouncing mail over a password typo is worse. */
		client_fail_reply(c, CLIENT_TEMP, CLIENT_STAGE_AUTH, r);
		client_send_quit(c);
		return;
	}
	client_protocol_error(c, CLIENT_STAGE_AUTH, "unexpected reply to AUTH");
}

static void client_on_reply(struct client *c, const struct reply *r)
{
	enum client_stage stage = client_stage_now(c);
	int cls = r->code / 100;
	if (r->code == 421 && c->state != CS_QUIT) {
		client_fail_reply(c, CLIENT_TEMP, stage, r);
		client_close(c);
		return;
	}
	switch (c->state) {
	case CS_GREETING:
		if (cls == 2)
			client_ehlo(c);
		else if (cls == 3)
			client_protocol_error(c, stage, "unexpected greeting");
		else
			client_setup_failed(c, stage, r);
		break;
	case CS_EHLO:
		if (cls == 2) {
			c->esmtp = 1;
			caps_parse(r, &c->caps);
			client_after_hello(c, 0);
		} else if (cls == 5 && !c->cfg.lmtp) {
			client_send(c, "HELO %s\r\n", c->cfg.helo_name);
			c->state = CS_HELO;
		} else if (cls == 4 || cls == 5) { /* LMTP has no HELO (RFC 2033 §4.1) */
			client_setup_failed(c, stage, r);
		} else {
			client_protocol_error(c, stage, "unexpected reply");
		}
		break;
	case CS_HELO:
		if (cls == 2) {
			c->esmtp = 0;
			memset(&c->caps, 0, sizeof(c->caps));
			client_after_hello(c, 0);
		} else if (cls == 3) {
			client_protocol_error(c, stage, "unexpected reply");
		} else {
			client_setup_failed(c, stage, r);
		}
		break;
	case CS_STARTTLS:
		if (cls == 2)
			c->state = CS_TLS;
		else if (cls == 3)
			client_protocol_error(c, stage, "unexpected reply");
		else if (c->cfg.tls == CLIENT_TLS_REQUIRE) {
			/* The job waits for a host that does TLS, whatever the code. */
			client_fail_reply(c, CLIENT_TEMP, stage, r);
			client_send_quit(c);
		} else
			client_after_hello(c, 1); /* "may": go on in clear */
		break;
	case CS_AUTH_PLAIN:
	case CS_AUTH_LOGIN:
	case CS_AUTH_USER:
	case CS_AUTH_PASS:
		client_on_auth(c, r);
		break;
	case CS_READY:
		client_protocol_error(c, CLIENT_STAGE_CONNECT, "reply while no command was sent");
		break;
	case CS_TXN:
		txn_on_reply(c, r);
		break;
	case CS_EOD:
		txn_on_eod(c, r);
		break;
	case CS_DOT:
		txn_on_dot(c, r);
		break;
	case CS_RSET:
		txn_on_rset(c, r);
		break;
	case CS_QUIT:
		client_close(c);
		break;
	default:
		break;
	}
}

/* States in which a reply may be fed (CS_READY: an unsolicited one). */
static int client_takes_replies(const struct client *c)
{
	return c->state != CS_TLS && c->state != CS_BODY && c->state != CS_CLOSED;
}

size_t client_feed(struct client *c, const uint8_t *in, size_t n)
{
	size_t used = 0;
	if (c->state == CS_CLOSED)
		return n;
	if (c->state == CS_TLS && n > 0) {
		client_protocol_error(c, CLIENT_STAGE_STARTTLS,
		                      "clear-text octets after the 220 to STARTTLS");
		return n;
	}
	while (used < n && client_takes_replies(c)) {
		size_t k = 0;
		enum reply_result res = reply_parser_feed(&c->rp, in + used, n - used, &k);
		used += k;
		if (res == REPLY_MORE)
			break;
		if (res == REPLY_ERROR) {
			client_protocol_error(c, client_stage_now(c), c->rp.err);
			return n;
		}
		client_on_reply(c, &c->rp.reply);
		if (c->state == CS_TLS && used < n) {
			client_protocol_error(c, CLIENT_STAGE_STARTTLS,
			                      "clear-text octets after the 220 to STARTTLS");
			return n;
		}
	}
	if (c->state == CS_CLOSED)
		return n;
	return used;
}
