/*
 * conn: one network connection — server side (accepted) or client side
 * (connecting), plain TCP or TLS — behind one interface, so that SMTP
 * sessions, the relay's client and anything later share a single code
 * path for both (the libevent bufferevent underneath, with OpenSSL when
 * TLS is on). Nobody writes to the socket behind its back: a reply on a
 * TLS connection can never go out in plaintext.
 *
 * STARTTLS: conn_start_tls() first writes what is queued (the "220 Go
 * ahead" goes out in plaintext), discards whatever the peer sent before
 * the handshake (CVE-2011-0411: commands injected before TLS must not be
 * executed after it), and continues on the same socket with TLS; the
 * handshake never blocks the loop and ends with CONN_TLS_READY or
 * CONN_TLS_FAILED.
 */
#ifndef RAVEN_CONN_H
#define RAVEN_CONN_H

#include <stddef.h>
#include <sys/socket.h>

struct conn;
struct evbuffer;
struct event_base;
typedef struct ssl_st SSL;

enum conn_event {
	CONN_EOF = 1,    /* the peer closed */
	CONN_ERROR,      /* a socket error (errno in conn_error()) */
	CONN_TIMEOUT,    /* no progress within the timeout */
	CONN_CONNECTED,  /* client side: the connection is up */
	CONN_TLS_READY,  /* the handshake is done */
	CONN_TLS_FAILED, /* the handshake failed (OpenSSL's reason in conn_tls_error()) */
};

struct conn_handlers {
	void (*on_read)(struct conn *c, void *arg);  /* input arrived */
	void (*on_drain)(struct conn *c, void *arg); /* the output, once pending, is all written */
	void (*on_event)(struct conn *c, enum conn_event ev, void *arg);
	void *arg;
};

/* Server side: an accepted, connected socket (taken over). */
struct conn *conn_accept(struct event_base *base, int fd, const struct conn_handlers *h);
/*
 * Client side: connect to sa without blocking; CONN_CONNECTED or
 * CONN_ERROR follows. NULL with errno if the socket cannot be made.
 */
struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                          const struct conn_handlers *h);
/* Close the connection (output not yet written is lost) and free it. */
void conn_free(struct conn *c);

/*
 * Continue with TLS on this connection (ssl is taken over; as server or
 * client per its mode). Pending output is written first, buffered input
 * is discarded. 0, or -1 when libevent cannot make the TLS bufferevent.
 */
int conn_start_tls(struct conn *c, SSL *ssl);
/* The TLS session once CONN_TLS_READY came, else NULL. */
SSL *conn_tls(const struct conn *c);
/* OpenSSL's reason for the last TLS failure (static text if none). */
const char *conn_tls_error(const struct conn *c, char *buf, size_t len);

/* What the peer sent and nobody consumed yet (drain what you use). */
struct evbuffer *conn_input(struct conn *c);
/* Queue output; conn_flush() or the loop writes it. */
void conn_write(struct conn *c, const void *p, size_t n);
/*
 * Write queued output now, as far as the socket takes it without blocking
 * (a plain socket: one writev, no event registration — two epoll_ctl per
 * reply saved); the rest is written by the loop and on_drain says when it
 * is all out.
 */
void conn_flush(struct conn *c);
/* The last output before the process exits: written now, without blocking. */
void conn_flush_now(struct conn *c);
size_t conn_output_pending(const struct conn *c);

/* Stop / resume reading (backpressure, waiting for another role). */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);
int conn_reading(const struct conn *c);
/* Stop reading for good and report on_drain once the output is out. */
void conn_shutdown_read(struct conn *c);
/* Idle timeouts in seconds (0: none); reset by every read or write. */
void conn_set_timeouts(struct conn *c, unsigned read_secs, unsigned write_secs);
/* Input the connection buffers at most before it stops reading. */
void conn_set_input_max(struct conn *c, size_t max);

int conn_fd(const struct conn *c);
/* errno of the CONN_ERROR event. */
int conn_error(const struct conn *c);

#endif
