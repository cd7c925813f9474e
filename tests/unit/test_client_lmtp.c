/*
 * Unit tests for the client engine's LMTP mode (RFC 2033): LHLO, no HELO
 * fallback, no DSN parameters, and one reply per accepted recipient after
 * the final dot, each that recipient's own outcome. Scripted sessions, as
 * in test_client.c: each runs fed whole, then one byte at a time.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "client_script.h"

static const struct client_config cfg_lmtp = {.helo_name = "client.test", .lmtp = 1};

#define LHLO_PIPE                                                                                  \
	"250-lmtp.example.org\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-DSN\r\n"                    \
	"250 ENHANCEDSTATUSCODES\r\n"
#define LHLO_BARE "250 lmtp.example.org\r\n"

static const struct client_rcpt rcpt4[] = {
    {"a@example.org", "rfc822;a@example.org", CLIENT_NOTIFY_SUCCESS},
    {"b@example.org", NULL, 0},
    {"c@example.org", NULL, CLIENT_NOTIFY_FAILURE},
    {"d@example.org", NULL, 0},
};

/* Pipelined: one refused at RCPT, then 250 / 452 / 550 after the dot. */
static void test_lmtp_mixed(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_lmtp);
	t_hello_verb(&t, "LHLO", LHLO_PIPE);
	struct client_msg m = {.sender = "s@x.test",
	                       .eightbit = 1,
	                       .ret = CLIENT_RET_FULL,
	                       .envid = "e1",
	                       .n_rcpts = 4,
	                       .rcpts = rcpt4};
	t_msg(&t, &m);
	/* DSN offered, yet no NOTIFY, ORCPT, RET or ENVID: the notices are ours */
	t_out(&t, "MAIL FROM:<s@x.test> BODY=8BITMIME\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n"
	          "RCPT TO:<d@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 <b@example.org> unknown\r\n"
	           "250 2.1.5 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
	t_want(&t, CLIENT_WANT_BODY);
	t_res(&t, 1, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "unknown");
	client_body_done(t.c);
	t_want(&t, CLIENT_WANT_REPLY);
	assert_int_equal(client_timeout(t.c), 600);
	t_feed(&t, "250 2.0.0 <a@example.org> Saved\r\n");
	/* one reply for a, two to come (b was refused: none for it) */
	t_want(&t, CLIENT_WANT_REPLY);
	assert_int_equal(client_timeout(t.c), 600);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "Saved");
	t_res(&t, 2, CLIENT_PENDING, CLIENT_STAGE_NONE, 0, "", NULL);
	t_feed(&t, "452 4.2.2 <c@example.org> Quota exceeded\r\n550 5.2.1 <d@example.org> "
	           "Mailbox disabled\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "Saved");
	t_res(&t, 1, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "unknown");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_EOD, 452, "4.2.2", "Quota exceeded");
	t_res(&t, 3, CLIENT_PERM, CLIENT_STAGE_EOD, 550, "5.2.1", "Mailbox disabled");
	size_t n;
	const struct client_result *res = client_results(t.c, &n);
	assert_int_equal(n, 4);
	assert_int_equal(res[0].relayed, 0); /* NOTIFY=SUCCESS: delivered, not relayed */
	t_out(&t, "");                       /* no RSET after an end of data */

	/* the connection carries the next message */
	struct client_msg m2 = {.sender = "", .n_rcpts = 1, .rcpts = rcpt4 + 3};
	t_msg(&t, &m2);
	t_out(&t, "MAIL FROM:<>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 2.0.0 <d@example.org> Saved\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "Saved");
	t_quit(&t);
	t_end(&t);
}

/* Without PIPELINING: one command per reply, then the replies per recipient. */
static void test_lmtp_one_by_one(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_lmtp);
	t_hello_verb(&t, "LHLO", LHLO_BARE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt4};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<a@example.org>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<b@example.org>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<c@example.org>\r\n");
	t_feed(&t, "451 4.3.0 later\r\n");
	t_out(&t, "DATA\r\n");
	t_feed(&t, "354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "550 5.7.1 refused a\r\n");
	t_want(&t, CLIENT_WANT_REPLY);
	t_feed(&t, "250 2.0.0 b ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_EOD, 550, "5.7.1", "refused a");
	t_res(&t, 1, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "b ok");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_RCPT, 451, "4.3.0", "later");
	t_end(&t);
}

/* LHLO refused: no HELO fallback in LMTP; the session fails. */
static void test_lmtp_lhlo_refused(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_lmtp);
	t_feed(&t, "220 lmtp ready\r\n");
	t_out(&t, "LHLO client.test\r\n");
	t_feed(&t, "500 5.5.1 unknown command\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_PERM, CLIENT_STAGE_LHLO, 500, "5.5.1", "unknown command");
	t_feed(&t, "221 bye\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	assert_string_equal(client_stage_name(CLIENT_STAGE_LHLO), "LHLO");
	t_end(&t);

	t_start(&t, state, &cfg_lmtp);
	t_feed(&t, "220 lmtp ready\r\n");
	t_out(&t, "LHLO client.test\r\n");
	t_feed(&t, "451 4.3.0 busy\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_LHLO, 451, "4.3.0", "busy");
	t_end(&t);
}

/* STARTTLS when offered (TCP targets), then LHLO again. */
static void test_lmtp_starttls(void **state)
{
	struct client_config cfg = cfg_lmtp;
	cfg.tls = CLIENT_TLS_MAY;
	struct t t;
	t_start(&t, state, &cfg);
	t_feed(&t, "220 lmtp ready\r\n");
	t_out(&t, "LHLO client.test\r\n");
	t_feed(&t, "250-lmtp\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
	t_out(&t, "STARTTLS\r\n");
	t_feed(&t, "220 2.0.0 go ahead\r\n");
	t_want(&t, CLIENT_WANT_TLS);
	client_tls_done(t.c);
	t_out(&t, "LHLO client.test\r\n");
	t_feed(&t, "250-lmtp\r\n250 PIPELINING\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	assert_true(client_tls_active(t.c));
	t_end(&t);

	/* TLS required and not offered: the job waits, named after LHLO */
	cfg.tls = CLIENT_TLS_REQUIRE;
	t_start(&t, state, &cfg);
	t_feed(&t, "220 lmtp ready\r\n");
	t_out(&t, "LHLO client.test\r\n");
	t_feed(&t, "250 lmtp\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_LHLO, 0, "4.7.4", "did not offer STARTTLS");
	t_end(&t);
}

/* A session up to the final dot of m (three recipients, pipelined), the
 * RCPT replies as given. */
static void to_dot(struct t *t, void **state, const struct client_msg *m, const char *replies)
{
	t_start(t, state, &cfg_lmtp);
	t_hello_verb(t, "LHLO", LHLO_PIPE);
	t_msg(t, m);
	t_out(t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	         "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(t, replies);
	client_body_done(t->c);
}

/* The connection breaks between the replies: who got a reply keeps it. */
static void test_lmtp_cut(void **state)
{
	struct t t;
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt4};
	const char *all_ok = "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n";

	/* lost after the first reply */
	to_dot(&t, state, &m, all_ok);
	t_feed(&t, "250 2.0.0 a ok\r\n");
	client_abort(t.c, CLIENT_ABORT_EOF);
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "a ok");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.4.2",
	      "lost connection waiting for the reply to end of data");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.4.2", NULL);
	t_end(&t);

	/* 421 in the place of the second reply: it and the rest wait */
	to_dot(&t, state, &m, all_ok);
	t_feed(&t, "250 2.0.0 a ok\r\n421 4.3.2 shutting down\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "a ok");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_EOD, 421, "4.3.2", "shutting down");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_EOD, 421, "4.3.2", "shutting down");
	t_end(&t);

	/* a 3xx where a recipient's reply belongs: nothing more is trusted */
	to_dot(&t, state, &m, "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n");
	t_feed(&t, "354 again\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.5.0", "protocol error");
	t_res(&t, 1, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "", "no");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.5.0", "protocol error");
	t_end(&t);
}

/* Nobody accepted: no DATA, RSET, as over SMTP. */
static void test_lmtp_none_accepted(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_lmtp);
	t_hello_verb(&t, "LHLO", LHLO_PIPE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 2, .rcpts = rcpt4};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n550 5.1.1 no a\r\n452 4.2.2 full b\r\n503 5.5.1 no recipients\r\n");
	t_out(&t, "RSET\r\n");
	t_feed(&t, "250 ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "no a");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_RCPT, 452, "4.2.2", "full b");
	t_end(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_lmtp_mixed),    BOTH(test_lmtp_one_by_one), BOTH(test_lmtp_lhlo_refused),
	    BOTH(test_lmtp_starttls), BOTH(test_lmtp_cut),        BOTH(test_lmtp_none_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
