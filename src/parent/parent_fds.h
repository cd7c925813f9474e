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
/* 1 if a and b name the same address and port (however the address is written). */
int parent_same_endpoint(const struct listener *a, const struct listener *b);
/* A close-on-exec memfd holding data; -1 with errno. */
int parent_memfd(const char *name, const void *data, size_t len);

#endif
