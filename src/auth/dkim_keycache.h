/*
 * dkim_keycache: decoded DKIM public keys, remembered by their p= octets.
 *
 * Decoding a key (OpenSSL 3's decoders) costs more than checking the
 * signature it verifies, and the same few keys sign most of the mail a
 * server sees. The cache is addressed by content (key type and p= octets),
 * so an entry can never be stale: a key published anew has new octets.
 * Bounded: a fixed number of slots, the oldest replaced first.
 */
#ifndef RAVEN_DKIM_KEYCACHE_H
#define RAVEN_DKIM_KEYCACHE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "dkim_tags.h"

struct dkim_keycache;

struct dkim_keycache *dkim_keycache_new(size_t slots);
void dkim_keycache_free(struct dkim_keycache *c);
/*
 * The public key of k, decoded once: a new reference the caller frees with
 * EVP_PKEY_free(). NULL with err when p= is not a usable key (not cached:
 * such records are rare and cheap to refuse again).
 */
EVP_PKEY *dkim_keycache_get(struct dkim_keycache *c, const struct dkim_keyrec *k, char *err,
                            size_t errlen);
/* Lookups answered from the cache, and keys decoded (for tests). */
void dkim_keycache_stats(const struct dkim_keycache *c, size_t *hits, size_t *decoded);

#endif
