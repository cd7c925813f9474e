/* metrics_fmt: the exposition text of a snapshot (see metrics_fmt.h). */
#include "metrics_fmt.h"

#include <stdio.h>
#include <string.h>

/* The process-level families: what runs, since when, how often restarted. */
static int fmt_processes(struct buf *out, const struct metrics_snapshot *s)
{
	struct buf l;
	buf_init(&l, 4096);
	int rc = prom_label(&l, "version", s->version);
	if (rc == 0)
		rc = buf_append_byte(&l, 0);
	if (rc == 0)
		rc = prom_family(out, "raven_build_info", PROM_GAUGE,
		                 "Always 1; the version label is the running daemon's");
	if (rc == 0)
		rc = prom_sample(out, "raven_build_info", (const char *)l.data, 1);
	buf_free(&l);
	if (rc == 0 && s->daemon_started > 0) {
		rc = prom_family(out, "raven_start_time_seconds", PROM_GAUGE,
		                 "When ravend started, in seconds since the epoch");
		if (rc == 0)
			rc = prom_sample(out, "raven_start_time_seconds", NULL,
			                 (uint64_t)s->daemon_started);
	}
	int64_t since = s->daemon_started > 0 ? s->daemon_started : s->queue_started;
	if (rc == 0)
		rc = prom_family(out, "raven_uptime_seconds", PROM_GAUGE,
		                 "Seconds since ravend started");
	if (rc == 0)
		rc = prom_sample(out, "raven_uptime_seconds", NULL,
		                 s->now > since ? (uint64_t)(s->now - since) : 0);
	if (rc == 0)
		rc = prom_family(out, "raven_queue_start_time_seconds", PROM_GAUGE,
		                 "When the queue role, which keeps the counters, started: they "
		                 "count from then");
	if (rc == 0)
		rc = prom_sample(out, "raven_queue_start_time_seconds", NULL,
		                 s->queue_started > 0 ? (uint64_t)s->queue_started : 0);
	if (rc == 0)
		rc = prom_family(out, "raven_role_processes", PROM_GAUGE,
		                 "Role processes running and connected to the queue");
	if (rc == 0)
		rc = prom_sample(out, "raven_role_processes", "role=\"queue\"", 1);
	for (int k = 1; k <= PEER_KIND_MAX && rc == 0; k++) {
		char lab[64];
		snprintf(lab, sizeof(lab), "role=\"%s\"", metrics_peer_name((enum peer_kind)k));
		rc = prom_sample(out, "raven_role_processes", lab, s->processes[k]);
	}
	if (rc == 0 && s->starts->n > 0)
		rc = prom_family(out, "raven_role_restarts_total", PROM_COUNTER,
		                 "Times ravend started a role process again since it started");
	for (size_t i = 0; i < s->starts->n && rc == 0; i++) {
		char lab[METRICS_ROLE_NAME_MAX + 16];
		uint64_t n = s->starts->role[i].starts;
		/* decoded names are [a-z0-9_]: nothing to escape */
		snprintf(lab, sizeof(lab), "role=\"%s\"", s->starts->role[i].name);
		rc = prom_sample(out, "raven_role_restarts_total", lab, n > 0 ? n - 1 : 0);
	}
	return rc;
}

/* Every row of the catalog, a family's HELP and TYPE before its first row. */
static int fmt_catalog(struct buf *out, const struct metrics_snapshot *s)
{
	int rc = 0;
	for (size_t i = 0; i < MET_COUNT && rc == 0; i++) {
		const struct metric_def *d = metric_def((enum metric_id)i);
		if (i == 0 || strcmp(metric_def((enum metric_id)(i - 1))->name, d->name) != 0)
			rc = prom_family(out, d->name, d->type, d->help);
		if (rc == 0)
			rc = prom_sample(out, d->name, d->labels, s->v[i]);
	}
	return rc;
}

static int fmt_histograms(struct buf *out, const struct metrics_snapshot *s)
{
	int rc = prom_family(out, "raven_queue_commit_batch_size", PROM_HISTOGRAM,
	                     "Messages made durable together by one commit (group commit)");
	if (rc == 0)
		rc = prom_hist_write(out, "raven_queue_commit_batch_size", NULL, s->batch);
	if (rc == 0)
		rc = prom_family(out, "raven_delivery_latency_seconds", PROM_HISTOGRAM,
		                 "Seconds from a message's arrival in the queue to its delivery, "
		                 "per recipient delivered");
	if (rc == 0)
		rc = prom_hist_write(out, "raven_delivery_latency_seconds", "destination=\"local\"",
		                     s->latency_local);
	if (rc == 0)
		rc = prom_hist_write(out, "raven_delivery_latency_seconds", "destination=\"relay\"",
		                     s->latency_relay);
	return rc;
}

int metrics_fmt(struct buf *out, const struct metrics_snapshot *s)
{
	int rc = fmt_processes(out, s);
	if (rc == 0)
		rc = fmt_catalog(out, s);
	if (rc == 0)
		rc = fmt_histograms(out, s);
	return rc;
}
