/*
 * Unit tests for the SMTP client engine (src/relay/client.c, client_txn.c)
 * as scripted sessions: the test plays the server, checks every octet the
 * engine wants to send, what it wants next, and each recipient's outcome.
 * Every test runs twice: the server's octets fed whole, then one byte at a
 * time; both must give the same session.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "client_script.h"

static const struct client_config cfg_plain = {.helo_name = "client.test"};

/* The pipelining tests' server; EHLO_FULL adds what a big provider offers. */
#define EHLO_PIPE                                                                                  \
	"250-mx.example.org\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_FULL                                                                                  \
	"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"             \
	"250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"
#define EHLO_BARE "250 mx.example.org\r\n"

static const struct client_rcpt rcpt1[] = {{"bob@example.org", NULL, 0}};
static const struct client_rcpt rcpt3[] = {
    {"a@example.org", NULL, 0}, {"b@example.org", NULL, 0}, {"c@example.org", NULL, 0}};

/* Configured timeouts replace the RFC's, stage by stage. */
static void test_configured_timeouts(void **state)
{
	static const struct client_config cfg = {
	    .helo_name = "client.test",
	    .timeout = {.greeting = 7, .command = 8, .data = 9, .block = 10, .dot = 11}};
	struct t t;
	t_start(&t, state, &cfg);
	assert_int_equal(client_timeout(t.c), 7);
	t_feed(&t, "220 mx.example.org ESMTP\r\n");
	t_out(&t, "EHLO client.test\r\n");
	assert_int_equal(client_timeout(t.c), 8);
	t_feed(&t, EHLO_BARE);
	t_want(&t, CLIENT_WANT_MESSAGE);
	struct client_msg m = {
	    .sender = "alice@client.test", .size = 500, .n_rcpts = 1, .rcpts = rcpt1};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<alice@client.test>\r\n");
	assert_int_equal(client_timeout(t.c), 8);
	t_feed(&t, "250 2.1.0 Ok\r\n");
	t_out(&t, "RCPT TO:<bob@example.org>\r\n");
	t_feed(&t, "250 2.1.5 Ok\r\n");
	t_out(&t, "DATA\r\n");
	assert_int_equal(client_timeout(t.c), 9);
	t_feed(&t, "354 go ahead\r\n");
	t_want(&t, CLIENT_WANT_BODY);
	assert_int_equal(client_timeout(t.c), 10);
	client_body_done(t.c);
	assert_int_equal(client_timeout(t.c), 11);
	client_abort(t.c, CLIENT_ABORT_TIMEOUT);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.4.2", "timeout after 11 s");
	t_end(&t);
}

/* One recipient, no extensions: one command per reply, every timeout. */
static void test_basic(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	struct client_msg m = {
	    .sender = "alice@client.test", .size = 500, .n_rcpts = 1, .rcpts = rcpt1};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<alice@client.test>\r\n");
	assert_int_equal(client_timeout(t.c), 300);
	t_feed(&t, "250 2.1.0 Ok\r\n");
	t_out(&t, "RCPT TO:<bob@example.org>\r\n");
	assert_int_equal(client_timeout(t.c), 300);
	t_feed(&t, "250 2.1.5 Ok\r\n");
	t_out(&t, "DATA\r\n");
	assert_int_equal(client_timeout(t.c), 120);
	t_res(&t, 0, CLIENT_PENDING, CLIENT_STAGE_NONE, 0, "", NULL);
	t_feed(&t, "354 End data with <CR><LF>.<CR><LF>\r\n");
	t_want(&t, CLIENT_WANT_BODY);
	assert_int_equal(client_timeout(t.c), 180);
	client_body_done(t.c);
	t_want(&t, CLIENT_WANT_REPLY);
	assert_int_equal(client_timeout(t.c), 600);
	t_feed(&t, "250 2.0.0 Ok: queued as 12345\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "queued as 12345");
	size_t n;
	assert_int_equal(client_results(t.c, &n)[0].relayed, 0);
	assert_int_equal(n, 1);
	t_quit(&t);
	assert_int_equal(client_timeout(t.c), 0);
	/* after the end, octets are ignored */
	assert_int_equal(client_feed(t.c, (const uint8_t *)"250 x\r\n", 7), 7);
	t_want(&t, CLIENT_WANT_CLOSE);
	t_end(&t);
}

/* PIPELINING: MAIL, every RCPT and DATA in one write, with every parameter. */
static void test_pipelined(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_FULL);
	assert_int_equal(client_caps(t.c)->size_max, 1000000);
	struct client_rcpt r[] = {
	    {"a@example.org", "rfc822;A+2Bx@example.org",
	     CLIENT_NOTIFY_SUCCESS | CLIENT_NOTIFY_DELAY},
	    {"b@example.org", NULL, CLIENT_NOTIFY_NEVER},
	    {"c@example.org", "bogus-no-semicolon", CLIENT_NOTIFY_FAILURE},
	};
	struct client_msg m = {.sender = "alice@client.test",
	                       .size = 1000000,
	                       .eightbit = 1,
	                       .ret = CLIENT_RET_HDRS,
	                       .envid = "id=1 +x",
	                       .n_rcpts = 3,
	                       .rcpts = r};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<alice@client.test> SIZE=1000000 BODY=8BITMIME RET=HDRS "
	          "ENVID=id+3D1+20+2Bx\r\n"
	          "RCPT TO:<a@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;A+2Bx@example.org\r\n"
	          "RCPT TO:<b@example.org> NOTIFY=NEVER ORCPT=rfc822;b@example.org\r\n"
	          "RCPT TO:<c@example.org> NOTIFY=FAILURE\r\n" /* a bad ORCPT is left out */
	          "DATA\r\n");
	/* every reply in one read: one recipient refused */
	t_feed(&t, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550-5.1.1 <b@example.org>: no such\r\n"
	           "550 5.1.1 user here\r\n250 2.1.5 Ok\r\n354 go ahead\r\n");
	t_want(&t, CLIENT_WANT_BODY);
	t_res(&t, 1, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1",
	      "5.1.1 <b@example.org>: no such 5.1.1 user here");
	t_res(&t, 0, CLIENT_PENDING, CLIENT_STAGE_NONE, 0, "", NULL);
	client_body_done(t.c);
	t_feed(&t, "250 2.0.0 Ok: queued\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "queued");
	t_res(&t, 2, CLIENT_OK, CLIENT_STAGE_EOD, 250, "2.0.0", "queued");
	size_t n;
	assert_int_equal(client_results(t.c, &n)[0].relayed, 0); /* the peer has DSN */
	t_quit(&t);
	t_end(&t);
}

/* One 4xx RCPT defers that recipient only. */
static void test_rcpt_temp(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	struct client_msg m = {.sender = "", .n_rcpts = 3, .rcpts = rcpt3};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<a@example.org>\r\n");
	t_feed(&t, "452 4.2.2 mailbox full\r\n");
	t_out(&t, "RCPT TO:<b@example.org>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<c@example.org>\r\n");
	t_feed(&t, "550 5.7.1 relay denied\r\n");
	t_out(&t, "DATA\r\n");
	t_feed(&t, "354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 done\r\n");
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_RCPT, 452, "4.2.2", "mailbox full");
	t_res(&t, 1, CLIENT_OK, CLIENT_STAGE_EOD, 250, "", "done");
	t_res(&t, 2, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.7.1", "relay denied");
	t_end(&t);
}

/* Nobody accepted, one by one: no DATA, RSET, then the next message. */
static void test_no_rcpt_accepted(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 1, .rcpts = rcpt1};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<bob@example.org>\r\n");
	t_feed(&t, "550 5.1.1 unknown\r\n");
	t_out(&t, "RSET\r\n");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "unknown");
	t_want(&t, CLIENT_WANT_REPLY);
	assert_int_equal(client_timeout(t.c), 300);
	t_feed(&t, "250 2.0.0 reset\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	/* the connection is reused: no RSET after a completed end of data */
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<bob@example.org>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "DATA\r\n");
	t_feed(&t, "354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 ok\r\n");
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "", "ok");
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_end(&t);
}

/* Nobody accepted, pipelined: DATA is refused, then RSET. */
static void test_no_rcpt_pipelined(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt3};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n550 5.1.1 no a\r\n450 4.2.0 later b\r\n550 5.1.1 no c\r\n"
	           "554 5.5.1 no valid recipients\r\n");
	t_out(&t, "RSET\r\n");
	t_feed(&t, "250 ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "no a");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_RCPT, 450, "4.2.0", "later b");
	t_res(&t, 2, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "no c");
	/* a broken server that takes DATA anyway gets an empty one, then RSET */
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n550 no\r\n550 no\r\n550 no\r\n354 go\r\n");
	t_out(&t, ".\r\n");
	t_want(&t, CLIENT_WANT_REPLY);
	assert_int_equal(client_timeout(t.c), 600);
	t_feed(&t, "554 no recipients\r\n");
	t_out(&t, "RSET\r\n");
	t_feed(&t, "250 ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 2, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "", "no");
	t_end(&t);
}

/* MAIL refused: every recipient gets its reply; no RCPT, no RSET. */
static void test_mail_refused(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt3};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "451 4.7.1 greylisted\r\n");
	t_out(&t, "");
	t_want(&t, CLIENT_WANT_MESSAGE);
	for (size_t i = 0; i < 3; i++)
		t_res(&t, i, CLIENT_TEMP, CLIENT_STAGE_MAIL, 451, "4.7.1", "greylisted");
	t_end(&t);

	/* pipelined: the RCPT and DATA replies (503s) change nothing */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t,
	       "553 5.1.8 bad sender\r\n503 5.5.1 need MAIL\r\n250 odd\r\n503 5.5.1 need MAIL\r\n"
	       "503 5.5.1 need MAIL\r\n");
	t_out(&t, "");
	t_want(&t, CLIENT_WANT_MESSAGE);
	for (size_t i = 0; i < 3; i++)
		t_res(&t, i, CLIENT_PERM, CLIENT_STAGE_MAIL, 553, "5.1.8", "bad sender");
	t_end(&t);
}

/* A refused DATA or end of data applies to every accepted recipient. */
static void test_data_refused(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt3};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n550 5.1.1 no b\r\n250 ok\r\n451 4.3.0 try later\r\n");
	t_out(&t, "RSET\r\n");
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_DATA, 451, "4.3.0", "try later");
	t_res(&t, 1, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "no b");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_DATA, 451, "4.3.0", "try later");
	t_feed(&t, "250 ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);

	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n250 ok\r\n451 4.4.5 full\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "552 5.3.4 message too big\r\n");
	t_out(&t, ""); /* no RSET after an end of data */
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_EOD, 552, "5.3.4", "too big");
	t_res(&t, 1, CLIENT_PERM, CLIENT_STAGE_EOD, 552, "5.3.4", "too big");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_RCPT, 451, "4.4.5", "full");
	t_end(&t);
}

/* 421 anywhere: the unfinished recipients wait, the connection closes without QUIT. */
static void test_421(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt3};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	assert_int_equal(t_feed_part(&t, "250 ok\r\n550 5.1.1 no\r\n250 ok\r\n"
	                                 "421 4.3.2 shutting down\r\n250 ignored\r\n"),
	                 strlen("250 ok\r\n550 5.1.1 no\r\n250 ok\r\n421 4.3.2 shutting down\r\n"
	                        "250 ignored\r\n"));
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "no");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_RCPT, 421, "4.3.2", "shutting down");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_RCPT, 421, "4.3.2", "shutting down");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_RCPT, 421, "4.3.2", "shutting down");
	t_end(&t);

	/* at the greeting */
	t_start(&t, state, &cfg_plain);
	t_feed(&t, "421 mx.example.org too busy\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_GREETING, 421, "", "too busy");
	t_end(&t);

	/* while idle (the server's own timeout), and at end of data */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	t_feed(&t, "421 4.4.2 idle too long\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_CONNECT, 421, "4.4.2", "idle");
	t_end(&t);

	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	m.n_rcpts = 1;
	m.rcpts = rcpt1;
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "421 4.3.0 crashed\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_EOD, 421, "4.3.0", "crashed");
	t_end(&t);
}

/* A refused greeting: QUIT, and the session says why (try the next host). */
static void test_greeting_refused(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_feed(&t, "554-mx.example.org no service\r\n554 go away\r\n");
	t_out(&t, "QUIT\r\n");
	t_want(&t, CLIENT_WANT_REPLY);
	t_session(&t, CLIENT_PERM, CLIENT_STAGE_GREETING, 554, "", "no service go away");
	client_abort(t.c, CLIENT_ABORT_EOF); /* the server hangs up instead of 221 */
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_PERM, CLIENT_STAGE_GREETING, 554, "", "no service");
	t_end(&t);

	t_start(&t, state, &cfg_plain);
	t_feed(&t, "450 4.3.2 busy\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_GREETING, 450, "4.3.2", "busy");
	t_end(&t);
}

/* EHLO refused: HELO, and no extension is used. */
static void test_helo_fallback(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_feed(&t, "220 old.example.org SMTP\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "502 5.5.2 command not recognized\r\n");
	t_out(&t, "HELO client.test\r\n");
	t_feed(&t, "250 old.example.org\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	assert_int_equal(client_caps(t.c)->flags, 0);
	struct client_rcpt r[] = {
	    {"bob@example.org", "rfc822;bob@example.org", CLIENT_NOTIFY_SUCCESS}};
	struct client_msg m = {.sender = "s@x.test",
	                       .size = 99,
	                       .eightbit = 1,
	                       .ret = CLIENT_RET_FULL,
	                       .envid = "E1",
	                       .n_rcpts = 1,
	                       .rcpts = r};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n"); /* 8-bit sent as it is: no BODY= */
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<bob@example.org>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "DATA\r\n");
	t_feed(&t, "354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 ok\r\n");
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "", "ok");
	size_t n;
	assert_int_equal(client_results(t.c, &n)[0].relayed, 1); /* NOTIFY=SUCCESS, no DSN */
	/* SMTPUTF8 cannot go to this server: refused before anything is sent */
	m.smtputf8 = 1;
	t_msg(&t, &m);
	t_out(&t, "");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.6.7", "SMTPUTF8");
	t_end(&t);

	/* HELO refused too: the session failed */
	t_start(&t, state, &cfg_plain);
	t_feed(&t, "220 x\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "500 no\r\n");
	t_out(&t, "HELO client.test\r\n");
	t_feed(&t, "501 5.5.4 bad name\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_PERM, CLIENT_STAGE_HELO, 501, "5.5.4", "bad name");
	t_end(&t);

	/* EHLO 4xx is no reason for HELO */
	t_start(&t, state, &cfg_plain);
	t_feed(&t, "220 x\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "451 4.3.0 later\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_EHLO, 451, "4.3.0", "later");
	t_end(&t);
}

/* Decisions before anything is sent: SIZE, SMTPUTF8, 8BITMIME (strict), bad addresses. */
static void test_prechecks(void **state)
{
	struct t t;
	struct client_config cfg = cfg_plain;
	cfg.strict_8bitmime = 1;
	t_start(&t, state, &cfg);
	t_hello(&t, "250-mx\r\n250-SIZE 1000\r\n250 PIPELINING\r\n");
	struct client_msg m = {.sender = "s@x.test", .size = 1001, .n_rcpts = 3, .rcpts = rcpt3};
	t_msg(&t, &m);
	t_out(&t, "");
	t_want(&t, CLIENT_WANT_MESSAGE);
	for (size_t i = 0; i < 3; i++)
		t_res(&t, i, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.3.4",
		      "1001 exceeds the limit of 1000");
	/* exactly the limit goes */
	m.size = 1000;
	m.n_rcpts = 1;
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test> SIZE=1000\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 ok\r\n");
	/* strict 8BITMIME */
	m.eightbit = 1;
	t_msg(&t, &m);
	t_out(&t, "");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.6.3", "8BITMIME");
	/* a non-ASCII address means SMTPUTF8 */
	m.eightbit = 0;
	struct client_rcpt u[] = {{"j\xc3\xb6rg@example.org", NULL, 0}};
	m.rcpts = u;
	t_msg(&t, &m);
	t_out(&t, "");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.6.7", NULL);
	/* a malformed recipient fails alone; a malformed sender fails all */
	struct client_rcpt bad[] = {
	    {"a@x\r\nRSET", NULL, 0}, {"b@example.org", NULL, 0}, {"", NULL, 0}};
	m.rcpts = bad;
	m.n_rcpts = 3;
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test> SIZE=1000\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.1.3", "malformed recipient");
	t_res(&t, 2, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.1.3", "malformed recipient");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 ok\r\n");
	t_res(&t, 1, CLIENT_OK, CLIENT_STAGE_EOD, 250, "", "ok");
	m.sender = "s@x\n.test";
	t_msg(&t, &m);
	t_out(&t, "");
	for (size_t i = 0; i < 3; i++)
		t_res(&t, i, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.1.7", "malformed sender");
	t_end(&t);
}

/* SMTPUTF8 to a server that has it; UTF-8 recipients get no made-up ORCPT. */
static void test_smtputf8(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_FULL);
	struct client_rcpt u[] = {{"j\xc3\xb6rg@example.org", NULL, CLIENT_NOTIFY_FAILURE}};
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 1, .rcpts = u};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test> BODY=8BITMIME SMTPUTF8\r\n"
	          "RCPT TO:<j\xc3\xb6rg@example.org> NOTIFY=FAILURE\r\nDATA\r\n");
	t_end(&t);
}

/* STARTTLS when offered; the second EHLO's capabilities count. */
static void test_starttls(void **state)
{
	struct t t;
	struct client_config cfg = cfg_plain;
	cfg.tls = CLIENT_TLS_MAY;
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx ESMTP\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250-STARTTLS\r\n250 SIZE 10\r\n");
	t_out(&t, "STARTTLS\r\n");
	t_feed(&t, "220 2.0.0 Ready to start TLS\r\n");
	t_want(&t, CLIENT_WANT_TLS);
	t_out(&t, "");
	assert_int_equal(client_tls_active(t.c), 0);
	client_tls_done(t.c);
	assert_int_equal(client_tls_active(t.c), 1);
	assert_int_equal(client_caps(t.c)->flags, 0); /* forgotten */
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE); /* no second STARTTLS */
	assert_int_equal(client_caps(t.c)->flags, CAPS_STARTTLS | CAPS_PIPELINING);
	t_quit(&t);
	t_end(&t);

	/* "may" and a refused STARTTLS: go on in clear */
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx ESMTP\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250 STARTTLS\r\n");
	t_out(&t, "STARTTLS\r\n");
	t_feed(&t, "454 4.7.0 TLS not available\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_out(&t, "");
	assert_int_equal(client_tls_active(t.c), 0);
	t_end(&t);

	/* "none": never STARTTLS */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, "250-mx\r\n250 STARTTLS\r\n");
	t_end(&t);
}

/* TLS required: nothing of the message in clear. */
static void test_tls_required(void **state)
{
	struct t t;
	struct client_config cfg = cfg_plain;
	cfg.tls = CLIENT_TLS_REQUIRE;
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx ESMTP\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250 PIPELINING\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_EHLO, 0, "4.7.4", "TLS is required");
	t_feed(&t, "221 bye\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_end(&t);

	/* after a HELO fallback too */
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "500 what\r\n");
	t_out(&t, "HELO client.test\r\n");
	t_feed(&t, "250 mx\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_HELO, 0, "4.7.4", "TLS is required");
	t_end(&t);

	/* STARTTLS refused: temporary, whatever the code */
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250 STARTTLS\r\n");
	t_out(&t, "STARTTLS\r\n");
	t_feed(&t, "554 5.7.0 no TLS for you\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_STARTTLS, 554, "5.7.0", "no TLS for you");
	t_end(&t);

	/* the handshake fails */
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250 STARTTLS\r\n");
	t_out(&t, "STARTTLS\r\n");
	t_feed(&t, "220 go\r\n");
	t_want(&t, CLIENT_WANT_TLS);
	client_abort(t.c, CLIENT_ABORT_TLS);
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_TLS, 0, "4.7.5", "handshake");
	t_end(&t);

	/* implicit TLS: no STARTTLS needed */
	cfg.tls_active = 1;
	t_start(&t, state, &cfg);
	t_hello(&t, EHLO_BARE);
	assert_int_equal(client_tls_active(t.c), 1);
	t_end(&t);
}

/* Octets after the 220 to STARTTLS are an injection (CVE-2011-0411 style). */
static void test_starttls_injection(void **state)
{
	struct t t;
	struct client_config cfg = cfg_plain;
	cfg.tls = CLIENT_TLS_MAY;
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250 STARTTLS\r\n");
	t_out(&t, "STARTTLS\r\n");
	/* in the same read, or in a later one before client_tls_done(): the
	 * same refusal whether fed whole or byte by byte */
	t_feed(&t, "220 go\r\n250 injected\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_STARTTLS, 0, "4.5.0", "clear-text octets");
	t_end(&t);
}

static void t_tls_hello(struct t *t, const char *ehlo2)
{
	t_feed(t, "220 mx\r\n");
	t_out(t, "EHLO client.test\r\n");
	t_feed(t, "250-mx\r\n250 STARTTLS\r\n");
	t_out(t, "STARTTLS\r\n");
	t_feed(t, "220 go\r\n");
	client_tls_done(t->c);
	t_out(t, "EHLO client.test\r\n");
	t_feed(t, ehlo2);
}

static void test_auth(void **state)
{
	struct t t;
	struct client_config cfg = cfg_plain;
	cfg.tls = CLIENT_TLS_MAY;
	cfg.auth_user = "user";
	cfg.auth_pass = "pass";
	/* PLAIN, with the initial response: base64("\0user\0pass") */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, "250-mx\r\n250 AUTH LOGIN PLAIN\r\n");
	t_out(&t, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
	t_want(&t, CLIENT_WANT_REPLY);
	t_feed(&t, "235 2.7.0 Authentication successful\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_end(&t);

	/* LOGIN, the old AUTH= form */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, "250-mx\r\n250 AUTH=LOGIN\r\n");
	t_out(&t, "AUTH LOGIN\r\n");
	t_feed(&t, "334 VXNlcm5hbWU6\r\n");
	t_out(&t, "dXNlcg==\r\n");
	t_feed(&t, "334 UGFzc3dvcmQ6\r\n");
	t_out(&t, "cGFzcw==\r\n");
	t_feed(&t, "235 ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	t_end(&t);

	/* refused: the job waits (temporary, even on 535) */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, "250-mx\r\n250 AUTH PLAIN\r\n");
	t_out(&t, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
	t_feed(&t, "535 5.7.8 Authentication credentials invalid\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_AUTH, 535, "5.7.8", "credentials invalid");
	t_end(&t);

	/* LOGIN refused at the password */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, "250-mx\r\n250 AUTH LOGIN\r\n");
	t_out(&t, "AUTH LOGIN\r\n");
	t_feed(&t, "334 VXNlcm5hbWU6\r\n");
	t_out(&t, "dXNlcg==\r\n");
	t_feed(&t, "334 UGFzc3dvcmQ6\r\n");
	t_out(&t, "cGFzcw==\r\n");
	t_feed(&t, "454 4.7.0 temporary failure\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_AUTH, 454, "4.7.0", "temporary");
	t_end(&t);

	/* no mechanism we know */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, "250-mx\r\n250 AUTH CRAM-MD5 GSSAPI\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_AUTH, 0, "4.7.0", "offered: CRAM-MD5");
	t_end(&t);

	/* no AUTH at all */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, EHLO_BARE);
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_AUTH, 0, "4.7.0", "offered: no AUTH");
	t_end(&t);

	/* no TLS: credentials are never sent in clear */
	t_start(&t, state, &cfg);
	t_feed(&t, "220 mx\r\n");
	t_out(&t, "EHLO client.test\r\n");
	t_feed(&t, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_AUTH, 0, "4.7.4", "without TLS");
	t_end(&t);

	/* an odd 334 to PLAIN, or a 3xx elsewhere: protocol error, closed */
	t_start(&t, state, &cfg);
	t_tls_hello(&t, "250-mx\r\n250 AUTH PLAIN\r\n");
	t_out(&t, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
	t_feed(&t, "334 \r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_AUTH, 0, "4.5.0", "unexpected reply to AUTH");
	t_end(&t);
}

/* Garbled or unexpected replies: unfinished recipients wait, the connection closes. */
static void test_protocol_errors(void **state)
{
	struct t t;
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt3};
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\n"
	          "RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n550 5.1.1 no\r\ngarbage\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_out(&t, "");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "5.1.1", "no");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_RCPT, 0, "4.5.0", "malformed reply code");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_RCPT, 0, "4.5.0", "malformed reply code");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_RCPT, 0, "4.5.0",
	          "protocol error in reply to RCPT TO");
	t_end(&t);

	/* 354 to MAIL */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	m.n_rcpts = 1;
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "354 what\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_MAIL, 0, "4.5.0", "unexpected 3xx");
	t_end(&t);

	/* 250 to DATA, 354 to end of data */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n250 what\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_DATA, 0, "4.5.0", "unexpected reply to DATA");
	t_end(&t);

	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "354 again\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.5.0", "unexpected 3xx");
	t_end(&t);

	/* a reply while nothing was asked */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	t_feed(&t, "250 surprise\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_CONNECT, 0, "4.5.0", "no command was sent");
	t_end(&t);

	/* an extra reply after end of data is caught, not taken for MAIL's */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 queued\r\n250 extra\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_OK, CLIENT_STAGE_EOD, 250, "", "queued");
	t_end(&t);

	/* a 3xx greeting, RSET refused, RSET 3xx */
	t_start(&t, state, &cfg_plain);
	t_feed(&t, "354 hello\r\n");
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_GREETING, 0, "4.5.0", "unexpected greeting");
	t_end(&t);

	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<a@example.org>\r\n");
	t_feed(&t, "550 no\r\n");
	t_out(&t, "RSET\r\n");
	t_feed(&t, "500 what\r\n");
	t_out(&t, "QUIT\r\n");
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_RSET, 500, "", "what");
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "", "no");
	t_end(&t);
}

/* The connection breaks or a timer fires. */
static void test_abort(void **state)
{
	struct t t;
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 3, .rcpts = rcpt3};
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<a@example.org>\r\n");
	t_feed(&t, "550 no\r\n");
	t_out(&t, "RCPT TO:<b@example.org>\r\n");
	client_abort(t.c, CLIENT_ABORT_EOF);
	t_want(&t, CLIENT_WANT_CLOSE);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_RCPT, 550, "", "no");
	t_res(&t, 1, CLIENT_TEMP, CLIENT_STAGE_RCPT, 0, "4.4.2",
	      "lost connection waiting for the reply to RCPT TO");
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_RCPT, 0, "4.4.2", "lost connection");
	client_abort(t.c, CLIENT_ABORT_TIMEOUT); /* a second abort changes nothing */
	t_res(&t, 2, CLIENT_TEMP, CLIENT_STAGE_RCPT, 0, "4.4.2", "lost connection");
	t_end(&t);

	/* timeout at end of data: the dangerous window */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	m.n_rcpts = 1;
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_abort(t.c, CLIENT_ABORT_EOF);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_DATA, 0, "4.4.2", "while sending the message");
	t_end(&t);

	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	client_abort(t.c, CLIENT_ABORT_TIMEOUT);
	t_res(&t, 0, CLIENT_TEMP, CLIENT_STAGE_EOD, 0, "4.4.2",
	      "timeout after 600 s waiting for the reply to end of data");
	t_end(&t);

	/* at the greeting: the session failed before any message */
	t_start(&t, state, &cfg_plain);
	client_abort(t.c, CLIENT_ABORT_TIMEOUT);
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_GREETING, 0, "4.4.2", "timeout after 300 s");
	size_t n;
	assert_null(client_results(t.c, &n));
	assert_int_equal(n, 0);
	t_end(&t);

	/* a hang-up after QUIT is no failure */
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_BARE);
	client_quit(t.c);
	t_out(&t, "QUIT\r\n");
	client_abort(t.c, CLIENT_ABORT_EOF);
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_PENDING, CLIENT_STAGE_NONE, 0, "", "");
	t_end(&t);
}

/* Replies during the body wait for client_body_done(). */
static void test_reply_during_body(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, EHLO_PIPE);
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 1, .rcpts = rcpt1};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
	const char *s = "250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 spam\r\n";
	size_t used = t_feed_part(&t, s);
	assert_int_equal(used, strlen(s) - strlen("554 5.7.1 spam\r\n"));
	t_want(&t, CLIENT_WANT_BODY);
	assert_int_equal(client_feed(t.c, (const uint8_t *)s + used, strlen(s) - used), 0);
	client_body_done(t.c);
	t_feed(&t, s + used);
	t_res(&t, 0, CLIENT_PERM, CLIENT_STAGE_EOD, 554, "5.7.1", "spam");
	t_end(&t);
}

/* DSN parameters only when offered; NOTIFY=SUCCESS without DSN is "relayed". */
static void test_dsn(void **state)
{
	struct t t;
	struct client_rcpt r[] = {
	    {"a@example.org", "rfc822;a@example.org", CLIENT_NOTIFY_SUCCESS},
	    {"b@example.org", "utf-8;b+40x", CLIENT_NOTIFY_FAILURE | CLIENT_NOTIFY_SUCCESS},
	    {"c@example.org", "rfc822;bad+zz", 0},
	};
	struct client_msg m = {
	    .sender = "s@x.test", .ret = CLIENT_RET_FULL, .n_rcpts = 3, .rcpts = r};
	t_start(&t, state, &cfg_plain);
	t_hello(&t, "250-mx\r\n250 DSN\r\n");
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test> RET=FULL\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<a@example.org> NOTIFY=SUCCESS ORCPT=rfc822;a@example.org\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=utf-8;b@x\r\n");
	t_feed(&t, "250 ok\r\n");
	/* an ORCPT that does not decode is left out */
	t_out(&t, "RCPT TO:<c@example.org>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "DATA\r\n");
	t_end(&t);

	/* an over-long ENVID is left out */
	char envid[120];
	memset(envid, 'e', sizeof(envid) - 1);
	envid[sizeof(envid) - 1] = 0;
	m.envid = envid;
	m.n_rcpts = 1;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, "250-mx\r\n250 DSN\r\n");
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test> RET=FULL\r\n");
	t_end(&t);

	/* without DSN nothing is sent, and success must be reported by us */
	m.n_rcpts = 3;
	t_start(&t, state, &cfg_plain);
	t_hello(&t, "250-mx\r\n250 PIPELINING\r\n");
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
	          "RCPT TO:<c@example.org>\r\nDATA\r\n");
	t_feed(&t, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
	client_body_done(t.c);
	t_feed(&t, "250 ok\r\n");
	size_t n;
	const struct client_result *res = client_results(t.c, &n);
	assert_int_equal(n, 3);
	assert_int_equal(res[0].relayed, 1);
	assert_int_equal(res[1].relayed, 1);
	assert_int_equal(res[2].relayed, 0);
	t_end(&t);
}

/* The caller's probe of an idle connection. */
static void test_rset_probe(void **state)
{
	struct t t;
	t_start(&t, state, &cfg_plain);
	client_rset(t.c); /* not ready yet: ignored */
	t_out(&t, "");
	t_hello(&t, EHLO_BARE);
	client_rset(t.c);
	t_out(&t, "RSET\r\n");
	t_want(&t, CLIENT_WANT_REPLY);
	t_feed(&t, "250 2.0.0 Ok\r\n");
	t_want(&t, CLIENT_WANT_MESSAGE);
	size_t n;
	assert_null(client_results(t.c, &n)); /* no message was involved */
	client_rset(t.c);
	t_out(&t, "RSET\r\n");
	client_abort(t.c, CLIENT_ABORT_EOF); /* the cached connection was dead */
	t_want(&t, CLIENT_WANT_CLOSE);
	t_session(&t, CLIENT_TEMP, CLIENT_STAGE_RSET, 0, "4.4.2", "lost connection");
	t_end(&t);
}

/* no_pipelining: one command per reply although PIPELINING is offered. */
static void test_no_pipelining(void **state)
{
	struct t t;
	struct client_config cfg = cfg_plain;
	cfg.no_pipelining = 1;
	t_start(&t, state, &cfg);
	t_hello(&t, "250-mx\r\n250 PIPELINING\r\n");
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 1, .rcpts = rcpt1};
	t_msg(&t, &m);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_end(&t);
}

static void test_api(void **state)
{
	struct t t;
	char err[128];
	struct client_msg m = {.sender = "s@x.test", .n_rcpts = 1, .rcpts = rcpt1};
	t_start(&t, state, &cfg_plain);
	/* not ready yet */
	assert_int_equal(client_message(t.c, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "no message expected now");
	client_quit(t.c); /* ignored */
	client_body_done(t.c);
	client_tls_done(t.c);
	t_out(&t, "");
	t_want(&t, CLIENT_WANT_REPLY);
	t_hello(&t, EHLO_BARE);
	m.n_rcpts = 0;
	assert_int_equal(client_message(t.c, &m, err, sizeof(err)), -1);
	m.n_rcpts = CLIENT_MAX_RCPTS + 1;
	assert_int_equal(client_message(t.c, &m, err, sizeof(err)), -1);
	m.n_rcpts = 1;
	m.sender = NULL;
	assert_int_equal(client_message(t.c, &m, err, sizeof(err)), -1);
	t_want(&t, CLIENT_WANT_MESSAGE);
	/* the message is copied: the caller's strings may go */
	char sender[] = "s@x.test", addr[] = "r@example.org";
	struct client_rcpt r = {addr, NULL, 0};
	m.sender = sender;
	m.rcpts = &r;
	t_msg(&t, &m);
	memset(sender, 'X', 8);
	memset(addr, 'X', 13);
	t_out(&t, "MAIL FROM:<s@x.test>\r\n");
	t_feed(&t, "250 ok\r\n");
	t_out(&t, "RCPT TO:<r@example.org>\r\n");
	/* partial output writes */
	t_feed(&t, "250 ok\r\n");
	size_t len;
	assert_non_null(client_output(t.c, &len));
	assert_int_equal(len, 6);
	client_output_done(t.c, 2);
	t_out(&t, "TA\r\n");
	client_output_done(t.c, 100); /* more than there is: harmless */
	assert_string_equal(client_stage_name(CLIENT_STAGE_EOD), "end of data");
	assert_string_equal(client_stage_name(CLIENT_STAGE_RCPT), "RCPT TO");
	assert_string_equal(client_stage_name((enum client_stage)99), "unknown");
	t_end(&t);
	client_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_basic),
	    BOTH(test_configured_timeouts),
	    BOTH(test_pipelined),
	    BOTH(test_rcpt_temp),
	    BOTH(test_no_rcpt_accepted),
	    BOTH(test_no_rcpt_pipelined),
	    BOTH(test_mail_refused),
	    BOTH(test_data_refused),
	    BOTH(test_421),
	    BOTH(test_greeting_refused),
	    BOTH(test_helo_fallback),
	    BOTH(test_prechecks),
	    BOTH(test_smtputf8),
	    BOTH(test_starttls),
	    BOTH(test_tls_required),
	    BOTH(test_starttls_injection),
	    BOTH(test_auth),
	    BOTH(test_protocol_errors),
	    BOTH(test_abort),
	    BOTH(test_reply_during_body),
	    BOTH(test_dsn),
	    BOTH(test_no_pipelining),
	    BOTH(test_rset_probe),
	    BOTH(test_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
