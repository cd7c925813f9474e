/* xtext: RFC 3461 §4 encoder and decoder (see xtext.h). */
#include "xtext.h"

#include <stdint.h>

static int xtext_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int xtext_encode(const void *in, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const uint8_t *p = in;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			if (buf_append_byte(out, c) == -1)
				return -1;
		} else {
			char e[3] = {'+', hex[c >> 4], hex[c & 15]};
			if (buf_append(out, e, sizeof(e)) == -1)
				return -1;
		}
	}
	return 0;
}

int xtext_decode(const char *in, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)in[i];
		if (c == '+') {
			if (n - i < 3)
				return -1;
			int hi = xtext_hexval(in[i + 1]), lo = xtext_hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (uint8_t)(hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -1;
		}
		if (buf_append_byte(out, c) == -1)
			return -1;
	}
	return 0;
}
