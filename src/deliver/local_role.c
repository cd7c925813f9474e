/* local_role: Maildir deliveries as the mailbox owner (see local_role.h). */
#include "local_role.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "maildir.h"
#include "metrics.h"
#include "proto.h"
#include "route.h"
#include "xmalloc.h"

/* One delivery request waiting for the batch it is part of. */
struct pending {
	struct proto_deliver d;
	int fd; /* the message, read-only */
	struct maildir_prep *prep;
	char **dir;
	uint8_t *status;
	char **text;
	int *prepared; /* prep holds a tmp file (or a found copy) to publish */
};

/* A growable list of pending deliveries. */
struct plist {
	struct pending **v;
	size_t n, cap;
};

/* A mailbox owner's ids, looked up at most once a minute (getpwnam reads
 * /etc/passwd and tries nscd: a dozen system calls a delivery otherwise). */
struct owner_ids {
	char name[65]; /* a user name (conf_valid_username: 32 at most) */
	uid_t uid;
	gid_t gid;
	char *home; /* owned */
	time_t looked_up;
};

#define OWNER_CACHE   8
#define OWNER_TTL_SEC 60

struct local_role {
	const struct config *conf;
	struct owner_ids owners[OWNER_CACHE];
	size_t n_owners, next_evict;
	struct ipc *queue;
	struct metrics_push *metrics;
	int root;       /* started as root: deliveries switch fsuid */
	uid_t self_uid; /* the role's own ids, between deliveries */
	gid_t self_gid;
	struct plist incoming;  /* arrived, not written yet */
	struct plist published; /* in new/, waiting for the sync that makes them durable */
	struct event *batch_ev;
	struct event *flush_ev;
};

/* How long a published delivery may wait for the next batch's sync to
 * carry it before it gets a sync of its own: longer than the queue's
 * delivery bursts under load (25 ms), so that each burst costs one sync. */
#define LOCAL_FLUSH_USEC 30000

/* 1 if this process may switch its file-system identity (CAP_SETUID). */
static int cap_setid_held(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;
	if (caps != NULL)
		cap_get_flag(caps, CAP_SETUID, CAP_EFFECTIVE, &v);
	cap_free(caps);
	return v == CAP_SET;
}

static void plist_push(struct plist *l, struct pending *pd)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = pd;
}

/* The ids of owner, from the cache or getpwnam; NULL if there is no such user
 * (not cached: the administrator may be adding it). */
static const struct owner_ids *owner_lookup(struct local_role *lr, const char *owner)
{
	time_t now = time(NULL);
	struct owner_ids *o = NULL;
	for (size_t i = 0; i < lr->n_owners; i++)
		if (strcmp(lr->owners[i].name, owner) == 0)
			o = &lr->owners[i];
	if (o && now - o->looked_up < OWNER_TTL_SEC && now >= o->looked_up)
		return o;
	struct passwd *pw = strlen(owner) < sizeof(o->name) ? getpwnam(owner) : NULL;
	if (pw == NULL)
		return NULL;
	if (o == NULL) {
		size_t k =
		    lr->n_owners < OWNER_CACHE ? lr->n_owners++ : lr->next_evict++ % OWNER_CACHE;
		o = &lr->owners[k];
	}
	snprintf(o->name, sizeof(o->name), "%s", owner);
	o->uid = pw->pw_uid;
	o->gid = pw->pw_gid;
	free(o->home);
	o->home = xstrdup(pw->pw_dir ? pw->pw_dir : "");
	o->looked_up = now;
	return o;
}

/* Who a mailbox's deliveries run as: the system user it names (owner
 * "%{user}"), the action's owner, or the configured user. */
static const char *owner_of(const struct local_role *lr, const struct action *a, const char *user)
{
	return a->owner_is_user ? user : a->owner ? a->owner : lr->conf->user;
}

/* Back to the role's own file-system identity. */
static void become_self_again(const struct local_role *lr)
{
	if (!lr->root)
		return;
	setfsuid(lr->self_uid);
	setfsgid(lr->self_gid);
}

/* Take on the owner's identity for file-system access only. 0 or -1. */
static int become_owner(struct local_role *lr, const char *owner, char *err, size_t errlen)
{
	if (!lr->root)
		return 0; /* not started as root: deliver as ourselves */
	const struct owner_ids *o = owner_lookup(lr, owner);
	if (o == NULL) {
		snprintf(err, errlen, "4.3.5 mailbox owner %s does not exist", owner);
		return -1;
	}
	if (o->uid == 0) {
		/* Never as root, whatever asked for it: alias root to a person. */
		snprintf(err, errlen, "4.3.5 will not deliver as root (owner %s)", owner);
		return -1;
	}
	/* setfsuid/setfsgid report the previous id, never an error: read the
	 * id back to know the switch happened. */
	setfsgid(o->gid);
	setfsuid(o->uid);
	if ((gid_t)setfsgid((gid_t)-1) != o->gid || (uid_t)setfsuid((uid_t)-1) != o->uid) {
		snprintf(err, errlen, "4.3.0 cannot switch to mailbox owner %s", owner);
		become_self_again(lr);
		return -1;
	}
	return 0;
}

#define TEXT_MAX 512

static void set_text(struct pending *pd, size_t k, const char *text)
{
	free(pd->text[k]);
	pd->text[k] = xstrdup(text);
}

/* A request this role will not carry out: logged loudly, nothing written. */
static void refused(struct local_role *lr, const struct proto_deliver *d, size_t k, const char *why)
{
	metrics_count(lr->metrics, MET_LOCAL_REFUSED);
	char to[300], user[200], esc[600];
	log_escape(to, sizeof(to), d->addr[k], strlen(d->addr[k]));
	log_escape(user, sizeof(user), d->user[k], strlen(d->user[k]));
	log_escape(esc, sizeof(esc), why, strlen(why));
	log_warn("event=delivery-refused id=%s rcpt=%u to=\"%s\" user=\"%s\" reason=\"%s\"", d->id,
	         d->idx[k], to, user, esc);
}

/* Step 1 for one mailbox: write tmp/<name> (not yet synced). */
static void prepare_one(struct local_role *lr, struct pending *pd, size_t k)
{
	const struct proto_deliver *d = &pd->d;
	char text[TEXT_MAX] = "";
	const struct action *a = conf_action(lr->conf, d->action);
	pd->status[k] = DELIVER_TEMP;
	if (a == NULL || a->kind != ACTION_MAILDIR) {
		snprintf(text, sizeof(text), "4.3.5 action %s is not a local mailbox action",
		         d->action);
		set_text(pd, k, text); /* temporary: a reload may bring it back */
		return;
	}
	if (!route_safe_mailbox(d->user[k])) {
		pd->status[k] = DELIVER_PERM;
		set_text(pd, k, "5.1.3 unsafe mailbox name");
		refused(lr, d, k, "unsafe mailbox name");
		return;
	}
	/* Who writes where comes from the configuration, never from the
	 * request: the mailbox must be what this recipient routes to. */
	char why[256];
	if (route_verify_rcpt(lr->conf, d->action, d->addr[k], d->user[k], why, sizeof(why)) ==
	    -1) {
		snprintf(text, sizeof(text), "4.3.5 delivery refused: %s", why);
		set_text(pd, k, text);
		refused(lr, d, k, why);
		return;
	}
	const char *home = NULL;
	if (a->owner_is_user) {
		/* The mailbox is a system account's: never root's (alias root to
		 * a person), and the account must exist (the users table said so). */
		const struct owner_ids *o = owner_lookup(lr, d->user[k]);
		if (o == NULL || o->uid == 0) {
			snprintf(text, sizeof(text),
			         o ? "4.3.5 will not deliver as root: alias %s to another user"
			           : "4.3.5 no system user %s for this mailbox",
			         d->user[k]);
			set_text(pd, k, text);
			if (o)
				refused(lr, d, k, "mailbox owner is root");
			return;
		}
		home = o->home;
	}
	pd->dir[k] = conf_maildir_path(lr->conf, a, d->user[k], home);
	if (pd->dir[k] == NULL) {
		snprintf(text, sizeof(text), "4.3.5 no mailbox path for %s (home directory %s)",
		         d->user[k], home && home[0] ? home : "unset");
		set_text(pd, k, text);
		return;
	}
	char name[512];
	maildir_name(name, sizeof(name), d->arrival, d->id, d->idx[k], lr->conf->hostname);
	char head[2 * ENVELOPE_MAX_STR + 64];
	if (maildir_delivery_head(head, sizeof(head), d->sender, d->user[k], d->addr[k],
	                          lr->conf->hostname) == -1) {
		set_text(pd, k, "4.3.0 envelope addresses unfit for Return-Path/Delivered-To");
		return;
	}
	if (become_owner(lr, owner_of(lr, a, d->user[k]), text, sizeof(text)) == -1) {
		refused(lr, d, k, text);
	} else {
		enum maildir_result r = maildir_prepare(pd->dir[k], name, head, pd->fd, 0,
		                                        &pd->prep[k], text, sizeof(text));
		if (r == MAILDIR_OK)
			pd->prepared[k] = 1;
		else
			pd->status[k] = r == MAILDIR_PERM ? DELIVER_PERM : DELIVER_TEMP;
	}
	become_self_again(lr);
	set_text(pd, k, text);
}

/* Step 2 for one mailbox: link into new/ (not yet synced). */
static void publish_one(struct local_role *lr, struct pending *pd, size_t k)
{
	char text[TEXT_MAX] = "";
	const struct action *a = conf_action(lr->conf, pd->d.action);
	if (become_owner(lr, owner_of(lr, a, pd->d.user[k]), text, sizeof(text)) == 0) {
		if (maildir_publish(&pd->prep[k], 0, text, sizeof(text)) != MAILDIR_OK) {
			pd->prepared[k] = 0;
			set_text(pd, k, text);
		}
	} else {
		maildir_abandon(&pd->prep[k]);
		pd->prepared[k] = 0;
		set_text(pd, k, text);
	}
	become_self_again(lr);
}

/*
 * Make every prepared delivery of the batch durable with one syncfs(2) per
 * file system; on failure those deliveries fail temporarily (a retry
 * redoes them, and finds any copy that did reach new/).
 */
static void sync_failed(struct plist *l, dev_t dev, const char *text)
{
	for (size_t b = 0; b < l->n; b++) {
		struct pending *pd = l->v[b];
		for (size_t k = 0; k < pd->d.n; k++) {
			struct stat st;
			if (pd->prepared[k] && fstat(pd->prep[k].dfd, &st) == 0 &&
			    st.st_dev == dev) {
				maildir_abandon(&pd->prep[k]);
				pd->prepared[k] = 0;
				set_text(pd, k, text);
			}
		}
	}
}

/*
 * One syncfs(2) per file system touched by the deliveries in a and b makes
 * all of them durable; on failure those on that file system fail
 * temporarily (a retry redoes them, and finds any copy already in new/).
 * Returns the syncs that succeeded.
 */
static size_t sync_lists(struct plist *a, struct plist *b)
{
	dev_t done[16];
	size_t n_done = 0, synced = 0;
	struct plist *lists[] = {a, b};
	for (size_t li = 0; li < 2; li++) {
		struct plist *l = lists[li];
		for (size_t i = 0; l && i < l->n; i++) {
			struct pending *pd = l->v[i];
			for (size_t k = 0; k < pd->d.n; k++) {
				struct stat st;
				if (!pd->prepared[k] || fstat(pd->prep[k].dfd, &st) == -1)
					continue;
				int seen = 0;
				for (size_t j = 0; j < n_done; j++)
					seen |= done[j] == st.st_dev;
				if (seen)
					continue;
				if (n_done < sizeof(done) / sizeof(done[0]))
					done[n_done++] = st.st_dev;
				if (syncfs(pd->prep[k].dfd) == 0) {
					synced++;
					continue;
				}
				char text[TEXT_MAX];
				snprintf(text, sizeof(text), "4.3.0 maildir: syncfs %s: %s",
				         pd->dir[k], strerror(errno));
				log_warn("event=maildir-sync-failed dir=%s error=\"%s\"",
				         pd->dir[k], strerror(errno));
				sync_failed(a, st.st_dev, text);
				if (b)
					sync_failed(b, st.st_dev, text);
			}
		}
	}
	return synced;
}

static void pending_free(struct pending *pd)
{
	for (size_t k = 0; k < pd->d.n; k++) {
		maildir_prep_close(&pd->prep[k]);
		free(pd->dir[k]);
		free(pd->text[k]);
	}
	free(pd->prep);
	free(pd->dir);
	free(pd->status);
	free(pd->text);
	free(pd->prepared);
	close(pd->fd);
	proto_deliver_free(&pd->d);
	free(pd);
}

static void reply(struct local_role *lr, struct pending *pd)
{
	struct proto_result res = {.job = pd->d.job,
	                           .n = pd->d.n,
	                           .idx = pd->d.idx,
	                           .status = pd->status,
	                           .text = pd->text};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_result(&b, &res);
	ipc_send(lr->queue, PROTO_DELIVER_RES, b.data, b.len, -1);
	buf_free(&b);
}

/* Answer every delivery of a durable list, and forget them. */
static void report(struct local_role *lr, struct plist *l)
{
	for (size_t b = 0; b < l->n; b++) {
		struct pending *pd = l->v[b];
		for (size_t k = 0; k < pd->d.n; k++) {
			if (!pd->prepared[k])
				continue;
			char text[TEXT_MAX];
			snprintf(text, sizeof(text), "2.0.0 delivered to maildir %s", pd->dir[k]);
			pd->status[k] = DELIVER_OK;
			set_text(pd, k, text);
		}
		reply(lr, pd);
		pending_free(pd);
	}
	l->n = 0;
}

/*
 * Group commit for deliveries, pipelined: the requests that arrived in one
 * pass of the loop are written to tmp/; one sync makes them durable
 * together with the renames of the previous batch, which are then reported
 * delivered; this batch is renamed into new/ and waits for the next
 * batch's sync — or, if none comes within LOCAL_FLUSH_USEC, a sync of its
 * own. Under load that is one sync per batch, not two.
 */
static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct local_role *lr = arg;
	(void)fd;
	(void)what;
	struct plist *in = &lr->incoming;
	for (size_t b = 0; b < in->n; b++)
		for (size_t k = 0; k < in->v[b]->d.n; k++)
			prepare_one(lr, in->v[b], k);
	metrics_add(lr->metrics, MET_LOCAL_SYNCS, sync_lists(in, &lr->published));
	report(lr, &lr->published);
	for (size_t b = 0; b < in->n; b++) {
		struct pending *pd = in->v[b];
		for (size_t k = 0; k < pd->d.n; k++)
			if (pd->prepared[k])
				publish_one(lr, pd, k);
		plist_push(&lr->published, pd);
	}
	in->n = 0;
	struct timeval tv = {0, LOCAL_FLUSH_USEC};
	evtimer_add(lr->flush_ev, &tv);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct local_role *lr = arg;
	(void)fd;
	(void)what;
	if (lr->published.n == 0)
		return;
	metrics_add(lr->metrics, MET_LOCAL_SYNCS, sync_lists(&lr->published, NULL));
	report(lr, &lr->published);
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct local_role *lr = arg;
	(void)ch;
	struct pending *pd = xcalloc(1, sizeof(*pd));
	if (m->type != PROTO_DELIVER_REQ || (m->fd == -1 && !m->fd_lost) ||
	    proto_decode_deliver(m->data, m->len, &pd->d) == -1 || !envelope_id_valid(pd->d.id)) {
		/* The queue is our only peer: a broken one ends this role, and
		 * the parent starts it again with a fresh channel. */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		if (m->fd != -1)
			close(m->fd);
		proto_deliver_free(&pd->d);
		free(pd);
		ipc_shutdown(lr->queue);
		return;
	}
	pd->fd = m->fd;
	pd->prep = xcalloc(pd->d.n, sizeof(*pd->prep));
	for (size_t k = 0; k < pd->d.n; k++)
		pd->prep[k].dfd = -1;
	pd->dir = xcalloc(pd->d.n, sizeof(*pd->dir));
	pd->status = xcalloc(pd->d.n, 1);
	for (size_t k = 0; k < pd->d.n; k++)
		pd->status[k] = DELIVER_TEMP; /* until a delivery proves otherwise */
	pd->text = xcalloc(pd->d.n, sizeof(*pd->text));
	pd->prepared = xcalloc(pd->d.n, sizeof(*pd->prepared));
	if (pd->fd == -1) {
		/* Out of descriptors, the message never arrived: try again later. */
		for (size_t k = 0; k < pd->d.n; k++)
			set_text(pd, k, "4.3.0 no descriptor left to receive the message");
		reply(lr, pd);
		pending_free(pd);
		return;
	}
	plist_push(&lr->incoming, pd);
	event_active(lr->batch_ev, EV_TIMEOUT, 0);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-gone");
	exit(0); /* the queue is this role's only peer; the parent restarts us */
}

void local_role_main(const struct config *conf, struct event_base *base, int queue_sock)
{
	struct local_role lr = {0};
	lr.conf = conf;
	/* Started as root, the role keeps only CAP_SETUID/CAP_SETGID (and no
	 * supplementary group) to take on a mailbox owner's file-system
	 * identity per delivery (src/parent/confine.c). */
	lr.root = cap_setid_held();
	lr.self_uid = geteuid();
	lr.self_gid = getegid();
	lr.batch_ev = event_new(base, -1, 0, batch_cb, &lr);
	lr.flush_ev = evtimer_new(base, flush_cb, &lr);
	struct ipc_handlers h = {queue_msg, queue_closed, &lr};
	lr.queue = ipc_new(base, queue_sock, &h);
	lr.metrics = metrics_push_new(base, lr.queue);
	log_info("event=local-ready");
	event_base_dispatch(base);
	exit(0);
}
