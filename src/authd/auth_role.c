/*
 * auth_role: the raven-auth process (see auth_role.h). One question at a
 * time: a check costs one crypt(3), milliseconds of CPU by design, and the
 * delay before a refusal is the smtp role's (it holds the client, not us).
 */
#include "auth_role.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "credentials.h"
#include "ipc.h"
#include "lockout.h"
#include "log.h"
#include "proto.h"

struct auth_role {
	const struct config *conf;
	struct credentials *cred;
	struct lockout *lock;
	struct ipc *queue;
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

static void check(struct auth_role *a, const struct proto_auth_req *q)
{
	char login[600], client[200], canon[PROTO_AUTH_FIELD_MAX + 1];
	log_escape(login, sizeof(login), q->login, strlen(q->login));
	log_escape(client, sizeof(client), q->client, strlen(q->client));
	int64_t now = (int64_t)time(NULL);
	if (lockout_locked(a->lock, q->client, now)) {
		log_info("event=auth-refused client=%s login=\"%s\" reason=\"locked out\"", client,
		         login);
		answer(a, q->req, AUTH_LOCKED, "");
		return;
	}
	if (credentials_check(a->cred, q->login, q->password, canon, sizeof(canon))) {
		log_info("event=auth-ok client=%s login=\"%s\"", client, login);
		answer(a, q->req, AUTH_OK, canon);
		return;
	}
	log_info("event=auth-failed client=%s login=\"%s\"", client, login);
	if (lockout_fail(a->lock, q->client, now))
		log_warn("event=auth-lockout client=%s failures=%zu seconds=%u", client,
		         a->conf->limits.auth_failures, a->conf->limits.auth_lockout);
	answer(a, q->req, AUTH_FAIL, "");
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct auth_role *a = arg;
	struct proto_auth_req q;
	if (m->fd != -1)
		close(m->fd);
	if (m->type != PROTO_AUTH_REQ || m->fd != -1 || m->fd_lost ||
	    proto_decode_auth_req(m->data, m->len, &q) == -1) {
		/* The queue is broken: go, as if it had died (we are restarted). */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		ipc_shutdown(ch);
		return;
	}
	check(a, &q);
	proto_auth_req_free(&q);
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
	struct ipc_handlers h = {queue_msg, queue_closed, &a};
	a.queue = ipc_new(base, queue_sock, &h);
	log_info("event=auth-ready users=%zu unusable=%zu",
	         conf->auth_users ? table_size(conf->auth_users) : 0, credentials_unusable(a.cred));
	event_base_dispatch(base);
	exit(0);
}
