/* session_harness: in-process smtp server with a fake queue (see .h). */
#include "session_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "tls_server.h"
#include "xmalloc.h"

static void fake_queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct harness *h = arg;
	struct buf b;
	buf_init(&b, 0);
	if (m->type == PROTO_NEW_REQ) {
		uint64_t req;
		if (proto_decode_req(m->data, m->len, &req) == -1)
			abort();
		char id[32];
		snprintf(id, sizeof(id), "T%06zu", ++h->news);
		int fd = memfd_create("spool", MFD_CLOEXEC);
		if (fd == -1)
			abort();
		/* Sessions run one transaction at a time: the newest file is the
		 * one the next COMMIT describes. */
		if (h->last_fd != -1)
			close(h->last_fd);
		h->last_fd = fd;
		proto_encode_new_ok(&b, req, id);
		ipc_send(ch, PROTO_NEW_OK, b.data, b.len, fd);
	} else if (m->type == PROTO_COMMIT_REQ) {
		struct proto_commit c;
		char err[128];
		if (proto_decode_commit(m->data, m->len, &c, err, sizeof(err)) == -1)
			abort();
		/* The data the session wrote: read it back through our copy. */
		int fd = h->last_fd;
		buf_reset(&h->last_data);
		if (fd != -1) {
			char tmp[65536];
			off_t off = 0;
			ssize_t r;
			while ((r = pread(fd, tmp, sizeof(tmp), off)) > 0) {
				buf_append(&h->last_data, tmp, (size_t)r);
				off += r;
			}
		}
		if (h->last_data.len != c.env.size)
			abort(); /* the envelope must describe the data exactly */
		snprintf(h->last_sender, sizeof(h->last_sender), "%s", c.env.sender);
		h->last_rcpts = c.env.n_rcpts;
		h->commits++;
		proto_encode_req(&b, c.req);
		ipc_send(ch, PROTO_COMMIT_OK, b.data, b.len, -1);
		envelope_free(&c.env);
	} else if (m->type == PROTO_ABORT) {
		h->aborts++;
	} else if (m->type == PROTO_AUTH_REQ) {
		struct proto_auth_req a;
		if (proto_decode_auth_req(m->data, m->len, &a) == -1)
			abort();
		struct proto_auth_res r = {.req = a.req, .status = AUTH_FAIL, .login = ""};
		if (strcasecmp(a.login, "alice") == 0 && strcmp(a.password, "secret") == 0) {
			r.status = AUTH_OK;
			r.login = "alice";
		} else if (strcmp(a.password, "locked") == 0) {
			r.status = AUTH_LOCKED;
		} else if (strcmp(a.password, "tempfail") == 0) {
			r.status = AUTH_TEMP;
		}
		snprintf(h->last_login, sizeof(h->last_login), "%s", a.login);
		snprintf(h->last_client, sizeof(h->last_client), "%s", a.client);
		h->auths++;
		proto_encode_auth_res(&b, &r);
		ipc_send(ch, PROTO_AUTH_RES, b.data, b.len, -1);
		proto_auth_req_free(&a);
	} else if (m->type == PROTO_COUNTERS) {
		struct metric_values mv;
		if (metrics_decode_counters(m->data, m->len, PEER_SMTP, &mv) == -1)
			abort();
		for (size_t i = 0; i < MET_COUNT; i++)
			if (mv.set[i] && metric_def((enum metric_id)i)->type == PROM_GAUGE)
				h->counted[i] = mv.v[i];
			else if (mv.set[i])
				h->counted[i] += mv.v[i];
	} else {
		abort();
	}
	buf_free(&b);
	if (m->fd != -1)
		close(m->fd);
}

static void fake_queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
}

struct harness *harness_new(struct config *conf)
{
	struct harness_opts o = {NULL, NULL};
	return harness_new_opts(conf, &o);
}

struct harness *harness_new_opts(struct config *conf, const struct harness_opts *o)
{
	struct harness *h = xcalloc(1, sizeof(*h));
	/* The client's TLS writes with write(2): a closed server must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	h->conf = conf ? conf : conf_default();
	h->tls = o->tls;
	if (h->tls == NULL) {
		char err[256];
		h->tls = tls_server_new(NULL, 0, "mx.harness.example", err, sizeof(err));
		if (h->tls == NULL)
			abort();
		h->own_tls = 1;
	}
	h->base = event_base_new();
	h->last_fd = -1;
	buf_init(&h->replies, 0);
	buf_init(&h->last_data, 0);
	int qp[2], cp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qp) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) == -1)
		abort();
	h->srv = smtp_server_new(h->conf, h->base, qp[0]);
	smtp_server_set_tls(h->srv, h->tls);
	smtp_server_set_auth_delay(h->srv, 0); /* refusals are not held back here */
	struct ipc_handlers fq = {fake_queue_msg, fake_queue_closed, h};
	h->fake_queue = ipc_new(h->base, qp[1], &fq);
	struct sockaddr_in sin = {0};
	sin.sin_family = AF_INET;
	/* A client outside the local networks (TEST-NET-1): the built-in
	 * default relays only for local clients. */
	sin.sin_addr.s_addr = htonl(0xc0000201);
	evutil_make_socket_nonblocking(cp[0]);
	evutil_make_socket_nonblocking(cp[1]);
	h->client = cp[1];
	smtp_server_adopt(h->srv, cp[0], (struct sockaddr *)&sin, sizeof(sin), o->listener);
	harness_settle(h);
	return h;
}

static int harness_drain(struct harness *h)
{
	char tmp[65536];
	int got = 0;
	for (;;) {
		ssize_t r;
		if (h->ssl != NULL) {
			int n = SSL_read(h->ssl, tmp, sizeof(tmp));
			if (n <= 0) {
				ERR_clear_error();
				break;
			}
			r = n;
		} else {
			r = recv(h->client, tmp, sizeof(tmp), MSG_DONTWAIT);
			if (r <= 0)
				break;
		}
		buf_append(&h->replies, tmp, (size_t)r);
		got = 1;
	}
	return got;
}

int harness_starttls(struct harness *h)
{
	if (h->ssl != NULL)
		return -1;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		abort();
	h->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL keeps its own reference */
	SSL_set_fd(h->ssl, h->client);
	SSL_set_connect_state(h->ssl);
	for (int i = 0; i < 10000; i++) {
		int rc = SSL_do_handshake(h->ssl);
		if (rc == 1) {
			harness_settle(h);
			return 0;
		}
		int e = SSL_get_error(h->ssl, rc);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;
		event_base_loop(h->base, EVLOOP_NONBLOCK);
	}
	ERR_clear_error();
	SSL_free(h->ssl);
	h->ssl = NULL;
	return -1;
}

void harness_settle(struct harness *h)
{
	/* Several quiet rounds in a row mean nothing is moving any more. */
	for (int quiet = 0, rounds = 0; quiet < 4 && rounds < 10000; rounds++) {
		event_base_loop(h->base, EVLOOP_NONBLOCK);
		quiet = harness_drain(h) ? 0 : quiet + 1;
	}
}

void harness_send(struct harness *h, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w;
		if (h->ssl != NULL) {
			int k = SSL_write(h->ssl, c, (int)(n > 65536 ? 65536 : n));
			if (k <= 0) {
				int e = SSL_get_error(h->ssl, k);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					harness_settle(h);
					continue;
				}
				return; /* server closed */
			}
			w = k;
		} else {
			w = send(h->client, c, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				harness_settle(h);
				continue;
			}
			return; /* server closed */
		}
		c += w;
		n -= (size_t)w;
	}
	harness_settle(h);
}

int harness_closed(struct harness *h)
{
	harness_drain(h);
	char c;
	ssize_t r = recv(h->client, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	return r == 0;
}

void harness_counters(struct harness *h)
{
	metrics_push_flush(smtp_server_metrics(h->srv));
	harness_settle(h);
}

void harness_free(struct harness *h)
{
	smtp_server_free(h->srv);
	if (h->ssl != NULL)
		SSL_free(h->ssl);
	if (h->own_tls)
		tls_server_free(h->tls);
	ipc_free(h->fake_queue);
	close(h->client);
	if (h->last_fd != -1)
		close(h->last_fd);
	event_base_free(h->base);
	buf_free(&h->replies);
	buf_free(&h->last_data);
	conf_free(h->conf);
	free(h);
}
