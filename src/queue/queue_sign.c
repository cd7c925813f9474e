/*
 * queue_sign: DKIM signatures for relayed mail. With `dkim sign` configured,
 * a relay job does not leave before its message went once to the signer
 * role (raven-dkim): SIGN_REQ with a read-only descriptor of the spooled
 * data, SIGN_RES with the DKIM-Signature field, or why there is none (no
 * key for its From: domain). The field is kept with the message in memory
 * and put at the top of every relayed copy (DELIVER_REQ's prepend); a
 * restarted queue asks again. While the message is being signed, its jobs
 * wait here; a signer that fails (SIGN_TEMP) or goes away fails them
 * temporarily and they are retried on the usual schedule. Without a
 * connected signer the relay transport is paused (queue_transports_update).
 *
 * The answer is checked as every frame is (proto_decode_sign_res: a
 * signature must be header text); one to a question the signer was not
 * asked closes that peer.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue_int.h"
#include "xmalloc.h"

/* A relay job waiting for its message's signature. */
struct sign_wait {
	struct sched_job *job;
	uint64_t req;        /* the question, on the wait that asked it; else 0 */
	struct peer *signer; /* whom it was asked of */
	struct sign_wait *next;
};

struct peer *queue_signer(const struct queue_role *q)
{
	return queue_peer_of(q, PEER_DKIM);
}

int queue_sign_busy(const struct queue_role *q, const struct peer *p)
{
	for (const struct sign_wait *w = q->sign_list; w; w = w->next)
		if (w->signer == p)
			return 1;
	return 0;
}

static void park(struct queue_role *q, struct sched_job *j, uint64_t req, struct peer *signer)
{
	struct sign_wait *w = xcalloc(1, sizeof(*w));
	w->job = j;
	w->req = req;
	w->signer = signer;
	w->next = q->sign_list;
	q->sign_list = w;
}

/* Ask the signer about m: 0, or -1 (the job cannot wait for it). */
static int ask(struct queue_role *q, struct peer *signer, struct sched_msg *m, uint64_t req)
{
	int fd = spool_open_data(q->spool, m->env.id);
	if (fd == -1)
		return -1;
	struct proto_sign_req r = {
	    .req = req,
	    .id = m->env.id,
	    .size = m->env.size,
	    .crc = m->env.data_crc,
	    .has_crc = m->env.has_data_crc ? 1 : 0,
	};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_sign_req(&b, &r);
	int rc = ipc_send(signer->ch, PROTO_SIGN_REQ, b.data, b.len, fd);
	buf_free(&b);
	close(fd);
	return rc;
}

int queue_sign_wait(struct queue_role *q, struct sched_job *j)
{
	struct sched_msg *m = j->msg;
	if (!conf_has_dkim_sign(q->conf) || m->sign_state == SIGN_STATE_DONE)
		return 0;
	struct peer *signer = queue_signer(q);
	if (signer == NULL) /* the transport is paused: not expected */
		return 0;
	if (m->sign_state == SIGN_STATE_ASKED) {
		park(q, j, 0, signer);
		return 1;
	}
	uint64_t req = ++q->next_sign_req;
	if (ask(q, signer, m, req) == -1) {
		log_warn("event=dkim-ask-failed id=%s", m->env.id);
		return 0; /* the delivery itself will find what is wrong */
	}
	m->sign_state = SIGN_STATE_ASKED;
	park(q, j, req, signer);
	return 1;
}

/* The jobs of m that wait, out of the list (in the order they came). */
static struct sign_wait *take_waits(struct queue_role *q, const struct sched_msg *m)
{
	struct sign_wait *out = NULL;
	for (struct sign_wait **pp = &q->sign_list; *pp;) {
		struct sign_wait *w = *pp;
		if (w->job->msg == m) {
			*pp = w->next;
			w->next = out;
			out = w;
		} else {
			pp = &w->next;
		}
	}
	return out;
}

static void release(struct queue_role *q, struct sign_wait *w, const char *fail)
{
	while (w != NULL) {
		struct sign_wait *next = w->next;
		if (fail != NULL)
			queue_job_fail(q, w->job, fail);
		else
			queue_dispatch(q, w->job);
		free(w);
		w = next;
	}
}

int queue_sign_result(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct proto_sign_res r;
	if (proto_decode_sign_res(m->data, m->len, &r) == -1)
		return -1;
	struct sign_wait *asked = NULL;
	for (struct sign_wait *w = q->sign_list; w; w = w->next)
		if (w->req == r.req && r.req != 0 && w->signer == p)
			asked = w;
	if (asked == NULL) {
		proto_sign_res_free(&r);
		return -1; /* an answer to nothing it was asked */
	}
	struct sched_msg *msg = asked->job->msg;
	struct sign_wait *waits = take_waits(q, msg);
	if (r.status == SIGN_TEMP) {
		msg->sign_state = SIGN_STATE_NONE; /* asked again at the next try */
		char *why = xasprintf("4.3.0 DKIM signing failed: %s", r.text);
		release(q, waits, why);
		free(why);
	} else {
		msg->sign_state = SIGN_STATE_DONE;
		free(msg->dkim_sig);
		msg->dkim_sig = r.status == SIGN_OK ? xstrdup(r.text) : NULL;
		release(q, waits, NULL);
	}
	proto_sign_res_free(&r);
	return 0;
}

void queue_sign_peer_gone(struct queue_role *q, struct peer *p)
{
	for (;;) {
		struct sign_wait *w = q->sign_list;
		while (w != NULL && w->signer != p)
			w = w->next;
		if (w == NULL)
			return;
		struct sched_msg *msg = w->job->msg;
		msg->sign_state = SIGN_STATE_NONE;
		release(q, take_waits(q, msg), "4.3.0 the DKIM signer restarted");
	}
}

void queue_sign_free(struct queue_role *q)
{
	while (q->sign_list) {
		struct sign_wait *w = q->sign_list;
		q->sign_list = w->next;
		free(w);
	}
}
