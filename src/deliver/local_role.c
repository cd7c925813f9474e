/* local_role: Maildir deliveries as the mailbox owner (see local_role.h). */
#include "local_role.h"

#include <errno.h>
#include <event2/event.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "maildir.h"
#include "proto.h"
#include "route.h"
#include "xmalloc.h"

struct local_role {
	const struct config *conf;
	struct ipc *queue;
};

/* Take on the owner's identity for file-system access only. 0 or -1. */
static int become_owner(const char *owner, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0; /* not started as root: deliver as ourselves */
	struct passwd *pw = getpwnam(owner);
	if (pw == NULL) {
		snprintf(err, errlen, "mailbox owner %s does not exist", owner);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	setfsgid(pw->pw_gid);
	setfsuid(pw->pw_uid);
	if ((uid_t)setfsuid((uid_t)-1) != pw->pw_uid) {
		snprintf(err, errlen, "cannot switch to mailbox owner %s", owner);
		return -1;
	}
	return 0;
}

static void become_root_again(void)
{
	if (geteuid() != 0)
		return;
	setfsuid(0);
	setfsgid(0);
}

static enum deliver_status deliver_one(const struct local_role *lr, const struct proto_deliver *d,
                                       size_t k, int fd, char *text, size_t textlen)
{
	const struct action *a = conf_action(lr->conf, d->action);
	if (a == NULL || a->kind != ACTION_MAILDIR) {
		snprintf(text, textlen, "action %s is not a local mailbox action", d->action);
		return DELIVER_TEMP; /* a reload may bring it back */
	}
	const char *user = d->user[k];
	if (!route_safe_mailbox(user)) {
		snprintf(text, textlen, "unsafe mailbox name");
		return DELIVER_PERM;
	}
	char *dir = conf_maildir_path(lr->conf, a, user);
	char name[512];
	maildir_name(name, sizeof(name), d->arrival, d->id, d->idx[k], lr->conf->hostname);
	uid_t uid = 0;
	gid_t gid = 0;
	enum deliver_status st;
	if (become_owner(a->owner ? a->owner : lr->conf->user, &uid, &gid, text, textlen) == -1) {
		st = DELIVER_TEMP;
	} else {
		enum maildir_result r = maildir_deliver(dir, name, fd, text, textlen);
		st = r == MAILDIR_OK ? DELIVER_OK : r == MAILDIR_PERM ? DELIVER_PERM : DELIVER_TEMP;
		if (r == MAILDIR_OK)
			snprintf(text, textlen, "delivered to maildir %s", dir);
	}
	become_root_again();
	free(dir);
	return st;
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct local_role *lr = arg;
	struct proto_deliver d;
	if (m->type != PROTO_DELIVER_REQ || m->fd == -1 ||
	    proto_decode_deliver(m->data, m->len, &d) == -1)
		fatal("queue sent a malformed delivery request");
	struct proto_result res = {d.job, d.n, d.idx, xcalloc(d.n, 1),
	                           xcalloc(d.n, sizeof(char *))};
	for (size_t k = 0; k < d.n; k++) {
		char text[512] = "";
		res.status[k] = (uint8_t)deliver_one(lr, &d, k, m->fd, text, sizeof(text));
		res.text[k] = xstrdup(text);
	}
	close(m->fd);
	struct buf b;
	buf_init(&b, 0);
	proto_encode_result(&b, &res);
	ipc_send(ch, PROTO_DELIVER_RES, b.data, b.len, -1);
	buf_free(&b);
	for (size_t k = 0; k < d.n; k++)
		free(res.text[k]);
	free(res.text);
	free(res.status);
	proto_deliver_free(&d);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-gone");
	exit(0);
}

void local_role_main(const struct config *conf, struct event_base *base, int queue_sock)
{
	struct local_role lr = {conf, NULL};
	struct ipc_handlers h = {queue_msg, queue_closed, &lr};
	lr.queue = ipc_new(base, queue_sock, &h);
	log_info("event=local-ready");
	event_base_dispatch(base);
	exit(0);
}
