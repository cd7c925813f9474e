/*
 * Unit tests for the DATA encoder (src/relay/dotstuff.c): leading dots,
 * the end marker with and without a final CRLF, bare LF and bare CR
 * turned into CRLF (also split across feeds), the counters, and an output
 * cap. Every case is fed whole, one byte at a time and in pseudo-random
 * chunks; all must give the expected octets.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dotstuff.h"
#include "xmalloc.h"

enum feed_mode { FEED_WHOLE, FEED_BYTE, FEED_CHUNKS };

static void encode(const char *in, size_t len, enum feed_mode mode, unsigned seed, struct buf *out,
                   struct dotstuff *ds)
{
	size_t off = 0;
	buf_init(out, 0);
	dotstuff_init(ds);
	while (off < len) {
		size_t n = len - off;
		if (mode == FEED_BYTE) {
			n = 1;
		} else if (mode == FEED_CHUNKS) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 5;
			n = want < n ? want : n;
		}
		assert_int_equal(dotstuff_feed(ds, (const uint8_t *)in + off, n, out), 0);
		off += n;
	}
	assert_int_equal(dotstuff_finish(ds, out), 0);
}

static const struct {
	const char *in, *out;
} cases[] = {
    {"", ".\r\n"},
    {"a\r\n", "a\r\n.\r\n"},
    {"a", "a\r\n.\r\n"},
    {"Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n"},
    /* leading dots are doubled, others are not */
    {".\r\n", "..\r\n.\r\n"},
    {".", "..\r\n.\r\n"},
    {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
    {"..x\r\n", "...x\r\n.\r\n"},
    {"a.b\r\n .c\r\n", "a.b\r\n .c\r\n.\r\n"},
    {"a\r\n.", "a\r\n..\r\n.\r\n"},
    {"\r\n.\r\n", "\r\n..\r\n.\r\n"},
    /* an end marker inside the message is no end */
    {"a\r\n.\r\nQUIT\r\n", "a\r\n..\r\nQUIT\r\n.\r\n"},
    /* bare LF and bare CR become CRLF; a following dot is then at a line start */
    {"a\nb\n", "a\r\nb\r\n.\r\n"},
    {"a\n.\n", "a\r\n..\r\n.\r\n"},
    {"a\rb", "a\r\nb\r\n.\r\n"},
    {"a\r.\r", "a\r\n..\r\n.\r\n"},
    {"a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
    {"a\n\rb", "a\r\n\r\nb\r\n.\r\n"},
    {"\n", "\r\n.\r\n"},
    {"\r", "\r\n.\r\n"},
    {"\r\n", "\r\n.\r\n"},
    {"\n\n", "\r\n\r\n.\r\n"},
    {"x\r\n\n.\r\n", "x\r\n\r\n..\r\n.\r\n"},
    /* other octets pass untouched, NUL and 8-bit included */
    {"gr\xc3\xbc\xc3\x9f\r\n", "gr\xc3\xbc\xc3\x9f\r\n.\r\n"},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in), olen = strlen(cases[i].out);
		char *copy = xmemdup(cases[i].in, len);
		for (int mode = FEED_WHOLE; mode <= FEED_CHUNKS; mode++) {
			for (unsigned seed = 1; seed <= (mode == FEED_CHUNKS ? 10u : 1u); seed++) {
				struct buf out;
				struct dotstuff ds;
				encode(copy, len, (enum feed_mode)mode, seed, &out, &ds);
				if (out.len != olen || memcmp(out.data, cases[i].out, olen) != 0)
					fail_msg("case %zu mode %d: got \"%.*s\"", i, mode,
					         (int)out.len, out.data);
				assert_int_equal(ds.in, len);
				assert_int_equal(ds.out, olen);
				buf_free(&out);
			}
		}
		free(copy);
	}
}

static void test_nul(void **state)
{
	(void)state;
	struct buf out;
	struct dotstuff ds;
	encode("a\0.\r\n.\0", 7, FEED_BYTE, 0, &out, &ds);
	assert_int_equal(out.len, 13);
	assert_memory_equal(out.data, "a\0.\r\n..\0\r\n.\r\n", 13);
	buf_free(&out);
}

/* A big message in 8 KiB chunks: stuffing at chunk edges, sizes add up. */
static void test_big(void **state)
{
	(void)state;
	size_t n = 300000;
	char *msg = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		msg[i] = (i % 71 == 70) ? '\n' : (i % 71 == 0 ? '.' : 'x');
	struct buf a, b;
	struct dotstuff da, db;
	encode(msg, n, FEED_WHOLE, 0, &a, &da);
	buf_init(&b, 0);
	dotstuff_init(&db);
	for (size_t off = 0; off < n; off += 8192)
		assert_int_equal(
		    dotstuff_feed(&db, (uint8_t *)msg + off, n - off < 8192 ? n - off : 8192, &b),
		    0);
	assert_int_equal(dotstuff_finish(&db, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	/* lines: 300000 / 71 = 4225 with a bare LF each (one more octet, the
	 * CR), each starting with a stuffed dot, plus ".\r\n" */
	size_t lines = n / 71 + 1;
	assert_int_equal(a.len, n + (n / 71) + lines + 2 + 3);
	buf_free(&a);
	buf_free(&b);
	free(msg);
}

static void test_cap(void **state)
{
	(void)state;
	struct buf out;
	struct dotstuff ds;
	buf_init(&out, 4);
	dotstuff_init(&ds);
	assert_int_equal(dotstuff_feed(&ds, (const uint8_t *)"ab", 2, &out), 0);
	assert_int_equal(dotstuff_feed(&ds, (const uint8_t *)"\n", 1, &out), 0);
	assert_int_equal(out.len, 4);
	assert_int_equal(dotstuff_finish(&ds, &out), -1); /* ".\r\n" does not fit */
	buf_reset(&out);
	assert_int_equal(dotstuff_finish(&ds, &out), 0); /* drained: it does */
	assert_memory_equal(out.data, ".\r\n", 3);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_big),
	    cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
