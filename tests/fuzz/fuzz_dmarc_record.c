/*
 * libFuzzer target for the DMARC record parser: an accepted record has
 * values in range (abort() otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_record r;
	char err[128];
	int is = dmarc_record_is_dmarc((const char *)data, size);
	if (dmarc_record_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		if (!is || r.pct > 100 || r.p > DMARC_POLICY_REJECT || r.sp > DMARC_POLICY_REJECT ||
		    r.fo == 0 || r.fo > 15 || strlen(r.rua) >= sizeof(r.rua))
			abort();
		if (r.p_from_rua && (r.nrua == 0 || r.p != DMARC_POLICY_NONE))
			abort();
	}
	return 0;
}
