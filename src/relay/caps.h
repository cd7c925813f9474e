/*
 * caps: what a server's 250 reply to EHLO says it supports (RFC 5321
 * §4.1.1.1, one keyword and its parameters per line after the first).
 * Pure and bounded: keywords are compared ignoring ASCII case, unknown
 * keywords and malformed parameters are ignored, and nothing is kept but
 * the flags, the SIZE limit and the AUTH mechanisms we know by name.
 */
#ifndef RAVEN_RELAY_CAPS_H
#define RAVEN_RELAY_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "reply.h"

enum {
	CAPS_PIPELINING = 1u << 0,          /* RFC 2920 */
	CAPS_SIZE = 1u << 1,                /* RFC 1870 */
	CAPS_8BITMIME = 1u << 2,            /* RFC 6152 */
	CAPS_SMTPUTF8 = 1u << 3,            /* RFC 6531 */
	CAPS_DSN = 1u << 4,                 /* RFC 3461 */
	CAPS_STARTTLS = 1u << 5,            /* RFC 3207 */
	CAPS_AUTH = 1u << 6,                /* RFC 4954, either form */
	CAPS_ENHANCEDSTATUSCODES = 1u << 7, /* RFC 2034 */
	CAPS_CHUNKING = 1u << 8,            /* RFC 3030 */
};

/* SASL mechanisms recognised in the AUTH list (others are ignored). */
enum {
	CAPS_MECH_PLAIN = 1u << 0,
	CAPS_MECH_LOGIN = 1u << 1,
	CAPS_MECH_CRAM_MD5 = 1u << 2,
	CAPS_MECH_SCRAM_SHA_1 = 1u << 3,
	CAPS_MECH_SCRAM_SHA_256 = 1u << 4,
	CAPS_MECH_XOAUTH2 = 1u << 5,
	CAPS_MECH_OAUTHBEARER = 1u << 6,
	CAPS_MECH_EXTERNAL = 1u << 7,
};

struct caps {
	unsigned flags;    /* CAPS_* */
	uint64_t size_max; /* SIZE limit in octets; 0: none announced (absent, 0 or unreadable) */
	unsigned mechs;    /* CAPS_MECH_*, from every AUTH line */
};

/* All the lines of an EHLO reply but the first (the server's name). */
void caps_parse(const struct reply *r, struct caps *c);
/* One line's text ("SIZE 1000"), added to what c holds already. */
void caps_parse_line(struct caps *c, const char *s, size_t n);
/* The mechanisms' names, space-separated, into dst (for logs). Returns dst. */
char *caps_mechs_str(unsigned mechs, char *dst, size_t dstlen);

#endif
