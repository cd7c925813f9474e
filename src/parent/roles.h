/*
 * roles: the parent's supervision of the role processes (role_table.h) —
 * fork and execute each afresh with its channel and inherited sockets,
 * restart any that dies, and stop them all on shutdown. The queue is the
 * hub: every (re)started role gets a fresh socketpair whose other end the
 * parent hands to the queue (PROTO_NEW_PEER).
 */
#ifndef RAVEN_ROLES_H
#define RAVEN_ROLES_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "privsep.h"
#include "server.h"

struct event_base;

struct parent {
	const struct config *conf;
	struct privsep priv;
	struct event_base *base;
	struct listen_fd *listen;
	size_t n_listen;
	int verbose;
	char *pidfile;
	int run_fd;     /* <data>/run, opened without following links */
	int exe_fd;     /* this program, to execute each role afresh */
	int conf_fd;    /* a memfd with the configuration text; -1: the built-in default */
	int control_fd; /* the ravenctl socket, listening, handed to the queue role */
	int lock_fd;    /* the data directory's lock, held for the daemon's life */

	/* The metrics listeners (raven-metrics runs only with some). */
	int *metrics_fd;
	size_t n_metrics;
};

/* Start every role and supervise them until SIGTERM/SIGINT. Returns exit status. */
int roles_run(struct parent *p);

#endif
