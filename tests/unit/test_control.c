/*
 * Unit tests for control (the queue role's control socket), driven over a
 * real unix socket against a real scheduler, with the queue_admin_*
 * operations stubbed here so no spool is needed. The event loop and the
 * client run in one thread: the client's socket is non-blocking and the loop
 * is stepped between its sends and reads, which also proves that the server
 * never waits on a client.
 */
#include "unit_util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "queue_admin.h"
#include "scheduler.h"
#include "xmalloc.h"

/* --- the queue role, as far as control.c can see it ---------------------- */

struct queue_role {
	struct sched *s;
	struct queue_counters counters;
	int headers_fail;
	int calls;
	uint64_t reload_req; /* the last reload asked of the parent */
	int parent_gone;     /* queue_admin_reload fails */
};

int queue_admin_reload(struct queue_role *q, uint64_t req)
{
	q->reload_req = req;
	return q->parent_gone ? -1 : 0;
}

int64_t queue_admin_now(struct queue_role *q)
{
	(void)q;
	return (int64_t)time(NULL);
}

struct sched *queue_admin_sched(struct queue_role *q)
{
	return q->s;
}

void queue_admin_counters(struct queue_role *q, struct queue_counters *c)
{
	*c = q->counters;
}

static const struct status_listener test_listeners[] = {
    {"127.0.0.1", 2525, 0}, {"::1", 2525, 0}, {"127.0.0.1", 2587, 1}};

void queue_admin_status(struct queue_role *q, struct queue_status *st)
{
	memset(st, 0, sizeof(*st));
	st->version = "9.8.7 (git \x1b[1m)"; /* escaped in text, as any string */
	st->hostname = "mx.example.org";
	st->parent_pid = 100;
	st->queue_pid = 101;
	st->started = q->counters.started;
	st->smtp = 1;
	st->local = 1;
	st->listeners = test_listeners;
	st->n_listeners = 3;
	sched_stats(q->s, &st->sched);
}

void queue_admin_status_free(struct queue_status *st)
{
	st->listeners = NULL;
}

static struct sched_msg *find(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	q->calls++;
	struct sched_msg *m = sched_find(q->s, id);
	if (m == NULL)
		snprintf(err, errlen, "no such message");
	return m;
}

int queue_admin_remove(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = find(q, id, err, errlen);
	if (m == NULL)
		return -1;
	sched_remove(q->s, m);
	q->counters.removed++;
	return 0;
}

int queue_admin_hold(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = find(q, id, err, errlen);
	if (m == NULL)
		return -1;
	sched_hold(q->s, m);
	return 0;
}

int queue_admin_release(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = find(q, id, err, errlen);
	if (m == NULL)
		return -1;
	sched_release(q->s, m, (int64_t)time(NULL));
	return 0;
}

int queue_admin_flush(struct queue_role *q, const char *id, char *err, size_t errlen)
{
	struct sched_msg *m = NULL;
	if (id && (m = find(q, id, err, errlen)) == NULL)
		return -1;
	if (id == NULL)
		q->calls++;
	sched_flush(q->s, m, (int64_t)time(NULL));
	return 0;
}

int queue_admin_headers(struct queue_role *q, const char *id, struct buf *out, char *err,
                        size_t errlen)
{
	if (find(q, id, err, errlen) == NULL)
		return -1;
	if (q->headers_fail) {
		snprintf(err, errlen, "cannot read data file");
		return -1;
	}
	return buf_append_str(out, "Subject: hello\r\nX-Odd: \x1b[1m\r\n");
}

int queue_admin_prometheus(struct queue_role *q, struct buf *out)
{
	return buf_printf(out, "# HELP raven_x X\n# TYPE raven_x counter\nraven_x %llu\n",
	                  (unsigned long long)q->counters.committed);
}

/* --- fixture -------------------------------------------------------------- */

struct fx {
	char *dir, *path;
	struct event_base *base;
	struct queue_role q;
	struct control *c;
};

static void add_msg(struct fx *f, const char *id, uint8_t state)
{
	struct envelope e = {0};
	snprintf(e.id, sizeof(e.id), "%s", id);
	e.arrival = (int64_t)time(NULL) - 90;
	e.size = 1234;
	e.sender = xstrdup("alice@example.org");
	e.helo = xstrdup("client.example");
	e.client = xstrdup("192.0.2.1");
	e.n_rcpts = 2;
	e.rcpts = xcalloc(2, sizeof(*e.rcpts));
	e.rcpts[0].addr = xstrdup("bob@example.net");
	e.rcpts[0].action = xstrdup("outbound");
	e.rcpts[0].state = state;
	e.rcpts[0].attempts = state == RCPT_DEFERRED ? 3 : 0;
	e.rcpts[0].next_try = state == RCPT_DEFERRED ? e.arrival + 3600 : 0;
	e.rcpts[0].last_error = state == RCPT_DEFERRED ? xstrdup("451 4.4.1 try later") : NULL;
	e.rcpts[1].addr = xstrdup("carol@example.org");
	e.rcpts[1].action = xstrdup("mailbox");
	e.rcpts[1].user = xstrdup("carol");
	e.rcpts[1].state = RCPT_DELIVERED;
	assert_non_null(sched_add(f->q.s, &e, (int64_t)time(NULL)));
	envelope_free(&e);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct sched_params p = {.retry_min = 60,
	                         .retry_max = 3600,
	                         .lifetime = 5 * 86400,
	                         .max_jobs = 10,
	                         .max_jobs_per_dest = 5,
	                         .seed = 1};
	char err[256];
	f->dir = unit_tmpdir();
	chmod(f->dir, 0755);
	f->path = xasprintf("%s/ravenctl.sock", f->dir);
	f->base = event_base_new();
	f->q.s = sched_new(&p);
	add_msg(f, "0000000000000001", RCPT_DEFERRED);
	add_msg(f, "0000000000000002", RCPT_PENDING);
	f->c = control_new(f->base, f->path, geteuid(), &f->q, err, sizeof(err));
	if (f->c == NULL)
		fail_msg("control_new: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	control_free(f->c);
	sched_free(f->q.s);
	event_base_free(f->base);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static void step(struct fx *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static int client_connect(struct fx *f)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static double now_s(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Everything the server sends until it closes (at most `secs` seconds). */
static char *read_all(struct fx *f, int fd, double secs)
{
	struct buf b;
	char chunk[4096];
	double end = now_s() + secs;
	buf_init(&b, 0);
	while (now_s() < end) {
		step(f);
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0)
			break;
		if (n > 0) {
			buf_append(&b, chunk, (size_t)n);
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		usleep(1000);
	}
	close(fd);
	char *s = buf_strdup(&b);
	buf_free(&b);
	return s;
}

/* Send req (step bytes at a time, stepping the loop between) and read the
 * answer. */
static char *ask_step(struct fx *f, const char *req, size_t n, size_t stepn)
{
	int fd = client_connect(f);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < stepn ? n - off : stepn;
		ssize_t w = send(fd, req + off, k, MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else
			assert_true(errno == EAGAIN);
		step(f);
	}
	return read_all(f, fd, 5);
}

static char *ask(struct fx *f, const char *req)
{
	return ask_step(f, req, strlen(req), strlen(req));
}

static void expect(struct fx *f, const char *req, const char *want)
{
	char *got = ask(f, req);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", req, got, want);
	free(got);
}

/* --- tests ---------------------------------------------------------------- */

static void test_socket_mode(void **state)
{
	struct fx *f = *state;
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
}

static void test_queue(void **state)
{
	struct fx *f = *state;
	char *s = ask(f, "queue\n");
	assert_int_equal(strncmp(s, "ok\n0000000000000001 ", 20), 0);
	assert_non_null(strstr(s, "  1m  <alice@example.org>\n"));
	assert_non_null(strstr(s, "    deferred  <bob@example.net>  attempts 3  next try in 58m\n"
	                          "      last error: 451 4.4.1 try later\n"));
	assert_non_null(strstr(s, "\n0000000000000002 "));
	assert_non_null(strstr(s, "    pending   <bob@example.net>  next try now\n"));
	assert_non_null(strstr(s, "\n-- 2 messages, 4 recipients\n"));
	free(s);
	s = ask(f, "queue --json\n");
	assert_int_equal(strncmp(s, "ok\n{\"now\":", 10), 0);
	assert_non_null(strstr(s, "\"id\":\"0000000000000001\""));
	assert_non_null(strstr(s, "\"total\":{\"messages\":2,\"recipients\":4}}\n"));
	free(s);
}

/* The same request one byte at a time gets the same answer. */
static void test_bytewise(void **state)
{
	struct fx *f = *state;
	static const char *const reqs[] = {"stats --json\n", "show 0000000000000002\n", "frob\n",
	                                   "show 0000000000000002 --json\r\n"};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		char *whole = ask(f, reqs[i]);
		char *bytes = ask_step(f, reqs[i], strlen(reqs[i]), 1);
		assert_string_equal(whole, bytes);
		free(whole);
		free(bytes);
	}
}

static void test_show(void **state)
{
	struct fx *f = *state;
	char *s = ask(f, "show 0000000000000001\n");
	assert_int_equal(strncmp(s, "ok\nid:           0000000000000001\n", 34), 0);
	assert_non_null(strstr(s, "helo:         client.example\n"));
	assert_non_null(strstr(s, "  user:       carol\n"));
	assert_non_null(strstr(s, "\n\nSubject: hello\nX-Odd: \\x1B[1m\n"));
	free(s);
	s = ask(f, "show 0000000000000001 --json\n");
	assert_non_null(
	    strstr(s, "\"headers\":\"Subject: hello\\r\\nX-Odd: \\u001b[1m\\r\\n\"}\n"));
	free(s);
	f->q.headers_fail = 1;
	s = ask(f, "show 0000000000000001\n");
	assert_non_null(strstr(s, "\n\n(headers unavailable: cannot read data file)\n"));
	free(s);
	expect(f, "show 00000000000000FF\n", "error: no such message\n");
	expect(f, "show\n", "error: missing queue id\n");
	expect(f, "show ../x\n", "error: invalid queue id\n");
}

static void test_actions(void **state)
{
	struct fx *f = *state;
	struct sched_msg *m = sched_find(f->q.s, "0000000000000002");
	expect(f, "hold 0000000000000002\n", "ok\nheld 0000000000000002\n");
	assert_int_equal(m->env.rcpts[0].state, RCPT_HELD);
	expect(f, "release 0000000000000002 --json\n",
	       "ok\n{\"result\":\"released\",\"id\":\"0000000000000002\"}\n");
	assert_int_equal(m->env.rcpts[0].state, RCPT_PENDING);
	m = sched_find(f->q.s, "0000000000000001");
	expect(f, "flush 0000000000000001\n", "ok\nflushed 0000000000000001\n");
	assert_true(m->env.rcpts[0].next_try <= (int64_t)time(NULL));
	expect(f, "flush\n", "ok\nflushed all messages\n");
	expect(f, "remove 0000000000000001\n", "ok\nremoved 0000000000000001\n");
	assert_null(sched_find(f->q.s, "0000000000000001"));
	assert_int_equal(f->q.counters.removed, 1);
	expect(f, "remove 0000000000000001\n", "error: no such message\n");
	expect(f, "hold 0000000000000001\n", "error: no such message\n");
	expect(f, "release 0000000000000001\n", "error: no such message\n");
	expect(f, "flush 0000000000000001\n", "error: no such message\n");
	char *s = ask(f, "queue\n");
	assert_non_null(strstr(s, "-- 1 message, 2 recipients\n"));
	free(s);
}

static void test_stats(void **state)
{
	struct fx *f = *state;
	f->q.counters.started = (uint64_t)time(NULL) - 120;
	f->q.counters.committed = 6;
	f->q.counters.batches = 4;
	char *s = ask(f, "stats\n");
	assert_int_equal(strncmp(s, "ok\nmessages:       2\nrecipients:     4\n", 39), 0);
	assert_non_null(strstr(s, "  deferred      1\n"));
	assert_non_null(strstr(s, "  delivered     2\n"));
	assert_non_null(strstr(s, "mean batch:     1.50\n"));
	free(s);
	s = ask(f, "stats --json\n");
	assert_non_null(strstr(s, "\"states\":{\"pending\":1,\"deferred\":1,\"held\":0,"
	                          "\"delivered\":2,\"failed\":0}"));
	free(s);
	/* The metrics, as the endpoint serves them (queue_admin_prometheus). */
	s = ask(f, "stats --prometheus\n");
	assert_string_equal(s, "ok\n# HELP raven_x X\n# TYPE raven_x counter\nraven_x 6\n");
	free(s);
	s = ask(f, "stats --prometheus --json\n");
	assert_string_equal(s, "error: --json and --prometheus exclude each other\n");
	free(s);
}

static void test_status(void **state)
{
	struct fx *f = *state;
	f->q.counters.started = (uint64_t)time(NULL) - 7200;
	char *s = ask(f, "status\n");
	assert_string_equal(s,
	                    "ok\n"
	                    "ravend 9.8.7 (git \\x1B[1m): up, pid 100\n"
	                    "hostname:   mx.example.org\n"
	                    "roles:      queue (pid 101, up 2h), smtp 1, local 1\n"
	                    "listeners:  127.0.0.1:2525, [::1]:2525, 127.0.0.1:2587 (submission)\n"
	                    "queue:      2 messages, 4 recipients (1 pending, 1 deferred, 2 "
	                    "delivered); 0 deliveries in flight\n");
	free(s);
	s = ask(f, "status --json\n");
	assert_non_null(strstr(s,
	                       "ok\n{\"version\":\"9.8.7 (git \\u001b[1m)\","
	                       "\"hostname\":\"mx.example.org\",\"pid\":100,\"queue_pid\":101,"));
	assert_non_null(strstr(s,
	                       "\"roles\":{\"queue\":1,\"smtp\":1,\"local\":1,\"relay\":0},"
	                       "\"listeners\":[{\"address\":\"127.0.0.1\",\"port\":2525,"
	                       "\"submission\":false},{\"address\":\"::1\",\"port\":2525,"
	                       "\"submission\":false},{\"address\":\"127.0.0.1\",\"port\":2587,"
	                       "\"submission\":true}],\"queue\":{\"messages\":2,\"recipients\":4,"
	                       "\"states\":{\"pending\":1,\"deferred\":1,\"held\":0,"
	                       "\"delivered\":2,\"failed\":0},\"jobs_in_flight\":0}}\n"));
	free(s);
	expect(f, "status 0000000000000001\n", "error: this command takes no argument\n");
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	int calls = f->q.calls;
	expect(f, "frob\n", "error: unknown command\n");
	expect(f, "queue extra\n", "error: this command takes no argument\n");
	expect(f, "\n", "error: empty request\n");
	char *big = xmalloc(3000);
	memset(big, 'a', 3000);
	char *s = ask_step(f, big, 3000, 3000);
	assert_string_equal(s, "error: request too long\n");
	free(s);
	free(big);
	/* trailing bytes after the request line are ignored */
	expect(f, "flush\nqueue\n", "ok\nflushed all messages\n");
	assert_int_equal(f->q.calls, calls + 1);
	/* a client that leaves early does not disturb the server */
	int fd = client_connect(f);
	step(f);
	close(fd);
	step(f);
	expect(f, "hold 0000000000000001\n", "ok\nheld 0000000000000001\n");
}

/* reload waits for the parent's answer, whatever it is, and relays it. */
static void test_reload(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint32_t error;
		const char *reason, *want;
	} cases[] = {
	    {0, "", "ok\nreloaded\n"},
	    {EINVAL, "/etc/raven.conf:3: unknown table <x>",
	     "error: /etc/raven.conf:3: unknown table <x>\n"},
	    {EINVAL, "two\nlines", "error: two\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = client_connect(f);
		assert_int_equal(send(fd, "reload\n", 7, MSG_NOSIGNAL), 7);
		uint64_t before = f->q.reload_req;
		for (int k = 0; k < 50 && f->q.reload_req == before; k++) {
			step(f);
			usleep(1000);
		}
		assert_true(f->q.reload_req > before);
		/* An answer to another request reaches nobody. */
		control_reload_done(f->c, f->q.reload_req + 100, 0, "");
		control_reload_done(f->c, f->q.reload_req, cases[i].error, cases[i].reason);
		char *got = read_all(f, fd, 5);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	f->q.parent_gone = 1;
	expect(f, "reload\n", "error: cannot reach ravend's parent process\n");
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	control_set_timeout(f->c, 1);
	int fd = client_connect(f);
	assert_int_equal(send(fd, "que", 3, 0), 3);
	double t0 = now_s();
	char *s = read_all(f, fd, 5);
	assert_string_equal(s, "error: timeout\n");
	assert_true(now_s() - t0 >= 0.9);
	free(s);
	/* a client that never reads its (large) answer is dropped */
	for (int i = 0; i < 3000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%016X", 0x100 + i);
		add_msg(f, id, RCPT_PENDING);
	}
	fd = client_connect(f);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(send(fd, "queue\n", 6, 0), 6);
	/* not reading for longer than the timeout */
	t0 = now_s();
	while (now_s() - t0 < 2.5) {
		step(f);
		usleep(2000);
	}
	/* the server has given up: reading now ends with EOF well before the
	 * answer is complete */
	s = read_all(f, fd, 3);
	assert_null(strstr(s, "-- 3002 messages"));
	free(s);
	/* and the server is still serving */
	control_set_timeout(f->c, 10);
	s = ask(f, "queue\n");
	assert_non_null(strstr(s, "-- 3002 messages, 6004 recipients\n"));
	free(s);
}

/* A large answer goes out through many partial non-blocking writes. */
static void test_large_answer(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 5000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%016X", 0x1000 + i);
		add_msg(f, id, RCPT_DEFERRED);
	}
	char *s = ask(f, "queue --json\n");
	assert_true(strlen(s) > 1000000);
	assert_non_null(strstr(s, "\"total\":{\"messages\":5002,\"recipients\":10004}}\n"));
	free(s);
}

static void test_connection_cap(void **state)
{
	struct fx *f = *state;
	int fds[CONTROL_MAX_CONNS];
	for (int i = 0; i < CONTROL_MAX_CONNS; i++) {
		fds[i] = client_connect(f);
		step(f);
	}
	char *s = read_all(f, client_connect(f), 2);
	assert_string_equal(s, "error: too many control connections\n");
	free(s);
	for (int i = 0; i < CONTROL_MAX_CONNS; i++)
		close(fds[i]);
	for (int i = 0; i < 5; i++)
		step(f);
	expect(f, "flush\n", "ok\nflushed all messages\n");
}

/* Only root and the allowed uid get an answer. */
static void test_permission(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0) {
		/* Not root: make our own uid the stranger. */
		char err[256];
		control_free(f->c);
		f->c = control_new(f->base, f->path, geteuid() + 1, &f->q, err, sizeof(err));
		assert_non_null(f->c);
		expect(f, "queue\n", "error: permission denied\n");
		return;
	}
	/* Root: a child that becomes nobody. The socket is opened up so that the
	 * filesystem lets it connect and SO_PEERCRED is what refuses it. */
	assert_int_equal(chmod(f->path, 0666), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(3);
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			_exit(4);
		if (send(fd, "queue\n", 6, 0) != 6)
			_exit(5);
		char b[256];
		size_t len = 0;
		ssize_t n;
		while (len < sizeof(b) - 1 && (n = recv(fd, b + len, sizeof(b) - 1 - len, 0)) > 0)
			len += (size_t)n;
		b[len] = '\0';
		_exit(strcmp(b, "error: permission denied\n") == 0 ? 0 : 6);
	}
	int status = 0;
	double end = now_s() + 10;
	while (waitpid(pid, &status, WNOHANG) == 0 && now_s() < end) {
		step(f);
		usleep(1000);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* root itself is still served */
	expect(f, "hold 0000000000000002\n", "ok\nheld 0000000000000002\n");
}

static void test_stale_socket(void **state)
{
	(void)state;
	char *dir = unit_tmpdir(), err[256];
	char *path = xasprintf("%s/s.sock", dir);
	struct event_base *base = event_base_new();
	struct queue_role q = {0};
	/* a socket file left by a crashed process */
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	struct control *c = control_new(base, path, 0, &q, err, sizeof(err));
	assert_non_null(c);
	control_free(c);
	assert_int_equal(access(path, F_OK), -1); /* removed on free */
	/* anything else is left alone */
	FILE *fp = fopen(path, "w");
	fclose(fp);
	assert_null(control_new(base, path, 0, &q, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(path, F_OK), 0);
	/* a path that does not fit sun_path */
	char *longp = xmalloc(200);
	memset(longp, 'x', 199);
	longp[0] = '/';
	longp[199] = '\0';
	assert_null(control_new(base, longp, 0, &q, err, sizeof(err)));
	assert_non_null(strstr(err, "too long"));
	free(longp);
	event_base_free(base);
	unit_rmtree(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bytewise, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_show, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_permission, setup, teardown),
	    cmocka_unit_test(test_stale_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
