/*
 * relay_int: the relay role's state, shared by its files — relay_role.c
 * (the channel to the queue, jobs, destinations, results), relay_route.c
 * (a destination's hosts from DNS: MX, implicit MX, smarthost, literals),
 * relay_session.c (one connection driving the client engine: connect,
 * STARTTLS, transactions, reuse), relay_lmtp.c (LMTP destinations: the
 * RCPT addresses, unix-domain connections made by the parent) and
 * relay_tls.c (the TLS context).
 */
#ifndef RAVEN_RELAY_INT_H
#define RAVEN_RELAY_INT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "dotstuff.h"
#include "metrics.h"
#include "proto.h"

struct conn;
struct dns_resolver;
struct event;
struct event_base;
struct hmap;
struct ipc;
typedef struct ssl_ctx_st SSL_CTX;

#define RELAY_MAX_ADDRS     32   /* addresses tried for one destination */
#define RELAY_MAX_MX        10   /* MX hosts looked up */
#define RELAY_MSGS_PER_CONN 100  /* then it is closed and a fresh one opened */
#define RELAY_START_LIMIT   2    /* connections per destination at first (slow start) */
#define RELAY_ROUTE_TTL_SEC 60   /* a destination's hosts are looked up again after this */
#define RELAY_TEXT_MAX      1024 /* an outcome's text */

/* One address to try: the host it belongs to and where to connect. */
struct relay_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256]; /* the MX (or smarthost) name; the literal for an address literal;
	                 * our hostname for a unix-domain LMTP socket */
	char ip[112];   /* the address, or the socket's path (ss_family AF_UNIX) */
};

/* A destination's hosts, or why there are none. */
struct relay_route {
	uint8_t status;           /* DELIVER_OK (addresses found), _TEMP or _PERM */
	char why[RELAY_TEXT_MAX]; /* for TEMP/PERM: "5.1.10 ..." */
	size_t n;
	struct relay_addr addr[RELAY_MAX_ADDRS];
};

struct relay;
struct relay_connect;
struct relay_dest;
struct relay_sess;

/* One job from the queue: a message and its recipients for one destination. */
struct relay_job {
	struct relay *r;
	struct proto_deliver d;
	int fd; /* the message, read-only */
	struct relay_dest *dest;
	uint8_t *status, *rflags;
	char **text;
	char **rcpt_to;              /* LMTP: the address each RCPT TO names; NULL: d.addr */
	uint32_t flags;              /* PROTO_DEST_UNREACHABLE */
	char damage[RELAY_TEXT_MAX]; /* the data failed its check: why */
	struct timeval t_arrived, t_started; /* in this role; transfer began */
	struct relay_job *next;              /* the destination's waiting list */
};

/* A next hop: an action and a domain (MX) or a smarthost. */
struct relay_dest {
	struct relay *r;
	const struct action *action;
	char *nexthop; /* the domain (MX) or the smarthost */
	uint64_t hash;
	int smarthost; /* nexthop is a host, not a domain to look up MX for */
	int lmtp;      /* an lmtp action: LMTP to nexthop (a host or a socket) */
	uint16_t port; /* 0: nexthop is a unix-domain socket (LMTP) */
	struct relay_job *wait_head, *wait_tail;
	size_t n_wait;
	struct relay_sess *idle; /* connections waiting for mail */
	size_t sessions;         /* connections open or opening */
	size_t limit;            /* connections allowed now (slow start) */
	int route_pending;
	int route_ready;
	struct timeval route_time;
	struct relay_route route;
	struct relay_dest *hnext; /* the hash chain */
};

struct relay {
	const struct config *conf;
	struct event_base *base;
	struct ipc *queue;
	struct metrics_push *metrics; /* counts for the queue (metrics.h) */
	struct dns_resolver *dns;
	SSL_CTX *tls;
	struct hmap *dests; /* hash of (action, next hop) -> chain of struct relay_dest */
	uint64_t rng;
	size_t max_per_dest;
	struct ipc *parent;             /* the service channel: unix-domain connects */
	uint64_t connect_req;           /* the last request's number */
	struct relay_connect *connects; /* requests awaiting the parent's answer */
};

/* relay_role.c */
/* The job is over: report every recipient to the queue and free it. */
void relay_job_done(struct relay_job *j);
/* Give the job's every recipient the same outcome, then relay_job_done(). */
void relay_job_fail(struct relay_job *j, uint8_t status, const char *text, uint32_t flags);
/* Start or reuse connections for a destination's waiting jobs. */
void relay_dest_kick(struct relay_dest *d);
/* A connection of d is gone (ok: it had delivered something). */
void relay_dest_session_gone(struct relay_dest *d, int delivered);
/* The next waiting job of d, or NULL. */
struct relay_job *relay_dest_take(struct relay_dest *d);
uint32_t relay_random(struct relay *r);

/* relay_route.c: look up d's hosts; cb(d) once d->route is filled. */
void relay_route_start(struct relay_dest *d, void (*cb)(struct relay_dest *d));

/* relay_session.c */
/* A new connection for d, trying d->route's addresses in order. */
void relay_session_start(struct relay_dest *d);
/* Give an idle connection a job. */
void relay_session_give(struct relay_sess *s, struct relay_job *j);

/* relay_session.c: the parent's answer to relay_lmtp_connect(): a connected
 * descriptor, or -1 and errno's value in err. */
void relay_session_connected(struct relay_sess *s, int fd, int err);

/* relay_lmtp.c */
/* An LMTP job: the RCPT address of each recipient (the action's rcpt-to)
 * into j->rcpt_to. -1 with "X.Y.Z reason" in why. */
int relay_lmtp_job(struct relay_job *j, const struct action *a, char *why, size_t len);
/* Ask the parent to connect the socket of s's destination (its action's);
 * relay_session_connected() answers, unless relay_lmtp_cancel(s) first. */
void relay_lmtp_connect(struct relay_sess *s, const struct relay_dest *d);
void relay_lmtp_cancel(struct relay *r, const struct relay_sess *s);
/* The service channel to the parent (-1: none; unix-domain LMTP then fails). */
void relay_lmtp_channel(struct relay *r, int fd);

/* relay_tls.c: the client TLS context (CA store loaded now, before any chroot). */
SSL_CTX *relay_tls_new(char *err, size_t errlen);

#endif
