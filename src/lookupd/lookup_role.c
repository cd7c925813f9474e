/*
 * lookup_role: the raven-lookup process (see lookup_role.h). The loop
 * thread decodes questions and queues them; LOOKUP_WORKERS threads take
 * them one at a time, ask the table's database and queue the answers; a
 * pipe wakes the loop to send them. Questions are bounded (the queue
 * forwards at most 4,096 at once), so are the lists.
 */
#include "lookup_role.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "lookup.h"
#include "lookup_db.h"
#include "proto.h"
#include "xmalloc.h"

struct job {
	uint64_t req;
	uint32_t res_type; /* PROTO_LOOKUP_RES, or PROTO_CRED_RES for the auth role */
	int presence_only; /* the "auth users" table asked by smtp: never the hash */
	size_t table;      /* index in conf->tables */
	char *key;
	uint8_t status;
	char value[LOOKUP_VALUE_MAX + 1];
	struct job *next;
};

struct lookup_role {
	const struct config *conf;
	struct ipc *queue;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *todo, **todo_tail;
	struct job *done;
	int wake[2]; /* workers -> loop: answers are ready */
	struct event *wake_ev;
};

static void answer(struct lookup_role *l, const struct job *j)
{
	struct lookup_res r = {.req = j->req, .status = j->status, .value = (char *)j->value};
	struct buf b;
	buf_init(&b, 0);
	lookup_encode_res(&b, &r);
	ipc_send(l->queue, j->res_type, b.data, b.len, -1);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
}

static void job_free(struct job *j)
{
	free(j->key);
	explicit_bzero(j->value, sizeof(j->value)); /* a hash, for the auth role */
	free(j);
}

/* Each worker keeps its own connections (libpq and SQLite connections are
 * not shared between threads). */
static void *worker(void *arg)
{
	struct lookup_role *l = arg;
	const struct config *c = l->conf;
	struct lookup_db **db = xcalloc(c->n_tables, sizeof(*db));
	for (size_t i = 0; i < c->n_tables; i++)
		if (table_kind(c->tables[i]) != TABLE_MEMORY)
			db[i] = lookup_db_new(c->tables[i]);
	for (;;) {
		pthread_mutex_lock(&l->mu);
		while (l->todo == NULL)
			pthread_cond_wait(&l->cv, &l->mu);
		struct job *j = l->todo;
		l->todo = j->next;
		if (l->todo == NULL)
			l->todo_tail = &l->todo;
		pthread_mutex_unlock(&l->mu);

		char err[300], key[600], why[700];
		j->status = lookup_db_query(db[j->table], j->key, j->value, sizeof(j->value), err,
		                            sizeof(err));
		if (j->status == LOOKUP_TEMP) {
			log_escape(key, sizeof(key), j->key, strlen(j->key));
			log_escape(why, sizeof(why), err, strlen(err));
			log_warn("event=lookup-failed table=%s key=\"%s\" reason=\"%s\"",
			         table_name(c->tables[j->table]), key, why);
			j->value[0] = '\0';
		}
		if (j->presence_only)
			explicit_bzero(j->value, sizeof(j->value));
		pthread_mutex_lock(&l->mu);
		j->next = l->done;
		l->done = j;
		pthread_mutex_unlock(&l->mu);
		char one = 1;
		while (write(l->wake[1], &one, 1) == -1 && errno == EINTR)
			;
	}
	return NULL;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_role *l = arg;
	char drain[64];
	(void)what;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&l->mu);
	struct job *done = l->done;
	l->done = NULL;
	pthread_mutex_unlock(&l->mu);
	while (done != NULL) {
		struct job *next = done->next;
		answer(l, done);
		job_free(done);
		done = next;
	}
}

static int table_index(const struct config *c, const char *name, size_t *idx)
{
	for (size_t i = 0; i < c->n_tables; i++)
		if (table_kind(c->tables[i]) != TABLE_MEMORY &&
		    strcmp(table_name(c->tables[i]), name) == 0) {
			*idx = i;
			return 0;
		}
	return -1;
}

/*
 * A question's table: any SQL table of ours for LOOKUP_REQ (the "auth
 * users" one answered with presence only: smtp may check that a mailbox
 * exists, never see its hash), only the "auth users" one for CRED_REQ,
 * which the queue accepts from the auth role alone.
 */
static int job_table(const struct lookup_role *l, uint32_t type, const char *name, struct job *j)
{
	const struct table *creds = l->conf->auth_users;
	if (table_index(l->conf, name, &j->table) == -1)
		return -1;
	int is_creds = l->conf->tables[j->table] == creds;
	if (type == PROTO_CRED_REQ && !is_creds)
		return -1;
	j->res_type = type == PROTO_CRED_REQ ? PROTO_CRED_RES : PROTO_LOOKUP_RES;
	j->presence_only = type == PROTO_LOOKUP_REQ && is_creds;
	return 0;
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct lookup_role *l = arg;
	struct lookup_req q;
	if (m->fd != -1)
		close(m->fd);
	if ((m->type != PROTO_LOOKUP_REQ && m->type != PROTO_CRED_REQ) || m->fd != -1 ||
	    m->fd_lost || lookup_decode_req(m->data, m->len, &q) == -1) {
		/* The queue is broken: go, as if it had died (we are restarted). */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		ipc_shutdown(ch);
		return;
	}
	struct job *j = xcalloc(1, sizeof(*j));
	j->req = q.req;
	if (job_table(l, m->type, q.table, j) == -1) {
		/* Not an SQL table of ours (for that frame): the asking role's
		 * configuration is another (a reload in between); it is told to
		 * try again. */
		j->res_type = m->type == PROTO_CRED_REQ ? PROTO_CRED_RES : PROTO_LOOKUP_RES;
		j->status = LOOKUP_TEMP;
		answer(l, j);
		job_free(j);
		lookup_req_free(&q);
		return;
	}
	j->key = q.key;
	q.key = NULL;
	lookup_req_free(&q);
	pthread_mutex_lock(&l->mu);
	*l->todo_tail = j;
	l->todo_tail = &j->next;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-channel-closed");
	exit(0);
}

void lookup_role_main(const struct config *conf, struct event_base *base, int queue_sock)
{
	struct lookup_role l = {.conf = conf};
	pthread_mutex_init(&l.mu, NULL);
	pthread_cond_init(&l.cv, NULL);
	l.todo_tail = &l.todo;
	if (pipe2(l.wake, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe: %s", strerror(errno));
	l.wake_ev = event_new(base, l.wake[0], EV_READ | EV_PERSIST, wake_cb, &l);
	event_add(l.wake_ev, NULL);
	for (int i = 0; i < LOOKUP_WORKERS; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, &l) != 0)
			fatal("cannot start a lookup worker");
		pthread_detach(t);
	}
	struct ipc_handlers h = {queue_msg, queue_closed, &l};
	l.queue = ipc_new(base, queue_sock, &h);
	size_t n = 0;
	for (size_t i = 0; i < conf->n_tables; i++)
		n += table_kind(conf->tables[i]) != TABLE_MEMORY;
	log_info("event=lookup-ready tables=%zu workers=%d", n, LOOKUP_WORKERS);
	event_base_dispatch(base);
	exit(0);
}
