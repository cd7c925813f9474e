/*
 * session: one SMTP server session (RFC 5321) — the state machine, the
 * command table and the replies. The transport is a connection (conn.h);
 * the spool is reached only through the queue role (smtp_server_*).
 *
 * The session consumes input only while it is not waiting for the queue,
 * so pipelined commands (RFC 2920) are answered strictly in order.
 */
#ifndef RAVEN_SESSION_H
#define RAVEN_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "addr.h"
#include "buf.h"
#include "cmd_parse.h"
#include "config.h"
#include "data_reader.h"
#include "envelope.h"
#include "route.h"
#include "sasl.h"

struct conn;
struct event;
struct session_checks;
struct smtp_server;

enum session_state {
	S_CONNECTED = 1, /* greeted, no HELO/EHLO yet */
	S_HELO = 2,      /* ready for MAIL */
	S_MAIL = 4,      /* MAIL accepted, ready for RCPT */
	S_RCPT = 8,      /* at least one RCPT accepted */
	S_DATA = 16,     /* reading message content */
	S_CLOSING = 32,  /* reply flushed then closed */
	S_TLS = 64,      /* TLS handshake in progress: no input is read as commands */
	S_AUTH = 128,    /* an AUTH exchange: lines are SASL responses, not commands */
};

/* A command waiting for an SQL table's answer (session_lookup.c). */
struct session_lookup_wait {
	struct smtp_cmd cmd;
	char table[65];
	char key[513];
};

struct session_rcpt {
	struct mailaddr addr;
	unsigned notify;
	char *orcpt;
	const struct action *action;
	char **users; /* final local mailboxes */
	size_t n_users;
};

struct transaction {
	char *sender; /* MAIL FROM's address ("" for <>); NULL before MAIL */
	uint64_t size_param;
	int body;
	int smtputf8;
	int ret;
	char envid[101];
	struct session_rcpt *rcpts;
	size_t n_rcpts;
	size_t n_deliveries;    /* mailboxes after alias expansion */
	size_t envelope_octets; /* estimate of their envelope records */
	/* DATA */
	char id[ENVELOPE_ID_MAX + 1];
	int fd;
	uint64_t written;
	uint32_t data_crc; /* CRC-32C of the written octets, for the envelope */
	int write_error;   /* errno of a failed spool write */
	struct buf out;
};

struct session {
	uint64_t id;
	char idtext[24];
	struct smtp_server *srv;
	const struct config *conf;
	struct conn *conn;
	struct sockaddr_storage peer;
	char peer_text[64];
	int peer_local;           /* inside local networks */
	const struct listener *l; /* accepted on (NULL: plain port-25 defaults) */
	int submission;
	int tls;                 /* the handshake is done: all I/O is encrypted */
	char tls_info[128];      /* "TLSv1.3 with cipher ..." for Received: */
	struct event *tls_timer; /* the handshake's deadline (limits timeout tls) */
	/* AUTH (session_auth.c) */
	int authenticated;
	char *login;              /* the credentials' key, once authenticated */
	struct sasl_server *sasl; /* the exchange in progress (S_AUTH), else NULL */
	struct event *auth_timer; /* a refusal's delay; the auth role's deadline */
	int auth_result;          /* the answer the delay holds back */
	unsigned auth_failures;   /* in this session */
	/* RCPT waiting for SQL table lookups (session_lookup.c) */
	struct session_lookup_wait *lookup; /* the command to run again; NULL if none */
	void (*lookup_rerun)(struct session *s, const struct smtp_cmd *c); /* RCPT or MAIL */
	struct event *lookup_timer;
	unsigned lookup_rounds;
	enum session_state state;
	int esmtp;
	char helo[256];
	unsigned errors;
	unsigned timeout;        /* seconds currently set on the connection */
	struct event *deadline;  /* the whole session's (limits timeout session) */
	struct event *slow_data; /* DATA's minimum rate (limits data-rate) */
	struct timeval data_start;
	uint64_t data_octets; /* received in this DATA */
	int waiting;          /* a queue request is outstanding */
	int processing;       /* inside session_process (no re-entry) */
	uint64_t req;         /* its number */
	/* the sender checks (session_checks.c): input waits for a verdict */
	struct session_checks *chk;
	int checks_wait;
	struct line_reader lines;
	struct data_reader data;
	struct transaction tx;
	struct session *prev, *next; /* the server's list */
};

/* A new session on an accepted socket; it greets the client at once (on
 * an implicit-TLS listener, once the handshake is done). */
struct session *session_new(struct smtp_server *srv, const struct config *conf, uint64_t id, int fd,
                            const struct sockaddr *sa, socklen_t salen, const struct listener *l);
void session_free(struct session *s);

/* Send one reply line ("250 2.0.0 Ok") with CRLF appended. */
void session_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send a reply from a parser/check refusal, and count it as a client error. */
void session_refuse(struct session *s, const struct smtp_reply *r);
/* Write the queued replies now (session_process does it after each pass). */
void session_flush(struct session *s);
/* The last reply before the role exits: written now, without blocking. */
void session_goodbye(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reply and close the connection once the reply is written. */
void session_close(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Continue consuming buffered input (after a queue answer arrived). */
void session_resume(struct session *s);
void session_tx_reset(struct session *s);
/* MAIL FROM's address, "" for <> (or before MAIL). */
const char *session_sender(const struct session *s);
/* Set the connection's idle timeouts for the current state. */
void session_set_timeout(struct session *s);
/* A session's timer, made on first use: most sessions never need most of
 * them, and an idle connection should cost little (100,000 of them). */
void session_timer_add(struct session *s, struct event **ev,
                       void (*cb)(int fd, short what, void *arg), const struct timeval *tv);
void session_timer_del(struct event *ev);
int session_timer_pending(const struct event *ev);
void session_timer_free(struct event **ev);

/* The command table (session_cmds.c). */
void session_dispatch(struct session *s, const char *line, size_t len);

/* TLS (session_tls.c): STARTTLS, implicit TLS, the end of a handshake. */
void session_cmd_starttls(struct session *s, const struct smtp_cmd *c);
void session_tls_start(struct session *s);
void session_tls_ready(struct session *s);
void session_tls_failed(struct session *s, const char *why);
/* STARTTLS may be offered: TLS is configured and not on yet. */
int session_tls_offer(const struct session *s);
/* The greeting (at connect, or after an implicit-TLS handshake). */
void session_greet(struct session *s);

/* AUTH (session_auth.c). */
void session_cmd_auth(struct session *s, const struct smtp_cmd *c, const char *line);
/* A line of the exchange (state S_AUTH); too_long: it was over the limit. */
void session_auth_line(struct session *s, const char *line, size_t len, int too_long);
/* The auth role's verdict (AUTH_RES), reaching the session that asked. */
void session_auth_result(struct session *s, int status, const char *login);
/* AUTH may be offered: credentials are configured, and TLS is on (or the
 * listener is marked plaintext-auth). */
int session_auth_offer(const struct session *s);
/* Forget the authentication (STARTTLS) and any exchange in progress. */
void session_auth_reset(struct session *s);
/* MAIL FROM under AUTH: 0 if the client may use this sender, else -1 and
 * the reply has been sent, or 1: an SQL "auth senders" table is asked
 * first (session_lookup), and c runs again when it answers. */
int session_auth_mail(struct session *s, const struct smtp_cmd *c);

/* SQL table lookups at RCPT (session_lookup.c). */
typedef void (*session_cmd_fn)(struct session *s, const struct smtp_cmd *c);
/* c (RCPT, or MAIL) needs table's answer for key: ask it, wait, and run
 * c again with rerun when it is cached. */
void session_lookup_start(struct session *s, const struct smtp_cmd *c, session_cmd_fn rerun,
                          const char *table, const char *key);
/* The lookup role's answer (LOOKUP_RES), reaching the session that asked. */
void session_lookup_result(struct session *s, int status, const char *value);
void session_lookup_free(struct session *s);
/* RCPT and MAIL (session_cmds.c), run again once a lookup is answered. */
void session_cmd_rcpt(struct session *s, const struct smtp_cmd *c);
void session_cmd_mail(struct session *s, const struct smtp_cmd *c);

/* DATA (session_data.c). */
void session_data_start(struct session *s);
void session_data_new_ok(struct session *s, const char *id, int fd);
void session_data_new_fail(struct session *s, uint32_t error, const char *reason);
size_t session_data_feed(struct session *s, const uint8_t *p, size_t n);
/* DATA began / ended: the minimum-rate watch (session.c). */
void session_watch_rate(struct session *s);
void session_unwatch_rate(struct session *s);
void session_data_commit_ok(struct session *s);
/* The end of data, once the checks let the message go: ask the queue to
 * commit it (the reply waits for the queue's answer). */
void session_data_commit(struct session *s);
/* Refuse the message at its end (its data file is dropped). */
void session_data_refuse(struct session *s, int code, const char *enh, const char *text);
void session_data_commit_fail(struct session *s, uint32_t error, const char *reason);

#endif
