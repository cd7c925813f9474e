/* hmap: chained hash map with byte-string keys (see hmap.h). */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

struct hmap_entry {
	uint8_t key[HMAP_KEY_MAX];
	uint8_t klen;
	uint64_t hash;
	void *val;
	struct hmap_entry *next;
};

struct hmap {
	struct hmap_entry **b;
	size_t nb, count;
};

/* FNV-1a, then a final mix so that sequential numbers spread. */
static uint64_t hash_key(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < klen; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

struct hmap *hmap_new(void)
{
	struct hmap *m = xcalloc(1, sizeof(*m));
	m->nb = 64;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	return m;
}

void hmap_free(struct hmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nb; i++) {
		for (struct hmap_entry *e = m->b[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	}
	free(m->b);
	free(m);
}

static struct hmap_entry **find(const struct hmap *m, const void *key, size_t klen, uint64_t h)
{
	struct hmap_entry **pp = &m->b[h & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			return pp;
	return pp;
}

void *hmap_get(const struct hmap *m, const void *key, size_t klen)
{
	if (klen > HMAP_KEY_MAX)
		return NULL;
	struct hmap_entry **pp = find(m, key, klen, hash_key(key, klen));
	return *pp ? (*pp)->val : NULL;
}

static void grow(struct hmap *m)
{
	size_t nb = m->nb * 2;
	struct hmap_entry **b = xcalloc(nb, sizeof(*b));
	for (size_t i = 0; i < m->nb; i++) {
		for (struct hmap_entry *e = m->b[i], *nx; e; e = nx) {
			nx = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void hmap_put(struct hmap *m, const void *key, size_t klen, void *val)
{
	if (klen > HMAP_KEY_MAX)
		fatal("hmap: a key of %zu octets", klen); /* a programming error */
	uint64_t h = hash_key(key, klen);
	struct hmap_entry **pp = find(m, key, klen, h);
	if (*pp) {
		(*pp)->val = val;
		return;
	}
	struct hmap_entry *e = xcalloc(1, sizeof(*e));
	memcpy(e->key, key, klen);
	e->klen = (uint8_t)klen;
	e->hash = h;
	e->val = val;
	*pp = e;
	if (++m->count > m->nb)
		grow(m);
}

void *hmap_del(struct hmap *m, const void *key, size_t klen)
{
	if (klen > HMAP_KEY_MAX)
		return NULL;
	struct hmap_entry **pp = find(m, key, klen, hash_key(key, klen));
	struct hmap_entry *e = *pp;
	if (e == NULL)
		return NULL;
	void *val = e->val;
	*pp = e->next;
	free(e);
	m->count--;
	return val;
}

size_t hmap_count(const struct hmap *m)
{
	return m->count;
}
