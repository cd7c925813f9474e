/*
 * queue_dns: the queue as the hub between the smtp role's checks and the
 * resolver role (raven-dns). smtp's DNS_REQ goes to the resolver under a
 * number of the queue's own; the DNS_RES comes back to the smtp peer that
 * asked, under that peer's number. The queue looks at nothing but the
 * frames: each is decoded strictly (a malformed one, or a reply to a
 * question that resolver was never asked, closes that peer only) and
 * re-encoded with the other number.
 *
 * Without a connected resolver, or with too many questions outstanding,
 * smtp is answered with a temporary failure at once (its checks fail open
 * or temporarily, as their policy says); a resolver that dies with
 * questions pending answers them the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_int.h"
#include "xmalloc.h"

/* Questions waiting for the resolver, all smtp peers together. */
#define DNS_FWD_MAX_PENDING 16384

struct dns_pending {
	uint64_t qreq;     /* the number the resolver answers to */
	uint64_t smtp_req; /* the number smtp asked with */
	struct peer *smtp; /* NULL once it has gone */
	struct peer *dns;
	struct dns_pending *prev, *next;
};

static void send_res(struct peer *p, struct proto_dns_res *r)
{
	if (p == NULL || p->ch == NULL)
		return;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_res(&b, r);
	ipc_send(p->ch, PROTO_DNS_RES, b.data, b.len, -1);
	buf_free(&b);
}

/* DNS_TEMPFAIL (dns_rdata.h), which the queue does not include. */
#define DNS_STATUS_TEMPFAIL 3

static void send_tempfail(struct peer *p, uint64_t req, const char *why)
{
	struct proto_dns_res r = {.req = req, .status = DNS_STATUS_TEMPFAIL, .why = (char *)why};
	send_res(p, &r);
}

int queue_dns_busy(const struct queue_role *q, const struct peer *p)
{
	for (const struct dns_pending *w = q->dns_list; w; w = w->next)
		if (w->dns == p)
			return 1;
	return 0;
}

static void pending_unlink(struct queue_role *q, struct dns_pending *w)
{
	hmap_del_u64(q->dns_pending, w->qreq);
	if (w->prev)
		w->prev->next = w->next;
	else
		q->dns_list = w->next;
	if (w->next)
		w->next->prev = w->prev;
	q->n_dns_pending--;
}

int queue_dns_request(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_dns_req a;
	if (proto_decode_dns_req(m->data, m->len, &a) == -1)
		return -1;
	struct peer *dns = queue_peer_of(q, PEER_DNS);
	if (dns == NULL || q->n_dns_pending >= DNS_FWD_MAX_PENDING) {
		const char *why = dns == NULL ? "no resolver role connected" : "too many questions";
		if (!q->dns_warned)
			log_warn("event=dns-unavailable reason=\"%s\"", why);
		q->dns_warned = 1;
		send_tempfail(p, a.req, why);
		proto_dns_req_free(&a);
		return 0;
	}
	q->dns_warned = 0;
	if (q->dns_pending == NULL)
		q->dns_pending = hmap_new();
	struct dns_pending *w = xcalloc(1, sizeof(*w));
	w->qreq = ++q->next_dns_req;
	w->smtp_req = a.req;
	w->smtp = p;
	w->dns = dns;
	w->next = q->dns_list;
	if (q->dns_list)
		q->dns_list->prev = w;
	q->dns_list = w;
	q->n_dns_pending++;
	hmap_put_u64(q->dns_pending, w->qreq, w);
	a.req = w->qreq;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_req(&b, &a);
	ipc_send(dns->ch, PROTO_DNS_REQ, b.data, b.len, -1);
	buf_free(&b);
	proto_dns_req_free(&a);
	return 0;
}

int queue_dns_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_dns_res r;
	if (proto_decode_dns_res(m->data, m->len, &r) == -1)
		return -1;
	struct dns_pending *w = q->dns_pending ? hmap_get_u64(q->dns_pending, r.req) : NULL;
	if (w == NULL || w->dns != p) {
		/* A reply to nothing this peer was asked: it is broken. */
		proto_dns_res_free(&r);
		return -1;
	}
	pending_unlink(q, w);
	r.req = w->smtp_req;
	send_res(w->smtp, &r);
	free(w);
	proto_dns_res_free(&r);
	return 0;
}

void queue_dns_peer_gone(struct queue_role *q, struct peer *p)
{
	struct dns_pending *w = q->dns_list;
	while (w != NULL) {
		struct dns_pending *next = w->next;
		if (w->smtp == p)
			w->smtp = NULL; /* its reply will go nowhere */
		if (w->dns == p) {
			send_tempfail(w->smtp, w->smtp_req, "resolver role restarted");
			pending_unlink(q, w);
			free(w);
		}
		w = next;
	}
}

void queue_dns_free(struct queue_role *q)
{
	while (q->dns_list) {
		struct dns_pending *w = q->dns_list;
		pending_unlink(q, w);
		free(w);
	}
	hmap_free(q->dns_pending);
	q->dns_pending = NULL;
}
