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
struct dkim_keycache;
struct dmarc_psl;
struct dns_resolver;
struct session;
struct tls_server;

struct listen_fd {
	int fd;
	const struct listener *l;
	unsigned worker; /* the smtp process it is for (limits smtp-processes) */
};

/* What the smtp role reads before it is confined (its prepare step): the
 * TLS contexts and, when DMARC is on, the Public Suffix List. */
struct smtp_prep {
	struct tls_server *tls;
	struct dmarc_psl *psl;
};
/* Fatal (EX_CONFIG) on error. */
struct smtp_prep *smtp_prepare(const struct config *conf);

/* Run the smtp role until the queue channel closes. Does not return. */
void smtp_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    const struct listen_fd *fds, size_t nfds, struct smtp_prep *prep);

struct smtp_server;
/* The pieces of smtp_role_main, for tests and the session fuzzer. */
struct smtp_server *smtp_server_new(const struct config *conf, struct event_base *base,
                                    int queue_sock);
void smtp_server_listen(struct smtp_server *srv, const struct listen_fd *fds, size_t nfds);
/* Start a session on an accepted socket (limits are checked by the caller);
 * l is the listener it came in on (NULL: a plain port-25 listener). */
struct session *smtp_server_adopt(struct smtp_server *srv, int fd, const struct sockaddr *sa,
                                  socklen_t salen, const struct listener *l);
/* The TLS contexts (made before confinement, owned by the caller); without
 * them STARTTLS is not offered and implicit-TLS sessions fail. */
void smtp_server_set_tls(struct smtp_server *srv, struct tls_server *tls);
struct tls_server *smtp_server_tls(const struct smtp_server *srv);
/* ravend -n and the parent at start: every configured certificate loads
 * and matches its key; -1 with "file:line: reason" otherwise. */
int smtp_tls_check(const struct config *conf, char *err, size_t errlen);
/* The smtp role's preparation, before it confines itself: the configured
 * certificates (or a self-signed one) loaded and tried once. Fatal on error. */
struct tls_server *smtp_tls_prepare(const struct config *conf);
void smtp_server_free(struct smtp_server *srv);
struct event_base *smtp_server_base(struct smtp_server *srv);
/* Requests to the queue; the answer reaches the session by its req number. */
void smtp_server_request_new(struct smtp_server *srv, struct session *s);
void smtp_server_request_commit(struct smtp_server *srv, struct session *s,
                                const struct envelope_draft *e);
void smtp_server_abort(struct smtp_server *srv, const char *id);
/* Ask the auth role (through the queue) whether login/password are good;
 * the verdict reaches session_auth_result(). */
void smtp_server_request_auth(struct smtp_server *srv, struct session *s, const char *login,
                              const char *password);
/* Ask the lookup role (through the queue) for key in an SQL table; the
 * answer reaches session_lookup_result(). */
void smtp_server_request_lookup(struct smtp_server *srv, struct session *s, const char *table,
                                const char *key);
/* Routing's hook to the answers the lookup role gave (cached briefly). */
const struct route_lookup *smtp_server_lookup_hook(const struct smtp_server *srv);
struct ttl_cache *smtp_server_lookups(struct smtp_server *srv);
/* Forget the question s is waiting on (its answer will be dropped). */
void smtp_server_cancel(struct smtp_server *srv, struct session *s);
/* The least delay before a refused AUTH is answered, in ms (default 1000;
 * tests set 0). */
void smtp_server_set_auth_delay(struct smtp_server *srv, unsigned ms);
unsigned smtp_server_auth_delay(const struct smtp_server *srv);
/* The sender checks: the resolver (the resolver role, through the queue;
 * NULL when no check is configured), the Public Suffix List (DMARC), and
 * a random number for DMARC's pct=. */
struct dns_resolver *smtp_server_dns(const struct smtp_server *srv);
/* Decoded DKIM keys, shared by the sessions' verifications (NULL: no checks). */
struct dkim_keycache *smtp_server_dkim_keys(const struct smtp_server *srv);
void smtp_server_set_psl(struct smtp_server *srv, const struct dmarc_psl *psl);
const struct dmarc_psl *smtp_server_psl(const struct smtp_server *srv);
uint32_t smtp_server_random(struct smtp_server *srv);
/* Called by session_free. */
void smtp_server_forget(struct smtp_server *srv, struct session *s);
/* Count an event (metrics.h); the role's counters go to the queue. */
void smtp_server_count(struct smtp_server *srv, enum metric_id id);
struct metrics_push *smtp_server_metrics(struct smtp_server *srv);

#endif
