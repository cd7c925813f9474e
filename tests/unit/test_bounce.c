/*
 * Unit tests for the DSN builder (src/queue/bounce.c). The structure of
 * each DSN is checked twice: by a C scan of the raw bytes (CRLF only, line
 * lengths, the boundary appearing only where it belongs) and by an
 * independent parser, Python's standard email package, run as a child
 * process that asserts on the parts and the per-recipient fields.
 *
 * bounce_build is a builder, not a parser, so the "one byte at a time" rule
 * takes the form of a seeded random sweep of hostile inputs (addresses,
 * diagnostics, original messages), each checked for the same invariants.
 */
#include "unit_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bounce.h"
#include "buf.h"
#include "xmalloc.h"

extern char **environ;

#define HOST "mx.example.org"
#define QID  "Q1a2B3c4"
#define NOW  INT64_C(1795457360) /* Mon, 23 Nov 2026 18:09:20 +0000 */

static const char sample_msg[] = "Received: from client.example.net ([192.0.2.1])\r\n"
                                 "\tby mx.example.org with ESMTP id Q1a2B3c4\r\n"
                                 "From: Sender <sender@example.net>\r\n"
                                 "To: rcpt@example.com\r\n"
                                 "Subject: Test message\r\n"
                                 "Message-ID: <orig@example.net>\r\n"
                                 "\r\n"
                                 "Hello,\r\n"
                                 "this is the BODY-MARKER of the message.\r\n";

/* ---- helpers ---- */

static int data_fd(const void *p, size_t n)
{
	int fd = memfd_create("bounce-test", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

static void rq_init(struct dsn_request *rq, enum dsn_kind kind, int ret, const struct dsn_rcpt *r,
                    size_t n)
{
	memset(rq, 0, sizeof(*rq));
	rq->kind = kind;
	rq->reporting_mta = HOST;
	rq->queue_id = QID;
	rq->ret = ret;
	rq->sender = "sender@example.net";
	rq->arrival = NOW - 3600;
	rq->now = NOW;
	rq->rcpts = r;
	rq->n_rcpts = n;
}

/* Build; returns a NUL-terminated copy (the DSN itself holds no NUL). */
static char *build(const struct dsn_request *rq, const void *msg, size_t n, uint64_t max_full,
                   size_t *len)
{
	int fd = data_fd(msg, n);
	struct buf b;
	buf_init(&b, 64u << 20);
	char err[256] = "";
	int rc = bounce_build(rq, fd, n, max_full, &b, err, sizeof(err));
	if (rc != 0)
		fail_msg("bounce_build failed: %s", err);
	close(fd);
	char *s = buf_strdup(&b);
	if (getenv("BOUNCE_DUMP")) /* to see every DSN while debugging */
		fwrite(s, 1, b.len, stderr);
	*len = b.len;
	assert_int_equal(strlen(s), b.len);
	buf_free(&b);
	return s;
}

static size_t count(const char *hay, const char *needle)
{
	size_t c = 0, n = strlen(needle);
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + n, needle))
		c++;
	return c;
}

/* CRLF only, no line over 998 octets, ends with CRLF. */
static void check_lines(const char *s, size_t n)
{
	size_t col = 0;
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			assert_true(i + 1 < n && s[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(s[i] != '\n');
		assert_true(s[i] != '\0');
		col++;
		if (col > 998)
			fail_msg("line over 998 octets at offset %zu", i);
	}
	assert_memory_equal(s + n - 2, "\r\n", 2);
}

/* The boundary, from the top-level Content-Type. Caller frees. */
static char *boundary_of(const char *s)
{
	const char *p = strstr(s, "boundary=\"");
	assert_non_null(p);
	p += strlen("boundary=\"");
	const char *q = strchr(p, '"');
	assert_non_null(q);
	return xstrndup(p, (size_t)(q - p));
}

/* The boundary appears only in the parameter, three delimiters and the close. */
static void check_boundary(const char *s)
{
	char *b = boundary_of(s);
	assert_true(strlen(b) >= 1 && strlen(b) <= 70);
	assert_int_equal(count(s, b), 5);
	char *delim = xasprintf("\r\n--%s\r\n", b);
	char *close = xasprintf("\r\n--%s--\r\n", b);
	assert_int_equal(count(s, delim), 3);
	assert_int_equal(count(s, close), 1);
	free(delim);
	free(close);
	free(b);
}

/* The header section of the DSN itself (up to the first empty line). */
static char *top_header(const char *s)
{
	const char *e = strstr(s, "\r\n\r\n");
	assert_non_null(e);
	return xstrndup(s, (size_t)(e - s) + 2);
}

static void check_c(const char *s, size_t n)
{
	check_lines(s, n);
	check_boundary(s);
	char *h = top_header(s);
	assert_non_null(strstr(h, "From: MAILER-DAEMON@" HOST " (Mail Delivery System)\r\n"));
	assert_non_null(strstr(h, "Auto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(h, "MIME-Version: 1.0\r\n"));
	assert_non_null(strstr(h, "Date: "));
	free(h);
}

static const char py_script[] =
    "import sys, email, email.policy\n"
    "path, report, attach, needle = sys.argv[1:5]\n"
    "rcpts = [a.split('|') for a in sys.argv[5:]]\n"
    "raw = open(path, 'rb').read()\n"
    "msg = email.message_from_bytes(raw, policy=email.policy.default)\n"
    "assert not msg.defects, msg.defects\n"
    "assert msg.is_multipart()\n"
    "assert msg.get_content_type() == 'multipart/report', msg.get_content_type()\n"
    "assert msg.get_param('report-type') == report, msg.get_param('report-type')\n"
    "assert msg['Auto-Submitted'] == 'auto-replied'\n"
    "assert msg['From'].addresses[0].username == 'MAILER-DAEMON'\n"
    "assert msg['Date'].datetime is not None\n"
    "assert msg['Message-ID'].startswith('<')\n"
    "parts = msg.get_payload()\n"
    "assert len(parts) == 3, len(parts)\n"
    "for p in parts: assert not p.defects, p.defects\n"
    "assert parts[0].get_content_type() == 'text/plain'\n"
    "text = parts[0].get_content()\n"
    "ds = parts[1]\n"
    "if report == 'delivery-status':\n"
    "    assert ds.get_content_type() == 'message/delivery-status', ds.get_content_type()\n"
    "    blocks = ds.get_payload()\n"
    "else:\n"
    "    assert ds.get_content_type() == 'message/global-delivery-status'\n"
    "    chunk = raw.split(b'\\r\\n--' + msg.get_boundary().encode())[2]\n"
    "    raw = chunk.split(b'\\r\\n\\r\\n', 1)[1].decode('utf-8')\n"
    "    blocks = [email.message_from_string(b + '\\r\\n', policy=email.policy.default)\n"
    "              for b in raw.rstrip('\\r\\n').split('\\r\\n\\r\\n')]\n"
    "for b in blocks: assert not b.defects and not b.get_payload(), (b.defects, b.get_payload())\n"
    "assert blocks[0]['Reporting-MTA'] == 'dns; mx.example.org'\n"
    "assert blocks[0]['X-Raven-Queue-ID'] == 'Q1a2B3c4'\n"
    "if rcpts and rcpts[0][0].startswith('*'):\n"
    "    assert len(blocks) == 1 + int(rcpts[0][0][1:]), len(blocks)\n"
    "    rcpts = []\n"
    "else:\n"
    "    assert len(blocks) == 1 + len(rcpts), len(blocks)\n"
    "    assert blocks[0]['Arrival-Date'] is not None\n"
    "for b, (addr, action, status, orcpt, retry) in zip(blocks[1:], rcpts):\n"
    "    kind = 'utf-8; ' if any(ord(c) > 127 for c in addr) else 'rfc822; '\n"
    "    assert b['Final-Recipient'] == kind + addr, (b['Final-Recipient'], addr)\n"
    "    assert b['Action'] == action, (b['Action'], action)\n"
    "    assert b['Status'] == status, (b['Status'], status)\n"
    "    if orcpt: assert b['Original-Recipient'] == orcpt, b['Original-Recipient']\n"
    "    else: assert b['Original-Recipient'] is None\n"
    "    assert (b['Will-Retry-Until'] is not None) == (retry == '1')\n"
    "    assert '<' + addr + '>' in text, addr\n"
    "assert parts[2].get_content_type() == attach, parts[2].get_content_type()\n"
    "if attach in ('message/rfc822', 'message/global'):\n"
    "    inner = parts[2].get_payload()[0]\n"
    "    body = inner.as_bytes()\n"
    "else:\n"
    "    body = parts[2].get_payload(decode=True) or b''\n"
    "if needle != '-': assert needle.encode() in body, body[:200]\n"
    "if needle != '-' and attach.endswith('headers'): assert b'BODY-MARKER' not in body\n";

/*
 * Run the independent parser; 0 if all its assertions held. rcpts: one
 * "addr|action|status|orcpt|retry" string per recipient, NULL-terminated.
 */
static int py_run(const char *dsn, size_t n, const char *report, const char *attach,
                  const char *needle, const char *const *rcpts, int quiet)
{
	char *dir = unit_tmpdir();
	char *path = xasprintf("%s/dsn.eml", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(dsn, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	const char *argv[32] = {"/usr/bin/python3", "-c", py_script, path, report, attach, needle};
	size_t argc = 7;
	for (size_t i = 0; rcpts[i] != NULL && argc < 31; i++)
		argv[argc++] = rcpts[i];
	argv[argc] = NULL;
	pid_t pid;
	posix_spawn_file_actions_t fa;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	if (quiet) /* failure is the expected outcome: keep the log clean */
		assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0),
		                 0);
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unit_rmtree(dir);
	free(path);
	free(dir);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int py_check(const char *dsn, size_t n, const char *report, const char *attach,
                    const char *needle, const char *const *rcpts)
{
	return py_run(dsn, n, report, attach, needle, rcpts, 0);
}

/* The same, for a check that must fail. */
static int py_reject(const char *dsn, size_t n, const char *report, const char *attach,
                     const char *const *rcpts)
{
	return py_run(dsn, n, report, attach, "-", rcpts, 1);
}

static const struct dsn_rcpt rcpt_remote = {
    .addr = "rcpt@example.com",
    .action = "failed",
    .status = "5.1.1",
    .remote_mta = "mx.example.com",
    .diagnostic = "550 5.1.1 <rcpt@example.com>: Recipient address rejected: User unknown",
    .diagnostic_is_smtp = 1,
    .last_attempt = NOW - 10,
};

/* ---- tests ---- */

static void test_failure_headers_default(void **state)
{
	(void)state;
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_NONE, &rcpt_remote, 1);
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	char *h = top_header(s);
	assert_non_null(strstr(h, "To: <sender@example.net>\r\n"));
	assert_non_null(strstr(h, "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_non_null(strstr(h, "Date: Mon, 23 Nov 2026 18:09:20 +0000\r\n"));
	assert_non_null(strstr(h, "Message-ID: <" QID ".bounce.1795457360@" HOST ">\r\n"));
	assert_non_null(strstr(h, "report-type=delivery-status"));
	free(h);
	assert_non_null(strstr(s, "\r\nReporting-MTA: dns; " HOST "\r\n"));
	assert_non_null(
	    strstr(s, "\r\nFinal-Recipient: rfc822; rcpt@example.com\r\n"
	              "Action: failed\r\nStatus: 5.1.1\r\n"
	              "Remote-MTA: dns; mx.example.com\r\n"
	              "Diagnostic-Code: smtp; 550 5.1.1 <rcpt@example.com>: Recipient address\r\n"
	              " rejected: User unknown\r\n"
	              "Last-Attempt-Date: Mon, 23 Nov 2026 18:09:10 +0000\r\n"));
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n"));
	assert_null(strstr(s, "BODY-MARKER"));
	assert_null(strstr(s, "Original-Recipient"));
	assert_null(strstr(s, "Original-Envelope-Id"));
	assert_null(strstr(s, "Will-Retry-Until"));
	const char *r[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "<orig@example.net>", r), 0);
	/* the checker itself can fail: wrong expectations and a damaged DSN */
	const char *wrong[] = {"rcpt@example.com|failed|5.1.2||0", NULL};
	assert_int_equal(py_reject(s, n, "delivery-status", "text/rfc822-headers", wrong), -1);
	assert_int_equal(py_reject(s, n, "delivery-status", "message/rfc822", r), -1);
	char *dmg = xstrdup(s);
	char *p = strstr(dmg, "message/delivery-status");
	memcpy(p, "message/delivery-xtatus", strlen("message/delivery-xtatus"));
	assert_int_equal(py_reject(dmg, n, "delivery-status", "text/rfc822-headers", r), -1);
	free(dmg);
	/* deterministic: the same request gives the same bytes */
	size_t n2;
	char *s2 = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n2);
	assert_int_equal(n, n2);
	assert_memory_equal(s, s2, n);
	free(s2);
	free(s);
}

static void test_failure_full(void **state)
{
	(void)state;
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_FULL, &rcpt_remote, 1);
	rq.envid = "envelope-42";
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "Content-Type: message/rfc822\r\n"));
	assert_non_null(strstr(s, sample_msg)); /* verbatim */
	assert_non_null(strstr(s, "Original-Envelope-Id: envelope-42\r\nReporting-MTA:"));
	assert_non_null(strstr(s, "original message is attached"));
	const char *r[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
	assert_int_equal(py_check(s, n, "delivery-status", "message/rfc822", "BODY-MARKER", r), 0);
	free(s);

	/* exactly at the limit is still FULL; one octet less is not */
	size_t len = strlen(sample_msg);
	s = build(&rq, sample_msg, len, len, &n);
	assert_non_null(strstr(s, "Content-Type: message/rfc822\r\n"));
	free(s);
	s = build(&rq, sample_msg, len, len - 1, &n);
	assert_null(strstr(s, "message/rfc822"));
	free(s);
}

static void test_full_too_big(void **state)
{
	(void)state;
	struct buf m;
	buf_init(&m, 0);
	assert_int_equal(buf_append_str(&m, sample_msg), 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(buf_append_str(&m, "filler line of the body, 40 octets..\r\n"), 0);
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_FULL, &rcpt_remote, 1);
	size_t n;
	char *s = build(&rq, m.data, m.len, 100000, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n"));
	assert_non_null(strstr(s, "larger than 100000 octets"));
	assert_null(strstr(s, "BODY-MARKER"));
	assert_null(strstr(s, "filler"));
	assert_true(n < 10000);
	const char *r[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", r), 0);
	free(s);
	buf_free(&m);
}

static void test_full_unfit(void **state)
{
	(void)state;
	/* a 1500-octet body line cannot travel unchanged: headers only */
	struct buf m;
	buf_init(&m, 0);
	assert_int_equal(buf_append_str(&m, sample_msg), 0);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(buf_append_byte(&m, 'x'), 0);
	assert_int_equal(buf_append_str(&m, "\r\n"), 0);
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_FULL, &rcpt_remote, 1);
	size_t n;
	char *s = build(&rq, m.data, m.len, 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "could not be returned unchanged"));
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n"));
	const char *r[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", r), 0);
	free(s);
	buf_free(&m);
}

static void test_multiple_rcpts(void **state)
{
	(void)state;
	struct dsn_rcpt r[3] = {
	    rcpt_remote,
	    {.addr = "local@example.org",
	     .orcpt = "rfc822;alias+2Bx@example.org",
	     .action = "failed",
	     .status = "5.2.2",
	     .diagnostic = "mailbox full"},
	    {.addr = "third@example.com",
	     .orcpt = "rfc822;third@example.com",
	     .action = "failed",
	     .status = "5.4.4",
	     .diagnostic = "Host or domain name not found"},
	};
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_HDRS, r, 3);
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "\r\n\r\nOriginal-Recipient: rfc822; alias+x@example.org\r\n"
	                          "Final-Recipient: rfc822; local@example.org\r\n"
	                          "Action: failed\r\nStatus: 5.2.2\r\n"
	                          "Diagnostic-Code: X-Raven; mailbox full\r\n\r\n"));
	assert_int_equal(count(s, "Final-Recipient:"), 3);
	assert_non_null(strstr(s, "<local@example.org>: mailbox full (status 5.2.2)"));
	const char *e[] = {"rcpt@example.com|failed|5.1.1||0",
	                   "local@example.org|failed|5.2.2|rfc822; alias+x@example.org|0",
	                   "third@example.com|failed|5.4.4|rfc822; third@example.com|0", NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", e), 0);
	free(s);
}

static void test_delay(void **state)
{
	(void)state;
	struct dsn_rcpt r = {.addr = "slow@example.com",
	                     .action = "delayed",
	                     .status = "4.4.1",
	                     .remote_mta = "mx.slow.example",
	                     .diagnostic = "connect to mx.slow.example: Connection timed out",
	                     .diagnostic_is_smtp = 0,
	                     .last_attempt = NOW - 60,
	                     .retry_until = NOW + 4 * 86400};
	struct dsn_request rq;
	/* RET=FULL does not apply to delays */
	rq_init(&rq, DSN_DELAY, RET_FULL, &r, 1);
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(s, "Message-ID: <" QID ".delay."));
	assert_non_null(strstr(s, "Will-Retry-Until: Fri, 27 Nov 2026 18:09:20 +0000\r\n"));
	assert_non_null(strstr(s, "keep trying until Fri, 27 Nov 2026 18:09:20 +0000"));
	assert_non_null(strstr(s, "Content-Type: text/rfc822-headers\r\n"));
	assert_null(strstr(s, "BODY-MARKER"));
	const char *e[] = {"slow@example.com|delayed|4.4.1||1", NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", e), 0);
	free(s);
}

static void test_success(void **state)
{
	(void)state;
	struct dsn_rcpt r[2] = {
	    {.addr = "ok@example.com",
	     .action = "relayed",
	     .status = "2.0.0",
	     .remote_mta = "mx.example.com",
	     .diagnostic = "250 2.0.0 Ok: queued as ABC",
	     .diagnostic_is_smtp = 1,
	     .retry_until = NOW + 100 /* ignored: not delayed */},
	    {.addr = "me@localhost", .action = NULL, .status = NULL},
	};
	struct dsn_request rq;
	rq_init(&rq, DSN_SUCCESS, RET_FULL, r, 2);
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "Subject: Successful Mail Delivery Report\r\n"));
	assert_null(strstr(s, "Will-Retry-Until"));
	assert_null(strstr(s, "BODY-MARKER"));
	const char *e[] = {"ok@example.com|relayed|2.0.0||0", "me@localhost|delivered|2.0.0||0",
	                   NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", e), 0);
	free(s);
}

static void test_injection(void **state)
{
	(void)state;
	struct dsn_rcpt r = {
	    .addr = "victim@example.com\r\nBcc: a@evil.example",
	    .orcpt = "rfc822;x+0D+0ABcc:+20b@evil.example+00z",
	    .action = "failed",
	    .status = "5.0.0\r\nX-Evil: 1",
	    .remote_mta = "mx.evil\r\nX-Evil: 2",
	    .diagnostic = "550-5.1.1 first line\r\n550 5.1.1 second\r\n\r\nX-Evil: 3\r\n.\r\n"
	                  "--=_Raven_Q1a2B3c4_1795457360\r\n\x01\x7f\t\xff\xc3\xa9 end\n\r",
	    .diagnostic_is_smtp = 1,
	};
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_FULL, &r, 1);
	rq.envid = "env\r\nX-Evil: 4";
	rq.sender = "s@example.net>\r\nBcc: c@evil.example";
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_null(strstr(s, "\r\nBcc:"));
	assert_null(strstr(s, "\r\nX-Evil"));
	assert_null(strstr(s, "\r\n550 5.1.1"));
	assert_null(strstr(s, "\r\n.\r\n"));
	assert_non_null(
	    strstr(s, "Diagnostic-Code: smtp; 550-5.1.1 first line 550 5.1.1 second X-Evil: 3 .\r\n"
	              " --=_Raven_Q1a2B3c4_1795457360 ??? end\r\n"));
	/* the malformed status is replaced by the one the diagnostic opens with */
	assert_non_null(strstr(s, "Status: 5.1.1\r\n"));
	/* the recipient's own boundary guess was in the diagnostic: another one is used */
	char *b = boundary_of(s);
	assert_string_not_equal(b, "=_Raven_Q1a2B3c4_1795457360");
	free(b);
	/* the status part is ASCII; the human part keeps valid UTF-8 only */
	assert_non_null(
	    strstr(s, "    --=_Raven_Q1a2B3c4_1795457360 ?\xc3\xa9 end (status 5.1.1)\r\n"));
	assert_null(strstr(s, "\xff"));
	/* an ORCPT that decodes to controls is shown in its xtext form */
	assert_non_null(
	    strstr(s, "\r\nOriginal-Recipient: rfc822; x+0D+0ABcc:+20b@evil.example+00z\r\n"));
	const char *e[] = {"victim@example.com Bcc: a@evil.example|failed|5.1.1|"
	                   "rfc822; x+0D+0ABcc:+20b@evil.example+00z|0",
	                   NULL};
	assert_int_equal(py_check(s, n, "delivery-status", "message/rfc822", "BODY-MARKER", e), 0);
	free(s);
}

/* Without a status of its own, a recipient's Status is the code its
 * diagnostic opens with, when that code is of the action's class. */
static void test_status_from_diagnostic(void **state)
{
	(void)state;
	static const struct {
		enum dsn_kind kind;
		const char *status, *diagnostic, *want;
	} cases[] = {
	    {DSN_FAILURE, NULL, "5.2.0 maildir: open /m/a: Not a directory", "5.2.0"},
	    {DSN_FAILURE, NULL, "550 5.1.1 no such user", "5.1.1"},
	    {DSN_FAILURE, NULL, "552-5.2.2 over quota", "5.2.2"},
	    {DSN_FAILURE, NULL, "5.7.1; refused", "5.7.1"},
	    {DSN_FAILURE, "5.3.0", "5.2.0 ignored: the caller said", "5.3.0"},
	    {DSN_FAILURE, NULL, "4.2.0 a temporary code", "5.0.0"},
	    {DSN_FAILURE, NULL, "5.2.0x no word boundary", "5.0.0"},
	    {DSN_FAILURE, NULL, "5.1234.1 too long", "5.0.0"},
	    {DSN_FAILURE, NULL, "550 no code at all", "5.0.0"},
	    {DSN_FAILURE, NULL, NULL, "5.0.0"},
	    {DSN_DELAY, NULL, "4.2.2 maildir: write: Disk quota exceeded", "4.2.2"},
	    {DSN_DELAY, NULL, "451 4.3.0 try later", "4.3.0"},
	    {DSN_DELAY, NULL, "5.2.0 not of the class", "4.0.0"},
	    {DSN_SUCCESS, NULL, "2.0.0 delivered to maildir /m/a", "2.0.0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsn_rcpt r = {.addr = "bob@example.org",
		                     .status = cases[i].status,
		                     .diagnostic = cases[i].diagnostic};
		struct dsn_request rq;
		rq_init(&rq, cases[i].kind, RET_HDRS, &r, 1);
		size_t n;
		char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
		char *want = xasprintf("\r\nStatus: %s\r\n", cases[i].want);
		if (strstr(s, want) == NULL)
			fail_msg("case %zu (%s): want Status %s", i,
			         cases[i].diagnostic ? cases[i].diagnostic : "(null)",
			         cases[i].want);
		free(want);
		free(s);
	}
}

static void test_long_diagnostic(void **state)
{
	(void)state;
	char *word = xmalloc(5001);
	memset(word, 'w', 5000);
	word[5000] = '\0';
	char *spaced = xmalloc(6001);
	for (size_t i = 0; i < 6000; i++)
		spaced[i] = i % 7 == 6 ? ' ' : 'a';
	spaced[6000] = '\0';
	struct dsn_rcpt r[2] = {rcpt_remote, rcpt_remote};
	r[0].diagnostic = word;
	r[1].addr = "second@example.com";
	r[1].diagnostic = spaced;
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_NONE, r, 2);
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	/* cut in both parts, for both recipients */
	assert_int_equal(count(s, "...\r\n"), 2);
	assert_int_equal(count(s, "... (status 5.1.1)\r\n"), 2);
	const char *e[] = {"rcpt@example.com|failed|5.1.1||0", "second@example.com|failed|5.1.1||0",
	                   NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", e), 0);
	free(s);
	free(word);
	free(spaced);
}

static void test_boundary_collision(void **state)
{
	(void)state;
	/* the first candidate, planted in the returned message, must be avoided */
	struct buf m;
	buf_init(&m, 0);
	assert_int_equal(buf_append_str(&m, "X-Trap: --=_Raven_Q1a2B3c4_1795457360\r\n"), 0);
	assert_int_equal(buf_append_str(&m, sample_msg), 0);
	assert_int_equal(buf_append_str(&m, "--=_Raven_Q1a2B3c4_1795457360--\r\n"), 0);
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_FULL, &rcpt_remote, 1);
	size_t n;
	char *s = build(&rq, m.data, m.len, 1u << 20, &n);
	check_c(s, n);
	char *b = boundary_of(s);
	assert_string_not_equal(b, "=_Raven_Q1a2B3c4_1795457360");
	assert_non_null(strstr(b, "=_Raven_"));
	free(b);
	const char *e[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
	assert_int_equal(py_check(s, n, "delivery-status", "message/rfc822", "BODY-MARKER", e), 0);
	free(s);

	/* without the trap the first candidate is used */
	s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	b = boundary_of(s);
	assert_string_equal(b, "=_Raven_Q1a2B3c4_1795457360");
	free(b);
	free(s);
	buf_free(&m);
}

struct odd {
	const char *name;
	const char *msg;
	size_t len;
	const char *needle; /* in the attachment, "-" for none */
};

static void test_odd_messages(void **state)
{
	(void)state;
	static const char nul_msg[] = "Subject: nul\r\n\r\nbody\0with nul\r\n";
	const struct odd odd[] = {
	    {"empty", "", 0, "-"},
	    {"headers only, no blank line", "Subject: only\r\nX-A: b\r\n", 22, "only"},
	    {"no final CRLF", "Subject: nofinal\r\n\r\nlast", 24, "nofinal"},
	    {"header without CRLF", "Subject: bare", 13, "bare"},
	    {"body only", "\r\njust a body BODY-MARKER\r\n", 27, "-"},
	    {"bare LF", "Subject: lf\nX-B: c\n\nbody BODY-MARKER\n", 36, "lf"},
	    {"bare CR", "Subject: cr\rX-C: d\r\r\nbody\r\n", 26, "cr"},
	    {"NUL in body", nul_msg, sizeof(nul_msg) - 1, "nul"},
	    {"controls in header", "Subject: a\x01\x1b[31mred\x7f\r\n\r\nb\r\n", 25, "red"},
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		for (int ret = RET_NONE; ret <= RET_HDRS; ret++) {
			struct dsn_request rq;
			rq_init(&rq, DSN_FAILURE, ret, &rcpt_remote, 1);
			size_t n;
			char *s = build(&rq, odd[i].msg, odd[i].len, 1u << 20, &n);
			print_message("# %s ret=%d\n", odd[i].name, ret);
			check_c(s, n);
			const char *attach = strstr(s, "Content-Type: message/rfc822\r\n")
			                         ? "message/rfc822"
			                         : "text/rfc822-headers";
			const char *e[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
			assert_int_equal(
			    py_check(s, n, "delivery-status", attach, odd[i].needle, e), 0);
			free(s);
		}
	}
}

static void test_headers_cap(void **state)
{
	(void)state;
	/* 200 KiB of header lines and no blank line: cut at a line, <= 64 KiB */
	struct buf m;
	buf_init(&m, 0);
	for (int i = 0; i < 4000; i++)
		assert_int_equal(buf_printf(&m, "X-Header-%05d: %s\r\n", i,
		                            "some value padding padding padding"),
		                 0);
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_HDRS, &rcpt_remote, 1);
	size_t n;
	char *s = build(&rq, m.data, m.len, 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "X-Header-00000: "));
	assert_null(strstr(s, "X-Header-03999: "));
	assert_true(n < BOUNCE_HDRS_MAX + 4096);
	/* the last kept header line is whole: it is followed by the CRLF the
	 * delimiter owns and then the boundary */
	const char *last = NULL;
	for (const char *p = strstr(s, "\r\nX-Header-"); p != NULL;
	     p = strstr(p + 2, "\r\nX-Header-"))
		last = p + 2;
	assert_non_null(last);
	assert_memory_equal(last + 16, "some value padding padding padding\r\n\r\n--", 40);
	const char *e[] = {"rcpt@example.com|failed|5.1.1||0", NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "X-Header-01000", e), 0);
	free(s);

	/* a 3000-octet header line is folded, not kept whole */
	buf_reset(&m);
	assert_int_equal(buf_append_str(&m, "X-Long: "), 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(buf_append_byte(&m, 'L'), 0);
	assert_int_equal(buf_append_str(&m, "\r\n\r\nbody\r\n"), 0);
	s = build(&rq, m.data, m.len, 1u << 20, &n);
	check_c(s, n);
	assert_int_equal(py_check(s, n, "delivery-status", "text/rfc822-headers", "X-Long", e), 0);
	free(s);
	buf_free(&m);
}

static void test_defaults(void **state)
{
	(void)state;
	struct dsn_rcpt r[4] = {
	    {.addr = "a@example.com", .action = "bogus", .status = "5.01.1"},
	    {.addr = "b@example.com", .action = NULL, .status = "9.9.9"},
	    {.addr = "c@example.com", .action = "delayed", .status = "4.7"},
	    {.addr = "d@example.com", .action = "expanded", .status = "2.1.5"},
	};
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_NONE, r, 4);
	rq.arrival = 0;
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_null(strstr(s, "Arrival-Date"));
	assert_null(strstr(s, "Last-Attempt-Date"));
	assert_null(strstr(s, "Diagnostic-Code"));
	assert_null(strstr(s, "Remote-MTA"));
	free(s);
	rq.arrival = NOW - 1;
	s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	const char *e[] = {"a@example.com|failed|5.0.0||0", "b@example.com|failed|5.0.0||0",
	                   "c@example.com|delayed|4.0.0||0", "d@example.com|expanded|2.1.5||0",
	                   NULL};
	assert_int_equal(
	    py_check(s, n, "delivery-status", "text/rfc822-headers", "Test message", e), 0);
	free(s);
}

static void test_global(void **state)
{
	(void)state;
	struct dsn_rcpt r = rcpt_remote;
	r.addr = "j\xc3\xb6rg@b\xc3\xbc"
	         "cher.example";
	r.diagnostic = "550 unknown j\xc3\xb6rg \xff";
	struct dsn_request rq;
	rq_init(&rq, DSN_FAILURE, RET_FULL, &r, 1);
	size_t n;
	char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	check_c(s, n);
	assert_non_null(strstr(s, "report-type=global-delivery-status"));
	assert_non_null(strstr(s, "Content-Type: message/global-delivery-status\r\n"
	                          "Content-Transfer-Encoding: 8bit\r\n"));
	assert_non_null(strstr(s, "Final-Recipient: utf-8; j\xc3\xb6rg@b\xc3\xbc"
	                          "cher.example\r\n"));
	assert_non_null(strstr(s, "Diagnostic-Code: smtp; 550 unknown j\xc3\xb6rg ?\r\n"));
	assert_non_null(strstr(s, "X-Raven-Sender: rfc822; sender@example.net\r\n"));
	assert_non_null(strstr(s, "Content-Type: message/global\r\n"));
	assert_true(bounce_is_8bit(s, n));
	const char *e[] = {"j\xc3\xb6rg@b\xc3\xbc"
	                   "cher.example|failed|5.1.1||0",
	                   NULL};
	assert_int_equal(py_check(s, n, "global-delivery-status", "message/global", "-", e), 0);
	free(s);

	/* ASCII mail gives a 7bit DSN */
	rq_init(&rq, DSN_FAILURE, RET_FULL, &rcpt_remote, 1);
	s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
	assert_false(bounce_is_8bit(s, n));
	assert_non_null(strstr(s, "\r\nContent-Transfer-Encoding: 7bit\r\n\r\nThis is a MIME"));
	free(s);
}

/*
 * The ORCPT is kept as the client gave it ("addr-type;xtext" or RFC 6533
 * "utf-8;..."); the DSN shows it decoded when the result is UTF-8 without
 * control characters (a non-ASCII one makes the DSN global, RFC 6533), and
 * otherwise as given, so that no control character and no octet that is
 * not UTF-8 ever reaches the report.
 */
static void test_orcpt_rendering(void **state)
{
	(void)state;
	static const struct {
		const char *orcpt, *shown;
		int global;
	} cases[] = {
	    /* Postfix relaying an SMTPUTF8 recipient */
	    {"rfc822;pf-bj+C3+B8rn@localhost", "utf-8; pf-bj\xc3\xb8rn@localhost", 1},
	    {"rfc822;pf-bj+c3+b8rn@localhost", "utf-8; pf-bj\xc3\xb8rn@localhost", 1},
	    {"utf-8;pf-bj\\x{F8}rn@localhost", "utf-8; pf-bj\xc3\xb8rn@localhost", 1},
	    {"UTF-8;pf-bj\xc3\xb8rn@localhost", "utf-8; pf-bj\xc3\xb8rn@localhost", 1},
	    {"utf-8;\\x{1F600}\\x{5C}\\x{2B}@b", "utf-8; \xf0\x9f\x98\x80\\+@b", 1},
	    {"utf-8;a+b@c", "utf-8; a+b@c", 0},
	    {"rfc822;a+40b+2Bc@d", "rfc822; a@b+c@d", 0},
	    {"RFC822;A@B", "rfc822; A@B", 0},
	    /* not showable decoded: as given */
	    {"rfc822;x+7Fy@b", "rfc822; x+7Fy@b", 0},
	    {"rfc822;x+FFy@b", "rfc822; x+FFy@b", 0},
	    {"rfc822;x+C3y@b", "rfc822; x+C3y@b", 0},
	    {"rfc822;x+00y@b", "rfc822; x+00y@b", 0},
	    {"utf-8;a\\x{7F}b@c", "utf-8; a\\x{7F}b@c", 0},
	    {"utf-8;a\\x{01}\xc3\xb8@c", "utf-8; a\\x{01}\xc3\xb8@c", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsn_rcpt r = rcpt_remote;
		r.orcpt = cases[i].orcpt;
		struct dsn_request rq;
		rq_init(&rq, DSN_FAILURE, RET_HDRS, &r, 1);
		size_t n;
		char *s = build(&rq, sample_msg, strlen(sample_msg), 1u << 20, &n);
		check_c(s, n);
		char *want = xasprintf("\r\nOriginal-Recipient: %s\r\n"
		                       "Final-Recipient: rfc822; rcpt@example.com\r\n",
		                       cases[i].shown);
		if (strstr(s, want) == NULL)
			fail_msg("ORCPT \"%s\": no \"%s\" in\n%s", cases[i].orcpt, want, s);
		if (bounce_is_8bit(s, n) != cases[i].global)
			fail_msg("ORCPT \"%s\": DSN %s8-bit", cases[i].orcpt,
			         cases[i].global ? "not " : "");
		assert_null(memchr(s, 0x7f, n));
		for (size_t k = 0; k < n; k++)
			if ((uint8_t)s[k] < 0x20 && s[k] != '\r' && s[k] != '\n' && s[k] != '\t')
				fail_msg("ORCPT \"%s\": control octet %#x in the DSN",
				         cases[i].orcpt, (unsigned)(uint8_t)s[k]);
		char *spec = xasprintf("rcpt@example.com|failed|5.1.1|%s|0", cases[i].shown);
		const char *e[] = {spec, NULL};
		const char *report = cases[i].global ? "global-delivery-status" : "delivery-status";
		const char *attach =
		    cases[i].global ? "message/global-headers" : "text/rfc822-headers";
		/* (the checker cannot decode message/global-headers to look inside) */
		if (py_check(s, n, report, attach, cases[i].global ? "-" : "Test message", e) != 0)
			fail_msg("ORCPT \"%s\": rejected by the independent parser",
			         cases[i].orcpt);
		free(spec);
		free(want);
		free(s);
	}
}

static void expect_fail(const struct dsn_request *rq, int fd, uint64_t size, const char *why)
{
	struct buf b;
	buf_init(&b, 1u << 20);
	assert_int_equal(buf_append_str(&b, "keep"), 0);
	char err[256] = "";
	assert_int_equal(bounce_build(rq, fd, size, 1u << 20, &b, err, sizeof(err)), -1);
	if (strstr(err, why) == NULL)
		fail_msg("error '%s' lacks '%s'", err, why);
	assert_int_equal(b.len, 4); /* out left as it was */
	assert_memory_equal(b.data, "keep", 4);
	buf_free(&b);
}

static void test_errors(void **state)
{
	(void)state;
	int fd = data_fd(sample_msg, strlen(sample_msg));
	uint64_t size = strlen(sample_msg);
	struct dsn_request rq;
	struct dsn_rcpt r = rcpt_remote;

	rq_init(&rq, DSN_FAILURE, RET_NONE, &r, 1);
	rq.sender = "";
	expect_fail(&rq, fd, size, "never bounced");
	rq.sender = NULL;
	expect_fail(&rq, fd, size, "never bounced");

	rq_init(&rq, DSN_FAILURE, RET_NONE, &r, 1);
	rq.reporting_mta = "bad host\r\n";
	expect_fail(&rq, fd, size, "reporting MTA");
	rq.reporting_mta = "";
	expect_fail(&rq, fd, size, "reporting MTA");

	rq_init(&rq, DSN_FAILURE, RET_NONE, &r, 1);
	rq.queue_id = "../etc";
	expect_fail(&rq, fd, size, "queue id");
	rq.queue_id = NULL;
	expect_fail(&rq, fd, size, "queue id");

	rq_init(&rq, DSN_FAILURE, RET_NONE, &r, 0);
	expect_fail(&rq, fd, size, "no recipients");

	r.addr = "";
	rq_init(&rq, DSN_FAILURE, RET_NONE, &r, 1);
	expect_fail(&rq, fd, size, "without an address");
	r.addr = rcpt_remote.addr;

	rq_init(&rq, (enum dsn_kind)7, RET_NONE, &r, 1);
	expect_fail(&rq, fd, size, "kind");

	rq_init(&rq, DSN_FAILURE, RET_NONE, &r, 1);
	rq.now = -5;
	expect_fail(&rq, fd, size, "time");

	/* the spool file is shorter than the envelope says */
	rq_init(&rq, DSN_FAILURE, RET_FULL, &r, 1);
	expect_fail(&rq, fd, size + 10, "shorter");
	rq_init(&rq, DSN_FAILURE, RET_HDRS, &r, 1);
	expect_fail(&rq, fd, size + 10, "shorter");
	expect_fail(&rq, -1, size, "reading");

	/* the output cap */
	struct buf b;
	buf_init(&b, 600);
	char err[128];
	assert_int_equal(bounce_build(&rq, fd, size, 0, &b, err, sizeof(err)), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	/* and a NULL err is allowed */
	buf_init(&b, 600);
	assert_int_equal(bounce_build(&rq, fd, size, 0, &b, NULL, 0), -1);
	buf_free(&b);
	close(fd);
}

/* xorshift: a fixed seed keeps the sweep reproducible */
static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

/* Hostile strings; ascii: 7-bit only, which keeps the DSN out of RFC 6533 mode. */
static char *rnd_str(uint64_t *seed, size_t max, int ascii)
{
	static const char pick[] = "\r\n\t\0 ;<>\"\\.-+@=_:a\x80\xc3\xa9\xff";
	size_t n = rnd(seed) % (max + 1);
	char *s = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		s[i] = rnd(seed) % 2 ? (char)pick[rnd(seed) % (sizeof(pick) - 1)]
		                     : (char)(rnd(seed) % 256);
		if (ascii)
			s[i] &= 0x7f;
		if (s[i] == '\0')
			s[i] = 'z';
	}
	s[n] = '\0';
	return s;
}

static void test_random_sweep(void **state)
{
	(void)state;
	uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
	for (int round = 0; round < 300; round++) {
		struct dsn_rcpt r[3];
		char *strs[3][5];
		size_t nr = 1 + rnd(&seed) % 3;
		for (size_t i = 0; i < nr; i++) {
			for (int k = 0; k < 5; k++)
				strs[i][k] = rnd_str(&seed, k == 3 ? 3000 : 120, round % 2);
			if (strs[i][0][0] == '\0') {
				free(strs[i][0]);
				strs[i][0] = xstrdup("x@y");
			}
			r[i] = (struct dsn_rcpt){.addr = strs[i][0],
			                         .orcpt = strs[i][1],
			                         .status = strs[i][2],
			                         .diagnostic = strs[i][3],
			                         .remote_mta = strs[i][4],
			                         .diagnostic_is_smtp = (int)(rnd(&seed) % 2),
			                         .last_attempt = (int64_t)(rnd(&seed) % 2) * NOW,
			                         .retry_until = (int64_t)(rnd(&seed) % 2) * NOW};
		}
		char *msg = rnd_str(&seed, 4000, 0);
		char *snd = rnd_str(&seed, 200, round % 2);
		char *envid = rnd_str(&seed, 100, 0);
		struct dsn_request rq;
		rq_init(&rq, (enum dsn_kind)(1 + rnd(&seed) % 3), (int)(rnd(&seed) % 3), r, nr);
		rq.sender = snd[0] ? snd : "s@x";
		rq.envid = envid;
		size_t n;
		char *s = build(&rq, msg, strlen(msg), rnd(&seed) % 5000, &n);
		check_c(s, n);
		char *h = top_header(s);
		assert_int_equal(count(h, "\r\nTo:"), 1);
		assert_int_equal(count(s, "\r\nFinal-Recipient:"), nr);
		if (round % 10 < 2) { /* the independent parser, on a sample */
			char *cnt = xasprintf("*%zu", nr);
			const char *e[] = {cnt, NULL};
			int global = strstr(h, "global-delivery-status") != NULL;
			const char *att =
			    strstr(s, "Content-Type: message/rfc822\r\n")   ? "message/rfc822"
			    : strstr(s, "Content-Type: message/global\r\n") ? "message/global"
			    : global ? "message/global-headers"
			             : "text/rfc822-headers";
			assert_int_equal(
			    py_check(s, n, global ? "global-delivery-status" : "delivery-status",
			             att, "-", e),
			    0);
			free(cnt);
		}
		free(h);
		free(s);
		free(msg);
		free(snd);
		free(envid);
		for (size_t i = 0; i < nr; i++)
			for (int k = 0; k < 5; k++)
				free(strs[i][k]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failure_headers_default),
	    cmocka_unit_test(test_failure_full),
	    cmocka_unit_test(test_full_too_big),
	    cmocka_unit_test(test_full_unfit),
	    cmocka_unit_test(test_multiple_rcpts),
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_success),
	    cmocka_unit_test(test_injection),
	    cmocka_unit_test(test_status_from_diagnostic),
	    cmocka_unit_test(test_long_diagnostic),
	    cmocka_unit_test(test_boundary_collision),
	    cmocka_unit_test(test_odd_messages),
	    cmocka_unit_test(test_headers_cap),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_global),
	    cmocka_unit_test(test_orcpt_rendering),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_random_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
