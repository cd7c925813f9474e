/*
 * role_table: every role process Raven runs, described once — its name,
 * how the queue knows it, which account it becomes, its root directory,
 * the capabilities it keeps, its system-call filter, which inherited
 * sockets it needs, and the function it runs. The parent starts and
 * restarts roles from this table; a role executed afresh (ravend -R NAME)
 * confines itself from it. docs/ARCHITECTURE.md prints the same table.
 * A new kind of delivery (the relay role) is one more row.
 */
#ifndef RAVEN_ROLE_TABLE_H
#define RAVEN_ROLE_TABLE_H

#include <stddef.h>

#include "confine.h"
#include "proto.h"

struct config;
struct event_base;
struct listen_fd;

/* What a role's run function is given. */
struct role_env {
	const struct config *conf;
	struct event_base *base;
	int channel;                    /* to the queue (or, for the queue, to the parent) */
	const struct listen_fd *listen; /* ROLE_LISTENERS */
	size_t n_listen;
	int control_fd;        /* ROLE_CONTROL: the ravenctl socket, listening; else -1 */
	int parent_fd;         /* ROLE_PARENT: the service channel to the parent; else -1 */
	const char *spool_dir; /* the queue's spool: "/" once chrooted into it */
	void *state;           /* what the role's prepare step made */

	/* ROLE_METRICS: the metrics listeners. */
	const int *metrics_fds;
	size_t n_metrics;
};

enum role_account {
	ACCOUNT_USER = 1, /* `user`: owns the spool */
	ACCOUNT_NET,      /* `user network`: the network-facing roles */
};

enum role_root {
	ROOT_NONE = 0, /* the real root (local delivery writes anywhere a mailbox is) */
	ROOT_EMPTY,    /* <data>/empty: root-owned, empty */
	ROOT_SPOOL,    /* <data>/queue */
	ROOT_MAILDROP, /* <data>/maildrop */
};

/*
 * What a role inherits, and when it runs (role_wanted()). ROLE_LISTENERS,
 * ROLE_CONTROL, ROLE_METRICS: the sockets it is handed; ROLE_PARENT: a
 * service channel to the parent, for the one privileged request a role may
 * make (connector.h). A role without work does not run: ROLE_METRICS only
 * with metrics listeners, ROLE_SQL only with SQL tables, ROLE_DNS_CHECKS
 * only with sender checks that ask DNS, ROLE_DKIM_SIGN only with `dkim
 * sign`.
 */
enum {
	ROLE_LISTENERS = 1,
	ROLE_CONTROL = 2,
	ROLE_PARENT = 4,
	ROLE_METRICS = 8,
	ROLE_SQL = 16,
	ROLE_DNS_CHECKS = 32,
	ROLE_DKIM_SIGN = 64,
};

struct role_desc {
	const char *name;    /* "queue"; the process is "raven-queue" */
	enum peer_kind peer; /* how the queue sees it; 0 for the queue itself */
	enum role_account account;
	enum role_root root;
	int setid_caps; /* keeps CAP_SETUID/CAP_SETGID instead of dropping every capability */
	enum confine_filter filter;
	int sockets; /* ROLE_* bits */
	/* Before the role is confined (root directory, user, filter): read
	 * what it needs from the file system; its result is env->state.
	 * NULL: nothing to prepare. Fatal (EX_CONFIG) on failure. */
	void *(*prepare)(const struct role_env *env);
	void (*run)(const struct role_env *env);
	/* At a reload, the new instance may start while the old one is still
	 * finishing its work (1); 0: only once the old one has exited. */
	int overlap;
};

/* The queue comes first: the others are handed channels to it. */
extern const struct role_desc role_table[];
extern const size_t role_count;

const struct role_desc *role_find(const char *name);
/* 1 if the role has work under conf with n_metrics metrics listeners (the
 * parent starts it, and starts it again when it exits), else 0. */
int role_wanted(const struct role_desc *d, const struct config *conf, size_t n_metrics);

#endif
