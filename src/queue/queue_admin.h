/*
 * queue_admin: what the queue role offers its control socket (control.c).
 * Every function validates the id it is given and works on the live
 * scheduler and the spool, logging the action with the queue id.
 */
#ifndef RAVEN_QUEUE_ADMIN_H
#define RAVEN_QUEUE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "scheduler.h"

struct queue_role;

/* Counters since the queue role started. */
struct queue_counters {
	uint64_t started;   /* unix time the role started */
	uint64_t committed; /* messages accepted into the spool */
	uint64_t batches;   /* commit batches (committed / batches = mean batch size) */
	uint64_t delivered; /* recipient deliveries */
	uint64_t deferred;  /* temporary failures */
	uint64_t failed;    /* permanent failures and expiries */
	uint64_t bounces;   /* DSNs generated (failure, delay, success) */
	uint64_t removed;   /* messages removed by an administrator */
};

/* What `ravenctl status` shows (control_fmt_status). */
struct status_listener {
	const char *addr; /* numeric, as configured */
	unsigned port;
	int submission;
};

struct queue_status {
	const char *version;  /* of the running daemon (version_string()) */
	const char *hostname; /* the configured or system host name */
	long parent_pid;      /* ravend */
	long queue_pid;       /* this role */
	uint64_t started;     /* unix time the queue role started */
	/* Role processes connected to the queue now (besides itself). */
	size_t smtp, local, relay;
	const struct status_listener *listeners; /* as configured */
	size_t n_listeners;
	struct sched_stats sched;
};

struct sched *queue_admin_sched(struct queue_role *q);
/* The queue's clock (unix seconds). */
int64_t queue_admin_now(struct queue_role *q);
void queue_admin_counters(struct queue_role *q, struct queue_counters *c);
/* Fill st; queue_admin_status_free releases its listener array. */
void queue_admin_status(struct queue_role *q, struct queue_status *st);
void queue_admin_status_free(struct queue_status *st);
/* 0, or -1 with a reason ("no such message", ...). */
int queue_admin_remove(struct queue_role *q, const char *id, char *err, size_t errlen);
int queue_admin_hold(struct queue_role *q, const char *id, char *err, size_t errlen);
int queue_admin_release(struct queue_role *q, const char *id, char *err, size_t errlen);
/* id NULL: every message. */
int queue_admin_flush(struct queue_role *q, const char *id, char *err, size_t errlen);
/* Every metric as Prometheus text (queue_metrics.c); 0, or -1 when out's
 * maximum was reached. */
int queue_admin_prometheus(struct queue_role *q, struct buf *out);
/* Ask the parent for a reload; its answer comes back as
 * control_reload_done(req, ...). 0, or -1 if the parent cannot be asked. */
int queue_admin_reload(struct queue_role *q, uint64_t req);
/* The message's header section (up to 64 KiB) appended to out. */
int queue_admin_headers(struct queue_role *q, const char *id, struct buf *out, char *err,
                        size_t errlen);

#endif
