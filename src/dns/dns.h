/*
 * dns: asynchronous DNS lookups on the caller's libevent loop, through
 * libunbound's event API (ub_ctx_create_event): no thread, no blocking
 * call, no helper process. Answers are parsed by dns_rdata.c and handed to
 * a callback as typed records; libunbound caches them for their TTL.
 *
 * Everything the resolver reads from the file system (resolv.conf, hosts,
 * the DNSSEC trust anchor) is read in dns_new(), so a role may chroot
 * afterwards. Queries use fresh UDP sockets (and TCP for truncated answers),
 * opened and closed as they go.
 */
#ifndef RAVEN_DNS_H
#define RAVEN_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "dns_rdata.h"

struct event_base;
struct dns_resolver;
struct dns_query;

#define DNS_TIMEOUT_DEFAULT_MS   5000
#define DNS_TRUST_ANCHOR_DEFAULT "/usr/share/dns/root.key"

struct dns_options {
	/* Send every query to this resolver ("192.0.2.53", "::1"); NULL: the
	 * nameservers of resolv_conf, and the names of hosts. */
	const char *forwarder;
	uint16_t port;       /* the forwarder's port; 0: 53 */
	unsigned timeout_ms; /* per query; 0: DNS_TIMEOUT_DEFAULT_MS */
	/* Validate answers with DNSSEC from the trust anchor file (DS or
	 * DNSKEY records; NULL: DNS_TRUST_ANCHOR_DEFAULT). */
	int dnssec;
	const char *trust_anchor;
	const char *resolv_conf; /* NULL: /etc/resolv.conf */
	const char *hosts;       /* NULL: /etc/hosts (a missing file is no error) */
};

/* A resolver on base, or NULL with the reason in err. */
struct dns_resolver *dns_new(struct event_base *base, const struct dns_options *o, char *err,
                             size_t errlen);
/* Cancel every query (no callback is called) and free the resolver. */
void dns_free(struct dns_resolver *r);

/*
 * Look up name (presentation form, see dns_rdata.h) for rrtype. cb is
 * called exactly once, always from the event loop (never from inside
 * dns_lookup), with an answer that lives until cb returns; the query handle
 * is gone once cb is called. NULL when name is not a valid name (nothing
 * will be called).
 */
struct dns_query *dns_lookup(struct dns_resolver *r, const char *name, uint16_t rrtype,
                             void (*cb)(const struct dns_answer *a, void *arg), void *arg);
/*
 * The same lookup, answered with the reply as libunbound gave it (for a
 * resolver role that passes it on to another process). raw lives until cb
 * returns. NULL for an invalid name, or on a remote resolver.
 */
struct dns_query *dns_lookup_raw(struct dns_resolver *r, const char *name, uint16_t rrtype,
                                 void (*cb)(const struct dns_raw *raw, void *arg), void *arg);
/* Forget a query whose callback has not been called yet: it never will. */
void dns_cancel(struct dns_query *q);
/* Queries not yet answered (for tests and statistics). */
size_t dns_pending(const struct dns_resolver *r);
/* The loop the resolver runs on (for callers' own timers). */
struct event_base *dns_event_base(const struct dns_resolver *r);

/*
 * A remote resolver: the same interface (dns_lookup, dns_cancel, the
 * callbacks from the loop, a timeout per query), for a process that may
 * not open sockets. Each question goes out through ask() (to the resolver
 * role, by way of the queue) under a number of its own; the reply comes
 * back through dns_remote_answer() and is parsed here. Replies are kept
 * for their TTL (dns_cache.h: at most cache_max of them, no longer than
 * DNS_REMOTE_MAX_TTL), so a question asked again costs no frame.
 */
#define DNS_REMOTE_MAX_TTL 3600

struct dns_remote_ops {
	/* Send question id; 0, or -1 (the lookup then fails: DNS_TEMPFAIL). */
	int (*ask)(void *arg, uint64_t id, const char *name, uint16_t rrtype);
	void *arg;
};

struct dns_resolver *dns_new_remote(struct event_base *base, const struct dns_remote_ops *ops,
                                    unsigned timeout_ms, size_t cache_max);
/* The reply to question id; one nobody is waiting for is ignored. */
void dns_remote_answer(struct dns_resolver *r, uint64_t id, const struct dns_raw *raw);
/* Answers served from the cache so far (for tests and statistics). */
uint64_t dns_cache_hits(const struct dns_resolver *r);

#endif
