/*
 * libFuzzer target for DKIM canonicalization. Input: one octet choosing
 * the chunk size, then text that is canonicalized as a header field (both
 * algorithms) and as a body (both algorithms), the body whole and in
 * chunks: the outputs must be identical, and relaxed output must keep its
 * promises (no WSP runs, none before a CRLF, no trailing empty lines, a
 * final CRLF unless empty). abort() otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dkim_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void sink(void *arg, const void *p, size_t n)
{
	if (buf_append(arg, p, n) == -1)
		abort();
}

static void body(enum dkim_canon mode, const uint8_t *p, size_t n, size_t chunk, uint64_t limit,
                 struct buf *out, uint64_t *total)
{
	struct dkim_body_canon c;
	buf_init(out, 0);
	dkim_body_canon_init(&c, mode, limit, sink, out);
	for (size_t i = 0; i < n; i += chunk)
		dkim_body_canon_update(&c, p + i, n - i < chunk ? n - i : chunk);
	dkim_body_canon_final(&c);
	*total = c.total;
}

static void check_relaxed_body(const struct buf *b)
{
	const uint8_t *d = b->data;
	size_t n = b->len;
	if (n == 0)
		return;
	if (n < 2 || d[n - 2] != '\r' || d[n - 1] != '\n')
		abort();
	if (n >= 4 && d[n - 4] == '\r' && d[n - 3] == '\n')
		abort(); /* a trailing empty line survived */
	/* (a lone CR is an ordinary octet, so " \r" may stay; " \r\n" not) */
	for (size_t i = 0; i + 1 < n; i++) {
		if (d[i] == '\t' || (d[i] == ' ' && d[i + 1] == ' '))
			abort();
		if (d[i] == ' ' && d[i + 1] == '\r' && i + 2 < n && d[i + 2] == '\n')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = 1 + data[0] % 64;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	for (int m = 0; m < 2; m++) {
		enum dkim_canon mode = m ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
		struct buf h;
		buf_init(&h, 0);
		if (dkim_canon_header(mode, (const char *)p, n, 0, &h) == -1)
			abort();
		if (h.len < 2 || h.data[h.len - 2] != '\r' || h.data[h.len - 1] != '\n')
			abort();
		if (mode == DKIM_CANON_SIMPLE && (h.len != n + 2 || (n && memcmp(h.data, p, n))))
			abort();
		buf_free(&h);

		struct buf a, b, c;
		uint64_t ta, tb, tc;
		body(mode, p, n, n ? n : 1, UINT64_MAX, &a, &ta);
		body(mode, p, n, chunk, UINT64_MAX, &b, &tb);
		body(mode, p, n, 1, n / 2, &c, &tc); /* l= half the input */
		if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0) ||
		    ta != a.len || tb != ta || tc != ta)
			abort();
		if (c.len != (a.len < n / 2 ? a.len : n / 2) ||
		    (c.len && memcmp(c.data, a.data, c.len)))
			abort();
		if (mode == DKIM_CANON_RELAXED)
			check_relaxed_body(&a);
		buf_free(&a);
		buf_free(&b);
		buf_free(&c);
	}
	return 0;
}
