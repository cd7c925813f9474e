/*
 * client_script: the scripted-server harness of the client engine's unit
 * tests (test_client.c for SMTP, test_client_lmtp.c for LMTP): the test
 * plays the server, checks every octet the engine wants to send, what it
 * wants next and each outcome; the server's octets are fed whole or one
 * byte at a time, as the cmocka state says.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_script.h"

/* How the server's octets are fed: the cmocka state points at one. */
const int feed_whole = 0, feed_bytes = 1;

void t_start(struct t *t, void **state, const struct client_config *cfg)
{
	t->bytewise = *(const int *)*state;
	t->c = client_new(cfg);
}

void t_end(struct t *t)
{
	client_free(t->c);
}

/* The engine's pending output must be exactly want; it is then taken. */
void t_out(struct t *t, const char *want)
{
	size_t len;
	const uint8_t *p = client_output(t->c, &len);
	if (len != strlen(want) || (len && memcmp(p, want, len) != 0))
		fail_msg("output \"%.*s\", want \"%s\"", (int)len, p ? (const char *)p : "", want);
	client_output_done(t->c, len);
	assert_null(client_output(t->c, &len));
}

/* Feed the server's octets; returns how many the engine used. */
size_t t_feed_part(struct t *t, const char *s)
{
	size_t len = strlen(s);
	if (!t->bytewise)
		return client_feed(t->c, (const uint8_t *)s, len);
	size_t used = 0;
	while (used < len) {
		size_t k = client_feed(t->c, (const uint8_t *)s + used, 1);
		assert_true(k <= 1);
		if (k == 0)
			break;
		used++;
	}
	return used;
}

void t_feed(struct t *t, const char *s)
{
	assert_int_equal(t_feed_part(t, s), strlen(s));
}

void t_want(struct t *t, enum client_want w)
{
	assert_int_equal(client_want(t->c), w);
}

/* Recipient i's outcome; text_has may be NULL. */
void t_res(struct t *t, size_t i, enum client_status st, enum client_stage stage, int code,
           const char *enh, const char *text_has)
{
	size_t n;
	const struct client_result *r = client_results(t->c, &n);
	assert_true(i < n);
	if (r[i].status != st || r[i].stage != stage || r[i].code != code)
		fail_msg("rcpt %zu: status %d stage %s code %d (%s), want %d %s %d", i, r[i].status,
		         client_stage_name(r[i].stage), r[i].code, r[i].text, st,
		         client_stage_name(stage), code);
	assert_string_equal(r[i].enh, enh);
	if (text_has != NULL && strstr(r[i].text, text_has) == NULL)
		fail_msg("rcpt %zu: text \"%s\" lacks \"%s\"", i, r[i].text, text_has);
}

void t_session(struct t *t, enum client_status st, enum client_stage stage, int code,
               const char *enh, const char *text_has)
{
	const struct client_result *r = client_session(t->c);
	if (r->status != st || r->stage != stage || r->code != code)
		fail_msg("session: status %d stage %s code %d (%s), want %d %s %d", r->status,
		         client_stage_name(r->stage), r->code, r->text, st,
		         client_stage_name(stage), code);
	assert_string_equal(r->enh, enh);
	if (text_has != NULL && strstr(r->text, text_has) == NULL)
		fail_msg("session: text \"%s\" lacks \"%s\"", r->text, text_has);
}

/* Greeting and EHLO (or LHLO) with the given reply; the engine is then ready. */
void t_hello_verb(struct t *t, const char *verb, const char *ehlo_reply)
{
	char line[64];
	snprintf(line, sizeof(line), "%s client.test\r\n", verb);
	t_want(t, CLIENT_WANT_REPLY);
	assert_int_equal(client_timeout(t->c), 300);
	t_out(t, "");
	t_feed(t, "220 mx.example.org ESMTP\r\n");
	t_out(t, line);
	t_feed(t, ehlo_reply);
	t_want(t, CLIENT_WANT_MESSAGE);
	assert_int_equal(client_timeout(t->c), 0);
}

void t_hello(struct t *t, const char *ehlo_reply)
{
	t_hello_verb(t, "EHLO", ehlo_reply);
}

void t_msg(struct t *t, const struct client_msg *m)
{
	char err[128];
	assert_int_equal(client_message(t->c, m, err, sizeof(err)), 0);
}

void t_quit(struct t *t)
{
	client_quit(t->c);
	t_out(t, "QUIT\r\n");
	t_want(t, CLIENT_WANT_REPLY);
	t_feed(t, "221 2.0.0 Bye\r\n");
	t_want(t, CLIENT_WANT_CLOSE);
	t_session(t, CLIENT_PENDING, CLIENT_STAGE_NONE, 0, "", "");
}
