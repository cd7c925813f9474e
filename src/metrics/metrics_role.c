/*
 * metrics_role: the Prometheus endpoint (see metrics_role.h). A
 * connection goes through three steps on one event loop: read the request
 * head (bounded by http_req, within METRICS_READ_SEC of the accept, so a
 * slow client cannot hold a slot), wait for the queue's text when the
 * request is GET /metrics, write one response and close. Nothing blocks;
 * at most METRICS_MAX_CONNS connections are served at once.
 */
#include "metrics_role.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "http_req.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "prom.h"
#include "proto.h"
#include "reqconn.h"
#include "xmalloc.h"

#define ACCEPTS_PER_WAKEUP 32
#define RESPONSE_MAX       (IPC_MAX_PAYLOAD + 1024)

enum mc_state { MC_READ, MC_WAIT, MC_WRITE };

struct mconn {
	struct reqconn rc; /* the socket, its events and the response */
	struct metrics_role *mr;
	char client[INET6_ADDRSTRLEN];
	enum mc_state state;
	struct http_req req;
	uint64_t reqno; /* MC_WAIT: the METRICS_REQ it waits for */
};

struct metrics_role {
	struct event_base *base;
	struct ipc *queue;
	struct event **listen_ev;
	size_t n_listen;
	struct event *resume_ev; /* re-enables accept after EMFILE */
	struct reqconn_list conns;
	uint64_t next_req;
	unsigned read_ms, answer_ms;
};

static void conn_free(struct mconn *k)
{
	reqconn_close(&k->rc);
	free(k);
}

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Service Unavailable";
	}
}

/* Build the whole response in k->rc.out and start writing it. */
static void respond(struct mconn *k, int status, const void *body, size_t len)
{
	struct buf *out = &k->rc.out;
	buf_reset(out);
	int rc = buf_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                    "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
	                    status, status_text(status),
	                    status == 200 ? PROM_CONTENT_TYPE : "text/plain; charset=utf-8", len,
	                    status == 405 ? "Allow: GET\r\n" : "");
	if (rc == 0 && k->req.method != HTTP_HEAD) /* a HEAD's answer has no body */
		rc = buf_append(out, body, len);
	if (rc != 0) {
		conn_free(k);
		return;
	}
	if (status == 200)
		log_debug("event=metrics-scrape client=%s octets=%zu", k->client, len);
	else
		log_info("event=metrics-refused client=%s status=%d", k->client, status);
	k->state = MC_WRITE;
	reqconn_respond(&k->rc, k->mr->answer_ms);
}

static void respond_text(struct mconn *k, int status, const char *text)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s%s%s\n", status, status_text(status),
	                 text ? ": " : "", text ? text : "");
	respond(k, status, body, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

/* GET /metrics: ask the queue; its answer finishes the connection. */
static void ask_queue(struct mconn *k)
{
	struct buf b;
	buf_init(&b, 0);
	k->reqno = ++k->mr->next_req;
	proto_encode_req(&b, k->reqno);
	ipc_send(k->mr->queue, PROTO_METRICS_REQ, b.data, b.len, -1);
	buf_free(&b);
	k->state = MC_WAIT;
	event_del(k->rc.io); /* nothing more is read from this client */
	reqconn_arm(&k->rc, k->mr->answer_ms);
}

static void conn_read(struct mconn *k)
{
	uint8_t tmp[1024];
	ssize_t n = recv(k->rc.fd, tmp, sizeof(tmp), 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(k); /* gone before the end of its request */
		return;
	}
	size_t used;
	switch (http_req_feed(&k->req, tmp, (size_t)n, &used)) {
	case HTTP_MORE:
		return;
	case HTTP_ERROR:
		respond_text(k, k->req.status, k->req.reason);
		return;
	case HTTP_DONE:
		break;
	}
	int status = http_req_route(&k->req, "/metrics");
	if (status == 200)
		ask_queue(k);
	else
		respond_text(k, status, status == 405 ? "only GET" : "try /metrics");
}

static void conn_write(struct mconn *k)
{
	enum reqconn_sent r = reqconn_write(&k->rc);
	if (r == REQCONN_MORE)
		return;
	if (r == REQCONN_SENT)
		shutdown(k->rc.fd, SHUT_WR);
	conn_free(k);
}

static void conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct mconn *k = arg;
	(void)fd;
	(void)what;
	if (k->state == MC_WRITE)
		conn_write(k);
	else if (k->state == MC_READ)
		conn_read(k);
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mconn *k = arg;
	(void)fd;
	(void)what;
	if (k->state == MC_READ) {
		respond_text(k, 408, "the request took too long");
	} else if (k->state == MC_WAIT) {
		log_warn("event=metrics-no-answer client=%s", k->client);
		respond_text(k, 503, "the queue did not answer");
	} else {
		conn_free(k); /* a client that does not read */
	}
}

static void conn_new(struct metrics_role *mr, int fd, const struct sockaddr_storage *ss)
{
	if (mr->conns.n >= METRICS_MAX_CONNS) {
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
		                           "0\r\nConnection: close\r\n\r\n";
		ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)ignored;
		close(fd);
		return;
	}
	struct mconn *k = xcalloc(1, sizeof(*k));
	k->mr = mr;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, k->client,
		          sizeof(k->client));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, k->client,
		          sizeof(k->client));
	http_req_init(&k->req);
	/* read_ms is for the whole head: not re-armed per octet */
	reqconn_open(&k->rc, &mr->conns, mr->base, fd, RESPONSE_MAX, conn_io, conn_timeout, k,
	             mr->read_ms);
}

static void listen_resume(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_role *mr = arg;
	(void)fd;
	(void)what;
	for (size_t i = 0; i < mr->n_listen; i++)
		event_add(mr->listen_ev[i], NULL);
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_role *mr = arg;
	(void)what;
	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		int s = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s >= 0) {
			conn_new(mr, s, &ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Level-triggered listeners would spin: rest them a moment. */
			struct timeval tv = {1, 0};
			log_warn("event=metrics-accept-failed reason=\"%s\"", strerror(errno));
			for (size_t j = 0; j < mr->n_listen; j++)
				event_del(mr->listen_ev[j]);
			evtimer_add(mr->resume_ev, &tv);
		}
		return;
	}
}

static struct mconn *waiting_for(struct metrics_role *mr, uint64_t req)
{
	for (struct reqconn *rc = mr->conns.head; rc; rc = rc->next) {
		struct mconn *k = rc->arg;
		if (k->state == MC_WAIT && k->reqno == req)
			return k;
	}
	return NULL;
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct metrics_role *mr = arg;
	uint64_t req;
	const uint8_t *text;
	size_t len;
	if (m->fd != -1)
		close(m->fd);
	if (m->type != PROTO_METRICS_TEXT || m->fd != -1 ||
	    metrics_decode_text(m->data, m->len, &req, &text, &len) == -1) {
		/* The queue is our only peer: a broken one ends this role. */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		ipc_shutdown(ch);
		return;
	}
	struct mconn *k = waiting_for(mr, req);
	if (k == NULL)
		return; /* its client timed out meanwhile */
	if (len == 0)
		respond_text(k, 503, "no metrics now");
	else
		respond(k, 200, text, len);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	struct metrics_role *mr = arg;
	(void)ch;
	log_info("event=queue-gone");
	event_base_loopbreak(mr->base); /* metrics_role_main exits; the parent restarts us */
}

struct metrics_role *metrics_role_new(struct event_base *base, int queue_sock, const int *fds,
                                      size_t nfds)
{
	struct metrics_role *mr = xcalloc(1, sizeof(*mr));
	mr->base = base;
	mr->read_ms = METRICS_READ_SEC * 1000;
	mr->answer_ms = METRICS_ANSWER_SEC * 1000;
	struct ipc_handlers h = {queue_msg, queue_closed, mr};
	mr->queue = ipc_new(base, queue_sock, &h);
	mr->resume_ev = evtimer_new(base, listen_resume, mr);
	mr->listen_ev = xcalloc(nfds ? nfds : 1, sizeof(*mr->listen_ev));
	mr->n_listen = nfds;
	for (size_t i = 0; i < nfds; i++) {
		evutil_make_socket_nonblocking(fds[i]);
		mr->listen_ev[i] = event_new(base, fds[i], EV_READ | EV_PERSIST, accept_cb, mr);
		if (mr->listen_ev[i] == NULL)
			fatal("event_new failed");
		event_add(mr->listen_ev[i], NULL);
	}
	return mr;
}

void metrics_role_set_timeouts(struct metrics_role *mr, unsigned read_ms, unsigned answer_ms)
{
	mr->read_ms = read_ms;
	mr->answer_ms = answer_ms;
}

void metrics_role_free(struct metrics_role *mr)
{
	if (mr == NULL)
		return;
	while (mr->conns.head)
		conn_free(mr->conns.head->arg);
	for (size_t i = 0; i < mr->n_listen; i++) {
		close(event_get_fd(mr->listen_ev[i]));
		event_free(mr->listen_ev[i]);
	}
	free(mr->listen_ev);
	event_free(mr->resume_ev);
	ipc_free(mr->queue);
	free(mr);
}

void metrics_role_main(struct event_base *base, int queue_sock, const int *fds, size_t nfds)
{
	metrics_role_new(base, queue_sock, fds, nfds);
	log_info("event=metrics-ready listeners=%zu", nfds);
	event_base_dispatch(base);
	exit(0);
}
