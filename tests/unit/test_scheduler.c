/* Scheduler tests with a fake clock: grouping, limits, backoff, expiry, hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"
#include "unit_util.h"
#include "xmalloc.h"

#define T0 1800000000

/* As the queue derives them: "relay:DOMAIN" and "remote" go by the relay
 * transport (next hop: the domain), anything else is a local action. */
static void test_dest_of(void *arg, const struct envelope *e, uint32_t idx, struct sched_dest *out)
{
	(void)arg;
	const char *a = e->rcpts[idx].action;
	out->transport = TRANSPORT_LOCAL;
	out->action = a;
	out->nexthop = "";
	if (strncmp(a, "relay:", 6) == 0) {
		out->transport = TRANSPORT_RELAY;
		out->action = "";
		out->nexthop = a + 6;
	} else if (strcmp(a, "remote") == 0) {
		out->transport = TRANSPORT_RELAY;
	}
}

static struct sched_params params(void)
{
	struct sched_params p = {
	    .retry_min = 60,
	    .retry_max = 3600,
	    .lifetime = 5 * 86400,
	    .delay_warning = 4 * 3600,
	    .max_jobs = 100,
	    .max_jobs_per_dest = 100,
	    .seed = 42,
	    .dest_of = test_dest_of,
	};
	return p;
}

/* An envelope with recipients "u<i>" going to actions[i]. */
static void make_env(struct envelope *e, const char *id, const char *const *actions, size_t n)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->arrival = T0;
	e->size = 100;
	e->sender = "s@example.org";
	e->helo = "h";
	e->client = "127.0.0.1";
	e->n_rcpts = n;
	e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	for (size_t i = 0; i < n; i++) {
		e->rcpts[i].addr = xasprintf("u%zu@example.org", i);
		e->rcpts[i].action = (char *)actions[i];
		e->rcpts[i].user = xasprintf("u%zu", i);
	}
}

static void free_env(struct envelope *e)
{
	for (size_t i = 0; i < e->n_rcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].user);
	}
	free(e->rcpts);
}

static struct sched_msg *add(struct sched *s, const char *id, const char *const *actions, size_t n,
                             int64_t now)
{
	struct envelope e;
	make_env(&e, id, actions, n);
	struct sched_msg *m = sched_add(s, &e, now);
	free_env(&e);
	return m;
}

static void test_grouping_by_destination(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *acts[] = {"local", "other", "local"};
	assert_non_null(add(s, "A1", acts, 3, T0));
	assert_null(add(s, "A1", acts, 3, T0)); /* same id twice */
	struct sched_job *j1 = sched_next_job(s, T0);
	assert_non_null(j1);
	assert_string_equal(j1->dest->action, "local");
	assert_int_equal(j1->n, 2);
	assert_int_equal(j1->idx[0], 0);
	assert_int_equal(j1->idx[1], 2);
	struct sched_job *j2 = sched_next_job(s, T0);
	assert_non_null(j2);
	assert_string_equal(j2->dest->action, "other");
	assert_int_equal(j2->n, 1);
	assert_null(sched_next_job(s, T0)); /* all in flight */
	for (size_t k = 0; k < j1->n; k++)
		assert_int_equal(sched_outcome(s, j1, j1->idx[k], SCHED_OK, "ok", T0),
		                 RCPT_DELIVERED);
	sched_job_done(s, j1, T0);
	assert_int_equal(sched_outcome(s, j2, 1, SCHED_PERM, "550 no", T0), RCPT_FAILED);
	sched_job_done(s, j2, T0);
	struct sched_msg *m = sched_find(s, "A1");
	assert_true(sched_msg_final(m));
	assert_string_equal(m->env.rcpts[1].last_error, "550 no");
	assert_int_equal(m->env.rcpts[1].last_attempt, T0);
	assert_null(sched_next_job(s, T0 + 100000));
	assert_int_equal(sched_next_wakeup(s), INT64_MAX);
	sched_remove(s, m);
	assert_null(sched_find(s, "A1"));
	sched_free(s);
}

/* A slot per destination lives only while it is used: a thousand
 * recipient domains do not leave a thousand slots. */
static void test_dest_slots_released(void **state)
{
	(void)state;
	struct sched_params p = params();
	p.max_jobs = 1000;
	p.max_jobs_per_dest = 1;
	struct sched *s = sched_new(&p);
	sched_set_transport_limit(s, TRANSPORT_LOCAL, 5);
	assert_int_equal(sched_dest_count(s), 0);
	char names[1000][32];
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "relay:d%d.example", i % 500);
		const char *acts[] = {names[i]};
		char id[16];
		snprintf(id, sizeof(id), "M%d", i);
		assert_non_null(add(s, id, acts, 1, T0));
	}
	for (int round = 0; round < 2; round++) {
		struct sched_job *jobs[1000];
		size_t n = 0;
		struct sched_job *j;
		while ((j = sched_next_job(s, T0)) != NULL)
			jobs[n++] = j;
		/* one job per domain (limit 1), the other message of each blocked */
		assert_int_equal(n, 500);
		assert_int_equal(sched_dest_count(s), 500);
		for (size_t k = 0; k < n; k++) {
			sched_outcome(s, jobs[k], jobs[k]->idx[0], SCHED_OK, "ok", T0);
			sched_job_done(s, jobs[k], T0);
		}
	}
	assert_null(sched_next_job(s, T0));
	assert_int_equal(sched_dest_count(s), 0);
	sched_free(s);
}

static void test_limits(void **state)
{
	(void)state;
	struct sched_params p = params();
	p.max_jobs = 3;
	p.max_jobs_per_dest = 2;
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"}, *o[] = {"other"};
	add(s, "B1", l, 1, T0);
	add(s, "B2", l, 1, T0);
	add(s, "B3", l, 1, T0);
	add(s, "B4", o, 1, T0);
	add(s, "B5", o, 1, T0);
	struct sched_job *a = sched_next_job(s, T0), *b = sched_next_job(s, T0);
	assert_string_equal(a->dest->action, "local");
	assert_string_equal(b->dest->action, "local");
	/* B3 is blocked on "local"; B4 may go: global 3 */
	struct sched_job *c = sched_next_job(s, T0);
	assert_non_null(c);
	assert_string_equal(c->dest->action, "other");
	assert_string_equal(c->msg->env.id, "B4");
	assert_null(sched_next_job(s, T0)); /* global limit */
	struct sched_stats st;
	sched_stats(s, &st);
	assert_int_equal(st.jobs_in_flight, 3);
	sched_outcome(s, a, 0, SCHED_OK, NULL, T0);
	sched_job_done(s, a, T0);
	/* a local slot is free again: B3 (blocked) or B5 comes next, both may */
	struct sched_job *d = sched_next_job(s, T0);
	assert_non_null(d);
	struct sched_job *e = sched_next_job(s, T0);
	assert_null(e); /* global limit again */
	sched_job_done(s, b, T0);
	sched_job_done(s, c, T0);
	sched_job_done(s, d, T0);
	/* everything not delivered is due again (outcome never recorded = no change) */
	size_t jobs = 0;
	struct sched_job *x;
	while ((x = sched_next_job(s, T0)) != NULL) {
		sched_outcome(s, x, x->idx[0], SCHED_OK, NULL, T0);
		sched_job_done(s, x, T0);
		jobs++;
	}
	assert_int_equal(jobs, 4);
	sched_free(s);
}

/* A transport with a limit of its own (local delivery) takes that many jobs
 * per destination while the others keep max_jobs_per_dest; the global
 * limit still holds. */
static void test_dest_limit(void **state)
{
	(void)state;
	struct sched_params p = params();
	p.max_jobs_per_dest = 1;
	p.max_jobs = 5;
	struct sched *s = sched_new(&p);
	sched_set_transport_limit(s, TRANSPORT_LOCAL, 4);
	const char *l[] = {"local"}, *o[] = {"remote"};
	char id[16];
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "L%d", i);
		add(s, id, l, 1, T0);
		snprintf(id, sizeof(id), "O%d", i);
		add(s, id, o, 1, T0);
	}
	struct sched_job *jobs[8];
	size_t n = 0, local = 0, other = 0;
	while (n < 8 && (jobs[n] = sched_next_job(s, T0)) != NULL) {
		local += strcmp(jobs[n]->dest->action, "local") == 0;
		other += jobs[n]->dest->transport == TRANSPORT_RELAY;
		n++;
	}
	assert_int_equal(n, 5); /* the global limit */
	assert_int_equal(local, 4);
	assert_int_equal(other, 1);
	for (size_t i = 0; i < n; i++) {
		sched_outcome(s, jobs[i], 0, SCHED_OK, NULL, T0);
		sched_job_done(s, jobs[i], T0);
	}
	/* back to the common limit */
	sched_set_transport_limit(s, TRANSPORT_LOCAL, 0);
	n = local = 0;
	while (n < 8 && (jobs[n] = sched_next_job(s, T0)) != NULL)
		local += strcmp(jobs[n++]->dest->action, "local") == 0;
	assert_int_equal(local, 1);
	for (size_t i = 0; i < n; i++) {
		sched_outcome(s, jobs[i], 0, SCHED_OK, NULL, T0);
		sched_job_done(s, jobs[i], T0);
	}
	sched_free(s);
}

/* Messages blocked on a busy destination are woken in arrival order, one per
 * freed slot, and never hold up another destination. */
static void test_blocked_wake_order(void **state)
{
	(void)state;
	struct sched_params p = params();
	p.max_jobs_per_dest = 1;
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"}, *o[] = {"other"};
	add(s, "G1", l, 1, T0);
	add(s, "G2", l, 1, T0);
	add(s, "G3", l, 1, T0);
	add(s, "G4", o, 1, T0);
	struct sched_job *a = sched_next_job(s, T0);
	assert_string_equal(a->msg->env.id, "G1");
	struct sched_job *b = sched_next_job(s, T0); /* G2, G3 block on "local" */
	assert_string_equal(b->msg->env.id, "G4");
	assert_null(sched_next_job(s, T0));
	sched_outcome(s, b, 0, SCHED_OK, NULL, T0);
	sched_job_done(s, b, T0);
	assert_null(sched_next_job(s, T0)); /* "other" freed: nothing waits on it */
	const char *order[] = {"G2", "G3"};
	for (size_t i = 0; i < 2; i++) {
		sched_outcome(s, a, 0, SCHED_OK, NULL, T0);
		sched_job_done(s, a, T0);
		a = sched_next_job(s, T0);
		assert_non_null(a);
		assert_string_equal(a->msg->env.id, order[i]);
		assert_null(sched_next_job(s, T0));
	}
	sched_outcome(s, a, 0, SCHED_OK, NULL, T0);
	sched_job_done(s, a, T0);
	struct sched_stats st;
	sched_stats(s, &st);
	assert_int_equal(st.jobs_in_flight, 0);
	assert_int_equal(st.by_state[RCPT_DELIVERED], 4);
	sched_free(s);
}

static void test_backoff_and_expiry(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"};
	add(s, "C1", l, 1, T0);
	int64_t now = T0;
	unsigned expect[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
	for (size_t k = 0; k < sizeof(expect) / sizeof(expect[0]); k++) {
		struct sched_job *j = sched_next_job(s, now);
		assert_non_null(j);
		assert_int_equal(sched_outcome(s, j, 0, SCHED_TEMP, "451 busy", now),
		                 RCPT_DEFERRED);
		sched_job_done(s, j, now);
		const struct envelope_rcpt *r = &sched_find(s, "C1")->env.rcpts[0];
		int64_t d = r->next_try - now;
		/* +-10% jitter around the exponential schedule */
		assert_true(d >= (int64_t)(expect[k] - expect[k] / 10));
		assert_true(d <= (int64_t)(expect[k] + expect[k] / 10));
		assert_int_equal(sched_backoff(&p, (uint32_t)k + 1), expect[k]);
		assert_null(sched_next_job(s, r->next_try - 1)); /* not before its time */
		assert_int_equal(sched_next_wakeup(s), r->next_try);
		now = r->next_try;
	}
	/* a temporary failure is final only once the whole lifetime has passed:
	 * arrival is rounded down, so not in the lifetime's last second */
	now = T0 + p.lifetime;
	struct sched_job *j = sched_next_job(s, now);
	assert_non_null(j);
	assert_int_equal(sched_outcome(s, j, 0, SCHED_TEMP, "451 busy", now), RCPT_DEFERRED);
	sched_job_done(s, j, now);
	assert_false(sched_expired(s, sched_find(s, "C1"), now));
	now = T0 + p.lifetime + 1;
	assert_true(sched_expired(s, sched_find(s, "C1"), now));
	j = sched_next_job(s, now);
	assert_non_null(j);
	assert_int_equal(sched_outcome(s, j, 0, SCHED_TEMP, "451 busy", now), RCPT_FAILED);
	sched_job_done(s, j, now);
	assert_true(sched_msg_final(sched_find(s, "C1")));
	sched_free(s);
}

static void test_last_retry_at_lifetime(void **state)
{
	(void)state;
	struct sched_params p = params();
	p.lifetime = 100;
	p.retry_min = 80;
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"};
	add(s, "D1", l, 1, T0);
	struct sched_job *j = sched_next_job(s, T0 + 50);
	sched_outcome(s, j, 0, SCHED_TEMP, "x", T0 + 50);
	sched_job_done(s, j, T0 + 50);
	/* backoff would say T0+130; the lifetime ends at T0+100: one last try
	 * in the first second past it */
	assert_int_equal(sched_find(s, "D1")->env.rcpts[0].next_try, T0 + 101);
	sched_free(s);
}

static void test_hold_release_flush(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *l[] = {"local", "local"};
	struct sched_msg *m = add(s, "E1", l, 2, T0);
	assert_int_equal(sched_hold(s, m), 2);
	assert_null(sched_next_job(s, T0 + 5));
	assert_int_equal(sched_release(s, m, T0 + 10), 2);
	struct sched_job *j = sched_next_job(s, T0 + 10);
	assert_non_null(j);
	assert_int_equal(j->n, 2);
	sched_outcome(s, j, 0, SCHED_TEMP, "later", T0 + 10);
	sched_outcome(s, j, 1, SCHED_OK, NULL, T0 + 10);
	sched_job_done(s, j, T0 + 10);
	assert_null(sched_next_job(s, T0 + 11));
	assert_int_equal(sched_flush(s, NULL, T0 + 11), 1);
	j = sched_next_job(s, T0 + 11);
	assert_non_null(j);
	assert_int_equal(j->n, 1);
	assert_int_equal(j->idx[0], 0);
	/* held while its attempt is in flight: a temporary failure keeps the
	 * hold, and nothing is tried again, however late */
	assert_int_equal(sched_hold(s, m), 1);
	assert_int_equal(sched_outcome(s, j, 0, SCHED_TEMP, "again", T0 + 11), RCPT_HELD);
	sched_job_done(s, j, T0 + 11);
	assert_int_equal(m->env.rcpts[0].attempts, 2);
	assert_null(sched_next_job(s, T0 + 999999));
	assert_int_equal(sched_next_wakeup(s), INT64_MAX);
	sched_free(s);
}

/* At the global limit there is nothing for a timer to do: the end of a job
 * wakes the scheduler (a wake-up time of "now" would spin). */
static void test_wakeup_at_global_limit(void **state)
{
	(void)state;
	struct sched_params p = params();
	p.max_jobs = 1;
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"};
	add(s, "H1", l, 1, T0);
	add(s, "H2", l, 1, T0);
	struct sched_job *j = sched_next_job(s, T0);
	assert_non_null(j);
	assert_null(sched_next_job(s, T0));
	assert_int_equal(sched_next_wakeup(s), INT64_MAX);
	sched_outcome(s, j, 0, SCHED_OK, NULL, T0);
	sched_job_done(s, j, T0);
	assert_int_equal(sched_next_wakeup(s), 0); /* H2 is due and may start */
	sched_free(s);
}

/* A wall clock stepped back does not make due work undue, nor crash. */
static void test_clock_back(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"};
	struct sched_msg *m = add(s, "K1", l, 1, T0);
	sched_hold(s, m);
	sched_release(s, m, T0 + 100);                    /* next try T0+100 */
	struct sched_job *j = sched_next_job(s, T0 + 50); /* the clock went back */
	assert_non_null(j);
	sched_outcome(s, j, 0, SCHED_TEMP, "x", T0 + 40);
	sched_job_done(s, j, T0 + 40);
	/* the backoff counts from the latest time seen, not the stepped-back one */
	assert_true(m->env.rcpts[0].next_try >= T0 + 100 + 54);
	sched_free(s);
}

static void test_delay_warning(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *l[] = {"local", "local", "local"};
	struct sched_msg *m = add(s, "F1", l, 3, T0);
	m->env.rcpts[1].notify = 2 | 4; /* SUCCESS,FAILURE: no DELAY */
	m->env.rcpts[2].notify = 8;     /* DELAY */
	assert_false(sched_delay_due(s, m, 0, T0 + 4 * 3600 - 1));
	assert_true(sched_delay_due(s, m, 0, T0 + 4 * 3600));
	assert_false(sched_delay_due(s, m, 1, T0 + 4 * 3600));
	assert_true(sched_delay_due(s, m, 2, T0 + 4 * 3600));
	m->env.rcpts[0].notified = 1u << ENVELOPE_NOTIFIED_DELAY_SHIFT; /* one sent */
	assert_false(sched_delay_due(s, m, 0, T0 + 8 * 3600 - 1));
	assert_true(sched_delay_due(s, m, 0, T0 + 8 * 3600));
	/* after a long gap one warning catches up every interval: no burst */
	sched_delay_sent(s, m, 0, T0 + 13 * 3600);
	assert_int_equal(m->env.rcpts[0].notified >> ENVELOPE_NOTIFIED_DELAY_SHIFT, 3);
	assert_false(sched_delay_due(s, m, 0, T0 + 16 * 3600 - 1));
	assert_true(sched_delay_due(s, m, 0, T0 + 16 * 3600));
	m->env.rcpts[0].notified |= ENVELOPE_NOTIFIED_FINAL;
	sched_delay_sent(s, m, 0, T0 + 16 * 3600);
	assert_int_equal(m->env.rcpts[0].notified & ENVELOPE_NOTIFIED_FINAL,
	                 ENVELOPE_NOTIFIED_FINAL);
	m->env.rcpts[0].state = RCPT_DELIVERED;
	assert_false(sched_delay_due(s, m, 0, T0 + 99 * 3600));
	sched_free(s);
}

static void collect(struct sched_msg *m, void *arg)
{
	struct buf *b = arg;
	buf_append_str(b, m->env.id);
	buf_append_str(b, ",");
}

static void test_many_messages_order(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"};
	/* deferred to decreasing times: the heap must hand them out by time */
	for (int i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "M%03d", i);
		add(s, id, l, 1, T0);
	}
	for (int i = 0; i < 200; i++) {
		struct sched_job *j = sched_next_job(s, T0);
		assert_non_null(j);
		j->msg->env.rcpts[0].state = RCPT_DEFERRED;
		sched_job_done(s, j, T0);
	}
	/* set next tries by hand, then let the scheduler re-place them */
	for (int i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "M%03d", i);
		struct sched_msg *m = sched_find(s, id);
		m->env.rcpts[0].next_try = T0 + 1000 - i;
		sched_update(s, m, T0);
	}
	assert_int_equal(sched_next_wakeup(s), T0 + 801);
	int64_t last = 0;
	for (int i = 0; i < 200; i++) {
		int64_t w = sched_next_wakeup(s);
		assert_true(w >= last);
		last = w;
		struct sched_job *j = sched_next_job(s, w);
		assert_non_null(j);
		assert_int_equal(j->msg->env.rcpts[0].next_try, w);
		sched_outcome(s, j, 0, SCHED_OK, NULL, w);
		sched_job_done(s, j, w);
	}
	struct buf b;
	buf_init(&b, 0);
	sched_foreach(s, collect, &b);
	assert_int_equal(b.len, 200 * 5);
	assert_true(memcmp(b.data, "M000,M001,", 10) == 0);
	buf_free(&b);
	sched_free(s);
}

/* Recipients of one message split by next hop: one job per domain. */
static void test_jobs_per_next_hop(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *acts[] = {"relay:a.example", "relay:b.example", "relay:a.example", "local"};
	add(s, "N1", acts, 4, T0);
	size_t seen = 0;
	struct sched_job *j;
	while ((j = sched_next_job(s, T0)) != NULL) {
		if (strcmp(j->dest->nexthop, "a.example") == 0) {
			assert_int_equal(j->dest->transport, TRANSPORT_RELAY);
			assert_int_equal(j->n, 2);
		} else {
			assert_int_equal(j->n, 1);
		}
		seen += j->n;
		for (size_t k = 0; k < j->n; k++)
			sched_outcome(s, j, j->idx[k], SCHED_OK, NULL, T0);
		sched_job_done(s, j, T0);
	}
	assert_int_equal(seen, 4);
	assert_true(sched_msg_final(sched_find(s, "N1")));
	sched_free(s);
}

/* A destination marked down keeps its recipients until its time, every
 * other destination goes on, and the wakeup says when it comes back. */
static void test_dest_down(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *dead[] = {"relay:dead.example"}, *live[] = {"relay:live.example"};
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof(id), "D%d", i);
		add(s, id, dead, 1, T0);
	}
	add(s, "L0", live, 1, T0);
	struct sched_dest down = {TRANSPORT_RELAY, "", "dead.example"};
	sched_dest_down(s, &down, T0 + 300, T0);
	struct sched_job *j = sched_next_job(s, T0);
	assert_non_null(j);
	assert_string_equal(j->dest->nexthop, "live.example");
	sched_outcome(s, j, 0, SCHED_OK, NULL, T0);
	sched_job_done(s, j, T0);
	assert_null(sched_next_job(s, T0 + 299)); /* five wait, none tried */
	assert_int_equal(sched_next_wakeup(s), T0 + 300);
	struct sched_stats st;
	sched_stats(s, &st);
	assert_int_equal(st.by_state[RCPT_PENDING], 5);
	size_t n = 0;
	while ((j = sched_next_job(s, T0 + 300)) != NULL) {
		assert_string_equal(j->dest->nexthop, "dead.example");
		sched_outcome(s, j, 0, SCHED_OK, NULL, T0 + 300);
		sched_job_done(s, j, T0 + 300);
		n++;
	}
	assert_int_equal(n, 5);
	/* up again and unused: its slot is gone */
	assert_int_equal(sched_dest_count(s), 0);
	sched_free(s);
}

/* Flushing everything also tries destinations marked down (an admin's "now"). */
static void test_flush_brings_dest_up(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *dead[] = {"relay:dead.example"};
	add(s, "F0", dead, 1, T0);
	struct sched_dest down = {TRANSPORT_RELAY, "", "dead.example"};
	sched_dest_down(s, &down, T0 + 300, T0);
	assert_null(sched_next_job(s, T0 + 10));
	sched_flush(s, sched_find(s, "F0"), T0 + 10); /* one message: still down */
	assert_null(sched_next_job(s, T0 + 10));
	sched_flush(s, NULL, T0 + 10);
	struct sched_job *j = sched_next_job(s, T0 + 10);
	assert_non_null(j);
	assert_string_equal(j->dest->nexthop, "dead.example");
	sched_outcome(s, j, 0, SCHED_OK, NULL, T0 + 10);
	sched_job_done(s, j, T0 + 10);
	sched_free(s);
}

/* A transport whose role is not there waits; it goes when the role is back. */
static void test_transport_paused(void **state)
{
	(void)state;
	struct sched_params p = params();
	struct sched *s = sched_new(&p);
	const char *l[] = {"local"}, *r[] = {"remote"};
	sched_pause_transport(s, TRANSPORT_LOCAL, 1, T0);
	add(s, "P1", l, 1, T0);
	add(s, "P2", r, 1, T0);
	struct sched_job *j = sched_next_job(s, T0);
	assert_non_null(j);
	assert_int_equal(j->dest->transport, TRANSPORT_RELAY);
	sched_outcome(s, j, 0, SCHED_OK, NULL, T0);
	sched_job_done(s, j, T0);
	assert_null(sched_next_job(s, T0 + 1000));
	sched_pause_transport(s, TRANSPORT_LOCAL, 0, T0 + 1000);
	j = sched_next_job(s, T0 + 1000);
	assert_non_null(j);
	assert_string_equal(j->msg->env.id, "P1");
	assert_int_equal(j->msg->env.rcpts[0].attempts, 0); /* waiting was no attempt */
	sched_outcome(s, j, 0, SCHED_OK, NULL, T0 + 1000);
	sched_job_done(s, j, T0 + 1000);
	sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jobs_per_next_hop),
	    cmocka_unit_test(test_dest_down),
	    cmocka_unit_test(test_flush_brings_dest_up),
	    cmocka_unit_test(test_transport_paused),
	    cmocka_unit_test(test_grouping_by_destination),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_dest_slots_released),
	    cmocka_unit_test(test_blocked_wake_order),
	    cmocka_unit_test(test_backoff_and_expiry),
	    cmocka_unit_test(test_last_retry_at_lifetime),
	    cmocka_unit_test(test_dest_limit),
	    cmocka_unit_test(test_hold_release_flush),
	    cmocka_unit_test(test_wakeup_at_global_limit),
	    cmocka_unit_test(test_clock_back),
	    cmocka_unit_test(test_delay_warning),
	    cmocka_unit_test(test_many_messages_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
