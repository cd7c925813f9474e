/*
 * queue_role: the queue process (see queue_role.h). Peers (smtp and local
 * roles) reach it over channels the parent hands over with NEW_PEER, so a
 * restarted role is simply a new peer.
 *
 * Group commit: COMMIT requests are collected while the ipc read callbacks
 * run and committed together by one deferred event. The batch syncs on
 * the spool's threads while this loop goes on serving (new spool files,
 * delivery results, the control socket); the requests that arrive
 * meanwhile form the next batch, started when this one is done.
 */
#include "queue_role.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "crc32c.h"
#include "log.h"
#include "route.h"
#include "queue_int.h"
#include "util.h"
#include "xmalloc.h"

/* Queue ids: 16 hex digits of a strictly increasing microsecond clock, so
 * they sort by arrival and never repeat across restarts. */
void queue_new_id(struct queue_role *q, char *id, size_t len)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	uint64_t us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	if (us <= q->last_id_us)
		us = q->last_id_us + 1;
	q->last_id_us = us;
	snprintf(id, len, "%016llX", (unsigned long long)us);
}

/* 0, or -1 with errno when an fd could not be passed (nothing was sent). */
static int peer_send(struct peer *p, uint32_t type, const struct buf *b, int fd)
{
	return p->ch ? ipc_send(p->ch, type, b->data, b->len, fd) : 0;
}

static void reply_fail(struct peer *p, uint32_t type, uint64_t req, int error, const char *reason)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_fail(&b, req, (uint32_t)error, reason);
	peer_send(p, type, &b, -1);
	buf_free(&b);
}

/* A spool file handed to owner: known by id and on the owner's list. */
static void incoming_add(struct queue_role *q, struct incoming *in, struct peer *owner)
{
	in->owner = owner;
	in->prev = NULL;
	in->next = owner->incoming;
	if (owner->incoming)
		owner->incoming->prev = in;
	owner->incoming = in;
	hmap_put(q->incoming, in->id, strlen(in->id), in);
}

static void incoming_unlink(struct queue_role *q, struct incoming *in)
{
	hmap_del(q->incoming, in->id, strlen(in->id));
	if (in->prev)
		in->prev->next = in->next;
	else
		in->owner->incoming = in->next;
	if (in->next)
		in->next->prev = in->prev;
}

static struct incoming *incoming_take(struct queue_role *q, const char *id, struct peer *owner)
{
	struct incoming *in = hmap_get(q->incoming, id, strnlen(id, ENVELOPE_ID_MAX + 1));
	if (in == NULL || in->owner != owner)
		return NULL;
	incoming_unlink(q, in);
	return in;
}

static void incoming_discard(struct queue_role *q, struct incoming *in)
{
	spool_discard(q->spool, in->id);
	close(in->fd);
	free(in);
}

/* Why new mail waits: the spool's file system is below its thresholds. */
#define QUEUE_SHORT_REASON "insufficient system storage: space kept for queued mail"

static int handle_new(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	uint64_t req;
	if (proto_decode_req(m->data, m->len, &req) == -1)
		return -1;
	/* Deliveries of what is already acknowledged come first: below the
	 * thresholds, what is left is theirs (452 4.3.1 to the client). */
	if (spool_space_short(q->spool, 0, NULL) == 1) {
		reply_fail(p, PROTO_NEW_FAIL, req, ENOSPC, QUEUE_SHORT_REASON);
		return 0;
	}
	struct incoming *in = xcalloc(1, sizeof(*in));
	queue_new_id(q, in->id, sizeof(in->id));
	in->fd = spool_create_data(q->spool, in->id);
	if (in->fd == -1) {
		int err = errno;
		log_warn("event=spool-create-failed id=%s errno=%d error=\"%s\"", in->id, err,
		         strerror(err));
		reply_fail(p, PROTO_NEW_FAIL, req, err, strerror(err));
		free(in);
		return 0;
	}
	struct buf b;
	buf_init(&b, 0);
	proto_encode_new_ok(&b, req, in->id);
	if (peer_send(p, PROTO_NEW_OK, &b, in->fd) == -1) {
		/* No descriptor to pass it with (EMFILE): this request fails. */
		int err = errno;
		log_warn("event=spool-pass-failed id=%s errno=%d", in->id, err);
		reply_fail(p, PROTO_NEW_FAIL, req, err, strerror(err));
		incoming_discard(q, in);
	} else {
		incoming_add(q, in, p);
	}
	buf_free(&b);
	return 0;
}

/*
 * The smtp role chose each recipient's action and mailbox; the queue
 * authors the spool and checks them against its own configuration first,
 * so a compromised network role cannot make anyone deliver elsewhere.
 */
static int envelope_routed(const struct config *conf, const struct envelope *e)
{
	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];
		char why[256], to[300];
		if (route_verify_rcpt(conf, r->action, r->addr, r->user, why, sizeof(why)) == 0)
			continue;
		char esc[600];
		log_escape(to, sizeof(to), r->addr, strlen(r->addr));
		log_escape(esc, sizeof(esc), why, strlen(why));
		log_warn("event=envelope-refused id=%s rcpt=%zu to=\"%s\" reason=\"%s\"", e->id, i,
		         to, esc);
		return -1;
	}
	return 0;
}

static int handle_commit(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_commit c;
	char err[128];
	if (proto_decode_commit(m->data, m->len, &c, err, sizeof(err)) == -1) {
		log_warn("event=bad-commit reason=\"%s\"", err);
		return -1;
	}
	struct incoming *in = incoming_take(q, c.env.id, p);
	if (in == NULL) {
		reply_fail(p, PROTO_COMMIT_FAIL, c.req, EINVAL, "unknown message id");
		envelope_free(&c.env);
		return 0;
	}
	/* Under the configuration its author runs with: a session opened
	 * before a reload finishes on the configuration it started with. */
	if (envelope_routed(p->gen->conf, &c.env) == -1) {
		reply_fail(p, PROTO_COMMIT_FAIL, c.req, EPERM, "envelope refused");
		incoming_discard(q, in);
		envelope_free(&c.env);
		return 0;
	}
	if (!c.env.has_data_crc) {
		/* Nothing is acknowledged that delivery could not check. */
		log_warn("event=envelope-refused id=%s reason=\"no data checksum\"", c.env.id);
		reply_fail(p, PROTO_COMMIT_FAIL, c.req, EINVAL, "no data checksum");
		incoming_discard(q, in);
		envelope_free(&c.env);
		return 0;
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
	return 0;
}

/* A batch's wave is over (the spool calls this just before commit_done):
 * the next batch may start its wave now. */
static void commit_synced(void *arg)
{
	struct commit_flight *f = arg;
	struct queue_role *q = f->q;
	f->syncing = 0;
	q->syncing--;
	if (q->n_batch > 0)
		event_active(q->batch_ev, EV_TIMEOUT, 0);
}

/*
 * Whether the waiting COMMITs may start their batch now. One wave in
 * flight at a time is what makes a batch large; but a wave still in flight
 * after COMMIT_OVERLAP_US is waiting behind a saturated device (a
 * neighbour's write-back ahead of every cache flush), and the requests
 * that arrived meanwhile would wait for all of it and then for their own
 * wave: they start beside it instead, up to COMMIT_MAX_WAVES at once.
 * When not yet, batch_ev is set to look again when the newest wave is
 * that old.
 */
#define COMMIT_OVERLAP_US 10000
#define COMMIT_MAX_WAVES  4
static int batch_may_start(struct queue_role *q)
{
	if (q->syncing == 0)
		return 1;
	if (q->syncing >= COMMIT_MAX_WAVES)
		return 0; /* commit_synced() calls again */
	uint64_t age = q->clock.mono_usec(q->clock.arg) - q->wave_started_us;
	if (age >= COMMIT_OVERLAP_US)
		return 1;
	struct timeval tv = {0, (suseconds_t)(COMMIT_OVERLAP_US - age)};
	event_add(q->batch_ev, &tv);
	return 0;
}

/* A batch is durable (or failed): answer every request. */
static void commit_done(void *arg)
{
	struct commit_flight *f = arg;
	struct queue_role *q = f->q;
	if (f->syncing)
		commit_synced(f); /* not called (a batch that failed early) */
	q->counters.batches++;
	queue_metrics_batch(q, f->n);
	int64_t now = queue_now(q);
	for (size_t i = 0; i < f->n; i++) {
		struct pending_commit *pc = &f->v[i];
		struct buf b;
		buf_init(&b, 0);
		if (f->items[i].result == 0) {
			log_info("event=committed id=%s rcpts=%zu size=%llu batch=%zu", pc->env.id,
			         pc->env.n_rcpts, (unsigned long long)pc->env.size, f->n);
			q->counters.committed++;
			/* Committed is committed: delivered even if its session is
			 * gone before the 250 (a duplicate at worst, never a loss). */
			queue_metrics_arrived(q, sched_add(q->sched, &pc->env, now));
			proto_encode_req(&b, pc->req);
			if (pc->from)
				peer_send(pc->from, PROTO_COMMIT_OK, &b, -1);
			close(pc->in->fd);
			free(pc->in);
		} else {
			log_warn("event=commit-failed id=%s errno=%d reason=\"%s\"", pc->env.id,
			         f->items[i].error, f->items[i].reason);
			if (pc->from)
				reply_fail(pc->from, PROTO_COMMIT_FAIL, pc->req, f->items[i].error,
				           f->items[i].reason);
			incoming_discard(q, pc->in);
		}
		buf_free(&b);
		envelope_free(&pc->env);
	}
	for (struct commit_flight **pp = &q->flights; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	free(f->items);
	free(f->v);
	free(f);
	queue_note_commit(q);
	queue_schedule(q);
}

/*
 * Start a batch with every COMMIT waiting — unless a batch's wave is in
 * flight: then the requests wait and form the next batch, started when
 * that wave is over (docs/SPOOL.md §6).
 */
static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_role *q = arg;
	(void)fd;
	(void)what;
	if (q->n_batch == 0 || !batch_may_start(q))
		return;
	if (spool_space_short(q->spool, 0, NULL) == 1) {
		/* Spare files handed out earlier let DATA start without asking:
		 * their messages are refused here, and their space given back. */
		for (size_t i = 0; i < q->n_batch; i++) {
			struct pending_commit *pc = &q->batch[i];
			log_warn("event=commit-failed id=%s errno=%d reason=\"%s\"", pc->env.id,
			         ENOSPC, QUEUE_SHORT_REASON);
			if (pc->from)
				reply_fail(pc->from, PROTO_COMMIT_FAIL, pc->req, ENOSPC,
				           QUEUE_SHORT_REASON);
			incoming_discard(q, pc->in);
			envelope_free(&pc->env);
		}
		q->n_batch = 0;
		return;
	}
	struct commit_flight *f = xcalloc(1, sizeof(*f));
	f->q = q;
	f->v = q->batch;
	f->n = q->n_batch;
	f->syncing = 1;
	q->batch = NULL;
	q->n_batch = q->cap_batch = 0;
	f->items = xcalloc(f->n, sizeof(*f->items));
	for (size_t i = 0; i < f->n; i++) {
		f->items[i].env = &f->v[i].env;
		f->items[i].data_fd = f->v[i].in->fd;
	}
	f->next = q->flights;
	q->flights = f;
	q->syncing++;
	q->wave_started_us = q->clock.mono_usec(q->clock.arg);
	spool_commit_start(q->spool, f->items, f->n, commit_synced, commit_done, f);
}

static void spool_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_role *q = arg;
	(void)fd;
	(void)what;
	spool_reap(q->spool);
}

static int inject_owned(struct queue_role *q, struct envelope *e, const struct buf *data)
{
	int fd = spool_create_data(q->spool, e->id);
	if (fd == -1) {
		log_warn("event=inject-failed id=%s errno=%d", e->id, errno);
		return -1;
	}
	if (fd_write_all(fd, data->data, data->len) == -1) {
		log_warn("event=inject-failed id=%s errno=%d", e->id, errno);
		close(fd);
		spool_discard(q->spool, e->id);
		return -1;
	}
	struct spool_commit item = {.env = e, .data_fd = fd};
	spool_commit_batch(q->spool, &item, 1);
	close(fd);
	if (item.result != 0) {
		log_warn("event=inject-failed id=%s errno=%d reason=\"%s\"", e->id, item.error,
		         item.reason);
		spool_discard(q->spool, e->id);
		return -1;
	}
	q->counters.committed++;
	queue_metrics_arrived(q, sched_add(q->sched, e, queue_now(q)));
	return 0;
}

int queue_inject(struct queue_role *q, struct envelope_draft *d, const struct buf *data)
{
	queue_new_id(q, d->id, sizeof(d->id));
	d->size = data->len;
	d->data_crc = crc32c_update(0, data->data, data->len);
	d->has_data_crc = 1;
	struct envelope owned;
	envelope_from_draft(&owned, d);
	int rc = inject_owned(q, &owned, data);
	envelope_free(&owned);
	return rc;
}

void queue_persist(struct queue_role *q, struct sched_msg *m, uint32_t idx)
{
	/* A delivery whose record is lost in a power cut is repeated, and local
	 * delivery is idempotent; deferrals, holds and failures are synced. */
	const struct envelope_rcpt *r = &m->env.rcpts[idx];
	if (spool_append_rcpt_state(q->spool, m->env.id, idx, r, r->state != RCPT_DELIVERED) == -1)
		log_warn("event=state-write-failed id=%s rcpt=%u errno=%d", m->env.id, idx, errno);
}

/* Space grew by this much since the fullest moment: worth a retry. */
#define QUEUE_SPACE_GROWTH (64 * 1024)
#define QUEUE_SPACE_EVERY  1 /* seconds between looks while watching */

static void space_low_update(struct spool_space *low, const struct spool_space *now)
{
	if (now->avail < low->avail)
		low->avail = now->avail;
	if (now->avail_inodes < low->avail_inodes)
		low->avail_inodes = now->avail_inodes;
}

/* While deliveries wait for space: has some been freed since the fullest
 * moment? Then every deferred delivery is tried again now, instead of
 * after its backoff (which grows to an hour). */
static void space_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_role *q = arg;
	(void)fd;
	(void)what;
	struct spool_space now;
	if (spool_space_figures(q->spool, &now) == 0 &&
	    (now.avail > q->space_low.avail + QUEUE_SPACE_GROWTH ||
	     now.avail_inodes > q->space_low.avail_inodes)) {
		size_t n = sched_flush(q->sched, NULL, queue_now(q));
		log_info("event=space-freed avail=%llu avail_inodes=%llu action=retry rcpts=%zu",
		         (unsigned long long)now.avail, (unsigned long long)now.avail_inodes, n);
		q->space_watch = 0;
		queue_schedule(q);
		return;
	}
	space_low_update(&q->space_low, &now);
	struct timeval tv = {QUEUE_SPACE_EVERY, 0};
	evtimer_add(q->space_ev, &tv);
}

void queue_space_trouble(struct queue_role *q, const char *id)
{
	struct spool_space now;
	if (spool_space_figures(q->spool, &now) == -1)
		memset(&now, 0, sizeof(now));
	if (!q->space_watch) {
		log_warn("event=delivery-no-space id=%s avail=%llu avail_inodes=%llu "
		         "action=\"release the spool's recycled files, retry when space is freed\"",
		         id, (unsigned long long)now.avail, (unsigned long long)now.avail_inodes);
		q->space_low = now;
	}
	space_low_update(&q->space_low, &now);
	/* Measured before: what the pool gives back counts as freed space. */
	spool_release(q->spool);
	q->space_watch = 1;
	if (q->space_ev == NULL)
		q->space_ev = evtimer_new(q->base, space_cb, q);
	if (!evtimer_pending(q->space_ev, NULL)) {
		struct timeval tv = {QUEUE_SPACE_EVERY, 0};
		evtimer_add(q->space_ev, &tv);
	}
}

void queue_finish(struct queue_role *q, struct sched_msg *m, const char *why)
{
	log_info("event=removed id=%s reason=\"%s\"", m->env.id, why);
	spool_remove(q->spool, m->env.id);
	sched_remove(q->sched, m);
}

static int handle_abort(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	char id[ENVELOPE_ID_MAX + 1];
	if (proto_decode_id(m->data, m->len, id, sizeof(id)) == -1)
		return -1;
	struct incoming *in = incoming_take(q, id, p);
	if (in) {
		log_info("event=discarded id=%s reason=\"not committed\"", id);
		incoming_discard(q, in);
	}
	return 0;
}

/* What each kind of peer may send, and who handles it; anything else is a
 * broken (or hostile) peer. */
static const struct {
	enum peer_kind kind;
	uint32_t type;
	int (*handle)(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
} peer_frames[] = {
    {PEER_SMTP, PROTO_NEW_REQ, handle_new},
    {PEER_SMTP, PROTO_COMMIT_REQ, handle_commit},
    {PEER_SMTP, PROTO_ABORT, handle_abort},
    /* local submission: the pickup role hands in messages as smtp does */
    {PEER_PICKUP, PROTO_NEW_REQ, handle_new},
    {PEER_PICKUP, PROTO_COMMIT_REQ, handle_commit},
    {PEER_PICKUP, PROTO_ABORT, handle_abort},
    {PEER_LOCAL, PROTO_DELIVER_RES, queue_handle_result},
    {PEER_RELAY, PROTO_DELIVER_RES, queue_handle_result},
    {PEER_SMTP, PROTO_AUTH_REQ, queue_fwd_request},
    {PEER_AUTH, PROTO_AUTH_RES, queue_fwd_result},
    {PEER_SMTP, PROTO_LOOKUP_REQ, queue_fwd_request},
    {PEER_PICKUP, PROTO_LOOKUP_REQ, queue_fwd_request},
    {PEER_LOOKUP, PROTO_LOOKUP_RES, queue_fwd_result},
    /* hashes: asked by the auth role only, never by smtp */
    {PEER_AUTH, PROTO_CRED_REQ, queue_fwd_request},
    {PEER_LOOKUP, PROTO_CRED_RES, queue_fwd_result},
    {PEER_SMTP, PROTO_COUNTERS, queue_metrics_counters},
    {PEER_LOCAL, PROTO_COUNTERS, queue_metrics_counters},
    {PEER_RELAY, PROTO_COUNTERS, queue_metrics_counters},
    {PEER_METRICS, PROTO_METRICS_REQ, queue_metrics_request},
    {PEER_SMTP, PROTO_DNS_REQ, queue_fwd_request},
    {PEER_DNS, PROTO_DNS_RES, queue_fwd_result},
    {PEER_DKIM, PROTO_SIGN_RES, queue_sign_result},
};

static const char *peer_name(enum peer_kind k)
{
	return metrics_peer_name(k);
}

/*
 * A peer that sent a frame it may not send, or one that does not decode,
 * is cut off — its channel alone: the queue and every other peer go on.
 * Its role sees the channel close, exits, and the parent starts it again.
 */
static void peer_drop(struct peer *p, const struct ipc_msg *m, const char *why)
{
	log_warn("event=peer-dropped kind=%s type=%u len=%zu reason=\"%s\"", peer_name(p->kind),
	         m->type, m->len, why);
	queue_metrics_count(p->q, MET_QUEUE_PEERS_DROPPED);
	if (p->ch)
		ipc_shutdown(p->ch); /* peer_closed() cleans up after it */
}

static void peer_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct peer *p = arg;
	(void)ch;
	size_t i, n = sizeof(peer_frames) / sizeof(peer_frames[0]);
	for (i = 0; i < n; i++)
		if (peer_frames[i].kind == p->kind && peer_frames[i].type == m->type)
			break;
	if (m->fd != -1 || m->fd_lost)
		peer_drop(p, m, "a descriptor where none belongs");
	else if (i == n)
		peer_drop(p, m, "unexpected message type");
	else if (peer_frames[i].handle(p->q, p, m) == -1)
		peer_drop(p, m, "malformed message");
	if (m->fd != -1)
		close(m->fd);
}

/* A closed peer's channel and record, freed once its callbacks are over. */
static void free_peer_later(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	(void)fd;
	(void)what;
	ipc_free(p->ch_dead);
	queue_gen_release(p->gen);
	free(p);
}

static void peer_closed(struct ipc *ch, void *arg)
{
	struct peer *p = arg;
	struct queue_role *q = p->q;
	log_info("event=peer-closed kind=%s", peer_name(p->kind));
	p->ch = NULL;
	p->ch_dead = ch;
	for (struct peer **pp = &q->peers; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	/* Freed after this callback returns: the channel is still on the stack. */
	event_base_once(q->base, -1, EV_TIMEOUT, free_peer_later, p, NULL);
	queue_fwd_peer_gone(q, p);
	queue_sign_peer_gone(q, p);
	if (p->kind != PEER_SMTP && p->kind != PEER_PICKUP) {
		queue_peer_lost(q, p); /* its deliveries in flight are retried */
		queue_transports_update(q);
		return;
	}
	/* Its commits still to be made are made, but answered to nobody. */
	for (size_t i = 0; i < q->n_batch; i++)
		if (q->batch[i].from == p)
			q->batch[i].from = NULL;
	for (struct commit_flight *f = q->flights; f; f = f->next)
		for (size_t i = 0; i < f->n; i++)
			if (f->v[i].from == p)
				f->v[i].from = NULL;
	while (p->incoming) {
		struct incoming *in = p->incoming;
		incoming_unlink(q, in);
		incoming_discard(q, in);
	}
}

struct peer *queue_peer_of(const struct queue_role *q, uint32_t kind)
{
	struct peer *old = NULL;
	for (struct peer *p = q->peers; p; p = p->next)
		if (p->kind == kind && p->ch != NULL && !p->retiring)
			return p;
		else if (p->kind == kind && p->ch != NULL)
			old = p;
	return old;
}

static void add_peer(struct queue_role *q, uint32_t kind, int fd)
{
	struct peer *p = xcalloc(1, sizeof(*p));
	p->q = q;
	p->kind = kind;
	p->gen = queue_gen_ref(q->gen);
	struct ipc_handlers h = {peer_msg, peer_closed, p};
	p->ch = ipc_new(q->base, fd, &h);
	p->next = q->peers;
	q->peers = p;
	log_info("event=peer-added kind=%s", peer_name(kind));
	queue_transports_update(q);
	queue_schedule(q);
}

static void parent_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct queue_role *q = arg;
	uint32_t kind;
	(void)ch;
	if (m->type == PROTO_ROLE_STARTS && m->fd == -1 && queue_metrics_starts(q, m) == 0)
		return;
	if (m->type == PROTO_CONFIG) {
		queue_reload_config(q, m);
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	if (m->type == PROTO_RELOAD_RES && m->fd == -1) {
		queue_reload_answered(q, m);
		return;
	}
	if (m->type != PROTO_NEW_PEER || m->fd == -1 ||
	    proto_decode_peer(m->data, m->len, &kind) == -1 || kind < PEER_SMTP ||
	    kind > PEER_KIND_MAX) {
		/* The role whose channel this was sees it close, exits and is
		 * started again with a new one. */
		log_warn("event=bad-peer-handover type=%u fd_lost=%d", m->type, m->fd_lost);
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	add_peer(q, kind, m->fd);
}

static void parent_closed(struct ipc *ch, void *arg)
{
	struct queue_role *q = arg;
	(void)ch;
	log_info("event=parent-gone");
	/* Nothing in flight was acknowledged yet: the sync threads may end. */
	spool_close(q->spool);
	exit(0);
}

static void recovered(const struct envelope *e, void *arg)
{
	struct queue_role *q = arg;
	int64_t now = queue_now(q);
	struct sched_msg *m = sched_add(q->sched, e, now);
	if (m == NULL)
		return;
	/* A restart keeps deferrals and holds; only due recipients go now. */
	log_info("event=recovered id=%s rcpts=%zu", e->id, e->n_rcpts);
	if (sched_msg_final(m) && queue_dsn_owed(m))
		queue_dsn_retry_later(q); /* a failure notice was never sent */
	else if (sched_msg_final(m))
		queue_finish(q, m, "all recipients final"); /* crashed before the removal */
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_schedule(arg);
}

static int64_t system_now(void *arg)
{
	(void)arg;
	return (int64_t)time(NULL);
}

static uint64_t system_mono_usec(void *arg)
{
	(void)arg;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct queue_role *queue_role_new(const struct queue_role_opts *o, char *err, size_t errlen)
{
	struct queue_role *q = xcalloc(1, sizeof(*q));
	q->lock_fd = -1;
	const struct config *conf = o->conf;
	q->conf = conf;
	q->gen = queue_gen_new(conf, NULL);
	q->base = o->base;
	q->clock.now = o->now ? o->now : system_now;
	q->clock.mono_usec = o->mono_usec ? o->mono_usec : system_mono_usec;
	q->clock.arg = o->clock_arg;
	q->counters.started = (uint64_t)queue_now(q);
	queue_metrics_init(&q->met);
	struct sched_params sp = {
	    .retry_min = conf->retry_min,
	    .retry_max = conf->retry_max,
	    .lifetime = conf->max_lifetime,
	    .delay_warning = conf->delay_warning,
	    .max_jobs = conf->queue_concurrency,
	    .max_jobs_per_dest = conf->queue_per_destination,
	    .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32),
	    .dest_of = queue_dest_of,
	    .dest_arg = q,
	};
	q->sched = sched_new(&sp);
	q->inflight = hmap_new();
	q->incoming = hmap_new();
	q->fwd_pending = hmap_new();
	/* One process delivers to every Maildir, in batches that cost one sync
	 * each: a per-destination limit there would only cap the batch size
	 * (20 in flight, one batch per ~30 ms: 700 deliveries a second). */
	sched_set_transport_limit(q->sched, TRANSPORT_LOCAL, sp.max_jobs);
	queue_transports_update(q); /* nothing is connected yet: all wait */
	q->spool = o->spool_ops ? spool_open_ops(o->spool_dir, o->spool_ops, err, errlen)
	                        : spool_open(o->spool_dir, err, errlen);
	if (q->spool == NULL) {
		queue_role_free(q);
		errno = EINVAL;
		return NULL;
	}
	/* One queue per spool: an old one still exiting (its parent was
	 * killed) must be gone before recovery touches anything. */
	char *lock = xasprintf("%s/lock", o->spool_dir);
	q->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (q->lock_fd == -1 || flock(q->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;
		err_set(err, errlen, "%s: %s", lock,
		        e == EWOULDBLOCK ? "in use by another queue" : strerror(e));
		free(lock);
		queue_role_free(q);
		errno = e;
		return NULL;
	}
	free(lock);
	spool_set_sync(q->spool, q->conf->queue_syncfs ? SPOOL_SYNC_SYNCFS : SPOOL_SYNC_FILES);
	spool_set_min_free(q->spool, q->conf->queue_min_free, q->conf->queue_min_free_inodes);

	size_t n = spool_recover(q->spool, recovered, q);
	log_info("event=queue-ready recovered=%zu", n);
	q->batch_ev = event_new(q->base, -1, 0, batch_cb, q);
	q->spool_ev =
	    event_new(q->base, spool_event_fd(q->spool), EV_READ | EV_PERSIST, spool_cb, q);
	event_add(q->spool_ev, NULL);
	q->timer = evtimer_new(q->base, timer_cb, q);
	if (o->control_fd != -1)
		q->control = control_new_fd(q->base, o->control_fd, geteuid(), q);
	struct ipc_handlers h = {parent_msg, parent_closed, q};
	q->parent = ipc_new(q->base, o->parent_sock, &h);
	queue_schedule(q);
	return q;
}

void queue_role_free(struct queue_role *q)
{
	if (q == NULL)
		return;
	while (q->peers) {
		struct peer *p = q->peers;
		q->peers = p->next;
		while (p->jobs) {
			struct inflight *f = p->jobs;
			p->jobs = f->next;
			sched_job_done(q->sched, f->job, queue_now(q));
			free(f);
		}
		while (p->incoming) {
			struct incoming *in = p->incoming;
			p->incoming = in->next;
			close(in->fd);
			free(in);
		}
		ipc_free(p->ch);
		queue_gen_release(p->gen);
		free(p);
	}
	for (size_t i = 0; i < q->n_batch; i++) {
		envelope_free(&q->batch[i].env);
		close(q->batch[i].in->fd);
		free(q->batch[i].in);
	}
	free(q->batch);
	/* The spool first: it ends the sync threads a flight may still use. */
	if (q->spool)
		spool_close(q->spool);
	q->spool = NULL;
	while (q->flights) {
		struct commit_flight *f = q->flights;
		q->flights = f->next;
		for (size_t i = 0; i < f->n; i++) {
			envelope_free(&f->v[i].env);
			close(f->v[i].in->fd);
			free(f->v[i].in);
		}
		free(f->items);
		free(f->v);
		free(f);
	}
	queue_fwd_free(q);
	queue_sign_free(q);
	control_free(q->control);
	ipc_free(q->parent);
	if (q->batch_ev)
		event_free(q->batch_ev);
	if (q->timer)
		event_free(q->timer);
	if (q->burst_ev)
		event_free(q->burst_ev);
	if (q->dsn_timer)
		event_free(q->dsn_timer);
	if (q->spool_ev)
		event_free(q->spool_ev);
	if (q->space_ev)
		event_free(q->space_ev);
	if (q->retire_ev)
		event_free(q->retire_ev);
	queue_gen_release(q->gen);
	hmap_free(q->inflight);
	hmap_free(q->incoming);
	if (q->sched)
		sched_free(q->sched);
	if (q->spool)
		spool_close(q->spool);
	if (q->lock_fd != -1)
		close(q->lock_fd);
	free(q);
}

void queue_role_main(const struct config *conf, struct event_base *base, int parent_sock,
                     const char *spool_dir, int control_fd)
{
	char err[256];
	struct queue_role_opts o = {.conf = conf,
	                            .base = base,
	                            .parent_sock = parent_sock,
	                            .spool_dir = spool_dir,
	                            .control_fd = control_fd};
	struct queue_role *q = queue_role_new(&o, err, sizeof(err));
	if (q == NULL)
		fatal_status(errno == EWOULDBLOCK ? EX_TEMPFAIL : EX_CONFIG,
		             "event=spool-open-failed dir=%s reason=\"%s\"", spool_dir, err);
	event_base_dispatch(base);
	exit(0);
}
