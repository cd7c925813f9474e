/*
 * relay_lmtp: what the relay role does differently for an lmtp action
 * (RFC 2033). The recipients' RCPT addresses follow the action's rcpt-to:
 * the mailbox the queue routed them to @ their domain (as Delivered-To: in
 * a Maildir), the mailbox alone, or the address as received — derived here
 * from the configuration and the envelope the queue authored, nothing else.
 *
 * A unix-domain target is connected by the parent, not here: this role is
 * chrooted into an empty directory (where no socket path outside exists)
 * and its system-call filter lets it make IPv4/IPv6 sockets only. It names
 * the action on its service channel; the parent reads the path from its own
 * configuration, connects as this role's account, and passes the connected
 * descriptor back (src/parent/connector.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "relay_int.h"
#include "route.h"
#include "util.h"
#include "xmalloc.h"

struct relay_connect {
	uint64_t req;
	struct relay_sess *s; /* NULL once cancelled: the answer's fd is closed */
	struct relay_connect *next;
};

int relay_lmtp_job(struct relay_job *j, const struct action *a, char *why, size_t len)
{
	const char *hostname = j->r->conf->hostname;
	j->rcpt_to = xcalloc(j->d.n, sizeof(*j->rcpt_to));
	for (size_t k = 0; k < j->d.n; k++) {
		const char *user = j->d.user[k], *addr = j->d.addr[k];
		const char *at = strrchr(addr, '@');
		if (!route_safe_mailbox(user)) {
			/* The queue checked it against the routes: not ours to guess. */
			snprintf(why, len, "4.3.5 no mailbox name for an lmtp recipient");
			return -1;
		}
		switch (a->lmtp_rcpt_to) {
		case LMTP_RCPT_ORIGINAL:
			j->rcpt_to[k] = xstrdup(addr);
			break;
		case LMTP_RCPT_USER:
			j->rcpt_to[k] = xstrdup(user);
			break;
		case LMTP_RCPT_USER_DOMAIN:
		default:
			/* <postmaster> has no domain: this host's. */
			j->rcpt_to[k] =
			    ascii_lower_str(xasprintf("%s@%s", user, at ? at + 1 : hostname));
			break;
		}
	}
	return 0;
}

static void answer(struct relay *r, uint64_t req, int fd, int err)
{
	for (struct relay_connect **pp = &r->connects; *pp; pp = &(*pp)->next) {
		struct relay_connect *c = *pp;
		if (c->req != req)
			continue;
		*pp = c->next;
		struct relay_sess *s = c->s;
		free(c);
		if (s != NULL) {
			relay_session_connected(s, fd, err);
			return;
		}
		break;
	}
	if (fd != -1)
		close(fd); /* nobody waits for it any more */
}

static void parent_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct relay *r = arg;
	struct proto_reply rep;
	if (m->type != PROTO_CONNECT_RES || proto_decode_fail(m->data, m->len, &rep) == -1 ||
	    (rep.error == 0) != (m->fd != -1 || m->fd_lost)) {
		log_warn("event=bad-frame from=parent type=%u len=%zu", m->type, m->len);
		if (m->fd != -1)
			close(m->fd);
		ipc_shutdown(ch);
		return;
	}
	int err = rep.error != 0 ? (int)rep.error : m->fd_lost ? EMFILE : 0;
	answer(r, rep.req, err ? -1 : m->fd, err);
	proto_reply_free(&rep);
}

static void parent_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=parent-gone");
	exit(0); /* restarted with a fresh channel */
}

void relay_lmtp_channel(struct relay *r, int fd)
{
	if (fd == -1)
		return;
	struct ipc_handlers h = {parent_msg, parent_closed, r};
	r->parent = ipc_new(r->base, fd, &h);
}

void relay_lmtp_connect(struct relay_sess *s, const struct relay_dest *d)
{
	struct relay *r = d->r;
	if (r->parent == NULL) {
		relay_session_connected(s, -1, ENOTCONN);
		return;
	}
	uint64_t req = ++r->connect_req;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_connect(&b, req, d->action->name);
	int rc = ipc_send(r->parent, PROTO_CONNECT_REQ, b.data, b.len, -1);
	int e = errno;
	buf_free(&b);
	if (rc == -1) {
		relay_session_connected(s, -1, e);
		return;
	}
	struct relay_connect *c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->s = s;
	c->next = r->connects;
	r->connects = c;
}

void relay_lmtp_cancel(struct relay *r, const struct relay_sess *s)
{
	for (struct relay_connect *c = r->connects; c; c = c->next)
		if (c->s == s)
			c->s = NULL;
}
