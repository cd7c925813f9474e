/*
 * server: the smtp role — listeners, connection limits, the set of live
 * sessions, and the channel to the queue role.
 */
#ifndef RAVEN_SERVER_H
#define RAVEN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "metrics.h"

struct event_base;
struct session;

struct listen_fd {
	int fd;
	const struct listener *l;
};

/* Run the smtp role until the queue channel closes. Does not return. */
void smtp_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    const struct listen_fd *fds, size_t nfds);

struct smtp_server;
/* The pieces of smtp_role_main, for tests and the session fuzzer. */
struct smtp_server *smtp_server_new(const struct config *conf, struct event_base *base,
                                    int queue_sock);
void smtp_server_listen(struct smtp_server *srv, const struct listen_fd *fds, size_t nfds);
/* Start a session on an accepted socket (limits are checked by the caller). */
struct session *smtp_server_adopt(struct smtp_server *srv, int fd, const struct sockaddr *sa,
                                  socklen_t salen, int submission);
void smtp_server_free(struct smtp_server *srv);
struct event_base *smtp_server_base(struct smtp_server *srv);
/* Requests to the queue; the answer reaches the session by its req number. */
void smtp_server_request_new(struct smtp_server *srv, struct session *s);
void smtp_server_request_commit(struct smtp_server *srv, struct session *s,
                                const struct envelope_draft *e);
void smtp_server_abort(struct smtp_server *srv, const char *id);
/* Called by session_free. */
void smtp_server_forget(struct smtp_server *srv, struct session *s);
/* Count an event (metrics.h); the role's counters go to the queue. */
void smtp_server_count(struct smtp_server *srv, enum metric_id id);
struct metrics_push *smtp_server_metrics(struct smtp_server *srv);

#endif
