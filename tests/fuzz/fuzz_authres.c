/*
 * libFuzzer target for Authentication-Results: the finder runs over the
 * input as a header section (spans must lie inside it), and the input is
 * used as every value the builder escapes: the built field must stay one
 * field (every CRLF followed by a tab), and must be recognised as ours.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authres_span s[8];
	size_t n = authres_find((const char *)data, size, "mx.example.org", s, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (s[i].off + s[i].len > size || s[i].len == 0)
			abort();
	char *v = xstrndup((const char *)data, size > 300 ? 300 : size);
	struct authres *a = authres_new("mx.example.org");
	authres_add_spf(a, "pass", v, v, v);
	struct dkim_result r = {.status = DKIM_FAIL};
	snprintf(r.domain, sizeof(r.domain), "%s", v);
	snprintf(r.identity, sizeof(r.identity), "%s", v);
	snprintf(r.reason, sizeof(r.reason), "%s", v);
	authres_add_dkim(a, &r);
	authres_add_dnsbl(a, "fail", v, v, v);
	char *h = authres_build(a);
	size_t len = strlen(h);
	for (size_t i = 0; i < len; i++) {
		if (h[i] == '\r' && (h[i + 1] != '\n' || (i + 2 < len && h[i + 2] != '\t')))
			abort();
		if (h[i] == '\n' && (i == 0 || h[i - 1] != '\r'))
			abort();
	}
	if (!authres_is_ours(h, len - 2, "mx.example.org"))
		abort();
	free(h);
	free(v);
	authres_free(a);
	return 0;
}
