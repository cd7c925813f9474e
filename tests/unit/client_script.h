/*
 * client_script: scripted sessions of the client engine for its unit
 * tests (see client_script.c). Include after unit_util.h (cmocka).
 */
#ifndef RAVEN_TEST_CLIENT_SCRIPT_H
#define RAVEN_TEST_CLIENT_SCRIPT_H

#include <stddef.h>

#include "client.h"

/* How the server's octets are fed: the cmocka state points at one. */
extern const int feed_whole, feed_bytes;

struct t {
	struct client *c;
	int bytewise;
};

void t_start(struct t *t, void **state, const struct client_config *cfg);
void t_end(struct t *t);
/* The engine's pending output must be exactly want; it is then taken. */
void t_out(struct t *t, const char *want);
/* Feed the server's octets; returns how many the engine used. */
size_t t_feed_part(struct t *t, const char *s);
void t_feed(struct t *t, const char *s);
void t_want(struct t *t, enum client_want w);
/* Recipient i's outcome; text_has may be NULL. */
void t_res(struct t *t, size_t i, enum client_status st, enum client_stage stage, int code,
           const char *enh, const char *text_has);
void t_session(struct t *t, enum client_status st, enum client_stage stage, int code,
               const char *enh, const char *text_has);
/* Greeting and EHLO (t_hello) or verb with the given reply: then ready. */
void t_hello(struct t *t, const char *ehlo_reply);
void t_hello_verb(struct t *t, const char *verb, const char *ehlo_reply);
void t_msg(struct t *t, const struct client_msg *m);
/* QUIT, 221, close, and no session failure. */
void t_quit(struct t *t);

/* Every test twice: fed whole, then one byte at a time. */
#define BOTH(f)                                                                                    \
	cmocka_unit_test_prestate(f, (void *)&feed_whole),                                         \
	    cmocka_unit_test_prestate(f, (void *)&feed_bytes)

#endif
