/*
 * dns_role: the raven-dns process — the resolver of the smtp role's
 * checks (DNSBL, SPF, DKIM keys, DMARC policies). The smtp role may not
 * open sockets (its filter forbids socket(2)), so its questions come here
 * through the queue (DNS_REQ, renumbered by the queue as AUTH is) and the
 * replies go back as the packets libunbound got (DNS_RES), which the smtp
 * role parses itself. It holds no secret and parses nothing but the
 * frames: a compromised smtp role gains no socket of its own through it,
 * only answers to DNS questions.
 */
#ifndef RAVEN_DNS_ROLE_H
#define RAVEN_DNS_ROLE_H

struct config;
struct event_base;
struct dns_resolver;

/* Questions answered at once, per role: more wait for nobody, they fail. */
#define DNS_ROLE_MAX_PENDING 8192

/* The resolver (resolv.conf or the configured forwarder), read before the
 * role is confined. Fatal (EX_CONFIG) on error. */
struct dns_resolver *dns_role_prepare(const struct config *conf, struct event_base *base);
/* Serve the queue channel until it closes. Does not return. */
void dns_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                   struct dns_resolver *dns) __attribute__((noreturn));

#endif
