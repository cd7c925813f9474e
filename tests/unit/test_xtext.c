/*
 * Unit tests for xtext (src/relay/xtext.c, RFC 3461 §4): known encodings,
 * every octet round-trips, the decoder's refusals, and output caps.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xtext.h"

static char *enc(const char *s, size_t n)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(xtext_encode(s, n, &b), 0);
	char *r = buf_strdup(&b);
	buf_free(&b);
	return r;
}

/* Decoded text, or NULL when the decoder refuses. */
static char *dec(const char *s)
{
	struct buf b;
	buf_init(&b, 0);
	char *r = NULL;
	if (xtext_decode(s, strlen(s), &b) == 0)
		r = buf_strdup(&b);
	buf_free(&b);
	return r;
}

static void expect_enc(const char *in, const char *want)
{
	char *got = enc(in, strlen(in));
	assert_string_equal(got, want);
	free(got);
}

static void expect_dec(const char *in, const char *want)
{
	char *got = dec(in);
	if (want == NULL) {
		if (got != NULL)
			fail_msg("\"%s\" decoded to \"%s\", want a refusal", in, got);
		return;
	}
	if (got == NULL)
		fail_msg("\"%s\" refused, want \"%s\"", in, want);
	assert_string_equal(got, want);
	free(got);
}

static void test_encode(void **state)
{
	(void)state;
	expect_enc("", "");
	expect_enc("user@example.org", "user@example.org");
	expect_enc("a+b=c", "a+2Bb+3Dc");
	expect_enc("two words", "two+20words");
	expect_enc("\"q\"@x", "\"q\"@x");
	expect_enc("tab\there\r\n", "tab+09here+0D+0A");
	expect_enc("~!", "~!");
	expect_enc("\x7f\x80\xff", "+7F+80+FF");
	expect_enc("j\xc3\xb6rg@x", "j+C3+B6rg@x");
	char *z = enc("a\0b", 3);
	assert_string_equal(z, "a+00b");
	free(z);
}

static void test_decode(void **state)
{
	(void)state;
	expect_dec("", "");
	expect_dec("user@example.org", "user@example.org");
	expect_dec("a+2Bb+3Dc", "a+b=c");
	expect_dec("two+20words", "two words");
	expect_dec("x+2b+3d", "x+="); /* lower-case hex is taken */
	expect_dec("+41+42", "AB");
	/* refused: short or bad escapes, raw '=', raw space or control, 8-bit */
	expect_dec("+", NULL);
	expect_dec("a+4", NULL);
	expect_dec("a+4G", NULL);
	expect_dec("a+G4", NULL);
	expect_dec("a=b", NULL);
	expect_dec("a b", NULL);
	expect_dec("a\tb", NULL);
	expect_dec("a\x7f", NULL);
	expect_dec("a\xc3\xb6", NULL);
}

/* Every octet value, and every pair, survives encode then decode. */
static void test_roundtrip(void **state)
{
	(void)state;
	unsigned char all[512];
	for (int i = 0; i < 256; i++) {
		all[2 * i] = (unsigned char)i;
		all[2 * i + 1] = (unsigned char)(255 - i);
	}
	char *e = enc((const char *)all, sizeof(all));
	for (const char *p = e; *p; p++)
		assert_true(*p >= 33 && *p <= 126 && *p != '=');
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(xtext_decode(e, strlen(e), &b), 0);
	assert_int_equal(b.len, sizeof(all));
	assert_memory_equal(b.data, all, sizeof(all));
	buf_free(&b);
	free(e);
}

static void test_caps(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 4);
	assert_int_equal(xtext_encode("abcd", 4, &b), 0);
	assert_int_equal(xtext_encode("e", 1, &b), -1);
	buf_free(&b);
	buf_init(&b, 5);
	assert_int_equal(xtext_encode("ab ", 3, &b), 0); /* "ab+20" is 5 */
	buf_reset(&b);
	assert_int_equal(xtext_encode("abc ", 4, &b), -1);
	buf_free(&b);
	buf_init(&b, 2);
	assert_int_equal(xtext_decode("+41+42", 6, &b), 0);
	assert_int_equal(xtext_decode("+43", 3, &b), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_caps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
