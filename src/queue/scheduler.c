/* scheduler: due recipients, jobs, limits, backoff, hold (see scheduler.h). */
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define HASH_BUCKETS 4096

enum where { W_NONE = 0, W_READY, W_BLOCKED };

struct msg_list {
	struct sched_msg *head, *tail;
};

/* One destination, interned: every recipient that goes there points at it. */
struct dest_slot {
	struct sched_dest d; /* strings owned (action, nexthop below) */
	char *action, *nexthop;
	unsigned hash;
	size_t refs;             /* queued recipients pointing here */
	size_t jobs;             /* in flight */
	int64_t down_until;      /* not tried before this (0: up) */
	struct msg_list blocked; /* due messages waiting for this destination */
	struct dest_slot *hnext; /* hash chain */
};

struct sched {
	struct sched_params p;
	struct sched_msg *hash[HASH_BUCKETS];
	size_t n_msgs;
	struct msg_list ready;
	struct sched_msg **heap; /* by earliest next try */
	size_t heap_len, heap_cap;
	struct dest_slot **dests; /* hash of destinations */
	size_t n_dests, dest_buckets;
	size_t transport_limit[TRANSPORT_COUNT];
	int transport_paused[TRANSPORT_COUNT];
	size_t n_down;   /* destinations down */
	int64_t next_up; /* the earliest of their down_until */
	size_t jobs;
	uint64_t next_job;
	uint64_t rng;
	int64_t now_max; /* the latest time seen: the clock never goes back here */
};

static unsigned hash_id(const char *id)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % HASH_BUCKETS;
}

/* xorshift64*: jitter only, not security. */
static uint64_t rng_next(struct sched *s)
{
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 2685821657736338717ull;
}

static int rcpt_final(uint8_t st)
{
	return st == RCPT_DELIVERED || st == RCPT_FAILED;
}

/* A wall clock stepped back (NTP) must not make due work undue: every
 * decision uses the latest time seen. */
static int64_t clock_now(struct sched *s, int64_t now)
{
	if (now > s->now_max)
		s->now_max = now;
	return s->now_max;
}

/* ---- lists ---- */

static void list_push(struct msg_list *l, struct sched_msg *m)
{
	m->prev = l->tail;
	m->next = NULL;
	if (l->tail)
		l->tail->next = m;
	else
		l->head = m;
	l->tail = m;
}

static void list_unlink(struct msg_list *l, struct sched_msg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		l->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		l->tail = m->prev;
	m->prev = m->next = NULL;
}

/* ---- heap ---- */

static int64_t msg_next_try(const struct sched_msg *m)
{
	int64_t t = INT64_MAX;
	for (size_t i = 0; i < m->env.n_rcpts; i++) {
		const struct envelope_rcpt *r = &m->env.rcpts[i];
		if (!rcpt_final(r->state) && r->state != RCPT_HELD && !m->inflight[i] &&
		    r->next_try < t)
			t = r->next_try;
	}
	return t;
}

static void heap_swap(struct sched *s, size_t a, size_t b)
{
	struct sched_msg *t = s->heap[a];
	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a]->heap_pos = a + 1;
	s->heap[b]->heap_pos = b + 1;
}

static int heap_less(const struct sched *s, size_t a, size_t b)
{
	return s->heap[a]->key < s->heap[b]->key;
}

static void heap_up(struct sched *s, size_t i)
{
	while (i > 0 && heap_less(s, i, (i - 1) / 2)) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct sched *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->heap_len && heap_less(s, l, m))
			m = l;
		if (r < s->heap_len && heap_less(s, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

static void heap_insert(struct sched *s, struct sched_msg *m)
{
	if (s->heap_len == s->heap_cap) {
		s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
		s->heap = xreallocarray(s->heap, s->heap_cap, sizeof(*s->heap));
	}
	m->key = msg_next_try(m); /* fixed while in the heap: every change goes through place() */
	s->heap[s->heap_len] = m;
	m->heap_pos = ++s->heap_len;
	heap_up(s, s->heap_len - 1);
}

static void heap_delete(struct sched *s, struct sched_msg *m)
{
	size_t i = m->heap_pos - 1;
	m->heap_pos = 0;
	s->heap_len--;
	if (i == s->heap_len)
		return;
	s->heap[i] = s->heap[s->heap_len];
	s->heap[i]->heap_pos = i + 1;
	heap_up(s, i);
	heap_down(s, s->heap[i]->heap_pos - 1);
}

/* ---- placement: every message is on exactly one of ready, blocked, heap, or none ---- */

static void detach(struct sched *s, struct sched_msg *m)
{
	if (m->where == W_READY)
		list_unlink(&s->ready, m);
	else if (m->where == W_BLOCKED)
		list_unlink(&m->blocked_on->blocked, m);
	m->where = W_NONE;
	if (m->heap_pos)
		heap_delete(s, m);
}

/* Put m where it belongs at time now. */
static void place(struct sched *s, struct sched_msg *m, int64_t now)
{
	detach(s, m);
	int64_t t = msg_next_try(m);
	if (t == INT64_MAX)
		return; /* all final, held or in flight */
	if (t <= now) {
		m->where = W_READY;
		list_push(&s->ready, m);
	} else {
		heap_insert(s, m);
	}
}

/* Move messages whose time has come from the heap to the ready FIFO. */
static void promote_due(struct sched *s, int64_t now)
{
	while (s->heap_len > 0 && s->heap[0]->key <= now) {
		struct sched_msg *m = s->heap[0];
		heap_delete(s, m);
		m->where = W_READY;
		list_push(&s->ready, m);
	}
}

/* ---- destinations ---- */

static unsigned dest_hash(const struct sched_dest *d)
{
	unsigned h = 2166136261u ^ d->transport;
	for (const char *p = d->action; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (const char *p = d->nexthop; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static int dest_equal(const struct dest_slot *a, const struct sched_dest *d)
{
	return a->d.transport == d->transport && strcmp(a->action, d->action) == 0 &&
	       strcmp(a->nexthop, d->nexthop) == 0;
}

static void dest_rehash(struct sched *s)
{
	size_t nb = s->dest_buckets ? s->dest_buckets * 2 : 256;
	struct dest_slot **t = xcalloc(nb, sizeof(*t));
	for (size_t b = 0; b < s->dest_buckets; b++) {
		for (struct dest_slot *d = s->dests[b], *nx; d; d = nx) {
			nx = d->hnext;
			d->hnext = t[d->hash % nb];
			t[d->hash % nb] = d;
		}
	}
	free(s->dests);
	s->dests = t;
	s->dest_buckets = nb;
}

/* The slot of d, made if new. */
static struct dest_slot *dest_get(struct sched *s, const struct sched_dest *d)
{
	if (s->n_dests >= s->dest_buckets)
		dest_rehash(s);
	unsigned h = dest_hash(d);
	for (struct dest_slot *x = s->dests[h % s->dest_buckets]; x; x = x->hnext)
		if (x->hash == h && dest_equal(x, d))
			return x;
	struct dest_slot *x = xcalloc(1, sizeof(*x));
	x->action = xstrdup(d->action);
	x->nexthop = xstrdup(d->nexthop);
	x->d.transport = d->transport;
	x->d.action = x->action;
	x->d.nexthop = x->nexthop;
	x->hash = h;
	x->hnext = s->dests[h % s->dest_buckets];
	s->dests[h % s->dest_buckets] = x;
	s->n_dests++;
	return x;
}

/*
 * Forget a slot nobody uses: destinations come from the spool (one per
 * recipient domain), so keeping every one ever seen would grow without
 * bound. A destination that is down is kept until it is up again.
 */
static void dest_release_if_idle(struct sched *s, struct dest_slot *d)
{
	if (d->refs > 0 || d->jobs > 0 || d->blocked.head != NULL || d->down_until != 0)
		return;
	for (struct dest_slot **pp = &s->dests[d->hash % s->dest_buckets]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == d) {
			*pp = d->hnext;
			s->n_dests--;
			free(d->action);
			free(d->nexthop);
			free(d);
			return;
		}
	}
}

static size_t dest_limit(const struct sched *s, const struct dest_slot *d)
{
	size_t t = s->transport_limit[d->d.transport];
	return t ? t : s->p.max_jobs_per_dest;
}

/* 1 if no job may go to d now: at its limit, down, or nobody serves it. */
static int dest_busy(const struct sched *s, const struct dest_slot *d, int64_t now)
{
	return d->jobs >= dest_limit(s, d) || d->down_until > now ||
	       s->transport_paused[d->d.transport];
}

/* Every message blocked on d goes back to be placed. */
static void dest_wake_all(struct sched *s, struct dest_slot *d, int64_t now)
{
	while (d->blocked.head) {
		struct sched_msg *b = d->blocked.head;
		list_unlink(&d->blocked, b);
		b->where = W_NONE;
		b->blocked_on = NULL;
		place(s, b, now);
	}
}

/* Destinations whose down time is over take their waiting messages back. */
static void dests_come_up(struct sched *s, int64_t now)
{
	s->n_down = 0;
	s->next_up = INT64_MAX;
	for (size_t b = 0; b < s->dest_buckets; b++) {
		for (struct dest_slot *d = s->dests[b], *nx; d; d = nx) {
			nx = d->hnext;
			if (d->down_until == 0)
				continue;
			if (d->down_until > now) {
				s->n_down++;
				if (d->down_until < s->next_up)
					s->next_up = d->down_until;
				continue;
			}
			d->down_until = 0;
			dest_wake_all(s, d, now);
			dest_release_if_idle(s, d);
		}
	}
}

static void default_dest(void *arg, const struct envelope *e, uint32_t idx, struct sched_dest *out)
{
	(void)arg;
	out->transport = TRANSPORT_LOCAL;
	out->action = e->rcpts[idx].action ? e->rcpts[idx].action : "";
	out->nexthop = "";
}

/* ---- API ---- */

size_t sched_dest_count(const struct sched *s)
{
	return s->n_dests;
}

void sched_set_transport_limit(struct sched *s, uint8_t transport, size_t limit)
{
	if (transport < TRANSPORT_COUNT)
		s->transport_limit[transport] = limit;
}

void sched_pause_transport(struct sched *s, uint8_t transport, int paused, int64_t now)
{
	now = clock_now(s, now);
	if (transport >= TRANSPORT_COUNT || s->transport_paused[transport] == !!paused)
		return;
	s->transport_paused[transport] = !!paused;
	if (paused)
		return;
	for (size_t b = 0; b < s->dest_buckets; b++)
		for (struct dest_slot *d = s->dests[b]; d; d = d->hnext)
			if (d->d.transport == transport)
				dest_wake_all(s, d, now);
}

void sched_dest_down(struct sched *s, const struct sched_dest *d, int64_t until, int64_t now)
{
	now = clock_now(s, now);
	struct dest_slot *x = dest_get(s, d);
	x->down_until = until > now ? until : 0;
	if (x->down_until != 0) {
		if (s->n_down++ == 0 || until < s->next_up)
			s->next_up = until;
		return;
	}
	dest_wake_all(s, x, now);
	dest_release_if_idle(s, x);
	dests_come_up(s, now); /* recount */
}

struct sched *sched_new(const struct sched_params *p)
{
	struct sched *s = xcalloc(1, sizeof(*s));
	s->p = *p;
	if (s->p.max_jobs == 0)
		s->p.max_jobs = 1;
	if (s->p.max_jobs_per_dest == 0)
		s->p.max_jobs_per_dest = s->p.max_jobs;
	s->rng = p->seed ? p->seed : 0x9e3779b97f4a7c15ull;
	s->next_up = INT64_MAX;
	return s;
}

/* A recipient that is final needs no destination any more. */
static void dest_unref(struct sched *s, struct sched_msg *m, size_t i)
{
	struct dest_slot *d = m->dest[i];
	if (d == NULL)
		return;
	m->dest[i] = NULL;
	d->refs--;
	dest_release_if_idle(s, d);
}

static void msg_free(struct sched *s, struct sched_msg *m)
{
	for (size_t i = 0; i < m->env.n_rcpts; i++)
		dest_unref(s, m, i);
	envelope_free(&m->env);
	free(m->dkim_sig);
	free(m->inflight);
	free(m->dest);
	free(m);
}

void sched_free(struct sched *s)
{
	for (size_t b = 0; b < HASH_BUCKETS; b++) {
		for (struct sched_msg *m = s->hash[b], *nx; m; m = nx) {
			nx = m->hnext;
			detach(s, m);
			msg_free(s, m);
		}
	}
	for (size_t b = 0; b < s->dest_buckets; b++) {
		for (struct dest_slot *d = s->dests[b], *nx; d; d = nx) {
			nx = d->hnext;
			free(d->action);
			free(d->nexthop);
			free(d);
		}
	}
	free(s->dests);
	free(s->heap);
	free(s);
}

struct sched_msg *sched_find(struct sched *s, const char *id)
{
	for (struct sched_msg *m = s->hash[hash_id(id)]; m; m = m->hnext)
		if (strcmp(m->env.id, id) == 0)
			return m;
	return NULL;
}

struct sched_msg *sched_add(struct sched *s, const struct envelope *e, int64_t now)
{
	now = clock_now(s, now);
	if (sched_find(s, e->id) != NULL)
		return NULL;
	struct sched_msg *m = xcalloc(1, sizeof(*m));
	envelope_copy(&m->env, e);
	m->inflight = xcalloc(e->n_rcpts ? e->n_rcpts : 1, 1);
	m->dest = xcalloc(e->n_rcpts ? e->n_rcpts : 1, sizeof(*m->dest));
	for (uint32_t i = 0; i < e->n_rcpts; i++) {
		struct sched_dest d;
		if (rcpt_final(e->rcpts[i].state))
			continue;
		if (s->p.dest_of)
			s->p.dest_of(s->p.dest_arg, &m->env, i, &d);
		else
			default_dest(NULL, &m->env, i, &d);
		m->dest[i] = dest_get(s, &d);
		m->dest[i]->refs++;
	}
	unsigned h = hash_id(e->id);
	m->hnext = s->hash[h];
	s->hash[h] = m;
	s->n_msgs++;
	place(s, m, now);
	return m;
}

void sched_remove(struct sched *s, struct sched_msg *m)
{
	detach(s, m);
	for (struct sched_msg **pp = &s->hash[hash_id(m->env.id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	}
	s->n_msgs--;
	msg_free(s, m);
}

/*
 * Build a job from m's due recipients for the first destination with a
 * free slot. NULL if every due destination is busy.
 */
static struct sched_job *job_from(struct sched *s, struct sched_msg *m, int64_t now,
                                  struct dest_slot **busy)
{
	struct dest_slot *slot = NULL;
	struct sched_job *j = NULL;
	for (uint32_t i = 0; i < m->env.n_rcpts; i++) {
		const struct envelope_rcpt *r = &m->env.rcpts[i];
		if (rcpt_final(r->state) || r->state == RCPT_HELD || m->inflight[i] ||
		    r->next_try > now)
			continue;
		if (slot == NULL) {
			struct dest_slot *d = m->dest[i];
			if (dest_busy(s, d, now)) {
				if (*busy == NULL)
					*busy = d;
				continue;
			}
			slot = d;
			j = xcalloc(1, sizeof(*j));
			j->idx = xcalloc(m->env.n_rcpts, sizeof(*j->idx));
		} else if (m->dest[i] != slot) {
			continue;
		}
		if (j->n == SCHED_JOB_MAX)
			break;
		j->idx[j->n++] = i;
		m->inflight[i] = 1;
		m->n_inflight++;
	}
	if (j == NULL)
		return NULL;
	j->id = ++s->next_job;
	j->msg = m;
	j->dest = &slot->d;
	j->slot = slot;
	slot->jobs++;
	s->jobs++;
	return j;
}

struct sched_job *sched_next_job(struct sched *s, int64_t now)
{
	now = clock_now(s, now);
	promote_due(s, now);
	if (s->n_down > 0 && now >= s->next_up)
		dests_come_up(s, now);
	while (s->jobs < s->p.max_jobs && s->ready.head != NULL) {
		struct sched_msg *m = s->ready.head;
		struct dest_slot *busy = NULL;
		struct sched_job *j = job_from(s, m, now, &busy);
		if (j == NULL && busy == NULL) {
			place(s, m, now); /* nothing due after all */
			continue;
		}
		if (j == NULL) {
			/* Due, but every destination it needs is busy, down or
			 * unserved: it waits on the first of them, which wakes it
			 * when a slot frees or the destination comes back. */
			list_unlink(&s->ready, m);
			m->where = W_BLOCKED;
			m->blocked_on = busy;
			list_push(&busy->blocked, m);
			continue;
		}
		place(s, m, now); /* more due recipients (other destinations) stay ready */
		return j;
	}
	return NULL;
}

unsigned sched_backoff(const struct sched_params *p, uint32_t attempts)
{
	uint64_t d = p->retry_min ? p->retry_min : 1;
	for (uint32_t i = 1; i < attempts && d < p->retry_max; i++)
		d *= 2;
	return (unsigned)(d > p->retry_max ? p->retry_max : d);
}

uint8_t sched_outcome(struct sched *s, struct sched_job *j, uint32_t idx, enum sched_status status,
                      const char *text, int64_t now)
{
	now = clock_now(s, now);
	struct sched_msg *m = j->msg;
	struct envelope_rcpt *r = &m->env.rcpts[idx];
	int held = r->state == RCPT_HELD; /* held while the attempt was in flight */
	r->attempts++;
	r->last_attempt = now;
	free(r->last_error);
	r->last_error = text && *text ? xstrndup(text, ENVELOPE_MAX_STR - 1) : NULL;
	if (status == SCHED_OK || status == SCHED_PERM || sched_expired(s, m, now)) {
		r->state = status == SCHED_OK ? RCPT_DELIVERED : RCPT_FAILED;
		dest_unref(s, m, idx); /* the job's slot outlives it: it counts the job */
	} else {
		/* Exponential backoff with +-10% jitter so retries spread out. */
		unsigned d = sched_backoff(&s->p, r->attempts);
		int64_t spread = d / 10;
		int64_t jitter =
		    spread ? (int64_t)(rng_next(s) % (uint64_t)(2 * spread + 1)) - spread : 0;
		/* An administrator's hold outlives the attempt. */
		r->state = held ? RCPT_HELD : RCPT_DEFERRED;
		r->next_try = now + d + jitter;
		/* Never retry past the lifetime without a last attempt at its end
		 * (the first second in which sched_expired() holds). */
		int64_t end = m->env.arrival + (int64_t)s->p.lifetime + 1;
		if (r->next_try > end)
			r->next_try = end > now ? end : now + 1;
	}
	return r->state;
}

void sched_job_done(struct sched *s, struct sched_job *j, int64_t now)
{
	now = clock_now(s, now);
	struct sched_msg *m = j->msg;
	for (size_t k = 0; k < j->n; k++) {
		if (m->inflight[j->idx[k]]) {
			m->inflight[j->idx[k]] = 0;
			m->n_inflight--;
		}
	}
	struct dest_slot *d = j->slot;
	d->jobs--;
	s->jobs--;
	/* A slot came free here: the longest-waiting message blocked on this
	 * destination gets it (one, not all: no rescan of a long backlog). */
	if (d->blocked.head) {
		struct sched_msg *b = d->blocked.head;
		list_unlink(&d->blocked, b);
		b->where = W_NONE;
		b->blocked_on = NULL;
		place(s, b, now);
	}
	dest_release_if_idle(s, d);
	place(s, m, now);
	free(j->idx);
	free(j);
}

int64_t sched_next_wakeup(const struct sched *s)
{
	/* At the global limit, a finished job wakes the scheduler, not a timer. */
	if (s->ready.head && s->jobs < s->p.max_jobs)
		return 0;
	int64_t t = s->heap_len ? s->heap[0]->key : INT64_MAX;
	return s->n_down > 0 && s->next_up < t ? s->next_up : t;
}

int sched_expired(const struct sched *s, const struct sched_msg *m, int64_t now)
{
	/* Times are whole seconds, the arrival rounded down: only a strictly
	 * later second proves that the whole lifetime has passed. */
	return now - m->env.arrival > (int64_t)s->p.lifetime;
}

int sched_msg_final(const struct sched_msg *m)
{
	for (size_t i = 0; i < m->env.n_rcpts; i++)
		if (!rcpt_final(m->env.rcpts[i].state))
			return 0;
	return 1;
}

int sched_delay_due(const struct sched *s, const struct sched_msg *m, uint32_t idx, int64_t now)
{
	const struct envelope_rcpt *r = &m->env.rcpts[idx];
	if (s->p.delay_warning == 0 || rcpt_final(r->state) || m->env.sender[0] == '\0')
		return 0;
	if (r->notify != 0 && !(r->notify & NOTIFY_DELAY))
		return 0;
	uint64_t sent = r->notified >> ENVELOPE_NOTIFIED_DELAY_SHIFT;
	return now - m->env.arrival >= (int64_t)((sent + 1) * s->p.delay_warning);
}

void sched_delay_sent(const struct sched *s, struct sched_msg *m, uint32_t idx, int64_t now)
{
	struct envelope_rcpt *r = &m->env.rcpts[idx];
	/* Count every interval that has passed, not one: after a hold or a
	 * long backoff the sender gets one warning, not a burst. */
	uint64_t intervals = s->p.delay_warning && now > m->env.arrival
	                         ? (uint64_t)(now - m->env.arrival) / s->p.delay_warning
	                         : 0;
	if (intervals > (UINT32_MAX >> ENVELOPE_NOTIFIED_DELAY_SHIFT))
		intervals = UINT32_MAX >> ENVELOPE_NOTIFIED_DELAY_SHIFT;
	r->notified = (r->notified & ((1u << ENVELOPE_NOTIFIED_DELAY_SHIFT) - 1)) |
	              (uint32_t)(intervals << ENVELOPE_NOTIFIED_DELAY_SHIFT);
}

size_t sched_hold(struct sched *s, struct sched_msg *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->env.n_rcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		if (!rcpt_final(r->state) && r->state != RCPT_HELD) {
			r->state = RCPT_HELD;
			n++;
		}
	}
	detach(s, m);
	return n;
}

size_t sched_release(struct sched *s, struct sched_msg *m, int64_t now)
{
	now = clock_now(s, now);
	size_t n = 0;
	for (size_t i = 0; i < m->env.n_rcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		if (r->state == RCPT_HELD) {
			r->state = r->attempts ? RCPT_DEFERRED : RCPT_PENDING;
			r->next_try = now;
			n++;
		}
	}
	place(s, m, now);
	return n;
}

static size_t flush_one(struct sched *s, struct sched_msg *m, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < m->env.n_rcpts; i++) {
		struct envelope_rcpt *r = &m->env.rcpts[i];
		if ((r->state == RCPT_DEFERRED || r->state == RCPT_PENDING) && r->next_try > now) {
			r->next_try = now;
			n++;
		}
	}
	if (m->where == W_NONE && m->heap_pos == 0 && n == 0)
		return 0;
	place(s, m, now);
	return n;
}

size_t sched_flush(struct sched *s, struct sched_msg *m, int64_t now)
{
	now = clock_now(s, now);
	if (m)
		return flush_one(s, m, now);
	/* "Try everything now" includes destinations marked down, as
	 * postqueue -f flushes Postfix's dead destinations. */
	for (size_t b = 0; b < s->dest_buckets; b++)
		for (struct dest_slot *d = s->dests[b]; d; d = d->hnext)
			if (d->down_until > now)
				d->down_until = now;
	dests_come_up(s, now);
	size_t n = 0;
	for (size_t b = 0; b < HASH_BUCKETS; b++)
		for (struct sched_msg *x = s->hash[b]; x; x = x->hnext)
			n += flush_one(s, x, now);
	return n;
}

void sched_update(struct sched *s, struct sched_msg *m, int64_t now)
{
	now = clock_now(s, now);
	place(s, m, now);
}

static int by_id(const void *a, const void *b)
{
	const struct sched_msg *x = *(struct sched_msg *const *)a,
	                       *y = *(struct sched_msg *const *)b;
	return strcmp(x->env.id, y->env.id);
}

void sched_foreach(struct sched *s, void (*cb)(struct sched_msg *m, void *arg), void *arg)
{
	struct sched_msg **all = xcalloc(s->n_msgs ? s->n_msgs : 1, sizeof(*all));
	size_t n = 0;
	for (size_t b = 0; b < HASH_BUCKETS; b++)
		for (struct sched_msg *m = s->hash[b]; m && n < s->n_msgs; m = m->hnext)
			all[n++] = m;
	qsort(all, n, sizeof(*all), by_id);
	for (size_t i = 0; i < n; i++)
		cb(all[i], arg);
	free(all);
}

void sched_stats(const struct sched *s, struct sched_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->messages = s->n_msgs;
	st->jobs_in_flight = s->jobs;
	for (size_t b = 0; b < HASH_BUCKETS; b++) {
		for (const struct sched_msg *m = s->hash[b]; m; m = m->hnext) {
			st->recipients += m->env.n_rcpts;
			for (size_t i = 0; i < m->env.n_rcpts; i++)
				st->by_state[m->env.rcpts[i].state]++;
		}
	}
}

const struct sched_params *sched_params(const struct sched *s)
{
	return &s->p;
}
