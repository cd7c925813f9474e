/*
 * metrics_role: raven-metrics, the Prometheus endpoint (raven.conf(5)
 * "metrics listen"). It answers GET /metrics over HTTP/1.x with the text
 * the queue renders (it holds no counters of its own: it asks the queue,
 * METRICS_REQ, for each scrape), and everything else with 404, 405 or
 * 400. It runs only when a metrics listener is configured, as the network
 * user in an empty root under the network system-call filter, like smtp:
 * an HTTP request is untrusted input, read by the pure, bounded parser
 * http_req.c.
 */
#ifndef RAVEN_METRICS_ROLE_H
#define RAVEN_METRICS_ROLE_H

#include <stddef.h>

struct event_base;

#define METRICS_MAX_CONNS  16 /* connections at once; more get 503 and are closed */
#define METRICS_READ_SEC   5  /* to send the whole request head, from the accept */
#define METRICS_ANSWER_SEC 10 /* for the queue's answer, then for each write to progress */

/* Serve the listening sockets fds until the queue channel closes. */
void metrics_role_main(struct event_base *base, int queue_sock, const int *fds, size_t nfds)
    __attribute__((noreturn));

struct metrics_role;
/* The pieces of metrics_role_main, for tests. */
struct metrics_role *metrics_role_new(struct event_base *base, int queue_sock, const int *fds,
                                      size_t nfds);
/* Change METRICS_READ_SEC and METRICS_ANSWER_SEC (milliseconds). */
void metrics_role_set_timeouts(struct metrics_role *mr, unsigned read_ms, unsigned answer_ms);
/* Close every connection and listener (not the loop). */
void metrics_role_free(struct metrics_role *mr);

#endif
