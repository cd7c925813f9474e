/*
 * Unit tests for xtext: RFC 3461 xtext and RFC 6533 utf-8-enc-addr
 * decoding — what each value decodes to, what is refused, and the output
 * bounds (a result that does not fit is an error, never a cut; with no
 * output buffer the decoders only check and count). The same grammar seen
 * through whole command lines, fed whole and a byte at a time, is in
 * test_cmd_parse.c.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xtext.h"

struct xcase {
	int utf8; /* 0: xtext_decode, 1: xtext_decode_utf8 */
	const char *in;
	int rc;
	const char *out; /* decoded (success) */
	size_t outlen;
};

#define OK(u, in, out)                                                                             \
	{                                                                                          \
		u, in, 0, out, sizeof(out) - 1                                                     \
	}
#define BAD(u, in)                                                                                 \
	{                                                                                          \
		u, in, -1, NULL, 0                                                                 \
	}

static const struct xcase xcases[] = {
    OK(0, "", ""),
    OK(0, "abc", "abc"),
    OK(0, "pf-bj+C3+B8rn@localhost", "pf-bj\xc3\xb8rn@localhost"),
    OK(0, "pf-bj+c3+b8rn@localhost", "pf-bj\xc3\xb8rn@localhost"),
    OK(0, "x+7Fy", "x\x7fy"),
    OK(0, "+00", "\0"),
    OK(0, "+2B+3D+20+0D+0A", "+= \r\n"),
    OK(0, "!~", "!~"),
    BAD(0, "+"),
    BAD(0, "+4"),
    BAD(0, "a+4"),
    BAD(0, "+G0"),
    BAD(0, "+0G"),
    BAD(0, "a=b"),
    BAD(0, "a b"),
    BAD(0, "a\x7f"),
    BAD(0, "a\x1f"),
    BAD(0, "\xc3\xb8"),

    OK(1, "pf-bj\\x{F8}rn@localhost", "pf-bj\xc3\xb8rn@localhost"),
    OK(1, "pf-bj\\x{f8}rn@localhost", "pf-bj\xc3\xb8rn@localhost"),
    OK(1, "pf-bj\xc3\xb8rn@localhost", "pf-bj\xc3\xb8rn@localhost"),
    OK(1, "\\x{5C}\\x{2B}\\x{3D}\\x{20}\\x{7F}", "\\+= \x7f"),
    OK(1, "\\x{01}\\x{09}\\x{10}\\x{19}", "\x01\x09\x10\x19"),
    OK(1, "\\x{80}\\x{FF}", "\xc2\x80\xc3\xbf"),
    OK(1, "\\x{100}\\x{FFF}", "\xc4\x80\xe0\xbf\xbf"),
    OK(1, "\\x{1000}\\x{D7FF}\\x{E000}\\x{FFFF}",
       "\xe1\x80\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"),
    OK(1, "\\x{10000}\\x{1F600}", "\xf0\x90\x80\x80\xf0\x9f\x98\x80"),
    OK(1, "\\x{100000}\\x{10FFFF}", "\xf4\x80\x80\x80\xf4\x8f\xbf\xbf"),
    OK(1, "user+tag@b", "user+tag@b"),
    BAD(1, "\\"),
    BAD(1, "a\\b"),
    BAD(1, "\\x{"),
    BAD(1, "\\x{}"),
    BAD(1, "\\x{F}"),
    BAD(1, "\\x{F8"),
    BAD(1, "\\X{F8}"),
    BAD(1, "\\x(F8)"),
    BAD(1, "\\x{41}"), /* A needs no escape */
    BAD(1, "\\x{00}"),
    BAD(1, "\\x{0A}"), /* the RFC's 2-digit forms skip 0A..0F and 1A..1F */
    BAD(1, "\\x{1F}"),
    BAD(1, "\\x{21}"),
    BAD(1, "\\x{0F8}"), /* leading zero */
    BAD(1, "\\x{00F8}"),
    BAD(1, "\\x{D800}"), /* surrogates */
    BAD(1, "\\x{DFFF}"),
    BAD(1, "\\x{110000}"),
    BAD(1, "\\x{200000}"),
    BAD(1, "\\x{1000000}"),
    BAD(1, "a=b"),
    BAD(1, "a b"),
    BAD(1, "a\x01"),
    BAD(1, "\xc0\xaf"),
    BAD(1, "\xed\xa0\x80"),
    BAD(1, "\xc3"),
    BAD(1, "\xff"),
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xcases) / sizeof(xcases[0]); i++) {
		const struct xcase *c = &xcases[i];
		char out[256];
		size_t len = 999, count = 999;
		size_t n = strlen(c->in);
		int (*dec)(const char *, size_t, char *, size_t, size_t *) =
		    c->utf8 ? xtext_decode_utf8 : xtext_decode;
		int rc = dec(c->in, n, out, sizeof(out), &len);
		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d, expected %d", i, c->in, rc, c->rc);
		/* the check-only form agrees */
		assert_int_equal(dec(c->in, n, NULL, 0, &count), c->rc);
		if (rc == 0) {
			if (len != c->outlen || memcmp(out, c->out, len) != 0 || out[len] != '\0')
				fail_msg("case %zu \"%s\": wrong decoding (%zu octets)", i, c->in,
				         len);
			assert_int_equal(count, len);
		}
		/* nothing past n is read: an exact-size copy without a NUL (ASan
		 * builds catch an over-read) decodes the same */
		char *exact = malloc(n ? n : 1);
		assert_non_null(exact);
		memcpy(exact, c->in, n);
		assert_int_equal(dec(exact, n, out, sizeof(out), &count), c->rc);
		free(exact);
	}
}

/* A result that does not fit is refused, not cut; one that just fits is whole. */
static void test_bounds(void **state)
{
	(void)state;
	char out[8];
	size_t len;
	assert_int_equal(xtext_decode("abcdefg", 7, out, 8, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(out, "abcdefg");
	assert_int_equal(xtext_decode("abcdefgh", 8, out, 8, &len), -1);
	assert_int_equal(xtext_decode("+41+42+43+44+45+46+47", 21, out, 8, &len), 0);
	assert_string_equal(out, "ABCDEFG");
	assert_int_equal(xtext_decode("+41+42+43+44+45+46+47+48", 24, out, 8, &len), -1);
	assert_int_equal(xtext_decode("", 0, out, 1, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(xtext_decode("", 0, out, 0, &len), -1);
	/* a 4-octet sequence is not split at the end of the buffer */
	assert_int_equal(xtext_decode_utf8("abc\\x{1F600}", 12, out, 8, &len), 0);
	assert_int_equal(len, 7);
	assert_int_equal(xtext_decode_utf8("abcd\\x{1F600}", 13, out, 8, &len), -1);
	/* without a buffer: any length, counted */
	assert_int_equal(xtext_decode("abcdefghij+4B", 13, NULL, 0, &len), 0);
	assert_int_equal(len, 11);
}

static char *enc(const char *s, size_t n)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(xtext_encode(s, n, &b), 0);
	char *r = buf_strdup(&b);
	buf_free(&b);
	return r;
}

static void expect_enc(const char *in, const char *want)
{
	char *got = enc(in, strlen(in));
	assert_string_equal(got, want);
	free(got);
}

/* Encoding (what the relay sends): known forms, every octet round-trips,
 * and a full output refuses. */
static void test_encode(void **state)
{
	(void)state;
	expect_enc("", "");
	expect_enc("user@example.org", "user@example.org");
	expect_enc("a+b=c", "a+2Bb+3Dc");
	expect_enc("two words", "two+20words");
	expect_enc("tab\there\r\n", "tab+09here+0D+0A");
	expect_enc("\x7f\x80\xff", "+7F+80+FF");
	expect_enc("j\xc3\xb6rg@x", "j+C3+B6rg@x");
	char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	char *e = enc(all, sizeof(all));
	char back[257];
	size_t n = 0;
	assert_int_equal(xtext_decode(e, strlen(e), back, sizeof(back), &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(back, all, 256);
	free(e);
	struct buf b;
	buf_init(&b, 4);
	assert_int_equal(xtext_encode("abcd", 4, &b), 0);
	assert_int_equal(xtext_encode("e", 1, &b), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
