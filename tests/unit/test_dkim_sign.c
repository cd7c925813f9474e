/*
 * Unit tests for the DKIM signer and key handling: every key in dkimpy's
 * data (RSA PKCS#1 and PKCS#8 PEM, Ed25519 seeds) signs dkimpy's messages
 * whole and one byte at a time with identical fields, and the result
 * verifies against the public key records that came with those keys
 * (independent of our key export); tampering, an added From:, expiry and
 * a missing From: fail. Key generation round-trips through our parsers.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buf.h"
#include "dkim.h"
#include "dkim_canon.h"
#include "dkim_crypto.h"
#include "dkim_fakedns.h"
#include "dkim_tags.h"
#include "util.h"
#include "xmalloc.h"

#define NOW 1700000000

static const char *tdir(void)
{
	return unit_testdata();
}

static char *dkimpy_file(const char *name, size_t *len, int crlf)
{
	char *path = xasprintf("%s/dkim/dkimpy/%s", tdir(), name);
	size_t raw_len;
	char *raw = file_read_bounded(path, 1024 * 1024, &raw_len, NULL, 0);
	if (raw == NULL)
		fail_msg("missing test vector %s (set RAVEN_TESTDATA)", path);
	free(path);
	if (!crlf) {
		while (raw_len > 0 && (raw[raw_len - 1] == '\n' || raw[raw_len - 1] == '\r'))
			raw[--raw_len] = '\0';
		*len = raw_len;
		return raw;
	}
	char *out = fakedns_crlf(raw, raw_len, len);
	free(raw);
	return out;
}

static struct dkim_key *load_key(const char *name)
{
	char *path = xasprintf("%s/dkim/dkimpy/%s", tdir(), name);
	struct dkim_key *k;
	char err[256];
	if (dkim_key_load(path, &k, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	free(path);
	return k;
}

/* Sign in chunks of `chunk` octets; returns the field. */
static char *sign(const struct dkim_key *k, const char *msg, size_t len, size_t chunk,
                  const struct dkim_sign_opts *o)
{
	char err[256];
	struct dkim_sign *s = dkim_sign_new(k, "example.com", "test", o, err, sizeof(err));
	if (s == NULL)
		fail_msg("%s", err);
	for (size_t i = 0; i < len; i += chunk)
		dkim_sign_update(s, msg + i, len - i < chunk ? len - i : chunk);
	char *field;
	if (dkim_sign_finish(s, &field, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	dkim_sign_free(s);
	return field;
}

/* Verify field + msg with txt published as test._domainkey.example.com. */
static enum dkim_status verify(const char *field, const char *msg, size_t len, const char *txt,
                               int64_t now, char *reason, size_t reasonlen)
{
	struct fakedns dns;
	fakedns_init(&dns);
	fakedns_add(&dns, "test._domainkey.example.com", DKIM_DNS_OK, txt);
	struct dkim_verify_opts o = {.now = now};
	struct dkim_verify *v = dkim_verify_new(&o);
	dkim_verify_update(v, field, strlen(field));
	dkim_verify_update(v, msg, len);
	dkim_verify_end(v);
	fakedns_answer_keys(&dns, v);
	assert_true(dkim_verify_done(v));
	assert_true(dkim_verify_result_count(v) >= 1);
	const struct dkim_result *r = dkim_verify_result(v, 0);
	enum dkim_status st = r->status;
	if (reason)
		snprintf(reason, reasonlen, "%s", r->reason);
	dkim_verify_free(v);
	fakedns_free(&dns);
	return st;
}

/* Folded as promised: CRLF-terminated, lines of at most 78 octets, every
 * continuation line starting with a tab. */
static void check_folding(const char *field)
{
	size_t len = strlen(field);
	assert_true(len > 2 && strcmp(field + len - 2, "\r\n") == 0);
	assert_true(strncmp(field, "DKIM-Signature: v=1; a=", 23) == 0);
	const char *line = field;
	while (*line) {
		const char *end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line <= 78);
		line = end + 2;
		if (*line)
			assert_int_equal(*line, '\t');
	}
}

static const struct {
	const char *key, *pub; /* pub: the record file shipped with the key */
} keys[] = {
    {"test.private", "test.txt"},                                /* RSA-1024, PKCS#1 */
    {"1024_testkey.key", "1024_testkey_wo_markers.pub.txt"},     /* SPKI record */
    {"1024_testkey.key", "1024_testkey_wo_markers.pub.rsa.txt"}, /* RSAPublicKey record */
    {"2048_testkey.key", "2048_testkey_wo_markers.pub.txt"},
    {"2048_testkey.key", "2048_testkey_wo_markers.pub.rsa.txt"},
    {"2048_testkey_PKCS8.key", "2048_testkey_PKCS8.key.pub.txt"}, /* PKCS#8 */
    {"ed25519test.key", "ed25519test.dns"},                       /* base64 seed */
};

static void test_sign_verify_all_keys(void **state)
{
	(void)state;
	static const char *const msgs[] = {"test.message",    "rfc6376.msg",  "rfc6376.w1258.msg",
	                                   "ed25519test.msg", "message.mbox", "test_extra.message"};
	struct dkim_sign_opts o = {.now = NOW};
	int n = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		struct dkim_key *k = load_key(keys[i].key);
		size_t publen;
		char *pub = dkimpy_file(keys[i].pub, &publen, 0);
		for (size_t m = 0; m < sizeof(msgs) / sizeof(*msgs); m++) {
			size_t len;
			char *msg = dkimpy_file(msgs[m], &len, 1);
			char *whole = sign(k, msg, len, len, &o);
			char *bytes = sign(k, msg, len, 1, &o);
			/* RSA PKCS#1 v1.5 and Ed25519 are deterministic. */
			assert_string_equal(whole, bytes);
			check_folding(whole);
			char why[200];
			if (verify(whole, msg, len, pub, NOW, why, sizeof(why)) != DKIM_PASS)
				fail_msg("%s with %s: %s", msgs[m], keys[i].key, why);
			/* One octet of the body changed: fails. */
			msg[len - 3] ^= 1;
			assert_int_equal(verify(whole, msg, len, pub, NOW, why, sizeof(why)),
			                 DKIM_FAIL);
			assert_string_equal(why, "body hash did not verify");
			free(whole);
			free(bytes);
			free(msg);
			n++;
		}
		free(pub);
		dkim_key_free(k);
	}
	print_message("# dkimpy keys x messages signed and verified: %d/%d\n", n, n);
}

/* The RFC 8032 §7.1 test 1 seed signs for RFC 8463's brisbane key. */
static void test_rfc8032_key(void **state)
{
	(void)state;
	struct dkim_key *k = load_key("rfc8032_7_1.key");
	assert_int_equal(dkim_key_alg(k), DKIM_ALG_ED25519_SHA256);
	char *txt = dkim_key_dns_txt(k);
	assert_string_equal(txt,
	                    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	size_t len;
	char *msg = dkimpy_file("rfc6376.msg", &len, 1);
	struct dkim_sign_opts o = {.now = NOW};
	char *field = sign(k, msg, len, 5, &o);
	assert_non_null(strstr(field, "a=ed25519-sha256;"));
	assert_int_equal(
	    verify(field, msg, len,
	           "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", NOW, NULL,
	           0),
	    DKIM_PASS);
	/* The same signature under an RSA record: the key type is wrong. */
	size_t publen;
	char *rsa = dkimpy_file("test.txt", &publen, 0);
	assert_int_equal(verify(field, msg, len, rsa, NOW, NULL, 0), DKIM_PERMERROR);
	free(rsa);
	free(field);
	free(msg);
	free(txt);
	dkim_key_free(k);
}

/* h= lists each present field once per instance and From once more, so a
 * From added anywhere breaks the signature; other added fields do not. */
static void test_header_list(void **state)
{
	(void)state;
	struct dkim_key *k = load_key("test.private");
	size_t len, publen;
	char *msg = dkimpy_file("test.message", &len, 1);
	char *pub = dkimpy_file("test.txt", &publen, 0);
	struct dkim_sign_opts o = {.now = NOW, .expire = 3600};
	char *field = sign(k, msg, len, len, &o);
	/* unfolded: each CRLF TAB a space */
	char flat[2048];
	size_t n = 0;
	for (const char *p = field; *p && n + 1 < sizeof(flat); p++) {
		if (strncmp(p, "\r\n\t", 3) == 0)
			p += 2;
		flat[n++] = *p == '\t' ? ' ' : *p;
	}
	flat[n] = '\0';
	assert_non_null(strstr(flat, " h=from:from:subject:date:to:message-id;"));
	assert_non_null(strstr(flat, " t=1700000000; x=1700003600;"));
	assert_non_null(strstr(flat, " c=relaxed/relaxed; d=example.com; s=test;"));
	assert_int_equal(verify(field, msg, len, pub, NOW, NULL, 0), DKIM_PASS);
	assert_int_equal(verify(field, msg, len, pub, NOW + 3601, NULL, 0), DKIM_PERMERROR);

	char *hdr_end = strstr(msg, "\r\n\r\n");
	char *top = xasprintf("From: evil@example.org\r\n%s", msg);
	char *bottom =
	    xasprintf("%.*s\r\nFrom: evil@example.org%s", (int)(hdr_end - msg), msg, hdr_end);
	char *xfoo = xasprintf("%.*s\r\nX-Foo: bar%s", (int)(hdr_end - msg), msg, hdr_end);
	assert_int_equal(verify(field, top, strlen(top), pub, NOW, NULL, 0), DKIM_FAIL);
	assert_int_equal(verify(field, bottom, strlen(bottom), pub, NOW, NULL, 0), DKIM_FAIL);
	assert_int_equal(verify(field, xfoo, strlen(xfoo), pub, NOW, NULL, 0), DKIM_PASS);
	free(top);
	free(bottom);
	free(xfoo);
	free(field);

	/* A caller's own list; From is added when it is missing. */
	const char *names[] = {"Subject", "X-Custom"};
	struct dkim_sign_opts o2 = {.now = -1, .names = names, .nnames = 2};
	field = sign(k, msg, len, len, &o2);
	assert_null(strstr(field, "t="));
	assert_non_null(strstr(field, "h=from:from:subject;"));
	assert_int_equal(verify(field, msg, len, pub, NOW, NULL, 0), DKIM_PASS);
	free(field);
	free(pub);
	free(msg);
	dkim_key_free(k);
}

static void test_sign_errors(void **state)
{
	(void)state;
	struct dkim_key *k = load_key("ed25519test.key");
	char err[256];
	struct dkim_sign_opts o = {.now = NOW};
	assert_null(dkim_sign_new(k, "legitimate.com(.attacker.com", "test", &o, err, sizeof(err)));
	assert_null(dkim_sign_new(k, "example.com", "bad selector", &o, err, sizeof(err)));
	const char *bad[] = {"From:"};
	struct dkim_sign_opts ob = {.now = NOW, .names = bad, .nnames = 1};
	assert_null(dkim_sign_new(k, "example.com", "s", &ob, err, sizeof(err)));

	/* dkimpy's test_nofrom: no From, no signature. */
	size_t len;
	char *msg = dkimpy_file("test_nofrom.message", &len, 1);
	struct dkim_sign *s = dkim_sign_new(k, "example.com", "test", &o, err, sizeof(err));
	assert_non_null(s);
	dkim_sign_update(s, msg, len);
	char *field;
	assert_int_equal(dkim_sign_finish(s, &field, err, sizeof(err)), -1);
	assert_string_equal(err, "no From header field to sign");
	dkim_sign_free(s);
	free(msg);

	/* Header section over the cap. */
	struct dkim_sign_opts oc = {.now = NOW, .max_header = 16};
	s = dkim_sign_new(k, "example.com", "test", &oc, err, sizeof(err));
	const char m2[] = "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
	dkim_sign_update(s, m2, sizeof(m2) - 1);
	assert_int_equal(dkim_sign_finish(s, &field, err, sizeof(err)), -1);
	dkim_sign_free(s);
	dkim_key_free(k);
}

static void test_key_loading(void **state)
{
	(void)state;
	struct dkim_key *k;
	char err[256];
	assert_int_equal(dkim_key_parse("garbage", 7, &k, err, sizeof(err)), -1);
	assert_int_equal(dkim_key_parse("", 0, &k, err, sizeof(err)), -1);
	assert_int_equal(dkim_key_load("/nonexistent/key.pem", &k, err, sizeof(err)), -1);
	/* A 512-bit RSA key is refused (RFC 8301). */
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	assert_non_null(small);
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, small, NULL, NULL, 0, NULL, NULL), 1);
	char *pem;
	long pemlen = BIO_get_mem_data(bio, &pem);
	assert_int_equal(dkim_key_parse(pem, (size_t)pemlen, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too short"));
	BIO_free(bio);
	EVP_PKEY_free(small);
	/* A public key is not a private key. */
	const char pub[] = "-----BEGIN PUBLIC KEY-----\n"
	                   "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
	                   "-----END PUBLIC KEY-----\n";
	assert_int_equal(dkim_key_parse(pub, sizeof(pub) - 1, &k, err, sizeof(err)), -1);
}

static void test_keygen(void **state)
{
	(void)state;
	static const struct {
		enum dkim_alg alg;
		unsigned bits;
		const char *k;
	} cases[] = {
	    {DKIM_ALG_ED25519_SHA256, 0, "ed25519"},
	    {DKIM_ALG_RSA_SHA256, 1024, "rsa"},
	    {DKIM_ALG_RSA_SHA256, 0, "rsa"}, /* 2048 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *pem, *txt, err[256];
		assert_int_equal(
		    dkim_keygen(cases[i].alg, cases[i].bits, &pem, &txt, err, sizeof(err)), 0);
		assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
		char *want = xasprintf("v=DKIM1; k=%s; p=", cases[i].k);
		assert_true(strncmp(txt, want, strlen(want)) == 0);
		free(want);
		struct dkim_keyrec rec;
		assert_int_equal(dkim_keyrec_parse(txt, strlen(txt), &rec, err, sizeof(err)), 0);
		assert_int_equal(rec.plen, cases[i].alg == DKIM_ALG_ED25519_SHA256 ? 32
		                           : cases[i].bits == 1024                 ? 162
		                                                                   : 294);
		struct dkim_key *k;
		assert_int_equal(dkim_key_parse(pem, strlen(pem), &k, err, sizeof(err)), 0);
		assert_int_equal(dkim_key_alg(k), cases[i].alg);
		const char msg[] = "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
		struct dkim_sign_opts o = {.now = NOW};
		char *field = sign(k, msg, sizeof(msg) - 1, 3, &o);
		assert_int_equal(verify(field, msg, sizeof(msg) - 1, txt, NOW, NULL, 0), DKIM_PASS);
		free(field);
		dkim_key_free(k);
		free(pem);
		free(txt);
	}
	char *pem, *txt, err[256];
	assert_int_equal(dkim_keygen(DKIM_ALG_RSA_SHA256, 512, &pem, &txt, err, sizeof(err)), -1);
	assert_int_equal(dkim_keygen(DKIM_ALG_RSA_SHA1, 2048, &pem, &txt, err, sizeof(err)), -1);
}

/* An empty body and a body of blank lines hash as relaxed says (nothing). */
static void test_empty_bodies(void **state)
{
	(void)state;
	struct dkim_key *k = load_key("ed25519test.key");
	size_t publen;
	char *pub = dkimpy_file("ed25519test.dns", &publen, 0);
	static const char *const msgs[] = {
	    "From: a@example.com\r\n\r\n",
	    "From: a@example.com\r\n",
	    "From: a@example.com\r\n\r\n\r\n\r\n \r\n",
	    "From: a@example.com",
	};
	struct dkim_sign_opts o = {.now = NOW};
	char *first = NULL;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(*msgs); i++) {
		char *field = sign(k, msgs[i], strlen(msgs[i]), 1, &o);
		/* bh of the empty string: SHA-256 of nothing */
		assert_non_null(strstr(field, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"));
		assert_int_equal(verify(field, msgs[i], strlen(msgs[i]), pub, NOW, NULL, 0),
		                 DKIM_PASS);
		if (first == NULL)
			first = field;
		else
			free(field);
	}
	free(first);
	free(pub);
	dkim_key_free(k);
}

/*
 * h=from:dkim-signature on a message with no other signature: when it was
 * signed the second name matched nothing, so the verifier must not let it
 * match the very field it verifies. Signed by hand here (our signer only
 * lists fields that exist).
 */
static void test_own_field_not_selected(void **state)
{
	(void)state;
	struct dkim_key *k = load_key("ed25519test.key");
	size_t publen;
	char *pub = dkimpy_file("ed25519test.dns", &publen, 0);
	const char *from = "From: a@example.com";
	char *field =
	    xasprintf("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; "
	              "d=example.com; s=test; h=from:dkim-signature; "
	              "bh=%s; b=",
	              "Ck5SoRNWUpSR4X0COv7R5ub2pUTtl6xz4dTFz++ji4M=" /* SHA-256 of "body" CRLF */);
	struct buf hb;
	buf_init(&hb, 0);
	dkim_canon_header(DKIM_CANON_RELAXED, from, strlen(from), 0, &hb);
	dkim_canon_header(DKIM_CANON_RELAXED, field, strlen(field), 1, &hb);
	uint8_t digest[32], *sig;
	size_t siglen;
	EVP_Digest(hb.data, hb.len, digest, NULL, EVP_sha256(), NULL);
	char err[128];
	assert_int_equal(dkim_crypto_sign(k, digest, 32, &sig, &siglen, err, sizeof(err)), 0);
	char *b64 = dkim_base64_encode(sig, siglen);
	char *msg = xasprintf("%s\r\n\r\nbody\r\n", from);
	char *whole = xasprintf("%s%s\r\n", field, b64);
	char reason[200];
	if (verify(whole, msg, strlen(msg), pub, NOW, reason, sizeof(reason)) != DKIM_PASS)
		fail_msg("%s", reason);
	free(whole);
	free(msg);
	free(b64);
	free(sig);
	buf_free(&hb);
	free(field);
	free(pub);
	dkim_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_verify_all_keys),
	    cmocka_unit_test(test_rfc8032_key),
	    cmocka_unit_test(test_header_list),
	    cmocka_unit_test(test_sign_errors),
	    cmocka_unit_test(test_key_loading),
	    cmocka_unit_test(test_keygen),
	    cmocka_unit_test(test_empty_bodies),
	    cmocka_unit_test(test_own_field_not_selected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
