/*
 * session_tls: TLS in an SMTP session — STARTTLS (RFC 3207) and implicit
 * TLS (RFC 8314). The connection layer switches the socket to TLS and
 * discards whatever the client sent before the handshake (CVE-2011-0411);
 * the session, for its part, forgets everything it learnt in plaintext
 * (EHLO, a transaction, an authentication) and starts again from the
 * greeting state, so no command from before the handshake is ever acted
 * on after it. The handshake has a deadline of its own (limits timeout
 * tls) and, like any session, holds one of the client's per-IP slots.
 */
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "tls_server.h"

int session_tls_offer(const struct session *s)
{
	return !s->tls && smtp_server_tls(s->srv) != NULL;
}

/* Out of memory for the TLS connection: nothing to do but go. */
static void tls_unavailable(struct session *s)
{
	log_warn("event=tls-failed session=%s client=%s reason=\"cannot start TLS\"", s->idtext,
	         s->peer_text);
	session_close(s, "421 4.7.0 %s TLS not available, closing connection", s->conf->hostname);
}

/* A handshake that has not ended by its deadline (limits timeout tls),
 * however slowly the client keeps it moving: it holds a connection slot. */
static void session_tls_too_long(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	if (s->state == S_TLS)
		session_tls_failed(s, "handshake timed out");
}

void session_tls_start(struct session *s)
{
	struct tls_server *t = smtp_server_tls(s->srv);
	SSL *ssl = t != NULL ? tls_server_ssl(t) : NULL;
	s->state = S_TLS;
	session_set_timeout(s);
	struct timeval tv = {s->conf->limits.timeout_tls, 0};
	session_timer_add(s, &s->tls_timer, session_tls_too_long, &tv);
	if (ssl == NULL || conn_start_tls(s->conn, ssl) == -1)
		tls_unavailable(s);
}

void session_cmd_starttls(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	struct smtp_reply r;
	if (s->tls) {
		smtp_reply_set(&r, 503, "5.5.1", "TLS already active");
		session_refuse(s, &r);
		return;
	}
	if (smtp_server_tls(s->srv) == NULL) {
		session_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 §4.2: nothing learnt before the handshake is kept. */
	session_tx_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	line_reader_free(&s->lines);
	line_reader_init(&s->lines, s->conf->limits.command_line);
	session_tls_start(s);
}

void session_tls_ready(struct session *s)
{
	SSL *ssl = conn_tls(s->conn);
	char sni[300] = "";
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name != NULL)
		log_escape(sni, sizeof(sni), name, strlen(name));
	session_timer_del(s->tls_timer);
	s->tls = 1;
	snprintf(s->tls_info, sizeof(s->tls_info), "%s with cipher %s", SSL_get_version(ssl),
	         SSL_get_cipher_name(ssl));
	log_info("event=tls session=%s client=%s version=%s cipher=%s sni=\"%s\"", s->idtext,
	         s->peer_text, SSL_get_version(ssl), SSL_get_cipher_name(ssl), sni);
	int implicit = s->l != NULL && s->l->tls;
	s->state = S_CONNECTED;
	if (implicit)
		session_greet(s);
	session_resume(s);
}

void session_tls_failed(struct session *s, const char *why)
{
	char esc[300];
	log_info("event=tls-failed session=%s client=%s reason=\"%s\"", s->idtext, s->peer_text,
	         log_escape(esc, sizeof(esc), why, strlen(why)));
	/* No reply can reach the client: its TLS never came up. */
	session_free(s);
}
