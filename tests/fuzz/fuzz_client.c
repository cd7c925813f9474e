/*
 * libFuzzer target driving the SMTP client engine (src/relay/client.c)
 * through whole sessions against arbitrary server octets.
 *
 * Input: byte 0 chooses the configuration (TLS none/may/require, implicit
 * TLS, credentials, no_pipelining, strict_8bitmime, whether handshakes
 * succeed), byte 1 the messages (8-bit, SMTPUTF8, RET, ENVID, 1..4
 * recipients with NOTIFY/ORCPT); the rest is the server's octets as a
 * sequence of reads, each a length octet and that many octets. Like a real
 * caller, the driver feeds a whole read before it acts on what the engine
 * wants (a new message, TLS), except for the body, sent as soon as asked.
 * Before the third message it probes the idle connection with client_rset().
 *
 * Each session runs three times, its reads fed whole, one byte at a time
 * and three at a time: the transcripts (every octet sent, every outcome)
 * must be identical. Invariants checked on the way (abort() on failure):
 * only CRLF-terminated lines go out; the last line before a handshake is
 * STARTTLS; credentials and AUTH never go out in clear, nor MAIL when TLS is
 * required; when a transaction ends every recipient is final, with a code
 * of its class (OK: 2xx at end of data; TEMP: 4xx or ours; PERM: 5xx or
 * ours); timeouts are RFC 5321's.
 *
 * Built with FUZZ_CLIENT_LMTP 1 (fuzz_client_lmtp.c), the same sessions run
 * in LMTP mode (RFC 2033): then neither HELO nor EHLO nor any DSN
 * parameter may go out, and every outcome stays final and of its class
 * with one reply per accepted recipient after the data.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client.h"

#ifndef FUZZ_CLIENT_LMTP
#define FUZZ_CLIENT_LMTP 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 3

struct run {
	struct buf tr;     /* transcript */
	int last_starttls; /* the last line sent was STARTTLS */
};

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Take the engine's output into the transcript, checking every line. */
static void take_output(struct client *c, const struct client_config *cfg, struct run *r)
{
	size_t len;
	const uint8_t *p = client_output(c, &len);
	if (len == 0)
		return;
	check(len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n');
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n')
			check(i > 0 && p[i - 1] == '\r');
		if (p[i] == '\r')
			check(i + 1 < len && p[i + 1] == '\n');
		if (p[i] != '\n')
			continue;
		const char *line = (const char *)p + start;
		size_t ll = i + 1 - start;
		if (!client_tls_active(c)) {
			check(!(ll >= 4 && memcmp(line, "AUTH", 4) == 0));
			/* base64 of "user" and of "\0user\0pass" (LOGIN, PLAIN) */
			check(!(ll >= 8 && memcmp(line, "dXNlcg==", 8) == 0));
			check(!(ll >= 8 && memcmp(line, "cGFzcw==", 8) == 0));
			if (cfg->tls == CLIENT_TLS_REQUIRE)
				check(!(ll >= 4 && memcmp(line, "MAIL", 4) == 0));
		}
		if (cfg->lmtp) {
			check(!(ll >= 5 &&
			        (memcmp(line, "HELO ", 5) == 0 || memcmp(line, "EHLO ", 5) == 0)));
			check(memmem(line, ll, " NOTIFY=", 8) == NULL &&
			      memmem(line, ll, " ORCPT=", 7) == NULL &&
			      memmem(line, ll, " RET=", 5) == NULL &&
			      memmem(line, ll, " ENVID=", 7) == NULL);
		}
		r->last_starttls = ll == 10 && memcmp(line, "STARTTLS\r\n", 10) == 0;
		start = i + 1;
	}
	buf_printf(&r->tr, "C:%zu:", len);
	buf_append(&r->tr, p, len);
	client_output_done(c, len);
}

static void check_results(struct client *c, struct run *r, size_t expect_n)
{
	size_t n;
	const struct client_result *res = client_results(c, &n);
	check(n == expect_n);
	for (size_t i = 0; i < n; i++) {
		const struct client_result *x = &res[i];
		check(x->text != NULL);
		switch (x->status) {
		case CLIENT_OK:
			check(x->code / 100 == 2 && x->stage == CLIENT_STAGE_EOD);
			break;
		case CLIENT_TEMP:
			check(x->code == 0 || x->code / 100 == 4);
			check(!x->relayed);
			break;
		case CLIENT_PERM:
			check(x->code == 0 || x->code / 100 == 5);
			check(!x->relayed);
			break;
		default:
			abort(); /* nothing may stay pending */
		}
		buf_printf(&r->tr, "R%zu:%d:%d:%d:%s:%d:%s\n", i, x->status, x->stage, x->code,
		           x->enh, x->relayed, x->text);
	}
}

static void check_timeout(const struct client *c)
{
	unsigned t = client_timeout(c);
	check(t == 0 || t == 120 || t == 180 || t == 300 || t == 600);
	enum client_want w = client_want(c);
	check((t == 0) == (w == CLIENT_WANT_MESSAGE || w == CLIENT_WANT_CLOSE));
}

static void run_session(uint8_t conf, uint8_t mflags, const uint8_t *in, size_t n, size_t step,
                        struct run *r)
{
	struct client_config cfg = {.helo_name = "fuzz.test"};
	cfg.tls = (enum client_tls)((conf & 3) % 3);
	cfg.tls_active = (conf >> 2) & 1;
	if (conf & 8) {
		cfg.auth_user = "user";
		cfg.auth_pass = "pass";
	}
	cfg.no_pipelining = (conf >> 4) & 1;
	cfg.strict_8bitmime = (conf >> 5) & 1;
	int tls_ok = !((conf >> 6) & 1);
	cfg.lmtp = FUZZ_CLIENT_LMTP;

	struct client_rcpt rcpts[4] = {
	    {"a@example.org", NULL, 0},
	    {"b@example.org", "rfc822;b+2Bx@example.org", CLIENT_NOTIFY_SUCCESS},
	    {"j\xc3\xb6rg@example.org", NULL, CLIENT_NOTIFY_FAILURE | CLIENT_NOTIFY_DELAY},
	    {"d@example.org", "x;bad+zz", CLIENT_NOTIFY_NEVER},
	};
	struct client_msg m = {.sender = (mflags & 1) ? "" : "s@fuzz.test",
	                       .size = (mflags & 2) ? 5000 : 0,
	                       .eightbit = (mflags >> 2) & 1,
	                       .smtputf8 = (mflags >> 3) & 1,
	                       .ret = (mflags >> 4) & 1 ? CLIENT_RET_HDRS : CLIENT_RET_NONE,
	                       .envid = (mflags >> 5) & 1 ? "env id+1" : NULL,
	                       .n_rcpts = 1 + ((mflags >> 6) & 3),
	                       .rcpts = rcpts};

	struct client *c = client_new(&cfg);
	size_t off = 0;
	int msgs = 0, probed = 0;
	size_t given = 0;
	buf_init(&r->tr, 0);
	r->last_starttls = 0;
	for (int steps = 0; steps < 100000; steps++) {
		take_output(c, &cfg, r);
		check_timeout(c);
		enum client_want w = client_want(c);
		if (w == CLIENT_WANT_CLOSE) {
			if (given)
				check_results(c, r, given);
			const struct client_result *s = client_session(c);
			buf_printf(&r->tr, "S:%d:%d:%d:%s:%s\n", s->status, s->stage, s->code,
			           s->enh, s->text);
			break;
		}
		if (w == CLIENT_WANT_BODY) {
			buf_append_str(&r->tr, "BODY\n");
			client_body_done(c);
			continue;
		}
		if (w == CLIENT_WANT_TLS) {
			check(r->last_starttls);
			r->last_starttls = 0;
			buf_append_str(&r->tr, "TLS\n");
			if (tls_ok)
				client_tls_done(c);
			else
				client_abort(c, CLIENT_ABORT_TLS);
			continue;
		}
		if (w == CLIENT_WANT_MESSAGE) {
			if (given)
				check_results(c, r, given);
			if (msgs == MAX_MSGS) {
				client_quit(c);
				continue;
			}
			if (msgs == 2 && !probed) { /* an idle connection's probe */
				probed = 1;
				buf_append_str(&r->tr, "PROBE\n");
				client_rset(c);
				continue;
			}
			char err[100];
			check(client_message(c, &m, err, sizeof(err)) == 0);
			given = m.n_rcpts;
			msgs++;
			continue;
		}
		/* CLIENT_WANT_REPLY: the next read, fed whole before acting */
		if (off >= n) {
			client_abort(c, (conf & 0x80) ? CLIENT_ABORT_TIMEOUT : CLIENT_ABORT_EOF);
			continue;
		}
		size_t len = in[off++];
		if (len > n - off)
			len = n - off;
		const uint8_t *seg = in + off;
		off += len;
		size_t used = 0;
		while (used < len) {
			size_t want = step == 0 ? len - used : step;
			if (want > len - used)
				want = len - used;
			size_t k = client_feed(c, seg + used, want);
			check(k <= want);
			used += k;
			if (k < want) {
				/* only a body in progress leaves octets waiting */
				check(client_want(c) == CLIENT_WANT_BODY);
				take_output(c, &cfg, r);
				buf_append_str(&r->tr, "BODY\n");
				client_body_done(c);
			}
		}
	}
	check(client_want(c) == CLIENT_WANT_CLOSE);
	client_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct run whole, bytes, threes;
	run_session(data[0], data[1], data + 2, size - 2, 0, &whole);
	run_session(data[0], data[1], data + 2, size - 2, 1, &bytes);
	run_session(data[0], data[1], data + 2, size - 2, 3, &threes);
	check(whole.tr.len == bytes.tr.len &&
	      memcmp(whole.tr.data, bytes.tr.data, whole.tr.len) == 0);
	check(whole.tr.len == threes.tr.len &&
	      memcmp(whole.tr.data, threes.tr.data, whole.tr.len) == 0);
	buf_free(&whole.tr);
	buf_free(&bytes.tr);
	buf_free(&threes.tr);
	return 0;
}
