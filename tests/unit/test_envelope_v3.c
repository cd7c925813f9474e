/*
 * Unit tests for the envelope's version 3 (src/wire/envelope.c): the TRACE
 * record (the SMTP AUTH login and the header fields our checks made).
 * Version 3 round-trips and no single-octet damage or truncation decodes;
 * an envelope without TRACE is still written as version 2, and a version 2
 * file made by the encoder before version 3 existed (kept here byte for
 * byte) decodes and encodes back to the same octets; the header-field and
 * login validators refuse what could break a message's header.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "xmalloc.h"

/* A version 2 envelope from the encoder of commit 66317de. */
static const uint8_t v2_file[] = {
    0x52, 0x41, 0x56, 0x45, 0x4e, 0x45, 0x4e, 0x56, 0x02, 0x00, 0x00, 0x00, 0x01, 0x28, 0x00, 0x00,
    0x00, 0x10, 0x00, 0x00, 0x00, 0x30, 0x30, 0x30, 0x36, 0x41, 0x31, 0x42, 0x32, 0x43, 0x33, 0x44,
    0x34, 0x45, 0x35, 0x46, 0x36, 0x00, 0xb9, 0x55, 0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xab, 0x34, 0x12, 0x6a, 0x2c, 0xbb, 0x3d, 0x02, 0x38, 0x00,
    0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x61, 0x6c, 0x69, 0x63, 0x65, 0x40, 0x65, 0x78, 0x61, 0x6d,
    0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x12, 0x00, 0x00, 0x00, 0x63, 0x6c, 0x69, 0x65, 0x6e,
    0x74, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x09, 0x00, 0x00,
    0x00, 0x31, 0x39, 0x32, 0x2e, 0x30, 0x2e, 0x32, 0x2e, 0x37, 0xa6, 0x0b, 0x6c, 0x18, 0x03, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x91, 0x26, 0xce, 0x5b, 0x04, 0x2b, 0x00, 0x00, 0x00,
    0x0f, 0x00, 0x00, 0x00, 0x62, 0x6f, 0x62, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
    0x6f, 0x72, 0x67, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x6d, 0x61, 0x69, 0x6c,
    0x62, 0x6f, 0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x62, 0x6f, 0x62, 0x23, 0xba, 0x72, 0xb5, 0x05,
    0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7e, 0x38, 0x68, 0x90};

#define AR                                                                                         \
	"Authentication-Results: mx.test.example;\r\n\tspf=pass smtp.mailfrom=a@b.example;\r\n"    \
	"\tdkim=pass header.d=b.example\r\n"
#define QUARANTINE "X-Raven-Quarantine: dmarc (p=quarantine) b.example\r\n"

static void env_make(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->id, "0006A1B2C3D4E5F6");
	e->arrival = 1767225600;
	e->size = 2048;
	e->data_crc = 0x1234ABCDu;
	e->has_data_crc = 1;
	e->sender = xstrdup("alice@example.org");
	e->helo = xstrdup("client.example.org");
	e->client = xstrdup("192.0.2.7");
	e->n_rcpts = 1;
	e->rcpts = xcalloc(1, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("bob@example.org");
	e->rcpts[0].action = xstrdup("mailbox");
	e->rcpts[0].user = xstrdup("bob");
}

static int decode_fails(const uint8_t *p, size_t n)
{
	struct envelope e;
	char err[256];
	uint8_t *copy = xmalloc(n ? n : 1); /* exactly sized: ASan sees overreads */
	memcpy(copy, p, n);
	int rc = envelope_decode(copy, n, &e, err, sizeof(err));
	free(copy);
	if (rc == 0) {
		envelope_free(&e);
		return 0;
	}
	return 1;
}

static void test_v2_file_still_read(void **state)
{
	(void)state;
	struct envelope e;
	char err[256];
	assert_int_equal(envelope_decode(v2_file, sizeof(v2_file), &e, err, sizeof(err)), 0);
	assert_true(e.has_data_crc);
	assert_int_equal(e.data_crc, 0x1234ABCDu);
	assert_null(e.auth);
	assert_null(e.trace);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(b.len, sizeof(v2_file));
	assert_memory_equal(b.data, v2_file, sizeof(v2_file)); /* still version 2 */
	envelope_free(&e);
	buf_free(&b);
}

static void test_v3_roundtrip(void **state)
{
	(void)state;
	const char *cases[][2] = {{"alice", AR QUARANTINE}, {NULL, AR}, {"bob@example.org", NULL}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct envelope e, d, c;
		env_make(&e);
		e.auth = cases[i][0] ? xstrdup(cases[i][0]) : NULL;
		e.trace = cases[i][1] ? xstrdup(cases[i][1]) : NULL;
		struct buf b, b2;
		buf_init(&b, 0);
		buf_init(&b2, 0);
		assert_int_equal(envelope_encode(&e, &b), 0);
		assert_int_equal(b.data[8], ENVELOPE_VERSION_3);
		char err[256];
		assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
		if (cases[i][0])
			assert_string_equal(d.auth, cases[i][0]);
		else
			assert_null(d.auth);
		if (cases[i][1])
			assert_string_equal(d.trace, cases[i][1]);
		else
			assert_null(d.trace);
		envelope_copy(&c, &d);
		assert_int_equal(envelope_encode(&c, &b2), 0);
		assert_int_equal(b2.len, b.len);
		assert_memory_equal(b2.data, b.data, b.len);
		envelope_free(&e);
		envelope_free(&d);
		envelope_free(&c);
		buf_free(&b);
		buf_free(&b2);
	}
}

/* A draft's TRACE reaches the owned copy and the file. */
static void test_draft(void **state)
{
	(void)state;
	struct envelope_draft_rcpt r = {
	    .addr = "bob@example.org", .action = "mailbox", .user = "bob"};
	struct envelope_draft d = {.id = "0006A1",
	                           .arrival = 1,
	                           .size = 3,
	                           .has_data_crc = 1,
	                           .sender = "",
	                           .helo = "h",
	                           .client = "192.0.2.1",
	                           .auth = "alice",
	                           .trace = AR,
	                           .n_rcpts = 1,
	                           .rcpts = &r};
	struct envelope e;
	envelope_from_draft(&e, &d);
	assert_string_equal(e.auth, "alice");
	assert_string_equal(e.trace, AR);
	envelope_free(&e);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(envelope_encode_draft(&d, &b), 0);
	assert_int_equal(b.data[8], ENVELOPE_VERSION_3);
	/* TRACE needs the checksum; a bad trace or login is refused */
	buf_reset(&b);
	d.has_data_crc = 0;
	assert_int_equal(envelope_encode_draft(&d, &b), -1);
	d.has_data_crc = 1;
	d.trace = "Authentication-Results: x\r\nBody line without CRLF";
	assert_int_equal(envelope_encode_draft(&d, &b), -1);
	d.trace = AR;
	d.auth = "al\nice";
	assert_int_equal(envelope_encode_draft(&d, &b), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_v3_damage(void **state)
{
	(void)state;
	struct envelope e;
	env_make(&e);
	e.auth = xstrdup("alice");
	e.trace = xstrdup(AR);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(envelope_encode(&e, &b), 0);
	uint8_t *copy = xmalloc(b.len);
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	for (size_t i = 0; i < b.len; i++)
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(copy, b.data, b.len);
			copy[i] ^= masks[m];
			if (!decode_fails(copy, b.len))
				fail_msg("flip 0x%02x at offset %zu decoded", masks[m], i);
		}
	for (size_t len = 0; len < b.len; len++)
		if (!decode_fails(b.data, len))
			fail_msg("prefix of %zu octets decoded", len);
	/* a version 2 file called version 3 lacks its TRACE; the reverse
	 * has one too many */
	memcpy(copy, v2_file, sizeof(v2_file));
	copy[8] = ENVELOPE_VERSION_3;
	assert_true(decode_fails(copy, sizeof(v2_file)));
	memcpy(copy, b.data, b.len);
	copy[8] = ENVELOPE_VERSION;
	assert_true(decode_fails(copy, b.len));
	free(copy);
	envelope_free(&e);
	buf_free(&b);
}

static void test_trace_valid(void **state)
{
	(void)state;
	static const char *good[] = {
	    "A: b\r\n",
	    AR,
	    AR QUARANTINE,
	    "X-Y:\r\n",
	    "Authentication-Results: h; dkim=pass header.d=caf\xc3\xa9.example\r\n",
	};
	static const char *bad[] = {
	    "",
	    "A: b",               /* no CRLF */
	    "A: b\n",             /* bare LF */
	    "A: b\rc\r\n",        /* bare CR */
	    " A: b\r\n",          /* a continuation first */
	    "No colon here\r\n",  /* not a field */
	    ": b\r\n",            /* no name */
	    "A: b\r\n\r\n",       /* an empty line would end the header */
	    "A: b\x01\r\n",       /* a control character */
	    "A: b\r\nC d: e\r\n", /* a space in a name */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!envelope_trace_valid(good[i], strlen(good[i])))
			fail_msg("good case %zu refused", i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (envelope_trace_valid(bad[i], strlen(bad[i])))
			fail_msg("bad case %zu taken", i);
	assert_false(envelope_trace_valid("A: b\0\r\n", 7));
	/* a line of 998 octets is the limit */
	char *line = xmalloc(1100);
	memset(line, 'x', 1100);
	memcpy(line, "A: ", 3);
	memcpy(line + 998, "\r\n", 2);
	assert_true(envelope_trace_valid(line, 1000));
	memcpy(line + 999, "\r\n", 2);
	assert_false(envelope_trace_valid(line, 1001));
	free(line);
	assert_true(envelope_login_valid("alice@example.org"));
	assert_false(envelope_login_valid(""));
	assert_false(envelope_login_valid("a\tb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_file_still_read),
	    cmocka_unit_test(test_v3_roundtrip),
	    cmocka_unit_test(test_draft),
	    cmocka_unit_test(test_v3_damage),
	    cmocka_unit_test(test_trace_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
