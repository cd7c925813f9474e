/*
 * session_lookup: RCPT (and MAIL, for an SQL "auth senders" table) against
 * tables kept in databases. Routing
 * (route_resolve) takes the answers it needs from a cache of the lookup
 * role's answers; one it lacks makes the recipient ROUTE_PENDING on that
 * lookup: the session asks it (smtp -> queue -> raven-lookup), stops
 * reading the client's commands, and when the answer comes it is cached
 * and the RCPT command runs again from the start. A recipient that needs
 * several lookups (an alias, then its users) takes several rounds, each
 * answered from the cache afterwards. The database down, the lookup role
 * missing or slow: 451 4.3.0, never 5xx.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "lookup.h"
#include "route_cache.h"
#include "server.h"
#include "session.h"
#include "ttl_cache.h"
#include "util.h"
#include "xmalloc.h"

/* How long the lookup role may take to answer one question. */
#define LOOKUP_ANSWER_SECS 15
/* Lookups one RCPT may need (alias targets checked one by one). */
#define LOOKUP_MAX_ROUNDS 32

static void lookup_over(struct session *s)
{
	evtimer_del(s->lookup_timer);
	s->waiting = 0;
	free(s->lookup_cmd);
	s->lookup_cmd = NULL;
}

static void temp_failure(struct session *s, const char *why)
{
	struct smtp_reply r;
	char esc[600];
	const char *addr = s->lookup_cmd ? s->lookup_cmd->addr.text : "";
	int rcpt = s->lookup_rerun == session_cmd_rcpt;
	log_escape(esc, sizeof(esc), addr, strlen(addr));
	log_warn("event=%s-refused session=%s %s=\"%s\" code=451 table=%s reason=\"%s\"",
	         rcpt ? "rcpt" : "mail", s->idtext, rcpt ? "rcpt" : "from", esc, s->lookup_table,
	         why);
	if (rcpt)
		smtp_server_count(s->srv, MET_SMTP_RCPT_TEMPFAIL);
	snprintf(r.text, sizeof(r.text), "<%.60s>: Temporary lookup failure", addr);
	r.code = 451;
	snprintf(r.enh, sizeof(r.enh), "4.3.0");
	lookup_over(s);
	session_reply(s, "%d %s %s", r.code, r.enh, r.text);
}

static void lookup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	(void)fd;
	(void)what;
	if (s->lookup_cmd == NULL)
		return;
	smtp_server_cancel(s->srv, s);
	temp_failure(s, "no answer from the lookup role");
	session_resume(s);
}

void session_lookup_start(struct session *s, const struct smtp_cmd *c, session_cmd_fn rerun,
                          const char *table, const char *key)
{
	if (s->lookup_cmd == NULL) {
		s->lookup_cmd = xmalloc(sizeof(*c));
		memcpy(s->lookup_cmd, c, sizeof(*c));
		s->lookup_rounds = 0;
	}
	s->lookup_rerun = rerun;
	snprintf(s->lookup_table, sizeof(s->lookup_table), "%s", table);
	snprintf(s->lookup_key, sizeof(s->lookup_key), "%s", key);
	if (++s->lookup_rounds > LOOKUP_MAX_ROUNDS) {
		temp_failure(s, "too many lookups for one recipient");
		return;
	}
	struct timeval tv = {LOOKUP_ANSWER_SECS, 0};
	evtimer_add(s->lookup_timer, &tv);
	smtp_server_request_lookup(s->srv, s, s->lookup_table, s->lookup_key);
}

void session_lookup_result(struct session *s, int status, const char *value)
{
	if (s->lookup_cmd == NULL)
		return;
	if (status == LOOKUP_TEMP) {
		temp_failure(s, "the table's database did not answer");
		session_resume(s);
		return;
	}
	route_cache_put(smtp_server_lookups(s->srv), s->lookup_table, s->lookup_key,
	                status == LOOKUP_FOUND, value);
	/* The command again, from the start, with one more answer known. */
	struct smtp_cmd *c = s->lookup_cmd;
	evtimer_del(s->lookup_timer);
	s->waiting = 0;
	s->lookup_rerun(s, c);
	/* Decided, not another round (MAIL may still wait, for its DNS checks). */
	if (!evtimer_pending(s->lookup_timer, NULL)) {
		free(s->lookup_cmd);
		s->lookup_cmd = NULL;
	}
	session_resume(s);
}

void session_lookup_init(struct session *s)
{
	s->lookup_timer = evtimer_new(smtp_server_base(s->srv), lookup_timer_cb, s);
}

void session_lookup_free(struct session *s)
{
	event_free(s->lookup_timer);
	free(s->lookup_cmd);
	s->lookup_cmd = NULL;
}
