/*
 * queue_role: the queue process (see queue_role.h). Peers (smtp and local
 * roles) reach it over channels the parent hands over with NEW_PEER, so a
 * restarted role is simply a new peer.
 *
 * Group commit: COMMIT requests are collected while the ipc read callbacks
 * run and committed together by one deferred event; requests that arrive
 * while that batch is fsyncing wait in the socket and form the next batch.
 */
#include "queue_role.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "spool.h"
#include "xmalloc.h"

#define MAX_INFLIGHT 64

struct peer {
	struct queue_role *q;
	struct ipc *ch; /* NULL once closed */
	enum peer_kind kind;
	struct peer *next;
};

/* A spool file handed to smtp and not committed yet. */
struct incoming {
	char id[ENVELOPE_ID_MAX + 1];
	int fd;
	struct peer *owner;
	struct incoming *next;
};

struct pending_commit {
	struct peer *from;
	uint64_t req;
	struct envelope env;
	struct incoming *in;
};

struct qmsg {
	struct envelope env;
	uint8_t *inflight; /* per recipient */
	size_t n_inflight;
	struct qmsg *next;
};

struct job {
	uint64_t id;
	struct qmsg *msg;
	uint32_t idx;
	struct peer *local;
	struct job *next;
};

struct queue_role {
	const struct config *conf;
	struct event_base *base;
	struct spool *spool;
	struct ipc *parent;
	struct peer *peers;
	struct incoming *incoming;
	struct pending_commit *batch;
	size_t n_batch, cap_batch;
	struct event *batch_ev;
	struct event *timer;
	struct event *gc_ev;
	struct qmsg *msgs;
	struct job *jobs;
	size_t n_jobs;
	uint64_t next_job;
	uint64_t last_id_us;
};

static void schedule_run(struct queue_role *q);

/* Queue ids: 16 hex digits of a strictly increasing microsecond clock, so
 * they sort by arrival and never repeat across restarts. */
static void queue_new_id(struct queue_role *q, char *id, size_t len)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	if (us <= q->last_id_us)
		us = q->last_id_us + 1;
	q->last_id_us = us;
	snprintf(id, len, "%016llX", (unsigned long long)us);
}

static void peer_send(struct peer *p, uint32_t type, const struct buf *b, int fd)
{
	if (p->ch)
		ipc_send(p->ch, type, b->data, b->len, fd);
}

static void reply_fail(struct peer *p, uint32_t type, uint64_t req, int error, const char *reason)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_fail(&b, req, (uint32_t)error, reason);
	peer_send(p, type, &b, -1);
	buf_free(&b);
}

static struct incoming *incoming_take(struct queue_role *q, const char *id, struct peer *owner)
{
	for (struct incoming **pp = &q->incoming; *pp; pp = &(*pp)->next) {
		struct incoming *in = *pp;
		if (strcmp(in->id, id) == 0 && in->owner == owner) {
			*pp = in->next;
			return in;
		}
	}
	return NULL;
}

static void incoming_discard(struct queue_role *q, struct incoming *in)
{
	spool_discard(q->spool, in->id);
	close(in->fd);
	free(in);
}

static void handle_new(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	uint64_t req;
	if (proto_decode_req(m->data, m->len, &req) == -1)
		fatal("smtp sent a malformed NEW_REQ");
	struct incoming *in = xcalloc(1, sizeof(*in));
	queue_new_id(q, in->id, sizeof(in->id));
	in->fd = spool_create_data(q->spool, in->id);
	if (in->fd == -1) {
		int err = errno;
		log_warn("event=spool-create-failed id=%s errno=%d error=\"%s\"", in->id, err,
		         strerror(err));
		reply_fail(p, PROTO_NEW_FAIL, req, err, strerror(err));
		free(in);
		return;
	}
	in->owner = p;
	in->next = q->incoming;
	q->incoming = in;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_new_ok(&b, req, in->id);
	peer_send(p, PROTO_NEW_OK, &b, in->fd);
	buf_free(&b);
}

static void handle_commit(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_commit c;
	char err[128];
	if (proto_decode_commit(m->data, m->len, &c, err, sizeof(err)) == -1)
		fatal("smtp sent a malformed COMMIT_REQ: %s", err);
	struct incoming *in = incoming_take(q, c.env.id, p);
	if (in == NULL) {
		reply_fail(p, PROTO_COMMIT_FAIL, c.req, EINVAL, "unknown message id");
		envelope_free(&c.env);
		return;
	}
	if (q->n_batch == q->cap_batch) {
		q->cap_batch = q->cap_batch ? q->cap_batch * 2 : 32;
		q->batch = xreallocarray(q->batch, q->cap_batch, sizeof(*q->batch));
	}
	struct pending_commit *pc = &q->batch[q->n_batch++];
	pc->from = p;
	pc->req = c.req;
	pc->env = c.env;
	pc->in = in;
	event_active(q->batch_ev, EV_TIMEOUT, 0);
}

static void qmsg_add(struct queue_role *q, const struct envelope *e)
{
	struct qmsg *msg = xcalloc(1, sizeof(*msg));
	envelope_copy(&msg->env, e);
	msg->inflight = xcalloc(e->n_rcpts ? e->n_rcpts : 1, 1);
	msg->next = q->msgs;
	q->msgs = msg;
}

static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_role *q = arg;
	(void)fd;
	(void)what;
	size_t n = q->n_batch;
	if (n == 0)
		return;
	struct spool_commit *items = xcalloc(n, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		items[i].env = &q->batch[i].env;
		items[i].data_fd = q->batch[i].in->fd;
	}
	spool_commit_batch(q->spool, items, n);
	for (size_t i = 0; i < n; i++) {
		struct pending_commit *pc = &q->batch[i];
		struct buf b;
		buf_init(&b, 0);
		if (items[i].result == 0) {
			log_info("event=committed id=%s rcpts=%zu size=%llu batch=%zu", pc->env.id,
			         pc->env.n_rcpts, (unsigned long long)pc->env.size, n);
			qmsg_add(q, &pc->env);
			proto_encode_req(&b, pc->req);
			peer_send(pc->from, PROTO_COMMIT_OK, &b, -1);
			close(pc->in->fd);
			free(pc->in);
		} else {
			log_warn("event=commit-failed id=%s errno=%d reason=\"%s\"", pc->env.id,
			         items[i].error, items[i].reason);
			reply_fail(pc->from, PROTO_COMMIT_FAIL, pc->req, items[i].error,
			           items[i].reason);
			incoming_discard(q, pc->in);
		}
		buf_free(&b);
		envelope_free(&pc->env);
	}
	free(items);
	q->n_batch = 0;
	schedule_run(q);
}

static void handle_abort(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	char id[ENVELOPE_ID_MAX + 1];
	if (proto_decode_id(m->data, m->len, id, sizeof(id)) == -1)
		fatal("smtp sent a malformed ABORT");
	struct incoming *in = incoming_take(q, id, p);
	if (in) {
		log_info("event=discarded id=%s reason=\"not committed\"", id);
		incoming_discard(q, in);
	}
}

static int rcpt_final(uint8_t state)
{
	return state == RCPT_DELIVERED || state == RCPT_FAILED;
}

static int envelope_all_final(const struct envelope *e)
{
	for (size_t i = 0; i < e->n_rcpts; i++)
		if (!rcpt_final(e->rcpts[i].state))
			return 0;
	return 1;
}

static int64_t retry_delay(const struct config *c, uint32_t attempts)
{
	int64_t d = c->retry_min ? c->retry_min : 1;
	for (uint32_t i = 1; i < attempts && d < (int64_t)c->retry_max; i++)
		d *= 2;
	return d > (int64_t)c->retry_max ? (int64_t)c->retry_max : d;
}

static void qmsg_remove(struct queue_role *q, struct qmsg *msg)
{
	for (struct qmsg **pp = &q->msgs; *pp; pp = &(*pp)->next) {
		if (*pp == msg) {
			*pp = msg->next;
			break;
		}
	}
	envelope_free(&msg->env);
	free(msg->inflight);
	free(msg);
}

/* Record an outcome durably, then drop the message when all are final. */
static void record_outcome(struct queue_role *q, struct qmsg *msg, uint32_t idx, int status,
                           const char *text)
{
	struct envelope_rcpt *r = &msg->env.rcpts[idx];
	int64_t now = (int64_t)time(NULL);
	r->attempts++;
	if (status == DELIVER_OK) {
		r->state = RCPT_DELIVERED;
	} else if (status == DELIVER_PERM) {
		r->state = RCPT_FAILED;
	} else if (now - msg->env.arrival >= (int64_t)q->conf->max_lifetime) {
		r->state = RCPT_FAILED;
	} else {
		r->state = RCPT_DEFERRED;
		r->next_try = now + retry_delay(q->conf, r->attempts);
	}
	free(r->last_error);
	r->last_error = text && *text ? xstrdup(text) : NULL;
	static const char *const names[] = {"pending", "deferred", "held", "delivered", "failed"};
	char esc[512];
	log_escape(esc, sizeof(esc), text ? text : "", text ? strlen(text) : 0);
	log_info("event=%s id=%s rcpt=%u user=%s attempts=%u%s%s text=\"%s\"", names[r->state],
	         msg->env.id, idx, r->user ? r->user : "", r->attempts,
	         r->state == RCPT_DEFERRED ? " retry_in=" : "",
	         r->state == RCPT_DEFERRED ? "s" : "", esc);
	if (spool_append_state(q->spool, msg->env.id, idx, r->state, r->attempts, r->next_try,
	                       r->last_error) == -1)
		log_warn("event=state-write-failed id=%s rcpt=%u errno=%d", msg->env.id, idx,
		         errno);
	if (!envelope_all_final(&msg->env))
		return;
	log_info("event=removed id=%s reason=\"all recipients final\"", msg->env.id);
	spool_remove(q->spool, msg->env.id);
	qmsg_remove(q, msg);
}

static struct peer *local_peer(struct queue_role *q)
{
	for (struct peer *p = q->peers; p; p = p->next)
		if (p->kind == PEER_LOCAL && p->ch)
			return p;
	return NULL;
}

static int dispatch_local(struct queue_role *q, struct peer *lp, struct qmsg *msg, uint32_t idx)
{
	const struct envelope_rcpt *r = &msg->env.rcpts[idx];
	int fd = spool_open_data(q->spool, msg->env.id);
	if (fd == -1) {
		spool_quarantine(q->spool, msg->env.id, "data file vanished");
		return -1;
	}
	struct job *j = xcalloc(1, sizeof(*j));
	j->id = ++q->next_job;
	j->msg = msg;
	j->idx = idx;
	j->local = lp;
	j->next = q->jobs;
	q->jobs = j;
	q->n_jobs++;
	msg->inflight[idx] = 1;
	msg->n_inflight++;
	struct proto_deliver d = {
	    j->id, msg->env.id, idx, r->action, r->user ? r->user : "", msg->env.arrival};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_deliver(&b, &d);
	peer_send(lp, PROTO_DELIVER_REQ, &b, fd);
	buf_free(&b);
	close(fd);
	return 0;
}

static void schedule_run(struct queue_role *q)
{
	int64_t now = (int64_t)time(NULL), next = INT64_MAX;
	struct peer *lp = local_peer(q);
	for (struct qmsg *msg = q->msgs, *nx; msg; msg = nx) {
		nx = msg->next;
		for (uint32_t i = 0; i < msg->env.n_rcpts; i++) {
			const struct envelope_rcpt *r = &msg->env.rcpts[i];
			if (rcpt_final(r->state) || r->state == RCPT_HELD || msg->inflight[i])
				continue;
			if (r->next_try > now) {
				if (r->next_try < next)
					next = r->next_try;
				continue;
			}
			if (lp == NULL || q->n_jobs >= MAX_INFLIGHT)
				break;
			if (dispatch_local(q, lp, msg, i) == -1) {
				qmsg_remove(q, msg);
				break;
			}
		}
	}
	if (next != INT64_MAX) {
		struct timeval tv = {next - now, 0};
		evtimer_add(q->timer, &tv);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	schedule_run(arg);
}

static struct job *job_take(struct queue_role *q, uint64_t id)
{
	for (struct job **pp = &q->jobs; *pp; pp = &(*pp)->next) {
		struct job *j = *pp;
		if (j->id == id) {
			*pp = j->next;
			q->n_jobs--;
			j->msg->inflight[j->idx] = 0;
			j->msg->n_inflight--;
			return j;
		}
	}
	return NULL;
}

static void handle_result(struct queue_role *q, const struct ipc_msg *m)
{
	struct proto_result res;
	if (proto_decode_result(m->data, m->len, &res) == -1)
		fatal("local sent a malformed DELIVER_RES");
	struct job *j = job_take(q, res.job);
	if (j) {
		record_outcome(q, j->msg, j->idx, res.status, res.text);
		free(j);
	}
	free(res.text);
	schedule_run(q);
}

static void peer_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct peer *p = arg;
	struct queue_role *q = p->q;
	(void)ch;
	if (p->kind == PEER_SMTP && m->type == PROTO_NEW_REQ)
		handle_new(q, p, m);
	else if (p->kind == PEER_SMTP && m->type == PROTO_COMMIT_REQ)
		handle_commit(q, p, m);
	else if (p->kind == PEER_SMTP && m->type == PROTO_ABORT)
		handle_abort(q, p, m);
	else if (p->kind == PEER_LOCAL && m->type == PROTO_DELIVER_RES)
		handle_result(q, m);
	else
		fatal("peer sent unexpected message type %u", m->type);
	if (m->fd != -1)
		close(m->fd);
}

static void free_ipc_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ipc_free(arg);
}

static void peer_closed(struct ipc *ch, void *arg)
{
	struct peer *p = arg;
	struct queue_role *q = p->q;
	log_info("event=peer-closed kind=%s", p->kind == PEER_SMTP ? "smtp" : "local");
	p->ch = NULL;
	/* Freed after this callback returns: the channel is still on the stack. */
	event_base_once(q->base, -1, EV_TIMEOUT, free_ipc_later, ch, NULL);
	if (p->kind == PEER_SMTP) {
		for (struct incoming **pp = &q->incoming; *pp;) {
			struct incoming *in = *pp;
			if (in->owner == p) {
				*pp = in->next;
				incoming_discard(q, in);
			} else {
				pp = &in->next;
			}
		}
		return;
	}
	/* Deliveries in flight on a dead local role are retried. */
	for (struct job *j = q->jobs, *nx; j; j = nx) {
		nx = j->next;
		if (j->local == p) {
			uint64_t id = j->id;
			struct job *taken = job_take(q, id);
			record_outcome(q, taken->msg, taken->idx, DELIVER_TEMP,
			               "local delivery process died");
			free(taken);
		}
	}
}

static void add_peer(struct queue_role *q, uint32_t kind, int fd)
{
	struct peer *p = xcalloc(1, sizeof(*p));
	p->q = q;
	p->kind = kind;
	struct ipc_handlers h = {peer_msg, peer_closed, p};
	p->ch = ipc_new(q->base, fd, &h);
	p->next = q->peers;
	q->peers = p;
	log_info("event=peer-added kind=%s", kind == PEER_SMTP ? "smtp" : "local");
	if (kind == PEER_LOCAL)
		schedule_run(q);
}

static void parent_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct queue_role *q = arg;
	uint32_t kind;
	(void)ch;
	if (m->type != PROTO_NEW_PEER || m->fd == -1 ||
	    proto_decode_peer(m->data, m->len, &kind) == -1)
		fatal("parent sent a malformed message type %u", m->type);
	add_peer(q, kind, m->fd);
}

static void parent_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=parent-gone");
	exit(0);
}

static void recovered(const struct envelope *e, void *arg)
{
	struct queue_role *q = arg;
	if (envelope_all_final(e)) {
		/* Crashed between the last outcome and the removal. */
		log_info("event=removed id=%s reason=\"all recipients final\"", e->id);
		spool_remove(q->spool, e->id);
		return;
	}
	qmsg_add(q, e);
	/* A restart keeps deferrals; only never-tried recipients are due now. */
	log_info("event=recovered id=%s rcpts=%zu", e->id, e->n_rcpts);
}

void queue_role_main(const struct config *conf, struct event_base *base, int parent_sock)
{
	struct queue_role q = {0};
	char err[256], *qdir = xasprintf("%s/queue", conf->data_dir);
	q.conf = conf;
	q.base = base;
	q.spool = spool_open(qdir, err, sizeof(err));
	if (q.spool == NULL)
		fatal("event=spool-open-failed dir=%s reason=\"%s\"", qdir, err);
	free(qdir);
	size_t n = spool_recover(q.spool, recovered, &q);
	log_info("event=queue-ready recovered=%zu", n);
	q.batch_ev = event_new(base, -1, 0, batch_cb, &q);
	q.timer = evtimer_new(base, timer_cb, &q);
	struct ipc_handlers h = {parent_msg, parent_closed, &q};
	q.parent = ipc_new(base, parent_sock, &h);
	schedule_run(&q);
	event_base_dispatch(base);
	exit(0);
}
