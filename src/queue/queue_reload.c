/*
 * queue_reload: the queue's part of a reload (docs/ARCHITECTURE.md,
 * "Reload"). The queue is the hub every other role talks through and the
 * spool's only writer, so it is never restarted for a reload: it takes
 * the new configuration in place, from the bundle the parent checked (it
 * is chrooted into the spool and could not open the table files itself).
 *
 * Peers connected before the new configuration retire: they keep the
 * configuration they started with (an smtp session that accepted a
 * recipient under the old tables commits under them), get no new work,
 * and go once idle — smtp closes its listeners and finishes its sessions
 * itself (RETIRE), the others are closed by the queue when nothing of
 * theirs is in flight. Their successors connect meanwhile under the new one.
 * A resolver or lookup role may have none (the new configuration has no
 * sender checks, or no SQL tables: ravend no longer runs it); it then stays
 * until the retiring peers that may still ask it (smtp, whose sessions keep
 * the old configuration; auth and pickup, for the lookup role) have gone.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_bundle.h"
#include "control.h"
#include "log.h"
#include "queue_int.h"
#include "util.h"
#include "xmalloc.h"

/* A bundle: the configuration and its tables (each at most 64 MiB). */
#define BUNDLE_MAX ((size_t)256 << 20)
/* How often retiring peers are looked at, in ms. */
#define RETIRE_CHECK_MS 100

struct conf_gen *queue_gen_new(const struct config *conf, struct config *owned)
{
	struct conf_gen *g = xcalloc(1, sizeof(*g));
	g->conf = conf;
	g->owned = owned;
	g->refs = 1;
	return g;
}

struct conf_gen *queue_gen_ref(struct conf_gen *g)
{
	g->refs++;
	return g;
}

void queue_gen_release(struct conf_gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	if (g->owned)
		conf_free(g->owned);
	free(g);
}

/* A retiring resolver or lookup role that retiring peers may still ask,
 * with no successor to answer them instead. */
static int still_asked(const struct queue_role *q, const struct peer *p)
{
	if (p->kind != PEER_DNS && p->kind != PEER_LOOKUP)
		return 0;
	int asker = 0;
	for (const struct peer *o = q->peers; o; o = o->next) {
		if (o->ch == NULL)
			continue;
		if (o->kind == p->kind && !o->retiring)
			return 0; /* its successor answers */
		if (o->retiring &&
		    (o->kind == PEER_SMTP || o->kind == PEER_AUTH || o->kind == PEER_PICKUP))
			asker = 1;
	}
	return asker;
}

/* Nothing of p's is in flight: no job, no spool file, no commit, no
 * question to the auth, resolver or signer role, and none to come. */
static int peer_idle(const struct queue_role *q, const struct peer *p)
{
	if (p->jobs != NULL || p->incoming != NULL)
		return 0;
	for (size_t i = 0; i < q->n_batch; i++)
		if (q->batch[i].from == p)
			return 0;
	for (const struct commit_flight *f = q->flights; f; f = f->next)
		for (size_t i = 0; i < f->n; i++)
			if (f->v[i].from == p)
				return 0;
	return !queue_fwd_busy(q, p) && !queue_sign_busy(q, p) && !still_asked(q, p);
}

static void retire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_role *q = arg;
	(void)fd;
	(void)what;
	int waiting = 0;
	/* Closing a channel unlinks its peer: start over after each. */
	for (struct peer *p = q->peers; p;) {
		if (!p->retiring || p->ch == NULL || p->kind == PEER_SMTP) {
			p = p->next;
			continue;
		}
		if (!peer_idle(q, p)) {
			waiting = 1;
			p = p->next;
			continue;
		}
		log_info("event=peer-retired kind=%s", metrics_peer_name(p->kind));
		ipc_shutdown(p->ch);
		p = q->peers;
	}
	if (waiting) {
		struct timeval tv = {0, RETIRE_CHECK_MS * 1000};
		evtimer_add(q->retire_ev, &tv);
	}
}

static void retire_all(struct queue_role *q, uint64_t gen)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, gen);
	for (struct peer *p = q->peers; p; p = p->next) {
		if (p->ch == NULL || p->retiring)
			continue;
		p->retiring = 1;
		if (p->kind == PEER_SMTP)
			ipc_send(p->ch, PROTO_RETIRE, b.data, b.len, -1);
	}
	buf_free(&b);
	if (q->retire_ev == NULL)
		q->retire_ev = evtimer_new(q->base, retire_cb, q);
	struct timeval tv = {0, 0};
	evtimer_add(q->retire_ev, &tv);
	/* Transports whose role is only retiring wait for its successor. */
	queue_transports_update(q);
}

int queue_reload_config(struct queue_role *q, const struct ipc_msg *m)
{
	char err[512], esc[1024];
	uint64_t gen;
	struct conf_bundle b;
	struct config *conf = NULL;
	size_t len = 0;
	char *raw = NULL;
	if (proto_decode_req(m->data, m->len, &gen) == -1 || m->fd == -1) {
		err_set(err, sizeof(err), "malformed CONFIG frame");
	} else if ((raw = fd_read_bounded(m->fd, "configuration bundle", BUNDLE_MAX, &len, err,
	                                  sizeof(err))) == NULL) {
		/* err says why */
	} else if (conf_bundle_decode((const uint8_t *)raw, len, &b) == -1) {
		err_set(err, sizeof(err), "configuration bundle does not decode");
	} else {
		conf = conf_parse_bundle(&b, err, sizeof(err));
		conf_bundle_free(&b);
	}
	if (raw) {
		explicit_bzero(raw, len); /* table files may hold hashes */
		free(raw);
	}
	if (conf == NULL) {
		/* The parent checked the same bytes: this is a bug, not the
		 * operator's. The queue goes on with what it has. */
		log_warn("event=reload-failed reason=\"%s\"",
		         log_escape(esc, sizeof(esc), err, strlen(err)));
		return -1;
	}
	conf_wipe_secrets(conf, 0);
	queue_gen_release(q->gen);
	q->gen = queue_gen_new(conf, conf);
	q->conf = conf;
	spool_set_min_free(q->spool, conf->queue_min_free, conf->queue_min_free_inodes);
	retire_all(q, gen);
	log_info("event=config-reloaded generation=%llu", (unsigned long long)gen);
	queue_schedule(q);
	return 0;
}

int queue_admin_reload(struct queue_role *q, uint64_t req)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, req);
	int rc = q->parent ? ipc_send(q->parent, PROTO_RELOAD_REQ, b.data, b.len, -1) : -1;
	buf_free(&b);
	return rc;
}

void queue_reload_answered(struct queue_role *q, const struct ipc_msg *m)
{
	struct proto_reply r;
	if (proto_decode_fail(m->data, m->len, &r) == -1) {
		log_warn("event=bad-frame from=parent type=%u len=%zu", m->type, m->len);
		return;
	}
	if (q->control)
		control_reload_done(q->control, r.req, r.error, r.reason ? r.reason : "");
	proto_reply_free(&r);
}
