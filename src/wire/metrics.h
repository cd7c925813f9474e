/*
 * metrics: what Raven counts, where, and how it travels. Counters live
 * where events happen — the smtp, local and relay roles count in a struct
 * metrics_push (metrics_push.c) and send what changed to the queue at most
 * every METRICS_PUSH_MSEC; the queue counts its own and adds up every
 * peer's (queue_metrics.c), since it outlives the roles it serves. The
 * catalog below names each metric once: its Prometheus family, labels,
 * type, help, and which kind of peer may report it (0: the queue itself).
 *
 * Frames (one encoder and one strict decoder each, as in proto.h):
 *
 *   smtp  -> queue   COUNTERS      {n, n x {id, value}}   ids increasing;
 *   local -> queue                 a counter's value is what happened since
 *   relay -> queue                 the peer's last frame, a gauge's its value now
 *   metrics -> queue METRICS_REQ   {req}             (proto_encode_req)
 *   queue -> metrics METRICS_TEXT  {req, text}       the exposition text
 *   parent -> queue  ROLE_STARTS   {started, n, n x {name, starts}}
 */
#ifndef RAVEN_METRICS_H
#define RAVEN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "prom.h"
#include "proto.h"

#define METRICS_PUSH_MSEC 500 /* a role sends what changed at most this often */

/* Families with several rows (label values) are consecutive. */
enum metric_id {
	/* smtp */
	MET_SMTP_CONN_ACCEPTED,
	MET_SMTP_CONN_REFUSED_LIMIT,
	MET_SMTP_CONN_REFUSED_PER_IP,
	MET_SMTP_SESSIONS, /* gauge */
	MET_SMTP_CUT_TIMEOUT,
	MET_SMTP_CUT_ERRORS,
	MET_SMTP_CUT_SLOW_DATA,
	MET_SMTP_CUT_DEADLINE,
	MET_SMTP_MSG_ACCEPTED,
	MET_SMTP_MSG_BYTES,
	MET_SMTP_MSG_REFUSED_SIZE,
	MET_SMTP_MSG_REFUSED_LOOP,
	MET_SMTP_MSG_REFUSED_CONTENT,
	MET_SMTP_MSG_REFUSED_TEMPFAIL,
	MET_SMTP_RCPT_ACCEPTED,
	MET_SMTP_RCPT_UNKNOWN_USER,
	MET_SMTP_RCPT_RELAY_DENIED,
	MET_SMTP_RCPT_TOO_MANY,
	MET_SMTP_RCPT_ROUTING,
	MET_SMTP_RCPT_TEMPFAIL,
	/* local */
	MET_LOCAL_SYNCS,
	MET_LOCAL_REFUSED,
	/* relay */
	MET_RELAY_CONNECTED,
	MET_RELAY_CONNECT_FAILED,
	MET_RELAY_TLS_VERIFIED,
	MET_RELAY_TLS_UNVERIFIED,
	MET_RELAY_TLS_FAILED,
	/* the queue's own */
	MET_DELIVERED_LOCAL,
	MET_DELIVERED_RELAY,
	MET_DEFERRED_LOCAL,
	MET_DEFERRED_RELAY,
	MET_BOUNCED_LOCAL,
	MET_BOUNCED_RELAY,
	MET_DSN_FAILURE,
	MET_DSN_DELAY,
	MET_DSN_SUCCESS,
	MET_QUEUE_COMMITTED,
	MET_QUEUE_PEERS_DROPPED,
	MET_QUEUE_MESSAGES,      /* gauge, from the scheduler at each scrape */
	MET_QUEUE_RCPT_PENDING,  /* gauge */
	MET_QUEUE_RCPT_DEFERRED, /* gauge */
	MET_QUEUE_RCPT_HELD,     /* gauge */
	MET_QUEUE_IN_FLIGHT,     /* gauge */
	MET_COUNT
};

struct metric_def {
	enum peer_kind owner; /* who reports it; 0: the queue */
	enum prom_type type;  /* PROM_COUNTER or PROM_GAUGE */
	const char *name;     /* the family */
	const char *labels;   /* this row's, rendered ("reason=\"size\""); NULL: none */
	const char *help;
};

/* The catalog row of id (< MET_COUNT). */
const struct metric_def *metric_def(enum metric_id id);
/* "smtp", "local", "relay", "metrics"; "?" for another value. */
const char *metrics_peer_name(enum peer_kind k);

/* Values by id; set[id]: present (in a frame) or changed (in a push). */
struct metric_values {
	uint64_t v[MET_COUNT];
	uint8_t set[MET_COUNT];
};

/* COUNTERS: the entries of mv that are set (at least one). */
void metrics_encode_counters(struct buf *b, const struct metric_values *mv);
/* 0, or -1 if the frame is malformed, empty, has an id twice or out of
 * order, or reports a metric that a peer of kind from does not own. */
int metrics_decode_counters(const uint8_t *p, size_t n, enum peer_kind from,
                            struct metric_values *out);

/* METRICS_TEXT: *text points into p (not NUL-terminated). */
void metrics_encode_text(struct buf *b, uint64_t req, const void *text, size_t len);
int metrics_decode_text(const uint8_t *p, size_t n, uint64_t *req, const uint8_t **text,
                        size_t *len);

/* ROLE_STARTS: how often the parent started each role (restarts + 1). */
#define METRICS_ROLES_MAX     16
#define METRICS_ROLE_NAME_MAX 32

struct role_starts {
	int64_t started; /* the parent's start, unix seconds */
	size_t n;
	struct {
		char name[METRICS_ROLE_NAME_MAX + 1]; /* [a-z0-9_], as in the role table */
		uint64_t starts;
	} role[METRICS_ROLES_MAX];
};

void metrics_encode_starts(struct buf *b, const struct role_starts *s);
/* 0, or -1: malformed, too many roles, a name empty, too long, of other
 * characters, or given twice. */
int metrics_decode_starts(const uint8_t *p, size_t n, struct role_starts *out);

/* --- counting in a role (metrics_push.c) --- */

struct event_base;
struct ipc;
struct metrics_push;

/* Counts for a role whose channel to the queue is ch. */
struct metrics_push *metrics_push_new(struct event_base *base, struct ipc *ch);
void metrics_push_free(struct metrics_push *mp);
/* A counter goes up (by 1, by n); a gauge is set. mp may be NULL (no-op). */
void metrics_count(struct metrics_push *mp, enum metric_id id);
void metrics_add(struct metrics_push *mp, enum metric_id id, uint64_t n);
void metrics_gauge(struct metrics_push *mp, enum metric_id id, uint64_t value);
/* Send what changed now (the timer does it otherwise). */
void metrics_push_flush(struct metrics_push *mp);

#endif
