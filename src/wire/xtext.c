/* xtext: RFC 3461 xtext and RFC 6533 utf-8-enc-addr (see xtext.h). */
#include "xtext.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

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

/* Append k octets (count them only without out); -1 when they would not
 * leave room for the NUL. */
static int xtext_put(char *out, size_t outmax, size_t *o, const void *p, size_t k)
{
	if (out != NULL) {
		if (outmax == 0 || k > outmax - 1 - *o)
			return -1;
		memcpy(out + *o, p, k);
	}
	*o += k;
	return 0;
}

static int xtext_end(char *out, size_t outmax, size_t o, size_t *outlen)
{
	if (out != NULL) {
		if (outmax == 0)
			return -1;
		out[o] = '\0';
	}
	*outlen = o;
	return 0;
}

int xtext_decode(const char *s, size_t n, char *out, size_t outmax, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			int hi = n - i >= 3 ? xtext_hexval(s[i + 1]) : -1;
			int lo = n - i >= 3 ? xtext_hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -1;
		}
		if (xtext_put(out, outmax, &o, &c, 1) == -1)
			return -1;
	}
	return xtext_end(out, outmax, o, outlen);
}

/* The ASCII code points RFC 6533's HEXPOINT allows in its 2-digit form. */
static int xtext_hexpoint_ascii(unsigned v)
{
	return (v >= 0x01 && v <= 0x09) || (v >= 0x10 && v <= 0x19) || v == 0x20 || v == '+' ||
	       v == '=' || v == '\\' || v == 0x7f;
}

/*
 * "\x{HEXPOINT}" at s[0..n): the code point into *cp and the octets used
 * into *used; -1 if it is not one.
 */
static int xtext_hexpoint(const char *s, size_t n, uint32_t *cp, size_t *used)
{
	if (n < 4 || s[0] != '\\' || s[1] != 'x' || s[2] != '{')
		return -1;
	size_t d = 0;
	uint32_t v = 0;
	while (3 + d < n && d < 7 && xtext_hexval(s[3 + d]) >= 0)
		v = v * 16 + (uint32_t)xtext_hexval(s[3 + d++]);
	if (3 + d >= n || s[3 + d] != '}' || d < 2 || d > 6)
		return -1;
	if (d == 2) {
		if (v < 0x80 && !xtext_hexpoint_ascii(v))
			return -1;
	} else if (s[3] == '0' || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff) {
		return -1; /* leading zero, surrogate, beyond Unicode */
	}
	*cp = v;
	*used = 4 + d;
	return 0;
}

static size_t xtext_utf8_encode(uint32_t v, unsigned char *b)
{
	if (v < 0x80) {
		b[0] = (unsigned char)v;
		return 1;
	}
	if (v < 0x800) {
		b[0] = (unsigned char)(0xc0 | (v >> 6));
		b[1] = (unsigned char)(0x80 | (v & 0x3f));
		return 2;
	}
	if (v < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (v >> 12));
		b[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (v & 0x3f));
		return 3;
	}
	b[0] = (unsigned char)(0xf0 | (v >> 18));
	b[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3f));
	b[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3f));
	b[3] = (unsigned char)(0x80 | (v & 0x3f));
	return 4;
}

int xtext_decode_utf8(const char *s, size_t n, char *out, size_t outmax, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i], b[4];
		size_t k, used;
		if (c == '\\') {
			uint32_t cp;
			if (xtext_hexpoint(s + i, n - i, &cp, &used) == -1)
				return -1;
			k = xtext_utf8_encode(cp, b);
		} else if (c >= 0x80) {
			used = k = utf8_seq_len((const uint8_t *)s + i, n - i, NULL);
			if (k == 0)
				return -1;
			memcpy(b, s + i, k);
		} else if (c >= 33 && c <= 126 && c != '=') {
			used = k = 1;
			b[0] = c;
		} else {
			return -1;
		}
		if (xtext_put(out, outmax, &o, b, k) == -1)
			return -1;
		i += used;
	}
	return xtext_end(out, outmax, o, outlen);
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
			continue;
		}
		char e[3] = {'+', hex[c >> 4], hex[c & 15]};
		if (buf_append(out, e, 3) == -1)
			return -1;
	}
	return 0;
}
