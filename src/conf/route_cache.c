/*
 * route_cache: SQL tables' answers for routing (route_cache.h).
 */
#include "route_cache.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lookup.h"
#include "table.h"

/* "table" US "key": one cache for every table. */
static void cache_key(char *out, size_t outlen, const char *table, const char *key)
{
	snprintf(out, outlen, "%s\x1f%s", table, key);
}

enum route_answer route_cache_get(void *cache, const struct table *t, const char *key,
                                  const char **value)
{
	char k[LOOKUP_TABLE_MAX + LOOKUP_KEY_MAX + 2];
	int present;
	const char *v;
	if (strlen(key) > LOOKUP_KEY_MAX)
		return ROUTE_ABSENT; /* nobody's address: not worth a query */
	cache_key(k, sizeof(k), table_name(t), key);
	if (!ttl_cache_get(cache, k, (int64_t)time(NULL), &present, &v))
		return ROUTE_UNKNOWN;
	if (!present)
		return ROUTE_ABSENT;
	if (value != NULL)
		*value = v;
	return ROUTE_FOUND;
}

void route_cache_put(struct ttl_cache *cache, const char *table, const char *key, int found,
                     const char *value)
{
	char k[LOOKUP_TABLE_MAX + LOOKUP_KEY_MAX + 2];
	cache_key(k, sizeof(k), table, key);
	ttl_cache_put(cache, k, found, value, (int64_t)time(NULL));
}
