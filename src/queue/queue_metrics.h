/*
 * queue_metrics: the queue as the place where Raven's metrics add up. It
 * counts its own events (commits, delivery outcomes and latencies, notices)
 * and adds every role's COUNTERS frames to totals it keeps for its whole
 * life, so a restarted smtp, local or relay role never makes a total go
 * back; a role's gauges count while its channel is open. The parent tells
 * it how often each role was started (ROLE_STARTS). It renders all of it
 * (metrics_fmt.c) for the metrics role (METRICS_REQ) and for the control
 * socket (queue_admin_prometheus).
 */
#ifndef RAVEN_QUEUE_METRICS_H
#define RAVEN_QUEUE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "bounce.h"
#include "ipc.h"
#include "metrics.h"
#include "prom.h"
#include "scheduler.h"

struct peer;
struct queue_role;

struct queue_metrics {
	uint64_t v[MET_COUNT];       /* counters: the queue's and the sum of every peer's */
	struct prom_hist batch;      /* commit batch sizes */
	struct prom_hist latency[2]; /* arrival in the queue -> delivered: local, relay */
	struct role_starts starts;   /* the parent's last ROLE_STARTS */
};

void queue_metrics_init(struct queue_metrics *qm);

/* peer_frames handlers (queue_role.c): -1 drops the peer. */
int queue_metrics_counters(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
int queue_metrics_request(struct queue_role *q, struct peer *p, const struct ipc_msg *m);
/* The parent's ROLE_STARTS; -1 if it does not decode (then ignored). */
int queue_metrics_starts(struct queue_role *q, const struct ipc_msg *m);

/* Events. m may be NULL (arrived: nothing to stamp). */
void queue_metrics_arrived(struct queue_role *q, struct sched_msg *m);
void queue_metrics_batch(struct queue_role *q, size_t n);
void queue_metrics_outcome(struct queue_role *q, const struct sched_job *j,
                           const struct sched_msg *m, uint8_t state);
void queue_metrics_dsn(struct queue_role *q, enum dsn_kind kind);
void queue_metrics_count(struct queue_role *q, enum metric_id id);

#endif
