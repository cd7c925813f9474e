/*
 * queue_role: the queue process — sole owner of the spool. Hands out spool
 * files, commits messages in batches (group commit), schedules deliveries
 * and records their outcomes.
 */
#ifndef RAVEN_QUEUE_ROLE_H
#define RAVEN_QUEUE_ROLE_H

#include "config.h"

struct event_base;

/*
 * Run until the parent channel closes, with the spool at spool_dir ("/"
 * when chrooted into it) and the listening ravenctl socket control_fd (or
 * -1). Does not return.
 */
void queue_role_main(const struct config *conf, struct event_base *base, int parent_sock,
                     const char *spool_dir, int control_fd);

#endif
