/*
 * local_role: the local-delivery process. It receives one delivery request
 * at a time from the queue (with a read-only descriptor of the message),
 * takes on the mailbox owner's file-system identity for the write only
 * (setfsuid/setfsgid, as Postfix's local(8) switches per delivery) and
 * answers ok / temp / perm.
 */
#ifndef RAVEN_LOCAL_ROLE_H
#define RAVEN_LOCAL_ROLE_H

#include "config.h"

struct event_base;

/* Run until the queue channel closes. Does not return. */
void local_role_main(const struct config *conf, struct event_base *base, int queue_sock);

#endif
