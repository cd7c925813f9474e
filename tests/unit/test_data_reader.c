/*
 * Unit tests for data_reader: dot-unstuffing, the one true end marker,
 * SMTP smuggling attempts, limits at exactly max and max + 1, Received:
 * counting and the verdict. Every case is fed whole, one byte at a time
 * and in pseudo-random chunks; all must agree with the expected output,
 * flags and consumed count.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "data_reader.h"
#include "xmalloc.h"

enum feed_mode { FEED_WHOLE, FEED_BYTE, FEED_CHUNKS };

struct run {
	int done;
	size_t consumed;
	struct buf out;
	struct data_reader dr;
};

static void run_reader(const char *in, size_t len, size_t max_size, size_t max_line,
                       enum feed_mode mode, unsigned seed, struct run *r)
{
	size_t off = 0;
	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	data_reader_init(&r->dr, max_size, max_line);
	while (off < len) {
		size_t n = len - off, used = 12345;
		if (mode == FEED_BYTE) {
			n = 1;
		} else if (mode == FEED_CHUNKS) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 13;
			n = want < n ? want : n;
		}
		enum data_result res =
		    data_reader_feed(&r->dr, (const uint8_t *)in + off, n, &used, &r->out);
		assert_true(used <= n);
		off += used;
		if (res == DATA_DONE) {
			r->done = 1;
			break;
		}
		assert_int_equal(used, n);
	}
	r->consumed = off;
}

struct dr_case {
	const char *in;
	size_t max_size, max_line;
	int done;
	size_t consumed; /* 0: all of in */
	const char *out;
	int bare_cr, bare_lf, too_big, too_long;
	size_t hops;
};

/* in, max_size, max_line, done, consumed, out, bare_cr, bare_lf, too_big, too_long, hops */
static const struct dr_case dr_cases[] = {
    /* plain messages, the end marker, pipelining */
    {"Subject: x\r\n\r\nbody\r\n.\r\n", 0, 0, 1, 0, "Subject: x\r\n\r\nbody\r\n", 0, 0, 0, 0, 0},
    {".\r\n", 0, 0, 1, 0, "", 0, 0, 0, 0, 0},
    {".\r\nQUIT\r\n", 0, 0, 1, 3, "", 0, 0, 0, 0, 0},
    {"x\r\n.\r\nQUIT\r\n", 0, 0, 1, 6, "x\r\n", 0, 0, 0, 0, 0},
    {"x\r\n.\r\n.\r\n", 0, 0, 1, 6, "x\r\n", 0, 0, 0, 0, 0},
    {"x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 0, 0, 1, 6, "x\r\n", 0, 0, 0, 0, 0},
    {"\r\n.\r\n", 0, 0, 1, 0, "\r\n", 0, 0, 0, 0, 0},
    {"x\r\n", 0, 0, 0, 0, "x\r\n", 0, 0, 0, 0, 0},
    {"x\r\n.", 0, 0, 0, 0, "x\r\n", 0, 0, 0, 0, 0},
    {"x\r\n.\r", 0, 0, 0, 0, "x\r\n", 0, 0, 0, 0, 0},
    {"x\r", 0, 0, 0, 0, "x", 0, 0, 0, 0, 0},
    {"", 0, 0, 0, 0, "", 0, 0, 0, 0, 0},
    /* dot-unstuffing */
    {"..foo\r\n.\r\n", 0, 0, 1, 0, ".foo\r\n", 0, 0, 0, 0, 0},
    {".foo\r\n.\r\n", 0, 0, 1, 0, "foo\r\n", 0, 0, 0, 0, 0},
    {"a\r\n..\r\n.\r\n", 0, 0, 1, 0, "a\r\n.\r\n", 0, 0, 0, 0, 0},
    {"a\r\n...\r\n.\r\n", 0, 0, 1, 0, "a\r\n..\r\n", 0, 0, 0, 0, 0},
    {"a.b\r\n a\r\n.\r\n", 0, 0, 1, 0, "a.b\r\n a\r\n", 0, 0, 0, 0, 0},
    {"a\r\n. \r\n.\r\n", 0, 0, 1, 0, "a\r\n \r\n", 0, 0, 0, 0, 0},
    {"a\r\n.\r\n", 0, 0, 1, 0, "a\r\n", 0, 0, 0, 0, 0},
    /* smuggling: none of these end the data; the real end later does */
    {"a\n.\nb\r\n.\r\n", 0, 0, 1, 0, "a\n.\nb\r\n", 0, 1, 0, 0, 0},
    {"a\r\n.\nb\r\n.\r\n", 0, 0, 1, 0, "a\r\n\nb\r\n", 0, 1, 0, 0, 0},
    {"a\n.\r\nb\r\n.\r\n", 0, 0, 1, 0, "a\n.\r\nb\r\n", 0, 1, 0, 0, 0},
    {"a\r.\rb\r\n.\r\n", 0, 0, 1, 0, "a\r.\rb\r\n", 1, 0, 0, 0, 0},
    {"a\r\n.\rb\r\n.\r\n", 0, 0, 1, 0, "a\r\n\rb\r\n", 1, 0, 0, 0, 0},
    {"a\r.\r\nb\r\n.\r\n", 0, 0, 1, 0, "a\r.\r\nb\r\n", 1, 0, 0, 0, 0},
    {"a\r\n.\r\rb\r\n.\r\n", 0, 0, 1, 0, "a\r\n\r\rb\r\n", 1, 0, 0, 0, 0},
    {"a\r\n.\r.\r\n.\r\n", 0, 0, 1, 0, "a\r\n\r.\r\n", 1, 0, 0, 0, 0},
    {"\n.\n", 0, 0, 0, 0, "\n.\n", 0, 1, 0, 0, 0},
    {"\r.\r", 0, 0, 0, 0, "\r.", 1, 0, 0, 0, 0},
    {"\r\n.\n", 0, 0, 0, 0, "\r\n\n", 0, 1, 0, 0, 0},
    {"x\n.\r\n", 0, 0, 0, 0, "x\n.\r\n", 0, 1, 0, 0, 0},
    {"x\r\r\n.\r\n", 0, 0, 1, 0, "x\r\r\n", 1, 0, 0, 0, 0},
    {"x\r\n\n.\r\n", 0, 0, 0, 0, "x\r\n\n.\r\n", 0, 1, 0, 0, 0},
    {"x\r\n\r.\r\n", 0, 0, 0, 0, "x\r\n\r.\r\n", 1, 0, 0, 0, 0},
    {"x\r\n.\r\r\n.\r\n", 0, 0, 1, 0, "x\r\n\r\r\n", 1, 0, 0, 0, 0},
    /* size: exactly max is fine, one more is too big (and output stops there) */
    {"123\r\n.\r\n", 5, 0, 1, 0, "123\r\n", 0, 0, 0, 0, 0},
    {"1234\r\n.\r\n", 5, 0, 1, 0, "1234\r", 0, 0, 1, 0, 0},
    {"..3\r\n.\r\n", 4, 0, 1, 0, ".3\r\n", 0, 0, 0, 0, 0},
    {"1234567890\r\nabc\r\n.\r\n", 5, 0, 1, 0, "12345", 0, 0, 1, 0, 0},
    /* line length: max_line counts the CRLF and not the stuffing dot */
    {"12345678\r\n.\r\n", 0, 10, 1, 0, "12345678\r\n", 0, 0, 0, 0, 0},
    {"123456789\r\n.\r\n", 0, 10, 1, 0, "123456789\r\n", 0, 0, 0, 1, 0},
    {"..2345678\r\n.\r\n", 0, 10, 1, 0, ".2345678\r\n", 0, 0, 0, 0, 0},
    {"...2345678\r\n.\r\n", 0, 10, 1, 0, "..2345678\r\n", 0, 0, 0, 1, 0},
    {"12345678\r\n12345678\r\n.\r\n", 0, 10, 1, 0, "12345678\r\n12345678\r\n", 0, 0, 0, 0, 0},
    {"1234567\r\r\n.\r\n", 0, 10, 1, 0, "1234567\r\r\n", 1, 0, 0, 0, 0},
    {"12345678\r\r\n.\r\n", 0, 10, 1, 0, "12345678\r\r\n", 1, 0, 0, 1, 0},
    /* Received: counting in the header section only */
    {"Received: a\r\nreceived : b\r\nRECEIVED\t:c\r\nX-Received: d\r\nReceivedX: e\r\n"
     "Received\r\n Received: f\r\n\r\nReceived: body\r\n.\r\n",
     0, 0, 1, 0,
     "Received: a\r\nreceived : b\r\nRECEIVED\t:c\r\nX-Received: d\r\nReceivedX: e\r\n"
     "Received\r\n Received: f\r\n\r\nReceived: body\r\n",
     0, 0, 0, 0, 3},
    {".Received: x\r\nReceived          \t   :y\r\n.\r\n", 0, 0, 1, 0,
     "Received: x\r\nReceived          \t   :y\r\n", 0, 0, 0, 0, 2},
    {"\r\nReceived: x\r\n.\r\n", 0, 0, 1, 0, "\r\nReceived: x\r\n", 0, 0, 0, 0, 0},
    {"Received:\r\nReceived:", 0, 0, 0, 0, "Received:\r\nReceived:", 0, 0, 0, 0, 2},
    {"Receive: x\r\nRec\reived: y\r\n.\r\n", 0, 0, 1, 0, "Receive: x\r\nRec\reived: y\r\n", 1, 0, 0,
     0, 0},
};

static void check_case(const struct dr_case *c, const struct run *r, const char *mode)
{
	size_t len = strlen(c->in);
	size_t consumed = c->consumed ? c->consumed : len;
	size_t outlen = strlen(c->out);
	if (r->done != c->done || r->consumed != consumed)
		fail_msg("case \"%s\" (%s): done %d consumed %zu, expected %d %zu", c->in, mode,
		         r->done, r->consumed, c->done, consumed);
	if (r->out.len != outlen || (outlen && memcmp(r->out.data, c->out, outlen) != 0))
		fail_msg("case \"%s\" (%s): output \"%.*s\", expected \"%s\"", c->in, mode,
		         (int)r->out.len, r->out.data, c->out);
	if (r->dr.bare_cr != c->bare_cr || r->dr.bare_lf != c->bare_lf ||
	    r->dr.too_big != c->too_big || r->dr.too_long_line != c->too_long ||
	    r->dr.hops != c->hops)
		fail_msg("case \"%s\" (%s): cr %d lf %d big %d long %d hops %zu", c->in, mode,
		         r->dr.bare_cr, r->dr.bare_lf, r->dr.too_big, r->dr.too_long_line,
		         r->dr.hops);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dr_cases) / sizeof(dr_cases[0]); i++) {
		const struct dr_case *c = &dr_cases[i];
		size_t len = strlen(c->in);
		char *copy = xmemdup(c->in, len);
		struct run r;
		run_reader(copy, len, c->max_size, c->max_line, FEED_WHOLE, 0, &r);
		check_case(c, &r, "whole");
		/* size counts every octet produced, even past the limit */
		uint64_t size = r.dr.size;
		if (!c->too_big)
			assert_int_equal(size, strlen(c->out));
		buf_free(&r.out);
		run_reader(copy, len, c->max_size, c->max_line, FEED_BYTE, 0, &r);
		check_case(c, &r, "bytes");
		assert_int_equal(r.dr.size, size);
		buf_free(&r.out);
		for (unsigned seed = 1; seed <= 30; seed++) {
			run_reader(copy, len, c->max_size, c->max_line, FEED_CHUNKS, seed, &r);
			check_case(c, &r, "chunks");
			assert_int_equal(r.dr.size, size);
			buf_free(&r.out);
		}
		free(copy);
	}
}

/* Every split of a message into two feeds gives the same result. */
static void test_all_splits(void **state)
{
	(void)state;
	const char *msg = "Received: a\r\n..x\r\n.\rb\r\n\r\n.\r\n..\r\n.\r\nNEXT";
	size_t len = strlen(msg);
	struct run whole;
	run_reader(msg, len, 0, 0, FEED_WHOLE, 0, &whole);
	assert_int_equal(whole.done, 1);
	for (size_t k = 0; k <= len; k++) {
		struct data_reader dr;
		struct buf out;
		size_t used1, used2 = 0;
		buf_init(&out, 0);
		data_reader_init(&dr, 0, 0);
		enum data_result r = data_reader_feed(&dr, (const uint8_t *)msg, k, &used1, &out);
		if (r == DATA_MORE)
			r = data_reader_feed(&dr, (const uint8_t *)msg + k, len - k, &used2, &out);
		assert_int_equal(r, DATA_DONE);
		assert_int_equal(used1 + used2, whole.consumed);
		assert_int_equal(out.len, whole.out.len);
		assert_memory_equal(out.data, whole.out.data, out.len);
		assert_int_equal(dr.hops, 1);
		assert_int_equal(dr.bare_cr, 1);
		buf_free(&out);
	}
	buf_free(&whole.out);
}

static void test_after_done(void **state)
{
	(void)state;
	struct data_reader dr;
	struct buf out;
	size_t used;
	buf_init(&out, 0);
	data_reader_init(&dr, 0, 0);
	assert_int_equal(data_reader_feed(&dr, (const uint8_t *)"a\r\n.\r\nb", 7, &used, &out),
	                 DATA_DONE);
	assert_int_equal(used, 6);
	assert_int_equal(data_reader_feed(&dr, (const uint8_t *)"b", 1, &used, &out), DATA_DONE);
	assert_int_equal(used, 0);
	assert_int_equal(out.len, 3);
	buf_free(&out);
	/* NULL output: everything is still counted */
	data_reader_init(&dr, 0, 0);
	assert_int_equal(data_reader_feed(&dr, (const uint8_t *)"abc\r\n.\r\n", 8, &used, NULL),
	                 DATA_DONE);
	assert_int_equal(dr.size, 5);
}

/* A capped output buffer that fills up counts as too big, not a silent loss. */
static void test_out_cap(void **state)
{
	(void)state;
	struct data_reader dr;
	struct buf out;
	size_t used;
	buf_init(&out, 4);
	data_reader_init(&dr, 0, 0);
	assert_int_equal(data_reader_feed(&dr, (const uint8_t *)"abcdef\r\n.\r\n", 11, &used, &out),
	                 DATA_DONE);
	assert_int_equal(dr.too_big, 1);
	buf_free(&out);
}

/* A big message in big feeds: correct and cheap (memchr runs, not octet work). */
static void test_big(void **state)
{
	(void)state;
	size_t lines = 200000, linelen = 78;
	size_t len = lines * (linelen + 2) + 3;
	char *msg = xmalloc(len);
	for (size_t i = 0; i < lines; i++) {
		char *l = msg + i * (linelen + 2);
		memset(l, 'a' + (char)(i % 26), linelen);
		if (i % 100 == 0)
			l[0] = '.';
		l[linelen] = '\r';
		l[linelen + 1] = '\n';
	}
	memcpy(msg + len - 3, ".\r\n", 3);
	struct run r;
	run_reader(msg, len, 0, 1000, FEED_WHOLE, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.consumed, len);
	size_t expect = lines * (linelen + 2) - lines / 100;
	assert_int_equal(r.out.len, expect);
	assert_int_equal(r.dr.size, expect);
	assert_int_equal(r.dr.too_long_line, 0);
	buf_free(&r.out);
	/* the same in 8 KiB feeds, with the output drained in between */
	struct data_reader dr;
	struct buf out;
	buf_init(&out, 16384);
	data_reader_init(&dr, 0, 1000);
	size_t off = 0, total = 0;
	enum data_result res = DATA_MORE;
	while (res == DATA_MORE && off < len) {
		size_t n = len - off < 8192 ? len - off : 8192, used;
		res = data_reader_feed(&dr, (const uint8_t *)msg + off, n, &used, &out);
		off += used;
		total += out.len;
		buf_reset(&out);
	}
	assert_int_equal(res, DATA_DONE);
	assert_int_equal(total, expect);
	assert_int_equal(dr.too_big, 0);
	buf_free(&out);
	free(msg);
}

static void verdict_of(const char *in, size_t max_size, size_t max_line, size_t max_hops, int *rc,
                       struct smtp_reply *err)
{
	struct run r;
	run_reader(in, strlen(in), max_size, max_line, FEED_WHOLE, 0, &r);
	assert_int_equal(r.done, 1);
	memset(err, 0, sizeof(*err));
	*rc = data_reader_verdict(&r.dr, max_hops, err);
	buf_free(&r.out);
}

static void test_verdict(void **state)
{
	(void)state;
	struct smtp_reply err;
	int rc;
	verdict_of("Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n", 100, 100, 2, &rc, &err);
	assert_int_equal(rc, 0);
	verdict_of("Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n", 100, 100, 1, &rc, &err);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, 554);
	assert_string_equal(err.enh, "5.4.6");
	assert_string_equal(err.text, "Too many Received: headers (mail loop)");
	verdict_of("Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n", 100, 100, 0, &rc, &err);
	assert_int_equal(rc, 0);
	/* line too long beats hops */
	verdict_of("Received: a\r\nReceived: b\r\n\r\nxxxxxxxxxx\r\n.\r\n", 100, 10, 1, &rc, &err);
	assert_int_equal(err.code, 550);
	assert_string_equal(err.enh, "5.6.0");
	assert_string_equal(err.text, "Message contains a line longer than 10 octets");
	/* too big beats line too long */
	verdict_of("xxxxxxxxxx\r\n.\r\n", 5, 10, 0, &rc, &err);
	assert_int_equal(err.code, 552);
	assert_string_equal(err.enh, "5.3.4");
	assert_string_equal(err.text, "Message size exceeds fixed limit");
	/* bare line ends beat everything */
	verdict_of("Received: a\r\nxxxxxxxxxx\nx\r\n.\r\n", 5, 10, 0, &rc, &err);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, 550);
	assert_string_equal(err.enh, "5.6.0");
	assert_non_null(strstr(err.text, "bare CR or LF"));
	verdict_of("a\rb\r\n.\r\n", 0, 0, 0, &rc, &err);
	assert_non_null(strstr(err.text, "bare CR or LF"));
	verdict_of("a\r\n.\r\n", 0, 0, 0, &rc, &err);
	assert_int_equal(rc, 0);
}

/*
 * The header fields a submission server checks for (Date:, Message-ID:)
 * and the one stop where the header section ends: "<INS>" is inserted at
 * each DATA_HEADER_END, and every feed mode must agree, also with a stop
 * asked for at every split of the input.
 */
static void run_headers(const char *in, size_t len, enum feed_mode mode, unsigned seed,
                        struct run *r)
{
	size_t off = 0;
	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	data_reader_init(&r->dr, 0, 0);
	r->dr.stop_at_body = 1;
	size_t n = 0;
	while (off < len) {
		if (n == 0) {
			n = len - off;
			if (mode == FEED_BYTE) {
				n = 1;
			} else if (mode == FEED_CHUNKS) {
				seed = seed * 1103515245u + 12345u;
				size_t want = 1 + (seed >> 16) % 13;
				n = want < n ? want : n;
			}
		}
		size_t used = 12345;
		enum data_result res =
		    data_reader_feed(&r->dr, (const uint8_t *)in + off, n, &used, &r->out);
		assert_true(used <= n);
		off += used;
		n -= used;
		if (res == DATA_DONE) {
			r->done = 1;
			break;
		}
		if (res == DATA_HEADER_END)
			buf_append_str(&r->out, "<INS>");
		else
			assert_int_equal(n, 0);
	}
	r->consumed = off;
}

static void test_headers(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		unsigned seen;
		size_t hops;
		const char *out; /* "<INS>" where the reader stopped */
	} cases[] = {
	    {"Subject: a\r\nDate: x\r\n\r\nbody\r\n.\r\n", DATA_SEEN_DATE, 0,
	     "Subject: a\r\nDate: x\r\n<INS>\r\nbody\r\n"},
	    {"Message-ID: <a@b>\r\nDATE \t: x\r\n\r\n.\r\n", DATA_SEEN_DATE | DATA_SEEN_MESSAGE_ID,
	     0, "Message-ID: <a@b>\r\nDATE \t: x\r\n<INS>\r\n"},
	    {"message-id:<x>\r\n\r\n.\r\n", DATA_SEEN_MESSAGE_ID, 0, "message-id:<x>\r\n<INS>\r\n"},
	    {"Message-Idx: y\r\nXDate: z\r\nDat: q\r\nDate\r\n\r\n.\r\n", 0, 0,
	     "Message-Idx: y\r\nXDate: z\r\nDat: q\r\nDate\r\n<INS>\r\n"},
	    {"\r\nDate: in the body\r\n.\r\n", 0, 0, "<INS>\r\nDate: in the body\r\n"},
	    {"Subject: no body\r\n.\r\n", 0, 0, "Subject: no body\r\n"},
	    {".\r\n", 0, 0, ""},
	    {"X: a\r\n Date: folded\r\n\r\n.\r\n", 0, 0, "X: a\r\n Date: folded\r\n<INS>\r\n"},
	    {"Received: a\r\nReceived : b\r\nDate:\r\n\r\nReceived: c\r\n.\r\n", DATA_SEEN_DATE, 2,
	     "Received: a\r\nReceived : b\r\nDate:\r\n<INS>\r\nReceived: c\r\n"},
	    {"Date: x\r\n\r\nMessage-ID: <in body>\r\n.\r\n", DATA_SEEN_DATE, 0,
	     "Date: x\r\n<INS>\r\nMessage-ID: <in body>\r\n"},
	    {"Date x: y\r\nMessage ID: z\r\n\r\n.\r\n", 0, 0,
	     "Date x: y\r\nMessage ID: z\r\n<INS>\r\n"},
	    {"..Date: stuffed\r\n\r\n.\r\n", 0, 0, ".Date: stuffed\r\n<INS>\r\n"},
	    /* a bare LF there too (the message is refused later for it) */
	    {"Date: x\r\n\n.\r\n\r\n.\r\n", DATA_SEEN_DATE, 0, "Date: x\r\n<INS>\n.\r\n\r\n"},
	};
	static const char *const modes[] = {"whole", "bytes", "chunks"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int m = FEED_WHOLE; m <= FEED_CHUNKS; m++) {
			struct run r;
			run_headers(cases[i].in, strlen(cases[i].in), m, (unsigned)i, &r);
			char *out = buf_strdup(&r.out);
			if (!r.done || r.dr.seen != cases[i].seen || r.dr.hops != cases[i].hops ||
			    strcmp(out, cases[i].out) != 0)
				fail_msg("case %zu (%s): done %d seen %u hops %zu out \"%s\"", i,
				         modes[m], r.done, r.dr.seen, r.dr.hops, out);
			free(out);
			buf_free(&r.out);
		}
	}
	/* A NUL in a field name matches nothing (and reads nothing past a name). */
	struct run r;
	run_headers("Da\0te: x\r\nDate\0: y\r\n\r\n.\r\n", 28, FEED_WHOLE, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.dr.seen, 0);
	buf_free(&r.out);
	/* Without stop_at_body the reader never stops, but still notes fields. */
	run_reader("Date: x\r\n\r\nb\r\n.\r\n", 18, 0, 0, FEED_WHOLE, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.dr.seen, DATA_SEEN_DATE);
	assert_int_equal(r.dr.stopped, 0);
	buf_free(&r.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),      cmocka_unit_test(test_all_splits),
	    cmocka_unit_test(test_after_done), cmocka_unit_test(test_out_cap),
	    cmocka_unit_test(test_big),        cmocka_unit_test(test_verdict),
	    cmocka_unit_test(test_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
