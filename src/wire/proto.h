/*
 * proto: the typed messages the roles exchange over ipc channels, and one
 * encoder and one decoder per message. Every decoder fails on short input
 * and on leftover bytes: a malformed frame is a broken peer, never guessed at.
 *
 *   smtp  -> queue   NEW_REQ      {req}           (pickup sends NEW_REQ, COMMIT_REQ and
 *                                                  ABORT as smtp does, and gets the same answers)
 *   queue -> smtp    NEW_OK       {req, id} + fd of data/<id>
 *   queue -> smtp    NEW_FAIL     {req, errno, reason}
 *   smtp  -> queue   COMMIT_REQ   {req, id, envelope (envelope.h encoding)}
 *   queue -> smtp    COMMIT_OK    {req}
 *   queue -> smtp    COMMIT_FAIL  {req, errno, reason}
 *   smtp  -> queue   ABORT        {id}
 *   queue -> local   DELIVER_REQ  {job, id, action, arrival, sender, size, body,
 *   queue -> relay                 smtputf8, ret, envid, n, n x {idx, user, addr,
 *                                  notify, orcpt}, has_crc, crc} + fd
 *                                 prepend} + fd
 *                                 (read-only data; one message, one destination, n
 *                                 recipients; sender "" for <>; addr: the envelope
 *                                 recipient; user: the mailbox, "" for relaying;
 *                                 size and CRC-32C of the data, checked as it is read;
 *                                 prepend: header fields for the top of the message,
 *                                 "" if none: Authentication-Results, DKIM-Signature)
 *   local -> queue   DELIVER_RES  {job, flags, n, n x {idx, status, rflags, text}}
 *   relay -> queue                (flags: the destination could not be reached at
 *                                 all; rflags: relayed to a peer without DSN;
 *                                 status DELIVER_CORRUPT: the data failed its check)
 *   parent -> queue  NEW_PEER     {kind} + fd of a fresh channel to a (re)started role
 *   smtp  -> queue   AUTH_REQ     {req, client, login, password}
 *   queue -> auth    AUTH_REQ     the same, with the queue's own req
 *   auth  -> queue   AUTH_RES     {req, status, login}
 *   queue -> smtp    AUTH_RES     the same, with smtp's req
 *                                 (the queue forwards, checks nothing but the
 *                                 frames; only the auth role sees hashes; login
 *                                 in AUTH_RES: the credentials' key if AUTH_OK)
 *   relay -> parent  CONNECT_REQ  {req, action}: connect the unix-domain socket of
 *                                 that LMTP action (its path is the parent's to read
 *                                 from its own configuration, never the relay's to say)
 *   parent -> relay  CONNECT_RES  {req, errno, reason} + the connected fd when errno is 0
 *   smtp  -> queue   DNS_REQ      {req, type, name}        the smtp role's checks ask
 *   queue -> dns     DNS_REQ      the same, with the queue's own req
 *   dns   -> queue   DNS_RES      {req, answered, status, rcode, sec, why, packet}
 *   queue -> smtp    DNS_RES      the same, with smtp's req (the reply packet as the
 *                                 resolver got it: smtp parses it itself)
 *   queue -> dkim    SIGN_REQ     {req, id, size, has_crc, crc} + fd (read-only data)
 *   dkim  -> queue   SIGN_RES     {req, status, text} (SIGN_OK: text is the whole
 *                                 DKIM-Signature field; otherwise why not)
 *   queue -> parent  RELOAD_REQ   {req}: ravenctl reload asked for a reload
 *   parent -> queue  RELOAD_RES   {req, errno, reason}: 0 done, else why not ("file:line: ...")
 *   parent -> queue  CONFIG       {req} + a memfd with the new configuration (conf_bundle.h):
 *                                 every peer connected before it is of the old one and
 *                                 retires; every NEW_PEER after it is of the new one
 *   queue -> smtp    RETIRE       {req}: stop accepting, finish the open sessions, exit
 *
 * COUNTERS, METRICS_REQ, METRICS_TEXT and ROLE_STARTS carry the metrics
 * (metrics.h has their encoders and decoders); LOOKUP_REQ and LOOKUP_RES
 * the SQL table lookups, CRED_REQ and CRED_RES the auth role's lookups of
 * password hashes in an SQL "auth users" table (lookup.h).
 */
#ifndef RAVEN_PROTO_H
#define RAVEN_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"

enum proto_type {
	PROTO_NEW_REQ = 1,
	PROTO_NEW_OK,
	PROTO_NEW_FAIL,
	PROTO_COMMIT_REQ,
	PROTO_COMMIT_OK,
	PROTO_COMMIT_FAIL,
	PROTO_ABORT,
	PROTO_DELIVER_REQ,
	PROTO_DELIVER_RES,
	PROTO_NEW_PEER,
	PROTO_AUTH_REQ,
	PROTO_AUTH_RES,
	PROTO_CONNECT_REQ,
	PROTO_CONNECT_RES,
	PROTO_COUNTERS,     /* metrics.h */
	PROTO_METRICS_REQ,  /* metrics.h */
	PROTO_METRICS_TEXT, /* metrics.h */
	PROTO_ROLE_STARTS,  /* metrics.h */
	PROTO_DNS_REQ,
	PROTO_DNS_RES,
	PROTO_SIGN_REQ,
	PROTO_SIGN_RES,
	PROTO_RELOAD_REQ,
	PROTO_RELOAD_RES,
	PROTO_CONFIG,
	PROTO_RETIRE,
	PROTO_LOOKUP_REQ, /* lookup.h */
	PROTO_LOOKUP_RES, /* lookup.h */
	PROTO_CRED_REQ,   /* lookup.h: LOOKUP_REQ's layout, asked by the auth role */
	PROTO_CRED_RES,   /* lookup.h: LOOKUP_RES's layout, the hash for the auth role */
};

enum peer_kind {
	PEER_SMTP = 1,
	PEER_LOCAL,
	PEER_RELAY,
	PEER_AUTH,
	PEER_PICKUP,
	PEER_METRICS,
	PEER_DNS,
	PEER_DKIM,
	PEER_LOOKUP
};
#define PEER_KIND_MAX PEER_LOOKUP
/* AUTH_RES: the verdict (smtp: 235, 535 after a delay, 454 locked, 454). */
enum auth_status { AUTH_OK = 0, AUTH_FAIL, AUTH_LOCKED, AUTH_TEMP };
/* DELIVER_CORRUPT: the message's data did not match its size or checksum
 * as it was read; nothing was delivered, and the queue sets it aside. */
enum deliver_status { DELIVER_OK = 0, DELIVER_TEMP, DELIVER_PERM, DELIVER_CORRUPT };

/* {req} and {req, errno, reason} shapes are shared by several types. */
struct proto_reply {
	uint64_t req;
	uint32_t error; /* errno, 0 if none */
	char *reason;   /* NULL when absent */
	char *id;       /* NEW_OK only */
};

struct proto_commit {
	uint64_t req;
	struct envelope env;
};

#define PROTO_MAX_JOB_RCPTS 1000

struct proto_deliver {
	uint64_t job;
	char *id;
	char *action;
	int64_t arrival;
	char *sender; /* "" for <> */
	/* what relaying needs to know of the message (mailparams.h values) */
	uint64_t size;
	uint8_t body, smtputf8, ret;
	char *envid; /* "" if none */
	size_t n;
	uint32_t *idx;
	char **user;
	char **addr;      /* the envelope recipient each mailbox was reached by */
	uint32_t *notify; /* DSN NOTIFY bits */
	char **orcpt;     /* DSN ORCPT as the envelope keeps it, "" if none */
	uint32_t crc;     /* the data's CRC-32C (of size octets), */
	uint8_t has_crc;  /* when known (0: a spool from before checksums) */
	char *prepend;    /* header fields for the top of the message; "" if none */
};
#define PROTO_PREPEND_MAX (2 * ENVELOPE_TRACE_MAX)

/* DELIVER_RES flags */
#define PROTO_DEST_UNREACHABLE 1u /* every host of the destination failed to answer */
/* per recipient */
#define PROTO_RCPT_RELAYED 1u /* delivered to a peer that cannot send DSNs */

struct proto_result {
	uint64_t job;
	uint32_t flags;
	size_t n;
	uint32_t *idx;
	uint8_t *status;
	uint8_t *rflags; /* may be NULL when encoding: all 0 */
	char **text;
};

void proto_encode_req(struct buf *b, uint64_t req);
int proto_decode_req(const uint8_t *p, size_t n, uint64_t *req);
void proto_encode_new_ok(struct buf *b, uint64_t req, const char *id);
int proto_decode_new_ok(const uint8_t *p, size_t n, struct proto_reply *r);
void proto_encode_fail(struct buf *b, uint64_t req, uint32_t error, const char *reason);
int proto_decode_fail(const uint8_t *p, size_t n, struct proto_reply *r);
void proto_reply_free(struct proto_reply *r);

int proto_encode_commit(struct buf *b, uint64_t req, const struct envelope_draft *e);
int proto_decode_commit(const uint8_t *p, size_t n, struct proto_commit *c, char *err,
                        size_t errlen);

void proto_encode_id(struct buf *b, const char *id);
int proto_decode_id(const uint8_t *p, size_t n, char *id, size_t idlen);

void proto_encode_deliver(struct buf *b, const struct proto_deliver *d);
int proto_decode_deliver(const uint8_t *p, size_t n, struct proto_deliver *d);
void proto_deliver_free(struct proto_deliver *d);

void proto_encode_result(struct buf *b, const struct proto_result *r);
int proto_decode_result(const uint8_t *p, size_t n, struct proto_result *r);
void proto_result_free(struct proto_result *r);

#define PROTO_AUTH_CLIENT_MAX 64  /* a client address as text */
#define PROTO_AUTH_FIELD_MAX  255 /* login and password (RFC 4616's limit) */

struct proto_auth_req {
	uint64_t req;
	char *client;   /* the client's address, for lockouts and logs */
	char *login;    /* the authentication identity, not empty */
	char *password; /* not empty; wiped by proto_auth_req_free */
};

struct proto_auth_res {
	uint64_t req;
	uint8_t status; /* enum auth_status */
	char *login;    /* AUTH_OK: the credentials' key (canonical login); else "" */
};

void proto_encode_auth_req(struct buf *b, const struct proto_auth_req *a);
int proto_decode_auth_req(const uint8_t *p, size_t n, struct proto_auth_req *a);
void proto_auth_req_free(struct proto_auth_req *a);
void proto_encode_auth_res(struct buf *b, const struct proto_auth_res *a);
int proto_decode_auth_res(const uint8_t *p, size_t n, struct proto_auth_res *a);
void proto_auth_res_free(struct proto_auth_res *a);

/* DNS_REQ / DNS_RES (proto_checks.c). */
#define PROTO_DNS_NAME_MAX   1024  /* presentation form, escapes included */
#define PROTO_DNS_PACKET_MAX 65535 /* a reply over TCP */
#define PROTO_DNS_WHY_MAX    256

struct proto_dns_req {
	uint64_t req;
	uint16_t type;
	char *name; /* not empty; the resolver role checks its syntax */
};

/* Mirrors struct dns_raw (dns_rdata.h), which the wire layer does not know. */
struct proto_dns_res {
	uint64_t req;
	uint8_t answered; /* 0: no reply, status says why */
	uint8_t status;   /* enum dns_status when !answered */
	uint8_t rcode;    /* 0..15 */
	uint8_t sec;      /* 0 unsigned, 1 bogus, 2 secure */
	char *why;        /* "" if none */
	uint8_t *pkt;     /* the reply; NULL when len is 0 */
	size_t len;
};

void proto_encode_dns_req(struct buf *b, const struct proto_dns_req *q);
int proto_decode_dns_req(const uint8_t *p, size_t n, struct proto_dns_req *q);
void proto_dns_req_free(struct proto_dns_req *q);
void proto_encode_dns_res(struct buf *b, const struct proto_dns_res *r);
int proto_decode_dns_res(const uint8_t *p, size_t n, struct proto_dns_res *r);
void proto_dns_res_free(struct proto_dns_res *r);

/* SIGN_REQ / SIGN_RES (proto_checks.c). */
enum sign_status { SIGN_OK = 0, SIGN_NONE, SIGN_TEMP };
#define PROTO_SIGN_TEXT_MAX 16384

struct proto_sign_req {
	uint64_t req;
	char *id; /* the message, for logs */
	uint64_t size;
	uint32_t crc;
	uint8_t has_crc;
};

struct proto_sign_res {
	uint64_t req;
	uint8_t status; /* enum sign_status */
	char *text;     /* SIGN_OK: the DKIM-Signature field, CRLF-ended; else why */
};

void proto_encode_sign_req(struct buf *b, const struct proto_sign_req *q);
int proto_decode_sign_req(const uint8_t *p, size_t n, struct proto_sign_req *q);
void proto_sign_req_free(struct proto_sign_req *q);
void proto_encode_sign_res(struct buf *b, const struct proto_sign_res *r);
int proto_decode_sign_res(const uint8_t *p, size_t n, struct proto_sign_res *r);
void proto_sign_res_free(struct proto_sign_res *r);

void proto_encode_peer(struct buf *b, uint32_t kind);
int proto_decode_peer(const uint8_t *p, size_t n, uint32_t *kind);

/* CONNECT_REQ; CONNECT_RES is proto_encode_fail()'s shape. *action is
 * malloc'ed (at most PROTO_ACTION_MAX octets). */
#define PROTO_ACTION_MAX 255
void proto_encode_connect(struct buf *b, uint64_t req, const char *action);
int proto_decode_connect(const uint8_t *p, size_t n, uint64_t *req, char **action);

#endif
