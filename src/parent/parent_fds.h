/*
 * parent_fds: the descriptors the parent makes for its roles — listening
 * sockets and the memfds that carry a configuration — at start and again
 * at reload, where a failure must be reported, never fatal.
 */
#ifndef RAVEN_PARENT_FDS_H
#define RAVEN_PARENT_FDS_H

#include <stddef.h>

#include "config.h"

#define LISTEN_BACKLOG 4096

/* Bind and listen on one listener; -1 with errno when it cannot be used. */
int parent_listen_on(const struct listener *l);
/*
 * n sockets listening on l, one for each smtp process (limits
 * smtp-processes): fds[0..n). With n > 1 they form one SO_REUSEPORT group
 * in which the kernel hands a connection to fds[address % n], the
 * client's address read as a number (IPv6: its /64 prefix), so every
 * connection from one address reaches the same process and the
 * per-address limits hold whole. 0, or -1 with errno (nothing left open).
 */
int parent_listen_group(const struct listener *l, unsigned n, int *fds);
/* 1 if a and b name the same address and port (however the address is written). */
int parent_same_endpoint(const struct listener *a, const struct listener *b);
/* A close-on-exec memfd holding data; -1 with errno. */
int parent_memfd(const char *name, const void *data, size_t len);

#endif
