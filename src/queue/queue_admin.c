/* queue_admin: the operations behind ravenctl (see queue_admin.h). */
#include "queue_admin.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue_int.h"
#include "version.h"
#include "xmalloc.h"

int64_t queue_admin_now(struct queue_role *q)
{
	return queue_now(q);
}

struct sched *queue_admin_sched(struct queue_role *q)
{
	return q->sched;
}

void queue_admin_counters(struct queue_role *q, struct queue_counters *c)
{
	*c = q->counters;
}

void queue_admin_status(struct queue_role *q, struct queue_status *st)
{
	memset(st, 0, sizeof(*st));
	st->version = version_string();
	st->hostname = q->conf->hostname;
	st->parent_pid = (long)getppid();
	st->queue_pid = (long)getpid();
	st->started = q->counters.started;
	for (const struct peer *p = q->peers; p; p = p->next) {
		if (p->ch == NULL)
			continue;
		if (p->kind == PEER_SMTP)
			st->smtp++;
		else if (p->kind == PEER_LOCAL)
			st->local++;
		else if (p->kind == PEER_RELAY)
			st->relay++;
	}
	/* The configured listeners: a parent that cannot bind one stops
	 * before it starts the roles (ravend.c); only the built-in default
	 * skips an address the host does not have. */
	size_t n = q->conf->n_listeners;
	struct status_listener *ls = xcalloc(n ? n : 1, sizeof(*ls));
	for (size_t i = 0; i < n; i++)
		ls[i] =
		    (struct status_listener){q->conf->listeners[i].addr, q->conf->listeners[i].port,
		                             q->conf->listeners[i].submission};
	st->listeners = ls;
	st->n_listeners = n;
	sched_stats(q->sched, &st->sched);
}

void queue_admin_status_free(struct queue_status *st)
{
	free((void *)st->listeners);
	st->listeners = NULL;
}

static struct sched_msg *find(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = envelope_id_valid(id) ? sched_find(q->sched, id) : NULL;
	if (m == NULL)
		snprintf(err, errlen, "no such message: %s",
		         envelope_id_valid(id) ? id : "(bad id)");
	return m;
}

int queue_admin_remove(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = find(q, id, err, errlen);
	if (m == NULL)
		return -1;
	if (m->n_inflight) {
		snprintf(err, errlen, "message %s is being delivered right now; try again", id);
		return -1;
	}
	q->counters.removed++;
	log_info("event=ctl-remove id=%s", id);
	queue_finish(q, m, "removed by administrator");
	return 0;
}

int queue_admin_hold(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = find(q, id, err, errlen);
	if (m == NULL)
		return -1;
	size_t n = sched_hold(q->sched, m);
	for (uint32_t i = 0; i < m->env.n_rcpts; i++)
		if (m->env.rcpts[i].state == RCPT_HELD)
			queue_persist(q, m, i);
	log_info("event=ctl-hold id=%s rcpts=%zu", id, n);
	return 0;
}

int queue_admin_release(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = find(q, id, err, errlen);
	if (m == NULL)
		return -1;
	uint8_t *was = xcalloc(m->env.n_rcpts ? m->env.n_rcpts : 1, 1);
	for (uint32_t i = 0; i < m->env.n_rcpts; i++)
		was[i] = m->env.rcpts[i].state == RCPT_HELD;
	size_t n = sched_release(q->sched, m, queue_now(q));
	for (uint32_t i = 0; i < m->env.n_rcpts; i++)
		if (was[i])
			queue_persist(q, m, i);
	free(was);
	log_info("event=ctl-release id=%s rcpts=%zu", id, n);
	queue_schedule(q);
	return 0;
}

int queue_admin_flush(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = NULL;
	if (id != NULL && (m = find(q, id, err, errlen)) == NULL)
		return -1;
	size_t n = sched_flush(q->sched, m, queue_now(q));
	log_info("event=ctl-flush id=%s rcpts=%zu", id ? id : "all", n);
	queue_schedule(q);
	return 0;
}

int queue_admin_headers(struct queue_role *q, const char *id, struct buf *out, char *err,
                        size_t errlen)
{
	if (find(q, id, err, errlen) == NULL)
		return -1;
	int fd = spool_open_data(q->spool, id);
	if (fd == -1) {
		snprintf(err, errlen, "cannot open message %s: %s", id, strerror(errno));
		return -1;
	}
	char tmp[64 * 1024];
	ssize_t n = pread(fd, tmp, sizeof(tmp), 0);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read message %s: %s", id, strerror(errno));
		return -1;
	}
	/* The header section ends at the first empty line. */
	size_t len = (size_t)n;
	for (size_t i = 0; i + 3 < (size_t)n; i++) {
		if (memcmp(tmp + i, "\r\n\r\n", 4) == 0) {
			len = i + 2;
			break;
		}
	}
	buf_append(out, tmp, len);
	return 0;
}
