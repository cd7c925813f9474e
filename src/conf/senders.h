/*
 * senders: which envelope senders an authenticated client may use, so a
 * login cannot pass its mail off as another user's (553 5.7.1 otherwise).
 *
 * The "auth senders" table maps a login to a comma-separated list of what
 * it owns: "user@domain" (that address, "+tag" variants included) or
 * "@domain" / "domain" (any address there). A login the table does not
 * list (or without a table) owns its own name: the login itself when it is
 * an address, otherwise login@D for every domain routed to a maildir
 * action (and the host name). The null sender <> is everyone's (bounces,
 * read receipts). Addresses are compared without regard to ASCII case.
 */
#ifndef RAVEN_SENDERS_H
#define RAVEN_SENDERS_H

#include "addr.h"
#include "config.h"

/* 1 if login may send as a. */
int senders_owns(const struct config *c, const char *login, const struct mailaddr *a);
/* The same, with login's entry found by the caller (an SQL table's answer,
 * asked of the lookup role): listed, and its list of what it owns. */
int senders_owns_listed(const struct config *c, const char *login, const struct mailaddr *a,
                        int listed, const char *list);

#endif
