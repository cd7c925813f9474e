/*
 * dkim_crypto: OpenSSL 3 operations for DKIM (see dkim_crypto.h) and the
 * public key API of dkim.h: loading, generating and publishing keys.
 */
#include "dkim_crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define KEYFILE_MAX (64 * 1024)

const EVP_MD *dkim_crypto_md(enum dkim_alg alg)
{
	return alg == DKIM_ALG_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

char *dkim_base64_encode(const uint8_t *p, size_t n)
{
	if (n > (SIZE_MAX / 4) * 3 - 3 || n > INT32_MAX / 2)
		fatal("base64: input too large");
	char *out = xmalloc((n + 2) / 3 * 4 + 1);
	int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	out[len] = '\0';
	return out;
}

EVP_PKEY *dkim_crypto_pubkey(const struct dkim_keyrec *k, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	if (k->type == DKIM_KEY_ED25519) {
		if (k->plen != 32) {
			err_set(err, errlen, "Ed25519 key of %zu octets (32 expected)", k->plen);
			return NULL;
		}
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->p, k->plen);
	} else {
		const unsigned char *q = k->p;
		pkey = d2i_PUBKEY(NULL, &q, (long)k->plen);
		if (pkey != NULL &&
		    (q != k->p + k->plen || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		if (pkey == NULL) {
			q = k->p;
			pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)k->plen);
			if (pkey != NULL && q != k->p + k->plen) {
				EVP_PKEY_free(pkey);
				pkey = NULL;
			}
		}
	}
	ERR_clear_error();
	if (pkey == NULL)
		err_set(err, errlen, "public key (p=) does not decode");
	return pkey;
}

int dkim_crypto_verify(EVP_PKEY *pkey, enum dkim_alg alg, const uint8_t *digest, size_t dlen,
                       const uint8_t *sig, size_t slen)
{
	int ok = 0;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463: pure Ed25519 over the SHA-256 digest. */
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1)
			ok = EVP_DigestVerify(md, sig, slen, digest, dlen) == 1;
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(ctx, dkim_crypto_md(alg)) == 1)
			ok = EVP_PKEY_verify(ctx, sig, slen, digest, dlen) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	ERR_clear_error();
	return ok;
}

int dkim_crypto_sign(const struct dkim_key *key, const uint8_t *digest, size_t dlen, uint8_t **out,
                     size_t *outlen, char *err, size_t errlen)
{
	size_t len = 0;
	uint8_t *sig = NULL;
	int ok = 0;
	if (key->alg == DKIM_ALG_ED25519_SHA256) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, key->pkey) == 1 &&
		    EVP_DigestSign(md, NULL, &len, digest, dlen) == 1) {
			sig = xmalloc(len);
			ok = EVP_DigestSign(md, sig, &len, digest, dlen) == 1;
		}
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key->pkey, NULL);
		if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
		    EVP_PKEY_sign(ctx, NULL, &len, digest, dlen) == 1) {
			sig = xmalloc(len);
			ok = EVP_PKEY_sign(ctx, sig, &len, digest, dlen) == 1;
		}
		EVP_PKEY_CTX_free(ctx);
	}
	ERR_clear_error();
	if (!ok) {
		free(sig);
		err_set(err, errlen, "signing failed");
		return -1;
	}
	*out = sig;
	*outlen = len;
	return 0;
}

static int key_adopt(EVP_PKEY *pkey, struct dkim_key **out, char *err, size_t errlen)
{
	struct dkim_key *k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	k->bits = (unsigned)EVP_PKEY_get_bits(pkey);
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		k->alg = DKIM_ALG_RSA_SHA256;
		if (k->bits < 1024) {
			err_set(err, errlen,
			        "RSA key of %u bits is too short (RFC 8301: 1024 at least)",
			        k->bits);
			dkim_key_free(k);
			return -1;
		}
		break;
	case EVP_PKEY_ED25519:
		k->alg = DKIM_ALG_ED25519_SHA256;
		break;
	default:
		err_set(err, errlen, "not an RSA or Ed25519 key");
		dkim_key_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

int dkim_key_parse(const char *text, size_t len, struct dkim_key **out, char *err, size_t errlen)
{
	if (len > INT32_MAX) {
		err_set(err, errlen, "key too large");
		return -1;
	}
	EVP_PKEY *pkey = NULL;
	if (memmem(text, len, "-----BEGIN", 10) != NULL) {
		BIO *bio = BIO_new_mem_buf(text, (int)len);
		if (bio == NULL)
			fatal("BIO_new_mem_buf failed");
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		/* dkimpy and Exim keep an Ed25519 key as its base64 seed alone. */
		uint8_t seed[64];
		size_t n;
		if (dkim_base64_decode(text, len, seed, sizeof(seed), &n) == 0 && n == 32)
			pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, n);
		OPENSSL_cleanse(seed, sizeof(seed));
	}
	ERR_clear_error();
	if (pkey == NULL) {
		err_set(err, errlen, "no private key (PEM or base64 Ed25519 seed) found");
		return -1;
	}
	return key_adopt(pkey, out, err, errlen);
}

int dkim_key_load(const char *path, struct dkim_key **out, char *err, size_t errlen)
{
	size_t len;
	char *text = file_read_bounded(path, KEYFILE_MAX, &len, err, errlen);
	if (text == NULL)
		return -1;
	char why[200];
	int rc = dkim_key_parse(text, len, out, why, sizeof(why));
	if (rc == -1)
		err_set(err, errlen, "%s: %s", path, why);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

void dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum dkim_alg dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

char *dkim_key_dns_txt(const struct dkim_key *k)
{
	uint8_t raw[32];
	size_t n = sizeof(raw);
	char *b64;
	if (k->alg == DKIM_ALG_ED25519_SHA256) {
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1)
			fatal("EVP_PKEY_get_raw_public_key failed");
		b64 = dkim_base64_encode(raw, n);
	} else {
		unsigned char *der = NULL;
		int len = i2d_PUBKEY(k->pkey, &der);
		if (len <= 0)
			fatal("i2d_PUBKEY failed");
		b64 = dkim_base64_encode(der, (size_t)len);
		OPENSSL_free(der);
	}
	char *txt = xasprintf("v=DKIM1; k=%s; p=%s",
	                      k->alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa", b64);
	free(b64);
	return txt;
}

int dkim_keygen(enum dkim_alg alg, unsigned bits, char **out_pem, char **out_dns_txt, char *err,
                size_t errlen)
{
	EVP_PKEY *pkey;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else if (alg == DKIM_ALG_RSA_SHA256) {
		if (bits == 0)
			bits = 2048;
		if (bits < 1024 || bits > 8192) {
			err_set(err, errlen, "RSA key size %u outside 1024..8192", bits);
			return -1;
		}
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else {
		err_set(err, errlen, "cannot generate keys for %s", dkim_alg_name(alg));
		return -1;
	}
	if (pkey == NULL) {
		ERR_clear_error();
		err_set(err, errlen, "key generation failed");
		return -1;
	}
	struct dkim_key *k;
	if (key_adopt(pkey, &k, err, errlen) == -1)
		return -1;
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL || PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1)
		fatal("PEM_write_bio_PrivateKey failed");
	char *mem;
	long len = BIO_get_mem_data(bio, &mem);
	*out_pem = xstrndup(mem, (size_t)len);
	BIO_free(bio);
	*out_dns_txt = dkim_key_dns_txt(k);
	dkim_key_free(k);
	return 0;
}
