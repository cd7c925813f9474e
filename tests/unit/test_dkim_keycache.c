/*
 * Unit tests: dkim_keycache — decoded keys by their p= octets, bounded.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dkim_keycache.h"
#include "dkim_tags.h"

/* A fresh Ed25519 key's record, parsed. */
static void new_rec(struct dkim_keyrec *rec)
{
	char *pem, *txt, err[256];
	assert_int_equal(dkim_keygen(DKIM_ALG_ED25519_SHA256, 0, &pem, &txt, err, sizeof(err)), 0);
	assert_int_equal(dkim_keyrec_parse(txt, strlen(txt), rec, err, sizeof(err)), 0);
	free(pem);
	free(txt);
}

static void test_same_key_decoded_once(void **state)
{
	(void)state;
	struct dkim_keycache *c = dkim_keycache_new(4);
	struct dkim_keyrec a, b;
	new_rec(&a);
	new_rec(&b);
	char err[128];
	EVP_PKEY *k1 = dkim_keycache_get(c, &a, err, sizeof(err));
	EVP_PKEY *k2 = dkim_keycache_get(c, &a, err, sizeof(err));
	EVP_PKEY *k3 = dkim_keycache_get(c, &b, err, sizeof(err));
	assert_non_null(k1);
	assert_ptr_equal(k1, k2); /* the decoded key, shared */
	assert_true(k3 != k1);
	size_t hits, decoded;
	dkim_keycache_stats(c, &hits, &decoded);
	assert_int_equal(hits, 1);
	assert_int_equal(decoded, 2);
	/* the caller's references outlive the cache */
	dkim_keycache_free(c);
	assert_int_equal(EVP_PKEY_get_base_id(k1), EVP_PKEY_ED25519);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

/* Same octets under another key type are another key; a changed octet is
 * another key; p= that is no key is refused and never cached. */
static void test_content_addressed(void **state)
{
	(void)state;
	struct dkim_keycache *c = dkim_keycache_new(4);
	struct dkim_keyrec a;
	new_rec(&a);
	char err[128];
	EVP_PKEY *k = dkim_keycache_get(c, &a, err, sizeof(err));
	struct dkim_keyrec other = a;
	other.p[0] ^= 1;
	EVP_PKEY *k2 = dkim_keycache_get(c, &other, err, sizeof(err));
	assert_non_null(k2);
	assert_true(k2 != k);
	struct dkim_keyrec rsa = a;
	rsa.type = DKIM_KEY_RSA; /* 32 octets are no RSA public key */
	err[0] = '\0';
	assert_null(dkim_keycache_get(c, &rsa, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_null(dkim_keycache_get(c, &rsa, err, sizeof(err)));
	size_t hits, decoded;
	dkim_keycache_stats(c, &hits, &decoded);
	assert_int_equal(hits, 0);
	assert_int_equal(decoded, 2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	dkim_keycache_free(c);
}

/* Bounded: with two slots, a third key replaces the oldest. */
static void test_bounded(void **state)
{
	(void)state;
	struct dkim_keycache *c = dkim_keycache_new(2);
	struct dkim_keyrec r[3];
	char err[128];
	for (size_t i = 0; i < 3; i++) {
		new_rec(&r[i]);
		EVP_PKEY_free(dkim_keycache_get(c, &r[i], err, sizeof(err)));
	}
	EVP_PKEY_free(dkim_keycache_get(c, &r[2], err, sizeof(err))); /* kept */
	EVP_PKEY_free(dkim_keycache_get(c, &r[1], err, sizeof(err))); /* kept */
	EVP_PKEY_free(dkim_keycache_get(c, &r[0], err, sizeof(err))); /* was replaced */
	size_t hits, decoded;
	dkim_keycache_stats(c, &hits, &decoded);
	assert_int_equal(hits, 2);
	assert_int_equal(decoded, 4);
	dkim_keycache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_key_decoded_once),
	    cmocka_unit_test(test_content_addressed),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
