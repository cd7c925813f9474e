/*
 * The queue role's logic in process, with a fake clock: this test is its
 * parent (it hands over peers), its smtp peer (it commits messages) and
 * its local delivery peer (it answers delivery requests as it likes), and
 * moves time instead of waiting for it — retries, expiry, notices, and the
 * sweep that sends a failure notice which could not be sent at first.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "mailparams.h"
#include "metrics.h"
#include "proto.h"
#include "queue_int.h"
#include "queue_role.h"
#include "spool.h"
#include "unit_util.h"
#include "xmalloc.h"

#define T0 1800000000

struct fixture {
	char *dir;
	char *spool;
	struct config *conf;
	struct event_base *base;
	struct queue_role *q;
	int parent; /* our end of the queue's parent channel */
	int smtp;   /* our end of an smtp peer */
	int local;  /* our end of a local peer */
	int64_t now;
	struct sync_gate *gate; /* NULL: the spool's real syncs */
};

/* Syncs that wait while the gate is closed: a wave held in flight, as
 * behind a saturated device. */
struct sync_gate {
	pthread_mutex_t mu;
	pthread_cond_t open;
	int closed;
	unsigned calls; /* syncs begun */
};

static void gate_pass(struct sync_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->calls++;
	while (g->closed)
		pthread_cond_wait(&g->open, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static int gated_fdatasync(void *arg, int fd)
{
	gate_pass(arg);
	return fdatasync(fd);
}

static int gated_fsync(void *arg, int fd)
{
	gate_pass(arg);
	return fsync(fd);
}

static void gate_set(struct sync_gate *g, int closed)
{
	pthread_mutex_lock(&g->mu);
	g->closed = closed;
	pthread_cond_broadcast(&g->open);
	pthread_mutex_unlock(&g->mu);
}

static unsigned gate_calls(struct sync_gate *g)
{
	pthread_mutex_lock(&g->mu);
	unsigned n = g->calls;
	pthread_mutex_unlock(&g->mu);
	return n;
}

static int64_t fake_now(void *arg)
{
	return ((struct fixture *)arg)->now;
}

static uint64_t fake_mono(void *arg)
{
	/* Far from any commit: deliveries are never held back for a burst. */
	return (uint64_t)((struct fixture *)arg)->now * 1000000u;
}

/* Run the queue's loop until nothing moves. */
static void settle(struct fixture *f)
{
	for (int i = 0; i < 50; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* One frame from sock, running the loop while waiting (bounded: 10 s and
 * more, for a commit sync on a busy disk). */
static int next_frame(struct fixture *f, int sock, uint32_t *type, uint8_t **p, size_t *len,
                      int *fd)
{
	for (int i = 0; i < 20000; i++) {
		char c;
		if (recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
			return ipc_read_frame(sock, type, p, len, fd);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(500);
	}
	return -1;
}

static int hand_peer(struct fixture *f, uint32_t kind)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	struct buf b;
	buf_init(&b, 0);
	proto_encode_peer(&b, kind);
	assert_int_equal(ipc_write_frame(f->parent, PROTO_NEW_PEER, b.data, b.len, sp[1]), 0);
	buf_free(&b);
	close(sp[1]);
	settle(f);
	return sp[0];
}

/* The fixture under the test configuration plus the lines more; gated:
 * the spool's syncs pass through a sync_gate. */
static int setup_full(void **state, const char *more, int gated)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct spool_ops ops = {.fdatasync = gated_fdatasync, .fsync = gated_fsync};
	if (gated) {
		f->gate = xcalloc(1, sizeof(*f->gate));
		pthread_mutex_init(&f->gate->mu, NULL);
		pthread_cond_init(&f->gate->open, NULL);
		ops.arg = f->gate;
	}
	f->dir = unit_tmpdir();
	f->spool = xasprintf("%s/queue", f->dir);
	char *text = xasprintf("hostname \"mx.test\"\n"
	                       "data \"%s\"\n"
	                       "listen on 127.0.0.1 port 2\n"
	                       "table users { \"alice\", \"bob\" }\n"
	                       "action \"mbox\" maildir \"%s/mail/%%{user}\" users <users>\n"
	                       "action \"store\" lmtp \"/run/x/lmtp\" users <users>\n"
	                       "match from any for domain \"example.org\" action \"mbox\"\n"
	                       "match from any for domain \"lmtp.example\" action \"store\"\n"
	                       "queue retry-min 60 retry-max 3600 lifetime 1h\n%s",
	                       f->dir, f->dir, more);
	char err[256];
	f->conf = conf_parse_string("q.conf", text, strlen(text), err, sizeof(err));
	free(text);
	if (f->conf == NULL)
		fail_msg("config: %s", err);
	f->base = event_base_new();
	f->now = T0;
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	f->parent = sp[0];
	struct queue_role_opts o = {.conf = f->conf,
	                            .base = f->base,
	                            .parent_sock = sp[1],
	                            .spool_dir = f->spool,
	                            .control_fd = -1,
	                            .now = fake_now,
	                            .mono_usec = fake_mono,
	                            .clock_arg = f,
	                            .spool_ops = gated ? &ops : NULL};
	f->q = queue_role_new(&o, err, sizeof(err));
	if (f->q == NULL)
		fail_msg("queue: %s", err);
	f->smtp = hand_peer(f, PEER_SMTP);
	f->local = hand_peer(f, PEER_LOCAL);
	*state = f;
	return 0;
}

static int setup_with(void **state, const char *more)
{
	return setup_full(state, more, 0);
}

static int setup(void **state)
{
	return setup_with(state, "");
}

static int setup_gated(void **state)
{
	return setup_full(state, "", 1);
}

/* With a signing key (never read: the signer role is this test). */
static int setup_signing(void **state)
{
	return setup_with(state, "dkim sign domain \"example.org\" selector \"s1\" key "
	                         "\"/nonexistent/s1.key\"\n");
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->gate)
		gate_set(f->gate, 0); /* a failed test may leave syncs held */
	queue_role_free(f->q);
	close(f->parent);
	close(f->smtp);
	close(f->local);
	event_base_free(f->base);
	conf_free(f->conf);
	unit_rmtree(f->dir);
	if (f->gate) {
		pthread_cond_destroy(&f->gate->open);
		pthread_mutex_destroy(&f->gate->mu);
		free(f->gate);
	}
	free(f->dir);
	free(f->spool);
	free(f);
	return 0;
}

/* NEW, the data and COMMIT (as request req) of a message from sender to
 * one recipient; its id goes to id. The commit's answer is not awaited. */
static void commit_send(struct fixture *f, uint64_t req, const char *sender,
                        const struct envelope_draft_rcpt *rc, char *id, size_t idlen)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, req);
	assert_int_equal(ipc_write_frame(f->smtp, PROTO_NEW_REQ, b.data, b.len, -1), 0);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, f->smtp, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_NEW_OK);
	struct proto_reply r;
	assert_int_equal(proto_decode_new_ok(p, len, &r), 0);
	snprintf(id, idlen, "%s", r.id);
	proto_reply_free(&r);
	free(p);
	const char *msg = "Subject: test\r\n\r\nhello\r\n";
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	close(fd);
	struct envelope_draft d = {.arrival = f->now,
	                           .size = strlen(msg),
	                           .data_crc = crc32c_update(0, msg, strlen(msg)),
	                           .has_data_crc = 1,
	                           .sender = sender,
	                           .helo = "h",
	                           .client = "127.0.0.1",
	                           .n_rcpts = 1,
	                           .rcpts = rc};
	snprintf(d.id, sizeof(d.id), "%s", id);
	buf_reset(&b);
	assert_int_equal(proto_encode_commit(&b, req, &d), 0);
	assert_int_equal(ipc_write_frame(f->smtp, PROTO_COMMIT_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
}

/* The next answer to the smtp peer is a COMMIT_OK: its request number. */
static uint64_t expect_commit_ok(struct fixture *f)
{
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, f->smtp, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_COMMIT_OK);
	uint64_t req;
	assert_int_equal(proto_decode_req(p, len, &req), 0);
	free(p);
	return req;
}

/* Commit a message from sender to one recipient; its id goes to id. */
static void commit_to(struct fixture *f, const char *sender, const struct envelope_draft_rcpt *rc,
                      char *id, size_t idlen)
{
	commit_send(f, 2, sender, rc, id, idlen);
	assert_int_equal(expect_commit_ok(f), 2);
}

/* A message to alice@example.org as request req, not awaited. */
static void commit_async(struct fixture *f, uint64_t req)
{
	struct envelope_draft_rcpt rc = {"alice@example.org", NULL, 0, "mbox", "alice"};
	char id[ENVELOPE_ID_MAX + 1];
	commit_send(f, req, "s@remote.test", &rc, id, sizeof(id));
}

/* Run the loop for about ms milliseconds of real time (timers fire). */
static void pump(struct fixture *f, int ms)
{
	for (int i = 0; i < ms; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* Until the gate has seen calls syncs begin (bounded). */
static void wait_calls(struct fixture *f, unsigned calls)
{
	for (int i = 0; i < 2000 && gate_calls(f->gate) < calls; i++)
		pump(f, 1);
	assert_int_equal(gate_calls(f->gate), calls);
}

/* A one-message wave: its two files and two directories. */
#define WAVE_SYNCS 4

/*
 * Group commit keeps one wave in flight while waves are quick; a wave
 * still in flight after COMMIT_OVERLAP_US (a saturated device) no longer
 * holds back the next batch, up to COMMIT_MAX_WAVES at once; every
 * commit is answered once its own wave is over.
 */
static void test_slow_wave_overlapped(void **state)
{
	struct fixture *f = *state;
	gate_set(f->gate, 1);
	commit_async(f, 10);
	wait_calls(f, WAVE_SYNCS);
	assert_int_equal(f->q->syncing, 1);
	/* a young wave: the next commit waits for it */
	commit_async(f, 11);
	pump(f, 40);
	assert_int_equal(gate_calls(f->gate), WAVE_SYNCS);
	assert_int_equal(f->q->n_batch, 1);
	/* the wave grows old (the clock moves a second): the batch starts */
	f->now++;
	wait_calls(f, 2 * WAVE_SYNCS);
	assert_int_equal(f->q->syncing, 2);
	assert_int_equal(f->q->n_batch, 0);
	/* up to four waves at once, then the fifth batch waits */
	for (uint64_t req = 12; req < 14; req++) {
		commit_async(f, req);
		f->now++;
		wait_calls(f, (unsigned)(req - 9) * WAVE_SYNCS);
	}
	assert_int_equal(f->q->syncing, 4);
	commit_async(f, 14);
	f->now++;
	pump(f, 40);
	assert_int_equal(f->q->syncing, 4);
	assert_int_equal(f->q->n_batch, 1);
	/* nothing was answered before its wave was over */
	char c;
	assert_int_equal(recv(f->smtp, &c, 1, MSG_PEEK | MSG_DONTWAIT), -1);
	/* the device catches up: every commit is answered, each once */
	gate_set(f->gate, 0);
	int seen[5] = {0};
	for (int i = 0; i < 5; i++) {
		uint64_t req = expect_commit_ok(f);
		assert_true(req >= 10 && req < 15);
		seen[req - 10]++;
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(f->q->syncing, 0);
	assert_int_equal(f->q->counters.committed, 5);
}

/* ... to alice@example.org, a Maildir. */
static void commit_one(struct fixture *f, const char *sender, char *id, size_t idlen)
{
	struct envelope_draft_rcpt rc = {"alice@example.org", NULL, 0, "mbox", "alice"};
	commit_to(f, sender, &rc, id, idlen);
}

/* Take the next delivery request (for id). */
static void take_delivery(struct fixture *f, const char *id, struct proto_deliver *d)
{
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, f->local, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_DELIVER_REQ);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(proto_decode_deliver(p, len, d), 0);
	free(p);
	assert_string_equal(d->id, id);
}

/* Answer a delivery request with status and text, as the peer at sock. */
static void send_result_on(struct fixture *f, int sock, struct proto_deliver *d, uint8_t status,
                           const char *text)
{
	uint8_t st[1] = {status};
	char *tx[1] = {(char *)text};
	struct proto_result res = {.job = d->job, .n = 1, .idx = d->idx, .status = st, .text = tx};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_result(&b, &res);
	assert_int_equal(ipc_write_frame(sock, PROTO_DELIVER_RES, b.data, b.len, -1), 0);
	buf_free(&b);
	proto_deliver_free(d);
	settle(f);
}

static void send_result(struct fixture *f, struct proto_deliver *d, uint8_t status,
                        const char *text)
{
	send_result_on(f, f->local, d, status, text);
}

static void answer_delivery(struct fixture *f, const char *id, uint8_t status, const char *text)
{
	struct proto_deliver d;
	take_delivery(f, id, &d);
	send_result(f, &d, status, text);
}

static int no_frame(int sock)
{
	char c;
	return recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) == -1 && errno == EAGAIN;
}

/* Deferrals follow the fake clock: nothing before the backoff, a retry at it. */
static void test_retry_on_the_clock(void **state)
{
	struct fixture *f = *state;
	char id[64];
	commit_one(f, "s@example.org", id, sizeof(id));
	answer_delivery(f, id, DELIVER_TEMP, "4.2.0 try later");
	struct sched_msg *m = sched_find(f->q->sched, id);
	assert_non_null(m);
	assert_int_equal(m->env.rcpts[0].state, RCPT_DEFERRED);
	int64_t due = m->env.rcpts[0].next_try;
	assert_true(due >= T0 + 54 && due <= T0 + 66); /* 60 s, +-10% */
	f->now = due - 1;
	queue_schedule(f->q);
	settle(f);
	assert_true(no_frame(f->local));
	f->now = due;
	queue_schedule(f->q);
	answer_delivery(f, id, DELIVER_OK, "2.0.0 ok");
	assert_null(sched_find(f->q->sched, id)); /* delivered and removed */
}

/* A message whose lifetime passes fails, and its sender gets a notice. */
static void test_expiry_sends_a_notice(void **state)
{
	struct fixture *f = *state;
	char id[64];
	commit_one(f, "bob@example.org", id, sizeof(id));
	answer_delivery(f, id, DELIVER_TEMP, "4.2.0 try later");
	f->now = T0 + 3601 + 1;
	queue_schedule(f->q);
	answer_delivery(f, id, DELIVER_TEMP, "4.2.0 still not");
	assert_null(sched_find(f->q->sched, id)); /* final: removed */
	/* the notice to bob, a local mailbox, is the next delivery */
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, f->local, &type, &p, &len, &fd), 0);
	struct proto_deliver d;
	assert_int_equal(proto_decode_deliver(p, len, &d), 0);
	assert_string_equal(d.sender, "");
	assert_string_equal(d.user[0], "bob");
	char report[8192] = "";
	ssize_t n = pread(fd, report, sizeof(report) - 1, 0);
	assert_true(n > 0);
	assert_non_null(strstr(report, "Action: failed"));
	assert_non_null(strstr(report, "Status: 4.4.7"));
	close(fd);
	free(p);
	proto_deliver_free(&d);
}

/*
 * A failure notice that cannot be built at first (here: the message's data
 * is out of reach at that moment) is owed: the message stays, and the
 * sweep sends it once it can, then lets the message go.
 */
static void test_owed_notice_sweep(void **state)
{
	struct fixture *f = *state;
	char id[64];
	commit_one(f, "bob@example.org", id, sizeof(id));
	char *data = xasprintf("%s/data/%s", f->spool, id);
	char *aside = xasprintf("%s/aside", f->dir);
	struct proto_deliver req;
	take_delivery(f, id, &req);
	assert_int_equal(rename(data, aside), 0);
	send_result(f, &req, DELIVER_PERM, "5.2.0 mailbox broken");
	struct sched_msg *m = sched_find(f->q->sched, id);
	assert_non_null(m); /* failed, but its notice is owed */
	assert_int_equal(m->env.rcpts[0].state, RCPT_FAILED);
	assert_true(queue_dsn_owed(m));
	queue_dsn_sweep(f->q); /* still out of reach: still owed */
	assert_non_null(sched_find(f->q->sched, id));
	assert_int_equal(rename(aside, data), 0);
	queue_dsn_sweep(f->q);
	assert_null(sched_find(f->q->sched, id));
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, f->local, &type, &p, &len, &fd), 0);
	struct proto_deliver d;
	assert_int_equal(proto_decode_deliver(p, len, &d), 0);
	assert_string_equal(d.sender, "");
	assert_string_equal(d.user[0], "bob");
	close(fd);
	free(p);
	proto_deliver_free(&d);
	free(data);
	free(aside);
}

/* A local peer that answers for a job it was not given is dropped, and the
 * job it really had is retried once a new peer comes. */
static void test_lying_peer_dropped(void **state)
{
	struct fixture *f = *state;
	char id[64];
	commit_one(f, "s@example.org", id, sizeof(id));
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, f->local, &type, &p, &len, &fd), 0);
	close(fd);
	struct proto_deliver d;
	assert_int_equal(proto_decode_deliver(p, len, &d), 0);
	free(p);
	uint8_t st[1] = {DELIVER_OK};
	char *tx[1] = {"2.0.0 ok"};
	struct proto_result res = {
	    .job = d.job + 1000, .n = 1, .idx = d.idx, .status = st, .text = tx};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_result(&b, &res);
	assert_int_equal(ipc_write_frame(f->local, PROTO_DELIVER_RES, b.data, b.len, -1), 0);
	buf_free(&b);
	proto_deliver_free(&d);
	settle(f);
	char c;
	assert_int_equal(recv(f->local, &c, 1, MSG_DONTWAIT), 0); /* closed on us */
	struct sched_msg *m = sched_find(f->q->sched, id);
	assert_non_null(m);
	assert_int_equal(m->env.rcpts[0].state, RCPT_DEFERRED); /* not delivered */
	close(f->local);
	f->local = hand_peer(f, PEER_LOCAL);
	f->now = m->env.rcpts[0].next_try;
	queue_schedule(f->q);
	answer_delivery(f, id, DELIVER_OK, "2.0.0 ok");
	assert_null(sched_find(f->q->sched, id));
}

static void auth_req(int sock, uint64_t req, const char *login, const char *password)
{
	struct proto_auth_req a = {req, "192.0.2.1", (char *)login, (char *)password};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_req(&b, &a);
	assert_int_equal(ipc_write_frame(sock, PROTO_AUTH_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
}

static void auth_res(int sock, uint64_t req, uint8_t status, const char *login)
{
	struct proto_auth_res r = {req, status, (char *)login};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_res(&b, &r);
	assert_int_equal(ipc_write_frame(sock, PROTO_AUTH_RES, b.data, b.len, -1), 0);
	buf_free(&b);
}

static void expect_res(struct fixture *f, int sock, uint64_t req, uint8_t status, const char *login)
{
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, sock, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_AUTH_RES);
	assert_int_equal(fd, -1);
	struct proto_auth_res r;
	assert_int_equal(proto_decode_auth_res(p, len, &r), 0);
	assert_int_equal(r.req, req);
	assert_int_equal(r.status, status);
	assert_string_equal(r.login, login);
	proto_auth_res_free(&r);
	free(p);
}

/* The question as the auth role receives it; its (queue) number. */
static uint64_t expect_req(struct fixture *f, int sock, const char *login, const char *password)
{
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, sock, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_AUTH_REQ);
	struct proto_auth_req a;
	assert_int_equal(proto_decode_auth_req(p, len, &a), 0);
	assert_string_equal(a.client, "192.0.2.1");
	assert_string_equal(a.login, login);
	assert_string_equal(a.password, password);
	uint64_t q = a.req;
	proto_auth_req_free(&a);
	free(p);
	return q;
}

static int closed(struct fixture *f, int sock)
{
	for (int i = 0; i < 200; i++) {
		char c;
		ssize_t r = recv(sock, &c, 1, MSG_DONTWAIT);
		if (r == 0)
			return 1;
		settle(f);
		usleep(1000);
	}
	return 0;
}

/*
 * AUTH questions through the hub: answered AUTH_TEMP without an auth role;
 * forwarded under the queue's own number and answered under smtp's; an
 * auth role that answers what it was not asked is dropped (the queue and
 * smtp go on); one that dies leaves its questions answered AUTH_TEMP; a
 * malformed question drops the smtp peer that sent it.
 */
static void test_auth_forwarding(void **state)
{
	struct fixture *f = *state;
	auth_req(f->smtp, 7, "alice", "pw");
	expect_res(f, f->smtp, 7, AUTH_TEMP, "");

	int auth = hand_peer(f, PEER_AUTH);
	auth_req(f->smtp, 8, "alice", "pw");
	uint64_t q = expect_req(f, auth, "alice", "pw");
	auth_req(f->smtp, 9, "bob", "guess");
	uint64_t q2 = expect_req(f, auth, "bob", "guess");
	assert_true(q != q2);
	auth_res(auth, q2, AUTH_FAIL, "");
	auth_res(auth, q, AUTH_OK, "alice");
	expect_res(f, f->smtp, 9, AUTH_FAIL, "");
	expect_res(f, f->smtp, 8, AUTH_OK, "alice");

	/* an answer to nothing: that peer is cut off, nobody else */
	auth_res(auth, q + 1000, AUTH_OK, "alice");
	assert_true(closed(f, auth));
	close(auth);
	auth_req(f->smtp, 10, "alice", "pw");
	expect_res(f, f->smtp, 10, AUTH_TEMP, "");

	/* an auth role that dies with questions pending */
	auth = hand_peer(f, PEER_AUTH);
	auth_req(f->smtp, 11, "alice", "pw");
	auth_req(f->smtp, 12, "carol", "pw");
	expect_req(f, auth, "alice", "pw");
	expect_req(f, auth, "carol", "pw");
	close(auth);
	uint64_t seen = 0;
	for (int i = 0; i < 2; i++) {
		uint32_t type;
		uint8_t *p;
		size_t len;
		int fd;
		struct proto_auth_res r;
		assert_int_equal(next_frame(f, f->smtp, &type, &p, &len, &fd), 0);
		assert_int_equal(type, PROTO_AUTH_RES);
		assert_int_equal(proto_decode_auth_res(p, len, &r), 0);
		assert_int_equal(r.status, AUTH_TEMP);
		seen |= (uint64_t)1 << r.req; /* in any order */
		proto_auth_res_free(&r);
		free(p);
	}
	assert_int_equal(seen, (1u << 11) | (1u << 12));

	/* an smtp peer that goes before the answer: the answer goes nowhere */
	auth = hand_peer(f, PEER_AUTH);
	int smtp2 = hand_peer(f, PEER_SMTP);
	auth_req(smtp2, 1, "alice", "pw");
	q = expect_req(f, auth, "alice", "pw");
	close(smtp2);
	settle(f);
	auth_res(auth, q, AUTH_OK, "alice");
	settle(f);
	auth_req(f->smtp, 13, "alice", "pw"); /* the hub still works */
	q = expect_req(f, auth, "alice", "pw");
	auth_res(auth, q, AUTH_OK, "alice");
	expect_res(f, f->smtp, 13, AUTH_OK, "alice");

	/* a malformed question (empty password) from smtp: smtp is dropped */
	auth_req(f->smtp, 14, "alice", "");
	assert_true(closed(f, f->smtp));
	/* and the auth peer may not ask questions itself */
	auth_req(auth, 1, "alice", "pw");
	assert_true(closed(f, auth));
	close(auth);
}

/* The next frame on sock, which must be of type want; its payload (to
 * free) and length, and its descriptor in *fd (-1 if none). */
static uint8_t *take_frame(struct fixture *f, int sock, uint32_t want, size_t *len, int *fd)
{
	uint32_t type;
	uint8_t *p;
	assert_int_equal(next_frame(f, sock, &type, &p, len, fd), 0);
	assert_int_equal(type, want);
	return p;
}

static void dns_req(int sock, uint64_t req, const char *name)
{
	struct proto_dns_req q = {req, 16, (char *)name};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_req(&b, &q);
	assert_int_equal(ipc_write_frame(sock, PROTO_DNS_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
}

/* The next frame on sock is a DNS_RES for req; its status if it is no
 * reply (0 if it is one). */
static int expect_dns_res(struct fixture *f, int sock, uint64_t req)
{
	size_t len;
	int fd;
	uint8_t *p = take_frame(f, sock, PROTO_DNS_RES, &len, &fd);
	assert_int_equal(fd, -1);
	struct proto_dns_res r;
	assert_int_equal(proto_decode_dns_res(p, len, &r), 0);
	assert_int_equal(r.req, req);
	int status = r.answered ? 0 : r.status;
	proto_dns_res_free(&r);
	free(p);
	return status;
}

/* DNS_TEMPFAIL of dns_rdata.h: what the checks treat as a temporary error. */
#define DNS_TEMPFAIL 3

/*
 * The resolver role runs only when sender checks are configured; a DNS
 * question that finds none (a reload just turned the checks off, or it is
 * restarting) is answered at once with a temporary failure under smtp's
 * number, never left waiting. With one it is forwarded; one that dies with
 * questions pending leaves them answered the same way.
 */
static void test_dns_without_resolver(void **state)
{
	struct fixture *f = *state;
	dns_req(f->smtp, 7, "example.org");
	assert_int_equal(expect_dns_res(f, f->smtp, 7), DNS_TEMPFAIL);

	int dns = hand_peer(f, PEER_DNS);
	dns_req(f->smtp, 8, "example.org");
	size_t len;
	int fd;
	uint8_t *p = take_frame(f, dns, PROTO_DNS_REQ, &len, &fd);
	struct proto_dns_req q;
	assert_int_equal(proto_decode_dns_req(p, len, &q), 0);
	assert_string_equal(q.name, "example.org");
	proto_dns_req_free(&q);
	free(p);
	close(dns);
	assert_int_equal(expect_dns_res(f, f->smtp, 8), DNS_TEMPFAIL);
	dns_req(f->smtp, 9, "example.org"); /* and again without one */
	assert_int_equal(expect_dns_res(f, f->smtp, 9), DNS_TEMPFAIL);
}

/*
 * With `dkim sign`, nothing is relayed unsigned: while no signer role is
 * connected the relay transport waits (no attempt counted, no failure);
 * once one comes, the message goes to it first, and one that goes away
 * with the question fails the job temporarily and pauses the transport
 * again.
 */
static void test_relay_waits_for_signer(void **state)
{
	struct fixture *f = *state;
	char id[64];
	struct envelope_draft_rcpt rc = {"alice@lmtp.example", NULL, 0, "store", "alice"};
	commit_to(f, "bob@example.org", &rc, id, sizeof(id));
	int relay = hand_peer(f, PEER_RELAY);
	settle(f);
	assert_true(no_frame(relay));
	struct sched_msg *m = sched_find(f->q->sched, id);
	assert_int_equal(m->env.rcpts[0].attempts, 0); /* waiting, not failing */

	int signer = hand_peer(f, PEER_DKIM);
	size_t len;
	int fd;
	uint8_t *p = take_frame(f, signer, PROTO_SIGN_REQ, &len, &fd);
	assert_true(fd >= 0); /* the spooled data, to sign */
	close(fd);
	struct proto_sign_req q;
	assert_int_equal(proto_decode_sign_req(p, len, &q), 0);
	assert_string_equal(q.id, id);
	proto_sign_req_free(&q);
	free(p);
	assert_true(no_frame(relay)); /* not before the signature */
	close(signer);
	settle(f);
	assert_int_equal(m->env.rcpts[0].state, RCPT_DEFERRED);
	f->now = m->env.rcpts[0].next_try;
	queue_schedule(f->q);
	settle(f);
	assert_true(no_frame(relay)); /* paused again: no signer */
	close(relay);
}

/*
 * An lmtp action's recipients go to the relay role (the LMTP transport),
 * never to local delivery; they wait while no relay is connected; a
 * success is the final delivery's, so NOTIFY=SUCCESS gets "delivered".
 */
static void test_lmtp_transport(void **state)
{
	struct fixture *f = *state;
	char id[64];
	struct envelope_draft_rcpt rc = {"Alice@lmtp.example", NULL, NOTIFY_SUCCESS, "store",
	                                 "alice"};
	commit_to(f, "bob@example.org", &rc, id, sizeof(id));
	settle(f);
	assert_true(no_frame(f->local));
	struct sched_msg *m = sched_find(f->q->sched, id);
	assert_int_equal(m->env.rcpts[0].attempts, 0); /* waiting, not failing */
	int relay = hand_peer(f, PEER_RELAY);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, relay, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_DELIVER_REQ);
	close(fd);
	struct proto_deliver d;
	assert_int_equal(proto_decode_deliver(p, len, &d), 0);
	free(p);
	assert_string_equal(d.action, "store");
	assert_string_equal(d.user[0], "alice");
	assert_string_equal(d.addr[0], "Alice@lmtp.example");
	send_result_on(f, relay, &d, DELIVER_OK,
	               "2.0.0 host mx.test[/run/x/lmtp] said: 250 2.0.0 <alice> Saved (in reply "
	               "to end of data)");
	assert_null(sched_find(f->q->sched, id));
	/* the success notice to bob, a local mailbox */
	assert_int_equal(next_frame(f, f->local, &type, &p, &len, &fd), 0);
	assert_int_equal(proto_decode_deliver(p, len, &d), 0);
	assert_string_equal(d.user[0], "bob");
	char report[8192] = "";
	ssize_t n = pread(fd, report, sizeof(report) - 1, 0);
	assert_true(n > 0);
	assert_non_null(strstr(report, "Action: delivered"));
	close(fd);
	free(p);
	proto_deliver_free(&d);
	close(relay);
}

/* --- metrics: the queue adds up what the roles count ------------------------ */

static void send_counter(int sock, enum metric_id id, uint64_t v)
{
	struct metric_values mv = {0};
	mv.v[id] = v;
	mv.set[id] = 1;
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_counters(&b, &mv);
	assert_int_equal(ipc_write_frame(sock, PROTO_COUNTERS, b.data, b.len, -1), 0);
	buf_free(&b);
}

/* What the metrics role would get for one request. */
static char *scrape(struct fixture *f, int sock)
{
	static uint64_t req = 100;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, ++req);
	assert_int_equal(ipc_write_frame(sock, PROTO_METRICS_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(next_frame(f, sock, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_METRICS_TEXT);
	uint64_t got;
	const uint8_t *text;
	size_t tlen;
	assert_int_equal(metrics_decode_text(p, len, &got, &text, &tlen), 0);
	assert_int_equal(got, req);
	char *s = xmalloc(tlen + 2);
	s[0] = '\n'; /* so that has() finds the first line too */
	memcpy(s + 1, text, tlen);
	s[tlen + 1] = '\0';
	free(p);
	return s;
}

static void has(const char *text, const char *line)
{
	char *want = xasprintf("\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("missing line: %s\nin:%s", line, text);
	free(want);
}

/*
 * Counters survive the role that counted them; its gauges do not. The
 * queue counts commits, outcomes and latencies itself; a peer reporting
 * what is not its own is dropped; the parent's role starts become restarts.
 */
static void test_metrics(void **state)
{
	struct fixture *f = *state;
	int met = hand_peer(f, PEER_METRICS);
	struct role_starts rs = {.started = T0 - 100, .n = 2};
	strcpy(rs.role[0].name, "queue");
	rs.role[0].starts = 1;
	strcpy(rs.role[1].name, "smtp");
	rs.role[1].starts = 2;
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_starts(&b, &rs);
	assert_int_equal(ipc_write_frame(f->parent, PROTO_ROLE_STARTS, b.data, b.len, -1), 0);
	buf_free(&b);
	send_counter(f->smtp, MET_SMTP_CONN_ACCEPTED, 2);
	send_counter(f->smtp, MET_SMTP_SESSIONS, 3);
	settle(f);
	char id[64], id2[64];
	commit_one(f, "s@example.org", id, sizeof(id));
	answer_delivery(f, id, DELIVER_OK, "2.0.0 ok");
	commit_one(f, "s@example.org", id2, sizeof(id2));
	answer_delivery(f, id2, DELIVER_TEMP, "4.2.0 later");
	char *t = scrape(f, met);
	has(t, "raven_smtp_connections_accepted_total 2");
	has(t, "raven_smtp_connections 3");
	has(t, "raven_deliveries_total{destination=\"local\",outcome=\"delivered\"} 1");
	has(t, "raven_deliveries_total{destination=\"local\",outcome=\"deferred\"} 1");
	has(t, "raven_deliveries_total{destination=\"relay\",outcome=\"delivered\"} 0");
	has(t, "raven_queue_commit_batch_size_count 2");
	has(t, "raven_queue_commit_batch_size_sum 2");
	has(t, "raven_delivery_latency_seconds_bucket{destination=\"local\",le=\"0.005\"} 1");
	has(t, "raven_delivery_latency_seconds_count{destination=\"local\"} 1");
	has(t, "raven_queue_messages_committed_total 2");
	has(t, "raven_queue_messages 1");
	has(t, "raven_queue_recipients{state=\"deferred\"} 1");
	has(t, "raven_role_restarts_total{role=\"smtp\"} 1");
	has(t, "raven_start_time_seconds 1799999900");
	has(t, "raven_uptime_seconds 100");
	has(t, "raven_role_processes{role=\"metrics\"} 1");
	has(t, "raven_role_processes{role=\"smtp\"} 1");
	free(t);

	/* The smtp role restarts: its sessions are gone, its counts are not. */
	close(f->smtp);
	settle(f);
	f->smtp = hand_peer(f, PEER_SMTP);
	send_counter(f->smtp, MET_SMTP_CONN_ACCEPTED, 1);
	send_counter(f->local, MET_LOCAL_SYNCS, 4);
	settle(f);
	t = scrape(f, met);
	has(t, "raven_smtp_connections_accepted_total 3");
	has(t, "raven_smtp_connections 0");
	has(t, "raven_local_syncs_total 4");
	has(t, "raven_queue_peers_dropped_total 0");
	free(t);

	/* Reporting another role's counter, or asking for metrics, is not
	 * smtp's to do: that channel closes; the totals stay. */
	send_counter(f->smtp, MET_LOCAL_SYNCS, 1);
	settle(f);
	char c;
	assert_int_equal(recv(f->smtp, &c, 1, MSG_DONTWAIT), 0);
	close(f->smtp);
	f->smtp = hand_peer(f, PEER_SMTP);
	buf_init(&b, 0);
	proto_encode_req(&b, 1);
	assert_int_equal(ipc_write_frame(f->smtp, PROTO_METRICS_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
	settle(f);
	assert_int_equal(recv(f->smtp, &c, 1, MSG_DONTWAIT), 0);
	t = scrape(f, met);
	has(t, "raven_local_syncs_total 4");
	has(t, "raven_smtp_connections_accepted_total 3");
	has(t, "raven_queue_peers_dropped_total 2");
	free(t);
	/* Nor may the metrics role count. */
	send_counter(met, MET_SMTP_CONN_ACCEPTED, 1);
	settle(f);
	assert_int_equal(recv(met, &c, 1, MSG_DONTWAIT), 0);
	close(met);
}

int main(void)
{
	log_init("test", 0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_retry_on_the_clock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_sends_a_notice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_owed_notice_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lying_peer_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_forwarding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lmtp_transport, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns_without_resolver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_waits_for_signer, setup_signing, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_wave_overlapped, setup_gated, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
