/*
 * Unit tests for cmd_parse: the line reader (limits, bare LF/CR, over-long
 * lines, pipelining) and the command parser (verbs, arguments, ESMTP
 * parameters, error replies). Every stream is fed whole, one byte at a
 * time and in pseudo-random chunks, and must give the same lines; every
 * command case goes through the line reader both ways before cmd_parse.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd_parse.h"
#include "xmalloc.h"

enum feed_mode { FEED_WHOLE, FEED_BYTE, FEED_CHUNKS };

/*
 * Run a stream through a fresh line reader; returns a transcript of the
 * results ("L:<line>\n" per line, "TOO_LONG\n" per refused line), with
 * "MORE" appended when the stream ended in the middle of a line.
 */
static char *lines_of(const char *s, size_t len, size_t max, enum feed_mode mode, unsigned seed)
{
	struct line_reader lr;
	struct buf t;
	size_t off = 0;
	enum line_result last = LINE_MORE;
	line_reader_init(&lr, max);
	buf_init(&t, 0);
	while (off < len) {
		size_t n = len - off;
		if (mode == FEED_BYTE)
			n = 1;
		else if (mode == FEED_CHUNKS) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 7;
			n = want < n ? want : n;
		}
		size_t used = 0;
		last = line_reader_feed(&lr, (const uint8_t *)s + off, n, &used);
		assert_true(used <= n);
		if (last == LINE_MORE)
			assert_int_equal(used, n);
		else
			assert_true(used >= 1);
		off += used;
		if (last == LINE_DONE) {
			assert_int_equal(strlen(lr.line) <= lr.len, 1);
			buf_append_str(&t, "L:");
			buf_append(&t, lr.line, lr.len);
			buf_append_str(&t, "\n");
		} else if (last == LINE_TOO_LONG) {
			buf_append_str(&t, "TOO_LONG\n");
		}
	}
	if (last == LINE_MORE && len > 0)
		buf_append_str(&t, "MORE");
	line_reader_free(&lr);
	char *r = buf_strdup(&t);
	buf_free(&t);
	return r;
}

struct lr_case {
	const char *in;
	size_t max;
	const char *expect;
};

static const struct lr_case lr_cases[] = {
    {"EHLO x\r\nMAIL FROM:<>\r\n", 512, "L:EHLO x\nL:MAIL FROM:<>\n"},
    {"EHLO x\nQUIT\n", 512, "L:EHLO x\nL:QUIT\n"},
    {"\r\n\n", 512, "L:\nL:\n"},
    {"a\rb\r\n", 512, "L:a\rb\n"},
    {"\r\r\n", 512, "L:\r\n"},
    {"a\r", 512, "MORE"},
    {"NOOP", 512, "MORE"},
    {"a\r\nb", 512, "L:a\nMORE"},
    /* max 10 includes the CRLF: 8 + 2 fits, 9 + 2 does not */
    {"12345678\r\nx\r\n", 10, "L:12345678\nL:x\n"},
    {"123456789\r\nx\r\n", 10, "TOO_LONG\nL:x\n"},
    {"123456789\nx\n", 10, "L:123456789\nL:x\n"},
    {"1234567890\nx\n", 10, "TOO_LONG\nL:x\n"},
    {"1234567\r\r\n", 10, "L:1234567\r\n"},
    {"12345678\r\r\n", 10, "TOO_LONG\n"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nQUIT\r\n", 10,
     "TOO_LONG\nL:QUIT\n"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaa\r\naaaaaaaaaaaaaaaaaaaaaaaaaa\nok\r\n", 10,
     "TOO_LONG\nTOO_LONG\nL:ok\n"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 10, "MORE"},
    {"a\x00"
     "b\r\n",
     512, NULL}, /* NUL kept in the line: checked below */
    {"\r\n", 2, "L:\n"},
    {"a\r\n", 2, "TOO_LONG\n"},
    {"\n", 1, "L:\n"}, /* max below 2 acts as 2 */
};

static void test_line_reader_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lr_cases) / sizeof(lr_cases[0]); i++) {
		const struct lr_case *c = &lr_cases[i];
		size_t len = strlen(c->in);
		if (c->expect == NULL)
			len = 5;
		char *copy = xmemdup(c->in, len);
		char *whole = lines_of(copy, len, c->max, FEED_WHOLE, 0);
		char *bytes = lines_of(copy, len, c->max, FEED_BYTE, 0);
		if (c->expect != NULL && strcmp(whole, c->expect) != 0)
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i, whole, c->expect);
		assert_string_equal(whole, bytes);
		for (unsigned seed = 1; seed < 20; seed++) {
			char *chunks = lines_of(copy, len, c->max, FEED_CHUNKS, seed);
			assert_string_equal(whole, chunks);
			free(chunks);
		}
		free(whole);
		free(bytes);
		free(copy);
	}
}

static void test_line_reader_nul_and_consumed(void **state)
{
	(void)state;
	struct line_reader lr;
	size_t used;
	const uint8_t in[] = "a\0b\r\nQUIT\r\n";
	line_reader_init(&lr, 512);
	assert_int_equal(line_reader_feed(&lr, in, sizeof(in) - 1, &used), LINE_DONE);
	assert_int_equal(used, 5);
	assert_int_equal(lr.len, 3);
	assert_memory_equal(lr.line, "a\0b", 4);
	/* Pipelined: the next command is still in the caller's buffer. */
	assert_int_equal(line_reader_feed(&lr, in + used, sizeof(in) - 1 - used, &used), LINE_DONE);
	assert_int_equal(used, 6);
	assert_string_equal(lr.line, "QUIT");
	assert_int_equal(line_reader_feed(&lr, in, 0, &used), LINE_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(lr.len, 0);
	line_reader_free(&lr);
}

/* A huge line costs no memory beyond max. */
static void test_line_reader_huge(void **state)
{
	(void)state;
	struct line_reader lr;
	size_t used;
	size_t n = 1 << 20;
	uint8_t *big = xmalloc(n);
	memset(big, 'x', n);
	line_reader_init(&lr, 512);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(line_reader_feed(&lr, big, n, &used), LINE_MORE);
		assert_int_equal(used, n);
	}
	assert_true(lr.cap <= 513);
	assert_int_equal(line_reader_feed(&lr, (const uint8_t *)"\r\nRSET\r\n", 8, &used),
	                 LINE_TOO_LONG);
	assert_int_equal(used, 2);
	assert_int_equal(line_reader_feed(&lr, (const uint8_t *)"RSET\r\n", 6, &used), LINE_DONE);
	assert_string_equal(lr.line, "RSET");
	line_reader_free(&lr);
	free(big);
}

/* ---- cmd_parse ---- */

struct cmd_case {
	const char *line;
	int utf8;
	int rc;
	enum smtp_verb verb; /* success */
	int code;            /* failure */
	const char *enh, *why;
};

#define C_OK(l, v)                                                                                 \
	{                                                                                          \
		l, 0, 0, v, 0, NULL, NULL                                                          \
	}
#define C_OKU(l, v)                                                                                \
	{                                                                                          \
		l, 1, 0, v, 0, NULL, NULL                                                          \
	}
#define C_BAD(l, c, e, w)                                                                          \
	{                                                                                          \
		l, 0, -1, 0, c, e, w                                                               \
	}
#define C_BADU(l, u, c, e, w)                                                                      \
	{                                                                                          \
		l, u, -1, 0, c, e, w                                                               \
	}

#define X100                                                                                       \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxx"

static const struct cmd_case cmd_cases[] = {
    C_OK("EHLO mail.example.com", CMD_EHLO),
    C_OK("ehlo [192.0.2.1]", CMD_EHLO),
    C_OK("EhLo [IPv6:2001:db8::1]", CMD_EHLO),
    C_OK("HELO x", CMD_HELO),
    C_OK("EHLO  mail.example.com  ", CMD_EHLO),
    C_OK("MAIL FROM:<a@b.c>", CMD_MAIL),
    C_OK("mail from:<>", CMD_MAIL),
    C_OK("MAIL FROM: <a@b.c>", CMD_MAIL),
    C_OK("MAIL\tFROM:\t<a@b.c>", CMD_MAIL),
    C_OK("MAIL FROM:<a@b.c> SIZE=1000 BODY=8BITMIME", CMD_MAIL),
    C_OK("MAIL FROM:<a@b.c> size=0 body=7bit ret=hdrs envid=abc+2Bdef", CMD_MAIL),
    C_OK("MAIL FROM:<a@b.c>  SMTPUTF8  ", CMD_MAIL),
    C_OK("MAIL FROM:<\xc3\xa4@b.c> SMTPUTF8", CMD_MAIL),
    C_OK("MAIL FROM:<a@b.c> AUTH=<>", CMD_MAIL),
    C_OK("MAIL FROM:<a@b.c> SIZE=18446744073709551615", CMD_MAIL),
    C_OK("MAIL FROM:<a@b.c> ENVID=" X100, CMD_MAIL),
    C_OK("MAIL FROM:<@r.example:a@b.c>", CMD_MAIL),
    C_OK("RCPT TO:<a@b.c>", CMD_RCPT),
    C_OK("rcpt to:<Postmaster>", CMD_RCPT),
    C_OK("RCPT TO:<a@b.c> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.c", CMD_RCPT),
    C_OK("RCPT TO:<a@b.c> NOTIFY=never", CMD_RCPT),
    C_OK("RCPT TO:<a@b.c> NOTIFY=DELAY,delay", CMD_RCPT),
    C_OKU("RCPT TO:<\xc3\xa4@b.c>", CMD_RCPT),
    C_OK("DATA", CMD_DATA),
    C_OK("data ", CMD_DATA),
    C_OK("RSET", CMD_RSET),
    C_OK("QUIT", CMD_QUIT),
    C_OK("STARTTLS", CMD_STARTTLS),
    C_OK("NOOP", CMD_NOOP),
    C_OK("NOOP hello there", CMD_NOOP),
    C_OK("HELP", CMD_HELP),
    C_OK("HELP MAIL", CMD_HELP),
    C_OK("VRFY user", CMD_VRFY),
    C_OK("EXPN list", CMD_EXPN),
    C_OK("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", CMD_AUTH),
    C_OK("BDAT 100", CMD_BDAT),
    C_OK("BDAT 0 LAST", CMD_BDAT),
    C_OK("bdat 5 last", CMD_BDAT),

    C_BAD("", 500, "5.5.2", "empty command"),
    C_BAD("   ", 500, "5.5.2", "empty command"),
    C_BAD("FOO", 500, "5.5.1", "Command unrecognized"),
    C_BAD(" EHLO x", 500, "5.5.1", "Command unrecognized"),
    C_BAD("MAILFROM:<a@b>", 500, "5.5.1", "Command unrecognized"),
    C_BAD("DATAX", 500, "5.5.1", "Command unrecognized"),
    C_BAD("MAIL", 501, "5.5.4", "Syntax: MAIL FROM:<address>"),
    C_BAD("VRFY", 501, "5.5.4", "VRFY requires an argument"),
    C_BAD("EXPN ", 501, "5.5.4", "EXPN requires an argument"),
    C_BAD("MAIL TO:<a@b>", 501, "5.5.4", "Syntax: MAIL FROM:<address>"),
    C_BAD("RCPT FROM:<a@b>", 501, "5.5.4", "Syntax: RCPT TO:<address>"),
    C_BAD("MAIL FROM:a@b", 501, "5.1.7", "Bad sender address syntax: Address must be"),
    C_BAD("MAIL FROM:<a@b", 501, "5.1.7", "Missing closing '>'"),
    C_BAD("MAIL FROM:<a..b@c>", 501, "5.1.7", "consecutive dots"),
    C_BAD("RCPT TO:<a..b@c>", 501, "5.1.3", "Bad recipient address syntax: Local part"),
    C_BAD("RCPT TO:<a@@b>", 501, "5.1.3", "Missing or invalid domain"),
    C_BAD("RCPT TO:<>", 501, "5.1.3", "Null address not allowed"),
    C_BAD("MAIL FROM:<postmaster>", 501, "5.1.7", "Address has no domain"),
    C_BAD("MAIL FROM:<\xc3\xa4@b.c>", 553, "5.6.7", "requires the SMTPUTF8 parameter"),
    C_BAD("MAIL FROM:<a@b.c> SMTPUTF8 FOO", 555, "5.5.4", "Unsupported parameter: FOO"),
    C_BADU("RCPT TO:<\xc3\xa4@b.c>", 0, 553, "5.6.7", "SMTPUTF8"),
    C_BADU("RCPT TO:<\xc0\xaf@b.c>", 1, 501, "5.1.3", "Invalid UTF-8"),
    C_BAD("MAIL FROM:<a@b.c>SIZE=1", 501, "5.5.4", "space must follow"),
    C_BAD("MAIL FROM:<a@b.c> SIZE=abc", 501, "5.5.4", "Invalid SIZE"),
    C_BAD("MAIL FROM:<a@b.c> SIZE=-1", 501, "5.5.4", "Invalid SIZE"),
    C_BAD("MAIL FROM:<a@b.c> SIZE=", 501, "5.5.4", "empty"),
    C_BAD("MAIL FROM:<a@b.c> SIZE", 501, "5.5.4", "requires a value"),
    C_BAD("MAIL FROM:<a@b.c> SIZE=18446744073709551616", 552, "5.3.4", "size exceeds"),
    C_BAD("MAIL FROM:<a@b.c> SIZE=99999999999999999999999", 552, "5.3.4", "size exceeds"),
    C_BAD("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", 501, "5.5.4", "Duplicate SIZE"),
    C_BAD("MAIL FROM:<a@b.c> size=1 SIZE=2", 501, "5.5.4", "Duplicate SIZE"),
    C_BAD("MAIL FROM:<a@b.c> SMTPUTF8 smtputf8", 501, "5.5.4", "Duplicate SMTPUTF8"),
    C_BAD("MAIL FROM:<a@b.c> BODY=BINARY", 501, "5.5.4", "Invalid BODY"),
    C_BAD("MAIL FROM:<a@b.c> SMTPUTF8=yes", 501, "5.5.4", "takes no value"),
    C_BAD("MAIL FROM:<a@b.c> RET=ALL", 501, "5.5.4", "Invalid RET"),
    C_BAD("MAIL FROM:<a@b.c> AUTH=a+0", 501, "5.5.4", "Invalid AUTH"),
    C_BAD("MAIL FROM:<a@b.c> FOO=bar", 555, "5.5.4", "Unsupported parameter: FOO"),
    C_BAD("MAIL FROM:<a@b.c> NOTIFY=NEVER", 555, "5.5.4", "Unsupported parameter: NOTIFY"),
    C_BAD("RCPT TO:<a@b.c> SIZE=1", 555, "5.5.4", "Unsupported parameter: SIZE"),
    C_BAD("MAIL FROM:<a@b.c> -X=1", 501, "5.5.4", "parameter keyword"),
    C_BAD("MAIL FROM:<a@b.c> X_Y=1", 501, "5.5.4", "parameter keyword"),
    C_BAD("MAIL FROM:<a@b.c> X==1", 501, "5.5.4", "parameter value"),
    C_BAD("MAIL FROM:<a@b.c> X=a\x01", 501, "5.5.4", "parameter value"),
    C_BAD("RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS", 501, "5.5.4", "cannot be combined"),
    C_BAD("RCPT TO:<a@b.c> NOTIFY=SUCCESS,", 501, "5.5.4", "Invalid NOTIFY"),
    C_BAD("RCPT TO:<a@b.c> NOTIFY=,SUCCESS", 501, "5.5.4", "Invalid NOTIFY"),
    C_BAD("RCPT TO:<a@b.c> NOTIFY=sometimes", 501, "5.5.4", "Invalid NOTIFY"),
    C_BAD("RCPT TO:<a@b.c> NOTIFY=SUCCESS NOTIFY=DELAY", 501, "5.5.4", "Duplicate NOTIFY"),
    /* a malformed ORCPT or ENVID is dropped, never refused: dsn_cases below */
    C_BAD("RCPT TO:<a..b@c> ORCPT=rfc822;a+4", 501, "5.1.3", "Bad recipient address"),
    C_BAD("RCPT TO:<a@b.c> ORCPT=rfc822;a FOO=x", 555, "5.5.4", "Unsupported parameter: FOO"),
    C_BAD("MAIL FROM:<a@b.c> ENVID=a+2 SIZE=x", 501, "5.5.4", "Invalid SIZE"),
    C_BAD("DATA x", 501, "5.5.4", "Syntax error: DATA takes no arguments"),
    C_BAD("QUIT now", 501, "5.5.4", "QUIT takes no arguments"),
    C_BAD("RSET x", 501, "5.5.4", "RSET takes no arguments"),
    C_BAD("STARTTLS x", 501, "5.5.4", "STARTTLS takes no arguments"),
    C_BAD("EHLO", 501, "5.5.4", "EHLO requires a domain or address literal"),
    C_BAD("EHLO   ", 501, "5.5.4", "EHLO requires a domain or address literal"),
    C_BAD("HELO", 501, "5.5.4", "HELO requires"),
    C_BAD("EHLO foo_bar", 501, "5.5.4", "EHLO requires"),
    C_BAD("EHLO a b", 501, "5.5.4", "EHLO requires"),
    C_BAD("EHLO [1.2.3]", 501, "5.5.4", "EHLO requires"),
    C_BAD("AUTH", 501, "5.5.4", "Syntax: AUTH mechanism"),
    C_BAD("AUTH PLAIN a b", 501, "5.5.4", "Syntax: AUTH mechanism"),
    C_BAD("AUTH PL@IN", 501, "5.5.4", "Syntax: AUTH mechanism"),
    C_BAD("AUTH ABCDEFGHIJKLMNOPQRSTU", 501, "5.5.4", "Syntax: AUTH mechanism"),
    C_BAD("BDAT", 501, "5.5.4", "Syntax: BDAT"),
    C_BAD("BDAT x", 501, "5.5.4", "Syntax: BDAT"),
    C_BAD("BDAT 1 MORE", 501, "5.5.4", "Syntax: BDAT"),
    C_BAD("BDAT 1 LAST x", 501, "5.5.4", "Syntax: BDAT"),
    C_BAD("BDAT 99999999999999999999999", 552, "5.3.4", "size exceeds"),
    C_BAD("NOOP " X100 X100 X100 X100 X100 X100, 501, "5.5.4", "argument too long"),
    C_BAD("EHLO x\ry", 501, "5.5.2", "bare CR"),
    C_BAD("DATA\r", 501, "5.5.2", "bare CR"),
};

struct parsed {
	int rc;
	struct smtp_cmd cmd;
	struct smtp_reply err;
};

/* line + CRLF through a line reader fed in the given mode, then cmd_parse. */
static void parse_via_reader(const char *line, size_t len, int utf8, enum feed_mode mode,
                             struct parsed *out)
{
	struct line_reader lr;
	size_t slen = len + 2, off = 0, used;
	char *stream = xmalloc(slen);
	memcpy(stream, line, len);
	memcpy(stream + len, "\r\n", 2);
	line_reader_init(&lr, 1000);
	enum line_result r = LINE_MORE;
	while (off < slen && r == LINE_MORE) {
		size_t n = mode == FEED_BYTE ? 1 : slen - off;
		r = line_reader_feed(&lr, (const uint8_t *)stream + off, n, &used);
		off += used;
	}
	assert_int_equal(r, LINE_DONE);
	assert_int_equal(off, slen);
	assert_int_equal(lr.len, len);
	memset(out, 0, sizeof(*out));
	out->rc = cmd_parse(lr.line, lr.len, utf8, &out->cmd, &out->err);
	line_reader_free(&lr);
	free(stream);
}

static void test_cmd_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		size_t len = strlen(c->line);
		struct parsed *w = xcalloc(1, sizeof(*w)), *b = xcalloc(1, sizeof(*b));
		parse_via_reader(c->line, len, c->utf8, FEED_WHOLE, w);
		parse_via_reader(c->line, len, c->utf8, FEED_BYTE, b);
		if (w->rc != c->rc)
			fail_msg("\"%s\": rc %d, expected %d (%d %s %s)", c->line, w->rc, c->rc,
			         w->err.code, w->err.enh, w->err.text);
		assert_int_equal(b->rc, w->rc);
		if (w->rc == 0) {
			assert_int_equal(w->cmd.verb, c->verb);
			assert_memory_equal(&w->cmd, &b->cmd, sizeof(w->cmd));
		} else {
			if (w->err.code != c->code || strcmp(w->err.enh, c->enh) != 0 ||
			    strstr(w->err.text, c->why) == NULL)
				fail_msg("\"%s\": got %d %s %s, expected %d %s ...%s...", c->line,
				         w->err.code, w->err.enh, w->err.text, c->code, c->enh,
				         c->why);
			assert_int_equal(b->err.code, w->err.code);
			assert_string_equal(b->err.enh, w->err.enh);
			assert_string_equal(b->err.text, w->err.text);
		}
		free(w);
		free(b);
	}
}

static int parse(const char *line, int utf8, struct smtp_cmd *cmd, struct smtp_reply *err)
{
	return cmd_parse(line, strlen(line), utf8, cmd, err);
}

static void test_mail_fields(void **state)
{
	(void)state;
	struct smtp_cmd *cmd = xmalloc(sizeof(*cmd));
	struct smtp_reply err;
	assert_int_equal(parse("MAIL FROM:<A.B@Example.org> SIZE=12345 BODY=8bitmime RET=FULL "
	                       "ENVID=QQ+2B+3Dx AUTH=u+2Bx@y.z SMTPUTF8",
	                       0, cmd, &err),
	                 0);
	assert_int_equal(cmd->verb, CMD_MAIL);
	assert_string_equal(cmd->addr.text, "A.B@Example.org");
	assert_int_equal(cmd->has_size, 1);
	assert_int_equal(cmd->size, 12345);
	assert_int_equal(cmd->body, BODY_8BITMIME);
	assert_int_equal(cmd->ret, RET_FULL);
	assert_string_equal(cmd->envid, "QQ+=x");
	assert_int_equal(cmd->has_auth, 1);
	assert_string_equal(cmd->auth, "u+x@y.z");
	assert_int_equal(cmd->smtputf8, 1);
	assert_int_equal(cmd->notify, 0);

	assert_int_equal(parse("MAIL FROM:<> BODY=7BIT RET=hdrs", 0, cmd, &err), 0);
	assert_int_equal(cmd->addr.is_null, 1);
	assert_string_equal(cmd->addr.text, "");
	assert_int_equal(cmd->has_size, 0);
	assert_int_equal(cmd->size, 0);
	assert_int_equal(cmd->body, BODY_7BIT);
	assert_int_equal(cmd->ret, RET_HDRS);
	assert_string_equal(cmd->envid, "");
	assert_int_equal(cmd->smtputf8, 0);

	assert_int_equal(
	    parse("MAIL FROM:<a@b> SIZE=18446744073709551615 BODY=BINARYMIME", 0, cmd, &err), 0);
	assert_true(cmd->size == UINT64_MAX);
	assert_int_equal(cmd->body, BODY_BINARYMIME);

	assert_int_equal(parse("MAIL FROM:<\xc3\xa4@b.c> smtputf8", 0, cmd, &err), 0);
	assert_int_equal(cmd->addr.has_utf8, 1);
	/* utf8_addrs does not matter for MAIL: the parameter on the line does */
	assert_int_equal(parse("MAIL FROM:<\xc3\xa4@b.c>", 1, cmd, &err), -1);
	assert_int_equal(err.code, 553);
	free(cmd);
}

static void test_rcpt_fields(void **state)
{
	(void)state;
	struct smtp_cmd *cmd = xmalloc(sizeof(*cmd));
	struct smtp_reply err;
	assert_int_equal(
	    parse("RCPT TO:<x@y.z> NOTIFY=success,DELAY ORCPT=rfc822;x+2By@y.z", 0, cmd, &err), 0);
	assert_int_equal(cmd->verb, CMD_RCPT);
	assert_string_equal(cmd->addr.text, "x@y.z");
	assert_int_equal(cmd->notify, NOTIFY_SUCCESS | NOTIFY_DELAY);
	assert_string_equal(cmd->orcpt, "rfc822;x+2By@y.z");

	assert_int_equal(parse("RCPT TO:<x@y.z> NOTIFY=NEVER", 0, cmd, &err), 0);
	assert_int_equal(cmd->notify, NOTIFY_NEVER);
	assert_string_equal(cmd->orcpt, "");

	assert_int_equal(parse("RCPT TO:<POSTMASTER>", 0, cmd, &err), 0);
	assert_string_equal(cmd->addr.local, "postmaster");
	assert_string_equal(cmd->addr.domain, "");

	assert_int_equal(parse("RCPT TO:<\xc3\xa4@b.c>", 1, cmd, &err), 0);
	assert_int_equal(cmd->addr.has_utf8, 1);
	free(cmd);
}

/*
 * DSN parameters (RFC 3461 §4): ORCPT and ENVID only decorate a DSN that
 * may never be sent, so a value the grammar allows is kept and a
 * malformed one is dropped (the session logs it) — the command itself is
 * accepted either way. Refusing it would make the previous hop bounce the
 * mail (Postfix relays "ORCPT=rfc822;pf-bj+C3+B8rn@localhost" for an
 * SMTPUTF8 recipient). ORCPT is kept as given ("addr-type;value", the form
 * a relay must pass on unchanged) and decoded only when a DSN shows it;
 * ENVID is kept decoded (printable ASCII, at most 100 characters).
 */
struct dsn_case {
	const char *line;
	const char *orcpt; /* expected cmd.orcpt ("" when dropped or absent) */
	const char *envid; /* expected cmd.envid */
	const char *event; /* expected cmd.ignored.event, NULL when nothing is dropped */
	const char *value; /* the dropped value, as it is in the line */
	const char *why;   /* a piece of cmd.ignored.why */
};

#define O_KEEP(v)                                                                                  \
	{                                                                                          \
		"RCPT TO:<a@b.c> ORCPT=" v, v, "", NULL, NULL, NULL                                \
	}
#define O_DROP(v, why)                                                                             \
	{                                                                                          \
		"RCPT TO:<a@b.c> ORCPT=" v, "", "", "orcpt-ignored", v, why                        \
	}
#define E_KEEP(v, d)                                                                               \
	{                                                                                          \
		"MAIL FROM:<a@b.c> ENVID=" v, "", d, NULL, NULL, NULL                              \
	}
#define E_DROP(v, why)                                                                             \
	{                                                                                          \
		"MAIL FROM:<a@b.c> ENVID=" v, "", "", "envid-ignored", v, why                      \
	}
#define ODROP_LINE(l, v, w)                                                                        \
	{                                                                                          \
		"RCPT TO:<a@b.c> " l, "", "", "orcpt-ignored", v, w                                \
	}
#define EDROP_LINE(l, v, w)                                                                        \
	{                                                                                          \
		"MAIL FROM:<a@b.c> " l, "", "", "envid-ignored", v, w                              \
	}
/* "rfc822;" and 493 more: the 500 characters an ORCPT may have */
#define X493                                                                                       \
	X100 X100 X100 X100 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	                    "xxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct dsn_case dsn_cases[] = {
    /* what Postfix sends for an SMTPUTF8 recipient: UTF-8 octets as +XX */
    O_KEEP("rfc822;pf-bj+C3+B8rn@localhost"),
    /* any octet may be a hexchar, DEL and NUL included */
    O_KEEP("rfc822;x+7Fy@b"),
    O_KEEP("rfc822;x+00y@b"),
    O_KEEP("rfc822;+2B+3D+20+0D+0A@b"),
    O_KEEP("rfc822;a+40b.c"),
    /* xchars: all of 33..126 but '+' and '=' */
    O_KEEP("rfc822;!\"#$%&'()*,-./09:;<>?@AZ[\\]^_`az{|}~"),
    /* the address type is case-insensitive; lower-case hex is tolerated */
    O_KEEP("RFC822;A@B"),
    O_KEEP("rfc822;pf-bj+c3+b8rn@localhost"),
    /* RFC 6533 §3: utf-8-addr-xtext, -unitext, and a plain utf-8 address */
    O_KEEP("utf-8;pf-bj\\x{F8}rn@localhost"),
    O_KEEP("UTF-8;pf-bj\\x{f8}rn@localhost"),
    O_KEEP("utf-8;pf-bj\xc3\xb8rn@localhost"),
    O_KEEP("utf-8;a\\x{5C}\\x{2B}\\x{3D}\\x{20}\\x{7F}\\x{01}\\x{19}@b"),
    O_KEEP("utf-8;\\x{FF}\\x{100}\\x{FFF}\\x{1000}\\x{D7FF}\\x{E000}\\x{FFFF}@b"),
    O_KEEP("utf-8;\\x{10000}\\x{1F600}\\x{FFFFF}\\x{100000}\\x{10FFFF}@b"),
    O_KEEP("utf-8;\xf0\x9f\x98\x80@b"),
    O_KEEP("utf-8;user+tag@b"),
    /* 500 characters in all may be kept (RFC 3461 §4.2) */
    O_KEEP("rfc822;" X493),

    /* malformed: dropped */
    O_DROP("a@b", "not addr-type;address"),  /* no ';' */
    O_DROP(";a@b", "not addr-type;address"), /* no address type */
    O_DROP("rfc822;", "no address"),         /* no address */
    O_DROP("rfc822;a+4", "bad xtext"),       /* hexchar cut short */
    O_DROP("rfc822;a+", "bad xtext"),
    O_DROP("rfc822;a+GGb", "bad xtext"), /* not hex */
    O_DROP("rfc822;a+4Gb", "bad xtext"),
    O_DROP("rfc822;a+-4b", "bad xtext"),
    O_DROP("rfc822;a=b", "not an esmtp-value"), /* '=' must be +3D */
    O_DROP("rfc822;a\x7f"
           "b",
           "not an esmtp-value"),                    /* DEL must be +7F */
    O_DROP("rfc822;bj\xc3\xb8rn@b", "bad xtext"),    /* 8-bit must be +XX */
    O_DROP("rf.c;a", "unknown address type"),        /* not an address type */
    O_DROP("x-unknown;a@b", "unknown address type"), /* an address type we cannot render */
    O_DROP("utf-8;", "no address"),
    O_DROP("utf-8;a\\b", "bad utf-8 address"),        /* '\' only as "\x{" */
    O_DROP("utf-8;a\\x{41}b", "bad utf-8 address"),   /* ASCII that needs no escape */
    O_DROP("utf-8;a\\x{0A}b", "bad utf-8 address"),   /* not a 2-digit form of RFC 6533 */
    O_DROP("utf-8;a\\x{F}b", "bad utf-8 address"),    /* one digit */
    O_DROP("utf-8;a\\x{0F8}b", "bad utf-8 address"),  /* leading zero */
    O_DROP("utf-8;a\\x{D800}b", "bad utf-8 address"), /* surrogate */
    O_DROP("utf-8;a\\x{DFFF}b", "bad utf-8 address"),
    O_DROP("utf-8;a\\x{110000}b", "bad utf-8 address"), /* beyond Unicode */
    O_DROP("utf-8;a\\x{1000000}b", "bad utf-8 address"),
    O_DROP("utf-8;a\\x{F8b", "bad utf-8 address"), /* unterminated */
    O_DROP("utf-8;a\\x{}b", "bad utf-8 address"),
    O_DROP("utf-8;a\\X{F8}b", "bad utf-8 address"), /* "\x" is case-sensitive */
    O_DROP("utf-8;a\\x{G8}b", "bad utf-8 address"),
    O_DROP("utf-8;\xc0\xaf@b", "bad utf-8 address"),     /* overlong UTF-8 */
    O_DROP("utf-8;\xed\xa0\x80@b", "bad utf-8 address"), /* UTF-8 surrogate */
    O_DROP("utf-8;\xc3@b", "bad utf-8 address"),         /* cut sequence */
    O_DROP("utf-8;a=b", "not an esmtp-value"),
    O_DROP("rfc822;" X493 "x", "longer than 500"), /* 501 characters */
    O_DROP("rfc822;a\x01"
           "b",
           "not an esmtp-value"), /* controls are no esmtp-value either */
    ODROP_LINE("ORCPT", "", "no value"),
    ODROP_LINE("ORCPT=", "", "empty"),
    /* twice: neither is kept */
    ODROP_LINE("ORCPT=rfc822;a@b ORCPT=rfc822;c@d", "rfc822;c@d", "more than once"),
    ODROP_LINE("NOTIFY=FAILURE ORCPT=a@b", "a@b", "not addr-type;address"),

    /* ENVID: xtext that decodes to printable ASCII, at most 100 characters */
    E_KEEP("abc+2Bdef", "abc+def"),
    E_KEEP("QQ+2B+3Dx", "QQ+=x"),
    E_KEEP("a+20b", "a b"),
    E_KEEP("a+7eb", "a~b"),
    E_KEEP(X100, X100),
    /* the limit is on the decoded value: 102 characters that decode to 100 */
    E_KEEP("+41xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxxxxxxxx",
           "Axxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
           "xxxxxxxxxxxxx"),
    E_DROP("+41" X100, "longer than 100"),
    E_DROP("a+2", "bad xtext"),
    E_DROP("a+GGb", "bad xtext"),
    E_DROP("a+0Ab", "not printable ASCII"),   /* decodes to LF */
    E_DROP("a+7Fb", "not printable ASCII"),   /* DEL */
    E_DROP("a+C3+B8", "not printable ASCII"), /* not ASCII */
    E_DROP("a+00b", "not printable ASCII"),
    E_DROP("a=b", "not an esmtp-value"),
    E_DROP("a\x7f"
           "b",
           "not an esmtp-value"),
    E_DROP("a\xc3\xb8", "bad xtext"),
    E_DROP(X100 "x", "longer than 100"),
    EDROP_LINE("ENVID", "", "no value"),
    EDROP_LINE("ENVID=", "", "empty"),
    EDROP_LINE("ENVID=a ENVID=b", "b", "more than once"),
};

static void check_dsn_case(const struct dsn_case *c, const struct parsed *p)
{
	if (p->rc != 0)
		fail_msg("\"%s\": refused (%d %s %s), expected to be accepted", c->line,
		         p->err.code, p->err.enh, p->err.text);
	if (strcmp(p->cmd.orcpt, c->orcpt) != 0)
		fail_msg("\"%s\": orcpt \"%s\", expected \"%s\"", c->line, p->cmd.orcpt, c->orcpt);
	if (strcmp(p->cmd.envid, c->envid) != 0)
		fail_msg("\"%s\": envid \"%s\", expected \"%s\"", c->line, p->cmd.envid, c->envid);
	const struct cmd_ignored *ig = &p->cmd.ignored;
	if (c->event == NULL) {
		if (ig->event != NULL)
			fail_msg("\"%s\": %s (%s), expected nothing dropped", c->line, ig->event,
			         ig->why);
		return;
	}
	if (ig->event == NULL || strcmp(ig->event, c->event) != 0)
		fail_msg("\"%s\": event %s, expected %s", c->line, ig->event ? ig->event : "none",
		         c->event);
	if (ig->why == NULL || strstr(ig->why, c->why) == NULL)
		fail_msg("\"%s\": reason \"%s\", expected ...%s...", c->line, ig->why, c->why);
	if (ig->off + ig->len > strlen(c->line) || ig->len != strlen(c->value) ||
	    memcmp(c->line + ig->off, c->value, ig->len) != 0)
		fail_msg("\"%s\": dropped value at %zu+%zu, expected \"%s\"", c->line, ig->off,
		         ig->len, c->value);
}

static void test_dsn_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dsn_cases) / sizeof(dsn_cases[0]); i++) {
		const struct dsn_case *c = &dsn_cases[i];
		struct parsed *w = xcalloc(1, sizeof(*w)), *b = xcalloc(1, sizeof(*b));
		parse_via_reader(c->line, strlen(c->line), 0, FEED_WHOLE, w);
		parse_via_reader(c->line, strlen(c->line), 0, FEED_BYTE, b);
		check_dsn_case(c, w);
		check_dsn_case(c, b);
		assert_memory_equal(&w->cmd, &b->cmd, sizeof(w->cmd));
		free(w);
		free(b);
	}
}

/* ORCPT=rfc822;a<c>b for every octet c: kept exactly when c is an xchar. */
static void test_xtext_xchar_exhaustive(void **state)
{
	(void)state;
	for (int c = 1; c < 256; c++) {
		/* These end the value or the line before ORCPT sees them. */
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		char line[64];
		snprintf(line, sizeof(line), "RCPT TO:<a@b.c> ORCPT=rfc822;a%cb", c);
		int xchar = c >= 33 && c <= 126 && c != '+' && c != '=';
		struct parsed *w = xcalloc(1, sizeof(*w)), *b = xcalloc(1, sizeof(*b));
		parse_via_reader(line, strlen(line), 0, FEED_WHOLE, w);
		parse_via_reader(line, strlen(line), 0, FEED_BYTE, b);
		struct dsn_case dc = {line,      xchar ? line + 22 : "",
		                      "",        xchar ? NULL : "orcpt-ignored",
		                      line + 22, xchar ? NULL : ""};
		check_dsn_case(&dc, w);
		check_dsn_case(&dc, b);
		free(w);
		free(b);
	}
}

/* ORCPT=rfc822;a+XYb for every pair of printable octets: kept exactly when both are hex. */
static void test_xtext_hexchar_exhaustive(void **state)
{
	(void)state;
	struct parsed *p = xcalloc(1, sizeof(*p));
	for (int x = 33; x < 127; x++) {
		for (int y = 33; y < 127; y++) {
			char line[64];
			snprintf(line, sizeof(line), "RCPT TO:<a@b.c> ORCPT=rfc822;a+%c%cb", x, y);
			int hex = strchr("0123456789ABCDEFabcdef", x) != NULL &&
			          strchr("0123456789ABCDEFabcdef", y) != NULL;
			memset(p, 0, sizeof(*p));
			p->rc = cmd_parse(line, strlen(line), 0, &p->cmd, &p->err);
			struct dsn_case dc = {
			    line,
			    hex ? line + 22 : "",
			    "",
			    hex ? NULL : "orcpt-ignored",
			    line + 22,
			    hex ? NULL : x == '=' || y == '=' ? "not an esmtp-value" : "bad xtext"};
			check_dsn_case(&dc, p);
		}
	}
	free(p);
}

static void test_args(void **state)
{
	(void)state;
	struct smtp_cmd *cmd = xmalloc(sizeof(*cmd));
	struct smtp_reply err;
	assert_int_equal(parse("EHLO  Mail.Example.COM \t", 0, cmd, &err), 0);
	assert_string_equal(cmd->arg, "Mail.Example.COM");
	assert_int_equal(parse("HELO [10.1.2.3]", 0, cmd, &err), 0);
	assert_string_equal(cmd->arg, "[10.1.2.3]");
	assert_int_equal(parse("VRFY  <a b>", 0, cmd, &err), 0);
	assert_string_equal(cmd->arg, "<a b>");
	assert_int_equal(parse("NOOP", 0, cmd, &err), 0);
	assert_string_equal(cmd->arg, "");
	assert_int_equal(parse("AUTH LOGIN", 0, cmd, &err), 0);
	assert_int_equal(cmd->verb, CMD_AUTH);
	assert_string_equal(cmd->arg, "LOGIN");
	assert_false(cmd->has_ir);
	/* the initial response is located, not copied: it may be longer than arg */
	char *auth = xasprintf("auth  SCRAM-SHA-256_X \t%0*d", 1500, 7);
	assert_int_equal(parse(auth, 0, cmd, &err), 0);
	assert_string_equal(cmd->arg, "SCRAM-SHA-256_X");
	assert_true(cmd->has_ir);
	assert_int_equal(cmd->ir_len, 1500);
	assert_int_equal(cmd->ir_off, strlen(auth) - 1500);
	free(auth);
	assert_int_equal(parse("AUTH PLAIN = ", 0, cmd, &err), 0);
	assert_true(cmd->has_ir);
	assert_int_equal(cmd->ir_off, 11);
	assert_int_equal(cmd->ir_len, 1);
	assert_int_equal(parse("BDAT 4096", 0, cmd, &err), 0);
	assert_int_equal(cmd->chunk_size, 4096);
	assert_int_equal(cmd->last_chunk, 0);
	assert_int_equal(parse("BDAT 0  last", 0, cmd, &err), 0);
	assert_int_equal(cmd->chunk_size, 0);
	assert_int_equal(cmd->last_chunk, 1);
	/* 511 octets of argument fit, 512 do not */
	char line[600] = "NOOP ";
	memset(line + 5, 'a', 511);
	line[5 + 511] = 0;
	assert_int_equal(parse(line, 0, cmd, &err), 0);
	assert_int_equal(strlen(cmd->arg), 511);
	line[5 + 511] = 'a';
	line[5 + 512] = 0;
	assert_int_equal(parse(line, 0, cmd, &err), -1);
	free(cmd);
}

static void test_nul_in_command(void **state)
{
	(void)state;
	struct smtp_cmd *cmd = xmalloc(sizeof(*cmd));
	struct smtp_reply err;
	assert_int_equal(cmd_parse("NOOP a\0b", 8, 0, cmd, &err), -1);
	assert_int_equal(err.code, 501);
	assert_string_equal(err.enh, "5.5.2");
	assert_non_null(strstr(err.text, "NUL"));
	assert_int_equal(cmd_parse("RCPT TO:<a\0@b>", 14, 0, cmd, &err), -1);
	assert_non_null(strstr(err.text, "NUL"));
	/* len is honoured: nothing past it is read */
	assert_int_equal(cmd_parse("DATAxyz", 4, 0, cmd, &err), 0);
	assert_int_equal(cmd->verb, CMD_DATA);
	free(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_reader_table),
	    cmocka_unit_test(test_line_reader_nul_and_consumed),
	    cmocka_unit_test(test_line_reader_huge),
	    cmocka_unit_test(test_cmd_table),
	    cmocka_unit_test(test_mail_fields),
	    cmocka_unit_test(test_rcpt_fields),
	    cmocka_unit_test(test_dsn_params),
	    cmocka_unit_test(test_xtext_xchar_exhaustive),
	    cmocka_unit_test(test_xtext_hexchar_exhaustive),
	    cmocka_unit_test(test_args),
	    cmocka_unit_test(test_nul_in_command),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
