/*
 * libFuzzer target for dnsbl (src/auth/dnsbl.c) behind the DNS reply
 * parser: any reply to an A question is classified without reading out
 * of bounds, with and without per-zone codes, and a listing names the
 * code that made it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsbl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_answer a;
	char err[128], code[32];
	if (dns_packet_parse(data, size, DNS_T_A, &a, err, sizeof(err)) == -1)
		return 0;
	static const uint32_t lo[] = {0x7f000002, 0x7f000004}, hi[] = {0x7f000002, 0x7f00000b};
	for (size_t n = 0; n <= 2; n += 2) {
		enum dnsbl_verdict v = dnsbl_classify(&a, lo, hi, n, code, sizeof(code));
		if ((v == DNSBL_LISTED || v == DNSBL_REFUSED) && strncmp(code, "127.", 4) != 0)
			abort();
		if (v == DNSBL_ERROR && a.status == DNS_OK)
			abort();
	}
	dns_answer_free(&a);
	return 0;
}
