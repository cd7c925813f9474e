/*
 * session: lifecycle and I/O of one SMTP session — greeting, the input
 * loop that feeds the line reader or the data reader, replies, limits on
 * errors and buffered bytes, timeouts, and closing. All I/O goes through
 * the connection layer (conn.h): plain or TLS, one code path.
 */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "server.h"
#include "session_checks.h"
#include "xmalloc.h"

/* Stop reading while this much output is unsent (a client that pipelines
 * without reading our replies must not grow our memory). */
#define SESSION_MAX_OUTPUT (256 * 1024)
/* Input buffered while we wait for the queue. */
#define SESSION_MAX_INPUT (256 * 1024)

static void session_read_cb(struct conn *c, void *arg);
static void session_drain_cb(struct conn *c, void *arg);
static void session_event_cb(struct conn *c, enum conn_event ev, void *arg);

static void peer_format(const struct sockaddr *sa, char *dst, size_t len)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], dst, (socklen_t)len);
			return;
		}
		inet_ntop(AF_INET6, &in6->sin6_addr, dst, (socklen_t)len);
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, dst,
		          (socklen_t)len);
	} else {
		snprintf(dst, len, "local");
	}
}

/* RFC 5321 §4.5.3.2 timeouts by state. Connection timeouts restart on
 * every read or write, so they are set only when the value changes. */
void session_set_timeout(struct session *s)
{
	const struct limits *l = &s->conf->limits;
	unsigned secs = s->state == S_DATA        ? l->timeout_data
	                : s->state == S_CONNECTED ? l->timeout_greeting
	                : s->state == S_TLS       ? l->timeout_tls
	                                          : l->timeout_command;
	if (secs == s->timeout)
		return;
	s->timeout = secs;
	conn_set_timeouts(s->conn, secs, secs);
}

/*
 * Slow clients (slowloris): every byte within the idle timeout keeps a
 * session alive for ever, and a handful at the connection caps lock
 * everyone else out. So a session has a deadline of its own, and DATA
 * must average limits data-rate octets a second once timeout_data has
 * passed (the time a client may take to start).
 */
static void session_too_long(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	if (s->state == S_CLOSING)
		return;
	log_info("event=session-deadline session=%s client=%s state=%d seconds=%u", s->idtext,
	         s->peer_text, (int)s->state, s->conf->limits.timeout_session);
	smtp_server_count(s->srv, MET_SMTP_CUT_DEADLINE);
	session_close(s, "421 4.4.2 %s Error: session too long, closing connection",
	              s->conf->hostname);
}

static void data_too_slow(evutil_socket_t fd, short what, void *arg);

void session_timer_add(struct session *s, struct event **ev,
                       void (*cb)(int fd, short what, void *arg), const struct timeval *tv)
{
	if (*ev == NULL)
		*ev = evtimer_new(smtp_server_base(s->srv), cb, s);
	if (*ev == NULL)
		fatal("out of memory for a timer");
	evtimer_add(*ev, tv);
}

void session_timer_del(struct event *ev)
{
	if (ev != NULL)
		evtimer_del(ev);
}

int session_timer_pending(const struct event *ev)
{
	return ev != NULL && evtimer_pending(ev, NULL);
}

void session_timer_free(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

/* When the octets received so far stop being enough. */
static void arm_rate(struct session *s)
{
	const struct limits *l = &s->conf->limits;
	uint64_t grace = l->timeout_data, earned = s->data_octets / l->data_rate;
	struct timeval now, at, tv;
	event_base_gettimeofday_cached(smtp_server_base(s->srv), &now);
	at = s->data_start;
	at.tv_sec += (time_t)(grace + earned + 1);
	timersub(&at, &now, &tv);
	if (tv.tv_sec < 0)
		tv.tv_sec = 0, tv.tv_usec = 0;
	session_timer_add(s, &s->slow_data, data_too_slow, &tv);
}

static void data_too_slow(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	if (s->state != S_DATA)
		return;
	const struct limits *l = &s->conf->limits;
	struct timeval now, el;
	event_base_gettimeofday_cached(smtp_server_base(s->srv), &now);
	timersub(&now, &s->data_start, &el);
	uint64_t secs = (uint64_t)el.tv_sec;
	if (secs <= l->timeout_data || s->data_octets >= (secs - l->timeout_data) * l->data_rate) {
		arm_rate(s);
		return;
	}
	log_info("event=data-too-slow session=%s client=%s octets=%llu seconds=%llu", s->idtext,
	         s->peer_text, (unsigned long long)s->data_octets, (unsigned long long)secs);
	smtp_server_count(s->srv, MET_SMTP_CUT_SLOW_DATA);
	session_close(s, "421 4.4.2 %s Error: data transfer too slow, closing connection",
	              s->conf->hostname);
}

void session_watch_rate(struct session *s)
{
	s->data_octets = 0;
	event_base_gettimeofday_cached(smtp_server_base(s->srv), &s->data_start);
	if (s->conf->limits.data_rate > 0)
		arm_rate(s);
}

void session_unwatch_rate(struct session *s)
{
	session_timer_del(s->slow_data);
}

struct session *session_new(struct smtp_server *srv, const struct config *conf, uint64_t id, int fd,
                            const struct sockaddr *sa, socklen_t salen, const struct listener *l)
{
	struct session *s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->conf = conf;
	s->id = id;
	s->l = l;
	s->submission = l != NULL && l->submission;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	peer_format(sa, s->peer_text, sizeof(s->peer_text));
	s->state = S_CONNECTED;
	s->tx.fd = -1;
	buf_init(&s->tx.out, 0);
	struct conn_handlers h = {session_read_cb, session_drain_cb, session_event_cb, s};
	s->conn = conn_accept(smtp_server_base(srv), fd, &h);
	if (s->conn == NULL)
		fatal("out of memory for a connection");
	conn_set_input_max(s->conn, SESSION_MAX_INPUT);
	snprintf(s->idtext, sizeof(s->idtext), "S%llx", (unsigned long long)s->id);
	s->peer_local = conf_is_local_net(s->conf, (const struct sockaddr *)&s->peer);
	line_reader_init(&s->lines, s->conf->limits.command_line);
	struct event_base *base = smtp_server_base(srv);
	s->deadline = evtimer_new(base, session_too_long, s);
	struct timeval life = {conf->limits.timeout_session, 0};
	evtimer_add(s->deadline, &life);
	log_info("event=connect session=%s client=%s local=%d submission=%d tls=%d", s->idtext,
	         s->peer_text, s->peer_local, s->submission, l != NULL && l->tls);
	session_checks_connect(s);
	if (l != NULL && l->tls) {
		/* Implicit TLS (RFC 8314): the greeting comes after the handshake. */
		session_tls_start(s);
		return s;
	}
	session_set_timeout(s);
	session_greet(s);
	return s;
}

void session_greet(struct session *s)
{
	session_reply(s, "220 %s ESMTP Raven", s->conf->hostname);
	session_flush(s);
}

void session_free(struct session *s)
{
	/* Never committed: the queue discards the data file. A commit already
	 * requested is left to finish: the queue answers into the void. */
	if (s->tx.id[0] && !s->waiting)
		smtp_server_abort(s->srv, s->tx.id);
	session_tx_reset(s);
	session_checks_free(s);
	buf_free(&s->tx.out);
	line_reader_free(&s->lines);
	log_info("event=disconnect session=%s client=%s", s->idtext, s->peer_text);
	smtp_server_forget(s->srv, s);
	event_free(s->deadline);
	session_timer_free(&s->slow_data);
	session_timer_free(&s->tls_timer);
	session_timer_free(&s->auth_timer);
	session_lookup_free(s);
	session_auth_reset(s);
	conn_free(s->conn);
	free(s);
}

const char *session_sender(const struct session *s)
{
	return s->tx.sender != NULL ? s->tx.sender : "";
}

void session_tx_reset(struct session *s)
{
	struct transaction *tx = &s->tx;
	session_checks_tx_reset(s);
	for (size_t i = 0; i < tx->n_rcpts; i++) {
		struct session_rcpt *r = &tx->rcpts[i];
		free(r->orcpt);
		for (size_t j = 0; j < r->n_users; j++)
			free(r->users[j]);
		free(r->users);
	}
	free(tx->rcpts);
	free(tx->sender);
	if (tx->fd != -1)
		close(tx->fd);
	struct buf out = tx->out;
	buf_reset(&out);
	memset(tx, 0, sizeof(*tx));
	tx->out = out;
	tx->fd = -1;
}

static void session_vreply(struct session *s, const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 2)
		n = sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	conn_write(s->conn, line, (size_t)n);
	if (log_verbose_enabled()) {
		char esc[512];
		log_debug("event=reply session=%s text=\"%s\"", s->idtext,
		          log_escape(esc, sizeof(esc), line, (size_t)n - 2));
	}
}

void session_reply(struct session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_vreply(s, fmt, ap);
	va_end(ap);
}

/* Send what the replies queued, now (conn_flush: one writev on a plain
 * socket, no event registration; the loop writes what is left). */
void session_flush(struct session *s)
{
	if (s->state != S_CLOSING)
		conn_flush(s->conn);
}

/*
 * A last reply, written at once as far as the socket takes it without
 * blocking, for a role about to exit (no event loop runs after this).
 */
void session_goodbye(struct session *s, const char *fmt, ...)
{
	if (s->state != S_CLOSING) { /* a closing one has its last reply queued */
		va_list ap;
		va_start(ap, fmt);
		session_vreply(s, fmt, ap);
		va_end(ap);
	}
	conn_flush_now(s->conn);
	log_info("event=session-abandoned session=%s client=%s", s->idtext, s->peer_text);
}

void session_close(struct session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	session_vreply(s, fmt, ap);
	va_end(ap);
	s->state = S_CLOSING;
	conn_set_timeouts(s->conn, 0, 10); /* a client that never reads must not hold us */
	conn_shutdown_read(s->conn);
	s->timeout = 0;
}

void session_refuse(struct session *s, const struct smtp_reply *r)
{
	s->errors++;
	if (s->errors > s->conf->limits.errors) {
		log_info("event=too-many-errors session=%s client=%s errors=%u", s->idtext,
		         s->peer_text, s->errors);
		smtp_server_count(s->srv, MET_SMTP_CUT_ERRORS);
		session_close(s, "421 4.7.0 %s Too many errors, closing connection",
		              s->conf->hostname);
		return;
	}
	session_reply(s, "%d %s %s", r->code, r->enh, r->text);
}

/* Feed buffered input to the reader of the current state, one command (or
 * one DATA section) at a time, until we must wait or input runs out. */
static void session_process(struct session *s)
{
	struct evbuffer *in = conn_input(s->conn);
	/* Never re-entered: a queue answer that comes back synchronously must
	 * not make us read bytes the outer loop has consumed but not drained. */
	if (s->processing)
		return;
	s->processing = 1;
	/* After STARTTLS the input buffer is another one (conn_start_tls): the
	 * state is checked before it is touched again. */
	while (!s->waiting && !s->checks_wait && s->state != S_CLOSING && s->state != S_TLS &&
	       evbuffer_get_length(in) > 0) {
		/* A client that pipelines without reading our replies waits. */
		if (conn_output_pending(s->conn) > SESSION_MAX_OUTPUT)
			break;
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		size_t used;
		if (s->state == S_DATA) {
			used = session_data_feed(s, v.iov_base, v.iov_len);
			s->data_octets += used;
			evbuffer_drain(in, used);
			continue;
		}
		enum line_result lr = line_reader_feed(&s->lines, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (s->state == S_AUTH && lr != LINE_MORE) {
			/* A response of an AUTH exchange, never a command. */
			session_auth_line(s, s->lines.line, s->lines.len, lr == LINE_TOO_LONG);
			continue;
		}
		if (lr == LINE_TOO_LONG) {
			struct smtp_reply r;
			smtp_reply_set(&r, 500, "5.5.2", "Line too long");
			session_refuse(s, &r);
		} else if (lr == LINE_DONE) {
			session_dispatch(s, s->lines.line, s->lines.len);
		}
	}
	s->processing = 0;
	if (s->state == S_CLOSING)
		return;
	session_flush(s);
	if (conn_output_pending(s->conn) > SESSION_MAX_OUTPUT)
		conn_pause_read(s->conn);
	else
		session_set_timeout(s);
}

void session_resume(struct session *s)
{
	session_process(s);
}

static void session_read_cb(struct conn *c, void *arg)
{
	struct session *s = arg;
	(void)c;
	if (s->state != S_TLS)
		session_process(s);
}

static void session_drain_cb(struct conn *c, void *arg)
{
	struct session *s = arg;
	if (s->state == S_CLOSING) {
		session_free(s);
		return;
	}
	/* Output drained: reading may resume if it was paused for backpressure. */
	if (!conn_reading(c)) {
		conn_resume_read(c);
		session_process(s);
	}
}

static void session_event_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct session *s = arg;
	char why[256];
	if (ev == CONN_TLS_READY) {
		session_tls_ready(s);
		return;
	}
	if (ev == CONN_TLS_FAILED || (s->state == S_TLS && ev != CONN_TIMEOUT)) {
		session_tls_failed(s, conn_tls_error(c, why, sizeof(why)));
		return;
	}
	if (ev == CONN_TIMEOUT && s->state == S_TLS) {
		session_tls_failed(s, "handshake timed out");
		return;
	}
	if (ev == CONN_TIMEOUT && s->state != S_CLOSING) {
		log_info("event=timeout session=%s client=%s state=%d", s->idtext, s->peer_text,
		         (int)s->state);
		smtp_server_count(s->srv, MET_SMTP_CUT_TIMEOUT);
		session_close(s, "421 4.4.2 %s Error: timeout exceeded", s->conf->hostname);
		return;
	}
	/* The client left (or a write failed). An outstanding queue answer is
	 * dropped by the server when it finds no session for it. */
	session_free(s);
}
