/*
 * libFuzzer target for dns_rdata: DNS reply packets as libunbound hands
 * them over. Input: one octet choosing the asked type, then the packet.
 * Besides "no crash", it checks what the parser promises: DNS_OK exactly
 * when there are records, every name it produces is a valid lookup name,
 * and a TXT record's strings add up to its joined form (abort() otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_rdata.h"
#include "dns_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t types[] = {DNS_T_A,     DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR,
                                 DNS_T_CNAME, DNS_T_TLSA, DNS_T_NS, DNS_T_SOA, 99};

static void check_name(const char *n)
{
	if (n == NULL || (n[0] != 0 && !dns_name_valid(n)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint16_t qtype = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	struct dns_answer a;
	char err[128];
	if (dns_packet_parse(data + 1, size - 1, qtype, &a, err, sizeof(err)) == -1) {
		if (strncmp(err, "malformed DNS reply: ", 21) != 0 || a.rr != NULL)
			abort();
		return 0;
	}
	if ((a.status == DNS_OK) != (a.nrr > 0) || a.qtype != qtype)
		abort();
	check_name(a.qname);
	check_name(a.canonical);
	for (size_t i = 0; i < a.nrr; i++) {
		const struct dns_rr *rr = &a.rr[i];
		if (rr->type != qtype)
			abort();
		if (qtype == DNS_T_MX)
			check_name(rr->u.mx.exchange);
		if (qtype == DNS_T_PTR || qtype == DNS_T_CNAME || qtype == DNS_T_NS)
			check_name(rr->u.name);
		if (qtype == DNS_T_TXT) {
			size_t total = 0;
			for (size_t j = 0; j < rr->u.txt.nstr; j++) {
				if (rr->u.txt.str[j].p != rr->u.txt.joined + total)
					abort();
				total += rr->u.txt.str[j].len;
			}
			if (total != rr->u.txt.joined_len || rr->u.txt.joined[total] != 0)
				abort();
		}
	}
	dns_answer_free(&a);
	return 0;
}
