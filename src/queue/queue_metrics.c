/* queue_metrics: where Raven's metrics add up (see queue_metrics.h). */
#include "queue_metrics.h"

#include <string.h>

#include "log.h"
#include "metrics_fmt.h"
#include "queue_int.h"
#include "version.h"

/* Commit batches: a lone message up to the bursts of a loaded server. */
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
/* Delivery latency: a local delivery's milliseconds up to the lifetime of
 * a message retried for days. */
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,   1,     2.5,   5,
                                        10,    30,   60,    300,  900, 3600, 14400, 86400, 432000};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

void queue_metrics_init(struct queue_metrics *qm)
{
	memset(qm, 0, sizeof(*qm));
	prom_hist_init(&qm->batch, batch_bounds, N_OF(batch_bounds));
	for (size_t i = 0; i < N_OF(qm->latency); i++)
		prom_hist_init(&qm->latency[i], latency_bounds, N_OF(latency_bounds));
}

static void add(uint64_t *v, uint64_t n)
{
	*v = *v > UINT64_MAX - n ? UINT64_MAX : *v + n;
}

int queue_metrics_counters(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	struct metric_values mv;
	if (metrics_decode_counters(m->data, m->len, p->kind, &mv) == -1)
		return -1;
	for (size_t i = 0; i < MET_COUNT; i++) {
		if (!mv.set[i])
			continue;
		if (metric_def((enum metric_id)i)->type == PROM_GAUGE)
			p->gauge[i] = mv.v[i]; /* counts while p is connected */
		else
			add(&q->met.v[i], mv.v[i]); /* kept when p goes */
	}
	return 0;
}

int queue_admin_prometheus(struct queue_role *q, struct buf *out)
{
	struct metrics_snapshot s;
	memset(&s, 0, sizeof(s));
	s.version = version_string();
	s.now = queue_now(q);
	s.daemon_started = q->met.starts.started;
	s.queue_started = (int64_t)q->counters.started;
	memcpy(s.v, q->met.v, sizeof(s.v));
	s.v[MET_QUEUE_COMMITTED] = q->counters.committed;
	for (const struct peer *p = q->peers; p; p = p->next) {
		if (p->ch == NULL)
			continue;
		s.processes[p->kind]++;
		for (size_t i = 0; i < MET_COUNT; i++)
			if (metric_def((enum metric_id)i)->owner == p->kind)
				add(&s.v[i], p->gauge[i]); /* counters of peers stay 0 here */
	}
	struct sched_stats st;
	sched_stats(q->sched, &st);
	s.v[MET_QUEUE_MESSAGES] = st.messages;
	s.v[MET_QUEUE_RCPT_PENDING] = st.by_state[RCPT_PENDING];
	s.v[MET_QUEUE_RCPT_DEFERRED] = st.by_state[RCPT_DEFERRED];
	s.v[MET_QUEUE_RCPT_HELD] = st.by_state[RCPT_HELD];
	s.v[MET_QUEUE_IN_FLIGHT] = st.jobs_in_flight;
	s.starts = &q->met.starts;
	s.batch = &q->met.batch;
	s.latency_local = &q->met.latency[0];
	s.latency_relay = &q->met.latency[1];
	return metrics_fmt(out, &s);
}

int queue_metrics_request(struct queue_role *q, struct peer *p, const struct ipc_msg *m)
{
	uint64_t req;
	if (proto_decode_req(m->data, m->len, &req) == -1)
		return -1;
	struct buf text, b;
	buf_init(&text, IPC_MAX_PAYLOAD - 64);
	buf_init(&b, 0);
	if (queue_admin_prometheus(q, &text) == -1) {
		log_warn("event=metrics-too-large octets=%zu", text.len);
		buf_reset(&text); /* an empty text: the endpoint answers 503 */
	}
	metrics_encode_text(&b, req, text.data, text.len);
	if (p->ch)
		ipc_send(p->ch, PROTO_METRICS_TEXT, b.data, b.len, -1);
	buf_free(&b);
	buf_free(&text);
	return 0;
}

int queue_metrics_starts(struct queue_role *q, const struct ipc_msg *m)
{
	struct role_starts rs;
	if (metrics_decode_starts(m->data, m->len, &rs) == -1)
		return -1;
	q->met.starts = rs;
	return 0;
}

void queue_metrics_arrived(struct queue_role *q, struct sched_msg *m)
{
	if (m != NULL)
		m->queued_us = q->clock.mono_usec(q->clock.arg);
}

void queue_metrics_batch(struct queue_role *q, size_t n)
{
	prom_hist_observe(&q->met.batch, (double)n);
}

void queue_metrics_outcome(struct queue_role *q, const struct sched_job *j,
                           const struct sched_msg *m, uint8_t state)
{
	int relay = j->dest->transport == TRANSPORT_RELAY;
	if (state == RCPT_DELIVERED) {
		q->met.v[relay ? MET_DELIVERED_RELAY : MET_DELIVERED_LOCAL]++;
		/* Recovered from the spool: only the arrival's second is known. */
		double secs = m->queued_us
		                  ? (double)(q->clock.mono_usec(q->clock.arg) - m->queued_us) / 1e6
		                  : (double)(queue_now(q) - m->env.arrival);
		prom_hist_observe(&q->met.latency[relay], secs);
	} else if (state == RCPT_FAILED) {
		q->met.v[relay ? MET_BOUNCED_RELAY : MET_BOUNCED_LOCAL]++;
	} else {
		q->met.v[relay ? MET_DEFERRED_RELAY : MET_DEFERRED_LOCAL]++;
	}
}

void queue_metrics_dsn(struct queue_role *q, enum dsn_kind kind)
{
	q->met.v[kind == DSN_FAILURE ? MET_DSN_FAILURE
	         : kind == DSN_DELAY ? MET_DSN_DELAY
	                             : MET_DSN_SUCCESS]++;
}

void queue_metrics_count(struct queue_role *q, enum metric_id id)
{
	add(&q->met.v[id], 1);
}
