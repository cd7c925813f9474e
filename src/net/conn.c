/* conn: a connection over a bufferevent, plain or TLS (see conn.h). */
#include "conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xmalloc.h"

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	struct conn_handlers h;
	int fd;
	SSL *ssl;        /* set once TLS is on (the bufferevent owns it) */
	int tls_ready;   /* the handshake is done */
	SSL *tls_wanted; /* STARTTLS waiting for the plaintext output to drain */
	int writing;     /* EV_WRITE enabled: the loop writes, on_drain follows */
	int reading;     /* EV_READ wanted (not paused) */
	int closing;     /* reading stopped for good */
	unsigned rd_secs, wr_secs;
	size_t input_max;
	int err;
	unsigned long tls_err;
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void apply_settings(struct conn *c)
{
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, c->input_max);
	if (c->rd_secs || c->wr_secs) {
		struct timeval r = {c->rd_secs, 0}, w = {c->wr_secs, 0};
		bufferevent_set_timeouts(c->bev, c->rd_secs ? &r : NULL, c->wr_secs ? &w : NULL);
	}
	if (c->reading && !c->closing)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
	if (c->writing)
		bufferevent_enable(c->bev, EV_WRITE);
	else
		bufferevent_disable(c->bev, EV_WRITE);
}

static struct conn *conn_new(struct event_base *base, int fd, const struct conn_handlers *h)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->h = *h;
	c->fd = fd;
	c->reading = 1;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c);
		return NULL;
	}
	apply_settings(c);
	return c;
}

struct conn *conn_accept(struct event_base *base, int fd, const struct conn_handlers *h)
{
	evutil_make_socket_nonblocking(fd);
	struct conn *c = conn_new(base, fd, h);
	if (c == NULL)
		close(fd);
	return c;
}

struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                          const struct conn_handlers *h)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return NULL;
	struct conn *c = conn_new(base, fd, h);
	if (c == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) == -1) {
		int e = errno;
		conn_free(c);
		errno = e ? e : ECONNREFUSED;
		return NULL;
	}
	return c;
}

void conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->tls_wanted)
		SSL_free(c->tls_wanted);
	/* A TLS session ends with close_notify (one record, written without
	 * blocking), so the peer can tell our close from a truncation. */
	if (c->ssl != NULL && c->tls_ready)
		SSL_shutdown(c->ssl);
	ERR_clear_error();
	if (c->bev)
		bufferevent_free(c->bev); /* closes the socket; frees the SSL */
	free(c);
}

/* Replace the plain bufferevent by a TLS one on the same socket. */
static int switch_to_tls(struct conn *c, SSL *ssl)
{
	/* Whatever the peer sent before the handshake is not ours to act on. */
	evbuffer_drain(bufferevent_get_input(c->bev),
	               evbuffer_get_length(bufferevent_get_input(c->bev)));
	int server = SSL_is_server(ssl);
	struct bufferevent *tls = bufferevent_openssl_socket_new(
	    c->base, c->fd, ssl, server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		return -1;
	}
	/* The plain bufferevent goes without closing the socket. */
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	c->bev = tls;
	c->ssl = ssl;
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	/* The handshake runs on the bufferevent's own read and write events:
	 * disabling EV_WRITE now would stall it. A new bufferevent has it
	 * enabled; its first drain callback turns it off as usual. */
	c->writing = 1;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, c->input_max);
	if (c->rd_secs || c->wr_secs) {
		struct timeval r = {c->rd_secs, 0}, w = {c->wr_secs, 0};
		bufferevent_set_timeouts(c->bev, c->rd_secs ? &r : NULL, c->wr_secs ? &w : NULL);
	}
	if (c->reading && !c->closing)
		bufferevent_enable(c->bev, EV_READ);
	return 0;
}

int conn_start_tls(struct conn *c, SSL *ssl)
{
	if (c->ssl != NULL || c->tls_wanted != NULL) {
		SSL_free(ssl);
		return -1;
	}
	if (conn_output_pending(c) > 0) {
		conn_flush(c);
		if (conn_output_pending(c) > 0) {
			/* The go-ahead is still on its way: switch once it is out,
			 * reading nothing meanwhile. */
			c->tls_wanted = ssl;
			bufferevent_disable(c->bev, EV_READ);
			return 0;
		}
	}
	return switch_to_tls(c, ssl);
}

SSL *conn_tls(const struct conn *c)
{
	return c->tls_ready ? c->ssl : NULL;
}

const char *conn_tls_error(const struct conn *c, char *buf, size_t len)
{
	if (c->tls_err == 0) {
		snprintf(buf, len, "handshake failed");
		return buf;
	}
	ERR_error_string_n(c->tls_err, buf, len);
	return buf;
}

struct evbuffer *conn_input(struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

void conn_write(struct conn *c, const void *p, size_t n)
{
	evbuffer_add(bufferevent_get_output(c->bev), p, n);
}

/* Plain sockets only: write what the socket takes now. */
static void write_direct(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	/* A socket bufferevent keeps its output's front frozen except around
	 * its own writes; this is one of those. */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0 && evbuffer_write(out, c->fd) > 0)
		;
	evbuffer_freeze(out, 1);
}

void conn_flush(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0 || c->writing)
		return;
	if (c->ssl == NULL && c->fd >= 0)
		write_direct(c);
	/* Left over (or TLS, whose filter writes): the loop takes over and
	 * on_drain reports the end. An error is reported by the bufferevent. */
	if (evbuffer_get_length(out) > 0) {
		c->writing = 1;
		bufferevent_enable(c->bev, EV_WRITE);
	}
}

void conn_flush_now(struct conn *c)
{
	if (c->ssl == NULL && c->fd >= 0)
		write_direct(c);
	else
		bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
}

size_t conn_output_pending(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void conn_pause_read(struct conn *c)
{
	c->reading = 0;
	bufferevent_disable(c->bev, EV_READ);
}

void conn_resume_read(struct conn *c)
{
	c->reading = 1;
	if (!c->closing && c->tls_wanted == NULL)
		bufferevent_enable(c->bev, EV_READ);
}

int conn_reading(const struct conn *c)
{
	return c->reading && !c->closing;
}

void conn_shutdown_read(struct conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	c->writing = 1;
	bufferevent_enable(c->bev, EV_WRITE);
}

void conn_set_timeouts(struct conn *c, unsigned read_secs, unsigned write_secs)
{
	c->rd_secs = read_secs;
	c->wr_secs = write_secs;
	struct timeval r = {read_secs, 0}, w = {write_secs, 0};
	bufferevent_set_timeouts(c->bev, read_secs ? &r : NULL, write_secs ? &w : NULL);
}

void conn_set_input_max(struct conn *c, size_t max)
{
	c->input_max = max;
	bufferevent_setwatermark(c->bev, EV_READ, 0, max);
}

int conn_fd(const struct conn *c)
{
	return c->fd;
}

int conn_error(const struct conn *c)
{
	return c->err;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (c->h.on_read)
		c->h.on_read(c, c->h.arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	/* Output drained: replies are written directly again (conn_flush). */
	if (!c->closing) {
		c->writing = 0;
		bufferevent_disable(bev, EV_WRITE);
	}
	if (c->tls_wanted) {
		SSL *ssl = c->tls_wanted;
		c->tls_wanted = NULL;
		if (switch_to_tls(c, ssl) == -1) {
			if (c->h.on_event)
				c->h.on_event(c, CONN_TLS_FAILED, c->h.arg);
			return;
		}
	}
	if (c->h.on_drain)
		c->h.on_drain(c, c->h.arg);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	enum conn_event ev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->ssl != NULL) {
			c->tls_ready = 1;
			ev = CONN_TLS_READY;
		} else {
			ev = CONN_CONNECTED;
		}
	} else if (what & BEV_EVENT_TIMEOUT) {
		ev = CONN_TIMEOUT;
	} else if (c->ssl != NULL && !c->tls_ready) {
		c->tls_err = bufferevent_get_openssl_error(bev);
		ev = CONN_TLS_FAILED;
	} else if (what & BEV_EVENT_EOF) {
		ev = CONN_EOF;
	} else {
		c->err = EVUTIL_SOCKET_ERROR();
		ev = CONN_ERROR;
	}
	if (c->h.on_event)
		c->h.on_event(c, ev, c->h.arg);
}
