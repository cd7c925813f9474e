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
	session_timer_del(s->lookup_timer);
	s->waiting = 0;
	free(s->lookup);
	s->lookup = NULL;
}

static void temp_failure(struct session *s, const char *why)
{
	struct smtp_reply r;
	char esc[600];
	const char *addr = s->lookup ? s->lookup->cmd.addr.text : "";
	int rcpt = s->lookup_rerun == session_cmd_rcpt;
	log_escape(esc, sizeof(esc), addr, strlen(addr));
	log_warn("event=%s-refused session=%s %s=\"%s\" code=451 table=%s reason=\"%s\"",
	         rcpt ? "rcpt" : "mail", s->idtext, rcpt ? "rcpt" : "from", esc, s->lookup->table,
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
	if (s->lookup == NULL)
		return;
	smtp_server_cancel(s->srv, s);
	temp_failure(s, "no answer from the lookup role");
	session_resume(s);
}

void session_lookup_start(struct session *s, const struct smtp_cmd *c, session_cmd_fn rerun,
                          const char *table, const char *key)
{
	if (s->lookup == NULL) {
		s->lookup = xcalloc(1, sizeof(*s->lookup));
		s->lookup->cmd = *c;
		s->lookup_rounds = 0;
	}
	s->lookup_rerun = rerun;
	snprintf(s->lookup->table, sizeof(s->lookup->table), "%s", table);
	snprintf(s->lookup->key, sizeof(s->lookup->key), "%s", key);
	if (++s->lookup_rounds > LOOKUP_MAX_ROUNDS) {
		temp_failure(s, "too many lookups for one recipient");
		return;
	}
	struct timeval tv = {LOOKUP_ANSWER_SECS, 0};
	session_timer_add(s, &s->lookup_timer, lookup_timer_cb, &tv);
	smtp_server_request_lookup(s->srv, s, s->lookup->table, s->lookup->key);
}

void session_lookup_result(struct session *s, int status, const char *value)
{
	if (s->lookup == NULL)
		return;
	if (status == LOOKUP_TEMP) {
		temp_failure(s, "the table's database did not answer");
		session_resume(s);
		return;
	}
	route_cache_put(smtp_server_lookups(s->srv), s->lookup->table, s->lookup->key,
	                status == LOOKUP_FOUND, value);
	/* The command again, from the start, with one more answer known. */
	struct smtp_cmd *c = &s->lookup->cmd;
	session_timer_del(s->lookup_timer);
	s->waiting = 0;
	s->lookup_rerun(s, c);
	/* Decided, not another round (MAIL may still wait, for its DNS checks). */
	if (!session_timer_pending(s->lookup_timer)) {
		free(s->lookup);
		s->lookup = NULL;
	}
	session_resume(s);
}

void session_lookup_free(struct session *s)
{
	session_timer_free(&s->lookup_timer);
	free(s->lookup);
	s->lookup = NULL;
}
