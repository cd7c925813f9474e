/*
 * confine: what a role process may do once it runs — the operating-system
 * side of privilege separation. Each step is applied by the role itself
 * right after it was executed afresh, in the order role_exec.c lists:
 * not dumpable, its root directory, its user (or, for local delivery, only
 * the capabilities to switch file-system identity), then its system-call
 * filter. Started as an ordinary user, only the dumpable flag and the
 * filter apply.
 */
#ifndef RAVEN_CONFINE_H
#define RAVEN_CONFINE_H

#include "privsep.h"

/* The system-call filters (libseccomp). */
enum confine_filter {
	FILTER_NONE = 0,
	/* smtp (and later the relay): an allow-list of what a libevent loop
	 * serving sockets needs; anything else kills the process. */
	FILTER_NETWORK,
	/* the relay: FILTER_NETWORK, plus making TCP and UDP sockets of its
	 * own (connections, DNS) and reading the spool files it is handed. */
	FILTER_RELAY,
	/* the resolver (raven-dns): FILTER_NETWORK, plus its own UDP and TCP
	 * sockets to the DNS servers; no file of any kind. */
	FILTER_RESOLVER,
	/* the DKIM signer (raven-dkim): FILTER_NETWORK, plus reading the
	 * spooled messages it is handed (pread); no socket, no file to open. */
	FILTER_SIGNER,
	/* local delivery: everything but changing ids for good (setuid and
	 * friends), switching the file-system identity to root, executing a
	 * program, or tracing one. */
	FILTER_DELIVERY,
	/* pickup: FILTER_NETWORK, plus reading (never creating or writing)
	 * files in the maildrop, listing, renaming and removing them, syncing,
	 * and reading the spool file it wrote (for a failure notice). */
	FILTER_PICKUP,
	/* lookup: FILTER_NETWORK, plus threads, TCP and unix-domain sockets
	 * (PostgreSQL), and opening files for reading only (SQLite files and
	 * what libpq reads: its password file, the system's user database). */
	FILTER_LOOKUP,
};

/* Neither core dumps nor ptrace by a process of the same uid. */
void confine_undumpable(void);
/* chroot(dir) and chdir("/"); fatal on failure. */
void confine_root(const char *dir);
/*
 * Become id, keeping only CAP_SETUID and CAP_SETGID (effective and
 * permitted; every other capability leaves the bounding set too) — what
 * setfsuid/setfsgid need. Not root: nothing. Fatal on failure.
 */
void confine_setid_only(const struct privsep *p, const struct privsep_id *id);
/* Install filter (no new privileges from then on). Fatal on failure. */
void confine_filter(enum confine_filter filter);

#endif
