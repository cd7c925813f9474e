/*
 * queue_dsn: delivery status notifications to the envelope sender —
 * failures, delays and (when asked with NOTIFY=SUCCESS) successes. The DSN
 * is built by bounce.c and committed to the spool like any message, from
 * the null sender <>, so a DSN that cannot be delivered is never bounced.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "queue_int.h"
#include "route.h"
#include "util.h"
#include "xmalloc.h"

static const char *kind_name(enum dsn_kind k)
{
	return k == DSN_FAILURE ? "failure" : k == DSN_DELAY ? "delay" : "success";
}

/*
 * Where a DSN to the sender goes: 0, its local mailboxes (rr); 1, a
 * remote domain (rr->action: the relay action a local client's mail to it
 * would take, or NULL for the built-in MX relay); -1, nowhere, why.
 */
static int route_sender(struct queue_role *q, const char *sender, struct route_result *rr,
                        char *why, size_t whylen)
{
	struct mailaddr a;
	struct smtp_reply err;
	if (addr_parse_mailbox(sender, strlen(sender), ADDR_ALLOW_UTF8, &a, &err) == -1) {
		snprintf(why, whylen, "sender address does not parse: %s", err.text);
		return -1;
	}
	struct route_request rq = {.local = a.local, .domain = a.domain, .from = FROM_LOCAL};
	route_resolve(q->conf, &rq, rr);
	if (rr->verdict == ROUTE_LOCAL)
		return 0;
	if (rr->verdict == ROUTE_RELAY)
		return 1;
	int relay = rr->verdict == ROUTE_RELAY_DENIED;
	snprintf(why, whylen, "%s", relay ? "no route to the sender's domain" : rr->reason);
	route_result_free(rr);
	return relay && a.domain[0] != '\0' ? 1 : -1;
}

/*
 * A relay's failure text, "[X.Y.Z ]host NAME[ADDR] said: REPLY": NAME into
 * remote and the reply returned (NULL if the text is not one).
 */
static const char *remote_reply(const char *text, char remote[256])
{
	const char *h = strstr(text, "host ");
	const char *said = h ? strstr(h, " said: ") : NULL;
	if (h == NULL || said == NULL || (h != text && h[-1] != ' '))
		return NULL;
	h += 5;
	size_t n = strcspn(h, "[ ");
	if (n == 0 || n >= 256 || h + n > said)
		return NULL;
	memcpy(remote, h, n);
	remote[n] = '\0';
	return said + 7;
}

int queue_dsn(struct queue_role *q, struct sched_msg *m, enum dsn_kind kind, const uint32_t *idx,
              const char *const *status, size_t n, const char *action)
{
	const struct envelope *e = &m->env;
	char why[256];
	if (e->sender[0] == '\0') {
		/* A bounce never bounces (RFC 5321 §6.1, RFC 3461 §6.2). */
		log_info("event=dsn-dropped id=%s kind=%s reason=\"null sender\"", e->id,
		         kind_name(kind));
		return 0;
	}
	struct route_result rr;
	int where = route_sender(q, e->sender, &rr, why, sizeof(why));
	if (where == -1) {
		log_warn("event=dsn-undeliverable id=%s kind=%s reason=\"%s\"", e->id,
		         kind_name(kind), why);
		return 0; /* retrying will not help; do not try again */
	}
	int64_t now = queue_now(q);
	struct dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
	char(*remote)[256] = xcalloc(n, sizeof(*remote));
	for (size_t k = 0; k < n; k++) {
		const struct envelope_rcpt *r = &e->rcpts[idx[k]];
		dr[k].addr = r->addr;
		dr[k].orcpt = r->orcpt;
		dr[k].action = action;
		dr[k].status = status ? status[k] : NULL; /* from last_error, see bounce.h */
		dr[k].diagnostic = kind == DSN_SUCCESS ? NULL : r->last_error;
		/* "host H[ip] said: 550 5.1.1 ...": the remote host and its reply */
		const char *said = r->last_error ? remote_reply(r->last_error, remote[k]) : NULL;
		if (said != NULL && kind != DSN_SUCCESS) {
			dr[k].remote_mta = remote[k];
			dr[k].diagnostic = said;
			dr[k].diagnostic_is_smtp = 1;
		}
		dr[k].last_attempt = r->last_attempt;
		dr[k].retry_until =
		    kind == DSN_DELAY ? e->arrival + (int64_t)q->conf->max_lifetime : 0;
	}
	struct dsn_request rq = {
	    .kind = kind,
	    .reporting_mta = q->conf->hostname,
	    .queue_id = e->id,
	    .envid = e->envid,
	    .ret = e->ret,
	    .sender = e->sender,
	    .arrival = e->arrival,
	    .now = now,
	    .rcpts = dr,
	    .n_rcpts = n,
	};
	struct buf out;
	buf_init(&out, 0);
	int rc = -1, fd = spool_open_data(q->spool, e->id);
	if (fd == -1)
		snprintf(why, sizeof(why), "cannot open the message: %s", strerror(errno));
	else if (bounce_build(&rq, fd, e->size, q->conf->bounce_size, &out, why, sizeof(why)) == 0)
		rc = 0;
	if (fd != -1)
		close(fd);
	free(dr);
	free(remote);
	if (rc == -1) {
		log_warn("event=dsn-failed id=%s kind=%s reason=\"%s\"", e->id, kind_name(kind),
		         why);
		route_result_free(&rr);
		buf_free(&out);
		return -1;
	}
	struct envelope_draft dsn = {0};
	dsn.arrival = now;
	dsn.sender = "";
	dsn.helo = q->conf->hostname;
	dsn.client = "localhost";
	dsn.body = bounce_is_8bit(out.data, out.len) ? BODY_8BITMIME : BODY_7BIT;
	/* A UTF-8 envelope address needs SMTPUTF8 if the notice is ever relayed. */
	dsn.smtputf8 = bounce_is_8bit(e->sender, strlen(e->sender)) ? 1 : 0;
	struct envelope_draft_rcpt *dr2;
	if (where == 1) {
		/* One recipient elsewhere; it waits in the queue for outbound relay. */
		dsn.n_rcpts = 1;
		dr2 = xcalloc(1, sizeof(*dr2));
		dr2[0].addr = e->sender;
		dr2[0].action = rr.action ? rr.action->name : "";
	} else {
		dsn.n_rcpts = rr.n_users;
		dr2 = xcalloc(rr.n_users, sizeof(*dr2));
		for (size_t k = 0; k < rr.n_users; k++) {
			dr2[k].addr = e->sender;
			dr2[k].action = rr.action->name;
			dr2[k].user = rr.users[k];
		}
	}
	dsn.rcpts = dr2;
	rc = queue_inject(q, &dsn, &out);
	if (rc == 0) {
		q->counters.bounces++;
		queue_metrics_dsn(q, kind);
		char to[600];
		log_escape(to, sizeof(to), e->sender, strlen(e->sender));
		const char *at = strrchr(e->sender, '@');
		char hop[300];
		log_escape(hop, sizeof(hop), at ? at + 1 : "", at ? strlen(at + 1) : 0);
		log_info("event=dsn-queued id=%s kind=%s dsn_id=%s to=\"%s\" rcpts=%zu "
		         "transport=%s action=\"%s\" nexthop=\"%s\"",
		         e->id, kind_name(kind), dsn.id, to, n, where == 1 ? "relay" : "local",
		         rr.action ? rr.action->name : "", where == 1 ? ascii_lower_str(hop) : "");
	}
	free(dr2);
	route_result_free(&rr);
	buf_free(&out);
	return rc;
}

/* RFC 3461 §4.1: without NOTIFY, failures are reported. */
static int wants_failure(const struct envelope_rcpt *r)
{
	return r->notify == 0 || (r->notify & NOTIFY_FAILURE) != 0;
}

int queue_dsn_owed(const struct sched_msg *m)
{
	if (m->env.sender[0] == '\0')
		return 0;
	for (size_t i = 0; i < m->env.n_rcpts; i++) {
		const struct envelope_rcpt *r = &m->env.rcpts[i];
		if (r->state == RCPT_FAILED && wants_failure(r) &&
		    !(r->notified & ENVELOPE_NOTIFIED_FINAL))
			return 1;
	}
	return 0;
}

struct owed {
	char (*ids)[ENVELOPE_ID_MAX + 1];
	size_t n;
};

static void collect_owed(struct sched_msg *m, void *arg)
{
	struct owed *o = arg;
	if (m->n_inflight == 0 && queue_dsn_owed(m)) {
		o->ids = xreallocarray(o->ids, o->n + 1, sizeof(*o->ids));
		snprintf(o->ids[o->n++], ENVELOPE_ID_MAX + 1, "%s", m->env.id);
	}
}

static void dsn_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	queue_dsn_sweep(arg);
}

/* Send every owed failure notice; messages whose work is then done leave. */
void queue_dsn_sweep(struct queue_role *q)
{
	struct owed o = {NULL, 0};
	sched_foreach(q->sched, collect_owed, &o);
	int64_t now = queue_now(q);
	int again = 0;
	for (size_t i = 0; i < o.n; i++) {
		struct sched_msg *m = sched_find(q->sched, o.ids[i]);
		if (m == NULL)
			continue;
		uint32_t *idx = xcalloc(m->env.n_rcpts, sizeof(*idx));
		const char **st = xcalloc(m->env.n_rcpts, sizeof(*st));
		size_t n = 0;
		for (uint32_t k = 0; k < m->env.n_rcpts; k++) {
			const struct envelope_rcpt *r = &m->env.rcpts[k];
			if (r->state != RCPT_FAILED || !wants_failure(r) ||
			    (r->notified & ENVELOPE_NOTIFIED_FINAL))
				continue;
			/* NULL: the code the last error opens with, else 5.0.0 */
			st[n] = sched_expired(q->sched, m, now) ? "4.4.7" : NULL;
			idx[n++] = k;
		}
		if (queue_dsn(q, m, DSN_FAILURE, idx, st, n, NULL) == 0) {
			for (size_t k = 0; k < n; k++) {
				m->env.rcpts[idx[k]].notified |= ENVELOPE_NOTIFIED_FINAL;
				queue_persist(q, m, idx[k]);
			}
			if (sched_msg_final(m))
				queue_finish(q, m, "all recipients final");
		} else {
			again = 1;
		}
		free(idx);
		free(st);
	}
	free(o.ids);
	if (again)
		queue_dsn_retry_later(q);
}

void queue_dsn_retry_later(struct queue_role *q)
{
	if (q->dsn_timer == NULL)
		q->dsn_timer = evtimer_new(q->base, dsn_sweep, q);
	if (!evtimer_pending(q->dsn_timer, NULL)) {
		struct timeval tv = {q->conf->retry_min ? q->conf->retry_min : 60, 0};
		evtimer_add(q->dsn_timer, &tv);
	}
}
