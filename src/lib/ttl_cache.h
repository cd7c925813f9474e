/*
 * ttl_cache: answers kept for a few seconds — a string key to "present,
 * with this value" or "absent" (negative answers are kept too: a flood of
 * unknown recipients must not become a flood of queries). Bounded: past
 * max entries the oldest goes first. Every entry lives the same ttl, so
 * the oldest is also the first to expire. Time is the caller's (seconds),
 * which keeps the cache a pure structure for the tests.
 */
#ifndef RAVEN_TTL_CACHE_H
#define RAVEN_TTL_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct ttl_cache;

struct ttl_cache *ttl_cache_new(size_t max, int64_t ttl);
void ttl_cache_free(struct ttl_cache *c);
/* 1 if key has a live answer: *present, and *value (never NULL when
 * present; "" for no value), valid until the next put; else 0. */
int ttl_cache_get(const struct ttl_cache *c, const char *key, int64_t now, int *present,
                  const char **value);
void ttl_cache_put(struct ttl_cache *c, const char *key, int present, const char *value,
                   int64_t now);
size_t ttl_cache_count(const struct ttl_cache *c);

#endif
