/*
 * control: the control socket of the queue role (control.h). A connection
 * lives through three steps on the queue's own event loop: read one request
 * line (bounded, within CONTROL_TIMEOUT), run it against the live scheduler
 * and the queue_admin_* operations, write the whole answer (non-blocking,
 * dropped after CONTROL_TIMEOUT without progress) and close.
 */
#include "control.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "control_fmt.h"
#include "control_req.h"
#include "log.h"
#include "queue_admin.h"
#include "reqconn.h"
#include "scheduler.h"
#include "xmalloc.h"

#define ACCEPTS_PER_WAKEUP 32
#define HEADERS_MAX        (64u * 1024 + 1024)

struct conn {
	struct reqconn rc; /* the socket, its events and the answer */
	struct control *c;
	uid_t uid;
	struct control_reader rd;
	int writing;
	uint64_t reload_req; /* waiting for the parent's answer to this reload; 0: none */
};

struct control {
	struct event_base *base;
	char *path;
	uid_t allowed_uid;
	unsigned timeout_ms; /* to read the request; per step of writing */
	struct queue_role *q;
	int fd;
	struct event *listen_ev;
	struct event *pause_ev; /* re-enables accept after EMFILE */
	struct reqconn_list conns;
	uint64_t next_reload;
};

static void conn_free(struct conn *k)
{
	reqconn_close(&k->rc);
	free(k);
}

/* Switch the connection to writing k->rc.out. */
static void conn_respond(struct conn *k)
{
	k->writing = 1;
	reqconn_respond(&k->rc, k->c->timeout_ms);
}

static void respond_error(struct conn *k, const char *reason)
{
	buf_reset(&k->rc.out);
	buf_printf(&k->rc.out, "error: %s\n", reason);
	conn_respond(k);
}

struct list_ctx {
	struct buf *out;
	int json;
	int64_t now;
	size_t messages, recipients;
	int rc;
};

static void list_one(struct sched_msg *m, void *arg)
{
	struct list_ctx *x = arg;
	if (x->rc != 0)
		return;
	x->rc = control_fmt_queue_msg(x->out, x->json, m, x->messages, x->now);
	x->messages++;
	x->recipients += m->env.n_rcpts;
}

/* Run a valid request; 0 with the body in out, or -1 with a reason. */
static int run(struct control *c, const struct control_req *req, struct buf *out, char *err,
               size_t errlen)
{
	struct sched *s = queue_admin_sched(c->q);
	int64_t now = queue_admin_now(c->q);
	const char *id = req->id[0] ? req->id : NULL;
	int rc;
	switch (req->verb) {
	case CTL_QUEUE: {
		struct list_ctx x = {out, req->json, now, 0, 0, 0};
		rc = control_fmt_queue_begin(out, req->json, now);
		if (rc == 0) {
			sched_foreach(s, list_one, &x);
			rc = x.rc;
		}
		if (rc == 0)
			rc = control_fmt_queue_end(out, req->json, x.messages, x.recipients);
		break;
	}
	case CTL_SHOW: {
		struct sched_msg *m = sched_find(s, req->id);
		if (m == NULL) {
			snprintf(err, errlen, "no such message");
			return -1;
		}
		struct buf h;
		char herr[256] = "";
		buf_init(&h, HEADERS_MAX);
		int hok = queue_admin_headers(c->q, req->id, &h, herr, sizeof(herr)) == 0;
		rc = control_fmt_show(out, req->json, m,
		                      hok ? (h.data ? h.data : (const uint8_t *)"") : NULL,
		                      hok ? h.len : 0, herr, now);
		buf_free(&h);
		break;
	}
	case CTL_FLUSH:
	case CTL_REMOVE:
	case CTL_HOLD:
	case CTL_RELEASE:
		if (req->verb == CTL_FLUSH)
			rc = queue_admin_flush(c->q, id, err, errlen);
		else if (req->verb == CTL_REMOVE)
			rc = queue_admin_remove(c->q, id, err, errlen);
		else if (req->verb == CTL_HOLD)
			rc = queue_admin_hold(c->q, id, err, errlen);
		else
			rc = queue_admin_release(c->q, id, err, errlen);
		if (rc != 0)
			return -1;
		rc = control_fmt_action(out, req->json, req->verb, req->id);
		break;
	case CTL_STATS: {
		if (req->prometheus) {
			rc = queue_admin_prometheus(c->q, out);
			break;
		}
		struct sched_stats st;
		struct queue_counters qc;
		sched_stats(s, &st);
		queue_admin_counters(c->q, &qc);
		rc = control_fmt_stats(out, req->json, &st, &qc, now);
		break;
	}
	case CTL_STATUS: {
		struct queue_status st;
		queue_admin_status(c->q, &st);
		rc = control_fmt_status(out, req->json, &st, now);
		queue_admin_status_free(&st);
		break;
	}
	default:
		snprintf(err, errlen, "unknown command");
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "response too large");
		return -1;
	}
	return 0;
}

/* The parent reloads (the queue only relays): wait for its answer, reading
 * nothing more meanwhile; the timeout still applies. */
static void reload_ask(struct conn *k)
{
	k->reload_req = ++k->c->next_reload;
	if (queue_admin_reload(k->c->q, k->reload_req) == -1) {
		k->reload_req = 0;
		log_info("event=ctl-reload uid=%u result=error reason=\"parent unreachable\"",
		         (unsigned)k->uid);
		respond_error(k, "cannot reach ravend's parent process");
		return;
	}
	event_del(k->rc.io);
}

void control_reload_done(struct control *c, uint64_t req, uint32_t error, const char *reason)
{
	struct conn *k = NULL;
	for (struct reqconn *rc = c->conns.head; rc && k == NULL; rc = rc->next) {
		struct conn *x = rc->arg;
		if (x->reload_req == req && !x->writing)
			k = x;
	}
	char esc[600];
	log_escape(esc, sizeof(esc), reason, strlen(reason));
	log_info("event=ctl-reload uid=%u result=%s%s%s%s", k ? (unsigned)k->uid : 0,
	         error == 0 ? "ok" : "error", error == 0 ? "" : " reason=\"", error == 0 ? "" : esc,
	         error == 0 ? "" : "\"");
	if (k == NULL)
		return; /* it went away (or timed out) meanwhile */
	k->reload_req = 0;
	if (error != 0) {
		/* One status line: a reason with a newline would end it early. */
		char line[600];
		snprintf(line, sizeof(line), "%s", reason[0] ? reason : "reload failed");
		line[strcspn(line, "\r\n")] = '\0';
		respond_error(k, line);
		return;
	}
	buf_reset(&k->rc.out);
	buf_append_str(&k->rc.out, "ok\nreloaded\n");
	conn_respond(k);
}

static void conn_request(struct conn *k)
{
	struct control_req req;
	char err[256], esc[300];
	if (control_req_parse(k->rd.line, k->rd.len, &req, err, sizeof(err)) == -1) {
		log_escape(esc, sizeof(esc), k->rd.line, k->rd.len);
		log_info("event=ctl-bad-request uid=%u reason=\"%s\" request=\"%s\"",
		         (unsigned)k->uid, err, esc);
		respond_error(k, err);
		return;
	}
	if (req.verb == CTL_RELOAD) {
		reload_ask(k);
		return;
	}
	buf_reset(&k->rc.out);
	buf_append_str(&k->rc.out, "ok\n");
	err[0] = '\0';
	int rc = run(k->c, &req, &k->rc.out, err, sizeof(err));
	log_escape(esc, sizeof(esc), err, strlen(err));
	log_info("event=ctl-%s%s%s uid=%u result=%s%s%s%s", control_verb_name(req.verb),
	         req.id[0] ? " id=" : "", req.id, (unsigned)k->uid, rc == 0 ? "ok" : "error",
	         rc == 0 ? "" : " reason=\"", rc == 0 ? "" : esc, rc == 0 ? "" : "\"");
	if (rc != 0) {
		respond_error(k, err[0] ? err : "failed");
		return;
	}
	conn_respond(k);
}

static void conn_read(struct conn *k)
{
	uint8_t tmp[CONTROL_REQ_MAX];
	ssize_t n = recv(k->rc.fd, tmp, sizeof(tmp), 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(k); /* gone before finishing its request: nothing to answer */
		return;
	}
	size_t used;
	switch (control_reader_feed(&k->rd, tmp, (size_t)n, &used)) {
	case CONTROL_READ_MORE:
		return;
	case CONTROL_READ_LINE:
		conn_request(k);
		return;
	case CONTROL_READ_TOO_LONG:
		log_info("event=ctl-bad-request uid=%u reason=\"request too long\"",
		         (unsigned)k->uid);
		respond_error(k, "request too long");
		return;
	}
}

static void conn_write(struct conn *k)
{
	if (reqconn_write(&k->rc) != REQCONN_MORE)
		conn_free(k);
}

static void conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct conn *k = arg;
	(void)fd;
	(void)what;
	if (k->writing)
		conn_write(k);
	else
		conn_read(k);
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *k = arg;
	(void)fd;
	(void)what;
	if (k->writing) {
		log_info("event=ctl-timeout uid=%u phase=write", (unsigned)k->uid);
		conn_free(k);
		return;
	}
	log_info("event=ctl-timeout uid=%u phase=read", (unsigned)k->uid);
	respond_error(k, "timeout");
}

static void conn_new(struct control *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (c->conns.n >= CONTROL_MAX_CONNS) {
		static const char busy[] = "error: too many control connections\n";
		ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)ignored;
		log_warn("event=ctl-busy connections=%zu", c->conns.n);
		close(fd);
		return;
	}
	struct conn *k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->uid = (uid_t)-1;
	control_reader_init(&k->rd);
	reqconn_open(&k->rc, &c->conns, c->base, fd, CONTROL_MAX_RESPONSE, conn_io, conn_timeout, k,
	             c->timeout_ms);
	int ok = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
	if (ok)
		k->uid = cred.uid;
	if (!ok || (cred.uid != 0 && cred.uid != c->allowed_uid)) {
		log_warn("event=ctl-denied uid=%d pid=%d", ok ? (int)cred.uid : -1,
		         ok ? (int)cred.pid : -1);
		respond_error(k, "permission denied");
	}
}

static void listen_resume(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;
	(void)fd;
	(void)what;
	event_add(c->listen_ev, NULL);
}

static void listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *c = arg;
	(void)what;
	for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s >= 0) {
			conn_new(c, s);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* The listener is level-triggered: pause it instead of spinning. */
			struct timeval tv = {1, 0};
			log_warn("event=ctl-accept-failed reason=\"%s\"", strerror(errno));
			event_del(c->listen_ev);
			evtimer_add(c->pause_ev, &tv);
		}
		return;
	}
}

int control_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket", path);
			return -1;
		}
		if (unlink(path) == -1) {
			snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
			return -1;
		}
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* The socket file's mode comes from the umask at bind: no window in
	 * which others could connect. */
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	int saved = errno;
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(saved));
		close(fd);
		return -1;
	}
	if (chmod(path, 0660) == -1 || listen(fd, CONTROL_MAX_CONNS) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

struct control *control_new_fd(struct event_base *base, int fd, uid_t allowed_uid,
                               struct queue_role *q)
{
	struct control *c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->allowed_uid = allowed_uid;
	c->timeout_ms = CONTROL_TIMEOUT * 1000u;
	c->q = q;
	c->fd = fd;
	evutil_make_socket_nonblocking(fd);
	c->listen_ev = event_new(base, fd, EV_READ | EV_PERSIST, listen_cb, c);
	c->pause_ev = evtimer_new(base, listen_resume, c);
	if (c->listen_ev == NULL || c->pause_ev == NULL)
		fatal("event_new failed");
	event_add(c->listen_ev, NULL);
	log_info("event=ctl-listening allowed-uid=%u", (unsigned)allowed_uid);
	return c;
}

struct control *control_new(struct event_base *base, const char *path, uid_t allowed_uid,
                            struct queue_role *q, char *err, size_t errlen)
{
	int fd = control_listen(path, err, errlen);
	if (fd == -1)
		return NULL;
	struct control *c = control_new_fd(base, fd, allowed_uid, q);
	c->path = xstrdup(path);
	return c;
}

void control_set_timeout(struct control *c, unsigned seconds)
{
	c->timeout_ms = seconds * 1000u;
}

void control_free(struct control *c)
{
	if (c == NULL)
		return;
	while (c->conns.head)
		conn_free(c->conns.head->arg);
	event_free(c->listen_ev);
	event_free(c->pause_ev);
	close(c->fd);
	if (c->path)
		unlink(c->path);
	free(c->path);
	free(c);
}
