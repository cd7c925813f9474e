/*
 * queue_fwd: the queue as the hub between the smtp role and the roles that
 * answer its questions — the auth role (AUTH_REQ/AUTH_RES: SMTP AUTH), the
 * lookup role (LOOKUP_REQ/LOOKUP_RES: SQL tables) and the resolver role
 * (DNS_REQ/DNS_RES: the sender checks' DNS questions); and between the auth
 * role and the lookup role (CRED_REQ/CRED_RES: password hashes of an SQL
 * "auth users" table). A question goes to
 * the serving role under a number of the queue's own; the answer comes back
 * to the smtp peer that asked, under that peer's number. The queue keeps
 * nothing and judges nothing: it decodes each frame strictly (a malformed
 * one, or an answer to a question that peer was never asked, closes that
 * peer only), forwards its bytes with the number replaced, and wipes its
 * copy and the bytes it received (an AUTH question holds a password, a
 * CRED answer a hash), logging neither.
 *
 * Without a connected serving role, or with too many questions outstanding,
 * smtp is answered "temporary failure" at once (AUTH: 454 4.7.0; a lookup:
 * 451 4.3.0; DNS: a temporary failure, which each check treats as its
 * policy says); a serving role that dies with questions pending answers
 * them the same way. A reload's retiring serving role keeps the questions
 * it was asked until it answers them (queue_peer_of, queue_fwd_busy).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lookup.h"
#include "queue_int.h"
#include "xmalloc.h"

/* Questions waiting for an answer, all smtp peers and services together
 * (the sender checks ask several DNS questions per message). */
#define FWD_MAX_PENDING 16384

struct fwd_service {
	const char *name; /* for the logs */
	enum peer_kind server;
	uint32_t req_type, res_type;
	/* 0 and the frame's number if it decodes, else -1 */
	int (*check_req)(const uint8_t *p, size_t n, uint64_t *req);
	int (*check_res)(const uint8_t *p, size_t n, uint64_t *req);
	/* the "try again later" answer to req */
	void (*encode_temp)(struct buf *b, uint64_t req);
	/* the frames hold a password or a hash: the received bytes are wiped
	 * once forwarded (the copies we make are wiped in any case) */
	int secret;
};

struct fwd_pending {
	uint64_t qreq;       /* the number the serving role answers to */
	uint64_t client_req; /* the number smtp asked with */
	struct peer *client; /* NULL once it has gone */
	struct peer *server;
	const struct fwd_service *svc;
	struct fwd_pending *prev, *next;
};

static int auth_check_req(const uint8_t *p, size_t n, uint64_t *req)
{
	struct proto_auth_req a;
	if (proto_decode_auth_req(p, n, &a) == -1)
		return -1;
	*req = a.req;
	proto_auth_req_free(&a); /* wipes the password */
	return 0;
}

static int auth_check_res(const uint8_t *p, size_t n, uint64_t *req)
{
	struct proto_auth_res a;
	if (proto_decode_auth_res(p, n, &a) == -1)
		return -1;
	*req = a.req;
	proto_auth_res_free(&a);
	return 0;
}

static void auth_temp(struct buf *b, uint64_t req)
{
	struct proto_auth_res r = {.req = req, .status = AUTH_TEMP, .login = ""};
	proto_encode_auth_res(b, &r);
}

static int lookup_check_req(const uint8_t *p, size_t n, uint64_t *req)
{
	struct lookup_req q;
	if (lookup_decode_req(p, n, &q) == -1)
		return -1;
	*req = q.req;
	lookup_req_free(&q);
	return 0;
}

static int lookup_check_res(const uint8_t *p, size_t n, uint64_t *req)
{
	struct lookup_res r;
	if (lookup_decode_res(p, n, &r) == -1)
		return -1;
	*req = r.req;
	explicit_bzero(r.value, strlen(r.value)); /* CRED_RES: a hash */
	lookup_res_free(&r);
	return 0;
}

static void lookup_temp(struct buf *b, uint64_t req)
{
	struct lookup_res r = {.req = req, .status = LOOKUP_TEMP, .value = ""};
	lookup_encode_res(b, &r);
}

static void cred_temp(struct buf *b, uint64_t req)
{
	struct lookup_res r = {.req = req, .status = LOOKUP_TEMP, .value = ""};
	lookup_encode_res(b, &r);
}

static int dns_check_req(const uint8_t *p, size_t n, uint64_t *req)
{
	struct proto_dns_req q;
	if (proto_decode_dns_req(p, n, &q) == -1)
		return -1;
	*req = q.req;
	proto_dns_req_free(&q);
	return 0;
}

static int dns_check_res(const uint8_t *p, size_t n, uint64_t *req)
{
	struct proto_dns_res r;
	if (proto_decode_dns_res(p, n, &r) == -1)
		return -1;
	*req = r.req;
	proto_dns_res_free(&r);
	return 0;
}

/* DNS_TEMPFAIL (dns_rdata.h), which the queue does not include. */
#define DNS_STATUS_TEMPFAIL 3

static void dns_temp(struct buf *b, uint64_t req)
{
	struct proto_dns_res r = {
	    .req = req, .status = DNS_STATUS_TEMPFAIL, .why = (char *)"no resolver role answers"};
	proto_encode_dns_res(b, &r);
}

static const struct fwd_service services[] = {
    {"auth", PEER_AUTH, PROTO_AUTH_REQ, PROTO_AUTH_RES, auth_check_req, auth_check_res, auth_temp,
     1},
    {"lookup", PEER_LOOKUP, PROTO_LOOKUP_REQ, PROTO_LOOKUP_RES, lookup_check_req, lookup_check_res,
     lookup_temp, 0},
    {"dns", PEER_DNS, PROTO_DNS_REQ, PROTO_DNS_RES, dns_check_req, dns_check_res, dns_temp, 0},
    /* the auth role's questions for hashes (an SQL "auth users" table) */
    {"credentials", PEER_LOOKUP, PROTO_CRED_REQ, PROTO_CRED_RES, lookup_check_req, lookup_check_res,
     cred_temp, 1},
};

static const struct fwd_service *service_of(uint32_t type)
{
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (services[i].req_type == type || services[i].res_type == type)
			return &services[i];
	return NULL;
}

/* Send a frame's bytes with its leading number (every one of these frames
 * starts with it) replaced. */
static void send_renumbered(struct peer *p, uint32_t type, const uint8_t *data, size_t len,
                            uint64_t req)
{
	if (p == NULL || p->ch == NULL)
		return;
	struct buf b;
	buf_init(&b, 0);
	buf_put_u64(&b, req);
	buf_append(&b, data + b.len, len - b.len);
	ipc_send(p->ch, type, b.data, b.len, -1);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
}

/* The received frame's bytes, in the channel's input buffer (ours to
 * write: ipc hands them as const only so that handlers do not by mistake). */
static void wipe_received(const struct fwd_service *svc, const struct ipc_msg *m)
{
	if (svc->secret)
		explicit_bzero((void *)m->data, m->len);
}

static void send_temp(struct peer *p, const struct fwd_service *svc, uint64_t req)
{
	if (p == NULL || p->ch == NULL)
		return;
	struct buf b;
	buf_init(&b, 0);
	svc->encode_temp(&b, req);
	ipc_send(p->ch, svc->res_type, b.data, b.len, -1);
	buf_free(&b);
}

static void pending_unlink(struct queue_role *q, struct fwd_pending *w)
{
	hmap_del_u64(q->fwd_pending, w->qreq);
	if (w->prev)
		w->prev->next = w->next;
	else
		q->fwd_list = w->next;
	if (w->next)
		w->next->prev = w->prev;
	q->n_fwd_pending--;
}

int queue_fwd_request(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	const struct fwd_service *svc = service_of(m->type);
	uint64_t req;
	if (svc == NULL || svc->check_req(m->data, m->len, &req) == -1)
		return -1;
	struct peer *server = queue_peer_of(q, svc->server);
	unsigned bit = 1u << (svc - services);
	if (server == NULL || q->n_fwd_pending >= FWD_MAX_PENDING) {
		if (!(q->fwd_warned & bit)) /* once, until it answers again */
			log_warn("event=%s-unavailable reason=\"%s\"", svc->name,
			         server == NULL ? "no role connected"
			                        : "too many requests waiting");
		q->fwd_warned |= bit;
		send_temp(p, svc, req);
		wipe_received(svc, m);
		return 0;
	}
	q->fwd_warned &= ~bit;
	struct fwd_pending *w = xcalloc(1, sizeof(*w));
	w->qreq = ++q->next_fwd_req;
	w->client_req = req;
	w->client = p;
	w->server = server;
	w->svc = svc;
	w->next = q->fwd_list;
	if (q->fwd_list)
		q->fwd_list->prev = w;
	q->fwd_list = w;
	q->n_fwd_pending++;
	hmap_put_u64(q->fwd_pending, w->qreq, w);
	send_renumbered(server, m->type, m->data, m->len, w->qreq);
	wipe_received(svc, m);
	return 0;
}

int queue_fwd_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	const struct fwd_service *svc = service_of(m->type);
	uint64_t req;
	if (svc == NULL || svc->check_res(m->data, m->len, &req) == -1)
		return -1;
	struct fwd_pending *w = hmap_get_u64(q->fwd_pending, req);
	if (w == NULL || w->server != p || w->svc != svc)
		return -1; /* an answer to nothing this peer was asked: it is broken */
	pending_unlink(q, w);
	send_renumbered(w->client, m->type, m->data, m->len, w->client_req);
	wipe_received(svc, m);
	free(w);
	return 0;
}

int queue_fwd_busy(const struct queue_role *q, const struct peer *p)
{
	for (const struct fwd_pending *w = q->fwd_list; w; w = w->next)
		if (w->server == p)
			return 1;
	return 0;
}

void queue_fwd_peer_gone(struct queue_role *q, struct peer *p)
{
	struct fwd_pending *w = q->fwd_list;
	while (w != NULL) {
		struct fwd_pending *next = w->next;
		if (w->client == p)
			w->client = NULL; /* its answer will go nowhere */
		if (w->server == p) {
			/* The serving role died with the question: the client may retry. */
			send_temp(w->client, w->svc, w->client_req);
			pending_unlink(q, w);
			free(w);
		}
		w = next;
	}
}

void queue_fwd_free(struct queue_role *q)
{
	while (q->fwd_list) {
		struct fwd_pending *w = q->fwd_list;
		pending_unlink(q, w);
		free(w);
	}
	hmap_free(q->fwd_pending);
	q->fwd_pending = NULL;
}
