/*
 * addr: pure RFC 5321 §4.1.2 path and mailbox parser (with the RFC 6531
 * SMTPUTF8 extension). No I/O, bounded: local part <= 64 octets, domain
 * <= 255, path <= 256 (RFC 5321 §4.5.3.1).
 *
 * Accepts: dot-atom and quoted-string local parts; domains as dot-separated
 * LDH labels; address literals [1.2.3.4] and [IPv6:...] (validated with
 * inet_pton); the null path <> (only with ADDR_ALLOW_NULL); an ignored
 * source route "<@a,@b:user@dom>"; UTF-8 (valid, no overlongs) in the
 * local part and domain only with ADDR_ALLOW_UTF8; "<postmaster>" without a
 * domain only with ADDR_ALLOW_POSTMASTER (case-insensitive).
 */
#ifndef RAVEN_ADDR_H
#define RAVEN_ADDR_H

#include <stddef.h>

#include "smtp_reply.h"

#define ADDR_LOCAL_MAX  64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX   256

enum {
	ADDR_ALLOW_NULL = 1,
	ADDR_ALLOW_UTF8 = 2,
	ADDR_ALLOW_POSTMASTER = 4,
};

struct mailaddr {
	int is_null;                        /* <> */
	int is_literal;                     /* domain is an address literal */
	int has_utf8;                       /* non-ASCII octets present */
	char local[ADDR_LOCAL_MAX * 2 + 1]; /* unquoted local part (quoted-pairs resolved) */
	char domain[ADDR_DOMAIN_MAX + 1];   /* as written; literals keep their [] */
	/* canonical "local@domain" (local re-quoted only if needed), "" for <>,
	 * "postmaster" for <postmaster> */
	char text[ADDR_PATH_MAX * 2 + 3];
};

/*
 * Parse a path "<...>" at the start of s (len octets). On success returns 0,
 * fills *a and sets *consumed to the octets used (up to and including '>').
 * On failure returns -1 with a reply in *err saying which part was wrong
 * and why: 501 5.1.3 for syntax and length errors (a caller parsing a
 * sender turns it into 5.1.7, as cmd_parse does), 553 5.6.7 for non-ASCII
 * without ADDR_ALLOW_UTF8. <postmaster> gives local "postmaster" (lower
 * case) and domain "".
 */
int addr_parse_path(const char *s, size_t len, unsigned flags, struct mailaddr *a, size_t *consumed,
                    struct smtp_reply *err);
/* Parse a bare mailbox "local@domain" (whole string). Same results. */
int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct mailaddr *a,
                       struct smtp_reply *err);
/* 1 if s is a valid EHLO/HELO argument: a domain or an address literal. */
int addr_valid_helo(const char *s, size_t len);

#endif
