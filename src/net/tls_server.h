/*
 * tls_server: the TLS side of an SMTP server — OpenSSL contexts made once,
 * before the role confines itself (certificate chains and private keys are
 * read from files then; nothing is read afterwards), and a fresh SSL per
 * connection for conn_start_tls().
 *
 * Policy: TLS 1.2 and 1.3 only; for TLS 1.2 ECDHE key exchange with AEAD
 * ciphers only (AES-GCM, ChaCha20-Poly1305); TLS 1.3's own suites; no
 * renegotiation, no compression. Several certificates: the first is the
 * default, another is chosen when the client's SNI names one of the DNS
 * names (subjectAltName, else the common name) of its certificate, a
 * "*.example.org" name covering one label. Without any certificate, a
 * self-signed one (P-256, for the host name) is made at start.
 */
#ifndef RAVEN_TLS_SERVER_H
#define RAVEN_TLS_SERVER_H

#include <stddef.h>

typedef struct ssl_st SSL;
struct tls_server;

struct tls_server_cert {
	const char *cert; /* PEM: the certificate, then its chain */
	const char *key;  /* PEM: its private key */
};

/*
 * Load every certificate with its key (checked to match), or with n == 0
 * make a self-signed certificate for hostname. NULL with the reason
 * ("path: what OpenSSL said") in err.
 */
struct tls_server *tls_server_new(const struct tls_server_cert *certs, size_t n,
                                  const char *hostname, char *err, size_t errlen);
void tls_server_free(struct tls_server *t);
/* A server-side SSL for one connection (SNI handled), or NULL. */
SSL *tls_server_ssl(struct tls_server *t);
/* 1 when the certificate was made at start (none was configured). */
int tls_server_self_signed(const struct tls_server *t);
/*
 * Run one handshake in memory with each certificate, TLS 1.2 and 1.3, so
 * that everything OpenSSL sets up on first use is set up before the
 * system-call filter is installed. 0, or -1 with the reason.
 */
int tls_server_warm(struct tls_server *t, char *err, size_t errlen);
/* 1 if a certificate name (maybe "*.domain") covers host (case-insensitive). */
int tls_name_match(const char *pattern, const char *host);
/* The certificate index SNI host selects (0, the default, if none). */
size_t tls_server_pick(const struct tls_server *t, const char *host);

#endif
