/*
 * libFuzzer target for the DATA encoder (src/relay/dotstuff.c). The input
 * is a message; it is encoded whole, one byte at a time and in uneven
 * chunks (identical output required), and the output is checked against
 * a simple independent model: only CRLF-terminated lines, the only
 * "." line is the last one, and undoing the stuffing gives the message
 * with every bare CR or LF as CRLF and a final CRLF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dotstuff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void encode(const uint8_t *in, size_t n, size_t step, struct buf *out)
{
	struct dotstuff ds;
	size_t off = 0, k = 0;
	buf_init(out, 0);
	dotstuff_init(&ds);
	while (off < n) {
		size_t want = n - off;
		if (step != 0) {
			size_t c = 1 + (k++ % step);
			want = c < want ? c : want;
		}
		check(dotstuff_feed(&ds, in + off, want, out) == 0);
		off += want;
	}
	check(dotstuff_finish(&ds, out) == 0);
	check(ds.in == n && ds.out == out->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b, c, norm, unstuffed;
	encode(data, size, 0, &a);
	encode(data, size, 1, &b);
	encode(data, size, 5, &c);
	check(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	check(a.len == c.len && memcmp(a.data, c.data, a.len) == 0);

	/* the model: line ends normalised, a final CRLF */
	buf_init(&norm, 0);
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\r') {
			buf_append(&norm, "\r\n", 2);
			if (i + 1 < size && data[i + 1] == '\n')
				i++;
		} else if (data[i] == '\n') {
			buf_append(&norm, "\r\n", 2);
		} else {
			buf_append_byte(&norm, data[i]);
		}
	}
	if (norm.len > 0 &&
	    !(norm.len >= 2 && norm.data[norm.len - 2] == '\r' && norm.data[norm.len - 1] == '\n'))
		buf_append(&norm, "\r\n", 2);

	/* undo the encoding line by line: every line ends in CRLF */
	buf_init(&unstuffed, 0);
	size_t i = 0;
	int ended = 0;
	while (i < a.len) {
		size_t j = i;
		while (j < a.len && a.data[j] != '\r' && a.data[j] != '\n')
			j++;
		check(j + 1 < a.len && a.data[j] == '\r' && a.data[j + 1] == '\n');
		if (j - i == 1 && a.data[i] == '.') {
			check(j + 2 == a.len); /* the end marker is the very end */
			ended = 1;
			break;
		}
		size_t s = i;
		if (a.data[i] == '.') {
			check(j > i + 1 && a.data[i + 1] == '.');
			s++;
		}
		buf_append(&unstuffed, a.data + s, j + 2 - s);
		i = j + 2;
	}
	check(ended);
	check(unstuffed.len == norm.len &&
	      (norm.len == 0 || memcmp(unstuffed.data, norm.data, norm.len) == 0));
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	buf_free(&norm);
	buf_free(&unstuffed);
	return 0;
}
