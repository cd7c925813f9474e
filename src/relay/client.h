/*
 * client: one outbound SMTP client session as a pure state machine (no
 * I/O, no clock). The caller owns the socket, TLS and timers; it feeds
 * the server's bytes in and writes out what the engine queues, and the
 * engine says what it wants next:
 *
 *   c = client_new(&cfg);
 *   for (;;) {
 *           write client_output() bytes, then client_output_done(c, n);
 *           switch (client_want(c)) {
 *           case CLIENT_WANT_REPLY:   arm client_timeout(c); on input
 *                                     n = client_feed(c, in, len), drop n;
 *                                     on EOF/timeout/error client_abort(c, why);
 *           case CLIENT_WANT_TLS:     handshake; client_tls_done(c) or
 *                                     client_abort(c, CLIENT_ABORT_TLS);
 *           case CLIENT_WANT_MESSAGE: if a message was given, read
 *                                     client_results(); then client_message()
 *                                     for the next one or client_quit(c);
 *           case CLIENT_WANT_BODY:    send the dot-stuffed body (dotstuff.h),
 *                                     then client_body_done(c);
 *           case CLIENT_WANT_CLOSE:   read client_results() if a message was
 *                                     given (and client_session() if the
 *                                     session failed), close, client_free(c).
 *           }
 *           if input is still buffered, client_feed() it again.
 *   }
 *
 * client_feed() consumes replies only while a reply is awaited (or the
 * connection is idle): it stops right after the reply that makes the engine
 * want something else, and the rest waits in the caller's input buffer.
 * After the server's 220 to STARTTLS no clear-text octet may follow (an
 * injection): octets left in that same feed, or fed before client_tls_done(),
 * fail the session.
 *
 * Failures of the session itself (greeting, EHLO/HELO, STARTTLS, TLS, AUTH,
 * a broken connection) are in client_session(); a session that ends before
 * it ever asked for a message failed at setup: try the next host (MX).
 * Per recipient the outcome is ok / temp / perm with the reply that decided
 * it (client_results()).
 *
 * LMTP mode (RFC 2033, cfg.lmtp): LHLO instead of EHLO (no HELO fallback: an
 * LMTP server that refuses LHLO fails the session), and after the final dot
 * one reply per recipient whose RCPT was accepted, in RCPT order, each that
 * recipient's own outcome. No DSN parameters are sent: the LMTP server is
 * the final delivery, so the notices are ours to send (a success is
 * "delivered", never "relayed").
 */
#ifndef RAVEN_RELAY_CLIENT_H
#define RAVEN_RELAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "caps.h"

/* DSN NOTIFY bits (RFC 3461): the values of envelope.h's ENVELOPE_NOTIFY_*
 * (defined again so this layer depends on src/lib only). */
enum {
	CLIENT_NOTIFY_NEVER = 1,
	CLIENT_NOTIFY_SUCCESS = 2,
	CLIENT_NOTIFY_FAILURE = 4,
	CLIENT_NOTIFY_DELAY = 8,
};
/* DSN RET: the values of the envelope's ret (cmd_parse.h's enum dsn_ret). */
enum { CLIENT_RET_NONE = 0, CLIENT_RET_FULL = 1, CLIENT_RET_HDRS = 2 };

/* Recipients in one transaction (the caller splits bigger jobs). */
#define CLIENT_MAX_RCPTS 1000

enum client_tls {
	CLIENT_TLS_NONE = 0, /* never STARTTLS */
	CLIENT_TLS_MAY,      /* STARTTLS when offered, else clear text */
	CLIENT_TLS_REQUIRE,  /* STARTTLS or nothing: the job waits (4.7.4) */
};

struct client_config {
	const char *helo_name; /* our name in EHLO/HELO */
	enum client_tls tls;
	int tls_active; /* the connection is TLS already (implicit TLS, RFC 8314) */
	/* AUTH PLAIN (preferred) or LOGIN, only over TLS; NULL user: no AUTH.
	 * With credentials a session that cannot authenticate is a failure
	 * (4.7.x): mail is not sent unauthenticated to a host that needs it. */
	const char *auth_user;
	const char *auth_pass;
	int no_pipelining; /* one command per reply even when PIPELINING is offered */
	/* 8-bit message, peer without 8BITMIME: 0 sends it as it is (see
	 * ARCHITECTURE.md), 1 fails its recipients with 5.6.3. */
	int strict_8bitmime;
	/* Seconds to wait for each reply (RFC 5321 §4.5.3.2); 0 takes the
	 * RFC's minimum (greeting 300, command 300, data 120, dot 600) and
	 * block is for each block of the message written (180). */
	struct {
		unsigned greeting, command, data, block, dot;
	} timeout;
	int lmtp; /* RFC 2033: LHLO, a reply per recipient after the data */
};

struct client_rcpt {
	const char *addr;  /* envelope recipient, without <> */
	const char *orcpt; /* ORCPT as the envelope keeps it ("rfc822;xtext"), or NULL */
	unsigned notify;   /* CLIENT_NOTIFY_* bits, 0 if none were given */
};

struct client_msg {
	const char *sender; /* envelope sender without <>; "" for the null sender */
	uint64_t size;      /* octets of the spooled message (SIZE=); 0: unknown */
	int eightbit;       /* 8-bit content (BODY=8BITMIME was given or octets > 127) */
	int smtputf8;       /* the message needs SMTPUTF8 (also implied by a non-ASCII address) */
	int ret;            /* CLIENT_RET_* */
	const char *envid;  /* DSN ENVID, decoded (not xtext); NULL if none */
	size_t n_rcpts;
	const struct client_rcpt *rcpts;
};

enum client_want {
	CLIENT_WANT_REPLY = 0, /* send the output, then feed replies */
	CLIENT_WANT_TLS,       /* start the TLS handshake now */
	CLIENT_WANT_MESSAGE,   /* idle and ready: client_message() or client_quit() */
	CLIENT_WANT_BODY,      /* 354: send the dot-stuffed body, then client_body_done() */
	CLIENT_WANT_CLOSE,     /* send the output (if any), close the connection */
};

/* What the reply that decided an outcome answered. */
enum client_stage {
	CLIENT_STAGE_NONE = 0, /* decided here, before anything was sent */
	CLIENT_STAGE_CONNECT,  /* the connection broke outside any command */
	CLIENT_STAGE_GREETING,
	CLIENT_STAGE_EHLO,
	CLIENT_STAGE_HELO,
	CLIENT_STAGE_STARTTLS,
	CLIENT_STAGE_TLS, /* the handshake */
	CLIENT_STAGE_AUTH,
	CLIENT_STAGE_MAIL,
	CLIENT_STAGE_RCPT,
	CLIENT_STAGE_DATA,
	CLIENT_STAGE_EOD, /* end of data */
	CLIENT_STAGE_RSET,
	CLIENT_STAGE_QUIT,
	CLIENT_STAGE_LHLO, /* LMTP's EHLO */
};

enum client_status { CLIENT_PENDING = 0, CLIENT_OK, CLIENT_TEMP, CLIENT_PERM };

struct client_result {
	enum client_status status;
	enum client_stage stage;
	int code;                /* the peer's reply code; 0 when we decided */
	char enh[REPLY_ENH_MAX]; /* RFC 3463 code, the peer's or ours; "" if the peer gave none */
	char
	    *text; /* the peer's reply text or our reason ("" while pending); owned by the engine */
	/* OK, NOTIFY=SUCCESS asked and the peer has no DSN: the caller sends the
	 * sender a "relayed" notice (RFC 3461 §4.2). */
	int relayed;
};

enum client_abort {
	CLIENT_ABORT_EOF = 1, /* the peer closed or the connection failed */
	CLIENT_ABORT_TIMEOUT, /* client_timeout() passed without the reply */
	CLIENT_ABORT_TLS,     /* the TLS handshake failed */
};

struct client;

struct client *client_new(const struct client_config *cfg);
void client_free(struct client *c);
enum client_want client_want(const struct client *c);
/* Octets to write now (NULL when none); client_output_done() says how many went. */
const uint8_t *client_output(const struct client *c, size_t *len);
void client_output_done(struct client *c, size_t n);
/* Feed the server's octets; returns how many were used (see above). */
size_t client_feed(struct client *c, const uint8_t *in, size_t n);
/* The handshake after CLIENT_WANT_TLS succeeded: the engine says EHLO again. */
void client_tls_done(struct client *c);
/* The connection broke (or a timer fired): every unfinished recipient is
 * deferred, the session ends (CLIENT_WANT_CLOSE). */
void client_abort(struct client *c, enum client_abort why);
/*
 * Start a transaction (only in CLIENT_WANT_MESSAGE). The message is copied.
 * Recipients the peer cannot take (SIZE, SMTPUTF8, 8BITMIME with
 * strict_8bitmime, a malformed address) fail at once without a command
 * sent; if none is left the engine is ready for the next message at once.
 * 0, or -1 with err filled (wrong state, no or too many recipients).
 */
int client_message(struct client *c, const struct client_msg *m, char *err, size_t errlen);
/* The dot-stuffed body and its final ".\r\n" have been written. */
void client_body_done(struct client *c);
/* No more messages: QUIT (only in CLIENT_WANT_MESSAGE). */
void client_quit(struct client *c);
/* Probe a connection that sat idle (in a cache) before reusing it: RSET,
 * and CLIENT_WANT_MESSAGE again on 2xx (only in CLIENT_WANT_MESSAGE). The
 * engine sends RSET by itself only where a transaction was left open. */
void client_rset(struct client *c);

/* Outcomes of the last message's recipients, in the order given; valid
 * until the next client_message() or client_free(). */
const struct client_result *client_results(const struct client *c, size_t *n);
/* The session's own failure (status CLIENT_PENDING while there is none). */
const struct client_result *client_session(const struct client *c);
/* RFC 5321 §4.5.3.2 time limit, in seconds, for what the engine waits for
 * now (0 when it waits for nothing: idle, closed). */
unsigned client_timeout(const struct client *c);
/* What the peer offered in its last EHLO or LHLO (all zero after HELO). */
const struct caps *client_caps(const struct client *c);
int client_tls_active(const struct client *c);
/* "RCPT TO", "end of data", ... for "(in reply to ...)" in logs and DSNs. */
const char *client_stage_name(enum client_stage s);

#endif
