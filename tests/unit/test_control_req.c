/*
 * Unit tests for control_req (the control socket's line reader, request
 * parser and escapers) and control_fmt (its text and JSON answers). Every
 * request goes through the reader whole, one byte at a time and in chunks,
 * and must parse the same way; every JSON answer is checked by a strict
 * validator (json_valid below) rather than by eye.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "control_fmt.h"
#include "control_req.h"
#include "xmalloc.h"

/* --- a strict JSON syntax checker (RFC 8259), enough to catch escaping bugs */

struct jp {
	const unsigned char *p;
	size_t n, i;
	int depth;
};

static int jp_value(struct jp *j);

static void jp_ws(struct jp *j)
{
	while (j->i < j->n && strchr(" \t\r\n", j->p[j->i]) && j->p[j->i])
		j->i++;
}

static int jp_lit(struct jp *j, const char *s)
{
	size_t l = strlen(s);
	if (j->n - j->i < l || memcmp(j->p + j->i, s, l) != 0)
		return 0;
	j->i += l;
	return 1;
}

/* A string: no raw control characters, valid escapes, valid UTF-8. */
static int jp_string(struct jp *j)
{
	if (j->i >= j->n || j->p[j->i] != '"')
		return 0;
	j->i++;
	while (j->i < j->n) {
		unsigned char c = j->p[j->i];
		if (c == '"') {
			j->i++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (++j->i >= j->n)
				return 0;
			c = j->p[j->i];
			if (c == 'u') {
				if (j->n - j->i < 5)
					return 0;
				for (int k = 1; k <= 4; k++)
					if (!strchr("0123456789abcdefABCDEF", j->p[j->i + k]) ||
					    !j->p[j->i + k])
						return 0;
				j->i += 5;
				continue;
			}
			if (!strchr("\"\\/bfnrt", c) || c == 0)
				return 0;
			j->i++;
			continue;
		}
		if (c < 0x80) {
			j->i++;
			continue;
		}
		size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
		if (len == 0 || c > 0xf4 || j->n - j->i < len)
			return 0;
		for (size_t k = 1; k < len; k++)
			if ((j->p[j->i + k] & 0xc0) != 0x80)
				return 0;
		j->i += len;
	}
	return 0;
}

static int jp_number(struct jp *j)
{
	size_t s = j->i;
	if (j->i < j->n && j->p[j->i] == '-')
		j->i++;
	while (j->i < j->n && ((j->p[j->i] >= '0' && j->p[j->i] <= '9') || j->p[j->i] == '.'))
		j->i++;
	return j->i > s && j->p[j->i - 1] != '-';
}

static int jp_container(struct jp *j, char open, char close, int object)
{
	if (++j->depth > 32)
		return 0;
	j->i++; /* open */
	jp_ws(j);
	if (j->i < j->n && j->p[j->i] == close) {
		j->i++;
		j->depth--;
		return 1;
	}
	for (;;) {
		jp_ws(j);
		if (object) {
			if (!jp_string(j))
				return 0;
			jp_ws(j);
			if (j->i >= j->n || j->p[j->i] != ':')
				return 0;
			j->i++;
			jp_ws(j);
		}
		if (!jp_value(j))
			return 0;
		jp_ws(j);
		if (j->i >= j->n)
			return 0;
		if (j->p[j->i] == ',') {
			j->i++;
			continue;
		}
		if (j->p[j->i] != close)
			return 0;
		j->i++;
		j->depth--;
		(void)open;
		return 1;
	}
}

static int jp_value(struct jp *j)
{
	jp_ws(j);
	if (j->i >= j->n)
		return 0;
	switch (j->p[j->i]) {
	case '{':
		return jp_container(j, '{', '}', 1);
	case '[':
		return jp_container(j, '[', ']', 0);
	case '"':
		return jp_string(j);
	case 't':
		return jp_lit(j, "true");
	case 'f':
		return jp_lit(j, "false");
	case 'n':
		return jp_lit(j, "null");
	default:
		return jp_number(j);
	}
}

static int json_valid(const void *p, size_t n)
{
	struct jp j = {p, n, 0, 0};
	if (!jp_value(&j))
		return 0;
	jp_ws(&j);
	return j.i == n;
}

static void test_json_checker(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\":[1,true,null,\"x\"]}", 23));
	assert_false(json_valid("{\"a\":\"\x01\"}", 9));
	assert_false(json_valid("\"\xff\"", 3));
	assert_false(json_valid("{\"a\":1,}", 8));
	assert_false(json_valid("[1] x", 5));
}

/* --- reader and parser ---------------------------------------------------- */

enum feed { FEED_WHOLE, FEED_BYTE, FEED_CHUNKS };

/*
 * Feed s through a reader and parse what it gives; a transcript:
 * "OK verb id json [prometheus]", "ERR reason", "TOO_LONG" or "MORE".
 */
static char *run_req(const char *s, size_t len, enum feed mode)
{
	struct control_reader rd;
	struct control_req req;
	char err[128], out[256];
	size_t off = 0, step = 1;
	enum control_read r = CONTROL_READ_MORE;
	control_reader_init(&rd);
	while (off < len && r == CONTROL_READ_MORE) {
		size_t n = mode == FEED_WHOLE ? len - off : mode == FEED_BYTE ? 1 : step;
		if (n > len - off)
			n = len - off;
		size_t used = 99999;
		r = control_reader_feed(&rd, (const uint8_t *)s + off, n, &used);
		assert_true(used <= n);
		if (r == CONTROL_READ_MORE)
			assert_int_equal(used, n);
		else
			assert_true(used >= 1);
		off += used;
		step = step % 5 + 2;
	}
	if (r == CONTROL_READ_MORE)
		return xstrdup("MORE");
	if (r == CONTROL_READ_TOO_LONG)
		return xstrdup("TOO_LONG");
	/* a finished reader stays finished */
	size_t used = 7;
	assert_int_equal(control_reader_feed(&rd, (const uint8_t *)"x\n", 2, &used), r);
	assert_int_equal(used, 0);
	assert_true(rd.len < CONTROL_REQ_MAX && rd.line[rd.len] == '\0');
	if (control_req_parse(rd.line, rd.len, &req, err, sizeof(err)) == -1) {
		assert_true(err[0] != '\0');
		assert_true(req.verb == 0 && req.id[0] == '\0' && req.json == 0 &&
		            req.prometheus == 0);
		snprintf(out, sizeof(out), "ERR %s", err);
	} else {
		snprintf(out, sizeof(out), "OK %s %s %d%s", control_verb_name(req.verb),
		         req.id[0] ? req.id : "-", req.json, req.prometheus ? " prometheus" : "");
	}
	return xstrdup(out);
}

struct req_case {
	const char *in;
	const char *expect;
};

static const struct req_case req_cases[] = {
    {"queue\n", "OK queue - 0"},
    {"queue --json\n", "OK queue - 1"},
    {"queue\r\n", "OK queue - 0"},
    {"stats --json\n", "OK stats - 1"},
    {"stats --prometheus\n", "OK stats - 0 prometheus"},
    {"reload\n", "OK reload - 0"},
    {"status\n", "OK status - 0"},
    {"status --json\n", "OK status - 1"},
    {"show 0000017F3A2B4C5D\n", "OK show 0000017F3A2B4C5D 0"},
    {"show --json abc\n", "OK show abc 1"},
    {"show abc --json\n", "OK show abc 1"},
    {"flush\n", "OK flush - 0"},
    {"flush X1\n", "OK flush X1 0"},
    {"flush --json\n", "OK flush - 1"},
    {"remove A\n", "OK remove A 0"},
    {"hold A --json\n", "OK hold A 1"},
    {"release 0123456789abcdefABCDEF0123456789\n", "OK release 0123456789abcdefABCDEF0123456789 0"},
    /* errors */
    {"\n", "ERR empty request"},
    {"\r\n", "ERR empty request"},
    {"QUEUE\n", "ERR unknown command"},
    {"queues\n", "ERR unknown command"},
    {"que\n", "ERR unknown command"},
    {"frobnicate x\n", "ERR unknown command"},
    {"queue x\n", "ERR this command takes no argument"},
    {"stats 1\n", "ERR this command takes no argument"},
    {"reload now\n", "ERR this command takes no argument"},
    {"status x\n", "ERR this command takes no argument"},
    {"show\n", "ERR missing queue id"},
    {"show --json\n", "ERR missing queue id"},
    {"remove\n", "ERR missing queue id"},
    {"hold\n", "ERR missing queue id"},
    {"release\n", "ERR missing queue id"},
    {"show a b\n", "ERR too many arguments"},
    {"show a --json --json\n", "ERR --json given twice"},
    {"stats --prometheus --prometheus\n", "ERR --prometheus given twice"},
    {"stats --prometheus --json\n", "ERR --json and --prometheus exclude each other"},
    {"stats --json --prometheus\n", "ERR --json and --prometheus exclude each other"},
    {"queue --prometheus\n", "ERR this command takes no argument"},
    {"show --prometheus a\n", "ERR unknown option"},
    {"show a b c d e\n", "ERR too many arguments"},
    {"show -x\n", "ERR unknown option"},
    {"show --jso\n", "ERR unknown option"},
    {"show ../../etc\n", "ERR invalid queue id"},
    {"show a.b\n", "ERR invalid queue id"},
    {"show 0123456789abcdefABCDEF01234567890\n", "ERR invalid queue id"},
    {"show  a\n", "ERR malformed request: stray space"},
    {" queue\n", "ERR malformed request: stray space"},
    {"queue \n", "ERR malformed request: stray space"},
    {"queue\t--json\n", "ERR invalid character in request"},
    {"show a\rb\n", "ERR invalid character in request"},
    {"queue\r\r\n", "ERR invalid character in request"},
    {"show \xc3\xa9\n", "ERR invalid character in request"},
    {"queue", "MORE"},
    {"", "MORE"},
};

static void test_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		for (int mode = FEED_WHOLE; mode <= FEED_CHUNKS; mode++) {
			char *got = run_req(c->in, strlen(c->in), mode);
			if (strcmp(got, c->expect) != 0)
				fail_msg("case %zu mode %d: %s: got \"%s\", want \"%s\"", i, mode,
				         c->in, got, c->expect);
			free(got);
		}
	}
}

/* An embedded NUL is data, not the end of the line, and is refused. */
static void test_request_nul(void **state)
{
	(void)state;
	static const char in[] = "queue\0x\n";
	for (int mode = FEED_WHOLE; mode <= FEED_CHUNKS; mode++) {
		char *got = run_req(in, sizeof(in) - 1, mode);
		assert_string_equal(got, "ERR invalid character in request");
		free(got);
	}
}

static void test_request_limits(void **state)
{
	(void)state;
	size_t max = CONTROL_REQ_MAX;
	char *s = xmalloc(max + 2);
	/* max - 1 octets and the LF: the longest line; refused by the parser
	 * as a verb, but read. */
	memset(s, 'q', max - 1);
	s[max - 1] = '\n';
	for (int mode = FEED_WHOLE; mode <= FEED_CHUNKS; mode++) {
		char *got = run_req(s, max, mode);
		assert_string_equal(got, "ERR unknown command");
		free(got);
	}
	/* one octet more */
	memset(s, 'q', max);
	s[max] = '\n';
	for (int mode = FEED_WHOLE; mode <= FEED_CHUNKS; mode++) {
		char *got = run_req(s, max + 1, mode);
		assert_string_equal(got, "TOO_LONG");
		free(got);
	}
	/* the reader stops at the first byte past the limit */
	struct control_reader rd;
	size_t used;
	control_reader_init(&rd);
	assert_int_equal(control_reader_feed(&rd, (uint8_t *)s, max + 1, &used),
	                 CONTROL_READ_TOO_LONG);
	assert_int_equal(used, max);
	assert_int_equal(control_reader_feed(&rd, (uint8_t *)"\n", 1, &used),
	                 CONTROL_READ_TOO_LONG);
	assert_int_equal(used, 0);
	/* bytes after the LF are left alone */
	control_reader_init(&rd);
	assert_int_equal(control_reader_feed(&rd, (uint8_t *)"stats\nqueue\n", 12, &used),
	                 CONTROL_READ_LINE);
	assert_int_equal(used, 6);
	assert_string_equal(rd.line, "stats");
	/* the parser enforces the limit on its own, too */
	struct control_req req;
	char err[64];
	memset(s, 'a', max);
	memcpy(s, "show ", 5);
	assert_int_equal(control_req_parse(s, max, &req, err, sizeof(err)), -1);
	assert_string_equal(err, "request too long");
	free(s);
}

static void test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(control_verb_name(CTL_QUEUE), "queue");
	assert_string_equal(control_verb_name(CTL_RELEASE), "release");
	assert_string_equal(control_verb_name(CTL_RELOAD), "reload");
	assert_string_equal(control_verb_name((enum control_verb)0), "?");
	assert_string_equal(control_verb_name((enum control_verb)99), "?");
}

/* --- escapers ------------------------------------------------------------- */

struct esc_case {
	const char *in;
	size_t len;
	const char *expect;
};

#define E(s, out)                                                                                  \
	{                                                                                          \
		s, sizeof(s) - 1, out                                                              \
	}

static const struct esc_case json_cases[] = {
    E("", "\"\""),
    E("abc", "\"abc\""),
    E("a\"b\\c/", "\"a\\\"b\\\\c/\""),
    E("\n\r\t", "\"\\n\\r\\t\""),
    E("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""),
    E("a\0b", "\"a\\u0000b\""),
    E("j\xc3\xb6ran", "\"j\xc3\xb6ran\""),
    E("\xe2\x82\xac \xf0\x9f\x98\x80", "\"\xe2\x82\xac \xf0\x9f\x98\x80\""),
    E("\xff", "\"\\u00ff\""),
    E("\xc3", "\"\\u00c3\""),                                  /* truncated sequence */
    E("\xc3x", "\"\\u00c3x\""),                                /* bad continuation */
    E("\xc0\xaf", "\"\\u00c0\\u00af\""),                       /* overlong '/' */
    E("\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\""),            /* overlong */
    E("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""),            /* surrogate */
    E("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\""), /* > U+10FFFF */
    E("\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\""),
    E("\xe2\x80\xa8", "\"\xe2\x80\xa8\""), /* U+2028 is fine in JSON */
};

static void test_json_string(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(control_json_string(&b, json_cases[i].in, json_cases[i].len), 0);
		buf_append_byte(&b, 0);
		if (strcmp((char *)b.data, json_cases[i].expect) != 0)
			fail_msg("json case %zu: got %s want %s", i, (char *)b.data,
			         json_cases[i].expect);
		assert_true(json_valid(b.data, b.len - 1));
		buf_free(&b);
	}
	struct buf b;
	buf_init(&b, 0);
	control_json_str(&b, NULL);
	buf_append_byte(&b, 0);
	assert_string_equal((char *)b.data, "null");
	buf_free(&b);
}

/* Any bytes at all come out as a valid JSON string. */
static void test_json_random(void **state)
{
	(void)state;
	unsigned seed = 12345;
	uint8_t in[64];
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 64);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			uint8_t v = (uint8_t)(seed >> 16);
			/* bias toward the interesting bytes */
			in[i] = round % 3 == 0 ? (uint8_t)(0x80 | (v & 0x7f)) : v;
		}
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(control_json_string(&b, in, n), 0);
		if (!json_valid(b.data, b.len))
			fail_msg("round %d gave invalid JSON", round);
		buf_free(&b);
	}
}

/* A full buffer fails cleanly and leaves nothing half-written. */
static void test_escape_cap(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	buf_append_str(&b, "ab");
	assert_int_equal(control_json_string(&b, "\x01\x02\x03", 3), -1);
	assert_int_equal(b.len, 2);
	assert_int_equal(control_text(&b, "\x01\x02\x03", 3, 0), -1);
	assert_int_equal(b.len, 2);
	assert_int_equal(control_json_string(&b, "xyz", 3), 0);
	assert_int_equal(b.len, 7);
	buf_free(&b);
}

static const struct esc_case text_cases[] = {
    E("alice@example.org", "alice@example.org"),
    E("a\\b", "a\\\\b"),
    E("\x1b[2Jx", "\\x1B[2Jx"),
    E("a\nb\r", "a\\x0Ab\\x0D"),
    E("j\xc3\xb6ran", "j\xc3\xb6ran"),
    E("\xc2\x9b", "\\xC2\\x9B"),              /* C1 CSI */
    E("x\xe2\x80\xaey", "x\\xE2\\x80\\xAEy"), /* RIGHT-TO-LEFT OVERRIDE */
    E("\xff\x7f", "\\xFF\\x7F"),
};

static void test_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		assert_int_equal(control_text(&b, text_cases[i].in, text_cases[i].len, 0), 0);
		buf_append_byte(&b, 0);
		if (strcmp((char *)b.data, text_cases[i].expect) != 0)
			fail_msg("text case %zu: got %s want %s", i, (char *)b.data,
			         text_cases[i].expect);
		buf_free(&b);
	}
	/* header mode keeps line structure and tabs, drops CR before LF only */
	struct buf b;
	buf_init(&b, 0);
	static const char h[] = "Subject: hi\r\n\tthere\r\nX: a\rb\x1b\r\n";
	assert_int_equal(control_text(&b, h, sizeof(h) - 1, 1), 0);
	buf_append_byte(&b, 0);
	assert_string_equal((char *)b.data, "Subject: hi\n\tthere\nX: a\\x0Db\\x1B\n");
	buf_free(&b);
}

static void test_duration(void **state)
{
	(void)state;
	char d[32];
	static const struct {
		int64_t s;
		const char *want;
	} cases[] = {{0, "0s"},
	             {59, "59s"},
	             {60, "1m"},
	             {3599, "59m"},
	             {3600, "1h"},
	             {86399, "23h"},
	             {86400, "1d"},
	             {10 * 86400, "10d"},
	             {-5, "-5s"},
	             {-7200, "-2h"},
	             {INT64_MIN, "-106751991167300d"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		control_duration(d, sizeof(d), cases[i].s);
		assert_string_equal(d, cases[i].want);
	}
}

/* --- answers -------------------------------------------------------------- */

static char *dupnul(const struct buf *b)
{
	return buf_strdup(b);
}

/* A message with three recipients in different states; caller frees. */
static void make_msg(struct sched_msg *m, uint8_t *inflight)
{
	memset(m, 0, sizeof(*m));
	struct envelope *e = &m->env;
	snprintf(e->id, sizeof(e->id), "0000017F3A2B4C5D");
	e->arrival = 1000000;
	e->size = 4321;
	e->sender = xstrdup("alice@example.org");
	e->helo = xstrdup("client.example\x1b[31m");
	e->client = xstrdup("192.0.2.7");
	e->envid = NULL;
	e->ret = 2;
	e->body = 2;
	e->smtputf8 = 1;
	e->n_rcpts = 3;
	e->rcpts = xcalloc(3, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("bob@example.net");
	e->rcpts[0].action = xstrdup("outbound");
	e->rcpts[0].state = RCPT_DEFERRED;
	e->rcpts[0].attempts = 2;
	e->rcpts[0].next_try = 1000000 + 600 + 240;
	e->rcpts[0].last_attempt = 1000000 + 300;
	e->rcpts[0].last_error = xstrdup("451 4.4.1 \"no\"\tanswer \xff");
	e->rcpts[0].notify = 4 | 8;
	e->rcpts[0].notified = 1u << ENVELOPE_NOTIFIED_DELAY_SHIFT;
	e->rcpts[1].addr = xstrdup("j\xc3\xb6ran@example.org");
	e->rcpts[1].action = xstrdup("mailbox");
	e->rcpts[1].user = xstrdup("j\xc3\xb6ran");
	e->rcpts[1].orcpt = xstrdup("rfc822;j\xc3\xb6ran@example.org");
	e->rcpts[1].state = RCPT_PENDING;
	e->rcpts[2].addr = xstrdup("carol@example.org");
	e->rcpts[2].action = xstrdup("mailbox");
	e->rcpts[2].state = RCPT_DELIVERED;
	e->rcpts[2].notified = ENVELOPE_NOTIFIED_FINAL;
	inflight[0] = 0;
	inflight[1] = 1;
	inflight[2] = 0;
	m->inflight = inflight;
	m->n_inflight = 3;
}

#define NOW (1000000 + 600)

static void test_fmt_queue_text(void **state)
{
	(void)state;
	struct sched_msg m;
	uint8_t fl[3];
	make_msg(&m, fl);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(control_fmt_queue_begin(&b, 0, NOW), 0);
	assert_int_equal(control_fmt_queue_msg(&b, 0, &m, 0, NOW), 0);
	assert_int_equal(control_fmt_queue_msg(&b, 0, &m, 1, NOW), 0);
	assert_int_equal(control_fmt_queue_end(&b, 0, 2, 6), 0);
	char *s = dupnul(&b);
	static const char block[] =
	    "0000017F3A2B4C5D      4321   10m  <alice@example.org>\n"
	    "    deferred  <bob@example.net>  attempts 2  next try in 4m\n"
	    "      last error: 451 4.4.1 \"no\"\\x09answer \\xFF\n"
	    "    pending   <j\xc3\xb6ran@example.org>  next try now  (delivering)\n"
	    "    delivered <carol@example.org>\n";
	char *want = xasprintf("%s\n%s\n-- 2 messages, 6 recipients\n", block, block);
	assert_string_equal(s, want);
	free(want);
	free(s);
	buf_reset(&b);
	assert_int_equal(control_fmt_queue_end(&b, 0, 0, 0), 0);
	s = dupnul(&b);
	assert_string_equal(s, "-- 0 messages, 0 recipients\n");
	free(s);
	buf_reset(&b);
	assert_int_equal(control_fmt_queue_end(&b, 0, 1, 1), 0);
	s = dupnul(&b);
	assert_string_equal(s, "\n-- 1 message, 1 recipient\n");
	free(s);
	buf_free(&b);
	envelope_free(&m.env);
}

static void test_fmt_queue_json(void **state)
{
	(void)state;
	struct sched_msg m;
	uint8_t fl[3];
	make_msg(&m, fl);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(control_fmt_queue_begin(&b, 1, NOW), 0);
	assert_int_equal(control_fmt_queue_end(&b, 1, 0, 0), 0);
	assert_true(json_valid(b.data, b.len));
	char *s = dupnul(&b);
	assert_string_equal(s, "{\"now\":1000600,\"messages\":[],\"total\":{\"messages\":0,"
	                       "\"recipients\":0}}\n");
	free(s);
	buf_reset(&b);
	control_fmt_queue_begin(&b, 1, NOW);
	control_fmt_queue_msg(&b, 1, &m, 0, NOW);
	control_fmt_queue_msg(&b, 1, &m, 1, NOW);
	assert_int_equal(control_fmt_queue_end(&b, 1, 2, 6), 0);
	assert_true(json_valid(b.data, b.len));
	s = dupnul(&b);
	assert_non_null(strstr(s, "{\"id\":\"0000017F3A2B4C5D\",\"arrival\":1000000,\"age\":600,"
	                          "\"size\":4321,\"sender\":\"alice@example.org\",\"recipients\":["
	                          "{\"address\":\"bob@example.net\",\"state\":\"deferred\","
	                          "\"attempts\":2,\"next_try\":1000840,\"last_attempt\":1000300,"
	                          "\"last_error\":\"451 4.4.1 \\\"no\\\"\\tanswer \\u00ff\","
	                          "\"in_flight\":false}"));
	assert_non_null(
	    strstr(s, "\"address\":\"j\xc3\xb6ran@example.org\",\"state\":\"pending\""));
	assert_non_null(strstr(s, "\"state\":\"delivered\",\"attempts\":0,\"next_try\":null"));
	free(s);
	buf_free(&b);
	envelope_free(&m.env);
}

static void test_fmt_show(void **state)
{
	(void)state;
	struct sched_msg m;
	uint8_t fl[3];
	make_msg(&m, fl);
	static const char hdr[] = "Subject: =?utf-8?q?x?=\r\nX-Evil: \x1b]0;pwn\x07\r\n";
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(
	    control_fmt_show(&b, 0, &m, (const uint8_t *)hdr, sizeof(hdr) - 1, NULL, NOW), 0);
	char *s = dupnul(&b);
	assert_non_null(strstr(s, "id:           0000017F3A2B4C5D\n"));
	assert_non_null(strstr(s, "arrival:      1970-01-12 13:46:40 UTC (10m ago)\n"));
	assert_non_null(strstr(s, "helo:         client.example\\x1B[31m\n"));
	assert_non_null(strstr(s, "envid:        -\n"));
	assert_non_null(
	    strstr(s, "ret:          hdrs\nbody:         8bitmime\nsmtputf8:     yes\n"));
	assert_non_null(strstr(s, "recipient:    <bob@example.net>\n"));
	assert_non_null(strstr(s, "  notify:     failure,delay\n"));
	assert_non_null(strstr(s, "  next try:   in 4m\n"));
	assert_non_null(strstr(s, "  last try:   1970-01-12 13:51:40 UTC (5m ago)\n"));
	assert_non_null(strstr(s, "  notified:   no final, 1 delay warning\n"));
	assert_non_null(strstr(s, "  state:      pending (delivering)\n"));
	assert_non_null(strstr(s, "  orcpt:      rfc822;j\xc3\xb6ran@example.org\n"));
	assert_non_null(strstr(s, "  notified:   final, 0 delay warnings\n"));
	assert_non_null(strstr(s, "\n\nSubject: =?utf-8?q?x?=\nX-Evil: \\x1B]0;pwn\\x07\n"));
	assert_null(strchr(s, '\x1b'));
	free(s);

	buf_reset(&b);
	assert_int_equal(
	    control_fmt_show(&b, 1, &m, (const uint8_t *)hdr, sizeof(hdr) - 1, NULL, NOW), 0);
	assert_true(json_valid(b.data, b.len));
	s = dupnul(&b);
	assert_non_null(strstr(s, "\"helo\":\"client.example\\u001b[31m\",\"client\":\"192.0.2.7\","
	                          "\"envid\":null,\"ret\":\"hdrs\",\"body\":\"8bitmime\","
	                          "\"smtputf8\":true"));
	assert_non_null(strstr(s, "\"orcpt\":null,\"notify\":[\"failure\",\"delay\"],\"action\":"
	                          "\"outbound\",\"user\":null,\"notified_final\":false,"
	                          "\"delay_warnings\":1}"));
	assert_non_null(strstr(s, "\"headers\":\"Subject: =?utf-8?q?x?=\\r\\nX-Evil: "
	                          "\\u001b]0;pwn\\u0007\\r\\n\"}"));
	free(s);

	/* headers that could not be read */
	buf_reset(&b);
	assert_int_equal(control_fmt_show(&b, 1, &m, NULL, 0, "data file \"gone\"", NOW), 0);
	assert_true(json_valid(b.data, b.len));
	s = dupnul(&b);
	assert_non_null(strstr(s, "\"headers\":null,\"headers_error\":\"data file \\\"gone\\\"\""));
	free(s);
	buf_reset(&b);
	assert_int_equal(control_fmt_show(&b, 0, &m, NULL, 0, "gone", NOW), 0);
	s = dupnul(&b);
	assert_non_null(strstr(s, "\n\n(headers unavailable: gone)\n"));
	free(s);
	buf_free(&b);
	envelope_free(&m.env);
}

static void test_fmt_stats(void **state)
{
	(void)state;
	struct sched_stats st = {.messages = 3, .recipients = 7, .jobs_in_flight = 2};
	st.by_state[RCPT_PENDING] = 4;
	st.by_state[RCPT_DEFERRED] = 2;
	st.by_state[RCPT_HELD] = 1;
	struct queue_counters c = {.started = NOW - 7200,
	                           .committed = 10,
	                           .batches = 4,
	                           .delivered = 9,
	                           .deferred = 5,
	                           .failed = 1,
	                           .bounces = 2,
	                           .removed = 1};
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(control_fmt_stats(&b, 1, &st, &c, NOW), 0);
	assert_true(json_valid(b.data, b.len));
	char *s = dupnul(&b);
	assert_string_equal(
	    s, "{\"messages\":3,\"recipients\":7,\"states\":{\"pending\":4,\"deferred\":2,"
	       "\"held\":1,\"delivered\":0,\"failed\":0},\"jobs_in_flight\":2,\"counters\":{"
	       "\"committed\":10,\"batches\":4,\"mean_batch\":2.50,\"delivered\":9,"
	       "\"deferred\":5,\"failed\":1,\"bounces\":2,\"removed\":1},\"started\":993400,"
	       "\"uptime\":7200}\n");
	free(s);
	buf_reset(&b);
	assert_int_equal(control_fmt_stats(&b, 0, &st, &c, NOW), 0);
	s = dupnul(&b);
	assert_non_null(strstr(s, "messages:       3\nrecipients:     7\n  pending       4\n"));
	assert_non_null(strstr(s, "in flight:      2\n"));
	assert_non_null(strstr(s, "mean batch:     2.50\n"));
	assert_non_null(strstr(s, "uptime:         2h (7200s)\n"));
	free(s);
	/* no batches yet: no division by zero */
	c.batches = 0;
	buf_reset(&b);
	assert_int_equal(control_fmt_stats(&b, 1, &st, &c, NOW), 0);
	s = dupnul(&b);
	assert_non_null(strstr(s, "\"mean_batch\":0.00"));
	free(s);
	buf_free(&b);
}

static void test_fmt_action(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	control_fmt_action(&b, 0, CTL_REMOVE, "ABC");
	control_fmt_action(&b, 0, CTL_FLUSH, "");
	control_fmt_action(&b, 0, CTL_HOLD, "X");
	control_fmt_action(&b, 0, CTL_RELEASE, "X");
	char *s = dupnul(&b);
	assert_string_equal(s, "removed ABC\nflushed all messages\nheld X\nreleased X\n");
	free(s);
	buf_reset(&b);
	control_fmt_action(&b, 1, CTL_FLUSH, "");
	s = dupnul(&b);
	assert_string_equal(s, "{\"result\":\"flushed\",\"id\":null}\n");
	free(s);
	buf_reset(&b);
	control_fmt_action(&b, 1, CTL_HOLD, "X1");
	s = dupnul(&b);
	assert_string_equal(s, "{\"result\":\"held\",\"id\":\"X1\"}\n");
	free(s);
	buf_free(&b);
}

/* Rendering into a capped buffer reports the overflow. */
static void test_fmt_cap(void **state)
{
	(void)state;
	struct sched_msg m;
	uint8_t fl[3];
	make_msg(&m, fl);
	for (int json = 0; json <= 1; json++) {
		struct buf b;
		buf_init(&b, 64);
		assert_int_equal(control_fmt_queue_msg(&b, json, &m, 0, NOW), -1);
		assert_int_equal(control_fmt_show(&b, json, &m, (const uint8_t *)"", 0, NULL, NOW),
		                 -1);
		buf_free(&b);
	}
	envelope_free(&m.env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_checker),   cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_request_nul),    cmocka_unit_test(test_request_limits),
	    cmocka_unit_test(test_verb_names),     cmocka_unit_test(test_json_string),
	    cmocka_unit_test(test_json_random),    cmocka_unit_test(test_escape_cap),
	    cmocka_unit_test(test_text),           cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_fmt_queue_text), cmocka_unit_test(test_fmt_queue_json),
	    cmocka_unit_test(test_fmt_show),       cmocka_unit_test(test_fmt_stats),
	    cmocka_unit_test(test_fmt_action),     cmocka_unit_test(test_fmt_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
