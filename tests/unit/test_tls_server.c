/*
 * Unit tests for src/net/tls_server.c: certificates loaded from files
 * (mismatched and missing ones refused with the path), SNI choosing among
 * them by their DNS names, the self-signed fallback, the protocol floor
 * (TLS 1.2), and real handshakes over an in-memory BIO pair.
 */
#include "unit_util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_server.h"
#include "xmalloc.h"

/* Write a self-signed P-256 certificate for cn with subjectAltName san
 * (NULL: none) and its key under dir as <tag>.pem and <tag>.key. */
static void make_cert(const char *dir, const char *tag, const char *cn, const char *san,
                      char **cert, char **key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(pk);
	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, nm);
	if (san != NULL) {
		X509V3_CTX v3;
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	*cert = xasprintf("%s/%s.pem", dir, tag);
	*key = xasprintf("%s/%s.key", dir, tag);
	FILE *f = fopen(*cert, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(*key, "w");
	assert_non_null(f);
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

/*
 * A handshake between a client (versions min..max, SNI sni) and the server
 * over a BIO pair. Returns 1 on success with the server certificate's CN
 * in cn, 0 when the handshake failed.
 */
static int handshake(struct tls_server *t, int min, int max, const char *sni, char *cn,
                     size_t cnlen)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cctx, min);
	SSL_CTX_set_max_proto_version(cctx, max);
	SSL_CTX_set_security_level(cctx, 0);
	SSL *c = SSL_new(cctx), *s = tls_server_ssl(t);
	assert_non_null(s);
	BIO *cb, *sb;
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	if (sni)
		SSL_set_tlsext_host_name(c, sni);
	int ok = 0;
	for (int i = 0; i < 64; i++) {
		int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1) {
			ok = 1;
			break;
		}
		int ec = rc == 1 ? 0 : SSL_get_error(c, rc),
		    es = rs == 1 ? 0 : SSL_get_error(s, rs);
		if ((ec && ec != SSL_ERROR_WANT_READ && ec != SSL_ERROR_WANT_WRITE) ||
		    (es && es != SSL_ERROR_WANT_READ && es != SSL_ERROR_WANT_WRITE))
			break;
	}
	if (ok) {
		X509 *peer = SSL_get1_peer_certificate(c);
		assert_non_null(peer);
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
		                          (int)cnlen);
		X509_free(peer);
		assert_true(SSL_version(s) >= TLS1_2_VERSION);
	}
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return ok;
}

static void test_name_match(void **state)
{
	(void)state;
	assert_true(tls_name_match("mx.example.org", "mx.example.org"));
	assert_true(tls_name_match("mx.example.org", "MX.Example.ORG"));
	assert_true(tls_name_match("mx.example.org", "mx.example.org."));
	assert_false(tls_name_match("mx.example.org", "mx.example.org.evil"));
	assert_false(tls_name_match("mx.example.org", "x.example.org"));
	assert_false(tls_name_match("mx.example.org", ""));
	assert_true(tls_name_match("*.example.org", "a.example.org"));
	assert_true(tls_name_match("*.example.org", "A.EXAMPLE.org"));
	assert_false(tls_name_match("*.example.org", "example.org"));
	assert_false(tls_name_match("*.example.org", "b.a.example.org"));
	assert_false(tls_name_match("*.example.org", ".example.org"));
	assert_false(tls_name_match("*.example.org", "aexample.org"));
}

static void test_self_signed(void **state)
{
	(void)state;
	char err[512], cn[256];
	struct tls_server *t = tls_server_new(NULL, 0, "mx.test.example", err, sizeof(err));
	assert_non_null(t);
	assert_true(tls_server_self_signed(t));
	assert_int_equal(tls_server_warm(t, err, sizeof(err)), 0);
	assert_int_equal(handshake(t, TLS1_3_VERSION, TLS1_3_VERSION, NULL, cn, sizeof(cn)), 1);
	assert_string_equal(cn, "mx.test.example");
	assert_int_equal(handshake(t, TLS1_2_VERSION, TLS1_2_VERSION, "x", cn, sizeof(cn)), 1);
	/* the floor is TLS 1.2 */
	assert_int_equal(handshake(t, TLS1_VERSION, TLS1_1_VERSION, NULL, cn, sizeof(cn)), 0);
	tls_server_free(t);
}

static void test_sni(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char *c1, *k1, *c2, *k2, *c3, *k3;
	make_cert(dir, "one", "mx1.test", "DNS:mx1.test, DNS:*.wild.test", &c1, &k1);
	make_cert(dir, "two", "mx2.test", "DNS:mx2.test, DNS:a.wild.test", &c2, &k2);
	make_cert(dir, "three", "cn-only.test", NULL, &c3, &k3);
	struct tls_server_cert certs[] = {{c1, k1}, {c2, k2}, {c3, k3}};
	char err[512], cn[256];
	struct tls_server *t = tls_server_new(certs, 3, "ignored.test", err, sizeof(err));
	if (t == NULL)
		fail_msg("%s", err);
	assert_false(tls_server_self_signed(t));
	assert_int_equal(tls_server_pick(t, NULL), 0);
	assert_int_equal(tls_server_pick(t, "mx1.test"), 0);
	assert_int_equal(tls_server_pick(t, "MX2.test."), 1);
	assert_int_equal(tls_server_pick(t, "b.wild.test"), 0);
	assert_int_equal(tls_server_pick(t, "a.wild.test"), 1); /* exact beats wildcard */
	assert_int_equal(tls_server_pick(t, "cn-only.test"), 2);
	assert_int_equal(tls_server_pick(t, "unknown.test"), 0);
	assert_int_equal(tls_server_warm(t, err, sizeof(err)), 0);
	/* real handshakes: the certificate the client sees follows its SNI */
	static const struct {
		const char *sni, *cn;
	} cases[] = {{NULL, "mx1.test"},
	             {"mx2.test", "mx2.test"},
	             {"a.wild.test", "mx2.test"},
	             {"z.wild.test", "mx1.test"},
	             {"cn-only.test", "cn-only.test"},
	             {"other.test", "mx1.test"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
			assert_int_equal(handshake(t, v, v, cases[i].sni, cn, sizeof(cn)), 1);
			if (strcmp(cn, cases[i].cn) != 0)
				fail_msg("SNI %s (version %x): got %s, want %s",
				         cases[i].sni ? cases[i].sni : "(none)", v, cn,
				         cases[i].cn);
		}
	}
	tls_server_free(t);

	/* a key that is not the certificate's, a missing file: refused by path */
	struct tls_server_cert mixed[] = {{c1, k2}};
	assert_null(tls_server_new(mixed, 1, "h", err, sizeof(err)));
	char *want = xasprintf("tls key %s does not match certificate %s", k2, c1);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\"", err);
	free(want);
	char *missing = xasprintf("%s/missing.pem", dir);
	struct tls_server_cert gone[] = {{c1, k1}, {missing, k1}};
	assert_null(tls_server_new(gone, 2, "h", err, sizeof(err)));
	want = xasprintf("tls certificate %s: ", missing);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\"", err);
	free(want);
	struct tls_server_cert nokey[] = {{c1, missing}};
	assert_null(tls_server_new(nokey, 1, "h", err, sizeof(err)));
	want = xasprintf("tls key %s: ", missing);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\"", err);
	free(want);
	/* a key file given as the certificate */
	struct tls_server_cert swapped[] = {{k1, c1}};
	assert_null(tls_server_new(swapped, 1, "h", err, sizeof(err)));
	free(missing);
	free(c1), free(k1), free(c2), free(k2), free(c3), free(k3);
	unit_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_match),
	    cmocka_unit_test(test_self_signed),
	    cmocka_unit_test(test_sni),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
