/*
 * dns_util: pure helpers around DNS names and answers that the relay,
 * SPF and DNSBL code share: name syntax checks, turning text into a
 * lookup name, reverse names (PTR, DNSBL), and MX ordering (RFC 5321 §5.1).
 */
#ifndef RAVEN_DNS_UTIL_H
#define RAVEN_DNS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dns_rdata.h"

/*
 * 1 if name is a name dns_lookup() accepts: presentation form (escapes
 * "\X" and "\DDD"), labels of 1-63 octets, at most 255 octets on the wire,
 * one optional trailing dot, printable ASCII otherwise.
 */
int dns_name_valid(const char *name);
/*
 * 1 if name is a host name (RFC 1123 §2.1): letters, digits and hyphens,
 * labels of 1-63 not starting or ending with a hyphen, at most 253 octets,
 * one optional trailing dot.
 */
int dns_hostname_valid(const char *name);
/*
 * Append text whose labels are the literal octets between its dots (what an
 * SPF macro expands to) to out in presentation form: "\" and octets
 * outside 0x21-0x7e are escaped. -1 if out is full.
 */
int dns_name_quote(const char *text, size_t len, struct buf *out);
/*
 * The reverse of dns_name_quote: the octets of a presentation-form name,
 * escapes undone, labels still separated by dots (so a "\." inside a label
 * becomes a separator: such names do not occur in mail). NUL-terminated;
 * -1 if it does not fit, an escape is broken or it would hold a NUL.
 */
int dns_name_unquote(const char *name, char *out, size_t outlen);
/*
 * The reverse name of an address, under zone (NULL: "in-addr.arpa" or
 * "ip6.arpa"): "4.3.2.1.in-addr.arpa", the 32 nibbles of IPv6 (lowercase),
 * or "4.3.2.1.zen.example" for a DNSBL. af is AF_INET or AF_INET6. -1 if
 * out is too small or af unknown.
 */
int dns_reverse_name(int af, const void *addr, const char *zone, char *out, size_t outlen);
/*
 * Order MX records for delivery (RFC 5321 §5.1): by preference, records of
 * equal preference shuffled with rnd (so tests can make it deterministic).
 * Records that are not MX keep their place at the end.
 */
void dns_mx_sort(struct dns_rr *rr, size_t n, uint32_t (*rnd)(void *arg), void *arg);

#endif
