/*
 * server: the smtp role's main loop — accepts connections on the
 * listening sockets inherited from the parent, enforces the connection
 * limits, keeps the live sessions, and relays their spool requests to the
 * queue role over one ipc channel.
 */
#include "server.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "dmarc.h"
#include "dkim_keycache.h"
#include "dns.h"
#include "hmap.h"
#include "ipc.h"
#include "log.h"
#include "lookup.h"
#include "proto.h"
#include "session.h"
#include "tls_server.h"
#include "route_cache.h"
#include "ttl_cache.h"
#include "util.h"
#include "xmalloc.h"

/* One per listening socket: what accept_cb needs to know. */
struct acceptor {
	struct smtp_server *srv;
	const struct listener *l;
	struct event *ev;
	int fd;
};

/*
 * Spare spool files: under load the queue is often busy making a commit
 * batch durable, and a session that asked for its data file at DATA would
 * wait for that whole sync. So while several sessions are connected the
 * server keeps a few files the queue created ahead of time (at most one
 * for every two sessions, at most SPARES_MAX) and DATA takes one at once.
 * Uncommitted files, like any data file before COMMIT: the queue discards
 * them if we die, recovery if the machine does, and the server gives them
 * all back once SPARES_IDLE_SEC pass without a DATA (not as each session
 * ends: with a connection per message the count of sessions swings).
 */
#define SPARES_MAX      16
#define SPARE_REQ       0 /* the req number of a spare request; sessions use 1.. */
#define SPARES_IDLE_SEC 2

struct spare {
	char id[ENVELOPE_ID_MAX + 1];
	int fd;
};

struct smtp_server {
	const struct config *conf;
	struct event_base *base;
	struct tls_server *tls;
	struct ipc *queue;
	struct metrics_push *metrics;
	struct acceptor *acceptors;
	size_t n_acceptors;
	struct session *sessions; /* doubly linked: a session leaves in O(1) */
	size_t n_sessions;
	struct hmap *per_ip;  /* client address -> sessions from it */
	struct hmap *waiting; /* request number -> the session waiting for its answer */
	uint64_t next_session;
	uint64_t next_req;
	struct spare spares[SPARES_MAX];
	size_t n_spares;
	size_t spares_asked; /* spare requests without an answer yet */
	int data_started;    /* a DATA since the idle timer last fired */
	struct event *spares_idle;
	struct event *accept_resume; /* listeners paused: out of descriptors */
	time_t accept_logged;        /* the last "paused" log line */
	unsigned accept_pauses;      /* pauses since then */
	unsigned auth_delay_ms;      /* before a refused AUTH is answered */
	int retiring;             /* a reload replaced us: no new sessions; exit when none left */
	struct dns_resolver *dns; /* the checks' resolver, through the queue */
	struct dkim_keycache *dkim_keys; /* keys decoded for DKIM verification */
	const struct dmarc_psl *psl;
	uint64_t rng;
	struct ttl_cache *lookups; /* SQL table answers (session_lookup.c) */
	struct route_lookup hook;  /* routing's way to them */
};

/* The checks' questions wait at most this long for the resolver role (it
 * answers DNS_TIMEOUT after its own 5 s first), and this many answers are
 * kept for their TTL. */
#define SMTP_DNS_TIMEOUT_MS 6000
#define SMTP_DNS_CACHE      4096
#define SMTP_DKIM_KEYS      64 /* decoded signing keys kept (dkim_keycache.h) */

struct event_base *smtp_server_base(struct smtp_server *srv)
{
	return srv->base;
}

/* The per-IP key of a client address: family and address octets. */
static size_t ip_key(const struct sockaddr_storage *ss, uint8_t key[17])
{
	key[0] = (uint8_t)ss->ss_family;
	if (ss->ss_family == AF_INET) {
		memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 5;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(key + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 17;
	}
	return 1;
}

static size_t ip_count(const struct smtp_server *srv, const struct sockaddr_storage *ss)
{
	uint8_t key[17];
	size_t n = ip_key(ss, key);
	return (size_t)(uintptr_t)hmap_get(srv->per_ip, key, n);
}

static void ip_add(struct smtp_server *srv, const struct sockaddr_storage *ss, int delta)
{
	uint8_t key[17];
	size_t n = ip_key(ss, key);
	size_t c = (size_t)(uintptr_t)hmap_get(srv->per_ip, key, n);
	c = delta > 0 ? c + 1 : c - 1;
	if (c == 0)
		hmap_del(srv->per_ip, key, n);
	else
		hmap_put(srv->per_ip, key, n, (void *)(uintptr_t)c);
}

/* Refuse without creating a session: one non-blocking write, then close
 * (only close on an implicit-TLS listener: a TLS client could not read it). */
static void refuse_connection(int fd, const char *host, const char *why, int tls)
{
	if (tls) {
		close(fd);
		return;
	}
	char line[256];
	int n = snprintf(line, sizeof(line), "421 4.7.0 %s %s\r\n", host, why);
	ssize_t w = send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w;
	close(fd);
}

/* How long the listeners rest when descriptors run out, and how often
 * that is logged at most. */
#define ACCEPT_PAUSE_MSEC 100
#define ACCEPT_LOG_SEC    10

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *srv = arg;
	(void)fd;
	(void)what;
	for (size_t i = 0; i < srv->n_acceptors; i++)
		event_add(srv->acceptors[i].ev, NULL);
}

/*
 * Out of descriptors (or kernel memory): the level-triggered listener
 * would fire again at once and spin. Rest every listener for a moment —
 * sessions that end give descriptors back — and say so once in a while,
 * not once per attempt.
 */
static void accept_pause(struct smtp_server *srv, int err)
{
	for (size_t i = 0; i < srv->n_acceptors; i++)
		event_del(srv->acceptors[i].ev);
	struct timeval tv = {0, ACCEPT_PAUSE_MSEC * 1000};
	evtimer_add(srv->accept_resume, &tv);
	srv->accept_pauses++;
	time_t now = time(NULL);
	if (now - srv->accept_logged >= ACCEPT_LOG_SEC) {
		log_warn("event=accept-paused errno=%d reason=\"%s\" pauses=%u sessions=%zu", err,
		         strerror(err), srv->accept_pauses, srv->n_sessions);
		srv->accept_logged = now;
		srv->accept_pauses = 0;
	}
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	const struct acceptor *acc = arg;
	struct smtp_server *srv = acc->srv;
	(void)what;
	for (int burst = 0; burst < 64; burst++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			int e = errno;
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
				accept_pause(srv, e);
			else if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED)
				log_warn("event=accept-failed errno=%d", e);
			return;
		}
		const struct limits *lim = &srv->conf->limits;
		if (srv->n_sessions >= conf_connections_each(srv->conf)) {
			smtp_server_count(srv, MET_SMTP_CONN_REFUSED_LIMIT);
			log_info("event=connection-refused reason=\"too many connections\"");
			refuse_connection(fd, srv->conf->hostname,
			                  "Too many connections, try later", acc->l->tls);
			continue;
		}
		if (ip_count(srv, &ss) >= lim->per_ip) {
			smtp_server_count(srv, MET_SMTP_CONN_REFUSED_PER_IP);
			log_info("event=connection-refused reason=\"too many connections from one "
			         "address\"");
			refuse_connection(fd, srv->conf->hostname,
			                  "Too many connections from your address, try later",
			                  acc->l->tls);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		smtp_server_adopt(srv, fd, (struct sockaddr *)&ss, sl, acc->l);
	}
}

struct session *smtp_server_adopt(struct smtp_server *srv, int fd, const struct sockaddr *sa,
                                  socklen_t salen, const struct listener *l)
{
	struct session *s = session_new(srv, srv->conf, ++srv->next_session, fd, sa, salen, l);
	s->prev = NULL;
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->n_sessions++;
	ip_add(srv, &s->peer, 1);
	smtp_server_count(srv, MET_SMTP_CONN_ACCEPTED);
	metrics_gauge(srv->metrics, MET_SMTP_SESSIONS, srv->n_sessions);
	return s;
}

void smtp_server_set_tls(struct smtp_server *srv, struct tls_server *tls)
{
	srv->tls = tls;
}

struct tls_server *smtp_server_tls(const struct smtp_server *srv)
{
	return srv->tls;
}

int smtp_tls_check(const struct config *conf, char *err, size_t errlen)
{
	for (size_t i = 0; i < conf->n_certs; i++) {
		char why[512];
		struct tls_server_cert c = {conf->certs[i].cert, conf->certs[i].key};
		struct tls_server *t = tls_server_new(&c, 1, conf->hostname, why, sizeof(why));
		if (t == NULL) {
			snprintf(err, errlen, "%s:%d: %s", conf->file ? conf->file : "(built-in)",
			         conf->certs[i].line, why);
			return -1;
		}
		tls_server_free(t);
	}
	return 0;
}

struct smtp_prep *smtp_prepare(const struct config *conf)
{
	struct smtp_prep *p = xcalloc(1, sizeof(*p));
	p->tls = smtp_tls_prepare(conf);
	if (conf->dmarc != CHECK_OFF) {
		char err[256];
		p->psl = dmarc_psl_load(NULL, err, sizeof(err));
		if (p->psl == NULL)
			fatal_status(EX_CONFIG, "event=psl-load-failed reason=\"%s\"", err);
		log_info("event=psl-ready builtin=%d", dmarc_psl_builtin(p->psl));
	}
	return p;
}

struct tls_server *smtp_tls_prepare(const struct config *conf)
{
	char err[512];
	struct tls_server_cert *certs = xcalloc(conf->n_certs + 1, sizeof(*certs));
	for (size_t i = 0; i < conf->n_certs; i++) {
		certs[i].cert = conf->certs[i].cert;
		certs[i].key = conf->certs[i].key;
	}
	struct tls_server *t =
	    tls_server_new(certs, conf->n_certs, conf->hostname, err, sizeof(err));
	free(certs);
	if (t == NULL || tls_server_warm(t, err, sizeof(err)) == -1)
		fatal_status(EX_CONFIG, "event=tls-setup-failed reason=\"%s\"", err);
	log_info("event=tls-ready certificates=%zu self_signed=%d", conf->n_certs,
	         tls_server_self_signed(t));
	return t;
}

/* How many spare files the current number of sessions justifies. */
static size_t spares_wanted(const struct smtp_server *srv)
{
	if (srv->retiring)
		return 0;
	size_t n = srv->n_sessions / 2;
	return n > SPARES_MAX ? SPARES_MAX : n;
}

static void send_new_req(struct smtp_server *srv, uint64_t req)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, req);
	ipc_send(srv->queue, PROTO_NEW_REQ, b.data, b.len, -1);
	buf_free(&b);
}

/* Ask for spares up to the number the sessions justify. */
static void spares_top_up(struct smtp_server *srv)
{
	size_t want = spares_wanted(srv);
	while (srv->n_spares + srv->spares_asked < want) {
		srv->spares_asked++;
		send_new_req(srv, SPARE_REQ);
	}
	if (srv->n_spares + srv->spares_asked > 0 && !evtimer_pending(srv->spares_idle, NULL)) {
		struct timeval tv = {SPARES_IDLE_SEC, 0};
		evtimer_add(srv->spares_idle, &tv);
	}
}

static void spares_give_back(struct smtp_server *srv)
{
	while (srv->n_spares > 0) {
		struct spare *sp = &srv->spares[--srv->n_spares];
		close(sp->fd);
		smtp_server_abort(srv, sp->id);
	}
}

static void spares_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server *srv = arg;
	(void)fd;
	(void)what;
	if (!srv->data_started)
		spares_give_back(srv);
	srv->data_started = 0;
	if (srv->n_spares + srv->spares_asked > 0) {
		struct timeval tv = {SPARES_IDLE_SEC, 0};
		evtimer_add(srv->spares_idle, &tv);
	}
}

static void spare_arrived(struct smtp_server *srv, const char *id, int fd)
{
	if (srv->spares_asked > 0)
		srv->spares_asked--;
	if (srv->n_spares < SPARES_MAX) {
		struct spare *sp = &srv->spares[srv->n_spares++];
		snprintf(sp->id, sizeof(sp->id), "%s", id);
		sp->fd = fd;
		return;
	}
	close(fd);
	smtp_server_abort(srv, id);
}

void smtp_server_count(struct smtp_server *srv, enum metric_id id)
{
	metrics_count(srv->metrics, id);
}

struct metrics_push *smtp_server_metrics(struct smtp_server *srv)
{
	return srv->metrics;
}

void smtp_server_forget(struct smtp_server *srv, struct session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	srv->n_sessions--;
	ip_add(srv, &s->peer, -1);
	metrics_gauge(srv->metrics, MET_SMTP_SESSIONS, srv->n_sessions);
	if (s->waiting)
		hmap_del_u64(srv->waiting, s->req);
	if (srv->retiring && srv->n_sessions == 0)
		event_base_loopbreak(srv->base);
}

/*
 * A reload started our successor on the same listening sockets: stop
 * accepting (the kernel's queue of new connections is its now), give the
 * spare files back, and let the open sessions finish on the configuration
 * they started with; the role exits when the last one ends.
 */
static void retire(struct smtp_server *srv)
{
	if (srv->retiring)
		return;
	srv->retiring = 1;
	for (size_t i = 0; i < srv->n_acceptors; i++) {
		event_free(srv->acceptors[i].ev);
		close(srv->acceptors[i].fd);
	}
	srv->n_acceptors = 0;
	event_del(srv->accept_resume);
	spares_give_back(srv);
	log_info("event=smtp-retiring sessions=%zu", srv->n_sessions);
	if (srv->n_sessions == 0)
		event_base_loopbreak(srv->base);
}

/* The session an answer is for (no longer waiting for it), or NULL. */
static struct session *take_waiting(struct smtp_server *srv, uint64_t req)
{
	struct session *s = hmap_del_u64(srv->waiting, req);
	return s && s->waiting && s->req == req ? s : NULL;
}

void smtp_server_request_new(struct smtp_server *srv, struct session *s)
{
	s->req = ++srv->next_req;
	srv->data_started = 1;
	if (srv->n_spares > 0) {
		struct spare sp = srv->spares[--srv->n_spares];
		spares_top_up(srv);
		session_data_new_ok(s, sp.id, sp.fd);
		return;
	}
	hmap_put_u64(srv->waiting, s->req, s);
	send_new_req(srv, s->req);
	spares_top_up(srv);
}

void smtp_server_request_commit(struct smtp_server *srv, struct session *s,
                                const struct envelope_draft *e)
{
	struct buf b;
	buf_init(&b, 0);
	s->req = ++srv->next_req;
	if (proto_encode_commit(&b, s->req, e) == -1) {
		/* Never sent: tell the queue to drop the data file. */
		buf_free(&b);
		smtp_server_abort(srv, e->id);
		session_data_commit_fail(s, EINVAL, "envelope over limits");
		return;
	}
	if (b.len > IPC_MAX_PAYLOAD) {
		buf_free(&b);
		smtp_server_abort(srv, e->id);
		session_data_commit_fail(s, EMSGSIZE, "envelope too large");
		return;
	}
	hmap_put_u64(srv->waiting, s->req, s);
	ipc_send(srv->queue, PROTO_COMMIT_REQ, b.data, b.len, -1);
	buf_free(&b);
}

void smtp_server_request_auth(struct smtp_server *srv, struct session *s, const char *login,
                              const char *password)
{
	struct proto_auth_req a = {
	    .client = s->peer_text, .login = (char *)login, .password = (char *)password};
	struct buf b;
	buf_init(&b, 0);
	s->req = ++srv->next_req;
	a.req = s->req;
	s->waiting = 1;
	hmap_put_u64(srv->waiting, s->req, s);
	proto_encode_auth_req(&b, &a);
	ipc_send(srv->queue, PROTO_AUTH_REQ, b.data, b.len, -1);
	explicit_bzero(b.data, b.len); /* the password */
	buf_free(&b);
}

void smtp_server_request_lookup(struct smtp_server *srv, struct session *s, const char *table,
                                const char *key)
{
	struct lookup_req q = {.table = (char *)table, .key = (char *)key};
	struct buf b;
	buf_init(&b, 0);
	s->req = ++srv->next_req;
	q.req = s->req;
	s->waiting = 1;
	hmap_put_u64(srv->waiting, s->req, s);
	lookup_encode_req(&b, &q);
	ipc_send(srv->queue, PROTO_LOOKUP_REQ, b.data, b.len, -1);
	buf_free(&b);
}

const struct route_lookup *smtp_server_lookup_hook(const struct smtp_server *srv)
{
	return &srv->hook;
}

struct ttl_cache *smtp_server_lookups(struct smtp_server *srv)
{
	return srv->lookups;
}

void smtp_server_cancel(struct smtp_server *srv, struct session *s)
{
	if (s->waiting)
		hmap_del_u64(srv->waiting, s->req);
}

void smtp_server_set_auth_delay(struct smtp_server *srv, unsigned ms)
{
	srv->auth_delay_ms = ms;
}

unsigned smtp_server_auth_delay(const struct smtp_server *srv)
{
	return srv->auth_delay_ms;
}

struct dns_resolver *smtp_server_dns(const struct smtp_server *srv)
{
	return srv->dns;
}

struct dkim_keycache *smtp_server_dkim_keys(const struct smtp_server *srv)
{
	return srv->dkim_keys;
}

void smtp_server_set_psl(struct smtp_server *srv, const struct dmarc_psl *psl)
{
	srv->psl = psl;
}

const struct dmarc_psl *smtp_server_psl(const struct smtp_server *srv)
{
	return srv->psl;
}

uint32_t smtp_server_random(struct smtp_server *srv)
{
	return util_rand(&srv->rng);
}

/* A question of the checks, to the resolver role by way of the queue. */
static int dns_ask(void *arg, uint64_t id, const char *name, uint16_t type)
{
	struct smtp_server *srv = arg;
	struct proto_dns_req q = {.req = id, .type = type, .name = (char *)name};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_req(&b, &q);
	int rc = ipc_send(srv->queue, PROTO_DNS_REQ, b.data, b.len, -1);
	buf_free(&b);
	return rc;
}

static void dns_res(struct smtp_server *srv, const struct proto_dns_res *r)
{
	if (srv->dns == NULL)
		return;
	struct dns_raw raw = {
	    .answered = r->answered,
	    .status = (enum dns_status)r->status,
	    .rcode = r->rcode,
	    .sec = r->sec,
	    .pkt = r->pkt,
	    .len = r->len,
	    .why = r->why[0] ? r->why : NULL,
	};
	dns_remote_answer(srv->dns, r->req, &raw);
}

void smtp_server_abort(struct smtp_server *srv, const char *id)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_id(&b, id);
	ipc_send(srv->queue, PROTO_ABORT, b.data, b.len, -1);
	buf_free(&b);
}

/* A frame from the queue that does not decode: the queue is broken, and
 * the smtp role goes as if it had died (every session is told 421). */
static void queue_broken(struct smtp_server *srv, const struct ipc_msg *m)
{
	log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
	ipc_shutdown(srv->queue);
}

static void new_ok(struct smtp_server *srv, const struct ipc_msg *m)
{
	struct proto_reply r;
	if (proto_decode_new_ok(m->data, m->len, &r) == -1 || (m->fd == -1 && !m->fd_lost)) {
		queue_broken(srv, m);
		return;
	}
	struct session *s = r.req == SPARE_REQ ? NULL : take_waiting(srv, r.req);
	if (m->fd == -1) {
		/* Out of descriptors (EMFILE): this one request fails, 451. */
		if (r.req == SPARE_REQ && srv->spares_asked > 0)
			srv->spares_asked--;
		if (s)
			session_data_new_fail(s, EMFILE, "no descriptor for the spool file");
		smtp_server_abort(srv, r.id);
	} else if (r.req == SPARE_REQ) {
		spare_arrived(srv, r.id, m->fd);
	} else if (s) {
		session_data_new_ok(s, r.id, m->fd);
	} else {
		/* The client left meanwhile. */
		close(m->fd);
		smtp_server_abort(srv, r.id);
	}
	proto_reply_free(&r);
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct smtp_server *srv = arg;
	struct proto_reply r;
	uint64_t req;
	struct session *s;
	(void)ch;
	if (m->type == PROTO_NEW_OK) {
		new_ok(srv, m); /* owns m->fd */
		return;
	}
	if (m->fd != -1)
		close(m->fd);
	switch (m->type) {
	case PROTO_NEW_FAIL:
	case PROTO_COMMIT_FAIL:
		if (proto_decode_fail(m->data, m->len, &r) == -1) {
			queue_broken(srv, m);
			return;
		}
		/* A refused spare: the next DATA asks for itself and is told why. */
		if (r.req == SPARE_REQ && m->type == PROTO_NEW_FAIL && srv->spares_asked > 0)
			srv->spares_asked--;
		s = r.req == SPARE_REQ ? NULL : take_waiting(srv, r.req);
		if (s && m->type == PROTO_NEW_FAIL)
			session_data_new_fail(s, r.error, r.reason);
		else if (s)
			session_data_commit_fail(s, r.error, r.reason);
		proto_reply_free(&r);
		break;
	case PROTO_AUTH_RES: {
		struct proto_auth_res a;
		if (proto_decode_auth_res(m->data, m->len, &a) == -1) {
			queue_broken(srv, m);
			return;
		}
		s = take_waiting(srv, a.req);
		if (s && s->state == S_AUTH)
			session_auth_result(s, a.status, a.login);
		proto_auth_res_free(&a);
		break;
	}
	case PROTO_DNS_RES: {
		struct proto_dns_res d;
		if (proto_decode_dns_res(m->data, m->len, &d) == -1) {
			queue_broken(srv, m);
			return;
		}
		dns_res(srv, &d);
		proto_dns_res_free(&d);
		break;
	}
	case PROTO_RETIRE:
		if (proto_decode_req(m->data, m->len, &req) == -1) {
			queue_broken(srv, m);
			return;
		}
		retire(srv);
		break;
	case PROTO_LOOKUP_RES: {
		struct lookup_res lr;
		if (lookup_decode_res(m->data, m->len, &lr) == -1) {
			queue_broken(srv, m);
			return;
		}
		s = take_waiting(srv, lr.req);
		if (s)
			session_lookup_result(s, lr.status, lr.value);
		lookup_res_free(&lr);
		break;
	}
	case PROTO_COMMIT_OK:
		if (proto_decode_req(m->data, m->len, &req) == -1) {
			queue_broken(srv, m);
			return;
		}
		s = take_waiting(srv, req);
		if (s)
			session_data_commit_ok(s);
		break;
	default:
		queue_broken(srv, m);
	}
}

static void queue_closed(struct ipc *ch, void *arg)
{
	struct smtp_server *srv = arg;
	(void)ch;
	/*
	 * Without the queue nothing can be accepted; the parent restarts us.
	 * Every client is told to come back rather than left to time out; one
	 * waiting for its 250 after DATA may have been committed or not, and
	 * a 4xx makes it send again: a duplicate at worst, never a loss.
	 */
	for (struct session *s = srv->sessions; s; s = s->next)
		session_goodbye(s, "421 4.3.0 %s Service restarting, try again shortly",
		                srv->conf->hostname);
	log_warn("event=queue-channel-closed sessions=%zu", srv->n_sessions);
	exit(1);
}

struct smtp_server *smtp_server_new(const struct config *conf, struct event_base *base,
                                    int queue_sock)
{
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));
	srv->conf = conf;
	srv->base = base;
	struct ipc_handlers h = {queue_msg, queue_closed, srv};
	srv->queue = ipc_new(base, queue_sock, &h);
	srv->metrics = metrics_push_new(base, srv->queue);
	srv->spares_idle = evtimer_new(base, spares_idle_cb, srv);
	srv->per_ip = hmap_new();
	srv->accept_resume = evtimer_new(base, accept_resume_cb, srv);
	srv->waiting = hmap_new();
	srv->auth_delay_ms = 1000;
	srv->rng = ((uint64_t)time(NULL) << 32) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
	if (conf_checks_on(conf)) {
		struct dns_remote_ops ops = {dns_ask, srv};
		srv->dns = dns_new_remote(base, &ops, SMTP_DNS_TIMEOUT_MS, SMTP_DNS_CACHE);
		srv->dkim_keys = dkim_keycache_new(SMTP_DKIM_KEYS);
	}
	srv->lookups = ttl_cache_new(ROUTE_CACHE_MAX, ROUTE_CACHE_TTL);
	srv->hook.fn = route_cache_get;
	srv->hook.arg = srv->lookups;
	/* Session ids count on from the start time, so that a restarted role
	 * does not reuse the ids already in the log (2^20 sessions a second);
	 * the top bits tell the smtp processes (limits smtp-processes) apart. */
	srv->next_session =
	    ((uint64_t)((unsigned)getpid() & 0xfffu) << 52) | ((uint64_t)time(NULL) << 20);
	return srv;
}

void smtp_server_listen(struct smtp_server *srv, const struct listen_fd *fds, size_t nfds)
{
	srv->acceptors = xcalloc(nfds, sizeof(*srv->acceptors));
	srv->n_acceptors = nfds;
	for (size_t i = 0; i < nfds; i++) {
		struct acceptor *acc = &srv->acceptors[i];
		acc->srv = srv;
		acc->l = fds[i].l;
		acc->fd = fds[i].fd;
		evutil_make_socket_nonblocking(fds[i].fd);
		acc->ev = event_new(srv->base, fds[i].fd, EV_READ | EV_PERSIST, accept_cb, acc);
		event_add(acc->ev, NULL);
	}
}

void smtp_server_free(struct smtp_server *srv)
{
	while (srv->sessions)
		session_free(srv->sessions);
	spares_give_back(srv);
	event_free(srv->spares_idle);
	event_free(srv->accept_resume);
	for (size_t i = 0; i < srv->n_acceptors; i++)
		event_free(srv->acceptors[i].ev);
	free(srv->acceptors);
	metrics_push_free(srv->metrics);
	dns_free(srv->dns);
	dkim_keycache_free(srv->dkim_keys);
	ipc_free(srv->queue);
	hmap_free(srv->per_ip);
	hmap_free(srv->waiting);
	ttl_cache_free(srv->lookups);
	free(srv);
}

void smtp_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    const struct listen_fd *fds, size_t nfds, struct smtp_prep *prep)
{
	struct smtp_server *srv = smtp_server_new(conf, base, queue_sock);
	smtp_server_set_tls(srv, prep->tls);
	smtp_server_set_psl(srv, prep->psl);
	smtp_server_listen(srv, fds, nfds);
	log_info("event=smtp-ready listeners=%zu", nfds);
	event_base_dispatch(base);
	log_info("event=smtp-retired");
	exit(0);
}
