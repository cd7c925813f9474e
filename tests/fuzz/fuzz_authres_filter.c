/*
 * libFuzzer target for authres_filter (src/auth/authres_filter.c): the
 * output must not depend on how the message is split (whole, a byte at a
 * time, and at a split point taken from the input), is never longer than
 * the input, and — for messages with only CRLF line ends — its header
 * section holds no Authentication-Results field with our authserv-id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "authres_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ID "mx.test.example"

static void run(const uint8_t *p, size_t n, size_t chunk, struct buf *out)
{
	struct authres_filter f;
	authres_filter_init(&f, ID);
	for (size_t off = 0; off < n;) {
		size_t k = chunk == 0 || chunk > n - off ? n - off : chunk;
		authres_filter_feed(&f, p + off, k, out);
		off += k;
	}
	authres_filter_end(&f, out);
	authres_filter_free(&f);
}

static int crlf_only(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = data[0] % 17;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct buf a, b, c;
	buf_init(&a, 0);
	buf_init(&b, 0);
	buf_init(&c, 0);
	run(p, n, 0, &a);
	run(p, n, 1, &b);
	run(p, n, chunk, &c);
	if (a.len != b.len || a.len != c.len || a.len > n ||
	    (a.len && (memcmp(a.data, b.data, a.len) || memcmp(a.data, c.data, a.len))))
		abort();
	if (n < AUTHRES_FILTER_HOLD_MAX && crlf_only(p, n)) {
		struct authres_span spans[4];
		if (authres_find((const char *)a.data, a.len, ID, spans, 4) != 0)
			abort();
	}
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	return 0;
}
