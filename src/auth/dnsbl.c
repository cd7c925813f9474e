/* dnsbl: query names and answer codes of DNS block lists (see dnsbl.h). */
#include "dnsbl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns_util.h"

int dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen)
{
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1)
		return dns_reverse_name(AF_INET, a, zone, out, outlen);
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return dns_reverse_name(AF_INET, a + 12, zone, out, outlen);
	return dns_reverse_name(AF_INET6, a, zone, out, outlen);
}

static int counts(uint32_t v, const uint32_t *lo, const uint32_t *hi, size_t n)
{
	if (n == 0)
		return (v >> 24) == 127 && (v >> 8) != 0x7fffff;
	for (size_t i = 0; i < n; i++)
		if (v >= lo[i] && v <= hi[i])
			return 1;
	return 0;
}

enum dnsbl_verdict dnsbl_classify(const struct dns_answer *a, const uint32_t *lo,
                                  const uint32_t *hi, size_t n, char *code, size_t codelen)
{
	if (codelen > 0)
		code[0] = '\0';
	if (a->status == DNS_NXDOMAIN || a->status == DNS_NODATA)
		return DNSBL_NOT_LISTED;
	if (a->status != DNS_OK)
		return DNSBL_ERROR;
	enum dnsbl_verdict v = DNSBL_NOT_LISTED;
	for (size_t i = 0; i < a->nrr; i++) {
		const struct dns_rr *rr = &a->rr[i];
		if (rr->type != DNS_T_A)
			continue;
		const uint8_t *b = rr->u.a;
		uint32_t x =
		    (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		int listed = counts(x, lo, hi, n);
		int refused = (x >> 8) == 0x7fffff;
		if (listed || (refused && v == DNSBL_NOT_LISTED)) {
			v = listed ? DNSBL_LISTED : DNSBL_REFUSED;
			snprintf(code, codelen, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
			if (listed)
				break;
		}
	}
	return v;
}

const char *dnsbl_verdict_name(enum dnsbl_verdict v)
{
	switch (v) {
	case DNSBL_NOT_LISTED:
		return "not-listed";
	case DNSBL_LISTED:
		return "listed";
	case DNSBL_REFUSED:
		return "refused";
	case DNSBL_ERROR:
		return "error";
	}
	return "?";
}
