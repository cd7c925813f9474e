/*
 * control_fmt: text and JSON answers of the control socket (control_fmt.h).
 * Addresses, HELO names, remote errors and headers come from the network:
 * they go through control_text() or control_json_string(), never raw.
 */
#include "control_fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const state_names[] = {
    [RCPT_PENDING] = "pending",     [RCPT_DEFERRED] = "deferred", [RCPT_HELD] = "held",
    [RCPT_DELIVERED] = "delivered", [RCPT_FAILED] = "failed",
};

const char *control_state_name(uint8_t state)
{
	if (state < sizeof(state_names) / sizeof(state_names[0]) && state_names[state])
		return state_names[state];
	return "?";
}

/* Values of enum dsn_ret and enum body_type (src/smtp/cmd_parse.h). */
static const char *ret_name(uint8_t v)
{
	return v == 1 ? "full" : v == 2 ? "hdrs" : NULL;
}

static const char *body_name(uint8_t v)
{
	return v == 1 ? "7bit" : v == 2 ? "8bitmime" : v == 3 ? "binarymime" : NULL;
}

/* NOTIFY bits as in src/smtp/cmd_parse.h. */
static const struct {
	uint32_t bit;
	const char *name;
} notify_names[] = {{1, "never"}, {2, "success"}, {4, "failure"}, {8, "delay"}};

#define N_NOTIFY (sizeof(notify_names) / sizeof(notify_names[0]))

static int in_flight(const struct sched_msg *m, size_t i)
{
	return m->inflight != NULL && i < m->n_inflight && m->inflight[i];
}

static int text_str(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_append_str(out, "-");
	return control_text(out, s, strlen(s), 0);
}

static int text_addr(struct buf *out, const char *s)
{
	int rc = buf_append_byte(out, '<');
	rc |= text_str(out, s ? s : "");
	return rc | buf_append_byte(out, '>');
}

/* "now", "in 4m", "4m ago" */
static void when(char *dst, size_t len, int64_t t, int64_t now)
{
	char d[32];
	if (t <= now) {
		snprintf(dst, len, "now");
		return;
	}
	control_duration(d, sizeof(d), t - now);
	snprintf(dst, len, "in %s", d);
}

/* The recipient's next try as text, "" for states that have none. */
static void next_try_text(char *dst, size_t len, const struct envelope_rcpt *r, int64_t now)
{
	switch (r->state) {
	case RCPT_PENDING:
		snprintf(dst, len, "now");
		break;
	case RCPT_DEFERRED:
		when(dst, len, r->next_try, now);
		break;
	default:
		dst[0] = '\0';
	}
}

static int text_rcpt_line(struct buf *out, const struct sched_msg *m, size_t i, int64_t now)
{
	const struct envelope_rcpt *r = &m->env.rcpts[i];
	char next[48];
	int rc = buf_printf(out, "    %-9s ", control_state_name(r->state));
	rc |= text_addr(out, r->addr);
	if (r->attempts > 0)
		rc |= buf_printf(out, "  attempts %" PRIu32, r->attempts);
	next_try_text(next, sizeof(next), r, now);
	if (next[0])
		rc |= buf_printf(out, "  next try %s", next);
	if (in_flight(m, i))
		rc |= buf_append_str(out, "  (delivering)");
	rc |= buf_append_byte(out, '\n');
	if (r->last_error) {
		rc |= buf_append_str(out, "      last error: ");
		rc |= text_str(out, r->last_error);
		rc |= buf_append_byte(out, '\n');
	}
	return rc;
}

static int json_key(struct buf *out, int first, const char *key)
{
	return buf_printf(out, "%s\"%s\":", first ? "" : ",", key);
}

static int json_kstr(struct buf *out, const char *key, const char *s)
{
	return json_key(out, 0, key) | control_json_str(out, s);
}

static int json_kint(struct buf *out, const char *key, int64_t v)
{
	return json_key(out, 0, key) | buf_printf(out, "%" PRId64, v);
}

static int json_kbool(struct buf *out, const char *key, int v)
{
	return json_key(out, 0, key) | buf_append_str(out, v ? "true" : "false");
}

/* Recipient fields shared by the listing and show; full adds show's extras. */
static int json_rcpt(struct buf *out, const struct sched_msg *m, size_t i, int full)
{
	const struct envelope_rcpt *r = &m->env.rcpts[i];
	int rc = buf_append_byte(out, '{');
	rc |= json_key(out, 1, "address") | control_json_str(out, r->addr ? r->addr : "");
	rc |= json_kstr(out, "state", control_state_name(r->state));
	rc |= json_kint(out, "attempts", r->attempts);
	rc |= json_key(out, 0, "next_try");
	if (r->state == RCPT_PENDING || r->state == RCPT_DEFERRED)
		rc |= buf_printf(out, "%" PRId64, r->next_try);
	else
		rc |= buf_append_str(out, "null");
	rc |= json_kint(out, "last_attempt", r->last_attempt);
	rc |= json_kstr(out, "last_error", r->last_error);
	rc |= json_kbool(out, "in_flight", in_flight(m, i));
	if (full) {
		rc |= json_kstr(out, "orcpt", r->orcpt);
		rc |= json_key(out, 0, "notify") | buf_append_byte(out, '[');
		for (size_t k = 0, n = 0; k < N_NOTIFY; k++)
			if (r->notify & notify_names[k].bit)
				rc |= buf_printf(out, "%s\"%s\"", n++ ? "," : "",
				                 notify_names[k].name);
		rc |= buf_append_byte(out, ']');
		rc |= json_kstr(out, "action", r->action);
		rc |= json_kstr(out, "user", r->user);
		rc |=
		    json_kbool(out, "notified_final", (r->notified & ENVELOPE_NOTIFIED_FINAL) != 0);
		rc |=
		    json_kint(out, "delay_warnings", r->notified >> ENVELOPE_NOTIFIED_DELAY_SHIFT);
	}
	return rc | buf_append_byte(out, '}');
}

/* Fields shared by the listing and show. */
static int json_msg_head(struct buf *out, const struct envelope *e, int64_t now)
{
	int rc = buf_append_byte(out, '{');
	rc |= json_key(out, 1, "id") | control_json_str(out, e->id);
	rc |= json_kint(out, "arrival", e->arrival);
	rc |= json_kint(out, "age", now - e->arrival);
	rc |= json_key(out, 0, "size") | buf_printf(out, "%" PRIu64, e->size);
	rc |= json_kstr(out, "sender", e->sender ? e->sender : "");
	return rc;
}

int control_fmt_queue_begin(struct buf *out, int json, int64_t now)
{
	if (!json)
		return 0;
	return buf_printf(out, "{\"now\":%" PRId64 ",\"messages\":[", now);
}

int control_fmt_queue_msg(struct buf *out, int json, const struct sched_msg *m, size_t index,
                          int64_t now)
{
	const struct envelope *e = &m->env;
	int rc = 0;
	if (json) {
		if (index > 0)
			rc |= buf_append_byte(out, ',');
		rc |= json_msg_head(out, e, now);
		rc |= json_key(out, 0, "recipients") | buf_append_byte(out, '[');
		for (size_t i = 0; i < e->n_rcpts; i++) {
			if (i > 0)
				rc |= buf_append_byte(out, ',');
			rc |= json_rcpt(out, m, i, 0);
		}
		return rc | buf_append_str(out, "]}");
	}
	char age[32];
	control_duration(age, sizeof(age), now - e->arrival);
	if (index > 0)
		rc |= buf_append_byte(out, '\n');
	rc |= buf_printf(out, "%-16s %9" PRIu64 " %5s  ", e->id, e->size, age);
	rc |= text_addr(out, e->sender);
	rc |= buf_append_byte(out, '\n');
	for (size_t i = 0; i < e->n_rcpts; i++)
		rc |= text_rcpt_line(out, m, i, now);
	return rc;
}

int control_fmt_queue_end(struct buf *out, int json, size_t messages, size_t recipients)
{
	if (json)
		return buf_printf(out, "],\"total\":{\"messages\":%zu,\"recipients\":%zu}}\n",
		                  messages, recipients);
	return buf_printf(out, "%s-- %zu message%s, %zu recipient%s\n", messages ? "\n" : "",
	                  messages, messages == 1 ? "" : "s", recipients,
	                  recipients == 1 ? "" : "s");
}

static int text_field(struct buf *out, const char *name, const char *v)
{
	int rc = buf_printf(out, "%-14s", name);
	rc |= text_str(out, v);
	return rc | buf_append_byte(out, '\n');
}

static void fmt_time(char *dst, size_t len, int64_t t, int64_t now)
{
	char d[32];
	time_t tt = (time_t)t;
	struct tm tm;
	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(dst, len, "-");
		return;
	}
	char stamp[40];
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &tm);
	control_duration(d, sizeof(d), t > now ? t - now : now - t);
	snprintf(dst, len, "%s (%s %s)", stamp, t > now ? "in" : d, t > now ? d : "ago");
}

static int show_text(struct buf *out, const struct sched_msg *m, int64_t now)
{
	const struct envelope *e = &m->env;
	char t[96];
	int rc = text_field(out, "id:", e->id);
	fmt_time(t, sizeof(t), e->arrival, now);
	rc |= text_field(out, "arrival:", t);
	rc |= buf_printf(out, "%-14s%" PRIu64 "\n", "size:", e->size);
	rc |= buf_printf(out, "%-14s", "sender:") | text_addr(out, e->sender);
	rc |= buf_append_byte(out, '\n');
	rc |= text_field(out, "helo:", e->helo);
	rc |= text_field(out, "client:", e->client);
	rc |= text_field(out, "envid:", e->envid);
	rc |= text_field(out, "ret:", ret_name(e->ret));
	rc |= text_field(out, "body:", body_name(e->body));
	rc |= text_field(out, "smtputf8:", e->smtputf8 ? "yes" : "no");
	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];
		rc |= buf_printf(out, "%-14s", "recipient:") | text_addr(out, r->addr);
		rc |= buf_append_byte(out, '\n');
		rc |= text_field(out, "  orcpt:", r->orcpt);
		rc |= buf_printf(out, "%-14s", "  notify:");
		if (r->notify == 0)
			rc |= buf_append_byte(out, '-');
		for (size_t k = 0, n = 0; k < N_NOTIFY; k++)
			if (r->notify & notify_names[k].bit)
				rc |= buf_printf(out, "%s%s", n++ ? "," : "", notify_names[k].name);
		rc |= buf_append_byte(out, '\n');
		rc |= text_field(out, "  action:", r->action);
		rc |= text_field(out, "  user:", r->user);
		rc |= buf_printf(out, "%-14s%s%s\n", "  state:", control_state_name(r->state),
		                 in_flight(m, i) ? " (delivering)" : "");
		rc |= buf_printf(out, "%-14s%" PRIu32 "\n", "  attempts:", r->attempts);
		next_try_text(t, sizeof(t), r, now);
		rc |= text_field(out, "  next try:", t[0] ? t : NULL);
		fmt_time(t, sizeof(t), r->last_attempt, now);
		rc |= text_field(out, "  last try:", t);
		rc |= text_field(out, "  last error:", r->last_error);
		rc |= buf_printf(out, "%-14s%s, %" PRIu32 " delay warning%s\n", "  notified:",
		                 r->notified & ENVELOPE_NOTIFIED_FINAL ? "final" : "no final",
		                 r->notified >> ENVELOPE_NOTIFIED_DELAY_SHIFT,
		                 (r->notified >> ENVELOPE_NOTIFIED_DELAY_SHIFT) == 1 ? "" : "s");
	}
	return rc;
}

int control_fmt_show(struct buf *out, int json, const struct sched_msg *m, const uint8_t *headers,
                     size_t headers_len, const char *headers_err, int64_t now)
{
	const struct envelope *e = &m->env;
	int rc;
	if (headers == NULL)
		headers_len = 0;
	if (!json) {
		rc = show_text(out, m, now);
		rc |= buf_append_byte(out, '\n');
		if (headers == NULL) {
			rc |= buf_append_str(out, "(headers unavailable: ");
			rc |= text_str(out, headers_err ? headers_err : "unknown error");
			return rc | buf_append_str(out, ")\n");
		}
		rc |= control_text(out, headers, headers_len, 1);
		if (headers_len > 0 && headers[headers_len - 1] != '\n')
			rc |= buf_append_byte(out, '\n');
		return rc;
	}
	rc = json_msg_head(out, e, now);
	rc |= json_kstr(out, "helo", e->helo);
	rc |= json_kstr(out, "client", e->client);
	rc |= json_kstr(out, "envid", e->envid);
	rc |= json_kstr(out, "ret", ret_name(e->ret));
	rc |= json_kstr(out, "body", body_name(e->body));
	rc |= json_kbool(out, "smtputf8", e->smtputf8);
	rc |= json_key(out, 0, "recipients") | buf_append_byte(out, '[');
	for (size_t i = 0; i < e->n_rcpts; i++) {
		if (i > 0)
			rc |= buf_append_byte(out, ',');
		rc |= json_rcpt(out, m, i, 1);
	}
	rc |= buf_append_byte(out, ']');
	rc |= json_key(out, 0, "headers");
	if (headers == NULL) {
		rc |= buf_append_str(out, "null");
		rc |= json_kstr(out, "headers_error", headers_err ? headers_err : "unknown error");
	} else {
		rc |= control_json_string(out, headers, headers_len);
	}
	return rc | buf_append_str(out, "}\n");
}

int control_fmt_stats(struct buf *out, int json, const struct sched_stats *st,
                      const struct queue_counters *c, int64_t now)
{
	uint64_t uptime = (uint64_t)now > c->started ? (uint64_t)now - c->started : 0;
	double mean = c->batches ? (double)c->committed / (double)c->batches : 0.0;
	int rc = 0;
	if (json) {
		rc |= buf_printf(out, "{\"messages\":%zu,\"recipients\":%zu,\"states\":{",
		                 st->messages, st->recipients);
		for (uint8_t s = 0; s <= RCPT_FAILED; s++)
			rc |= buf_printf(out, "%s\"%s\":%zu", s ? "," : "", control_state_name(s),
			                 st->by_state[s]);
		rc |= buf_printf(
		    out,
		    "},\"jobs_in_flight\":%zu,\"counters\":{\"committed\":%" PRIu64
		    ",\"batches\":%" PRIu64 ",\"mean_batch\":%.2f,\"delivered\":%" PRIu64
		    ",\"deferred\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"bounces\":%" PRIu64
		    ",\"removed\":%" PRIu64 "},\"started\":%" PRIu64 ",\"uptime\":%" PRIu64 "}\n",
		    st->jobs_in_flight, c->committed, c->batches, mean, c->delivered, c->deferred,
		    c->failed, c->bounces, c->removed, c->started, uptime);
		return rc;
	}
	char up[32];
	control_duration(up, sizeof(up), (int64_t)uptime);
	rc |= buf_printf(out, "%-16s%zu\n%-16s%zu\n", "messages:", st->messages,
	                 "recipients:", st->recipients);
	for (uint8_t s = 0; s <= RCPT_FAILED; s++)
		rc |= buf_printf(out, "  %-14s%zu\n", control_state_name(s), st->by_state[s]);
	rc |= buf_printf(out, "%-16s%zu\n", "in flight:", st->jobs_in_flight);
	rc |= buf_printf(out,
	                 "%-16s%" PRIu64 "\n%-16s%" PRIu64 "\n%-16s%.2f\n%-16s%" PRIu64
	                 "\n%-16s%" PRIu64 "\n%-16s%" PRIu64 "\n%-16s%" PRIu64 "\n%-16s%" PRIu64
	                 "\n%-16s%s (%" PRIu64 "s)\n",
	                 "committed:", c->committed, "batches:", c->batches, "mean batch:", mean,
	                 "delivered:", c->delivered, "deferred:", c->deferred, "failed:", c->failed,
	                 "bounces:", c->bounces, "removed:", c->removed, "uptime:", up, uptime);
	return rc;
}

/* "127.0.0.1:25", "[::1]:25" */
static int fmt_listener(struct buf *out, const struct status_listener *l)
{
	int v6 = strchr(l->addr, ':') != NULL;
	return buf_printf(out, "%s%s%s:%u", v6 ? "[" : "", l->addr, v6 ? "]" : "", l->port);
}

int control_fmt_status(struct buf *out, int json, const struct queue_status *st, int64_t now)
{
	uint64_t uptime = (uint64_t)now > st->started ? (uint64_t)now - st->started : 0;
	const struct sched_stats *q = &st->sched;
	int rc = 0;
	if (json) {
		rc |= buf_append_str(out, "{\"version\":");
		rc |= control_json_str(out, st->version);
		rc |= buf_append_str(out, ",\"hostname\":");
		rc |= control_json_str(out, st->hostname);
		rc |= buf_printf(out,
		                 ",\"pid\":%ld,\"queue_pid\":%ld,\"started\":%" PRIu64
		                 ",\"uptime\":%" PRIu64 ",\"roles\":{\"queue\":1,\"smtp\":%zu,"
		                 "\"local\":%zu,\"relay\":%zu},\"listeners\":[",
		                 st->parent_pid, st->queue_pid, st->started, uptime, st->smtp,
		                 st->local, st->relay);
		for (size_t i = 0; i < st->n_listeners; i++) {
			rc |= buf_append_str(out, i ? ",{\"address\":" : "{\"address\":");
			rc |= control_json_str(out, st->listeners[i].addr);
			rc |= buf_printf(out, ",\"port\":%u,\"submission\":%s}",
			                 st->listeners[i].port,
			                 st->listeners[i].submission ? "true" : "false");
		}
		rc |=
		    buf_printf(out, "],\"queue\":{\"messages\":%zu,\"recipients\":%zu,\"states\":{",
		               q->messages, q->recipients);
		for (uint8_t s = 0; s <= RCPT_FAILED; s++)
			rc |= buf_printf(out, "%s\"%s\":%zu", s ? "," : "", control_state_name(s),
			                 q->by_state[s]);
		rc |= buf_printf(out, "},\"jobs_in_flight\":%zu}}\n", q->jobs_in_flight);
		return rc;
	}
	char up[32];
	control_duration(up, sizeof(up), (int64_t)uptime);
	rc |= buf_append_str(out, "ravend ");
	rc |= control_text(out, st->version, strlen(st->version), 0);
	rc |= buf_printf(out, ": up, pid %ld\n%-12s", st->parent_pid, "hostname:");
	rc |= control_text(out, st->hostname, strlen(st->hostname), 0);
	rc |= buf_printf(out, "\n%-12squeue (pid %ld, up %s), smtp %zu, local %zu",
	                 "roles:", st->queue_pid, up, st->smtp, st->local);
	if (st->relay)
		rc |= buf_printf(out, ", relay %zu", st->relay);
	rc |= buf_printf(out, "\n%-12s", "listeners:");
	for (size_t i = 0; i < st->n_listeners; i++) {
		rc |= buf_append_str(out, i ? ", " : "");
		rc |= fmt_listener(out, &st->listeners[i]);
		if (st->listeners[i].submission)
			rc |= buf_append_str(out, " (submission)");
	}
	rc |= buf_printf(out, "\n%-12s%zu message%s, %zu recipient%s", "queue:", q->messages,
	                 q->messages == 1 ? "" : "s", q->recipients, q->recipients == 1 ? "" : "s");
	const char *sep = " (";
	for (uint8_t s = 0; s <= RCPT_FAILED; s++) {
		if (q->by_state[s] == 0)
			continue;
		rc |= buf_printf(out, "%s%zu %s", sep, q->by_state[s], control_state_name(s));
		sep = ", ";
	}
	rc |= buf_printf(out, "%s; %zu deliver%s in flight\n", sep[0] == ',' ? ")" : "",
	                 q->jobs_in_flight, q->jobs_in_flight == 1 ? "y" : "ies");
	return rc;
}

int control_fmt_action(struct buf *out, int json, enum control_verb v, const char *id)
{
	static const char *const done[] = {
	    [CTL_FLUSH] = "flushed",
	    [CTL_REMOVE] = "removed",
	    [CTL_HOLD] = "held",
	    [CTL_RELEASE] = "released",
	};
	const char *what = (size_t)v < sizeof(done) / sizeof(done[0]) && done[v] ? done[v] : "done";
	const char *target = id && id[0] ? id : "all messages";
	if (json) {
		int rc = buf_printf(out, "{\"result\":\"%s\",\"id\":", what);
		rc |= id && id[0] ? control_json_str(out, id) : buf_append_str(out, "null");
		return rc | buf_append_str(out, "}\n");
	}
	return buf_printf(out, "%s %s\n", what, target);
}
