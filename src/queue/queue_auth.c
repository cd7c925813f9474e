/*
 * queue_auth: the queue as the hub between the smtp role and the auth
 * role for SMTP AUTH. smtp's AUTH_REQ goes to the auth role under a number
 * of the queue's own; the auth role's AUTH_RES comes back to the smtp peer
 * that asked, under that peer's number. The queue does no cryptography and
 * keeps no credentials: it decodes each frame strictly (a malformed one,
 * or an answer to a question the auth peer was never asked, closes that
 * peer only), forwards it, and wipes its copy.
 *
 * Without a connected auth role, or with too many questions outstanding,
 * smtp is answered AUTH_TEMP at once (its client gets 454 4.7.0).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_int.h"
#include "xmalloc.h"

/* Questions waiting for the auth role, all smtp peers together. */
#define AUTH_MAX_PENDING 4096

struct auth_pending {
	uint64_t qreq;     /* the number the auth role answers to */
	uint64_t smtp_req; /* the number smtp asked with */
	struct peer *smtp; /* NULL once it has gone */
	struct peer *auth;
	struct auth_pending *prev, *next;
};

static void send_res(struct peer *p, uint64_t req, uint8_t status, const char *login)
{
	if (p == NULL || p->ch == NULL)
		return;
	struct proto_auth_res r = {.req = req, .status = status, .login = (char *)login};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_res(&b, &r);
	ipc_send(p->ch, PROTO_AUTH_RES, b.data, b.len, -1);
	buf_free(&b);
}

int queue_auth_busy(const struct queue_role *q, const struct peer *p)
{
	for (const struct auth_pending *a = q->auth_list; a; a = a->next)
		if (a->auth == p)
			return 1;
	return 0;
}

static void pending_unlink(struct queue_role *q, struct auth_pending *a)
{
	hmap_del_u64(q->auth_pending, a->qreq);
	if (a->prev)
		a->prev->next = a->next;
	else
		q->auth_list = a->next;
	if (a->next)
		a->next->prev = a->prev;
	q->n_auth_pending--;
}

int queue_auth_request(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_auth_req a;
	if (proto_decode_auth_req(m->data, m->len, &a) == -1)
		return -1;
	struct peer *auth = queue_peer_of(q, PEER_AUTH);
	if (auth == NULL || q->n_auth_pending >= AUTH_MAX_PENDING) {
		log_warn("event=auth-unavailable reason=\"%s\"",
		         auth == NULL ? "no auth role connected" : "too many requests waiting");
		send_res(p, a.req, AUTH_TEMP, "");
		proto_auth_req_free(&a);
		return 0;
	}
	struct auth_pending *w = xcalloc(1, sizeof(*w));
	w->qreq = ++q->next_auth_req;
	w->smtp_req = a.req;
	w->smtp = p;
	w->auth = auth;
	w->next = q->auth_list;
	if (q->auth_list)
		q->auth_list->prev = w;
	q->auth_list = w;
	q->n_auth_pending++;
	hmap_put_u64(q->auth_pending, w->qreq, w);
	a.req = w->qreq;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_req(&b, &a);
	ipc_send(auth->ch, PROTO_AUTH_REQ, b.data, b.len, -1);
	explicit_bzero(b.data, b.len); /* it holds the password */
	buf_free(&b);
	proto_auth_req_free(&a);
	return 0;
}

int queue_auth_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_auth_res r;
	if (proto_decode_auth_res(m->data, m->len, &r) == -1)
		return -1;
	struct auth_pending *w = hmap_get_u64(q->auth_pending, r.req);
	if (w == NULL || w->auth != p) {
		/* An answer to nothing this peer was asked: it is broken. */
		proto_auth_res_free(&r);
		return -1;
	}
	pending_unlink(q, w);
	send_res(w->smtp, w->smtp_req, r.status, r.login);
	free(w);
	proto_auth_res_free(&r);
	return 0;
}

void queue_auth_peer_gone(struct queue_role *q, struct peer *p)
{
	struct auth_pending *w = q->auth_list;
	while (w != NULL) {
		struct auth_pending *next = w->next;
		if (w->smtp == p)
			w->smtp = NULL; /* its answer will go nowhere */
		if (w->auth == p) {
			/* The auth role died with the question: the client may retry. */
			send_res(w->smtp, w->smtp_req, AUTH_TEMP, "");
			pending_unlink(q, w);
			free(w);
		}
		w = next;
	}
}

void queue_auth_free(struct queue_role *q)
{
	while (q->auth_list) {
		struct auth_pending *w = q->auth_list;
		pending_unlink(q, w);
		free(w);
	}
	hmap_free(q->auth_pending);
	q->auth_pending = NULL;
}
