/*
 * ttl_cache: see ttl_cache.h. The entries sit in a ring in insertion order
 * (the order they expire in) and in a hash map keyed by a 64-bit hash of
 * the key (hmap keys are short); the entry keeps the whole key, so a hash
 * collision is a miss, never a wrong answer.
 */
#include "ttl_cache.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "xmalloc.h"

struct ttl_entry {
	char *key;
	char *value;
	int present;
	int64_t expires;
	uint64_t hash;
};

struct ttl_cache {
	struct hmap *map; /* hash -> struct ttl_entry */
	struct ttl_entry **ring;
	size_t max, head, n; /* the oldest is ring[head] */
	int64_t ttl;
};

static uint64_t key_hash(const char *key)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

struct ttl_cache *ttl_cache_new(size_t max, int64_t ttl)
{
	struct ttl_cache *c = xcalloc(1, sizeof(*c));
	c->map = hmap_new();
	c->max = max > 0 ? max : 1;
	c->ring = xcalloc(c->max, sizeof(*c->ring));
	c->ttl = ttl;
	return c;
}

static void entry_free(struct ttl_entry *e)
{
	if (e == NULL)
		return;
	free(e->key);
	free(e->value);
	free(e);
}

void ttl_cache_free(struct ttl_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_free(c->ring[(c->head + i) % c->max]);
	hmap_free(c->map);
	free(c->ring);
	free(c);
}

static struct ttl_entry *find(const struct ttl_cache *c, const char *key, uint64_t h)
{
	struct ttl_entry *e = hmap_get(c->map, &h, sizeof(h));
	return e != NULL && strcmp(e->key, key) == 0 ? e : NULL;
}

int ttl_cache_get(const struct ttl_cache *c, const char *key, int64_t now, int *present,
                  const char **value)
{
	struct ttl_entry *e = find(c, key, key_hash(key));
	if (e == NULL || now >= e->expires)
		return 0;
	*present = e->present;
	*value = e->value;
	return 1;
}

/* Drop the oldest entry (from the map only if it is still the one there). */
static void drop_oldest(struct ttl_cache *c)
{
	struct ttl_entry *e = c->ring[c->head];
	if (hmap_get(c->map, &e->hash, sizeof(e->hash)) == e)
		hmap_del(c->map, &e->hash, sizeof(e->hash));
	entry_free(e);
	c->ring[c->head] = NULL;
	c->head = (c->head + 1) % c->max;
	c->n--;
}

void ttl_cache_put(struct ttl_cache *c, const char *key, int present, const char *value,
                   int64_t now)
{
	/* Expired entries leave first, then the oldest if still full. */
	while (c->n > 0 && now >= c->ring[c->head]->expires)
		drop_oldest(c);
	if (c->n == c->max)
		drop_oldest(c);
	struct ttl_entry *e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->value = xstrdup(present && value != NULL ? value : "");
	e->present = present;
	e->expires = now + c->ttl;
	e->hash = key_hash(key);
	/* A newer answer for the same key (or a colliding one) takes the map's
	 * slot; the older entry stays in the ring until its turn to go. */
	hmap_put(c->map, &e->hash, sizeof(e->hash), e);
	c->ring[(c->head + c->n) % c->max] = e;
	c->n++;
}

size_t ttl_cache_count(const struct ttl_cache *c)
{
	return c->n;
}
