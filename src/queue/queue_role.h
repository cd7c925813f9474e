/*
 * queue_role: the queue process — sole owner of the spool. Hands out spool
 * files, commits messages in batches (group commit), schedules deliveries
 * and records their outcomes.
 */
#ifndef RAVEN_QUEUE_ROLE_H
#define RAVEN_QUEUE_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;
struct spool_ops;

struct queue_role;

struct queue_role_opts {
	const struct config *conf;
	struct event_base *base;
	int parent_sock;       /* the channel the parent hands peers over */
	const char *spool_dir; /* "/" once chrooted into it */
	int control_fd;        /* the listening ravenctl socket, or -1 */
	/* Clocks (NULL: the system's), for tests that move time. */
	int64_t (*now)(void *arg);
	uint64_t (*mono_usec)(void *arg);
	void *clock_arg;
	/* The spool's system calls (NULL: the real ones), for tests that hold
	 * a sync. */
	const struct spool_ops *spool_ops;
};

/* The queue on base, without running the loop (tests drive it). NULL with
 * a reason when the spool cannot be opened. */
struct queue_role *queue_role_new(const struct queue_role_opts *o, char *err, size_t errlen);
void queue_role_free(struct queue_role *q);

/*
 * Run until the parent channel closes, with the spool at spool_dir ("/"
 * when chrooted into it) and the listening ravenctl socket control_fd (or
 * -1). Does not return.
 */
void queue_role_main(const struct config *conf, struct event_base *base, int parent_sock,
                     const char *spool_dir, int control_fd);

#endif
