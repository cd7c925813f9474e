/*
 * scheduler: the queue's in-memory picture of every message in the spool
 * and the decisions about it — which recipients are due, how they are
 * grouped into delivery jobs (one job: one message, one destination, any
 * number of recipients), concurrency limits (global and per destination),
 * retry backoff with jitter, expiry, delay-warning times, hold / release /
 * flush. It does no I/O and takes the time as an argument, so it is tested
 * with a fake clock; the queue role does the spool writes and the sending.
 *
 * Structures: a hash by queue id; a FIFO of messages with due recipients;
 * a min-heap of the others by their earliest next try; a list of messages
 * whose only due recipients wait for a busy destination.
 */
#ifndef RAVEN_SCHEDULER_H
#define RAVEN_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/*
 * How a destination is reached. The queue's transport table maps each to
 * the role that serves it; a new kind of delivery is a new value there.
 */
enum sched_transport { TRANSPORT_LOCAL = 1, TRANSPORT_RELAY, TRANSPORT_LMTP, TRANSPORT_COUNT };

/*
 * A destination: a transport, the configured action that leads there, and
 * the next hop — the domain (or host) a relay goes to, the target of an
 * LMTP action (for logs: each LMTP action is a destination of its own),
 * "" for local delivery. One job carries recipients of one destination only; limits,
 * blocking and "down" state are per destination.
 */
struct sched_dest {
	uint8_t transport;
	const char *action;
	const char *nexthop;
};

struct sched_params {
	unsigned retry_min;     /* seconds before the first retry */
	unsigned retry_max;     /* cap of the exponential backoff */
	unsigned lifetime;      /* a temporary failure older than this is final */
	unsigned delay_warning; /* seconds between delay DSNs; 0: none */
	size_t max_jobs;        /* deliveries in flight, all destinations */
	size_t max_jobs_per_dest;
	uint64_t seed; /* jitter PRNG seed */
	/*
	 * A recipient's destination, derived by the queue from its
	 * configuration (the strings need last only for the call). NULL: the
	 * recipient's action, transport local, no next hop.
	 */
	void (*dest_of)(void *arg, const struct envelope *e, uint32_t idx, struct sched_dest *out);
	void *dest_arg;
};

struct dest_slot;

/* Whether a message to relay has been to the DKIM signer (queue_sign.c). */
enum { SIGN_STATE_NONE = 0, SIGN_STATE_ASKED, SIGN_STATE_DONE };

struct sched_msg {
	struct envelope env; /* owned; rcpts[].state etc. are the live state */
	uint8_t *inflight;   /* per recipient */
	size_t n_inflight;
	uint64_t queued_us; /* set by the queue: its monotonic clock at commit; 0: recovered */
	/* private */
	struct dest_slot **dest;       /* per recipient, its destination */
	size_t heap_pos;               /* 0: not in the heap, else index + 1 */
	int64_t key;                   /* earliest next try, while in the heap */
	int where;                     /* which list it is on */
	struct dest_slot *blocked_on;  /* where == blocked: the busy destination */
	int data_missing;              /* set by the queue: set aside when no job is left ... */
	int data_corrupt;              /* ... and the same when its data failed its check */
	int sign_state;                /* the queue's: SIGN_STATE_* (queue_sign.c) */
	char *dkim_sig;                /* the queue's: its DKIM-Signature field, or NULL */
	struct sched_msg *prev, *next; /* list links */
	struct sched_msg *hnext;       /* hash chain */
};

#define SCHED_JOB_MAX 1000 /* recipients carried by one job */

struct sched_job {
	uint64_t id;
	struct sched_msg *msg;
	const struct sched_dest *dest; /* the slot's, which lives at least as long as the job */
	struct dest_slot *slot;        /* private: the destination's slot */
	uint32_t *idx;
	size_t n;
	struct sched_job *next; /* for the queue role's in-flight list */
};

enum sched_status { SCHED_OK = 0, SCHED_TEMP, SCHED_PERM };

struct sched_stats {
	size_t messages, recipients;
	size_t by_state[RCPT_FAILED + 1];
	size_t jobs_in_flight;
};

struct sched;

struct sched *sched_new(const struct sched_params *p);
/* Jobs in flight to each destination of a transport at most, instead of
 * max_jobs_per_dest (0: back to it). Local delivery batches: it has the
 * global limit only. */
void sched_set_transport_limit(struct sched *s, uint8_t transport, size_t limit);
/* No process serves the transport (paused 1): its recipients wait, without
 * failing, until it is 0 again. */
void sched_pause_transport(struct sched *s, uint8_t transport, int paused, int64_t now);
/* The destination as a whole cannot be reached (every MX failed): none of
 * its recipients is tried before until; the rest of the queue goes on. */
void sched_dest_down(struct sched *s, const struct sched_dest *d, int64_t until, int64_t now);
/* Destinations the scheduler keeps a slot for: those a queued recipient or
 * a job in flight uses (for tests). */
size_t sched_dest_count(const struct sched *s);
void sched_free(struct sched *s);

/* Add a committed or recovered message (copied). NULL if the id exists. */
struct sched_msg *sched_add(struct sched *s, const struct envelope *e, int64_t now);
struct sched_msg *sched_find(struct sched *s, const char *id);
/* Forget a message (after spool removal). Its jobs must be done or dropped first. */
void sched_remove(struct sched *s, struct sched_msg *m);

/*
 * The next job that may start now, or NULL (nothing due, or limits
 * reached). Its recipients are marked in flight until sched_job_done().
 */
struct sched_job *sched_next_job(struct sched *s, int64_t now);
/*
 * Record one recipient's outcome: state, attempts, last attempt, last error,
 * next try (backoff with jitter), expiry (a temporary failure past the
 * lifetime becomes FAILED). Returns the new state.
 */
uint8_t sched_outcome(struct sched *s, struct sched_job *j, uint32_t idx, enum sched_status status,
                      const char *text, int64_t now);
/* The job is over: release its recipients and the destination slot; frees j. */
void sched_job_done(struct sched *s, struct sched_job *j, int64_t now);
/* When the next deferred recipient becomes due; INT64_MAX if never. */
int64_t sched_next_wakeup(const struct sched *s);
/* Seconds of backoff after the given number of failed attempts (no jitter). */
unsigned sched_backoff(const struct sched_params *p, uint32_t attempts);

/* 1 when at least the whole lifetime has passed since the message arrived. */
int sched_expired(const struct sched *s, const struct sched_msg *m, int64_t now);
/* 1 when every recipient is DELIVERED or FAILED. */
int sched_msg_final(const struct sched_msg *m);
/*
 * 1 if recipient idx is owed a delay warning at now: not final, its NOTIFY
 * allows DELAY (absent NOTIFY does), and a further warning interval has
 * passed since arrival.
 */
int sched_delay_due(const struct sched *s, const struct sched_msg *m, uint32_t idx, int64_t now);

/* Record that recipient idx was sent a delay warning at now. */
void sched_delay_sent(const struct sched *s, struct sched_msg *m, uint32_t idx, int64_t now);

/* Administration. Each returns the number of recipients changed. */
size_t sched_hold(struct sched *s, struct sched_msg *m);
size_t sched_release(struct sched *s, struct sched_msg *m, int64_t now);
/* Make deferred recipients of m (or of every message, m NULL: and every
 * destination marked down up again) due now. */
size_t sched_flush(struct sched *s, struct sched_msg *m, int64_t now);
/* Tell the scheduler that m's recipients were changed from outside. */
void sched_update(struct sched *s, struct sched_msg *m, int64_t now);

/* Every message, oldest first (by queue id). cb may not add or remove. */
void sched_foreach(struct sched *s, void (*cb)(struct sched_msg *m, void *arg), void *arg);
void sched_stats(const struct sched *s, struct sched_stats *st);
const struct sched_params *sched_params(const struct sched *s);

#endif
