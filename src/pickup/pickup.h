/*
 * pickup: the role (raven-pickup) that takes locally submitted mail from
 * the maildrop (<data>/maildrop, written by raven-postdrop) into the queue,
 * as an SMTP session would: a spool file from the queue, our Received:
 * header naming the submitter's uid, the message, a COMMIT the queue
 * verifies; the maildrop file is removed only once the queue acknowledged
 * (docs/ARCHITECTURE.md, docs/SPOOL.md §7).
 */
#ifndef RAVEN_PICKUP_H
#define RAVEN_PICKUP_H

#include <stddef.h>

#include "config.h"

struct event_base;
struct pickup;

/* Open the maildrop and its inotify watch before the role is confined
 * (chrooted into the maildrop); NULL with a reason in err. */
struct pickup *pickup_prepare(const struct config *conf, struct event_base *base, char *err,
                              size_t errlen);
/* Serve until the queue channel closes. Does not return. */
void pickup_run(struct pickup *p, int queue_sock) __attribute__((noreturn));

#endif
