/*
 * libFuzzer target for the From: parser behind DMARC's author domain:
 * every domain it returns is a lowercase DNS name (abort() otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_tags.h"
#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmarc_from f;
	char err[128];
	if (dmarc_from_parse((const char *)data, size, &f, err, sizeof(err)) == 0) {
		if (f.n > DMARC_FROM_ADDRS_MAX)
			abort();
		for (size_t i = 0; i < f.n; i++) {
			const char *d = f.domain[i];
			if (!dkim_name_valid(d, strlen(d), 0))
				abort();
			for (; *d; d++)
				if (*d >= 'A' && *d <= 'Z')
					abort();
		}
	}
	const char *v = (const char *)data;
	char out[DMARC_DOMAIN_MAX + 1];
	(void)dmarc_author_domain(&v, &size, 1, out, sizeof(out), err, sizeof(err));
	return 0;
}
