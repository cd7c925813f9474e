/*
 * relay_session: one outbound connection. It drives the pure client engine
 * (client.h) over the connection layer (src/net/conn.h): connect to the
 * destination's addresses in turn (a refused or timed-out connection, a
 * 4xx/5xx greeting, a failed EHLO, a failed handshake move on to the next
 * address; opportunistic TLS that fails is retried on the same address in
 * plaintext), then carry the destination's jobs one after another — the
 * body streamed from the spool file, dot-stuffed — and wait a few seconds
 * for more before saying QUIT. Every recipient's outcome is logged in one
 * line with the host, the TLS in use, the delays and the remote reply.
 * LMTP destinations are driven the same way, the engine in LMTP mode; a
 * unix-domain socket is connected by the parent (relay_lmtp.c) and never
 * offered STARTTLS.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "crc32c.h"
#include "log.h"
#include "relay_int.h"
#include "xmalloc.h"

/* Body octets queued on the connection before reading more from the spool. */
#define BODY_HIGH_WATER (256 * 1024)
#define BODY_CHUNK      (64 * 1024)

enum sess_state { SS_CONNECTING = 1, SS_SETUP, SS_BUSY, SS_IDLE, SS_CLOSED };

struct relay_sess {
	struct relay_dest *d;
	struct conn *conn;
	struct client *cl;
	enum sess_state state;
	size_t addr_i;   /* the address being tried */
	int plain_retry; /* opportunistic TLS failed here: this attempt without it */
	int established; /* reached the point of taking mail at least once */
	int delivered;   /* carried a message to its end */
	int conn_failures;
	char last_failure[RELAY_TEXT_MAX];
	struct relay_job *job;
	off_t body_off;
	uint32_t body_crc; /* CRC-32C of the octets read so far */
	int body_sent;
	struct dotstuff ds;
	struct buf body;
	struct event *timer;
	unsigned msgs;
	char tls[160]; /* "TLSv1.3/TLS_AES_256_GCM_SHA384 verified" or "none" */
	struct timeval t_connect, t_ready;
	struct relay_sess *next; /* the destination's idle list */
};

static void pump(struct relay_sess *s);
static void try_address(struct relay_sess *s);

static const struct relay_addr *addr(const struct relay_sess *s)
{
	return &s->d->route.addr[s->addr_i];
}

static void idle_unlink(struct relay_sess *s)
{
	for (struct relay_sess **pp = &s->d->idle; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			s->next = NULL;
			return;
		}
}

/* "host[ip]:port", or "host[/path]" for a unix-domain socket. */
static const char *where(const struct relay_sess *s, char *buf, size_t len)
{
	if (s->d->port == 0)
		snprintf(buf, len, "%s[%s]", addr(s)->host, addr(s)->ip);
	else
		snprintf(buf, len, "%s[%s]:%u", addr(s)->host, addr(s)->ip, s->d->port);
	return buf;
}

static double secs(const struct timeval *a, const struct timeval *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_usec - a->tv_usec) / 1e6;
}

/* ---- outcomes ---- */

static const char *status_name(enum client_status st)
{
	return st == CLIENT_OK ? "sent" : st == CLIENT_PERM ? "bounced" : "deferred";
}

/* "X.Y.Z host H[ip] said: 550 5.1.1 ... (in reply to RCPT TO)", or our own reason. */
static void outcome_text(const struct relay_sess *s, const struct client_result *r, char *out,
                         size_t len)
{
	const char *enh = r->enh[0]                  ? r->enh
	                  : r->status == CLIENT_OK   ? "2.0.0"
	                  : r->status == CLIENT_PERM ? "5.0.0"
	                                             : "4.0.0";
	if (r->code == 0) {
		snprintf(out, len, "%s %s", enh, r->text && r->text[0] ? r->text : "failed");
		return;
	}
	snprintf(out, len, "%s host %s[%s] said: %d %s (in reply to %s)", enh, addr(s)->host,
	         addr(s)->ip, r->code, r->text ? r->text : "", client_stage_name(r->stage));
}

static void finish_job(struct relay_sess *s)
{
	struct relay_job *j = s->job;
	s->job = NULL;
	size_t n = 0;
	const struct client_result *res = client_results(s->cl, &n);
	struct timeval now;
	event_base_gettimeofday_cached(s->d->r->base, &now);
	struct timeval arrival = {(time_t)j->d.arrival, 0};
	int ok = 0;
	char at[400];
	where(s, at, sizeof(at));
	for (size_t k = 0; k < j->d.n; k++) {
		const struct client_result *r = k < n ? &res[k] : NULL;
		char text[RELAY_TEXT_MAX], to[600], esc[RELAY_TEXT_MAX * 2];
		if (j->damage[0]) {
			snprintf(text, sizeof(text), "%s", j->damage);
			j->status[k] = DELIVER_CORRUPT;
		} else if (r == NULL || r->status == CLIENT_PENDING) {
			snprintf(text, sizeof(text), "4.4.2 host %s[%s]: no outcome", addr(s)->host,
			         addr(s)->ip);
			j->status[k] = DELIVER_TEMP;
		} else {
			outcome_text(s, r, text, sizeof(text));
			j->status[k] = r->status == CLIENT_OK     ? DELIVER_OK
			               : r->status == CLIENT_PERM ? DELIVER_PERM
			                                          : DELIVER_TEMP;
			j->rflags[k] = r->relayed ? PROTO_RCPT_RELAYED : 0;
			ok |= r->status == CLIENT_OK;
		}
		free(j->text[k]);
		j->text[k] = xstrdup(text);
		log_escape(to, sizeof(to), j->d.addr[k], strlen(j->d.addr[k]));
		log_escape(esc, sizeof(esc), text, strlen(text));
		log_info("event=%s id=%s rcpt=%u to=\"%s\" relay=%s tls=%s delay=%.2f "
		         "delays=%.2f/%.2f/%.2f dsn=%s status=%s reply=\"%s\"",
		         s->d->lmtp ? "lmtp" : "relay", j->d.id, j->d.idx[k], to, at, s->tls,
		         secs(&arrival, &now), secs(&arrival, &j->t_arrived),
		         secs(&j->t_arrived, &j->t_started), secs(&j->t_started, &now),
		         r && r->enh[0]               ? r->enh
		         : j->status[k] == DELIVER_OK ? "2.0.0"
		                                      : "4.0.0",
		         r ? status_name(r->status) : "deferred", esc);
	}
	s->delivered |= ok;
	s->msgs++;
	buf_reset(&s->body);
	relay_job_done(j);
}

/* ---- closing ---- */

static void sess_free(struct relay_sess *s)
{
	relay_lmtp_cancel(s->d->r, s);
	if (s->conn)
		conn_free(s->conn);
	if (s->cl)
		client_free(s->cl);
	if (s->timer)
		event_free(s->timer);
	buf_free(&s->body);
	free(s);
}

/*
 * The connection is over. A job in flight gets its outcomes. A session
 * that never got to take mail failed at setup: the next address is tried,
 * and when none is left the destination's waiting jobs learn why.
 */
static void sess_closed(struct relay_sess *s)
{
	struct relay_dest *d = s->d;
	idle_unlink(s);
	if (s->job)
		finish_job(s);
	const struct client_result *f = s->cl ? client_session(s->cl) : NULL;
	int setup_failed = !s->established;
	/* Our own reason (connect, certificate) says more than the engine's. */
	if (setup_failed && f && f->status != CLIENT_PENDING && s->last_failure[0] == '\0')
		outcome_text(s, f, s->last_failure, sizeof(s->last_failure));
	/* f lives in the client, freed below. */
	int tls_failed = f && (f->stage == CLIENT_STAGE_TLS || f->stage == CLIENT_STAGE_STARTTLS);
	if (s->conn) {
		conn_free(s->conn);
		s->conn = NULL;
	}
	if (s->cl) {
		client_free(s->cl);
		s->cl = NULL;
	}
	if (setup_failed) {
		/* Opportunistic TLS that failed: the same host, in plaintext. */
		int may = d->action == NULL || !d->action->relay_tls;
		if (tls_failed && may && !s->plain_retry) {
			s->plain_retry = 1;
			try_address(s);
			return;
		}
		s->plain_retry = 0;
		if (++s->addr_i < d->route.n) {
			try_address(s);
			return;
		}
		/* Every host failed: the jobs waiting here are deferred, and
		 * if no host even answered, the destination is down. */
		uint32_t flags = s->conn_failures == (int)d->route.n ? PROTO_DEST_UNREACHABLE : 0;
		char text[RELAY_TEXT_MAX];
		snprintf(text, sizeof(text), "%s",
		         s->last_failure[0] ? s->last_failure : "4.4.1 no host answered");
		/* Even a 5xx greeting everywhere is deferred, not bounced: a
		 * site refusing all service now may serve later, and the
		 * lifetime bounds the wait. */
		struct relay_job *j;
		if (d->sessions == 1) /* the last hope of the jobs waiting here */
			while ((j = relay_dest_take(d)) != NULL)
				relay_job_fail(j, DELIVER_TEMP, text, flags);
	}
	int delivered = s->delivered;
	sess_free(s);
	relay_dest_session_gone(d, delivered);
}

/* ---- timers ---- */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_sess *s = arg;
	(void)fd;
	(void)what;
	if (s->state == SS_IDLE) {
		/* No more mail came: QUIT. */
		idle_unlink(s);
		s->state = SS_BUSY;
		client_quit(s->cl);
		pump(s);
		return;
	}
	if (s->state == SS_CONNECTING) {
		char at[400];
		snprintf(s->last_failure, sizeof(s->last_failure), "4.4.1 connect to %s: timed out",
		         where(s, at, sizeof(at)));
		s->conn_failures++;
		metrics_count(s->d->r->metrics, MET_RELAY_CONNECT_FAILED);
		sess_closed(s);
		return;
	}
	client_abort(s->cl, CLIENT_ABORT_TIMEOUT);
	pump(s);
}

static void arm(struct relay_sess *s, unsigned seconds)
{
	struct timeval tv = {seconds, 0};
	evtimer_add(s->timer, &tv);
}

/* ---- the body ---- */

/*
 * The message read whole: is it what its envelope recorded at commit? If
 * not, the job is marked damaged (finish_job reports DELIVER_CORRUPT and the
 * queue sets the message aside): never sent, whole or half.
 */
static int body_intact(struct relay_sess *s)
{
	struct relay_job *j = s->job;
	if (!j->d.has_crc || ((uint64_t)s->body_off == j->d.size && s->body_crc == j->d.crc))
		return 1;
	snprintf(j->damage, sizeof(j->damage),
	         "4.3.0 spool data damaged: read %llu octets with CRC-32C %08x, the envelope "
	         "recorded %llu with %08x",
	         (unsigned long long)s->body_off, s->body_crc, (unsigned long long)j->d.size,
	         j->d.crc);
	log_warn("event=relay-data-corrupt id=%s reason=\"%s\"", j->d.id, j->damage);
	return 0;
}

/* Queue more of the message on the connection; 1 when all of it is out. */
static int send_body(struct relay_sess *s)
{
	struct relay_job *j = s->job;
	uint8_t chunk[BODY_CHUNK];
	while (conn_output_pending(s->conn) < BODY_HIGH_WATER) {
		ssize_t n = pread(j->fd, chunk, sizeof(chunk), s->body_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_warn("event=relay-read-failed id=%s errno=%d", j->d.id, errno);
			client_abort(s->cl, CLIENT_ABORT_EOF);
			return 0;
		}
		buf_reset(&s->body);
		if (n == 0 && !body_intact(s)) {
			/* Without the final dot the peer discards what it got. */
			client_abort(s->cl, CLIENT_ABORT_EOF);
			return 0;
		}
		if (n == 0) {
			dotstuff_finish(&s->ds, &s->body);
			conn_write(s->conn, s->body.data, s->body.len);
			conn_flush(s->conn);
			return 1;
		}
		s->body_off += n;
		s->body_crc = crc32c_update(s->body_crc, chunk, (size_t)n);
		dotstuff_feed(&s->ds, chunk, (size_t)n, &s->body);
		conn_write(s->conn, s->body.data, s->body.len);
	}
	conn_flush(s->conn);
	return 0; /* on_drain brings us back */
}

/* ---- the engine ---- */

static void start_tls(struct relay_sess *s)
{
	SSL *ssl = SSL_new(s->d->r->tls);
	if (ssl == NULL) {
		client_abort(s->cl, CLIENT_ABORT_TLS);
		return;
	}
	const char *host = addr(s)->host;
	if (host[0] != '[') {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set1_host(ssl, host); /* the verification result covers the name */
	}
	if (conn_start_tls(s->conn, ssl) == -1)
		client_abort(s->cl, CLIENT_ABORT_TLS);
}

/* What the engine wants next, as far as it can go without waiting. */
static void pump(struct relay_sess *s)
{
	for (;;) {
		size_t len;
		const uint8_t *out = client_output(s->cl, &len);
		if (out != NULL && len > 0) {
			conn_write(s->conn, out, len);
			client_output_done(s->cl, len);
		}
		switch (client_want(s->cl)) {
		case CLIENT_WANT_REPLY: {
			conn_flush(s->conn);
			unsigned t = client_timeout(s->cl);
			arm(s, t ? t : 300);
			struct evbuffer *in = conn_input(s->conn);
			size_t have = evbuffer_get_length(in);
			if (have == 0)
				return;
			const uint8_t *p = evbuffer_pullup(in, (ssize_t)have);
			size_t used = client_feed(s->cl, p, have);
			evbuffer_drain(in, used);
			if (used == 0 && client_want(s->cl) == CLIENT_WANT_REPLY)
				return;
			continue;
		}
		case CLIENT_WANT_TLS:
			conn_flush(s->conn);
			arm(s, 60);
			start_tls(s);
			return;
		case CLIENT_WANT_MESSAGE: {
			evtimer_del(s->timer);
			if (!s->established) {
				s->established = 1;
				event_base_gettimeofday_cached(s->d->r->base, &s->t_ready);
			}
			if (s->job)
				finish_job(s);
			struct relay_job *j =
			    s->msgs < RELAY_MSGS_PER_CONN ? relay_dest_take(s->d) : NULL;
			if (j == NULL && s->msgs >= RELAY_MSGS_PER_CONN) {
				client_quit(s->cl);
				continue;
			}
			if (j == NULL) {
				/* Wait a little for more mail to this destination. */
				s->state = SS_IDLE;
				s->next = s->d->idle;
				s->d->idle = s;
				arm(s, s->d->r->conf->relay_timeout.idle);
				conn_flush(s->conn);
				return;
			}
			relay_session_give(s, j);
			return;
		}
		case CLIENT_WANT_BODY:
			if (!s->body_sent && send_body(s)) {
				s->body_sent = 1;
				client_body_done(s->cl);
				continue;
			}
			if (s->body_sent || client_want(s->cl) != CLIENT_WANT_BODY)
				continue; /* sent, or given up (the spool could not be read) */
			arm(s, 180);
			return;
		case CLIENT_WANT_CLOSE:
			conn_flush_now(s->conn);
			s->state = SS_CLOSED;
			evtimer_del(s->timer);
			sess_closed(s);
			return;
		}
	}
}

void relay_session_give(struct relay_sess *s, struct relay_job *j)
{
	idle_unlink(s);
	evtimer_del(s->timer);
	s->state = SS_BUSY;
	s->job = j;
	s->body_off = 0;
	s->body_crc = 0;
	s->body_sent = 0;
	dotstuff_init(&s->ds);
	event_base_gettimeofday_cached(s->d->r->base, &j->t_started);
	struct client_rcpt *rc = xcalloc(j->d.n, sizeof(*rc));
	for (size_t k = 0; k < j->d.n; k++) {
		rc[k].addr = j->rcpt_to ? j->rcpt_to[k] : j->d.addr[k];
		rc[k].orcpt = j->d.orcpt[k][0] ? j->d.orcpt[k] : NULL;
		rc[k].notify = j->d.notify[k];
	}
	struct client_msg m = {
	    .sender = j->d.sender,
	    .size = j->d.size,
	    .eightbit = j->d.body == BODY_8BITMIME || j->d.body == BODY_BINARYMIME,
	    .smtputf8 = j->d.smtputf8,
	    .ret = j->d.ret,
	    .envid = j->d.envid[0] ? j->d.envid : NULL,
	    .n_rcpts = j->d.n,
	    .rcpts = rc,
	};
	char err[256];
	if (client_message(s->cl, &m, err, sizeof(err)) == -1) {
		/* The engine refused the call itself: a bug, not the peer's doing. */
		log_warn("event=relay-message-refused id=%s reason=\"%s\"", j->d.id, err);
		s->job = NULL;
		relay_job_fail(j, DELIVER_TEMP, "4.3.0 internal error in the relay", 0);
		free(rc);
		client_quit(s->cl);
		pump(s);
		return;
	}
	free(rc);
	pump(s);
}

/* ---- the connection ---- */

static void on_read(struct conn *c, void *arg)
{
	(void)c;
	pump(arg);
}

static void on_drain(struct conn *c, void *arg)
{
	struct relay_sess *s = arg;
	(void)c;
	if (s->job && !s->body_sent && client_want(s->cl) == CLIENT_WANT_BODY)
		pump(s);
}

static void tls_info(struct relay_sess *s)
{
	SSL *ssl = conn_tls(s->conn);
	if (ssl == NULL) {
		snprintf(s->tls, sizeof(s->tls), "none");
		return;
	}
	long v = SSL_get_verify_result(ssl);
	snprintf(s->tls, sizeof(s->tls), "%s/%s/%s", SSL_get_version(ssl),
	         SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)),
	         v == X509_V_OK ? "verified" : "unverified");
}

static void on_event(struct conn *c, enum conn_event ev, void *arg)
{
	struct relay_sess *s = arg;
	(void)c;
	char why[256];
	switch (ev) {
	case CONN_CONNECTED:
		metrics_count(s->d->r->metrics, MET_RELAY_CONNECTED);
		s->state = SS_SETUP;
		evtimer_del(s->timer);
		pump(s);
		return;
	case CONN_TLS_READY: {
		tls_info(s);
		SSL *ssl = conn_tls(s->conn);
		long v = SSL_get_verify_result(ssl);
		int required = s->d->action && s->d->action->relay_tls;
		metrics_count(s->d->r->metrics,
		              v == X509_V_OK ? MET_RELAY_TLS_VERIFIED : MET_RELAY_TLS_UNVERIFIED);
		if (required && v != X509_V_OK) {
			snprintf(s->last_failure, sizeof(s->last_failure),
			         "4.7.5 host %s[%s]: certificate verification failed: %s",
			         addr(s)->host, addr(s)->ip, X509_verify_cert_error_string(v));
			client_abort(s->cl, CLIENT_ABORT_TLS);
		} else {
			client_tls_done(s->cl);
		}
		pump(s);
		return;
	}
	case CONN_TLS_FAILED:
		metrics_count(s->d->r->metrics, MET_RELAY_TLS_FAILED);
		snprintf(s->last_failure, sizeof(s->last_failure),
		         "4.7.5 host %s[%s]: TLS handshake: %s", addr(s)->host, addr(s)->ip,
		         conn_tls_error(s->conn, why, sizeof(why)));
		client_abort(s->cl, CLIENT_ABORT_TLS);
		pump(s);
		return;
	case CONN_TIMEOUT:
		client_abort(s->cl, CLIENT_ABORT_TIMEOUT);
		pump(s);
		return;
	case CONN_EOF:
	case CONN_ERROR:
		if (s->state == SS_CONNECTING) {
			char at[400];
			snprintf(
			    s->last_failure, sizeof(s->last_failure), "4.4.1 connect to %s: %s",
			    where(s, at, sizeof(at)),
			    strerror(conn_error(s->conn) ? conn_error(s->conn) : ECONNREFUSED));
			s->conn_failures++;
			metrics_count(s->d->r->metrics, MET_RELAY_CONNECT_FAILED);
			evtimer_del(s->timer);
			sess_closed(s);
			return;
		}
		client_abort(s->cl, CLIENT_ABORT_EOF);
		pump(s);
		return;
	}
}

static void try_address(struct relay_sess *s)
{
	struct relay_dest *d = s->d;
	const struct action *a = d->action;
	const struct table *auth = a ? a->relay_auth : NULL;
	const char *user = NULL, *pass = NULL;
	if (auth != NULL)
		table_first(auth, &user, &pass);
	const struct relay_timeouts *tmo = &d->r->conf->relay_timeout;
	const struct relay_addr *ad = addr(s);
	int local_sock = ad->ss.ss_family == AF_UNIX;
	struct client_config cfg = {
	    .helo_name = d->r->conf->hostname,
	    .tls = s->plain_retry || local_sock ? CLIENT_TLS_NONE
	           : a != NULL && a->relay_tls  ? CLIENT_TLS_REQUIRE
	                                        : CLIENT_TLS_MAY,
	    .auth_user = user,
	    .auth_pass = pass,
	    .timeout = {.greeting = tmo->greeting,
	                .command = tmo->command,
	                .data = tmo->data,
	                .block = tmo->block,
	                .dot = tmo->dot},
	    .lmtp = d->lmtp,
	};
	s->cl = client_new(&cfg);
	s->state = SS_CONNECTING;
	s->last_failure[0] = '\0';
	s->established = 0;
	snprintf(s->tls, sizeof(s->tls), "none");
	struct conn_handlers h = {on_read, on_drain, on_event, s};
	event_base_gettimeofday_cached(d->r->base, &s->t_connect);
	if (local_sock) {
		arm(s, tmo->connect);
		relay_lmtp_connect(s, d); /* relay_session_connected() follows */
		return;
	}
	s->conn = conn_connect(d->r->base, (const struct sockaddr *)&ad->ss, ad->len, &h);
	if (s->conn == NULL) {
		char at[400];
		snprintf(s->last_failure, sizeof(s->last_failure), "4.4.1 connect to %s: %s",
		         where(s, at, sizeof(at)), strerror(errno));
		s->conn_failures++;
		metrics_count(s->d->r->metrics, MET_RELAY_CONNECT_FAILED);
		sess_closed(s);
		return;
	}
	arm(s, tmo->connect);
}

void relay_session_connected(struct relay_sess *s, int fd, int err)
{
	struct conn_handlers h = {on_read, on_drain, on_event, s};
	if (fd != -1) {
		s->conn = conn_accept(s->d->r->base, fd, &h); /* closes fd on failure */
		if (s->conn == NULL)
			err = ENOMEM;
	}
	if (s->conn == NULL) {
		char at[400];
		snprintf(s->last_failure, sizeof(s->last_failure), "4.4.1 connect to %s: %s",
		         where(s, at, sizeof(at)), strerror(err));
		s->conn_failures++;
		evtimer_del(s->timer);
		sess_closed(s);
		return;
	}
	on_event(s->conn, CONN_CONNECTED, s);
}

void relay_session_start(struct relay_dest *d)
{
	struct relay_sess *s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->timer = evtimer_new(d->r->base, timer_cb, s);
	buf_init(&s->body, 0);
	d->sessions++;
	try_address(s);
}
