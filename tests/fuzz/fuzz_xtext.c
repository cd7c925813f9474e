/*
 * libFuzzer target for xtext (src/wire/xtext.c): any octets survive encode
 * then decode, the encoding holds only xchars and "+XX", and whatever the
 * decoders accept re-encodes to something that decodes to the same octets.
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
	if (size > 4096)
		return 0;
	struct buf e, e2;
	buf_init(&e, 0);
	check(xtext_encode(data, size, &e) == 0);
	for (size_t i = 0; i < e.len; i++)
		check(e.data[i] >= 33 && e.data[i] <= 126 && e.data[i] != '=');
	char *d = malloc(size + 1), *d2 = malloc(4 * size + 8);
	size_t dl = 0, dl2 = 0;
	check(xtext_decode((const char *)e.data, e.len, d, size + 1, &dl) == 0);
	check(dl == size && (size == 0 || memcmp(d, data, size) == 0));
	buf_free(&e);
	if (xtext_decode((const char *)data, size, d2, 4 * size + 8, &dl2) == 0) {
		buf_init(&e2, 0);
		check(xtext_encode(d2, dl2, &e2) == 0);
		check(xtext_decode((const char *)e2.data, e2.len, d, size + 1, &dl) == 0);
		check(dl == dl2 && (dl == 0 || memcmp(d, d2, dl) == 0));
		buf_free(&e2);
	}
	/* the utf-8 form: bounded, and never more octets than it may hold */
	(void)xtext_decode_utf8((const char *)data, size, d2, 4 * size + 8, &dl2);
	free(d);
	free(d2);
	return 0;
}
