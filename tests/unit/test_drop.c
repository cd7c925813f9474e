/*
 * Unit tests for drop, the maildrop file: what the writer makes, the reader
 * reads back — whole and one octet at a time — and every damage is refused:
 * any single flipped octet, any strict prefix (no END), anything after END,
 * records out of order or over their limits.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "drop.h"
#include "xmalloc.h"

/* Run the reader over p in pieces of step octets (0: whole); the events as
 * text ("S<x> R<y> D<data> E" or "!reason"). */
static char *events(const uint8_t *p, size_t n, size_t step)
{
	struct drop_reader r;
	struct buf out;
	buf_init(&out, 0);
	drop_reader_init(&r);
	size_t off = 0;
	int ended = 0; /* the loop stops at END's DROP_MORE */
	for (;;) {
		size_t chunk = step == 0 || n - off < step ? n - off : step;
		size_t used;
		struct drop_item it;
		enum drop_event ev = drop_reader_next(&r, p + off, chunk, &used, &it);
		assert_true(used <= chunk);
		off += used;
		if (ev == DROP_ERROR) {
			buf_printf(&out, "!%s", r.why);
			break;
		}
		if (ev == DROP_SENDER)
			buf_printf(&out, "S<%s> ", it.str);
		else if (ev == DROP_RCPT)
			buf_printf(&out, "R<%s> ", it.str);
		else if (ev == DROP_DATA)
			buf_append(&out, it.data, it.len);
		else if (ev == DROP_END) {
			buf_append_str(&out, " E");
			ended = 1;
		} else if (off == n)
			break; /* DROP_MORE with nothing left */
	}
	(void)ended;
	buf_append_byte(&out, 0);
	return (char *)out.data;
}

static void sample(struct buf *b, const char *sender, size_t data_len)
{
	struct drop_writer w;
	buf_init(b, 0);
	drop_write_start(&w, b);
	assert_int_equal(drop_write_sender(&w, b, sender), 0);
	assert_int_equal(drop_write_rcpt(&w, b, "alice@localhost"), 0);
	assert_int_equal(drop_write_rcpt(&w, b, "bob"), 0);
	char *data = xmalloc(data_len + 1);
	for (size_t i = 0; i < data_len; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(drop_write_data(&w, b, data, data_len), 0);
	free(data);
	assert_int_equal(drop_write_end(&w, b), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct buf b;
	sample(&b, "", 30);
	char *whole = events(b.data, b.len, 0);
	assert_string_equal(whole,
	                    "S<> R<alice@localhost> R<bob> abcdefghijklmnopqrstuvwxyzabcd E");
	for (size_t step = 1; step < 8; step++) {
		char *bytewise = events(b.data, b.len, step);
		assert_string_equal(bytewise, whole);
		free(bytewise);
	}
	free(whole);
	buf_free(&b);
	/* larger than one record: split by the writer, joined by the reader */
	sample(&b, "me@example.org", DROP_MAX_CHUNK * 2 + 10);
	whole = events(b.data, b.len, 0);
	char *bytewise = events(b.data, b.len, 1);
	assert_string_equal(whole, bytewise);
	assert_int_equal(strlen(whole), strlen("S<me@example.org> R<alice@localhost> R<bob> ") +
	                                    DROP_MAX_CHUNK * 2 + 10 + 2);
	free(whole);
	free(bytewise);
	buf_free(&b);
}

static void test_damage(void **state)
{
	(void)state;
	struct buf b;
	sample(&b, "me@example.org", 40);
	/* every flipped octet is noticed */
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x01;
		char *ev = events(b.data, b.len, 0);
		if (strstr(ev, " E") != NULL && strchr(ev, '!') == NULL)
			fail_msg("octet %zu flipped and accepted: %s", i, ev);
		free(ev);
		b.data[i] ^= 0x01;
	}
	/* no strict prefix is complete */
	for (size_t k = 0; k < b.len; k++) {
		char *ev = events(b.data, k, 0);
		assert_null(strstr(ev, " E"));
		free(ev);
	}
	/* nothing may follow END */
	buf_append_byte(&b, 0);
	char *ev = events(b.data, b.len, 0);
	assert_non_null(strstr(ev, "!octets after END"));
	free(ev);
	buf_free(&b);
}

/* A hand-made file: preamble, then records given as (type, payload). */
static void rec(struct buf *b, uint8_t type, const void *p, size_t n)
{
	buf_put_u8(b, type);
	buf_put_u32(b, (uint32_t)n);
	buf_append(b, p, n);
}

static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *recs; /* S sender, R rcpt, D data, E end (counts 0/0, crc 0), N rcpt
		                     with NUL, X type 9, Z empty rcpt */
		const char *why;
	} cases[] = {
	    {"RSRDE", "RCPT out of order"},   {"SDE", "DATA out of order"},
	    {"SE", "END out of order"},       {"SSR", "SENDER out of order"},
	    {"SN", "NUL in an address"},      {"SX", "unknown record type"},
	    {"SZ", "RCPT empty or too long"}, {"SRDE", "END counts differ from the records"},
	    {"SRDRE", "RCPT out of order"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		buf_append(&b, DROP_MAGIC, 8);
		buf_put_u32(&b, DROP_VERSION);
		for (const char *c = cases[i].recs; *c; c++) {
			uint8_t end[16] = {0};
			switch (*c) {
			case 'S':
				rec(&b, DROP_T_SENDER, "a@b", 3);
				break;
			case 'R':
				rec(&b, DROP_T_RCPT, "c@d", 3);
				break;
			case 'N':
				rec(&b, DROP_T_RCPT, "c\0d", 3);
				break;
			case 'Z':
				rec(&b, DROP_T_RCPT, "", 0);
				break;
			case 'D':
				rec(&b, DROP_T_DATA, "hi\n", 3);
				break;
			case 'X':
				rec(&b, 9, "", 0);
				break;
			case 'E':
				rec(&b, DROP_T_END, end, sizeof(end));
				break;
			}
		}
		for (size_t step = 0; step < 2; step++) {
			char *ev = events(b.data, b.len, step);
			char *bang = strchr(ev, '!');
			if (bang == NULL || strcmp(bang + 1, cases[i].why) != 0)
				fail_msg("%s: %s (want %s)", cases[i].recs, ev, cases[i].why);
			free(ev);
		}
		buf_free(&b);
	}
	/* preamble */
	char *ev = events((const uint8_t *)"RAVENENV\1\0\0\0", 12, 0);
	assert_string_equal(ev, "!not a maildrop file");
	free(ev);
	ev = events((const uint8_t *)"RAVENDRP\2\0\0\0", 12, 1);
	assert_string_equal(ev, "!unknown version");
	free(ev);
	/* limits on lengths, before any payload is read */
	struct buf b;
	buf_init(&b, 0);
	buf_append(&b, DROP_MAGIC, 8);
	buf_put_u32(&b, DROP_VERSION);
	buf_put_u8(&b, DROP_T_SENDER);
	buf_put_u32(&b, DROP_ADDR_MAX + 1);
	ev = events(b.data, b.len, 0);
	assert_string_equal(ev, "!SENDER too long");
	free(ev);
	buf_free(&b);
}

static void test_writer_limits(void **state)
{
	(void)state;
	struct buf b;
	struct drop_writer w;
	buf_init(&b, 0);
	drop_write_start(&w, &b);
	char big[DROP_ADDR_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(drop_write_sender(&w, &b, big), -1);
	assert_int_equal(drop_write_rcpt(&w, &b, ""), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_damage),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_writer_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
