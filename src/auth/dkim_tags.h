/*
 * dkim_tags: the pure parsers for DKIM's tag=value lists (RFC 6376 §3.2):
 * the DKIM-Signature field (§3.5) and the key record (§3.6.1), plus the
 * checks on the DNS names they carry. Every input here comes from a message
 * or from DNS, so everything is bounded and nothing is trusted.
 */
#ifndef RAVEN_DKIM_TAGS_H
#define RAVEN_DKIM_TAGS_H

#include <stddef.h>
#include <stdint.h>

#include "dkim.h"

#define DKIM_TAGS_MAX   64   /* tags in one list */
#define DKIM_SIG_MAX    1024 /* decoded b= octets: an 8192-bit RSA signature */
#define DKIM_PUBKEY_MAX 2048 /* decoded p= octets */
#define DKIM_HNAMES_MAX 256  /* names in h= */
#define DKIM_HBUF_MAX   8192 /* h= names with their NULs */

struct dkim_tag {
	const char *name;
	size_t name_len;
	const char *value; /* without the FWS around it */
	size_t value_len;
	size_t raw_start, raw_end; /* all after '=' up to ';' or the end (b= removal) */
};

/* Split s into tags (duplicates, bad names, bad octets: -1 with reason). */
int dkim_tags_parse(const char *s, size_t len, struct dkim_tag *tags, size_t max, size_t *n,
                    char *err, size_t errlen);

/* Decode base64, ignoring FWS; -1 on a bad character, bad padding or more
 * than max octets. */
int dkim_base64_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *outlen);

/* 1 if s (len octets) is a domain name we may look up: LDH labels of 1..63
 * octets (underscore too when selector), at most 253 octets in all. */
int dkim_name_valid(const char *s, size_t len, int selector);

enum dkim_canon {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED,
};

struct dkim_sig {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	char domain[DKIM_DOMAIN_MAX + 1];
	char selector[DKIM_DOMAIN_MAX + 1];
	char identity[DKIM_IDENTITY_MAX + 1]; /* decoded i=, or "@" d= */
	char b8[9];
	uint8_t b[DKIM_SIG_MAX];
	size_t blen;
	uint8_t bh[32];
	size_t bhlen; /* 32 (sha256) or 20 (sha1) */
	int has_l, has_t, has_x;
	uint64_t l; /* saturates at UINT64_MAX */
	int64_t t, x;
	size_t nh; /* names in h=, lowercased, NUL-terminated in hbuf */
	uint16_t hoff[DKIM_HNAMES_MAX];
	char hbuf[DKIM_HBUF_MAX];
	size_t braw_start, braw_end; /* b= value span in the parsed text */
};

/*
 * Parse a DKIM-Signature field body (after the colon). On error *sig holds
 * whatever was read so far (domain, selector, b8 when they parsed) for the
 * result header. Checks syntax and self-consistency only; time and key
 * checks are the verifier's.
 */
int dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig, char *err, size_t errlen);

enum dkim_keytype {
	DKIM_KEY_RSA,
	DKIM_KEY_ED25519,
};

struct dkim_keyrec {
	enum dkim_keytype type;
	int testing;          /* t=y */
	int strict;           /* t=s */
	int revoked;          /* p= empty */
	int h_sha1, h_sha256; /* hashes h= allows (both without h=) */
	uint8_t p[DKIM_PUBKEY_MAX];
	size_t plen;
};

/* Parse a key record (one TXT record, strings concatenated). */
int dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *k, char *err, size_t errlen);

#endif
