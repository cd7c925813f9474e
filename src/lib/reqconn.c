/* reqconn: one request, one answer, on a list (see reqconn.h). */
#include "reqconn.h"

#include <errno.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

#define DRAIN_MAX (64u * 1024) /* unread request octets discarded before close */

void reqconn_open(struct reqconn *rc, struct reqconn_list *list, struct event_base *base, int fd,
                  size_t out_max, event_callback_fn io_cb, event_callback_fn timeout_cb, void *arg,
                  unsigned read_ms)
{
	rc->list = list;
	rc->base = base;
	rc->fd = fd;
	rc->io_cb = io_cb;
	rc->arg = arg;
	rc->off = 0;
	buf_init(&rc->out, out_max);
	rc->io = event_new(base, fd, EV_READ | EV_PERSIST, io_cb, arg);
	rc->timer = evtimer_new(base, timeout_cb, arg);
	if (rc->io == NULL || rc->timer == NULL)
		fatal("event_new failed");
	rc->prev = NULL;
	rc->next = list->head;
	if (list->head)
		list->head->prev = rc;
	list->head = rc;
	list->n++;
	event_add(rc->io, NULL);
	reqconn_arm(rc, read_ms);
}

void reqconn_arm(struct reqconn *rc, unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(rc->timer, &tv);
}

void reqconn_respond(struct reqconn *rc, unsigned ms)
{
	rc->off = 0;
	rc->write_ms = ms;
	event_del(rc->io);
	event_assign(rc->io, rc->base, rc->fd, EV_WRITE | EV_PERSIST, rc->io_cb, rc->arg);
	event_add(rc->io, NULL);
	reqconn_arm(rc, ms);
}

enum reqconn_sent reqconn_write(struct reqconn *rc)
{
	ssize_t n = send(rc->fd, rc->out.data + rc->off, rc->out.len - rc->off, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return REQCONN_MORE;
	if (n <= 0)
		return REQCONN_FAILED;
	rc->off += (size_t)n;
	if (rc->off == rc->out.len)
		return REQCONN_SENT;
	reqconn_arm(rc, rc->write_ms);
	return REQCONN_MORE;
}

void reqconn_close(struct reqconn *rc)
{
	struct reqconn_list *list = rc->list;
	if (rc->prev)
		rc->prev->next = rc->next;
	else
		list->head = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	list->n--;
	event_free(rc->io);
	event_free(rc->timer);
	sock_drain_close(rc->fd, DRAIN_MAX);
	buf_free(&rc->out);
}
