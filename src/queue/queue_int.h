/*
 * queue_int: the queue role's state, shared by its files — queue_role.c
 * (peers, group commit, recovery), queue_deliver.c (jobs and outcomes),
 * queue_dsn.c (bounces and notices), queue_admin.c (ravenctl operations).
 */
#ifndef RAVEN_QUEUE_INT_H
#define RAVEN_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "bounce.h"
#include "config.h"
#include "envelope.h"
#include "hmap.h"
#include "ipc.h"
#include "proto.h"
#include "queue_admin.h"
#include "queue_metrics.h"
#include "scheduler.h"
#include "spool.h"

/*
 * A notice to a sender elsewhere, with no relay action configured to carry
 * it, names the action "" (the built-in MX relay). Spools written before
 * destinations were structures named it "relay:DOMAIN"; such envelopes are
 * still understood. Action names cannot hold ':' (conf_build.c).
 */
#define QUEUE_LEGACY_REMOTE "relay:"

/* A configuration and how many hold it: the queue (the current one) and
 * each peer connected under it (queue_reload.c). */
struct conf_gen {
	const struct config *conf;
	struct config *owned; /* NULL: the one the role started with, not ours to free */
	unsigned refs;
};

struct peer {
	struct queue_role *q;
	struct conf_gen *gen;      /* the configuration it was started with */
	int retiring;              /* of an older configuration: no new work; closed once idle */
	struct ipc *ch;            /* NULL once closed */
	struct ipc *ch_dead;       /* the closed channel, until it is freed */
	struct inflight *jobs;     /* delivery peers: the jobs handed to it */
	struct incoming *incoming; /* smtp peers: spool files handed to it */
	enum peer_kind kind;
	uint64_t gauge[MET_COUNT]; /* the gauges it last reported (queue_metrics.c) */
	struct peer *next;
};

/* A spool file handed to smtp and not committed yet. */
struct incoming {
	char id[ENVELOPE_ID_MAX + 1];
	int fd;
	struct peer *owner;
	struct incoming *prev, *next; /* the owner's list */
};

struct pending_commit {
	struct peer *from; /* NULL once that peer is gone: nobody to answer */
	uint64_t req;
	struct envelope env;
	struct incoming *in;
};

/* A batch of COMMITs handed to the spool, until it is durable. */
struct commit_flight {
	struct queue_role *q;
	struct pending_commit *v;
	size_t n;
	struct spool_commit *items;
	int syncing; /* its wave is in flight */
	struct commit_flight *next;
};

/* A job handed to a delivery peer: in the queue's map by job number and
 * on its peer's list. */
struct inflight {
	struct sched_job *job;
	struct peer *peer;
	struct inflight *prev, *next;
};

/* The queue's clocks, injectable so tests can move time. */
struct queue_clock {
	int64_t (*now)(void *arg);        /* wall clock, unix seconds */
	uint64_t (*mono_usec)(void *arg); /* monotonic, microseconds */
	void *arg;
};

struct queue_role {
	const struct config *conf; /* gen->conf: the current configuration */
	struct conf_gen *gen;
	struct event *retire_ev; /* looks for retiring peers that became idle */
	struct queue_clock clock;
	struct event_base *base;
	struct spool *spool;
	struct sched *sched;
	struct ipc *parent;
	struct peer *peers;
	struct hmap *incoming;        /* id -> struct incoming */
	struct pending_commit *batch; /* COMMITs waiting for the next batch */
	size_t n_batch, cap_batch;
	struct event *batch_ev;
	struct commit_flight *flights; /* batches being synced */
	unsigned syncing;              /* batches whose wave is in flight */
	uint64_t wave_started_us;      /* when the newest of them started */
	struct event *spool_ev;        /* the spool's syncs report */
	struct event *timer;
	struct hmap *inflight; /* job number -> struct inflight */
	uint64_t last_id_us;
	struct queue_counters counters;
	struct queue_metrics met;
	struct event *dsn_timer; /* retries failure notices that could not be sent */
	uint64_t last_commit_us; /* when the last commit batch ended */
	struct event *burst_ev;  /* ends a delivery-dispatch pause (queue_schedule) */
	int burst_due;
	struct control *control;
	/* A delivery hit a full disk: watched until space is freed (queue_role.c). */
	int space_watch;
	struct spool_space space_low; /* the lowest figures seen since */
	struct event *space_ev;
	char dest_buf[256]; /* queue_dest_of's next hop, valid for one call */
	int lock_fd;        /* the spool's lock, held for the role's life */
	/* Questions forwarded to the auth, lookup and resolver roles (queue_fwd.c) */
	struct hmap *fwd_pending; /* the queue's number -> struct fwd_pending */
	struct fwd_pending *fwd_list;
	size_t n_fwd_pending;
	uint64_t next_fwd_req;
	unsigned fwd_warned; /* per service: "unavailable" logged until it answers again */
	/* relay jobs waiting for the DKIM signer (queue_sign.c) */
	struct sign_wait *sign_list;
	uint64_t next_sign_req;
};

static inline int64_t queue_now(const struct queue_role *q)
{
	return q->clock.now(q->clock.arg);
}

/* queue_role.c */
void queue_new_id(struct queue_role *q, char *id, size_t len);
/* Commit one message made by the queue itself (a DSN). 0 or -1 (logged). */
/* Commit one message made by the queue itself (a notice): d gets its id.
 * 0 or -1 (logged). */
int queue_inject(struct queue_role *q, struct envelope_draft *d, const struct buf *data);
/* Persist recipient idx's state; logs a failure. */
void queue_persist(struct queue_role *q, struct sched_msg *m, uint32_t idx);
/* Remove a message whose recipients are all final. */
void queue_finish(struct queue_role *q, struct sched_msg *m, const char *why);
/* A delivery failed for want of space (ENOSPC, EDQUOT): give the spool's
 * recycled files back and retry the deferred deliveries once space is freed. */
void queue_space_trouble(struct queue_role *q, const char *id);

/* queue_reload.c */
struct conf_gen *queue_gen_new(const struct config *conf, struct config *owned);
struct conf_gen *queue_gen_ref(struct conf_gen *g);
void queue_gen_release(struct conf_gen *g);
/* CONFIG from the parent: take the new configuration (m->fd, conf_bundle.h)
 * and retire every peer connected so far. 0, or -1 (logged; the running
 * configuration stays). */
int queue_reload_config(struct queue_role *q, const struct ipc_msg *m);
/* RELOAD_RES from the parent: answer the ravenctl connection waiting for it. */
void queue_reload_answered(struct queue_role *q, const struct ipc_msg *m);

/* queue_deliver.c */
void queue_schedule(struct queue_role *q);
/* The scheduler's dest_of: a recipient's transport and next hop, from the
 * configuration (sched_params). */
void queue_dest_of(void *arg, const struct envelope *e, uint32_t idx, struct sched_dest *out);
/* A peer came or went: transports without their role wait, the others go. */
void queue_transports_update(struct queue_role *q);
/* A commit batch just ended (deliveries then pause briefly: queue_deliver.c). */
void queue_note_commit(struct queue_role *q);
/* A delivery peer's DELIVER_RES; -1 if it does not decode or answers a job
 * that peer was not given (the peer is then dropped). */
int queue_handle_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
void queue_peer_lost(struct queue_role *q, struct peer *p);
/* Hand job j to its delivery role (or fail it for now). */
void queue_dispatch(struct queue_role *q, struct sched_job *j);
/* Every recipient of j fails temporarily with why; the job is over. */
void queue_job_fail(struct queue_role *q, struct sched_job *j, const char *why);

/* queue_fwd.c: smtp's AUTH_REQ, LOOKUP_REQ and DNS_REQ to the auth, lookup
 * and resolver roles and their answers back; -1 for a frame that does not
 * decode or answers nothing asked. */
int queue_fwd_request(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
int queue_fwd_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
/* 1 if p (a serving role) has questions waiting for its answer. */
int queue_fwd_busy(const struct queue_role *q, const struct peer *p);
/* 1 if p (a signer peer) has messages waiting for its signature. */
int queue_sign_busy(const struct queue_role *q, const struct peer *p);
/* The connected peer of that kind: the current one; a retiring one while
 * its successor starts, so a reload turns no question away (it is closed
 * once it has answered). NULL: none. */
struct peer *queue_peer_of(const struct queue_role *q, uint32_t kind);
/* A peer closed: its questions are forgotten (smtp) or answered "try
 * again later" (a serving role). */
void queue_fwd_peer_gone(struct queue_role *q, struct peer *p);
void queue_fwd_free(struct queue_role *q);

/* queue_sign.c: DKIM signatures of relayed mail, from the signer role. */
/* 1 if relay job j waits for its message's signature (it is dispatched
 * again once it is in), 0 if it may go now. */
int queue_sign_wait(struct queue_role *q, struct sched_job *j);
/* The signer's SIGN_RES; -1 if it does not decode or answers nothing asked. */
int queue_sign_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
/* A peer closed: if it is the signer, the jobs waiting for it fail for now. */
void queue_sign_peer_gone(struct queue_role *q, struct peer *p);
struct peer *queue_signer(const struct queue_role *q);
void queue_sign_free(struct queue_role *q);

/* queue_dsn.c: one DSN of kind about recipients idx[0..n) of m (action: the
 * DSN action of all of them, e.g. "relayed"; NULL: the kind's). 0 sent, -1 not. */
int queue_dsn(struct queue_role *q, struct sched_msg *m, enum dsn_kind kind, const uint32_t *idx,
              const char *const *status, size_t n, const char *action);
/* 1 if m has a failed recipient whose failure notice is owed but not sent. */
int queue_dsn_owed(const struct sched_msg *m);
/* Retry owed failure notices later (a timer); finished messages then leave. */
void queue_dsn_retry_later(struct queue_role *q);
/* Send every owed failure notice now (what the timer runs). */
void queue_dsn_sweep(struct queue_role *q);

#endif
