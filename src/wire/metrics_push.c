/*
 * metrics_push: a role's counters on their way to the queue (metrics.h).
 * An event is one increment here; the first change after a frame arms a
 * timer, and when it fires one COUNTERS frame carries every counter's
 * increase since the last frame and every gauge that changed. A busy role
 * sends a frame every METRICS_PUSH_MSEC, an idle one none at all; a role
 * that dies loses at most that much of its counting.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct metrics_push {
	struct ipc *ch;
	struct event *timer;
	struct metric_values pending; /* counters: increase since the last frame */
};

static void push_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	metrics_push_flush(arg);
}

struct metrics_push *metrics_push_new(struct event_base *base, struct ipc *ch)
{
	struct metrics_push *mp = xcalloc(1, sizeof(*mp));
	mp->ch = ch;
	mp->timer = evtimer_new(base, push_cb, mp);
	if (mp->timer == NULL)
		fatal("evtimer_new failed");
	return mp;
}

void metrics_push_free(struct metrics_push *mp)
{
	if (mp == NULL)
		return;
	event_free(mp->timer);
	free(mp);
}

static void changed(struct metrics_push *mp, enum metric_id id)
{
	mp->pending.set[id] = 1;
	if (!evtimer_pending(mp->timer, NULL)) {
		struct timeval tv = {0, METRICS_PUSH_MSEC * 1000};
		evtimer_add(mp->timer, &tv);
	}
}

void metrics_add(struct metrics_push *mp, enum metric_id id, uint64_t n)
{
	if (mp == NULL || n == 0)
		return;
	uint64_t *v = &mp->pending.v[id];
	*v = *v > UINT64_MAX - n ? UINT64_MAX : *v + n;
	changed(mp, id);
}

void metrics_count(struct metrics_push *mp, enum metric_id id)
{
	metrics_add(mp, id, 1);
}

void metrics_gauge(struct metrics_push *mp, enum metric_id id, uint64_t value)
{
	if (mp == NULL || mp->pending.v[id] == value)
		return;
	mp->pending.v[id] = value;
	changed(mp, id);
}

void metrics_push_flush(struct metrics_push *mp)
{
	if (mp == NULL)
		return;
	evtimer_del(mp->timer);
	int any = 0;
	for (size_t i = 0; i < MET_COUNT; i++)
		any |= mp->pending.set[i];
	if (!any)
		return;
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_counters(&b, &mp->pending);
	ipc_send(mp->ch, PROTO_COUNTERS, b.data, b.len, -1);
	buf_free(&b);
	for (size_t i = 0; i < MET_COUNT; i++) {
		if (metric_def((enum metric_id)i)->type != PROM_GAUGE)
			mp->pending.v[i] = 0; /* a gauge keeps its value */
		mp->pending.set[i] = 0;
	}
}
