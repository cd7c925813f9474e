/*
 * libFuzzer target for the DKIM-Signature tag-list parser. Input: a field
 * body (after "DKIM-Signature:"). Besides "no crash", an accepted
 * signature must keep its promises (abort() otherwise): a valid d= and
 * s=, From in h=, an identity within d=, the b= span inside the input,
 * decoded lengths within bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_tags.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_sig *s = xmalloc(sizeof(*s));
	struct dkim_tag tags[DKIM_TAGS_MAX];
	size_t n;
	char err[160];
	const char *in = (const char *)data;
	if (dkim_tags_parse(in, size, tags, DKIM_TAGS_MAX, &n, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (tags[i].raw_start > tags[i].raw_end || tags[i].raw_end > size ||
			    tags[i].value + tags[i].value_len > in + size || tags[i].name_len == 0)
				abort();
	}
	if (dkim_sig_parse(in, size, s, err, sizeof(err)) == 0) {
		if (!dkim_name_valid(s->domain, strlen(s->domain), 0) ||
		    !dkim_name_valid(s->selector, strlen(s->selector), 1))
			abort();
		if (s->blen == 0 || s->blen > sizeof(s->b) || (s->bhlen != 20 && s->bhlen != 32))
			abort();
		if (s->braw_start > s->braw_end || s->braw_end > size)
			abort();
		int from = 0;
		for (size_t i = 0; i < s->nh; i++)
			from |= strcmp(s->hbuf + s->hoff[i], "from") == 0;
		const char *at = strrchr(s->identity, '@');
		if (!from || at == NULL || strlen(at + 1) < strlen(s->domain) ||
		    strcasecmp(at + 1 + strlen(at + 1) - strlen(s->domain), s->domain) != 0)
			abort();
		if (s->has_t && s->has_x && s->x < s->t)
			abort();
	}
	free(s);
	return 0;
}
