/*
 * session_harness: runs the real smtp server code in-process on one event
 * base, with a client socket to write to and a fake queue that answers
 * NEW with a memfd, records every COMMIT, adds up the role's COUNTERS
 * frames and plays the auth role (login "alice", password "secret"; the
 * password "locked" gets AUTH_LOCKED, "tempfail" AUTH_TEMP, anything else
 * AUTH_FAIL). The client can start TLS (harness_starttls): from then on it
 * writes and reads through its own OpenSSL client. Used by the session
 * unit test (golden transcripts) and the whole-session fuzzer.
 */
#ifndef RAVEN_SESSION_HARNESS_H
#define RAVEN_SESSION_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "metrics.h"

struct tls_server;
struct session;
typedef struct ssl_st SSL;

struct harness_opts {
	const struct listener *listener; /* NULL: a plain port-25 listener */
	struct tls_server *tls;          /* NULL: a self-signed one of the harness's own */
};

struct harness {
	struct config *conf;
	struct tls_server *tls;
	int own_tls;
	SSL *ssl; /* the client's TLS, once harness_starttls succeeded */
	struct event_base *base;
	struct smtp_server *srv;
	struct ipc *fake_queue;
	int client;         /* our end of the session's socket */
	struct buf replies; /* everything the server sent so far */
	size_t commits;     /* COMMIT requests answered OK */
	size_t aborts;
	struct buf last_data; /* content of the last committed message */
	char last_sender[600];
	size_t last_rcpts;
	size_t news;  /* NEW requests answered */
	int last_fd;  /* memfd of the newest NEW */
	size_t auths; /* AUTH_REQ answered */
	char last_login[300], last_client[80];
	uint64_t counted[MET_COUNT]; /* the smtp role's COUNTERS: sums, gauges' last */
};

/* conf may be NULL for the built-in default (not finished: no data dir needed). */
struct harness *harness_new(struct config *conf);
struct harness *harness_new_opts(struct config *conf, const struct harness_opts *o);
/* The client's TLS handshake (after the server's 220 to STARTTLS, or at
 * once on an implicit-TLS listener). 0, or -1 if it failed. */
int harness_starttls(struct harness *h);
void harness_free(struct harness *h);
/* Write bytes as the client, then run the loop until nothing moves. */
void harness_send(struct harness *h, const void *p, size_t n);
/* Run the loop until nothing moves. */
void harness_settle(struct harness *h);
/* 1 if the server has closed its end. */
int harness_closed(struct harness *h);
/* Make the server send what it counted now, and take it in (h->counted). */
void harness_counters(struct harness *h);

#endif
