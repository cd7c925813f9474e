/*
 * client_int: the client engine's private state, shared by client.c (the
 * session: greeting, EHLO/HELO, STARTTLS, AUTH, QUIT, failures) and
 * client_txn.c (one mail transaction: MAIL, RCPT, DATA, end of data, RSET).
 * Nothing outside src/relay/client*.c includes it.
 */
#ifndef RAVEN_RELAY_CLIENT_INT_H
#define RAVEN_RELAY_CLIENT_INT_H

#include "buf.h"
#include "caps.h"
#include "client.h"
#include "reply.h"

enum client_state {
	CS_GREETING = 0,
	CS_EHLO, /* EHLO, or LHLO in LMTP mode */
	CS_HELO,
	CS_STARTTLS,
	CS_TLS,        /* waiting for the caller's handshake */
	CS_AUTH_PLAIN, /* AUTH PLAIN with the initial response sent */
	CS_AUTH_LOGIN, /* AUTH LOGIN sent, the user name is asked for next */
	CS_AUTH_USER,  /* user name sent, the password is asked for next */
	CS_AUTH_PASS,  /* password sent */
	CS_READY,      /* idle between transactions */
	CS_TXN,        /* replies to MAIL, RCPT..., DATA awaited */
	CS_BODY,       /* the caller is sending the body */
	CS_EOD,        /* end-of-data reply awaited */
	CS_DOT,        /* a lone "." ended a DATA nobody was accepted for */
	CS_RSET,
	CS_QUIT,
	CS_CLOSED,
};

struct txn_rcpt {
	char *addr;
	char *orcpt; /* "type;xtext", canonical, or NULL: not sent */
	unsigned notify;
	int accepted; /* 2xx to its RCPT */
};

/*
 * A transaction is a sequence of commands: 0 is MAIL, 1..nsend are the
 * RCPTs of the recipients listed in send[], nsend + 1 is DATA. Replies come
 * in that order; "sent" and "answered" count along it, so pipelined and
 * one-by-one sessions share every reply handler.
 */
struct txn {
	int active;
	char *sender;
	uint64_t size;
	int eightbit, smtputf8, ret;
	char *envid;
	size_t n;
	struct txn_rcpt *rcpts;
	struct client_result *res;
	size_t *send; /* indexes of the recipients whose RCPT goes out */
	size_t nsend;
	size_t sent, answered;
	int mail_failed;
	size_t accepted;
	size_t eod_next; /* LMTP: the send[] position the next end-of-data reply is for */
};

struct client {
	struct client_config cfg; /* strings copied */
	enum client_state state;
	struct reply_parser rp;
	struct buf out;
	struct caps caps;
	int tls_active;
	int esmtp; /* EHLO answered 2xx (0 after a HELO fallback) */
	struct client_result session;
	struct txn txn;
};

/* client.c */
/* Fail the session (first failure wins), every unfinished recipient of the
 * transaction with it (as a temporary failure). code 0: our own reason. */
void client_fail_session(struct client *c, enum client_status st, enum client_stage stage, int code,
                         const char *enh, const char *text);
void client_fail_reply(struct client *c, enum client_status st, enum client_stage stage,
                       const struct reply *r);
/* A reply that breaks the protocol: everything unfinished waits, close. */
void client_protocol_error(struct client *c, enum client_stage stage, const char *why);
void client_send(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void client_send_quit(struct client *c);
void client_result_set(struct client_result *res, enum client_status st, enum client_stage stage,
                       int code, const char *enh, const char *text);
enum client_status client_status_of(int code);

/* client_txn.c */
void txn_clear(struct txn *t);
/* The stage of the reply awaited now in CS_TXN. */
enum client_stage txn_stage(const struct client *c);
void txn_on_reply(struct client *c, const struct reply *r);
void txn_on_eod(struct client *c, const struct reply *r);
void txn_on_dot(struct client *c, const struct reply *r);
void txn_on_rset(struct client *c, const struct reply *r);
/* Every recipient of the transaction not final yet fails with this. */
void txn_fail_unfinished(struct client *c, enum client_stage stage, int code, const char *enh,
                         const char *text);

#endif
