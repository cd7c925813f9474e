/*
 * auth_role: the process that checks SMTP AUTH credentials (raven-auth).
 * It alone keeps the password hashes (copied before confinement; every
 * process wipes them from its configuration); it is not network-facing: the smtp
 * role's questions reach it through the queue (AUTH_REQ / AUTH_RES, see
 * proto.h). It runs as `user`, in the empty root, under the allow-list
 * filter, and counts failures per client address (limits auth-failures,
 * auth-lockout): a locked-out address is refused without a hash computed.
 */
#ifndef RAVEN_AUTH_ROLE_H
#define RAVEN_AUTH_ROLE_H

struct config;
struct event_base;

struct credentials;

/* Before confinement: the credentials, copied out of the configuration
 * (which is then wiped in every role, this one included). */
struct credentials *auth_role_prepare(const struct config *conf);
/* Serve the channel to the queue until it closes. Does not return. */
void auth_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    struct credentials *cred);

#endif
