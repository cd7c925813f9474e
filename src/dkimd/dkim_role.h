/*
 * dkim_role: the raven-dkim process — the DKIM signer. It alone holds the
 * private keys of `dkim sign` (read in its prepare step, before it gives up
 * root and its file system), so neither the network-facing smtp role nor the
 * relay ever sees one. The queue hands it a message about to be relayed
 * (SIGN_REQ with a read-only descriptor of the spooled data); it finds the
 * From: domain, and if a key is configured for it signs the message
 * (relaxed/relaxed, From over-signed) and answers the whole DKIM-Signature
 * field (SIGN_RES), which the queue puts at the top of the message.
 */
#ifndef RAVEN_DKIM_ROLE_H
#define RAVEN_DKIM_ROLE_H

struct config;
struct event_base;
struct dkim_keys;

/* The keys of every `dkim sign` statement, loaded before the role is
 * confined. Fatal (EX_CONFIG) if one cannot be loaded. */
struct dkim_keys *dkim_role_prepare(const struct config *conf);
/* Serve the queue channel until it closes. Does not return. */
void dkim_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    struct dkim_keys *keys) __attribute__((noreturn));

#endif
