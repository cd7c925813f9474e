/*
 * dkim_canon: simple and relaxed canonicalization of header fields and of
 * a streamed body (see dkim_canon.h).
 */
#include "dkim_canon.h"

#include <string.h>

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

int dkim_canon_header(enum dkim_canon mode, const char *field, size_t len, int nocrlf,
                      struct buf *out)
{
	if (mode == DKIM_CANON_SIMPLE) {
		if (buf_append(out, field, len) == -1)
			return -1;
		return nocrlf ? 0 : buf_append(out, "\r\n", 2);
	}
	/* relaxed: lowercase name, no WSP around the colon, unfolded value with
	 * WSP runs made one SP and none at either end. */
	const unsigned char *u = (const unsigned char *)field;
	const unsigned char *colon = memchr(u, ':', len);
	size_t nend = colon ? (size_t)(colon - u) : len;
	while (nend > 0 && is_wsp(u[nend - 1]))
		nend--;
	for (size_t i = 0; i < nend; i++) {
		unsigned char c = u[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		if (buf_append_byte(out, c) == -1)
			return -1;
	}
	if (buf_append_byte(out, ':') == -1)
		return -1;
	size_t i = colon ? (size_t)(colon - u) + 1 : len;
	int wsp = 0, any = 0;
	for (; i < len; i++) {
		unsigned char c = u[i];
		if (c == '\r' && i + 1 < len && u[i + 1] == '\n') {
			i++; /* unfold: the CRLF goes, the WSP after it stays a WSP */
			continue;
		}
		if (is_wsp(c)) {
			wsp = 1;
			continue;
		}
		if (wsp && any && buf_append_byte(out, ' ') == -1)
			return -1;
		wsp = 0;
		any = 1;
		if (buf_append_byte(out, c) == -1)
			return -1;
	}
	return nocrlf ? 0 : buf_append(out, "\r\n", 2);
}

void dkim_body_canon_init(struct dkim_body_canon *c, enum dkim_canon mode, uint64_t limit,
                          void (*sink)(void *arg, const void *p, size_t n), void *arg)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	c->limit = limit;
	c->sink = sink;
	c->arg = arg;
}

static void flush(struct dkim_body_canon *c)
{
	if (c->blen > 0)
		c->sink(c->arg, c->block, c->blen);
	c->blen = 0;
}

/* Every canonical octet goes through here: it counts them all and passes
 * on the first `limit` (l=). */
static void out_byte(struct dkim_body_canon *c, uint8_t b)
{
	if (c->total++ >= c->limit)
		return;
	if (c->blen == sizeof(c->block))
		flush(c);
	c->block[c->blen++] = b;
}

/* Content on a line: first the line ends held back before it. */
static void content(struct dkim_body_canon *c, uint8_t b)
{
	for (; c->crlfs > 0; c->crlfs--) {
		out_byte(c, '\r');
		out_byte(c, '\n');
	}
	if (c->wsp) {
		out_byte(c, ' ');
		c->wsp = 0;
	}
	out_byte(c, b);
	c->any = 1;
}

void dkim_body_canon_update(struct dkim_body_canon *c, const void *p, size_t n)
{
	const uint8_t *u = p;
	int relaxed = c->mode == DKIM_CANON_RELAXED;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = u[i];
		if (c->cr) {
			c->cr = 0;
			if (b == '\n') {
				c->wsp = 0; /* relaxed: no WSP at the end of a line */
				c->crlfs++;
				continue;
			}
			content(c, '\r'); /* a lone CR is an ordinary octet */
		}
		if (b == '\r') {
			c->cr = 1;
		} else if (relaxed && (b == ' ' || b == '\t')) {
			c->wsp = 1;
		} else {
			content(c, b);
		}
	}
}

void dkim_body_canon_final(struct dkim_body_canon *c)
{
	if (c->cr) {
		c->cr = 0;
		content(c, '\r');
	}
	c->wsp = 0;
	/* Trailing empty lines are gone; a non-empty body ends with one CRLF.
	 * An empty body is CRLF for simple and nothing for relaxed (RFC 6376
	 * §3.4.3, §3.4.4 and erratum 3192). */
	if (c->any || c->mode == DKIM_CANON_SIMPLE) {
		out_byte(c, '\r');
		out_byte(c, '\n');
	}
	c->crlfs = 0;
	flush(c);
}
