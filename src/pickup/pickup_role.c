/*
 * pickup_role: the maildrop watcher. One file at a time, oldest name
 * first: load and check it (pickup_file.c), ask the queue for a spool file,
 * write the message, COMMIT; then, if some recipients cannot be delivered,
 * a second spool file for the failure notice; and only when the queue has
 * acknowledged everything, unlink the maildrop file. A crash or a kill
 * before that leaves the file to be taken again: a message is never lost,
 * and the one in flight may be queued twice.
 *
 * The directory is scanned at start, whenever inotify reports a file
 * renamed into it, and every SCAN_EVERY seconds (an inotify queue that
 * overflowed, a file left for later). A file that is not a maildrop file
 * goes to corrupt/ and is logged; leftover t.* files of a helper that died
 * are removed after a day.
 */
#include "pickup.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "crc32c.h"
#include "ipc.h"
#include "log.h"
#include "lookup.h"
#include "pickup_int.h"
#include "proto.h"
#include "route.h"
#include "route_cache.h"
#include "util.h"
#include "xmalloc.h"

#define SCAN_EVERY  60          /* seconds */
#define SCAN_MAX    1000        /* names taken in one scan */
#define STALE_TMP   (24 * 3600) /* seconds before a t.* file is a dead helper's */
#define CORRUPT_DIR "corrupt"
/* A file whose recipients are routed through SQL tables: the lookup role
 * may take this long to answer, and one file may need this many answers
 * (an alias, then its users) before it is left for a later scan. */
#define LOOKUP_ANSWER_SECS 15
#define LOOKUP_MAX_ROUNDS  32

/* LOOKUP: routing the next file needs an SQL table's answer (asked of the
 * lookup role through the queue, as the smtp role does at RCPT); the file
 * is loaded again once it is in the cache. */
enum stage { IDLE, LOOKUP, NEW_MSG, COMMIT_MSG, NEW_DSN, COMMIT_DSN };

struct pickup {
	const struct config *conf;
	struct event_base *base;
	int dirfd, ino_fd;
	struct event *ino_ev, *timer;
	struct ipc *queue;
	char **names; /* this scan's names, sorted; next: the one to take */
	size_t n_names, next;
	int rescan;
	/* the file in flight */
	enum stage stage;
	struct pickup_file file;
	uint64_t req;
	char id[ENVELOPE_ID_MAX + 1], dsn_id[ENVELOPE_ID_MAX + 1];
	struct buf dsn;
	struct route_result dsn_route;
	/* SQL tables: the answers so far, and the question in flight */
	struct ttl_cache *lookups;
	struct route_lookup hook;
	struct event *lookup_timer;
	unsigned lookup_rounds;   /* for the file at names[next] */
	uint64_t lookup_given_up; /* the req of a question that timed out */
	char need_table[65], need_key[513];
};

static void take_next(struct pickup *p);

static void names_free(struct pickup *p)
{
	for (size_t i = 0; i < p->n_names; i++)
		free(p->names[i]);
	free(p->names);
	p->names = NULL;
	p->n_names = p->next = 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void remove_stale(struct pickup *p, const char *name)
{
	struct stat st;
	if (fstatat(p->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime + STALE_TMP < time(NULL) && unlinkat(p->dirfd, name, 0) == 0)
		log_info("event=maildrop-stale-removed file=%s", name);
}

static void scan(struct pickup *p)
{
	if (p->stage != IDLE || p->next < p->n_names) {
		p->rescan = 1; /* after the files in hand */
		return;
	}
	p->rescan = 0;
	names_free(p);
	int fd = openat(p->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	if (d == NULL) {
		log_warn("event=maildrop-scan-failed errno=%d", errno);
		if (fd != -1)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && p->n_names < SCAN_MAX) {
		const char *n = e->d_name;
		if (n[0] == '.' || strcmp(n, CORRUPT_DIR) == 0)
			continue;
		if (strncmp(n, "t.", 2) == 0) {
			remove_stale(p, n);
			continue;
		}
		p->names = xreallocarray(p->names, p->n_names + 1, sizeof(*p->names));
		p->names[p->n_names++] = xstrdup(n);
	}
	p->rescan = e != NULL; /* more than one scan's worth */
	closedir(d);
	if (p->n_names > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(p->names, p->n_names, sizeof(*p->names), by_name);
	take_next(p);
}

static void quarantine(struct pickup *p, const char *name, const char *why)
{
	char esc[600];
	log_escape(esc, sizeof(esc), why, strlen(why));
	char *to = xasprintf(CORRUPT_DIR "/%s", name);
	if (renameat(p->dirfd, name, p->dirfd, to) == -1) {
		log_warn("event=maildrop-corrupt file=%s reason=\"%s\" action=unlink errno=%d",
		         name, esc, errno);
		unlinkat(p->dirfd, name, 0);
	} else {
		log_warn("event=maildrop-corrupt file=%s reason=\"%s\" action=moved to=%s", name,
		         esc, to);
	}
	free(to);
}

static void send_new(struct pickup *p, enum stage next)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, ++p->req);
	ipc_send(p->queue, PROTO_NEW_REQ, b.data, b.len, -1);
	buf_free(&b);
	p->stage = next;
}

static void send_abort(struct pickup *p, const char *id)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_id(&b, id);
	ipc_send(p->queue, PROTO_ABORT, b.data, b.len, -1);
	buf_free(&b);
}

static void job_end(struct pickup *p)
{
	pickup_file_free(&p->file);
	buf_free(&p->dsn);
	route_result_free(&p->dsn_route);
	memset(&p->dsn_route, 0, sizeof(p->dsn_route));
	p->stage = IDLE;
	p->id[0] = p->dsn_id[0] = '\0';
}

/* Left for a later scan (the queue could not take it now). */
static void job_later(struct pickup *p, const char *why)
{
	log_warn("event=pickup-deferred file=%s reason=\"%s\"", p->file.name, why);
	job_end(p);
	names_free(p); /* the next files would meet the same trouble */
}

static void job_done(struct pickup *p)
{
	for (size_t i = 0; i < p->file.n_bad; i++) {
		const struct dsn_rcpt *b = &p->file.bad[i];
		char to[600], why[600];
		log_escape(to, sizeof(to), b->addr, strlen(b->addr));
		log_escape(why, sizeof(why), b->diagnostic, strlen(b->diagnostic));
		log_info("event=pickup-bounced file=%s uid=%u to=\"%s\" reason=\"%s\"",
		         p->file.name, (unsigned)p->file.uid, to, why);
	}
	if (unlinkat(p->dirfd, p->file.name, 0) == -1)
		log_warn("event=maildrop-unlink-failed file=%s errno=%d", p->file.name, errno);
	log_info("event=picked-up file=%s uid=%u id=%s rcpts=%zu bounced=%zu%s%s", p->file.name,
	         (unsigned)p->file.uid, p->id[0] ? p->id : "-", p->file.n_ok, p->file.n_bad,
	         p->dsn_id[0] ? " dsn=" : "", p->dsn_id);
	job_end(p);
	take_next(p);
}

/*
 * Where the failure notice goes: the sender's mailboxes or its domain's
 * relay; 0, or -1 (null sender, no route) and the notice is dropped.
 */
static int dsn_route(struct pickup *p)
{
	const char *s = p->file.sender;
	struct mailaddr a;
	struct smtp_reply err;
	if (s[0] == '\0' || addr_parse_mailbox(s, strlen(s), ADDR_ALLOW_UTF8, &a, &err) == -1)
		return -1;
	/* SQL tables answer from what the recipients' lookups left in the
	 * cache (the sender is often one of their mailboxes); a sender they
	 * did not cover gets no notice. */
	struct route_request rq = {
	    .local = a.local, .domain = a.domain, .from = FROM_LOCAL, .lookup = &p->hook};
	route_resolve(p->conf, &rq, &p->dsn_route);
	if (p->dsn_route.verdict == ROUTE_RELAY)
		return 0;
	return p->dsn_route.verdict == ROUTE_LOCAL && p->dsn_route.n_users > 0 ? 0 : -1;
}

/* Ask the lookup role what routing the file at names[next] lacks. */
static void ask_lookup(struct pickup *p)
{
	snprintf(p->need_table, sizeof(p->need_table), "%s", p->file.need_table);
	snprintf(p->need_key, sizeof(p->need_key), "%s", p->file.need_key);
	struct lookup_req q = {.req = ++p->req, .table = p->need_table, .key = p->need_key};
	struct buf b;
	buf_init(&b, 0);
	lookup_encode_req(&b, &q);
	ipc_send(p->queue, PROTO_LOOKUP_REQ, b.data, b.len, -1);
	buf_free(&b);
	p->stage = LOOKUP;
	struct timeval tv = {LOOKUP_ANSWER_SECS, 0};
	evtimer_add(p->lookup_timer, &tv);
}

/* No answer to use: the file stays for a later scan, and so do the next
 * ones (they would meet the same trouble). */
static void lookup_failed(struct pickup *p, const char *why)
{
	log_warn("event=pickup-deferred file=%s reason=\"table %s: %s\"",
	         p->next < p->n_names ? p->names[p->next] : "?", p->need_table, why);
	evtimer_del(p->lookup_timer);
	p->stage = IDLE;
	p->lookup_rounds = 0;
	names_free(p);
}

static void lookup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pickup *p = arg;
	(void)fd;
	(void)what;
	if (p->stage != LOOKUP)
		return;
	p->lookup_given_up = p->req;
	lookup_failed(p, "no answer from the lookup role");
}

/* LOOKUP_RES: 0, or -1 for a frame that answers nothing asked. */
static int lookup_answered(struct pickup *p, const struct ipc_msg *m)
{
	struct lookup_res r;
	if (lookup_decode_res(m->data, m->len, &r) == -1)
		return -1;
	int asked = p->stage == LOOKUP && r.req == p->req;
	if (!asked && r.req != p->lookup_given_up) {
		lookup_res_free(&r);
		return -1;
	}
	if (asked && r.status == LOOKUP_TEMP) {
		lookup_failed(p, "the database did not answer");
	} else if (asked) {
		route_cache_put(p->lookups, p->need_table, p->need_key, r.status == LOOKUP_FOUND,
		                r.value);
		evtimer_del(p->lookup_timer);
		p->stage = IDLE;
		take_next(p); /* the same file, one answer more */
	}
	lookup_res_free(&r);
	return 0;
}

static void take_next(struct pickup *p)
{
	while (p->stage == IDLE && p->next < p->n_names) {
		const char *name = p->names[p->next++];
		char why[300];
		enum pickup_load rc =
		    pickup_file_load(p->conf, &p->hook, p->dirfd, name, &p->file, why, sizeof(why));
		if (rc == LOAD_PENDING && ++p->lookup_rounds <= LOOKUP_MAX_ROUNDS) {
			p->next--; /* loaded again once the answer is in */
			ask_lookup(p);
			pickup_file_free(&p->file);
			return;
		}
		p->lookup_rounds = 0;
		if (rc == LOAD_PENDING) {
			snprintf(why, sizeof(why), "too many lookups for one file");
			rc = LOAD_LATER;
		}
		if (rc == LOAD_OK) {
			buf_init(&p->dsn, 0);
			send_new(p, NEW_MSG);
			return;
		}
		if (rc == LOAD_CORRUPT)
			quarantine(p, name, why);
		else if (rc == LOAD_LATER)
			log_warn("event=pickup-deferred file=%s reason=\"%s\"", name, why);
		pickup_file_free(&p->file);
	}
	if (p->stage == IDLE && p->rescan)
		scan(p);
}

static void send_commit(struct pickup *p, const struct envelope_draft *d, enum stage next)
{
	struct buf b;
	buf_init(&b, 0);
	if (proto_encode_commit(&b, ++p->req, d) == -1 || b.len > IPC_MAX_PAYLOAD) {
		buf_free(&b);
		send_abort(p, d->id);
		quarantine(p, p->file.name, "envelope over the limits");
		job_end(p);
		take_next(p);
		return;
	}
	ipc_send(p->queue, PROTO_COMMIT_REQ, b.data, b.len, -1);
	buf_free(&b);
	p->stage = next;
}

static void draft(struct pickup *p, struct envelope_draft *d, const char *id, uint64_t size,
                  uint32_t crc, const char *sender)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->arrival = (int64_t)time(NULL);
	d->size = size;
	d->data_crc = crc;
	d->has_data_crc = 1;
	d->sender = sender;
	d->helo = "localhost";
	d->client = "local";
	d->body = p->file.eightbit ? BODY_8BITMIME : BODY_NONE;
	d->smtputf8 = (uint8_t)p->file.smtputf8;
}

/* A spool file could not be written (errno): given back, the file left. */
static void spool_write_failed(struct pickup *p, const char *id, int fd)
{
	char why[64];
	snprintf(why, sizeof(why), "spool write: %s", strerror(errno));
	close(fd);
	send_abort(p, id);
	job_later(p, why);
}

/* The message's spool file arrived: fill it, then commit or give it back. */
static void message_file(struct pickup *p, const char *id, int fd)
{
	uint64_t size;
	uint32_t crc;
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (pickup_file_write(p->conf, &p->file, id, fd, &size, &crc) == -1) {
		spool_write_failed(p, id, fd);
		return;
	}
	char why[256];
	if (p->file.n_bad > 0 &&
	    (dsn_route(p) == -1 ||
	     pickup_file_dsn(p->conf, &p->file, id, fd, size, &p->dsn, why, sizeof(why)) == -1)) {
		log_info("event=dsn-dropped file=%s id=%s reason=\"%s\"", p->file.name, id,
		         p->file.sender[0] ? "no route to the sender" : "null sender");
		buf_reset(&p->dsn);
	}
	close(fd);
	if (p->file.n_ok == 0) {
		send_abort(p, id); /* nothing to deliver: only the notice */
		p->id[0] = '\0';
		if (p->dsn.len > 0)
			send_new(p, NEW_DSN);
		else
			job_done(p);
		return;
	}
	struct envelope_draft d;
	draft(p, &d, id, size, crc, p->file.sender);
	d.n_rcpts = p->file.n_ok;
	d.rcpts = p->file.ok;
	send_commit(p, &d, COMMIT_MSG);
}

static void dsn_file(struct pickup *p, const char *id, int fd)
{
	snprintf(p->dsn_id, sizeof(p->dsn_id), "%s", id);
	if (fd_write_all(fd, p->dsn.data, p->dsn.len) == -1) {
		spool_write_failed(p, id, fd);
		return;
	}
	close(fd);
	const struct route_result *rr = &p->dsn_route;
	size_t n = rr->verdict == ROUTE_LOCAL ? rr->n_users : 1;
	struct envelope_draft_rcpt *r = xcalloc(n, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] =
		    (struct envelope_draft_rcpt){p->file.sender, NULL, 0, rr->action->name,
		                                 rr->verdict == ROUTE_LOCAL ? rr->users[i] : NULL};
	struct envelope_draft d;
	draft(p, &d, id, p->dsn.len, crc32c_update(0, p->dsn.data, p->dsn.len), "");
	d.body = bounce_is_8bit(p->dsn.data, p->dsn.len) ? BODY_8BITMIME : BODY_NONE;
	d.n_rcpts = n;
	d.rcpts = r;
	send_commit(p, &d, COMMIT_DSN);
	free(r);
}

static void queue_broken(struct pickup *p, const struct ipc_msg *m)
{
	log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
	ipc_shutdown(p->queue);
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct pickup *p = arg;
	struct proto_reply r;
	uint64_t req;
	(void)ch;
	if (m->type == PROTO_NEW_OK) {
		if (proto_decode_new_ok(m->data, m->len, &r) == -1 ||
		    (m->fd == -1 && !m->fd_lost)) {
			if (m->fd != -1)
				close(m->fd);
			queue_broken(p, m);
			return;
		}
		if (r.req != p->req || (p->stage != NEW_MSG && p->stage != NEW_DSN)) {
			if (m->fd != -1)
				close(m->fd);
			proto_reply_free(&r);
			queue_broken(p, m);
		} else if (m->fd == -1) {
			send_abort(p, r.id);
			job_later(p, "no descriptor for the spool file");
		} else if (p->stage == NEW_MSG) {
			message_file(p, r.id, m->fd);
		} else {
			dsn_file(p, r.id, m->fd);
		}
		proto_reply_free(&r);
		return;
	}
	if (m->fd != -1)
		close(m->fd);
	if (m->type == PROTO_LOOKUP_RES) {
		if (lookup_answered(p, m) == -1)
			queue_broken(p, m);
		return;
	}
	if (m->type == PROTO_NEW_FAIL || m->type == PROTO_COMMIT_FAIL) {
		if (proto_decode_fail(m->data, m->len, &r) == -1) {
			queue_broken(p, m);
			return;
		}
		if (r.req != p->req || p->stage == IDLE) {
			proto_reply_free(&r);
			queue_broken(p, m);
			return;
		}
		char why[300];
		snprintf(why, sizeof(why), "queue refused: %s", r.reason ? r.reason : "?");
		proto_reply_free(&r);
		job_later(p, why);
	} else if (m->type == PROTO_COMMIT_OK) {
		if (proto_decode_req(m->data, m->len, &req) == -1 || req != p->req ||
		    (p->stage != COMMIT_MSG && p->stage != COMMIT_DSN)) {
			queue_broken(p, m);
			return;
		}
		if (p->stage == COMMIT_MSG && p->dsn.len > 0)
			send_new(p, NEW_DSN);
		else
			job_done(p);
	} else {
		queue_broken(p, m);
	}
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	/* Whatever was in flight stays in the maildrop for the next pickup. */
	log_info("event=queue-gone");
	exit(0);
}

static void inotify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pickup *p = arg;
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)what;
	while (read(fd, ev, sizeof(ev)) > 0)
		; /* which file does not matter: the scan finds it */
	scan(p);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan(arg);
}

struct pickup *pickup_prepare(const struct config *conf, struct event_base *base, char *err,
                              size_t errlen)
{
	struct pickup *p = xcalloc(1, sizeof(*p));
	p->conf = conf;
	p->base = base;
	char *dir = xasprintf("%s/maildrop", conf->data_dir);
	p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->dirfd == -1) {
		err_set(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		free(p);
		return NULL;
	}
	/* Without inotify (no instances left), the periodic scan still works. */
	p->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->ino_fd != -1 &&
	    inotify_add_watch(p->ino_fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) == -1) {
		close(p->ino_fd);
		p->ino_fd = -1;
	}
	if (p->ino_fd == -1)
		log_warn("event=inotify-unavailable errno=%d scan_every=%d", errno, SCAN_EVERY);
	free(dir);
	return p;
}

void pickup_run(struct pickup *p, int queue_sock)
{
	struct ipc_handlers h = {queue_msg, queue_closed, p};
	p->queue = ipc_new(p->base, queue_sock, &h);
	p->lookups = ttl_cache_new(ROUTE_CACHE_MAX, ROUTE_CACHE_TTL);
	p->hook.fn = route_cache_get;
	p->hook.arg = p->lookups;
	p->lookup_timer = evtimer_new(p->base, lookup_timer_cb, p);
	if (p->ino_fd != -1) {
		p->ino_ev = event_new(p->base, p->ino_fd, EV_READ | EV_PERSIST, inotify_cb, p);
		event_add(p->ino_ev, NULL);
	}
	p->timer = event_new(p->base, -1, EV_PERSIST, timer_cb, p);
	struct timeval tv = {SCAN_EVERY, 0};
	event_add(p->timer, &tv);
	scan(p); /* what was handed over while the daemon was stopped */
	event_base_dispatch(p->base);
	exit(0);
}
