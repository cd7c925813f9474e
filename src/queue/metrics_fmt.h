/*
 * metrics_fmt: the queue's picture of the whole daemon as Prometheus text
 * (format 0.0.4) — what the metrics endpoint serves and `ravenctl stats
 * --prometheus` prints. Pure: renders a snapshot the queue made
 * (queue_metrics.c), with the time in it, so tests fix every value.
 */
#ifndef RAVEN_METRICS_FMT_H
#define RAVEN_METRICS_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"
#include "prom.h"

struct metrics_snapshot {
	const char *version;    /* of the running daemon */
	int64_t now;            /* unix seconds */
	int64_t daemon_started; /* the parent's start; 0: not known yet */
	int64_t queue_started;  /* the queue's, which keeps the counters */
	uint64_t v[MET_COUNT];  /* the catalog's values */
	/* role processes connected to the queue now, by peer kind ([0] unused) */
	size_t processes[PEER_KIND_MAX + 1];
	const struct role_starts *starts; /* may have n 0 */
	const struct prom_hist *batch;    /* commit batch sizes */
	const struct prom_hist *latency_local, *latency_relay;
};

/* 0, or -1 if out's maximum was reached (out then holds a partial text). */
int metrics_fmt(struct buf *out, const struct metrics_snapshot *s);

#endif
