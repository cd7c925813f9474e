/*
 * Unit tests for the envelope's version 2 (src/wire/envelope.c): HEADER
 * carries the data file's CRC-32C. Version 2 round-trips and no damage
 * slips through; version 1 files written by earlier Ravens (one kept here
 * byte for byte, made by the encoder before version 2 existed) still
 * decode, without a checksum; neither version's HEADER passes for the
 * other's.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "xmalloc.h"

/* An envelope written by Raven before version 2 (commit 703494a). */
static const uint8_t v1_file[] = {
    0x52, 0x41, 0x56, 0x45, 0x4e, 0x45, 0x4e, 0x56, 0x01, 0x00, 0x00, 0x00, 0x01, 0x24, 0x00, 0x00,
    0x00, 0x10, 0x00, 0x00, 0x00, 0x30, 0x30, 0x30, 0x35, 0x46, 0x33, 0x41, 0x31, 0x42, 0x32, 0x43,
    0x33, 0x44, 0x34, 0x45, 0x35, 0x00, 0xb9, 0x55, 0x69, 0x00, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0xb2, 0xaf, 0xf6, 0x02, 0x38, 0x00, 0x00, 0x00, 0x11, 0x00,
    0x00, 0x00, 0x61, 0x6c, 0x69, 0x63, 0x65, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,
    0x6f, 0x72, 0x67, 0x12, 0x00, 0x00, 0x00, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x2e, 0x65, 0x78,
    0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x09, 0x00, 0x00, 0x00, 0x31, 0x39, 0x32,
    0x2e, 0x30, 0x2e, 0x32, 0x2e, 0x37, 0xa6, 0x0b, 0x6c, 0x18, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x91, 0x26, 0xce, 0x5b, 0x04, 0x2b, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00,
    0x62, 0x6f, 0x62, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00,
    0x04, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x6d, 0x61, 0x69, 0x6c, 0x62, 0x6f, 0x78, 0x01,
    0x03, 0x00, 0x00, 0x00, 0x62, 0x6f, 0x62, 0xb0, 0x1b, 0x2e, 0xb5, 0x04, 0x4b, 0x00, 0x00, 0x00,
    0x11, 0x00, 0x00, 0x00, 0x63, 0x61, 0x72, 0x6f, 0x6c, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
    0x65, 0x2e, 0x6f, 0x72, 0x67, 0x01, 0x18, 0x00, 0x00, 0x00, 0x72, 0x66, 0x63, 0x38, 0x32, 0x32,
    0x3b, 0x63, 0x61, 0x72, 0x6f, 0x6c, 0x40, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f,
    0x72, 0x67, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x6d, 0x61, 0x69, 0x6c, 0x62, 0x6f,
    0x78, 0x01, 0x05, 0x00, 0x00, 0x00, 0x63, 0x61, 0x72, 0x6f, 0x6c, 0x21, 0xc3, 0x33, 0xe5, 0x05,
    0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x90, 0x97, 0xdd, 0x82, 0x06, 0x35, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x10, 0xc7, 0x55, 0x69, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x13,
    0x00, 0x00, 0x00, 0x34, 0x35, 0x31, 0x20, 0x34, 0x2e, 0x32, 0x2e, 0x30, 0x20, 0x74, 0x72, 0x79,
    0x20, 0x6c, 0x61, 0x74, 0x65, 0x72, 0x2c, 0x7d, 0x49, 0x90};

static void env_make(struct envelope *e, int with_crc)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->id, "0005F3A1B2C3D4E5");
	e->arrival = 1767225600;
	e->size = 1234;
	e->data_crc = 0xE3069283u;
	e->has_data_crc = (uint8_t)with_crc;
	e->sender = xstrdup("alice@example.org");
	e->helo = xstrdup("client.example.org");
	e->client = xstrdup("192.0.2.7");
	e->n_rcpts = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("bob@example.org");
	e->rcpts[0].action = xstrdup("mailbox");
	e->rcpts[0].user = xstrdup("bob");
	e->rcpts[1].addr = xstrdup("carol@example.org");
	e->rcpts[1].action = xstrdup("mailbox");
	e->rcpts[1].user = xstrdup("carol");
	e->rcpts[1].state = RCPT_DEFERRED;
	e->rcpts[1].attempts = 2;
	e->rcpts[1].next_try = 1767229200;
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_v2_roundtrip(void **state)
{
	(void)state;
	struct envelope e, d;
	env_make(&e, 1);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(le32_at(b.data + 8), 2);
	char err[128];
	assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.has_data_crc, 1);
	assert_int_equal(d.data_crc, 0xE3069283u);
	assert_true(d.size == 1234);
	assert_int_equal(d.rcpts[1].state, RCPT_DEFERRED);
	/* encode(decode(x)) == x */
	struct buf b2;
	buf_init(&b2, 0);
	assert_int_equal(envelope_encode(&d, &b2), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	/* the owned copy and a draft keep it too */
	struct envelope c;
	envelope_copy(&c, &d);
	assert_int_equal(c.has_data_crc, 1);
	assert_int_equal(c.data_crc, 0xE3069283u);
	envelope_free(&c);
	struct envelope_draft_rcpt dr = {"x@example.org", NULL, 0, "mailbox", "x"};
	struct envelope_draft draft = {.arrival = 1,
	                               .size = 3,
	                               .data_crc = 7,
	                               .has_data_crc = 1,
	                               .sender = "",
	                               .helo = "h",
	                               .client = "c",
	                               .n_rcpts = 1,
	                               .rcpts = &dr};
	strcpy(draft.id, "Draft1");
	envelope_from_draft(&c, &draft);
	assert_int_equal(c.has_data_crc, 1);
	assert_int_equal(c.data_crc, 7);
	envelope_free(&c);
	buf_reset(&b2);
	assert_int_equal(envelope_encode_draft(&draft, &b2), 0);
	assert_int_equal(envelope_decode(b2.data, b2.len, &c, err, sizeof(err)), 0);
	assert_int_equal(c.data_crc, 7);
	envelope_free(&c);
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b);
	buf_free(&b2);
}

/* A file from before version 2 decodes, without a checksum. */
static void test_v1_file_still_read(void **state)
{
	(void)state;
	struct envelope d;
	char err[128];
	assert_int_equal(le32_at(v1_file + 8), 1);
	assert_int_equal(envelope_decode(v1_file, sizeof(v1_file), &d, err, sizeof(err)), 0);
	assert_string_equal(d.id, "0005F3A1B2C3D4E5");
	assert_true(d.size == 1234);
	assert_int_equal(d.has_data_crc, 0);
	assert_int_equal(d.n_rcpts, 2);
	assert_string_equal(d.rcpts[1].orcpt, "rfc822;carol@example.org");
	assert_int_equal(d.rcpts[1].state, RCPT_DEFERRED);
	assert_string_equal(d.rcpts[1].last_error, "451 4.2.0 try later");
	/* and is written back the same way: no checksum, version 1 */
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(envelope_encode(&d, &b), 0);
	assert_int_equal(b.len, sizeof(v1_file));
	assert_memory_equal(b.data, v1_file, sizeof(v1_file));
	buf_free(&b);
	envelope_free(&d);
}

static int decode_fails(const uint8_t *p, size_t n)
{
	struct envelope e;
	char err[128] = "";
	if (envelope_decode(p, n, &e, err, sizeof(err)) == 0) {
		envelope_free(&e);
		return 0;
	}
	assert_true(err[0] != '\0');
	return 1;
}

/* A version number does not make the other version's HEADER fit. */
static void test_version_and_header_agree(void **state)
{
	(void)state;
	uint8_t *copy = xmalloc(sizeof(v1_file));
	memcpy(copy, v1_file, sizeof(v1_file));
	copy[8] = 2; /* a version 1 HEADER, short of the checksum */
	assert_true(decode_fails(copy, sizeof(v1_file)));
	free(copy);

	struct envelope e;
	env_make(&e, 1);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(envelope_encode(&e, &b), 0);
	b.data[8] = 1; /* a version 2 HEADER: four octets left over */
	assert_true(decode_fails(b.data, b.len));
	b.data[8] = 3;
	assert_true(decode_fails(b.data, b.len));
	envelope_free(&e);
	buf_free(&b);

	/* the flag is 0 or 1 */
	env_make(&e, 2);
	buf_init(&b, 0);
	assert_int_equal(envelope_encode(&e, &b), -1);
	assert_int_equal(b.len, 0);
	envelope_free(&e);
	buf_free(&b);
}

/* No single-octet change and no truncation of the committed part of a
 * version 2 file decodes. */
static void test_v2_damage(void **state)
{
	(void)state;
	struct envelope e;
	env_make(&e, 1);
	e.rcpts[1].state = RCPT_PENDING; /* the committed part only */
	e.rcpts[1].attempts = 0;
	e.rcpts[1].next_try = 0;
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
	free(copy);
	envelope_free(&e);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v2_roundtrip),
	    cmocka_unit_test(test_v1_file_still_read),
	    cmocka_unit_test(test_version_and_header_agree),
	    cmocka_unit_test(test_v2_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
