/*
 * queue_deliver: hand due jobs to the delivery peers, and turn their
 * results into recorded outcomes, notices to the sender, and removal of
 * finished messages.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "queue_int.h"
#include "xmalloc.h"

/*
 * The transport table: which kind of role serves each transport. A
 * transport no role serves in this build (peer 0) has its attempts
 * deferred; one whose role is not connected right now waits for it.
 */
static const struct {
	uint8_t transport;
	enum peer_kind peer;
	const char *name;
} transports[] = {
    {TRANSPORT_LOCAL, PEER_LOCAL, "local"},
    {TRANSPORT_RELAY, PEER_RELAY, "relay"},
    {TRANSPORT_LMTP, PEER_RELAY, "lmtp"}, /* the relay role speaks LMTP too */
};

static enum peer_kind transport_peer(uint8_t transport)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (transports[i].transport == transport)
			return transports[i].peer;
	return 0;
}

static const char *transport_name(uint8_t transport)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (transports[i].transport == transport)
			return transports[i].name;
	return "?";
}

static struct peer *peer_of_kind(struct queue_role *q, enum peer_kind kind)
{
	for (struct peer *p = q->peers; p; p = p->next)
		if (p->kind == kind && p->ch && !p->retiring)
			return p;
	return NULL;
}

void queue_dest_of(void *arg, const struct envelope *e, uint32_t idx, struct sched_dest *out)
{
	struct queue_role *q = arg;
	const struct envelope_rcpt *r = &e->rcpts[idx];
	const char *action = r->action ? r->action : "";
	const struct action *a = conf_action(q->conf, action);
	out->action = action;
	out->nexthop = "";
	out->transport = TRANSPORT_LOCAL;
	size_t legacy = strlen(QUEUE_LEGACY_REMOTE);
	if (strncmp(action, QUEUE_LEGACY_REMOTE, legacy) == 0) {
		/* Written before destinations were structures: "relay:DOMAIN". */
		out->transport = TRANSPORT_RELAY;
		out->action = "";
		out->nexthop = action + legacy;
	} else if (action[0] == '\0' || (a != NULL && a->kind == ACTION_RELAY)) {
		/* By MX: the next hop is the recipient's domain, in lower case. */
		const char *at = r->addr ? strrchr(r->addr, '@') : NULL;
		snprintf(q->dest_buf, sizeof(q->dest_buf), "%s", at ? at + 1 : "");
		out->transport = TRANSPORT_RELAY;
		out->nexthop = ascii_lower_str(q->dest_buf);
	} else if (a != NULL && a->kind == ACTION_LMTP) {
		/* One destination per LMTP action, with its own limit; where it
		 * is, the relay role reads from its own configuration. */
		out->transport = TRANSPORT_LMTP;
		out->nexthop = a->lmtp_target;
	}
	/* An action the configuration no longer has stays local: the local
	 * role answers that it is not a mailbox action, and it is retried. */
}

void queue_transports_update(struct queue_role *q)
{
	int64_t now = queue_now(q);
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		enum peer_kind k = transports[i].peer;
		/* With signing keys, nothing is relayed without the signer. */
		int unsigned_relay =
		    k == PEER_RELAY && conf_has_dkim_sign(q->conf) && queue_signer(q) == NULL;
		sched_pause_transport(q->sched, transports[i].transport,
		                      k != 0 && (peer_of_kind(q, k) == NULL || unsigned_relay),
		                      now);
	}
}

static void job_outcomes(struct queue_role *q, struct sched_job *j, const uint8_t *status,
                         const uint8_t *rflags, char *const *text);
static void job_done(struct queue_role *q, struct sched_job *j);

/* Every recipient of j gets the same outcome, and the job is over (j freed). */
static void job_fail_all(struct queue_role *q, struct sched_job *j, uint8_t status, const char *why)
{
	uint8_t *st = xcalloc(j->n, sizeof(*st));
	char **text = xcalloc(j->n, sizeof(*text));
	for (size_t k = 0; k < j->n; k++) {
		st[k] = status;
		text[k] = (char *)why;
	}
	job_outcomes(q, j, st, NULL, text);
	job_done(q, j);
	free(text);
	free(st);
}

/*
 * A transport no role serves in this build (so far: notices to senders
 * elsewhere, which wait for outbound relay): every attempt is a temporary
 * failure, so the message stays queued, visible in `ravenctl queue`,
 * retried on the usual schedule until its lifetime ends.
 */
static void defer_unserved(struct queue_role *q, struct sched_job *j)
{
	char *why = xasprintf("4.4.0 no route to %s: outbound relay is not supported yet",
	                      j->dest->nexthop);
	job_fail_all(q, j, DELIVER_TEMP, why);
	free(why);
}

void queue_job_fail(struct queue_role *q, struct sched_job *j, const char *why)
{
	job_fail_all(q, j, DELIVER_TEMP, why);
}

void queue_dispatch(struct queue_role *q, struct sched_job *j)
{
	struct sched_msg *m = j->msg;
	enum peer_kind kind = transport_peer(j->dest->transport);
	struct peer *lp = kind ? peer_of_kind(q, kind) : NULL;
	if (lp == NULL) {
		/* A served transport without its peer is paused: not here. */
		defer_unserved(q, j);
		return;
	}
	if (kind == PEER_RELAY && queue_sign_wait(q, j))
		return; /* dispatched again once the signer has answered */
	struct proto_deliver d = {0};
	int fd = spool_open_data(q->spool, m->env.id);
	if (fd == -1) {
		int e = errno;
		int64_t now = queue_now(q);
		char text[128];
		snprintf(text, sizeof(text), "cannot open the spooled message: %s", strerror(e));
		log_warn("event=data-unreadable id=%s errno=%d", m->env.id, e);
		/* A passing error (EMFILE, ENOMEM, ...) is retried like any
		 * temporary failure; a committed message whose data is gone is
		 * damage, set aside once none of its jobs is in flight. */
		for (size_t k = 0; k < j->n; k++)
			sched_outcome(q->sched, j, j->idx[k], SCHED_TEMP, text, now);
		if (e == ENOENT) {
			m->data_missing = 1;
			sched_hold(q->sched, m);
		}
		sched_job_done(q->sched, j, now);
		if (m->data_missing && m->n_inflight == 0) {
			spool_quarantine(q->spool, m->env.id, "data file missing");
			sched_remove(q->sched, m);
		}
		return;
	}
	/* The delivering side checks the data against these as it reads it
	 * (docs/SPOOL.md §2); an envelope from before checksums has none. */
	d.size = m->env.size;
	d.crc = m->env.data_crc;
	d.has_crc = m->env.has_data_crc;
	d.job = j->id;
	d.id = m->env.id;
	d.action = (char *)j->dest->action;
	d.arrival = m->env.arrival;
	d.sender = m->env.sender;
	d.body = m->env.body;
	d.smtputf8 = m->env.smtputf8;
	d.ret = m->env.ret;
	d.envid = m->env.envid;
	/* For the top: the DKIM signature, then our Authentication-Results. */
	char *top =
	    xasprintf("%s%s", m->dkim_sig ? m->dkim_sig : "", m->env.trace ? m->env.trace : "");
	d.prepend = top;
	d.n = j->n;
	d.idx = j->idx;
	d.user = xcalloc(j->n, sizeof(*d.user));
	d.addr = xcalloc(j->n, sizeof(*d.addr));
	d.notify = xcalloc(j->n, sizeof(*d.notify));
	d.orcpt = xcalloc(j->n, sizeof(*d.orcpt));
	for (size_t k = 0; k < j->n; k++) {
		const struct envelope_rcpt *r = &m->env.rcpts[j->idx[k]];
		d.user[k] = r->user ? r->user : "";
		d.addr[k] = r->addr;
		d.notify[k] = r->notify;
		d.orcpt[k] = r->orcpt;
	}
	struct buf b;
	buf_init(&b, 0);
	proto_encode_deliver(&b, &d);
	if (ipc_send(lp->ch, PROTO_DELIVER_REQ, b.data, b.len, fd) == 0) {
		struct inflight *f = xcalloc(1, sizeof(*f));
		f->job = j;
		f->peer = lp;
		f->next = lp->jobs;
		if (lp->jobs)
			lp->jobs->prev = f;
		lp->jobs = f;
		hmap_put_u64(q->inflight, j->id, f);
	} else {
		/* No descriptor to pass the message with: this job waits. */
		int e = errno;
		char text[128];
		snprintf(text, sizeof(text),
		         "4.3.0 cannot pass the message to the delivery role: %s", strerror(e));
		log_warn("event=job-pass-failed id=%s errno=%d", m->env.id, e);
		job_fail_all(q, j, DELIVER_TEMP, text);
	}
	buf_free(&b);
	close(fd);
	free(d.user);
	free(d.addr);
	free(d.notify);
	free(d.orcpt);
	free(top);
}

/*
 * Acceptance first: while commits keep coming, deliveries are handed out
 * in bursts every QUEUE_BURST_USEC rather than one by one. Each delivery
 * batch costs its own file-system syncs, which slow the commit syncs the
 * clients are waiting for; a burst turns many small delivery batches into
 * one large one. With no commit in the last QUEUE_BUSY_USEC, deliveries go
 * out at once.
 */
#define QUEUE_BUSY_USEC  20000
#define QUEUE_BURST_USEC 25000

void queue_note_commit(struct queue_role *q)
{
	q->last_commit_us = q->clock.mono_usec(q->clock.arg);
}

static void burst_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue_role *q = arg;
	(void)fd;
	(void)what;
	q->burst_due = 1;
	queue_schedule(q);
}

static int deliveries_paused(struct queue_role *q)
{
	if (q->burst_due) {
		q->burst_due = 0;
		return 0;
	}
	if (q->clock.mono_usec(q->clock.arg) - q->last_commit_us >= QUEUE_BUSY_USEC)
		return 0;
	if (q->burst_ev == NULL)
		q->burst_ev = evtimer_new(q->base, burst_cb, q);
	if (!evtimer_pending(q->burst_ev, NULL)) {
		struct timeval tv = {0, QUEUE_BURST_USEC};
		evtimer_add(q->burst_ev, &tv);
	}
	return 1;
}

void queue_schedule(struct queue_role *q)
{
	if (deliveries_paused(q))
		return;
	int64_t now = queue_now(q);
	struct sched_job *j;
	while ((j = sched_next_job(q->sched, now)) != NULL)
		queue_dispatch(q, j);
	int64_t next = sched_next_wakeup(q->sched);
	evtimer_del(q->timer);
	if (next != INT64_MAX) {
		struct timeval tv = {next > now ? next - now : 0, 0};
		evtimer_add(q->timer, &tv);
	}
}

static struct inflight *inflight_find(struct queue_role *q, uint64_t job)
{
	return hmap_get_u64(q->inflight, job);
}

static void inflight_unlink(struct queue_role *q, struct inflight *f)
{
	hmap_del_u64(q->inflight, f->job->id);
	if (f->prev)
		f->prev->next = f->next;
	else
		f->peer->jobs = f->next;
	if (f->next)
		f->next->prev = f->prev;
}

/* The status a failure DSN reports (RFC 3463); NULL: the code the
 * delivery's error text opens with (bounce.h). */
static const char *failure_status(enum sched_status st)
{
	return st == SCHED_TEMP ? "4.4.7" /* delivery time expired */ : NULL;
}

/* RFC 3461 §4.1: without NOTIFY, failures (and delays) are reported. */
static int wants(uint32_t notify, uint32_t bit, int by_default)
{
	return notify == 0 ? by_default : (notify & bit) != 0;
}

/* Apply a whole job's outcomes, send the notices they call for, then
 * persist: a notice is committed before the state that says it was sent. */
static void job_outcomes(struct queue_role *q, struct sched_job *j, const uint8_t *status,
                         const uint8_t *rflags, char *const *text)
{
	/* A relay's success is the next hop's to report (it has the DSN
	 * parameters), unless that hop cannot: then we say "relayed". An LMTP
	 * server is the final delivery: its success is "delivered", ours. */
	int relay = j->dest->transport == TRANSPORT_RELAY;
	const char *ok_action = relay ? "relayed" : NULL;
	struct sched_msg *m = j->msg;
	int64_t now = queue_now(q);
	uint32_t *fail = xcalloc(j->n, sizeof(*fail)), *ok = xcalloc(j->n, sizeof(*ok)),
	         *delay = xcalloc(j->n, sizeof(*delay));
	const char **fail_st = xcalloc(j->n, sizeof(*fail_st));
	size_t nf = 0, nok = 0, nd = 0;
	for (size_t k = 0; k < j->n; k++) {
		uint32_t idx = j->idx[k];
		enum sched_status st = status[k] == DELIVER_OK     ? SCHED_OK
		                       : status[k] == DELIVER_PERM ? SCHED_PERM
		                                                   : SCHED_TEMP;
		uint8_t state = sched_outcome(q->sched, j, idx, st, text[k], now);
		queue_metrics_outcome(q, j, m, state);
		struct envelope_rcpt *r = &m->env.rcpts[idx];
		char esc[600], to[300], user[200];
		log_escape(esc, sizeof(esc), text[k], strlen(text[k]));
		log_escape(to, sizeof(to), r->addr, strlen(r->addr));
		log_escape(user, sizeof(user), r->user ? r->user : "",
		           r->user ? strlen(r->user) : 0);
		static const char *const names[] = {"pending", "deferred", "held", "delivered",
		                                    "failed"};
		log_info("event=%s id=%s rcpt=%u to=\"%s\" user=\"%s\" attempts=%u next_try=%lld "
		         "text=\"%s\"",
		         names[state], m->env.id, idx, to, user, r->attempts,
		         state == RCPT_DEFERRED ? (long long)(r->next_try - now) : 0LL, esc);
		if (state == RCPT_DELIVERED) {
			q->counters.delivered++;
			int notice = !relay || (rflags && (rflags[k] & PROTO_RCPT_RELAYED));
			if (notice && wants(r->notify, NOTIFY_SUCCESS, 0))
				ok[nok++] = idx;
		} else if (state == RCPT_FAILED) {
			q->counters.failed++;
			fail_st[nf] = failure_status(st);
			if (wants(r->notify, NOTIFY_FAILURE, 1))
				fail[nf++] = idx;
		} else {
			q->counters.deferred++;
			if (state == RCPT_DEFERRED && sched_delay_due(q->sched, m, idx, now))
				delay[nd++] = idx;
		}
	}
	if (nf && queue_dsn(q, m, DSN_FAILURE, fail, fail_st, nf, NULL) == 0)
		for (size_t k = 0; k < nf; k++)
			m->env.rcpts[fail[k]].notified |= ENVELOPE_NOTIFIED_FINAL;
	if (nok && queue_dsn(q, m, DSN_SUCCESS, ok, NULL, nok, ok_action) == 0)
		for (size_t k = 0; k < nok; k++)
			m->env.rcpts[ok[k]].notified |= ENVELOPE_NOTIFIED_FINAL;
	if (nd && queue_dsn(q, m, DSN_DELAY, delay, NULL, nd, NULL) == 0)
		for (size_t k = 0; k < nd; k++)
			sched_delay_sent(q->sched, m, delay[k], now);
	/* A message that is now finished is removed instead: recording its
	 * last outcomes first would be a write for nothing — unless a failure
	 * notice could not be sent and must be retried (queue_dsn_owed). */
	if (!sched_msg_final(m) || queue_dsn_owed(m))
		for (size_t k = 0; k < j->n; k++)
			queue_persist(q, m, j->idx[k]);
	free(fail);
	free(ok);
	free(delay);
	free(fail_st);
}

static void job_done(struct queue_role *q, struct sched_job *j)
{
	struct sched_msg *m = j->msg;
	sched_job_done(q->sched, j, queue_now(q));
	if ((m->data_missing || m->data_corrupt) && m->n_inflight == 0) {
		spool_quarantine(q->spool, m->env.id,
		                 m->data_missing
		                     ? "data file missing"
		                     : "data file fails its checksum (damaged on disk)");
		sched_remove(q->sched, m);
	} else if (sched_msg_final(m) && m->n_inflight == 0) {
		if (queue_dsn_owed(m))
			queue_dsn_retry_later(q);
		else
			queue_finish(q, m, "all recipients final");
	}
}

/*
 * Every host of the job's destination failed to answer: the destination
 * waits for its backoff as a whole, and its other queued messages wait
 * with it instead of each trying the dead site again.
 */
static void dest_down(struct queue_role *q, struct sched_job *j)
{
	const struct envelope_rcpt *r = &j->msg->env.rcpts[j->idx[0]];
	unsigned secs = sched_backoff(sched_params(q->sched), r->attempts + 1);
	int64_t now = queue_now(q);
	sched_dest_down(q->sched, j->dest, now + secs, now);
	char hop[300];
	log_escape(hop, sizeof(hop), j->dest->nexthop, strlen(j->dest->nexthop));
	log_info("event=destination-down transport=%s nexthop=\"%s\" seconds=%u",
	         transport_name(j->dest->transport), hop, secs);
}

/* A delivery's reason opens with its RFC 3463 code: 4.3.1 "mail system
 * full" is ENOSPC, 4.2.2 "mailbox full" EDQUOT (src/deliver/maildir.c). */
static int no_space(const char *text)
{
	return strncmp(text, "4.3.1", 5) == 0 || strncmp(text, "4.2.2", 5) == 0;
}

/*
 * The delivering side found the message's data damaged (it did not match
 * the size and checksum its envelope recorded at commit): nothing was
 * delivered. Loudly logged; the message is held, and set aside in corrupt/
 * once none of its jobs is in flight — never delivered, whole or half.
 */
static void data_damaged(struct queue_role *q, struct sched_job *j, struct proto_result *res)
{
	struct sched_msg *m = j->msg;
	for (size_t k = 0; k < res->n; k++) {
		if (res->status[k] != DELIVER_CORRUPT)
			continue;
		res->status[k] = DELIVER_TEMP; /* for the schedule, until it is set aside */
		if (m->data_corrupt)
			continue;
		char esc[600];
		log_escape(esc, sizeof(esc), res->text[k], strlen(res->text[k]));
		log_warn("event=data-corrupt id=%s rcpt=%u reason=\"%s\" action=quarantine",
		         m->env.id, res->idx[k], esc);
		m->data_corrupt = 1;
		sched_hold(q->sched, m);
	}
}

int queue_handle_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_result res;
	if (proto_decode_result(m->data, m->len, &res) == -1)
		return -1;
	struct inflight *f = inflight_find(q, res.job);
	int ok = f != NULL && f->peer == p && res.n == f->job->n;
	for (size_t k = 0; ok && k < res.n; k++)
		ok = res.idx[k] == f->job->idx[k];
	if (!ok) {
		/* Its jobs in flight are retried when the peer is dropped. */
		log_warn("event=bad-result job=%llu reason=\"not a job of this peer, or the "
		         "wrong recipients\"",
		         (unsigned long long)res.job);
		proto_result_free(&res);
		return -1;
	}
	inflight_unlink(q, f);
	if (res.flags & PROTO_DEST_UNREACHABLE)
		dest_down(q, f->job);
	data_damaged(q, f->job, &res);
	for (size_t k = 0; k < res.n; k++)
		if (res.status[k] == DELIVER_TEMP && no_space(res.text[k])) {
			queue_space_trouble(q, f->job->msg->env.id);
			break;
		}
	job_outcomes(q, f->job, res.status, res.rflags, res.text);
	job_done(q, f->job);
	free(f);
	proto_result_free(&res);
	queue_schedule(q);
	return 0;
}

void queue_peer_lost(struct queue_role *q, struct peer *p)
{
	/* Deliveries in flight on a dead peer are retried like any temporary failure. */
	while (p->jobs) {
		struct inflight *f = p->jobs;
		inflight_unlink(q, f);
		job_fail_all(q, f->job, DELIVER_TEMP, "4.3.0 delivery process died");
		free(f);
	}
}
