/*
 * route_cache: what the lookup role answered about SQL tables, kept a few
 * seconds for routing (the `fn` of a struct route_lookup, its `arg` a
 * struct ttl_cache). Shared by the roles that route with SQL tables
 * without blocking — smtp at RCPT and MAIL, pickup for raven-sendmail's
 * mail: each asks what routing says it lacks, puts the answer here and
 * routes again.
 */
#ifndef RAVEN_ROUTE_CACHE_H
#define RAVEN_ROUTE_CACHE_H

#include "route.h"
#include "ttl_cache.h"

/* How long an answer is kept, and how many. */
#define ROUTE_CACHE_TTL 5
#define ROUTE_CACHE_MAX 10000

/* route_lookup's fn: ROUTE_FOUND (and *value), ROUTE_ABSENT, or
 * ROUTE_UNKNOWN when the cache has no live answer. */
enum route_answer route_cache_get(void *cache, const struct table *t, const char *key,
                                  const char **value);
/* The lookup role's answer for table/key, found or not. */
void route_cache_put(struct ttl_cache *cache, const char *table, const char *key, int found,
                     const char *value);

#endif
