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

struct sched *queue_admin_sched(struct queue_role *q);
/* The queue's clock (unix seconds). */
int64_t queue_admin_now(struct queue_role *q);
void queue_admin_counters(struct queue_role *q, struct queue_counters *c);
/* 0, or -1 with a reason ("no such message", ...). */
int queue_admin_remove(struct queue_role *q, const char *id, char *err, size_t errlen);
int queue_admin_hold(struct queue_role *q, const char *id, char *err, size_t errlen);
int queue_admin_release(struct queue_role *q, const char *id, char *err, size_t errlen);
/* id NULL: every message. */
int queue_admin_flush(struct queue_role *q, const char *id, char *err, size_t errlen);
/* The message's header section (up to 64 KiB) appended to out. */
int queue_admin_headers(struct queue_role *q, const char *id, struct buf *out, char *err,
                        size_t errlen);

#endif
