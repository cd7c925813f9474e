/*
 * dkim: DKIM verification and signing (RFC 6376, RFC 8301, RFC 8463) as
 * engines that never do I/O.
 *
 * Verification consumes the message in chunks of any size (CRLF line ends,
 * as spooled by SMTP) and hashes the body as it streams; only the header
 * section is kept (capped). It never looks anything up: once the header
 * section has been read, dkim_verify_keys_needed() names the TXT records it
 * wants (selector._domainkey.domain), the caller resolves them
 * asynchronously and hands each answer to dkim_verify_key_answer(). The
 * results are final when dkim_verify_done() says so: end of message seen
 * and every needed key answered (a caller that gives up on a lookup
 * answers DKIM_DNS_TEMPFAIL).
 *
 *	v = dkim_verify_new(&opts);
 *	dkim_verify_update(v, chunk, n);   ... as the data arrives
 *	dkim_verify_keys_needed(v, ...)    -> start lookups, later:
 *	dkim_verify_key_answer(v, name, DKIM_DNS_OK, txt, len, ntxt);
 *	dkim_verify_end(v);
 *	if (dkim_verify_done(v)) for each dkim_verify_result(v, i) ...
 *
 * Signing is a separate API that takes a loaded private key, so that the
 * network-facing role never holds one. It is streaming too and produces the
 * complete folded "DKIM-Signature:" field to prepend.
 */
#ifndef RAVEN_DKIM_H
#define RAVEN_DKIM_H

#include <stddef.h>
#include <stdint.h>

/* What a DNS lookup gave; shared by the DKIM and DMARC engines. */
enum dkim_dns_status {
	DKIM_DNS_OK,       /* records follow (possibly none that matter) */
	DKIM_DNS_NXDOMAIN, /* the name does not exist */
	DKIM_DNS_NODATA,   /* the name exists, no TXT record */
	DKIM_DNS_TEMPFAIL, /* SERVFAIL, timeout: try again later */
};

/* RFC 8601 result names (dkim_status_name). */
enum dkim_status {
	DKIM_PASS,
	DKIM_FAIL,
	DKIM_NEUTRAL,
	DKIM_TEMPERROR,
	DKIM_PERMERROR,
	DKIM_POLICY,
};

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1, /* parsed so it can be reported; never passes by default */
};

#define DKIM_DOMAIN_MAX   253
#define DKIM_IDENTITY_MAX 320 /* local part 64 + '@' + domain 253, plus slack */

/* One signature's outcome, with what an Authentication-Results entry needs. */
struct dkim_result {
	enum dkim_status status;
	char reason[160];                     /* why, for anything but pass */
	char domain[DKIM_DOMAIN_MAX + 1];     /* d= (as written), "" if unparsable */
	char identity[DKIM_IDENTITY_MAX + 1]; /* i= decoded, or "@d" */
	char selector[DKIM_DOMAIN_MAX + 1];   /* s= */
	char b8[9];                           /* first 8 characters of b= (RFC 6008) */
	enum dkim_alg alg;                    /* valid when domain[0] */
	unsigned key_bits;                    /* 0 until a key was used */
	int testing;                          /* key record had t=y */
};

struct dkim_keycache;

struct dkim_verify_opts {
	int64_t now;           /* Unix time for t= and x= */
	size_t max_header;     /* header section cap; 0: 256 KiB */
	unsigned max_sigs;     /* signatures evaluated; more are neutral; 0: 8 */
	unsigned future_slack; /* seconds t= may lie ahead of now; 0: 300 */
	/*
	 * Historic corpora only (tests): accept rsa-sha1 and RSA keys of at least
	 * min_rsa_bits (0: 1024, never below 512). RFC 8301 forbids both.
	 */
	int allow_rsa_sha1;
	unsigned min_rsa_bits;
	/* Decoded keys shared across messages (dkim_keycache.h); NULL: none. */
	struct dkim_keycache *keys;
};

struct dkim_verify;

struct dkim_verify *dkim_verify_new(const struct dkim_verify_opts *opts);
void dkim_verify_free(struct dkim_verify *v);
/* Feed message bytes (header section, blank line, body). Never fails: a
 * header section over the cap yields one "policy" result. */
void dkim_verify_update(struct dkim_verify *v, const void *p, size_t n);
/* End of message. */
void dkim_verify_end(struct dkim_verify *v);
/* 1 once the header section is complete (keys_needed is meaningful). */
int dkim_verify_headers_done(const struct dkim_verify *v);
/*
 * Names (selector._domainkey.domain, no trailing dot) still waiting for an
 * answer, in header order, deduplicated: up to max into names, returns how
 * many there are. Pointers stay valid until dkim_verify_free.
 */
size_t dkim_verify_keys_needed(const struct dkim_verify *v, const char **names, size_t max);
/*
 * The answer for name (case-insensitive). For DKIM_DNS_OK, txt[i]/len[i] is
 * each TXT record with its character-strings already concatenated. 0, or -1
 * if nobody asked for this name; an answer to a name that is no longer
 * needed (or answered twice) is ignored.
 */
int dkim_verify_key_answer(struct dkim_verify *v, const char *name, enum dkim_dns_status st,
                           const char *const *txt, const size_t *len, size_t ntxt);
/* 1 when every result is final. */
int dkim_verify_done(const struct dkim_verify *v);
/* Results, one per DKIM-Signature field in header order (none: unsigned). */
size_t dkim_verify_result_count(const struct dkim_verify *v);
const struct dkim_result *dkim_verify_result(const struct dkim_verify *v, size_t i);
/*
 * The header fields read so far (raw "Name: value", folded, no final
 * CRLF), so the caller can take From: for DMARC without a second parse.
 */
size_t dkim_verify_header_count(const struct dkim_verify *v);
int dkim_verify_header(const struct dkim_verify *v, size_t i, const char **field, size_t *len);
/*
 * The bodies (after the colon) of the fields called name, top to bottom:
 * up to max into values/lens, returns how many there are. For DMARC:
 * dkim_verify_header_values(v, "From", vals, lens, 2) and hand the
 * count (at most 2) to dmarc_author_domain.
 */
size_t dkim_verify_header_values(const struct dkim_verify *v, const char *name, const char **values,
                                 size_t *lens, size_t max);

const char *dkim_status_name(enum dkim_status s);
const char *dkim_alg_name(enum dkim_alg a);

/* ---- signing ---- */

struct dkim_key;

/*
 * Load a private key: PEM (RSA PKCS#1 or PKCS#8, Ed25519 PKCS#8), or a file
 * holding just the base64 Ed25519 seed (dkimpy's and Exim's format). RSA
 * keys under 1024 bits are refused.
 */
int dkim_key_load(const char *path, struct dkim_key **out, char *err, size_t errlen);
int dkim_key_parse(const char *text, size_t len, struct dkim_key **out, char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);
enum dkim_alg dkim_key_alg(const struct dkim_key *k);
/*
 * A fresh key: RSA of bits (1024..8192; 0: 2048) or Ed25519 (bits ignored).
 * *out_pem gets the PKCS#8 private key PEM, *out_dns_txt the record to
 * publish at selector._domainkey.domain ("v=DKIM1; k=ed25519; p=..."). A
 * zone file must split an RSA record into strings of at most 255 octets.
 */
int dkim_keygen(enum dkim_alg alg, unsigned bits, char **out_pem, char **out_dns_txt, char *err,
                size_t errlen);
/* The TXT record for the public half of a loaded key. */
char *dkim_key_dns_txt(const struct dkim_key *k);

struct dkim_sign_opts {
	int64_t now;              /* t=; negative: no t= */
	int64_t expire;           /* x= = now + expire when > 0 and now >= 0 */
	const char *const *names; /* header names to sign; NULL: a sensible default */
	size_t nnames;
	size_t max_header; /* 0: 256 KiB */
};

struct dkim_sign;

/* relaxed/relaxed, the key's algorithm. NULL with a reason for a bad
 * domain or selector. The key must outlive the signer. */
struct dkim_sign *dkim_sign_new(const struct dkim_key *key, const char *domain,
                                const char *selector, const struct dkim_sign_opts *opts, char *err,
                                size_t errlen);
void dkim_sign_update(struct dkim_sign *s, const void *p, size_t n);
/* The whole "DKIM-Signature: ...\r\n" field (folded) in *out. */
int dkim_sign_finish(struct dkim_sign *s, char **out, char *err, size_t errlen);
void dkim_sign_free(struct dkim_sign *s);

#endif
