/*
 * libFuzzer target for xtext (src/relay/xtext.c): any octets survive
 * encode then decode, the encoding holds only xchars and "+XX", and
 * whatever the decoder accepts re-encodes to something that decodes to
 * the same octets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf e, d, e2, d2;
	buf_init(&e, 0);
	buf_init(&d, 0);
	check(xtext_encode(data, size, &e) == 0);
	for (size_t i = 0; i < e.len; i++)
		check(e.data[i] >= 33 && e.data[i] <= 126 && e.data[i] != '=');
	check(xtext_decode((const char *)e.data, e.len, &d) == 0);
	check(d.len == size && (size == 0 || memcmp(d.data, data, size) == 0));
	buf_free(&e);
	buf_free(&d);

	buf_init(&d, 0);
	if (xtext_decode((const char *)data, size, &d) == 0) {
		buf_init(&e2, 0);
		buf_init(&d2, 0);
		check(xtext_encode(d.data, d.len, &e2) == 0);
		check(xtext_decode((const char *)e2.data, e2.len, &d2) == 0);
		check(d2.len == d.len && (d.len == 0 || memcmp(d2.data, d.data, d.len) == 0));
		buf_free(&e2);
		buf_free(&d2);
	}
	buf_free(&d);
	return 0;
}
