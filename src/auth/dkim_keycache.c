/*
 * dkim_keycache: decoded DKIM public keys by content (dkim_keycache.h).
 */
#include "dkim_keycache.h"

#include <stdlib.h>
#include <string.h>

#include "dkim_crypto.h"
#include "xmalloc.h"

struct slot {
	enum dkim_keytype type;
	uint8_t *p; /* NULL: empty */
	size_t plen;
	EVP_PKEY *pkey;
};

struct dkim_keycache {
	struct slot *slots;
	size_t n, next; /* next: the slot replaced next (the oldest) */
	size_t hits, decoded;
};

struct dkim_keycache *dkim_keycache_new(size_t slots)
{
	struct dkim_keycache *c = xcalloc(1, sizeof(*c));
	c->n = slots ? slots : 1;
	c->slots = xcalloc(c->n, sizeof(*c->slots));
	return c;
}

void dkim_keycache_free(struct dkim_keycache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->slots[i].p);
		EVP_PKEY_free(c->slots[i].pkey);
	}
	free(c->slots);
	free(c);
}

EVP_PKEY *dkim_keycache_get(struct dkim_keycache *c, const struct dkim_keyrec *k, char *err,
                            size_t errlen)
{
	for (size_t i = 0; i < c->n; i++) {
		struct slot *s = &c->slots[i];
		if (s->p != NULL && s->type == k->type && s->plen == k->plen &&
		    memcmp(s->p, k->p, k->plen) == 0 && EVP_PKEY_up_ref(s->pkey) == 1) {
			c->hits++;
			return s->pkey;
		}
	}
	EVP_PKEY *pkey = dkim_crypto_pubkey(k, err, errlen);
	if (pkey == NULL || EVP_PKEY_up_ref(pkey) != 1)
		return pkey; /* refused, or (never seen) not shareable: the caller's alone */
	c->decoded++;
	struct slot *s = &c->slots[c->next];
	c->next = (c->next + 1) % c->n;
	free(s->p);
	EVP_PKEY_free(s->pkey);
	s->type = k->type;
	s->p = xmalloc(k->plen ? k->plen : 1);
	memcpy(s->p, k->p, k->plen);
	s->plen = k->plen;
	s->pkey = pkey; /* the cache's reference; the caller has the other */
	return pkey;
}

void dkim_keycache_stats(const struct dkim_keycache *c, size_t *hits, size_t *decoded)
{
	*hits = c->hits;
	*decoded = c->decoded;
}
