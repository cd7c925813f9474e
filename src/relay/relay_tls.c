/*
 * relay_tls: the relay's TLS client context. TLS 1.2 and 1.3, OpenSSL's
 * modern defaults; the CA store is read into memory now (the role runs
 * chrooted afterwards, where a certificate directory would not be there
 * to look in). Verification never fails a handshake by itself: the
 * session reads the result afterwards — recorded for opportunistic TLS,
 * required when the configuration says `tls`.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "relay_int.h"

/* Keep going whatever the chain looks like; the result is checked later. */
static int verify_keep_going(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

SSL_CTX *relay_tls_new(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_keep_going);
	/* The system's bundle, or SSL_CERT_FILE's (OpenSSL's own override). */
	const char *env = getenv(X509_get_default_cert_file_env());
	const char *file = env && *env ? env : X509_get_default_cert_file();
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	if (X509_STORE_load_file(store, file) != 1) {
		/* No CA store: TLS still encrypts; required TLS will not verify. */
		log_warn("event=tls-ca-unavailable file=%s", file);
		ERR_clear_error();
	}
	return ctx;
}
