/*
 * dkim_hdrs: the capped header-section collector (see dkim_hdrs.h).
 */
#include "dkim_hdrs.h"

#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "xmalloc.h"

void dkim_hdrs_init(struct dkim_hdrs *h, size_t max)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->raw, max);
}

void dkim_hdrs_free(struct dkim_hdrs *h)
{
	buf_free(&h->raw);
	free(h->fields);
	h->fields = NULL;
	h->nfields = 0;
}

static void split(struct dkim_hdrs *h)
{
	const char *s = (const char *)h->raw.data;
	size_t len = h->raw.len, i = 0, cap = 0;
	while (i < len) {
		size_t start = i, end;
		/* A field runs to a CRLF not followed by WSP (or the end). */
		for (;;) {
			const char *cr = memchr(s + i, '\r', len - i);
			while (cr != NULL && !((size_t)(cr - s) + 1 < len && cr[1] == '\n'))
				cr = memchr(cr + 1, '\r', len - (size_t)(cr + 1 - s));
			if (cr == NULL) {
				end = i = len;
				break;
			}
			end = (size_t)(cr - s);
			i = end + 2;
			if (i >= len || (s[i] != ' ' && s[i] != '\t'))
				break;
		}
		if (h->nfields == DKIM_HDRS_FIELDS_MAX) {
			h->overflow = 1;
			return;
		}
		if (h->nfields == cap) {
			cap = cap ? cap * 2 : 32;
			h->fields = xreallocarray(h->fields, cap, sizeof(*h->fields));
		}
		struct dkim_field *f = &h->fields[h->nfields++];
		f->off = start;
		f->len = end - start;
		const char *colon = memchr(s + start, ':', f->len);
		size_t nl = colon ? (size_t)(colon - (s + start)) : 0;
		while (nl > 0 && (s[start + nl - 1] == ' ' || s[start + nl - 1] == '\t'))
			nl--;
		f->name_len = nl;
	}
}

static void finish(struct dkim_hdrs *h)
{
	h->done = 1;
	if (!h->overflow)
		split(h);
}

size_t dkim_hdrs_feed(struct dkim_hdrs *h, const void *p, size_t n)
{
	const uint8_t *u = p;
	size_t i = 0;
	while (i < n && !h->done) {
		uint8_t b = u[i++];
		h->seen++;
		h->tail = h->tail << 8 | b;
		if (!h->overflow && buf_append_byte(&h->raw, b) == -1)
			h->overflow = 1;
		if (h->tail == 0x0d0a0d0a || (h->seen == 2 && (h->tail & 0xffff) == 0x0d0a)) {
			/* The blank line is neither header nor body. */
			if (!h->overflow)
				h->raw.len -= 2;
			finish(h);
		}
	}
	return i;
}

void dkim_hdrs_end(struct dkim_hdrs *h)
{
	if (!h->done)
		finish(h);
}

int dkim_hdrs_is(const struct dkim_hdrs *h, size_t i, const char *name)
{
	const struct dkim_field *f = &h->fields[i];
	return f->name_len == strlen(name) &&
	       strncasecmp((const char *)h->raw.data + f->off, name, f->name_len) == 0;
}
