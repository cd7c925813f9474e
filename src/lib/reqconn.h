/*
 * reqconn: a stream connection that reads one request and writes one
 * answer, as the queue's control socket and the metrics endpoint serve
 * them. It holds what those have in common: the socket, its I/O event and
 * its deadline, the answer and how much of it is sent, and its place in
 * the owner's list. Linking, the switch to writing, the write loop and the
 * teardown are written here once. The owner embeds a struct reqconn in its
 * own connection, keeps its protocol state beside it, and frees its
 * connection after reqconn_close().
 */
#ifndef RAVEN_REQCONN_H
#define RAVEN_REQCONN_H

#include <event2/event.h>
#include <stddef.h>

#include "buf.h"

struct reqconn;

/* The owner's connections, newest first, and how many. */
struct reqconn_list {
	struct reqconn *head;
	size_t n;
};

struct reqconn {
	struct reqconn_list *list;
	struct event_base *base;
	int fd;
	struct event *io, *timer;
	event_callback_fn io_cb;
	void *arg;         /* the owner's connection, given to both callbacks */
	struct buf out;    /* the answer */
	size_t off;        /* how much of out is sent */
	unsigned write_ms; /* the deadline for each step of progress writing */
	struct reqconn *prev, *next;
};

enum reqconn_sent { REQCONN_MORE, REQCONN_SENT, REQCONN_FAILED };

/*
 * Take fd (non-blocking), link rc first in list and start reading: io_cb
 * on each EV_READ, timeout_cb once read_ms from now, both with arg. The
 * answer buffer is capped at out_max.
 */
void reqconn_open(struct reqconn *rc, struct reqconn_list *list, struct event_base *base, int fd,
                  size_t out_max, event_callback_fn io_cb, event_callback_fn timeout_cb, void *arg,
                  unsigned read_ms);
/* Move the deadline to ms from now. */
void reqconn_arm(struct reqconn *rc, unsigned ms);
/* Start writing rc->out from its beginning: io_cb now fires on EV_WRITE,
 * and the deadline is ms without progress. */
void reqconn_respond(struct reqconn *rc, unsigned ms);
/* From io_cb while writing: send what the socket takes. REQCONN_MORE:
 * wait for the next EV_WRITE (the deadline is moved on progress);
 * REQCONN_SENT or REQCONN_FAILED: done, the owner closes. */
enum reqconn_sent reqconn_write(struct reqconn *rc);
/* Unlink rc and free its events and answer; close the socket after
 * discarding unread input (so the close does not reset the connection and
 * cut the answer short). rc's own memory is the owner's. */
void reqconn_close(struct reqconn *rc);

#endif
