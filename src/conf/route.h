/*
 * route: decides, at RCPT time, what happens to one recipient — the
 * routing rules of the configuration, alias expansion, sub-addressing and
 * recipient validation, so that unknown users are refused during the SMTP
 * dialogue (no backscatter). Pure: no I/O beyond the already-loaded tables.
 */
#ifndef RAVEN_ROUTE_H
#define RAVEN_ROUTE_H

#include <stddef.h>

#include "config.h"

enum route_verdict {
	ROUTE_LOCAL = 1,    /* deliver to the mailboxes in users[] with action */
	ROUTE_RELAY,        /* relay through action (later issues) */
	ROUTE_UNKNOWN_USER, /* 550 5.1.1 */
	ROUTE_RELAY_DENIED, /* 550 5.7.1 */
	ROUTE_ERROR,        /* 550 5.3.0 (alias loop, too many, refused target) */
	ROUTE_TEMP_ERROR,   /* 451 4.3.0 */
	ROUTE_PENDING,      /* an SQL table must be asked first: need_table, need_key */
};

#define ROUTE_MAX_EXPANSION 1000 /* final mailboxes from one recipient */
#define ROUTE_MAX_DEPTH     20   /* alias nesting */

struct route_result {
	enum route_verdict verdict;
	const struct action *action;
	char **users; /* ROUTE_LOCAL: final mailbox names (safe for paths) */
	size_t n_users;
	char reason[256]; /* human text for the reply when refused */
	/* ROUTE_PENDING: the lookup to do before asking again */
	char need_table[65];
	char need_key[513];
};

/* The answer of a table kept in a database (table_kind() != TABLE_MEMORY). */
enum route_answer { ROUTE_ABSENT = 0, ROUTE_FOUND, ROUTE_UNKNOWN, ROUTE_UNAVAILABLE };

/*
 * How routing learns what an SQL table holds: the caller's answer, if it
 * has one (a cache filled by the lookup role), ROUTE_UNKNOWN to make the
 * resolution ROUTE_PENDING on this lookup, ROUTE_UNAVAILABLE for 451.
 * Without a hook, an SQL table is unavailable.
 */
struct route_lookup {
	enum route_answer (*fn)(void *arg, const struct table *t, const char *key,
	                        const char **value);
	void *arg;
};

struct route_request {
	const char *local;    /* local part, unquoted; "postmaster" without domain allowed */
	const char *domain;   /* NULL or "" for <postmaster> */
	enum match_from from; /* FROM_LOCAL if client is in local networks, else FROM_ANY */
	int authenticated;
	const struct route_lookup *lookup; /* NULL: SQL tables are unavailable */
	/* route_verify's re-check: the smtp role looked the SQL tables up; a
	 * rule whose domains are in one matches if it leads to this action,
	 * and this action's SQL users and aliases are taken to give this
	 * mailbox (vouched_user). NULL otherwise. */
	const struct action *vouched;
	const char *vouched_user;
};

void route_resolve(const struct config *c, const struct route_request *rq,
                   struct route_result *out);
void route_result_free(struct route_result *r);
/*
 * The trusted re-check of a delivery somebody else asked for (the smtp
 * role wrote the envelope; the queue passes it on): 0 if this
 * configuration routes the recipient local@domain to the action named
 * action — for some kind of client — and, for a local action, user is one
 * of the mailboxes it expands to (for a relay action, user must be NULL or
 * ""). -1 with the reason in why otherwise: a compromised network role
 * cannot choose who writes where.
 */
int route_verify(const struct config *c, const char *action, const char *local, const char *domain,
                 const char *user, char *why, size_t whylen);
/* The same for an envelope recipient as the spool records it (its canonical
 * address text, which is parsed here). */
int route_verify_rcpt(const struct config *c, const char *action, const char *addr,
                      const char *user, char *why, size_t whylen);
/* 1 if name is safe as a mailbox directory name (no '/', no leading '.', ...). */
int route_safe_mailbox(const char *name);

#endif
