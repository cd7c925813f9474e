/*
 * Unit tests for DKIM canonicalization: the RFC 6376 §3.4.6 example, then
 * a table of header fields and bodies for both algorithms. Every body is
 * fed whole, one byte at a time and in every two-piece split, and must
 * give the same octets; l= must cut the output but not the count.
 */
#include "unit_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dkim_canon.h"
#include "xmalloc.h"

static void sink(void *arg, const void *p, size_t n)
{
	assert_int_equal(buf_append(arg, p, n), 0);
}

/* Canonicalize body in pieces cut at `cut` (and every `step` after). */
static char *body(enum dkim_canon mode, const char *in, size_t cut, size_t step, uint64_t limit,
                  uint64_t *total)
{
	struct buf out;
	buf_init(&out, 0);
	struct dkim_body_canon c;
	dkim_body_canon_init(&c, mode, limit, sink, &out);
	size_t len = strlen(in);
	char *copy = xmemdup(in, len); /* exactly sized: ASan sees over-reads */
	size_t i = 0;
	if (cut > 0 && cut < len) {
		dkim_body_canon_update(&c, copy, cut);
		i = cut;
	}
	while (i < len) {
		size_t n = step == 0 || len - i < step ? len - i : step;
		dkim_body_canon_update(&c, copy + i, n);
		i += n;
	}
	dkim_body_canon_final(&c);
	if (total)
		*total = c.total;
	free(copy);
	char *s = buf_strdup(&out);
	buf_free(&out);
	return s;
}

static void check_body(enum dkim_canon mode, const char *in, const char *want)
{
	char *whole = body(mode, in, 0, 0, UINT64_MAX, NULL);
	if (strcmp(whole, want) != 0)
		fail_msg("%s body of \"%s\": got \"%s\"", mode ? "relaxed" : "simple", in, whole);
	char *bytes = body(mode, in, 0, 1, UINT64_MAX, NULL);
	assert_string_equal(bytes, want);
	for (size_t cut = 1; cut < strlen(in); cut++) {
		char *split = body(mode, in, cut, 0, UINT64_MAX, NULL);
		assert_string_equal(split, want);
		free(split);
	}
	/* l=: the first k octets, and the count of all of them */
	for (size_t k = 0; k <= strlen(want); k++) {
		uint64_t total;
		char *cut = body(mode, in, 0, 3, k, &total);
		assert_int_equal(strlen(cut), k);
		assert_memory_equal(cut, want, k);
		assert_int_equal(total, strlen(want));
		free(cut);
	}
	free(whole);
	free(bytes);
}

static const struct {
	const char *in, *simple, *relaxed;
} bodies[] = {
    /* RFC 6376 §3.4.6 */
    {" C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", " C\r\nD E\r\n"},
    /* empty bodies: CRLF for simple, nothing for relaxed */
    {"", "\r\n", ""},
    {"\r\n", "\r\n", ""},
    {"\r\n\r\n\r\n", "\r\n", ""},
    {" \t \r\n\r\n", " \t \r\n", ""},
    /* a missing final CRLF is added */
    {"abc", "abc\r\n", "abc\r\n"},
    {"abc  ", "abc  \r\n", "abc\r\n"},
    /* blank lines inside stay; trailing ones go */
    {"a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
    {"\r\n\r\nx", "\r\n\r\nx\r\n", "\r\n\r\nx\r\n"},
    /* a line of WSP only is empty for relaxed */
    {"a\r\n  \r\nb", "a\r\n  \r\nb\r\n", "a\r\n\r\nb\r\n"},
    {"a\r\n \t\r\n", "a\r\n \t\r\n", "a\r\n"},
    /* WSP runs inside and at the start of a line */
    {"  a  b\t\tc \r\n", "  a  b\t\tc \r\n", " a b c\r\n"},
    /* lone CR and LF are ordinary octets */
    {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},
    {"a \rb", "a \rb\r\n", "a \rb\r\n"},
    {"a\nb\r\n", "a\nb\r\n", "a\nb\r\n"},
    {"a\r", "a\r\r\n", "a\r\r\n"},
    {"\r", "\r\r\n", "\r\r\n"},
    {"a\r\r\n", "a\r\r\n", "a\r\r\n"},
    {"x \r\r\n", "x \r\r\n", "x \r\r\n"},
};

static void test_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
		check_body(DKIM_CANON_SIMPLE, bodies[i].in, bodies[i].simple);
		check_body(DKIM_CANON_RELAXED, bodies[i].in, bodies[i].relaxed);
	}
}

/* Many trailing blank lines are held as a count, not as octets. */
static void test_long_blank_tail(void **state)
{
	(void)state;
	size_t n = 100000;
	char *in = xmalloc(2 * n + 3);
	in[0] = 'x';
	for (size_t i = 0; i < n; i++)
		memcpy(in + 1 + 2 * i, "\r\n", 2);
	in[1 + 2 * n] = '\0';
	char *out = body(DKIM_CANON_RELAXED, in, 0, 4096, UINT64_MAX, NULL);
	assert_string_equal(out, "x\r\n");
	free(out);
	in[1 + 2 * n] = 'y';
	in[2 + 2 * n] = '\0';
	out = body(DKIM_CANON_SIMPLE, in, 0, 1, UINT64_MAX, NULL);
	assert_int_equal(strlen(out), 2 * n + 4);
	free(out);
	free(in);
}

static const struct {
	const char *in, *simple, *relaxed;
} headers[] = {
    /* RFC 6376 §3.4.6 */
    {"A: X", "A: X\r\n", "a:X\r\n"},
    {"B : Y\t\r\n\tZ  ", "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"},
    {"Subject:hello", "Subject:hello\r\n", "subject:hello\r\n"},
    {"SUBJECT:  \t hello \t world \t ", "SUBJECT:  \t hello \t world \t \r\n",
     "subject:hello world\r\n"},
    {"X:", "X:\r\n", "x:\r\n"},
    {"X:   ", "X:   \r\n", "x:\r\n"},
    {"X: a\r\n b\r\n\tc", "X: a\r\n b\r\n\tc\r\n", "x:a b c\r\n"},
    {"X:\r\n a", "X:\r\n a\r\n", "x:a\r\n"},
    {"To: \"A  B\" <a@b>", "To: \"A  B\" <a@b>\r\n", "to:\"A B\" <a@b>\r\n"},
    {"X: a\rb", "X: a\rb\r\n", "x:a\rb\r\n"},
    {"NoColon", "NoColon\r\n", "nocolon:\r\n"},
};

static void test_headers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(headers) / sizeof(*headers); i++) {
		for (int m = 0; m < 2; m++) {
			struct buf out;
			buf_init(&out, 0);
			size_t len = strlen(headers[i].in);
			char *copy = xmemdup(headers[i].in, len);
			assert_int_equal(
			    dkim_canon_header(m ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, copy, len,
			                      0, &out),
			    0);
			char *got = buf_strdup(&out);
			const char *want = m ? headers[i].relaxed : headers[i].simple;
			if (strcmp(got, want) != 0)
				fail_msg("header \"%s\" mode %d: got \"%s\"", headers[i].in, m,
				         got);
			/* nocrlf: the same without the final CRLF */
			buf_reset(&out);
			dkim_canon_header(m ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, copy, len, 1,
			                  &out);
			assert_int_equal(out.len, strlen(want) - 2);
			assert_memory_equal(out.data, want, out.len);
			free(got);
			free(copy);
			buf_free(&out);
		}
	}
	/* a full buffer is an error, not a truncation */
	struct buf small;
	buf_init(&small, 4);
	assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED, "Subject: x", 10, 0, &small), -1);
	buf_free(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_long_blank_tail),
	    cmocka_unit_test(test_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
