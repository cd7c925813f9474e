/*
 * dkim_crypto: the OpenSSL side of DKIM — public keys from key records,
 * signature checks and signing over a SHA-256 (or, for historic tests,
 * SHA-1) digest of the canonical header data, private key loading and
 * generation. Internal to src/auth; dkim.h is the public face.
 */
#ifndef RAVEN_DKIM_CRYPTO_H
#define RAVEN_DKIM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "dkim.h"
#include "dkim_tags.h"

struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
	unsigned bits;
};

/* The public key of a parsed record: RSA as SubjectPublicKeyInfo or bare
 * RSAPublicKey (both are published), Ed25519 as its 32 raw octets. */
EVP_PKEY *dkim_crypto_pubkey(const struct dkim_keyrec *k, char *err, size_t errlen);
/* 1 if sig is alg's signature of the digest under pkey. */
int dkim_crypto_verify(EVP_PKEY *pkey, enum dkim_alg alg, const uint8_t *digest, size_t dlen,
                       const uint8_t *sig, size_t slen);
/* Sign a digest; *out is malloc'ed. */
int dkim_crypto_sign(const struct dkim_key *key, const uint8_t *digest, size_t dlen, uint8_t **out,
                     size_t *outlen, char *err, size_t errlen);
/* The digest the algorithm uses. */
const EVP_MD *dkim_crypto_md(enum dkim_alg alg);
/* base64 without line breaks, malloc'ed and NUL-terminated. */
char *dkim_base64_encode(const uint8_t *p, size_t n);

#endif
