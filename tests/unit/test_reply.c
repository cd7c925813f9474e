/*
 * Unit tests for the SMTP reply parser (src/relay/reply.c): single and
 * multi-line replies, pipelined replies in one stream, enhanced status
 * codes, LF-only line ends, every error (bad code, code changing, line too
 * long at exactly max and max + 1, too many lines) and the joined text.
 * Each stream is turned into a transcript fed whole, one byte at a time
 * and in pseudo-random chunks: the three must be identical and equal to
 * the expected one.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "reply.h"
#include "xmalloc.h"

enum feed_mode { FEED_WHOLE, FEED_BYTE, FEED_CHUNKS };

/*
 * Transcript: per reply "<code> <enh|-> <nlines> [<text>]" and, with
 * show_lines, each line "  |<line>|"; an error is "ERR <why> @<octets
 * consumed in all>"; a stream that ends inside a reply adds "MORE".
 */
static char *transcript(const char *s, size_t len, size_t line_max, unsigned lines_max,
                        int show_lines, enum feed_mode mode, unsigned seed)
{
	struct reply_parser rp;
	struct buf t;
	size_t off = 0;
	reply_parser_init(&rp, line_max, lines_max);
	buf_init(&t, 0);
	while (off < len) {
		size_t n = len - off, used = 99999;
		if (mode == FEED_BYTE) {
			n = 1;
		} else if (mode == FEED_CHUNKS) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 9;
			n = want < n ? want : n;
		}
		enum reply_result res = reply_parser_feed(&rp, (const uint8_t *)s + off, n, &used);
		assert_true(used <= n);
		off += used;
		if (res == REPLY_ERROR) {
			buf_printf(&t, "ERR %s @%zu\n", rp.err, off);
			/* sticky: nothing more is taken */
			size_t again = 7;
			assert_int_equal(
			    reply_parser_feed(&rp, (const uint8_t *)"250 x\r\n", 7, &again),
			    REPLY_ERROR);
			assert_int_equal(again, 0);
			break;
		}
		if (res == REPLY_MORE) {
			assert_int_equal(used, n);
			continue;
		}
		const struct reply *r = &rp.reply;
		assert_true(used >= 1);
		buf_printf(&t, "%d %s %u [%s]\n", r->code, r->enh[0] ? r->enh : "-", r->nlines,
		           r->text);
		for (unsigned i = 0; show_lines && i < r->nlines; i++) {
			size_t ln;
			const char *l = reply_line(r, i, &ln);
			assert_int_equal(strlen(l), ln); /* NUL-terminated */
			buf_printf(&t, "  |%s|\n", l);
		}
	}
	if (reply_parser_partial(&rp))
		buf_append_str(&t, "MORE\n");
	reply_parser_free(&rp);
	char *out = buf_strdup(&t);
	buf_free(&t);
	return out;
}

/* Run all three ways; they must agree with each other and with want. */
static void check(const char *in, size_t line_max, unsigned lines_max, int show_lines,
                  const char *want)
{
	size_t len = strlen(in);
	char *copy = xmemdup(in, len); /* so ASan sees reads past the end */
	char *whole = transcript(copy, len, line_max, lines_max, show_lines, FEED_WHOLE, 0);
	if (strcmp(whole, want) != 0)
		fail_msg("input \"%s\":\ngot\n%s\nwant\n%s", in, whole, want);
	char *bytes = transcript(copy, len, line_max, lines_max, show_lines, FEED_BYTE, 0);
	if (strcmp(bytes, whole) != 0)
		fail_msg("input \"%s\": byte at a time\n%s\nwhole\n%s", in, bytes, whole);
	for (unsigned seed = 1; seed <= 20; seed++) {
		char *ch =
		    transcript(copy, len, line_max, lines_max, show_lines, FEED_CHUNKS, seed);
		if (strcmp(ch, whole) != 0)
			fail_msg("input \"%s\": chunks (seed %u)\n%s\nwhole\n%s", in, seed, ch,
			         whole);
		free(ch);
	}
	free(bytes);
	free(whole);
	free(copy);
}

static void test_single(void **state)
{
	(void)state;
	check("220 mx.example.org ESMTP ready\r\n", 0, 0, 0,
	      "220 - 1 [mx.example.org ESMTP ready]\n");
	check("250 2.1.0 Ok\r\n", 0, 0, 0, "250 2.1.0 1 [2.1.0 Ok]\n");
	check("250\r\n", 0, 0, 1, "250 - 1 []\n  ||\n");
	check("250 \r\n", 0, 0, 1, "250 - 1 []\n  ||\n");
	check("354 End data with <CR><LF>.<CR><LF>\r\n", 0, 0, 0,
	      "354 - 1 [End data with <CR><LF>.<CR><LF>]\n");
	check("", 0, 0, 0, "");
	check("25", 0, 0, 0, "MORE\n");
	check("250 ok", 0, 0, 0, "MORE\n");
	check("250 ok\r", 0, 0, 0, "MORE\n");
}

static void test_multiline(void **state)
{
	(void)state;
	check("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n", 0, 0, 1,
	      "250 - 4 [mx.example.org PIPELINING SIZE 1000 8BITMIME]\n"
	      "  |mx.example.org|\n  |PIPELINING|\n  |SIZE 1000|\n  |8BITMIME|\n");
	check("550-5.1.1 No such user\r\n550-5.1.1 try again\r\n550 5.1.1 later\r\n", 0, 0, 0,
	      "550 5.1.1 3 [5.1.1 No such user 5.1.1 try again 5.1.1 later]\n");
	/* empty continuation lines */
	check("250-\r\n250-\r\n250 x\r\n", 0, 0, 1, "250 - 3 [  x]\n  ||\n  ||\n  |x|\n");
	check("250-a\r\n", 0, 0, 0, "MORE\n");
	check("250-a\r\n250", 0, 0, 0, "MORE\n");
}

static void test_pipelined(void **state)
{
	(void)state;
	/* MAIL, RCPT, RCPT, DATA answered in one read */
	check("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n", 0, 0, 0,
	      "250 2.1.0 1 [2.1.0 Ok]\n250 2.1.5 1 [2.1.5 Ok]\n550 5.1.1 1 [5.1.1 unknown]\n"
	      "354 - 1 [go ahead]\n");
	check("250-a\r\n250 b\r\n421 4.3.2 bye\r\n250 c", 0, 0, 0,
	      "250 - 2 [a b]\n421 4.3.2 1 [4.3.2 bye]\nMORE\n");
}

static void test_lf_and_cr(void **state)
{
	(void)state;
	/* LF-only line ends are accepted; one CR before the LF is dropped */
	check("250-a\n250 b\n", 0, 0, 0, "250 - 2 [a b]\n");
	check("250 a\r\r\n", 0, 0, 1, "250 - 1 [a?]\n  |a\r|\n");
	check("250 a\rb\r\n", 0, 0, 0, "250 - 1 [a?b]\n");
	check("250 tab\there\x7f\r\n", 0, 0, 0, "250 - 1 [tab?here?]\n");
	/* 8-bit text (SMTPUTF8 servers) is kept */
	check("250 gr\xc3\xbc\xc3\x9f dich\r\n", 0, 0, 0, "250 - 1 [gr\xc3\xbc\xc3\x9f dich]\n");
}

static void test_enhanced(void **state)
{
	(void)state;
	check("250 2.0.0 Ok: queued\r\n", 0, 0, 0, "250 2.0.0 1 [2.0.0 Ok: queued]\n");
	check("451 4.3.0 Error\r\n", 0, 0, 0, "451 4.3.0 1 [4.3.0 Error]\n");
	check("550 5.7.1\r\n", 0, 0, 0, "550 5.7.1 1 [5.7.1]\n");
	check("552 5.123.456 x\r\n", 0, 0, 0, "552 5.123.456 1 [5.123.456 x]\n");
	/* not a code: wrong class, four parts, too many digits, no space after */
	check("220 2.1.3.4 host\r\n", 0, 0, 0, "220 - 1 [2.1.3.4 host]\n");
	check("250 4.1.1 odd\r\n", 0, 0, 0, "250 - 1 [4.1.1 odd]\n");
	check("250 1.2.3\r\n", 0, 0, 0, "250 - 1 [1.2.3]\n");
	check("550 5.1234.1 x\r\n", 0, 0, 0, "550 - 1 [5.1234.1 x]\n");
	check("550 5.1.1234 x\r\n", 0, 0, 0, "550 - 1 [5.1.1234 x]\n");
	check("550 5.1.1x\r\n", 0, 0, 0, "550 - 1 [5.1.1x]\n");
	check("550 5.1. x\r\n", 0, 0, 0, "550 - 1 [5.1. x]\n");
	check("550 5..1 x\r\n", 0, 0, 0, "550 - 1 [5..1 x]\n");
	check("550 5.1\r\n", 0, 0, 0, "550 - 1 [5.1]\n");
	/* only the first line counts */
	check("550-User unknown\r\n550 5.1.1 really\r\n", 0, 0, 0,
	      "550 - 2 [User unknown 5.1.1 really]\n");
}

static void test_errors(void **state)
{
	(void)state;
	check("hello\r\n", 0, 0, 0, "ERR malformed reply code @7\n");
	check("150 x\r\n", 0, 0, 0, "ERR malformed reply code @7\n");
	check("650 x\r\n", 0, 0, 0, "ERR malformed reply code @7\n");
	check("2a0 x\r\n", 0, 0, 0, "ERR malformed reply code @7\n");
	check("25\r\n", 0, 0, 0, "ERR malformed reply code @4\n");
	check("\r\n", 0, 0, 0, "ERR malformed reply code @2\n");
	check("250x\r\n", 0, 0, 0, "ERR malformed reply line: no space or '-' after the code @6\n");
	check("250\tx\r\n", 0, 0, 0,
	      "ERR malformed reply line: no space or '-' after the code @7\n");
	check("250-a\r\n251 b\r\n", 0, 0, 0,
	      "ERR reply code changed within a multi-line reply @14\n");
	check("250-a\r\n550-b\r\n", 0, 0, 0,
	      "ERR reply code changed within a multi-line reply @14\n");
	/* a good reply before the bad one still comes out */
	check("250 ok\r\nxyz\r\n250 never\r\n", 0, 0, 0,
	      "250 - 1 [ok]\nERR malformed reply code @13\n");
}

static void test_line_limit(void **state)
{
	(void)state;
	/* line_max 10 counts the CRLF: "250 abcd" CRLF is 10, one more is 11 */
	check("250 abcd\r\n", 10, 0, 0, "250 - 1 [abcd]\n");
	check("250 abcde\r\n", 10, 0, 0, "ERR reply line too long @10\n");
	/* LF-only: the LF counts as the line end */
	check("250 abcde\n", 10, 0, 0, "250 - 1 [abcde]\n");
	check("250 abcdef\n", 10, 0, 0, "ERR reply line too long @10\n");
	/* the limit applies to every line, and without any line end */
	check("250-abcd\r\n250 abcde\r\n", 10, 0, 0, "ERR reply line too long @20\n");
	check("250 abcdefghijklmnop", 10, 0, 0, "ERR reply line too long @10\n");
	/* the default: 2048 */
	char *big = xmalloc(3000);
	memcpy(big, "250 ", 4);
	memset(big + 4, 'x', 2042);
	memcpy(big + 2046, "\r\n", 3);
	/* 2046 octets + CRLF: the longest line; its text fits the joined text */
	char *want = xasprintf("250 - 1 [%.*s]\n", 2042, big + 4);
	check(big, 0, 0, 0, want);
	free(want);
	memcpy(big + 2046, "x\r\n", 4);
	check(big, 0, 0, 0, "ERR reply line too long @2048\n");
	free(big);
}

static void test_lines_limit(void **state)
{
	(void)state;
	check("250-a\r\n250-b\r\n250 c\r\n", 0, 3, 0, "250 - 3 [a b c]\n");
	check("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", 0, 3, 0,
	      "ERR too many lines in one reply @21\n");
	/* default 100 */
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 99; i++)
		buf_append_str(&b, "250-x\r\n");
	buf_append_str(&b, "250 y\r\n");
	buf_append_byte(&b, 0);
	struct reply_parser rp;
	reply_parser_init(&rp, 0, 0);
	size_t used;
	assert_int_equal(reply_parser_feed(&rp, b.data, b.len - 1, &used), REPLY_DONE);
	assert_int_equal(rp.reply.nlines, 100);
	reply_parser_free(&rp);
	b.len -= 8;
	buf_append_str(&b, "250-x\r\n250 y\r\n");
	reply_parser_init(&rp, 0, 0);
	assert_int_equal(reply_parser_feed(&rp, b.data, b.len, &used), REPLY_ERROR);
	assert_string_equal(rp.err, "too many lines in one reply");
	reply_parser_free(&rp);
	buf_free(&b);
}

/* The joined text is cut with "..." and never overflows. */
static void test_text_cap(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 20; i++)
		buf_printf(&b, "250-%0200d\r\n", i);
	buf_append_str(&b, "250 end\r\n");
	struct reply_parser rp;
	reply_parser_init(&rp, 0, 0);
	size_t used;
	assert_int_equal(reply_parser_feed(&rp, b.data, b.len, &used), REPLY_DONE);
	assert_int_equal(used, b.len);
	size_t tl = strlen(rp.reply.text);
	assert_int_equal(tl, REPLY_TEXT_MAX - 1);
	assert_memory_equal(rp.reply.text + tl - 3, "...", 3);
	assert_int_equal(rp.reply.nlines, 21);
	size_t ln;
	assert_string_equal(reply_line(&rp.reply, 20, &ln), "end");
	assert_string_equal(reply_line(&rp.reply, 21, &ln), "");
	assert_int_equal(ln, 0);
	reply_parser_free(&rp);
	buf_free(&b);
}

/* Every split of a pipelined stream into two feeds gives the same replies. */
static void test_all_splits(void **state)
{
	(void)state;
	const char *s = "250-a\r\n250 2.1.0 b\n550 5.1.1 c\r\n354 d\r\n";
	size_t len = strlen(s);
	for (size_t k = 0; k <= len; k++) {
		struct reply_parser rp;
		reply_parser_init(&rp, 0, 0);
		int codes[8], nc = 0;
		size_t off = 0;
		const size_t cuts[2] = {k, len};
		for (int part = 0; part < 2; part++) {
			while (off < cuts[part]) {
				size_t used;
				enum reply_result r = reply_parser_feed(
				    &rp, (const uint8_t *)s + off, cuts[part] - off, &used);
				off += used;
				assert_int_not_equal(r, REPLY_ERROR);
				if (r == REPLY_DONE)
					codes[nc++] = rp.reply.code;
			}
		}
		assert_int_equal(nc, 3);
		assert_int_equal(codes[0], 250);
		assert_int_equal(codes[1], 550);
		assert_int_equal(codes[2], 354);
		reply_parser_free(&rp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single),     cmocka_unit_test(test_multiline),
	    cmocka_unit_test(test_pipelined),  cmocka_unit_test(test_lf_and_cr),
	    cmocka_unit_test(test_enhanced),   cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_line_limit), cmocka_unit_test(test_lines_limit),
	    cmocka_unit_test(test_text_cap),   cmocka_unit_test(test_all_splits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
