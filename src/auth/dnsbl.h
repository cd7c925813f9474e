/*
 * dnsbl: DNS block lists (RFC 5782) as pure functions: the name a client's
 * address is looked up under in a zone (IPv4 octets reversed, IPv6 as 32
 * reversed nibbles), and what the A answer means. A list answers 127.0.0.x
 * for a listed address; which codes count can be narrowed per zone (a
 * combined list such as Spamhaus ZEN encodes several lists in them); an
 * answer in 127.255.255.0/24 is the list refusing our resolver (too many
 * queries, a public resolver): an error to log, never a listing; other
 * answers (a resolver that rewrites NXDOMAIN) are not listings either.
 */
#ifndef RAVEN_DNSBL_H
#define RAVEN_DNSBL_H

#include <stddef.h>
#include <stdint.h>

#include "dns_rdata.h"

enum dnsbl_verdict {
	DNSBL_NOT_LISTED,
	DNSBL_LISTED,
	DNSBL_REFUSED, /* 127.255.255.x: the list will not answer us */
	DNSBL_ERROR,   /* no answer (timeout, SERVFAIL): fail open */
};

/* The name to look up for the address ip (text) under zone; -1 if ip is
 * not an IPv4 or IPv6 address or out is too small. "::ffff:a.b.c.d" is
 * looked up as the IPv4 address a.b.c.d. */
int dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen);
/*
 * What an answer to that A query means. lo/hi: n inclusive ranges of the
 * codes that count (IPv4, host order); n 0: any 127.0.0.0/8 address but
 * 127.255.255.0/24. A listing wins over a refusal in the same answer. The
 * code found (listed or refused) goes to code ("127.0.0.2").
 */
enum dnsbl_verdict dnsbl_classify(const struct dns_answer *a, const uint32_t *lo,
                                  const uint32_t *hi, size_t n, char *code, size_t codelen);
const char *dnsbl_verdict_name(enum dnsbl_verdict v);

#endif
