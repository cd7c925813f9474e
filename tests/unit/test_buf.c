/*
 * Unit tests for buf: growth under a hard maximum, consume, printf, the
 * little-endian put helpers, and the bounded reader (including every
 * truncation of an encoded record).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit_util.h"

#include "buf.h"
#include "util.h"
#include "xmalloc.h"

static void test_append_grow(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(b.len, 0);
	assert_true(b.max == SIZE_MAX);
	assert_int_equal(buf_append(&b, NULL, 0), 0); /* nothing to copy */
	assert_int_equal(b.len, 0);
	/* Grow through several reallocations and check every byte survived. */
	for (int i = 0; i < 10000; i++) {
		uint8_t c = (uint8_t)(i * 7);
		assert_int_equal(buf_append_byte(&b, c), 0);
		assert_true(b.cap >= b.len);
	}
	assert_int_equal(b.len, 10000);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], (uint8_t)(i * 7));
	assert_int_equal(buf_append_str(&b, "tail"), 0);
	assert_memory_equal(b.data + 10000, "tail", 4);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append_str(&b, ""), 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	buf_free(&b); /* twice is harmless */
}

static void test_max(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(b.max, 10);
	assert_int_equal(buf_append(&b, "0123456789A", 11), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "01234", 5), 0);
	assert_int_equal(buf_append(&b, "567890", 6), -1); /* would be 11 */
	assert_int_equal(b.len, 5);
	assert_int_equal(buf_append(&b, "56789", 5), 0); /* exactly max */
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_append_byte(&b, 'x'), -1);
	assert_int_equal(buf_append(&b, "", 0), 0); /* empty always fits */
	assert_int_equal(buf_printf(&b, "%d", 1), -1);
	assert_memory_equal(b.data, "0123456789", 10);
	/* A huge n must not wrap the check. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
	buf_consume(&b, 3);
	assert_int_equal(b.len, 7);
	assert_int_equal(buf_append(&b, "abc", 3), 0); /* room again */
	assert_memory_equal(b.data, "3456789abc", 10);
	buf_free(&b);
}

static void test_consume(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "hello world");
	buf_consume(&b, 0);
	assert_int_equal(b.len, 11);
	buf_consume(&b, 6);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "world", 5);
	buf_consume(&b, 5);
	assert_int_equal(b.len, 0);
	buf_append_str(&b, "abc");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	buf_consume(&b, 1); /* on empty */
	assert_int_equal(b.len, 0);
	buf_free(&b);
	buf_init(&b, 0);
	buf_consume(&b, 1); /* never allocated */
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_printf(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_printf(&b, "a=%d b=%s", 42, "x"), 0);
	assert_int_equal(b.len, strlen("a=42 b=x"));
	assert_memory_equal(b.data, "a=42 b=x", b.len);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 8);
	/* Longer than the on-stack buffer (255, 256 and more characters). */
	for (size_t n = 250; n < 1100; n += 1) {
		char *s = xmalloc(n + 1);
		memset(s, 'q', n);
		s[n] = 0;
		buf_reset(&b);
		assert_int_equal(buf_printf(&b, "<%s>", s), 0);
		assert_int_equal(b.len, n + 2);
		assert_int_equal(b.data[0], '<');
		assert_int_equal(b.data[n + 1], '>');
		for (size_t i = 1; i <= n; i++)
			assert_int_equal(b.data[i], 'q');
		free(s);
	}
	buf_free(&b);
	/* A long printf over the max fails and appends nothing. */
	buf_init(&b, 300);
	buf_append_str(&b, "keep");
	char big[400];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(buf_printf(&b, "%s", big), -1);
	assert_int_equal(b.len, 4);
	assert_int_equal(buf_printf(&b, "%.296s", big), 0);
	assert_int_equal(b.len, 300);
	buf_free(&b);
}

static void test_strdup(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	char *s = buf_strdup(&b);
	assert_string_equal(s, "");
	free(s);
	buf_append(&b, "ab\0cd", 5);
	s = buf_strdup(&b);
	assert_memory_equal(s, "ab\0cd", 6);
	free(s);
	assert_int_equal(b.len, 5); /* unchanged */
	buf_free(&b);
}

static void test_put_le(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(buf_put_u8(&b, 0xab), 0);
	assert_int_equal(buf_put_u32(&b, 0x01020304u), 0);
	assert_int_equal(buf_put_u64(&b, 0x1122334455667788ull), 0);
	assert_int_equal(buf_put_bytes(&b, "xyz", 3), 0);
	assert_int_equal(buf_put_str(&b, "hi"), 0);
	assert_int_equal(buf_put_str(&b, NULL), 0);
	assert_int_equal(buf_put_bytes(&b, NULL, 0), 0);
	static const uint8_t want[] = {
	    0xab, 0x04, 0x03, 0x02, 0x01, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
	    0x11, 3,    0,    0,    0,    'x',  'y',  'z',  2,    0,    0,    0,
	    'h',  'i',  0,    0,    0,    0,    0,    0,    0,    0,
	};
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	buf_free(&b);
}

/* A put that does not fit appends nothing: a record is never half-written. */
static void test_put_all_or_nothing(void **state)
{
	(void)state;
	for (size_t room = 0; room < 12; room++) {
		struct buf b;
		buf_init(&b, 100);
		uint8_t fill[100] = {0};
		buf_append(&b, fill, 100 - room);
		size_t before = b.len;
		int rc = buf_put_u64(&b, 1);
		assert_int_equal(rc, room >= 8 ? 0 : -1);
		assert_int_equal(b.len, before + (rc == 0 ? 8 : 0));
		b.len = before;
		rc = buf_put_bytes(&b, "abcdefg", 7);
		assert_int_equal(rc, room >= 11 ? 0 : -1);
		assert_int_equal(b.len, before + (rc == 0 ? 11 : 0));
		b.len = before;
		rc = buf_put_u32(&b, 1);
		assert_int_equal(rc, room >= 4 ? 0 : -1);
		assert_int_equal(b.len, before + (rc == 0 ? 4 : 0));
		b.len = before;
		rc = buf_put_str(&b, "");
		assert_int_equal(rc, room >= 4 ? 0 : -1);
		assert_int_equal(b.len, before + (rc == 0 ? 4 : 0));
		buf_free(&b);
	}
}

/* The record used by the reader tests. */
static void encode_record(struct buf *b)
{
	buf_put_u8(b, 7);
	buf_put_u32(b, 0xdeadbeefu);
	buf_put_u64(b, UINT64_MAX - 1);
	buf_put_bytes(b, "\0bin\xff", 5);
	buf_put_str(b, "sender@example.org");
	buf_put_str(b, "");
	buf_put_u8(b, 0);
}

/* Decode the record; 0 when it decoded completely and exactly. */
static int decode_record(const uint8_t *p, size_t n, int check_values)
{
	struct reader r;
	reader_init(&r, p, n);
	uint8_t a = 0, z = 1;
	uint32_t b = 0;
	uint64_t c = 0;
	const uint8_t *bp = NULL;
	size_t bn = 0;
	char *s1 = NULL, *s2 = NULL;
	/* Keep going after a failure: every later get must fail too. */
	int fails = 0;
	fails += reader_u8(&r, &a) == -1;
	fails += reader_u32(&r, &b) == -1;
	fails += reader_u64(&r, &c) == -1;
	fails += reader_bytes(&r, &bp, &bn, 64) == -1;
	fails += reader_str(&r, &s1, 64) == -1;
	fails += reader_str(&r, &s2, 64) == -1;
	int last = reader_u8(&r, &z);
	fails += last == -1;
	int done = reader_done(&r);
	if (fails) {
		assert_int_equal(last, -1); /* the error is sticky */
		assert_int_equal(done, -1);
		assert_int_equal(r.err, 1);
	}
	if (!fails && check_values) {
		assert_int_equal(a, 7);
		assert_int_equal(b, 0xdeadbeefu);
		assert_true(c == UINT64_MAX - 1);
		assert_int_equal(bn, 5);
		assert_memory_equal(bp, "\0bin\xff", 5);
		assert_true(bp >= p && bp + bn <= p + n); /* points into the input */
		assert_string_equal(s1, "sender@example.org");
		assert_string_equal(s2, "");
		assert_int_equal(z, 0);
	}
	free(s1);
	free(s2);
	return fails ? -1 : done;
}

static void test_reader_roundtrip(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	encode_record(&b);
	assert_int_equal(decode_record(b.data, b.len, 1), 0);
	/* A byte left over is an error for reader_done, though every get worked. */
	buf_append_byte(&b, 0);
	struct reader r;
	reader_init(&r, b.data, b.len);
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t n;
	char *s;
	assert_int_equal(reader_u8(&r, &u8), 0);
	assert_int_equal(reader_u32(&r, &u32), 0);
	assert_int_equal(reader_u64(&r, &u64), 0);
	assert_int_equal(reader_bytes(&r, &p, &n, 64), 0);
	assert_int_equal(reader_str(&r, &s, 64), 0);
	free(s);
	assert_int_equal(reader_str(&r, &s, 64), 0);
	free(s);
	assert_int_equal(reader_u8(&r, &u8), 0);
	assert_int_equal(reader_done(&r), -1);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.left, 1);
	buf_free(&b);
}

/* Every proper prefix of the record fails cleanly, reading nothing beyond it
 * (each prefix lives in an exact-size allocation so ASan sees any overread). */
static void test_reader_truncations(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	encode_record(&b);
	for (size_t len = 0; len < b.len; len++) {
		uint8_t *copy = xmemdup(b.data, len);
		assert_int_equal(decode_record(copy, len, 0), -1);
		free(copy);
	}
	uint8_t *copy = xmemdup(b.data, b.len);
	assert_int_equal(decode_record(copy, b.len, 1), 0);
	free(copy);
	buf_free(&b);
}

static void test_reader_limits(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	buf_put_str(&b, "0123456789");
	struct reader r;
	const uint8_t *p;
	size_t n;
	char *s = NULL;
	/* Over max: refused even though the bytes are there. */
	reader_init(&r, b.data, b.len);
	assert_int_equal(reader_bytes(&r, &p, &n, 9), -1);
	assert_int_equal(r.err, 1);
	/* Sticky: a later, valid-looking get still fails. */
	uint8_t u8;
	assert_int_equal(reader_u8(&r, &u8), -1);
	reader_init(&r, b.data, b.len);
	assert_int_equal(reader_str(&r, &s, 9), -1);
	assert_null(s);
	reader_init(&r, b.data, b.len);
	assert_int_equal(reader_bytes(&r, &p, &n, 10), 0); /* exactly max */
	assert_int_equal(n, 10);
	assert_int_equal(reader_done(&r), 0);
	buf_free(&b);

	/* A length prefix larger than the input, with an unlimited max. */
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a'};
	reader_init(&r, huge, sizeof(huge));
	assert_int_equal(reader_bytes(&r, &p, &n, SIZE_MAX), -1);
	assert_int_equal(reader_done(&r), -1);

	/* An embedded NUL makes a string invalid, not a shorter string. */
	buf_init(&b, 0);
	buf_put_bytes(&b, "ab\0c", 4);
	reader_init(&r, b.data, b.len);
	assert_int_equal(reader_str(&r, &s, 64), -1);
	assert_null(s);
	assert_int_equal(reader_done(&r), -1);
	buf_free(&b);

	/* Empty input. */
	reader_init(&r, NULL, 0);
	assert_int_equal(reader_done(&r), 0);
	assert_int_equal(reader_u8(&r, &u8), -1);
	assert_int_equal(reader_done(&r), -1);
}

/* Pieces that join into the one encoding b64_encode() (test_sasl: RFC
 * 4648's vectors) gives for the input whole, short and long. */
static void test_append_b64(void **state)
{
	(void)state;
	uint8_t in[1000];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	char whole[4 * 334 + 1];
	for (size_t n = 0; n <= sizeof(in); n += n < 8 ? 1 : 97) {
		size_t len = b64_encode(in, n, whole, sizeof(whole));
		struct buf b;
		buf_init(&b, 0);
		buf_append_b64(&b, in, n);
		assert_int_equal(b.len, len);
		assert_memory_equal(b.data, whole, len);
		buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_grow),
	    cmocka_unit_test(test_max),
	    cmocka_unit_test(test_consume),
	    cmocka_unit_test(test_printf),
	    cmocka_unit_test(test_strdup),
	    cmocka_unit_test(test_put_le),
	    cmocka_unit_test(test_put_all_or_nothing),
	    cmocka_unit_test(test_reader_roundtrip),
	    cmocka_unit_test(test_reader_truncations),
	    cmocka_unit_test(test_reader_limits),
	    cmocka_unit_test(test_append_b64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
