/*
 * auth_role: the raven-auth process (see auth_role.h). One question at a
 * time: a check costs one crypt(3), milliseconds of CPU by design, and the
 * delay before a refusal is the smtp role's (it holds the client, not us).
 * With an SQL "auth users" table, a question waits for its hash from the
 * lookup role (auth_sql.h) and is checked when it comes.
 */
#include "auth_role.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth_sql.h"
#include "config.h"
#include "credentials.h"
#include "ipc.h"
#include "lockout.h"
#include "log.h"
#include "lookup.h"
#include "proto.h"

struct auth_role {
	const struct config *conf;
	struct credentials *cred;
	struct lockout *lock;
	struct ipc *queue;
	struct auth_sql *sql; /* NULL unless "auth users" is an SQL table */
};

static void answer(struct auth_role *a, uint64_t req, uint8_t status, const char *login)
{
	struct proto_auth_res r = {.req = req, .status = status, .login = (char *)login};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_res(&b, &r);
	ipc_send(a->queue, PROTO_AUTH_RES, b.data, b.len, -1);
	buf_free(&b);
}

/* The verdict on q, given its login's stored hash (NULL: no such login). */
static void verdict(struct auth_role *a, const struct proto_auth_req *q, const char *hash)
{
	char login[600], client[200], canon[PROTO_AUTH_FIELD_MAX + 1];
	log_escape(login, sizeof(login), q->login, strlen(q->login));
	log_escape(client, sizeof(client), q->client, strlen(q->client));
	if (credentials_verify(a->cred, q->login, hash, q->password, canon, sizeof(canon))) {
		log_info("event=auth-ok client=%s login=\"%s\"", client, login);
		answer(a, q->req, AUTH_OK, canon);
		return;
	}
	log_info("event=auth-failed client=%s login=\"%s\"", client, login);
	if (lockout_fail(a->lock, q->client, (int64_t)time(NULL)))
		log_warn("event=auth-lockout client=%s failures=%zu seconds=%u", client,
		         a->conf->limits.auth_failures, a->conf->limits.auth_lockout);
	answer(a, q->req, AUTH_FAIL, "");
}

static void check(struct auth_role *a, struct proto_auth_req *q)
{
	char login[600], client[200];
	if (lockout_locked(a->lock, q->client, (int64_t)time(NULL))) {
		log_escape(login, sizeof(login), q->login, strlen(q->login));
		log_escape(client, sizeof(client), q->client, strlen(q->client));
		log_info("event=auth-refused client=%s login=\"%s\" reason=\"locked out\"", client,
		         login);
		answer(a, q->req, AUTH_LOCKED, "");
		return;
	}
	if (a->sql == NULL) {
		const char *hash = NULL;
		credentials_lookup(a->cred, q->login, &hash);
		verdict(a, q, hash);
		return;
	}
	if (auth_sql_ask(a->sql, a->queue, table_name(a->conf->auth_users), q) == -1) {
		log_warn("event=auth-unavailable reason=\"too many questions waiting\"");
		answer(a, q->req, AUTH_TEMP, "");
	}
}

/* CRED_RES: the hash of a waiting question's login, or why not. */
static int cred_result(struct auth_role *a, const struct ipc_msg *m)
{
	struct lookup_res r;
	struct proto_auth_req q;
	if (a->sql == NULL || lookup_decode_res(m->data, m->len, &r) == -1)
		return -1;
	if (auth_sql_take(a->sql, r.req, &q) == -1) {
		explicit_bzero(r.value, strlen(r.value));
		lookup_res_free(&r);
		return -1;
	}
	if (r.status == LOOKUP_TEMP) {
		/* The database is down: not the client's fault, so no failure
		 * counted, and 454 rather than 535. */
		char login[600];
		log_escape(login, sizeof(login), q.login, strlen(q.login));
		log_warn("event=auth-unavailable login=\"%s\" table=%s "
		         "reason=\"the table's database did not answer\"",
		         login, table_name(a->conf->auth_users));
		answer(a, q.req, AUTH_TEMP, "");
	} else {
		verdict(a, &q, r.status == LOOKUP_FOUND ? r.value : NULL);
	}
	explicit_bzero(r.value, strlen(r.value));
	lookup_res_free(&r);
	proto_auth_req_free(&q);
	return 0;
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct auth_role *a = arg;
	struct proto_auth_req q;
	int bad = m->fd != -1 || m->fd_lost;
	if (m->fd != -1)
		close(m->fd);
	if (!bad && m->type == PROTO_AUTH_REQ && proto_decode_auth_req(m->data, m->len, &q) == 0) {
		check(a, &q);
		proto_auth_req_free(&q); /* zeroed if it waits for its hash */
	} else if (bad || m->type != PROTO_CRED_RES || cred_result(a, m) == -1) {
		/* The queue is broken: go, as if it had died (we are restarted). */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		ipc_shutdown(ch);
	}
	/* The received bytes held a password or a hash. */
	explicit_bzero((void *)m->data, m->len);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-channel-closed");
	exit(0);
}

struct credentials *auth_role_prepare(const struct config *conf)
{
	return credentials_new(conf->auth_users);
}

void auth_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    struct credentials *cred)
{
	struct auth_role a = {.conf = conf, .cred = cred};
	a.lock = lockout_new(conf->limits.auth_failures, conf->limits.auth_lockout);
	if (conf->auth_users != NULL && table_kind(conf->auth_users) != TABLE_MEMORY)
		a.sql = auth_sql_new();
	struct ipc_handlers h = {queue_msg, queue_closed, &a};
	a.queue = ipc_new(base, queue_sock, &h);
	if (a.sql != NULL)
		log_info("event=auth-ready table=%s kind=sql", table_name(conf->auth_users));
	else
		log_info("event=auth-ready users=%zu unusable=%zu",
		         conf->auth_users ? table_size(conf->auth_users) : 0,
		         credentials_unusable(a.cred));
	event_base_dispatch(base);
	exit(0);
}
