/*
 * reload: the parent's half of a reload (SIGHUP, ravenctl reload). It reads
 * the configuration file again with its tables, checks it as ravend -n
 * would (and that nothing which needs a restart changed), opens the new
 * listeners while the parent is still root, and only then — when nothing
 * can fail any more — swaps it in. Any failure leaves the running
 * configuration untouched and says why ("file:line: reason").
 *
 * roles.c then does the rest: the queue re-reads the configuration in place
 * (CONFIG), the other roles are replaced gracefully (docs/ARCHITECTURE.md,
 * "Reload").
 */
#ifndef RAVEN_RELOAD_H
#define RAVEN_RELOAD_H

#include <stddef.h>

#include "conf_bundle.h"
#include "roles.h"

/* A checked configuration, ready to be swapped in. */
struct reload_next {
	struct config *conf;
	int conf_fd;              /* its text, for the roles */
	int bundle_fd;            /* its text and table files, for the queue */
	struct listen_fd *listen; /* reused or newly bound */
	size_t n_listen;
	int *fresh; /* per listen entry: 1 if bound for this reload */
};

/* 0 with next filled, or -1 with the reason in err (nothing changed). */
int reload_prepare(const struct parent *p, struct reload_next *next, char *err, size_t errlen);
/* Swap next in: the old configuration, its memfd and the listeners it alone
 * had are released. */
void reload_commit(struct parent *p, struct reload_next *next);
/* Give up on next (its new listeners are closed). */
void reload_abort(struct reload_next *next);
/* -1 with "file[:line]: reason" if old -> new changes what only a restart
 * can change (accounts, data directory, log, queue scheduling, metrics). */
int reload_check_fixed(const struct config *old, const struct config *new, char *err,
                       size_t errlen);

#endif
