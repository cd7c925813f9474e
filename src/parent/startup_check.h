/*
 * startup_check: checks of what the configuration will meet at run time,
 * done by `ravend -n` and again at start (see startup_check.c).
 */
#ifndef RAVEN_STARTUP_CHECK_H
#define RAVEN_STARTUP_CHECK_H

#include <stddef.h>

#include "privsep.h"

struct config;

/* -1 with a reason when the daemon's user cannot reach the data directory. */
int startup_check_data_dir(const struct privsep *ps, const struct config *c, char *err,
                           size_t errlen);
/* Descriptors the connection limit needs when every session is in DATA. */
size_t startup_fds_needed(const struct config *c);
/* -1 with a reason when the hard descriptor limit cannot even hold the
 * connection limit's sockets. */
int startup_check_fd_limit(const struct config *c, char *err, size_t errlen);
/* Raise the soft descriptor limit to what the connection limit needs
 * (roles inherit it). 0 or -1. */
int startup_raise_fd_limit(const struct config *c);
/* Call warn for each Maildir base its owner cannot write. */
void startup_warn_mailboxes(const struct privsep *ps, const struct config *c,
                            void (*warn)(const char *text, void *arg), void *arg);

#endif
