/*
 * libFuzzer target for the DKIM key record parser, and for OpenSSL's
 * decoding of the key it carries (p= comes from DNS, so from anyone).
 * An accepted record must have a p= of bounded size or be revoked.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dkim_crypto.h"
#include "dkim_tags.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_keyrec k;
	char err[160];
	if (dkim_keyrec_parse((const char *)data, size, &k, err, sizeof(err)) == 0) {
		if (k.revoked ? k.plen != 0 : k.plen == 0 || k.plen > sizeof(k.p))
			abort();
		if (!k.revoked) {
			EVP_PKEY *pkey = dkim_crypto_pubkey(&k, err, sizeof(err));
			if (pkey != NULL) {
				int ed = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
				if (ed != (k.type == DKIM_KEY_ED25519))
					abort();
				uint8_t digest[32] = {0}, sig[64] = {0};
				/* a check against garbage must fail, not crash */
				if (dkim_crypto_verify(
				        pkey, ed ? DKIM_ALG_ED25519_SHA256 : DKIM_ALG_RSA_SHA256,
				        digest, sizeof(digest), sig, sizeof(sig)))
					abort();
				EVP_PKEY_free(pkey);
			}
		}
	}
	return 0;
}
