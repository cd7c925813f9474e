/*
 * relay: the outbound relay role (raven-relay) — SMTP delivery to the
 * hosts a recipient's domain names in DNS (MX, RFC 5321 §5.1) or to a
 * configured smarthost, and LMTP delivery (RFC 2033) to the target of an
 * lmtp action, with opportunistic or required TLS, connection reuse and
 * one outcome per recipient. See relay_role.c.
 */
#ifndef RAVEN_RELAY_H
#define RAVEN_RELAY_H

#include <stddef.h>

#include "config.h"

struct event_base;
struct relay;

/*
 * Everything the role needs from the file system, made before it is
 * confined: the resolver (resolv.conf or the configured forwarder) and
 * the TLS context (the CA store). NULL with a reason in err.
 */
struct relay *relay_prepare(const struct config *conf, struct event_base *base, char *err,
                            size_t errlen);
/* Serve the queue channel until it closes (parent_sock: the service
 * channel to the parent for unix-domain LMTP targets, or -1). Does not
 * return. */
void relay_run(struct relay *r, int queue_sock, int parent_sock) __attribute__((noreturn));

#endif
