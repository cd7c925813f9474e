/*
 * Unit tests for sm_msg, raven-sendmail's message preparation: line ends,
 * the lone dot, the mbox From_ line, Bcc removed, missing fields added,
 * -t recipients, and the caps. Every case is fed whole, one octet at a
 * time and in chunks of 7, and must come out the same.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sm_msg.h"
#include "xmalloc.h"

static const struct sm_opts ADD = {1, 1, "DATE", "<ID@h>", "me@h"};

struct outcome {
	int rc;
	char *out;   /* the message */
	char *rcpts; /* "a,b," */
	char why[256];
};

static struct outcome run(const struct sm_opts *o, const char *in, size_t len, size_t step)
{
	struct sm_msg m;
	struct buf out;
	struct outcome r = {0, NULL, NULL, ""};
	sm_msg_init(&m, o);
	buf_init(&out, 0);
	for (size_t off = 0; off < len && r.rc == 0;) {
		size_t k = step == 0 || len - off < step ? len - off : step;
		uint8_t *copy = xmalloc(k); /* exactly sized: ASan sees overreads */
		memcpy(copy, in + off, k);
		r.rc = sm_msg_feed(&m, copy, k, &out);
		free(copy);
		off += k;
	}
	if (r.rc == 0)
		r.rc = sm_msg_end(&m, &out);
	if (r.rc == -1)
		snprintf(r.why, sizeof(r.why), "%s", m.why);
	buf_append_byte(&out, 0);
	r.out = (char *)out.data;
	struct buf rc;
	buf_init(&rc, 0);
	for (size_t i = 0; i < m.n_rcpts; i++)
		buf_printf(&rc, "%s,", m.rcpts[i]);
	buf_append_byte(&rc, 0);
	r.rcpts = (char *)rc.data;
	sm_msg_free(&m);
	return r;
}

static void outcome_free(struct outcome *r)
{
	free(r->out);
	free(r->rcpts);
}

/* Whole, byte by byte and in 7s: the same outcome; returned whole. */
static struct outcome check_all(const struct sm_opts *o, const char *in)
{
	size_t len = strlen(in);
	struct outcome whole = run(o, in, len, 0);
	for (size_t step = 1; step <= 7; step += 6) {
		struct outcome part = run(o, in, len, step);
		assert_int_equal(part.rc, whole.rc);
		assert_string_equal(part.out, whole.out);
		assert_string_equal(part.rcpts, whole.rcpts);
		assert_string_equal(part.why, whole.why);
		outcome_free(&part);
	}
	return whole;
}

static const struct {
	const char *in, *out, *rcpts;
	int dot_ends;
} cases[] = {
    /* fields added at the end of the header; CRLF line ends */
    {"Subject: hi\nTo: a@x.example\n\nbody\n",
     "Subject: hi\r\nTo: a@x.example\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: "
     "me@h\r\n\r\nbody\r\n",
     "a@x.example,", 1},
    /* existing fields kept (any case), CRLF input kept */
    {"from: x@y\r\ndate: d\r\nmessage-id: <m>\r\nTo: b\r\n\r\nz\r\n",
     "from: x@y\r\ndate: d\r\nmessage-id: <m>\r\nTo: b\r\n\r\nz\r\n", "b,", 1},
    /* Bcc removed (folded too), its addresses recipients */
    {"To: a@x\nBcc: b@y,\n c@z\nCc: D <d@w>\nSubject: s\n\n",
     "To: a@x\r\nCc: D <d@w>\r\nSubject: s\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: "
     "me@h\r\n\r\n",
     "a@x,b@y,c@z,d@w,", 1},
    /* the lone dot ends the message, in the header or the body */
    {"To: a@x\n\nline\n.\nignored\n",
     "To: a@x\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\nline\r\n", "a@x,", 1},
    {"To: a@x\n.\nignored\n", "To: a@x\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\n",
     "a@x,", 1},
    /* -i: the dot is content; a line ".." is content either way */
    {"To: a@x\n\n.\n..\n",
     "To: a@x\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\n.\r\n..\r\n", "a@x,", 0},
    /* no header at all: fields added, then a blank line, then the text */
    {"hello world\nsecond\n",
     "Date: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\nhello world\r\nsecond\r\n", "", 1},
    /* an mbox From_ line is no field; a last line without LF is ended */
    {"From me Thu Jan  1 00:00:00 2026\nTo: a@x\n\nlast",
     "To: a@x\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\nlast\r\n", "a@x,", 1},
    /* empty input */
    {"", "Date: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\n", "", 1},
    /* bare CR inside a line is kept */
    {"To: a@x\n\na\rb\n",
     "To: a@x\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: me@h\r\n\r\na\rb\r\n", "a@x,", 1},
    /* groups, bare names */
    {"To: undisclosed-recipients:;\nCc: G: a, b@x;\n\n",
     "To: undisclosed-recipients:;\r\nCc: G: a, b@x;\r\nDate: DATE\r\nMessage-ID: <ID@h>\r\nFrom: "
     "me@h\r\n\r\n",
     "a,b@x,", 1},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sm_opts o = ADD;
		o.dot_ends = cases[i].dot_ends;
		struct outcome r = check_all(&o, cases[i].in);
		if (r.rc != 0)
			fail_msg("case %zu: %s", i, r.why);
		assert_string_equal(r.out, cases[i].out);
		assert_string_equal(r.rcpts, cases[i].rcpts);
		outcome_free(&r);
	}
}

static void test_without_t(void **state)
{
	(void)state;
	struct sm_opts o = {1, 0, NULL, NULL, NULL};
	struct outcome r = check_all(&o, "To: a@@x\nBcc: b@y\n\nz\n");
	assert_int_equal(r.rc, 0); /* not read without -t; Bcc still removed */
	assert_string_equal(r.out, "To: a@@x\r\n\r\nz\r\n");
	assert_string_equal(r.rcpts, "");
	outcome_free(&r);
}

static void test_refused(void **state)
{
	(void)state;
	struct outcome r = check_all(&ADD, "To: a@b@c\n\nz\n");
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.why, "To: junk after an address");
	outcome_free(&r);
	r = check_all(&ADD, "Cc: <unterminated\n\n");
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.why, "Cc: "));
	outcome_free(&r);
	/* the header section is capped, in one line or many */
	size_t n = SM_HEADER_MAX + 100;
	char *big = xmalloc(n + 1);
	memset(big, 'a', n);
	memcpy(big, "X-Long: ", 8);
	big[n] = '\0';
	r = run(&ADD, big, n, 0);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.why, "header section too large");
	outcome_free(&r);
	for (size_t i = 0; i + 10 < n; i += 10)
		memcpy(big + i, "X-A: abcd\n", 10);
	r = run(&ADD, big, n, 0);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.why, "header section too large");
	outcome_free(&r);
	/* too many recipients */
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "To: ");
	for (int i = 0; i <= SM_RCPTS_MAX; i++)
		buf_printf(&b, "u%d@x,", i);
	buf_append_str(&b, "\n\n");
	buf_append_byte(&b, 0);
	r = run(&ADD, (char *)b.data, b.len - 1, 0);
	assert_int_equal(r.rc, -1);
	assert_non_null(strstr(r.why, "more than"));
	outcome_free(&r);
	buf_free(&b);
	free(big);
}

static void test_long_body_line(void **state)
{
	(void)state;
	/* a body line longer than a flush: passed on whole, CRLF ended */
	size_t n = 70000; /* over one flush (64 KiB) */
	char *in = xmalloc(n + 16);
	memcpy(in, "To: a@x\n\n", 9);
	memset(in + 9, 'b', n);
	memcpy(in + 9 + n, "\r\n.\n", 5);
	struct sm_opts o = ADD;
	struct outcome whole = run(&o, in, strlen(in), 0);
	struct outcome bytes = run(&o, in, strlen(in), 1);
	assert_int_equal(whole.rc, 0);
	assert_string_equal(whole.out, bytes.out);
	const char *body = strstr(whole.out, "\r\n\r\n") + 4;
	assert_int_equal(strlen(body), n + 2);
	assert_int_equal(body[n], '\r');
	outcome_free(&whole);
	outcome_free(&bytes);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_without_t),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_long_body_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
