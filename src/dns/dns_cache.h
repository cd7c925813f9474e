/*
 * dns_cache: answers kept for their TTL by a process whose lookups are
 * made by another one (the smtp role asks the resolver role through the
 * queue): a repeated question — the same sender domain's SPF record, the
 * same DKIM key, the same DMARC policy, message after message — is
 * answered here without a frame crossing two processes. What is kept is
 * the reply packet as it came (struct dns_raw), parsed again on each use,
 * so the cache holds nothing a parser has not checked again.
 *
 * Bounded: at most max entries (the oldest go first), packets of at most
 * DNS_CACHE_PACKET_MAX octets, TTLs capped at max_ttl. The time is the
 * caller's (seconds), so tests need no clock.
 */
#ifndef RAVEN_DNS_CACHE_H
#define RAVEN_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dns_rdata.h"

#define DNS_CACHE_PACKET_MAX 4096

struct dns_cache;

struct dns_cache *dns_cache_new(size_t max, uint32_t max_ttl);
void dns_cache_free(struct dns_cache *c);
/* Keep a copy of raw for (name, type) until now + ttl (replacing what is
 * there). Nothing is kept for ttl 0, a reply without a packet, or one over
 * DNS_CACHE_PACKET_MAX. */
void dns_cache_put(struct dns_cache *c, const char *name, uint16_t type, const struct dns_raw *raw,
                   uint32_t ttl, int64_t now);
/* 1 and the kept reply in *raw (valid until the next put or free), or 0
 * when there is none still valid at now (an expired one is dropped). Names
 * are compared without regard to ASCII case. */
int dns_cache_get(struct dns_cache *c, const char *name, uint16_t type, int64_t now,
                  struct dns_raw *raw);
size_t dns_cache_count(const struct dns_cache *c);

#endif
