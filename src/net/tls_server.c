/*
 * tls_server: OpenSSL server contexts, SNI, the self-signed fallback and
 * the warm-up handshake (see tls_server.h).
 */
#include "tls_server.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "xmalloc.h"

/* For TLS 1.2: forward secrecy and AEAD only (Mozilla's "intermediate"
 * list without DHE, which would need parameters of our own). */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
#define MAX_NAMES     256 /* DNS names kept per certificate */
#define SELF_DAYS     365

struct tls_entry {
	SSL_CTX *ctx;
	char **names; /* DNS names of its certificate, lowercase */
	size_t n_names;
};

struct tls_server {
	struct tls_entry *e;
	size_t n;
	int self_signed;
};

/* The first queued OpenSSL error as text (and the queue emptied). */
static void ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle sessions (most of an SMTP session's life) keep no buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	static const unsigned char sid[] = "raven-smtp";
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	return ctx;
}

static void entry_add_name(struct tls_entry *e, const char *s, size_t n)
{
	if (n == 0 || n > 253 || e->n_names >= MAX_NAMES || memchr(s, 0, n) != NULL)
		return;
	char *name = xstrndup(s, n);
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	e->names = xreallocarray(e->names, e->n_names + 1, sizeof(*e->names));
	e->names[e->n_names++] = name;
}

/* The DNS names SNI may select this certificate by. */
static void entry_names(struct tls_entry *e)
{
	X509 *x = SSL_CTX_get0_certificate(e->ctx);
	if (x == NULL)
		return;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			entry_add_name(e, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			               (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (e->n_names > 0)
		return;
	/* No subjectAltName: the common name, as older certificates have it. */
	char cn[256];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
	                                  (int)sizeof(cn));
	if (n > 0)
		entry_add_name(e, cn, (size_t)n);
}

int tls_name_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host);
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (hl == 0)
		return 0;
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* one whole label, never a dot: *.example.org covers a.example.org */
		const char *dot = memchr(host, '.', hl);
		if (dot == NULL || dot == host)
			return 0;
		size_t rest = hl - (size_t)(dot - host);
		return strlen(pattern + 1) == rest && strncasecmp(pattern + 1, dot, rest) == 0;
	}
	return strlen(pattern) == hl && strncasecmp(pattern, host, hl) == 0;
}

size_t tls_server_pick(const struct tls_server *t, const char *host)
{
	if (host == NULL)
		return 0;
	/* An exact name wins over a wildcard of another certificate. */
	for (int wild = 0; wild < 2; wild++)
		for (size_t i = 0; i < t->n; i++)
			for (size_t k = 0; k < t->e[i].n_names; k++) {
				const char *nm = t->e[i].names[k];
				if ((nm[0] == '*') == wild && tls_name_match(nm, host))
					return i;
			}
	return 0;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server *t = arg;
	(void)alert;
	size_t i = tls_server_pick(t, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
	if (i != 0 && SSL_set_SSL_CTX(ssl, t->e[i].ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	/* An unknown name gets the default certificate, as without SNI. */
	return SSL_TLSEXT_ERR_OK;
}

static int load_entry(struct tls_entry *e, const struct tls_server_cert *c, char *err,
                      size_t errlen)
{
	char why[256];
	if (SSL_CTX_use_certificate_chain_file(e->ctx, c->cert) != 1) {
		ossl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls certificate %s: %s", c->cert, why);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(e->ctx, c->key, SSL_FILETYPE_PEM) != 1) {
		int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
		ossl_reason(why, sizeof(why));
		if (mismatch)
			snprintf(err, errlen, "tls key %s does not match certificate %s", c->key,
			         c->cert);
		else
			snprintf(err, errlen, "tls key %s: %s", c->key, why);
		return -1;
	}
	if (SSL_CTX_check_private_key(e->ctx) != 1) {
		ossl_reason(why, sizeof(why));
		snprintf(err, errlen, "tls key %s does not match certificate %s: %s", c->key,
		         c->cert, why);
		return -1;
	}
	return 0;
}

/* A P-256 key and a certificate for hostname, signed by itself. */
static int make_self_signed(SSL_CTX *ctx, const char *hostname)
{
	int ok = 0;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (key == NULL || x == NULL)
		goto out;
	unsigned char serial[8];
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* positive */
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	int sok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	if (!sok || X509_set_version(x, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)SELF_DAYS * 86400) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto out;
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname,
	                               -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1)
		goto out;
	char san[300];
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	if (ext == NULL)
		goto out;
	int added = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (added != 1 || X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	ok = SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

struct tls_server *tls_server_new(const struct tls_server_cert *certs, size_t n,
                                  const char *hostname, char *err, size_t errlen)
{
	struct tls_server *t = xcalloc(1, sizeof(*t));
	size_t want = n > 0 ? n : 1;
	t->e = xcalloc(want, sizeof(*t->e));
	for (size_t i = 0; i < want; i++) {
		struct tls_entry *e = &t->e[i];
		e->ctx = ctx_new();
		t->n++;
		if (e->ctx == NULL) {
			char why[256];
			ossl_reason(why, sizeof(why));
			snprintf(err, errlen, "cannot make a TLS context: %s", why);
			goto fail;
		}
		if (n == 0) {
			t->self_signed = 1;
			if (make_self_signed(e->ctx, hostname) == -1) {
				char why[256];
				ossl_reason(why, sizeof(why));
				snprintf(err, errlen, "cannot make a self-signed certificate: %s",
				         why);
				goto fail;
			}
		} else if (load_entry(e, &certs[i], err, errlen) == -1) {
			goto fail;
		}
		entry_names(e);
	}
	/* SNI is looked at by the context a connection starts with: the first. */
	SSL_CTX_set_tlsext_servername_callback(t->e[0].ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->e[0].ctx, t);
	return t;
fail:
	tls_server_free(t);
	return NULL;
}

void tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		SSL_CTX_free(t->e[i].ctx);
		for (size_t k = 0; k < t->e[i].n_names; k++)
			free(t->e[i].names[k]);
		free(t->e[i].names);
	}
	free(t->e);
	free(t);
}

SSL *tls_server_ssl(struct tls_server *t)
{
	SSL *ssl = SSL_new(t->e[0].ctx);
	if (ssl != NULL)
		SSL_set_accept_state(ssl);
	return ssl;
}

int tls_server_self_signed(const struct tls_server *t)
{
	return t->self_signed;
}

/* Drive a client and a server SSL over a BIO pair to the end of the
 * handshake, then one application byte so TLS 1.3 tickets are sent too. */
static int pump(SSL *c, SSL *s)
{
	for (int round = 0; round < 64; round++) {
		int rc = SSL_do_handshake(c), rs = SSL_do_handshake(s);
		if (rc == 1 && rs == 1) {
			unsigned char b = 'x';
			return SSL_write(s, &b, 1) == 1 && SSL_read(c, &b, 1) == 1 ? 0 : -1;
		}
		int ec = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c, rc);
		int es = rs == 1 ? SSL_ERROR_NONE : SSL_get_error(s, rs);
		if ((ec != SSL_ERROR_NONE && ec != SSL_ERROR_WANT_READ &&
		     ec != SSL_ERROR_WANT_WRITE) ||
		    (es != SSL_ERROR_NONE && es != SSL_ERROR_WANT_READ &&
		     es != SSL_ERROR_WANT_WRITE))
			return -1;
	}
	return -1;
}

static int warm_one(struct tls_server *t, size_t i, int version)
{
	int ok = -1;
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c = NULL, *s = NULL;
	BIO *cb = NULL, *sb = NULL;
	if (cctx == NULL || SSL_CTX_set_min_proto_version(cctx, version) != 1 ||
	    SSL_CTX_set_max_proto_version(cctx, version) != 1)
		goto out;
	c = SSL_new(cctx);
	s = tls_server_ssl(t);
	if (c == NULL || s == NULL || BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
		goto out;
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	/* Through the SNI callback when the certificate has a plain name. */
	const struct tls_entry *e = &t->e[i];
	for (size_t k = 0; k < e->n_names; k++)
		if (e->names[k][0] != '*') {
			SSL_set_tlsext_host_name(c, e->names[k]);
			break;
		}
	ok = pump(c, s);
out:
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	return ok;
}

int tls_server_warm(struct tls_server *t, char *err, size_t errlen)
{
	static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
	for (size_t i = 0; i < t->n; i++)
		for (size_t v = 0; v < sizeof(versions) / sizeof(versions[0]); v++)
			if (warm_one(t, i, versions[v]) == -1) {
				char why[256];
				ossl_reason(why, sizeof(why));
				snprintf(err, errlen,
				         "TLS self-test with certificate %zu failed: %s", i + 1,
				         why);
				return -1;
			}
	ERR_clear_error();
	return 0;
}
