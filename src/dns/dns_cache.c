/*
 * dns_cache: a bounded answer cache (see dns_cache.h). Entries are in a
 * hash map by a 64-bit hash of (type, lowercased name), chained on
 * collisions, and on one list in the order they were stored: when the
 * cache is full the oldest entry goes, whatever its TTL.
 */
#include "dns_cache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hmap.h"
#include "xmalloc.h"

struct entry {
	uint64_t hash;
	uint16_t type;
	char *name;
	int64_t expires;
	int rcode, sec;
	uint8_t *pkt;
	size_t len;
	struct entry *chain;         /* same hash */
	struct entry *older, *newer; /* the age list */
};

struct dns_cache {
	struct hmap *map; /* hash -> chain of struct entry */
	struct entry *oldest, *newest;
	size_t n, max;
	uint32_t max_ttl;
};

static uint64_t key_hash(const char *name, uint16_t type)
{
	uint64_t h = 14695981039346656037ull ^ type;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p | 0x20) : *p;
		h = (h ^ c) * 1099511628211ull;
	}
	return h;
}

struct dns_cache *dns_cache_new(size_t max, uint32_t max_ttl)
{
	struct dns_cache *c = xcalloc(1, sizeof(*c));
	c->map = hmap_new();
	c->max = max ? max : 1;
	c->max_ttl = max_ttl;
	return c;
}

static void entry_drop(struct dns_cache *c, struct entry *e)
{
	struct entry *head = hmap_get_u64(c->map, e->hash);
	struct entry **pp = &head;
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	if (head)
		hmap_put_u64(c->map, e->hash, head);
	else
		hmap_del_u64(c->map, e->hash);
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->n--;
	free(e->name);
	free(e->pkt);
	free(e);
}

void dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	while (c->oldest)
		entry_drop(c, c->oldest);
	hmap_free(c->map);
	free(c);
}

static struct entry *find(const struct dns_cache *c, const char *name, uint16_t type, uint64_t hash)
{
	for (struct entry *e = hmap_get_u64(c->map, hash); e; e = e->chain)
		if (e->type == type && strcasecmp(e->name, name) == 0)
			return e;
	return NULL;
}

void dns_cache_put(struct dns_cache *c, const char *name, uint16_t type, const struct dns_raw *raw,
                   uint32_t ttl, int64_t now)
{
	if (ttl == 0 || !raw->answered || raw->pkt == NULL || raw->len > DNS_CACHE_PACKET_MAX)
		return;
	if (ttl > c->max_ttl)
		ttl = c->max_ttl;
	uint64_t h = key_hash(name, type);
	struct entry *old = find(c, name, type, h);
	if (old)
		entry_drop(c, old);
	while (c->n >= c->max)
		entry_drop(c, c->oldest);
	struct entry *e = xcalloc(1, sizeof(*e));
	e->hash = h;
	e->type = type;
	e->name = xstrdup(name);
	e->expires = now + (int64_t)ttl;
	e->rcode = raw->rcode;
	e->sec = raw->sec;
	e->len = raw->len;
	e->pkt = xmalloc(raw->len ? raw->len : 1);
	memcpy(e->pkt, raw->pkt, raw->len);
	e->chain = hmap_get_u64(c->map, h);
	hmap_put_u64(c->map, h, e);
	e->older = c->newest;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->n++;
}

int dns_cache_get(struct dns_cache *c, const char *name, uint16_t type, int64_t now,
                  struct dns_raw *raw)
{
	struct entry *e = find(c, name, type, key_hash(name, type));
	if (e == NULL)
		return 0;
	if (now >= e->expires) {
		entry_drop(c, e);
		return 0;
	}
	memset(raw, 0, sizeof(*raw));
	raw->answered = 1;
	raw->rcode = e->rcode;
	raw->sec = e->sec;
	raw->pkt = e->pkt;
	raw->len = e->len;
	return 1;
}

size_t dns_cache_count(const struct dns_cache *c)
{
	return c->n;
}
