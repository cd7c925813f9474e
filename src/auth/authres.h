/*
 * authres: the Authentication-Results header field (RFC 8601) — a builder
 * that turns our SPF, DKIM, DMARC and DNSBL results into one folded field,
 * escaping every value that came from the network, and a finder for the
 * fields that claim our authserv-id, which must be removed from incoming
 * mail before delivery (RFC 8601 §5) lest a sender forge our verdicts.
 *
 * DNSBL results use the method "x-dnsbl": RFC 8904's "dnswl" means "listed
 * on an allow list" (pass = listed), so using it for a block list would
 * invert its meaning for any consumer that knows it, and no block-list
 * method is registered. Consumers ignore methods they do not know. The
 * properties borrow RFC 8904's names: dns.zone, policy.ip, policy.txt.
 * x-dnsbl=pass: not listed; fail: listed; temperror: the lookup failed.
 */
#ifndef RAVEN_AUTHRES_H
#define RAVEN_AUTHRES_H

#include <stddef.h>

#include "dkim.h"
#include "dmarc.h"

#define AUTHRES_MAX_RESULTS 32

struct authres_prop {
	const char *ptype;    /* smtp, header, policy, dns */
	const char *property; /* mailfrom, d, ip, ... */
	const char *value;    /* escaped as needed */
};

struct authres;

struct authres *authres_new(const char *authserv_id);
void authres_free(struct authres *a);
/*
 * One resinfo: method=result, an optional comment, reason and properties.
 * method and result must be RFC 8601 keywords (our own constants); -1 if
 * not, or when AUTHRES_MAX_RESULTS are there already.
 */
int authres_add(struct authres *a, const char *method, const char *result, const char *comment,
                const char *reason, const struct authres_prop *props, size_t nprops);
/* spf=RESULT smtp.mailfrom=... smtp.helo=... (either may be NULL). */
int authres_add_spf(struct authres *a, const char *result, const char *mailfrom, const char *helo,
                    const char *reason);
/* dkim=RESULT (N-bit key) header.d= header.i= header.s= header.a= header.b= */
int authres_add_dkim(struct authres *a, const struct dkim_result *r);
/* dmarc=RESULT (p=... dis=...) header.from= */
int authres_add_dmarc(struct authres *a, const struct dmarc_outcome *o);
/* x-dnsbl=RESULT dns.zone= policy.ip= policy.txt= (see above) */
int authres_add_dnsbl(struct authres *a, const char *result, const char *zone,
                      const char *listed_ip, const char *txt);
/* "Authentication-Results: id; ...\r\n" folded; "id; none" when empty. */
char *authres_build(const struct authres *a);

/* Quote value for a pvalue if it is neither a token nor [local]@domain:
 * appended to dst (dstlen bytes, always terminated). */
void authres_escape_value(char *dst, size_t dstlen, const char *value);

/*
 * 1 if field (raw "Name: value", possibly folded) is an
 * Authentication-Results field whose authserv-id is authserv_id
 * (case-insensitive, after CFWS, quoted or not).
 */
int authres_is_ours(const char *field, size_t len, const char *authserv_id);

struct authres_span {
	size_t off, len; /* in the header section, len with the final CRLF */
};

/*
 * The Authentication-Results fields of a header section (hdr, up to the
 * blank line or len) that carry our authserv-id: up to max spans, returns
 * how many there are.
 */
size_t authres_find(const char *hdr, size_t len, const char *authserv_id,
                    struct authres_span *spans, size_t max);

#endif
