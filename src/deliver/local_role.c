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
#include "syncpool.h"
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
	int damaged;   /* the data failed its check: nothing of it is delivered */
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
	struct syncpool *syncer; /* the batches' fdatasyncs and fsyncs, at once */
};

/* Syncs of one batch in flight at once, at most (as the spool's). */
#define LOCAL_SYNC_THREADS 16

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
	const struct owner_ids *o = owner_lookup(lr, owner);
	if (!lr->root && (o == NULL || o->uid != 0))
		return 0; /* not started as root: deliver as ourselves */
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

/* The message's data failed its check: this delivery, and the job's
 * others, report it so, and the queue sets the message aside. */
static void corrupt(struct pending *pd, size_t k, const char *why)
{
	char esc[600];
	log_escape(esc, sizeof(esc), why, strlen(why));
	log_warn("event=data-corrupt id=%s rcpt=%u reason=\"%s\" action=\"not delivered\"",
	         pd->d.id, pd->d.idx[k], esc);
	pd->status[k] = DELIVER_CORRUPT;
	pd->damaged = 1;
}

/* head followed by prepend's CRLF lines made LF (Maildir copies are LF). */
static char *with_prepend(const char *head, const char *prepend)
{
	size_t hl = strlen(head), pl = prepend ? strlen(prepend) : 0, o = hl;
	char *out = xmalloc(hl + pl + 1);
	memcpy(out, head, hl);
	for (size_t i = 0; i < pl; i++)
		if (!(prepend[i] == '\r' && prepend[i + 1] == '\n'))
			out[o++] = prepend[i];
	out[o] = '\0';
	return out;
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
	/* The header fields the queue passes for the top of the message (our
	 * Authentication-Results), after the delivery's own, LF-ended — if
	 * they are header fields at all. */
	if (d->prepend[0] != '\0' && !envelope_trace_valid(d->prepend, strlen(d->prepend))) {
		set_text(pd, k, "4.3.0 header fields to prepend are not valid");
		refused(lr, d, k, "header fields to prepend are not valid");
		return;
	}
	char *top = with_prepend(head, d->prepend);
	if (become_owner(lr, owner_of(lr, a, d->user[k]), text, sizeof(text)) == -1) {
		refused(lr, d, k, text);
	} else {
		/* The data is checked against its envelope as it is read: a
		 * message damaged on disk is never delivered, whole or half. */
		struct maildir_check chk = {d->size, d->crc};
		enum maildir_result r =
		    maildir_prepare_checked(pd->dir[k], name, top, pd->fd, d->has_crc ? &chk : NULL,
		                            0, &pd->prep[k], text, sizeof(text));
		if (r == MAILDIR_OK)
			pd->prepared[k] = 1;
		else if (r == MAILDIR_CORRUPT)
			corrupt(pd, k, text);
		else
			pd->status[k] = r == MAILDIR_PERM ? DELIVER_PERM : DELIVER_TEMP;
	}
	free(top);
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
 * The syncs of one batch: each new/ directory that deliveries were
 * published in (fsync, once however many it holds), then each fresh
 * delivery's tmp file (fdatasync). The errors are set by the sync threads;
 * nothing else is touched there.
 */
struct new_dir {
	int fd; /* one of the deliveries' newfd, not owned */
	dev_t dev;
	ino_t ino;
	int err;
};

struct sync_set {
	int syncfs; /* option "queue sync syncfs": dirs are file systems */
	struct new_dir *dirs;
	size_t n_dirs, cap_dirs;
	struct maildir_prep **files;
	int *file_err;
	size_t *file_fs; /* with syncfs: the file's file system, an index in dirs */
	size_t n_files, cap_files;
};

static void sync_run_task(void *arg, size_t i)
{
	struct sync_set *ss = arg;
	if (i < ss->n_dirs) {
		int rc = ss->syncfs ? syncfs(ss->dirs[i].fd) : fsync(ss->dirs[i].fd);
		ss->dirs[i].err = rc == -1 ? errno : 0;
		return;
	}
	i -= ss->n_dirs;
	ss->file_err[i] = maildir_sync_file(ss->files[i], ss->syncfs);
}

/* The new/ directory p was published in (with syncfs: p's file system,
 * through new/ or its tmp file), added to the set if new; NULL if p has
 * no open new/ (it cannot be made durable). */
static struct new_dir *new_dir_of(struct sync_set *ss, const struct maildir_prep *p, int add)
{
	struct stat st;
	/* syncfs through the maildir itself, open as long as p is */
	int fd = ss->syncfs ? p->dfd : p->newfd;
	if (fd == -1 || fstat(fd, &st) == -1)
		return NULL;
	if (ss->syncfs)
		st.st_ino = 0; /* one syncfs per file system */
	for (size_t i = 0; i < ss->n_dirs; i++)
		if (ss->dirs[i].dev == st.st_dev && ss->dirs[i].ino == st.st_ino)
			return &ss->dirs[i];
	if (!add)
		return NULL;
	if (ss->n_dirs == ss->cap_dirs) {
		ss->cap_dirs = ss->cap_dirs ? ss->cap_dirs * 2 : 8;
		ss->dirs = xreallocarray(ss->dirs, ss->cap_dirs, sizeof(*ss->dirs));
	}
	ss->dirs[ss->n_dirs] = (struct new_dir){fd, st.st_dev, st.st_ino, 0};
	return &ss->dirs[ss->n_dirs++];
}

static void file_add(struct sync_set *ss, struct maildir_prep *p)
{
	if (ss->n_files == ss->cap_files) {
		ss->cap_files = ss->cap_files ? ss->cap_files * 2 : 64;
		ss->files = xreallocarray(ss->files, ss->cap_files, sizeof(*ss->files));
		ss->file_err = xreallocarray(ss->file_err, ss->cap_files, sizeof(*ss->file_err));
		ss->file_fs = xreallocarray(ss->file_fs, ss->cap_files, sizeof(*ss->file_fs));
	}
	ss->file_err[ss->n_files] = 0;
	ss->file_fs[ss->n_files] = 0;
	if (ss->syncfs) {
		const struct new_dir *d = new_dir_of(ss, p, 1);
		if (d == NULL) {
			ss->file_err[ss->n_files] = EBADF; /* cannot happen: dfd is open */
			d = ss->dirs;
		}
		ss->file_fs[ss->n_files] = d ? (size_t)(d - ss->dirs) : 0;
	}
	ss->files[ss->n_files++] = p;
}

/* With syncfs: the file system of the set's file f. */
static const struct new_dir *fs_of_file(const struct sync_set *ss, size_t f)
{
	return ss->n_dirs > ss->file_fs[f] ? &ss->dirs[ss->file_fs[f]] : NULL;
}

/* A delivery whose copy may not be durable: it fails temporarily, and a
 * retry redoes it (finding any copy that did reach new/). */
static void delivery_unsynced(struct pending *pd, size_t k, int e, const char *sub)
{
	char text[TEXT_MAX];
	maildir_sync_error(text, sizeof(text), e, &pd->prep[k], sub);
	log_warn("event=maildir-sync-failed id=%s dir=%s error=\"%s\"", pd->d.id, pd->dir[k],
	         strerror(e));
	maildir_abandon(&pd->prep[k]);
	pd->prepared[k] = 0;
	set_text(pd, k, text);
}

/*
 * Make the tmp files of the deliveries in fresh and the new/ entries of
 * those in published durable: one fdatasync per file and one fsync per
 * new/ directory, all in flight at once on the sync threads — each batch
 * waits only for its own files, never for the rest of the file system.
 * (With "queue sync syncfs": one syncfs(2) per file system instead, the
 * tmp files only closed.) Returns the syncs made.
 */
static size_t sync_lists(struct local_role *lr, struct plist *fresh, struct plist *published)
{
	struct sync_set ss = {0};
	ss.syncfs = lr->conf->queue_syncfs;
	for (size_t b = 0; b < published->n; b++) {
		struct pending *pd = published->v[b];
		for (size_t k = 0; k < pd->d.n; k++)
			if (pd->prepared[k])
				new_dir_of(&ss, &pd->prep[k], 1);
	}
	for (size_t b = 0; fresh && b < fresh->n; b++) {
		struct pending *pd = fresh->v[b];
		for (size_t k = 0; k < pd->d.n; k++)
			if (pd->prepared[k] && pd->prep[k].fd != -1)
				file_add(&ss, &pd->prep[k]);
	}
	syncpool_run(lr->syncer, ss.n_dirs + ss.n_files, sync_run_task, &ss);
	size_t f = 0; /* the files, in the order they were added */
	for (size_t b = 0; fresh && b < fresh->n; b++) {
		struct pending *pd = fresh->v[b];
		for (size_t k = 0; k < pd->d.n && f < ss.n_files; k++) {
			if (ss.files[f] != &pd->prep[k])
				continue;
			/* with syncfs, the file system's sync is the file's */
			const struct new_dir *d = ss.syncfs ? fs_of_file(&ss, f) : NULL;
			int e = ss.file_err[f] ? ss.file_err[f] : d ? d->err : 0;
			if (e)
				delivery_unsynced(pd, k, e, NULL);
			f++;
		}
	}
	for (size_t b = 0; b < published->n; b++) {
		struct pending *pd = published->v[b];
		for (size_t k = 0; k < pd->d.n; k++) {
			if (!pd->prepared[k])
				continue;
			const struct new_dir *d = new_dir_of(&ss, &pd->prep[k], 0);
			int e = d ? d->err : EBADF; /* no new/ to sync: never durable */
			if (e)
				delivery_unsynced(pd, k, e, "new");
		}
	}
	size_t syncs = ss.n_dirs + ss.n_files;
	free(ss.dirs);
	free(ss.files);
	free(ss.file_err);
	free(ss.file_fs);
	return syncs;
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
 * pass of the loop are written to tmp/; one round of syncs (their files,
 * all at once) makes them durable together with the new/ entries of the
 * previous batch, which are then reported delivered; this batch is renamed
 * into new/ and waits for the next batch's round — or, if none comes
 * within LOCAL_FLUSH_USEC, a round of its own. Under load that is one
 * round per batch, not two.
 */
static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct local_role *lr = arg;
	(void)fd;
	(void)what;
	struct plist *in = &lr->incoming;
	for (size_t b = 0; b < in->n; b++) {
		struct pending *pd = in->v[b];
		for (size_t k = 0; k < pd->d.n; k++)
			prepare_one(lr, pd, k);
		/* One recipient's read found the data damaged: no recipient
		 * gets a copy of it, whatever the others' reads saw. */
		for (size_t k = 0; pd->damaged && k < pd->d.n; k++) {
			if (pd->prepared[k])
				maildir_abandon(&pd->prep[k]);
			pd->prepared[k] = 0;
			if (pd->status[k] != DELIVER_CORRUPT) {
				pd->status[k] = DELIVER_CORRUPT;
				set_text(
				    pd, k,
				    "4.3.0 spool data damaged (found by another recipient's read)");
			}
		}
	}
	metrics_add(lr->metrics, MET_LOCAL_SYNCS, sync_lists(lr, in, &lr->published));
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
	metrics_add(lr->metrics, MET_LOCAL_SYNCS, sync_lists(lr, NULL, &lr->published));
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
	struct local_role *lr = arg;
	(void)ch;
	log_info("event=queue-gone");
	/* The sync threads end first: the process leaves as it started, one
	 * thread (exit handlers such as a leak checker stop the others with
	 * ptrace, which this role's system-call filter forbids). */
	syncpool_free(lr->syncer);
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
	char err[128];
	lr.syncer = syncpool_new(LOCAL_SYNC_THREADS, err, sizeof(err));
	if (lr.syncer == NULL)
		fatal("event=local-start-failed reason=\"%s\"", err);
	lr.batch_ev = event_new(base, -1, 0, batch_cb, &lr);
	lr.flush_ev = evtimer_new(base, flush_cb, &lr);
	struct ipc_handlers h = {queue_msg, queue_closed, &lr};
	lr.queue = ipc_new(base, queue_sock, &h);
	lr.metrics = metrics_push_new(base, lr.queue);
	log_info("event=local-ready");
	event_base_dispatch(base);
	exit(0);
}
