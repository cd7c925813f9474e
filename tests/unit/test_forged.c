/*
 * The live queue and local roles, executed from the built ravend exactly
 * as the parent executes them (ravend -R NAME, channel on fd 3, the
 * configuration in a memfd), driven by this test acting as their peers:
 *
 * - forged frames: recipients whose mailbox, action or owner the
 *   configuration does not give them, a path outside the mailbox base, a
 *   uid-0 owner — each refused and logged, nothing written;
 * - broken peers: malformed, truncated and unexpected frames from one
 *   smtp peer close that peer only; the queue goes on serving the others;
 * - the auth role: credentials checked against the table, an address
 *   locked out after repeated failures, and a malformed or unexpected
 *   frame ends it (its only peer, the queue, is broken).
 *
 * $RAVEND names the binary (meson passes it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "ipc.h"
#include "proto.h"
#include "unit_util.h"
#include "xmalloc.h"

struct world {
	char *dir;  /* the test's root */
	char *data; /* dir/var */
	char *log;  /* the role's stderr */
	int conf_fd;
	uid_t uid; /* the queue's user (the files' owner) when root */
	gid_t gid;
};

static const char *user_or(const char *name, const char *fallback)
{
	return getpwnam(name) ? name : fallback;
}

static void mkdir_owned(const struct world *w, const char *path, mode_t mode, int for_user)
{
	assert_int_equal(mkdir(path, mode), 0);
	if (geteuid() == 0 && for_user)
		assert_int_equal(chown(path, w->uid, w->gid), 0);
}

static void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->dir = unit_tmpdir();
	assert_int_equal(chmod(w->dir, 0755), 0);
	w->data = xasprintf("%s/var", w->dir);
	w->log = xasprintf("%s/role.log", w->dir);
	const char *user = user_or("raven", "nobody");
	const char *net = user_or("raven-net", "daemon");
	struct passwd *pw = getpwnam(user);
	w->uid = geteuid() == 0 ? pw->pw_uid : geteuid();
	w->gid = geteuid() == 0 ? pw->pw_gid : getegid();
	mkdir_owned(w, w->data, 0755, 0);
	char *p = xasprintf("%s/queue", w->data);
	mkdir_owned(w, p, 0700, 1);
	free(p);
	p = xasprintf("%s/mail", w->data);
	mkdir_owned(w, p, 0755, 1);
	free(p);
	p = xasprintf("%s/home", w->dir);
	mkdir_owned(w, p, 0755, 0);
	free(p);
	p = xasprintf("%s/empty", w->data);
	mkdir_owned(w, p, 0755, 0);
	free(p);
	/* alice's password is "secret" (mkpasswd -m sha512crypt) */
	char *passwd = xasprintf("%s/passwd", w->dir);
	FILE *f = fopen(passwd, "w");
	assert_non_null(f);
	fputs("alice:$6$/"
	      "R92UemgyzmXvUYm$HMCXl7BcseArYmw2zbu8jgcR4cWeKiplrGOfl6ONd9A0gWqJXIlQEXDeW376Sh/"
	      "5LuHkloM/5LbpPk.AgNavq/\nweak:abJnggxhB/yWI\n",
	      f);
	assert_int_equal(fclose(f), 0);
	char *text = xasprintf(
	    "hostname \"mx.forged.test\"\n"
	    "data \"%s\"\n"
	    "user \"%s\"\n"
	    "user network \"%s\"\n"
	    "listen on 127.0.0.1 port 2\n"
	    "table users { \"alice\", \"bob\" }\n"
	    "table sysusers { \"root\" }\n"
	    "action \"mailbox\" maildir \"%s/mail/%%{user}\" users <users>\n"
	    "action \"system\" maildir \"%s/home/%%{user}\" owner \"%%{user}\" users <sysusers>\n"
	    "action \"rootbox\" maildir \"%s/home/r-%%{user}\" owner \"root\"\n"
	    "table passwd file \"%s\"\n"
	    "auth users <passwd>\n"
	    "limits auth-failures 3\n"
	    "match from any for domain \"example.org\" action \"mailbox\"\n"
	    "match from any for domain \"sys.example\" action \"system\"\n"
	    "match from any for domain \"root.example\" action \"rootbox\"\n",
	    w->data, user, net, w->data, w->dir, w->dir, passwd);
	free(passwd);
	w->conf_fd = memfd_create("forged.conf", 0);
	assert_true(w->conf_fd >= 0);
	assert_int_equal(write(w->conf_fd, text, strlen(text)), (ssize_t)strlen(text));
	free(text);
}

static void world_free(struct world *w)
{
	close(w->conf_fd);
	unit_rmtree(w->dir);
	free(w->dir);
	free(w->data);
	free(w->log);
}

/* Start ravend -R name with chan on fd 3 and the config on fd 4. */
static pid_t start_role(const struct world *w, const char *name, int chan)
{
	const char *exe = getenv("RAVEND");
	if (exe == NULL)
		fail_msg("RAVEND is not set");
	char ppid[24];
	snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int logfd = open(w->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int c = fcntl(chan, F_DUPFD, 10), m = fcntl(w->conf_fd, F_DUPFD, 10);
		if (logfd == -1 || c == -1 || m == -1 || dup2(logfd, 2) == -1 || dup2(c, 3) == -1 ||
		    dup2(m, 4) == -1)
			_exit(111);
		close_range(5, ~0U, 0);
		/* A role exits with live allocations by design (scripts/test.sh
		 * runs the live ones so too): under ASan, leaks are the unit
		 * tests' business, not a reason for the role to abort. */
		if (getenv("ASAN_OPTIONS") != NULL)
			setenv("ASAN_OPTIONS", "abort_on_error=1:detect_leaks=0", 1);
		execl(exe, name, "-R", name, "-P", ppid, "-C", "4", "-N", "forged.conf",
		      (char *)NULL);
		_exit(111);
	}
	return pid;
}

static void stop_role(pid_t pid)
{
	kill(pid, SIGTERM);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static int alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/* Read one frame within 10 s; -1 on EOF or timeout. */
static int read_frame(int sock, uint32_t *type, uint8_t **p, size_t *len, int *fd)
{
	struct pollfd pfd = {sock, POLLIN, 0};
	if (poll(&pfd, 1, 10000) != 1)
		return -1;
	return ipc_read_frame(sock, type, p, len, fd);
}

/* 1 when the peer closed its end within 10 s (EOF after any frames). */
static int closed_by_peer(int sock)
{
	for (;;) {
		struct pollfd pfd = {sock, POLLIN, 0};
		if (poll(&pfd, 1, 10000) != 1)
			return 0;
		char tmp[4096];
		ssize_t r = recv(sock, tmp, sizeof(tmp), 0);
		if (r == 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1;
	}
}

static int log_has(const struct world *w, const char *needle)
{
	size_t len;
	char *text = unit_read_file(w->log, &len);
	int found = text && strstr(text, needle) != NULL;
	free(text);
	return found;
}

static int path_exists(const char *fmt, const char *a)
{
	char *p = xasprintf(fmt, a);
	struct stat st;
	int rc = lstat(p, &st) == 0;
	free(p);
	return rc;
}

/* ---- the queue ---------------------------------------------------------- */

/* Hand the queue a new smtp peer; returns our end. */
static int new_smtp_peer(int parent)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	struct buf b;
	buf_init(&b, 0);
	proto_encode_peer(&b, PEER_SMTP);
	assert_int_equal(ipc_write_frame(parent, PROTO_NEW_PEER, b.data, b.len, sp[1]), 0);
	buf_free(&b);
	close(sp[1]);
	return sp[0];
}

/* NEW_REQ -> NEW_OK with a spool fd; writes body into it. The id goes to id. */
static void new_message(int peer, uint64_t req, const char *body, char *id, size_t idlen)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, req);
	assert_int_equal(ipc_write_frame(peer, PROTO_NEW_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(read_frame(peer, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_NEW_OK);
	assert_true(fd >= 0);
	struct proto_reply r;
	assert_int_equal(proto_decode_new_ok(p, len, &r), 0);
	snprintf(id, idlen, "%s", r.id);
	proto_reply_free(&r);
	free(p);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
}

/* How a forged COMMIT or DELIVER_REQ states the data's checksum. */
enum sum { SUM_RIGHT, SUM_NONE, SUM_WRONG };

/* COMMIT one recipient of body; returns the answer's type. */
static uint32_t commit(int peer, uint64_t req, const char *id, const char *body, enum sum sum,
                       const char *addr, const char *action, const char *user)
{
	struct envelope_draft_rcpt r = {addr, NULL, 0, action, user};
	uint32_t crc = crc32c_update(0, body, strlen(body));
	struct envelope_draft d = {.arrival = 1700000000,
	                           .size = strlen(body),
	                           .data_crc = sum == SUM_WRONG ? crc ^ 1 : crc,
	                           .has_data_crc = sum != SUM_NONE,
	                           .sender = "s@remote.test",
	                           .helo = "client.test",
	                           .client = "127.0.0.1",
	                           .n_rcpts = 1,
	                           .rcpts = &r};
	snprintf(d.id, sizeof(d.id), "%s", id);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(proto_encode_commit(&b, req, &d), 0);
	assert_int_equal(ipc_write_frame(peer, PROTO_COMMIT_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(read_frame(peer, &type, &p, &len, &fd), 0);
	free(p);
	return type;
}

/* One whole message through peer: committed, and its envelope on disk. */
static void serves(const struct world *w, int peer, uint64_t req)
{
	char id[64];
	const char *body = "Subject: still here\r\n\r\nyes\r\n";
	new_message(peer, req, body, id, sizeof(id));
	assert_int_equal(
	    commit(peer, req + 1, id, body, SUM_RIGHT, "alice@example.org", "mailbox", "alice"),
	    PROTO_COMMIT_OK);
	char *env = xasprintf("%s/queue/env/%s", w->data, id);
	struct stat st;
	assert_int_equal(stat(env, &st), 0);
	free(env);
}

/* A forged envelope (or one whose data checksum is missing or wrong):
 * refused, and no envelope in the spool. */
static void refused_commit(const struct world *w, int peer, uint64_t req, enum sum sum,
                           const char *addr, const char *action, const char *user)
{
	char id[64];
	new_message(peer, req, "x\r\n", id, sizeof(id));
	assert_int_equal(commit(peer, req + 1, id, "x\r\n", sum, addr, action, user),
	                 PROTO_COMMIT_FAIL);
	char *env = xasprintf("%s/queue/env/%s", w->data, id);
	char *data = xasprintf("%s/queue/data/%s", w->data, id);
	struct stat st;
	assert_int_equal(stat(env, &st), -1);
	assert_int_equal(stat(data, &st), -1); /* the data file went too */
	free(env);
	free(data);
	/* a checksum the data does not have is found by the commit itself */
	char *needle = xasprintf("event=%s id=%s",
	                         sum == SUM_WRONG ? "commit-failed" : "envelope-refused", id);
	assert_true(log_has(w, needle));
	free(needle);
}

static void test_queue_forged_envelopes(void **state)
{
	(void)state;
	struct world w;
	world_init(&w);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pid_t q = start_role(&w, "queue", sp[1]);
	close(sp[1]);
	int peer = new_smtp_peer(sp[0]);
	serves(&w, peer, 1);
	/* a user not in the users table */
	refused_commit(&w, peer, 10, SUM_RIGHT, "mallory@example.org", "mailbox", "mallory");
	/* a mailbox the recipient does not expand to */
	refused_commit(&w, peer, 20, SUM_RIGHT, "alice@example.org", "mailbox", "bob");
	/* an action that does not route there */
	refused_commit(&w, peer, 30, SUM_RIGHT, "alice@example.org", "system", "alice");
	/* a path outside the base */
	refused_commit(&w, peer, 40, SUM_RIGHT, "alice@example.org", "mailbox", "../../etc");
	/* an action that does not exist */
	refused_commit(&w, peer, 50, SUM_RIGHT, "alice@example.org", "nowhere", "alice");
	/* no checksum of the data, or one the data does not have: the queue
	 * acknowledges nothing it could not check at delivery */
	refused_commit(&w, peer, 70, SUM_NONE, "alice@example.org", "mailbox", "alice");
	refused_commit(&w, peer, 80, SUM_WRONG, "alice@example.org", "mailbox", "alice");
	/* and the same peer is still served */
	serves(&w, peer, 60);
	serves(&w, peer, 90);
	assert_true(alive(q));
	close(peer);
	stop_role(q);
	close(sp[0]);
	world_free(&w);
}

static void send_raw(int sock, const void *p, size_t n)
{
	assert_int_equal(send(sock, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void test_queue_survives_broken_peers(void **state)
{
	(void)state;
	struct world w;
	world_init(&w);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pid_t q = start_role(&w, "queue", sp[1]);
	close(sp[1]);
	int good = new_smtp_peer(sp[0]);
	serves(&w, good, 1);

	/* an unexpected message type */
	int bad = new_smtp_peer(sp[0]);
	assert_int_equal(ipc_write_frame(bad, 999, "x", 1, -1), 0);
	assert_true(closed_by_peer(bad));
	close(bad);
	serves(&w, good, 10);

	/* a frame only a delivery peer may send */
	bad = new_smtp_peer(sp[0]);
	assert_int_equal(ipc_write_frame(bad, PROTO_DELIVER_RES, "", 0, -1), 0);
	assert_true(closed_by_peer(bad));
	close(bad);

	/* a malformed COMMIT (valid header, garbage payload) */
	bad = new_smtp_peer(sp[0]);
	assert_int_equal(ipc_write_frame(bad, PROTO_COMMIT_REQ, "garbage!", 8, -1), 0);
	assert_true(closed_by_peer(bad));
	close(bad);
	serves(&w, good, 20);

	/* a NEW_REQ with a byte too many */
	bad = new_smtp_peer(sp[0]);
	assert_int_equal(ipc_write_frame(bad, PROTO_NEW_REQ, "123456789", 9, -1), 0);
	assert_true(closed_by_peer(bad));
	close(bad);

	/* a descriptor where none belongs */
	bad = new_smtp_peer(sp[0]);
	uint8_t req[8] = {1};
	assert_int_equal(ipc_write_frame(bad, PROTO_NEW_REQ, req, sizeof(req), 0), 0);
	assert_true(closed_by_peer(bad));
	close(bad);

	/* a frame header over the maximum length */
	bad = new_smtp_peer(sp[0]);
	uint8_t hdr[12] = {PROTO_NEW_REQ, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
	send_raw(bad, hdr, sizeof(hdr));
	assert_true(closed_by_peer(bad));
	close(bad);

	/* a truncated frame, then the peer goes away in the middle of it */
	bad = new_smtp_peer(sp[0]);
	uint8_t part[12 + 10] = {PROTO_COMMIT_REQ, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0};
	send_raw(bad, part, sizeof(part));
	close(bad);

	/* a peer that takes a spool file and dies before committing */
	bad = new_smtp_peer(sp[0]);
	char id[64];
	new_message(bad, 1, "abandoned\r\n", id, sizeof(id));
	close(bad);

	serves(&w, good, 30);
	assert_true(alive(q));
	assert_true(log_has(&w, "event=peer-dropped kind=smtp type=999"));
	assert_true(log_has(&w, "reason=\"malformed message\""));
	assert_true(log_has(&w, "reason=\"a descriptor where none belongs\""));
	/* the abandoned file is discarded once its peer is gone */
	char *data = xasprintf("%s/queue/data/%s", w.data, id);
	struct stat st;
	for (int i = 0; i < 100 && stat(data, &st) == 0; i++)
		usleep(20000);
	assert_int_equal(stat(data, &st), -1);
	free(data);
	close(good);
	stop_role(q);
	close(sp[0]);
	world_free(&w);
}

/* ---- local delivery ----------------------------------------------------- */

/* DELIVER_REQ for one recipient, its data's checksum stated as sum says;
 * the status and text of the answer. */
static uint8_t deliver_sum(int queue, uint64_t job, enum sum sum, const char *action,
                           const char *addr, const char *user, char *text, size_t textlen)
{
	int fd = memfd_create("msg", MFD_CLOEXEC);
	const char *body = "Subject: forged\r\n\r\nhello\r\n";
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	uint32_t idx = 0;
	char *users[1] = {(char *)user}, *addrs[1] = {(char *)addr};
	char id[32];
	snprintf(id, sizeof(id), "F%llu", (unsigned long long)job);
	uint32_t crc = crc32c_update(0, body, strlen(body));
	struct proto_deliver d = {.job = job,
	                          .id = id,
	                          .action = (char *)action,
	                          .arrival = 1700000000,
	                          .sender = "s@remote.test",
	                          .n = 1,
	                          .idx = &idx,
	                          .user = users,
	                          .addr = addrs,
	                          .size = strlen(body),
	                          .crc = sum == SUM_WRONG ? crc ^ 0x100 : crc,
	                          .has_crc = sum != SUM_NONE};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_deliver(&b, &d);
	assert_int_equal(ipc_write_frame(queue, PROTO_DELIVER_REQ, b.data, b.len, fd), 0);
	buf_free(&b);
	close(fd);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int rfd;
	assert_int_equal(read_frame(queue, &type, &p, &len, &rfd), 0);
	assert_int_equal(type, PROTO_DELIVER_RES);
	struct proto_result r;
	assert_int_equal(proto_decode_result(p, len, &r), 0);
	assert_true(r.job == job && r.n == 1);
	uint8_t st = r.status[0];
	snprintf(text, textlen, "%s", r.text[0]);
	proto_result_free(&r);
	free(p);
	return st;
}

static uint8_t deliver(int queue, uint64_t job, const char *action, const char *addr,
                       const char *user, char *text, size_t textlen)
{
	return deliver_sum(queue, job, SUM_RIGHT, action, addr, user, text, textlen);
}

static void test_local_forged_requests(void **state)
{
	(void)state;
	struct world w;
	world_init(&w);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pid_t l = start_role(&w, "local", sp[1]);
	close(sp[1]);
	char text[512];
	char *mail = xasprintf("%s/mail", w.data);
	char *home = xasprintf("%s/home", w.dir);

	/* the genuine article is delivered */
	assert_int_equal(
	    deliver(sp[0], 1, "mailbox", "alice@example.org", "alice", text, sizeof(text)),
	    DELIVER_OK);
	assert_true(path_exists("%s/alice/new", mail));

	/* a user not in the table */
	assert_int_equal(
	    deliver(sp[0], 2, "mailbox", "mallory@example.org", "mallory", text, sizeof(text)),
	    DELIVER_TEMP);
	assert_non_null(strstr(text, "delivery refused"));
	assert_false(path_exists("%s/mallory", mail));

	/* a mailbox the recipient does not route to */
	assert_int_equal(
	    deliver(sp[0], 3, "mailbox", "alice@example.org", "bob", text, sizeof(text)),
	    DELIVER_TEMP);
	assert_false(path_exists("%s/bob", mail));

	/* an action that does not route there */
	assert_int_equal(
	    deliver(sp[0], 4, "system", "alice@example.org", "alice", text, sizeof(text)),
	    DELIVER_TEMP);
	assert_false(path_exists("%s/alice", home));

	/* a path outside the base */
	assert_int_equal(
	    deliver(sp[0], 5, "mailbox", "alice@example.org", "../../escape", text, sizeof(text)),
	    DELIVER_PERM);
	assert_false(path_exists("%s/escape", w.dir));
	assert_false(path_exists("%s/../escape", w.data));

	/* a uid-0 owner: a system mailbox named root, and an owner "root" */
	assert_int_equal(
	    deliver(sp[0], 6, "system", "root@sys.example", "root", text, sizeof(text)),
	    DELIVER_TEMP);
	assert_non_null(strstr(text, "root"));
	assert_false(path_exists("%s/root", home));
	assert_int_equal(deliver(sp[0], 7, "rootbox", "x@root.example", "x", text, sizeof(text)),
	                 DELIVER_TEMP);
	assert_false(path_exists("%s/r-x", home));

	assert_true(alive(l));
	assert_true(log_has(&w, "event=delivery-refused id=F2"));
	assert_true(log_has(&w, "event=delivery-refused id=F3"));
	assert_true(log_has(&w, "event=delivery-refused id=F4"));
	assert_true(log_has(&w, "event=delivery-refused id=F5"));
	assert_true(log_has(&w, "event=delivery-refused id=F6"));
	assert_true(log_has(&w, "event=delivery-refused id=F7"));

	/* data that is not what its envelope says is never delivered: the
	 * answer says so (the queue sets the message aside), the log too */
	assert_int_equal(deliver_sum(sp[0], 8, SUM_WRONG, "mailbox", "bob@example.org", "bob", text,
	                             sizeof(text)),
	                 DELIVER_CORRUPT);
	assert_non_null(strstr(text, "damaged"));
	assert_false(path_exists("%s/bob/new/1700000000.RF8_0.mx.forged.test", mail));
	assert_true(log_has(&w, "event=data-corrupt id=F8"));
	/* a spool from before checksums is delivered unchecked */
	assert_int_equal(deliver_sum(sp[0], 9, SUM_NONE, "mailbox", "bob@example.org", "bob", text,
	                             sizeof(text)),
	                 DELIVER_OK);
	assert_true(path_exists("%s/bob/new/1700000000.RF9_0.mx.forged.test", mail));

	/* a malformed request ends the role (its only peer is broken) */
	assert_int_equal(ipc_write_frame(sp[0], PROTO_DELIVER_REQ, "junk", 4, -1), 0);
	assert_true(closed_by_peer(sp[0]));
	int status;
	assert_int_equal(waitpid(l, &status, 0), l);
	assert_true(WIFEXITED(status));
	close(sp[0]);
	free(mail);
	free(home);
	world_free(&w);
}

/* ---- the auth role ------------------------------------------------------ */

static uint8_t ask(int sock, uint64_t req, const char *client, const char *login,
                   const char *password, char *canon, size_t canonlen)
{
	struct proto_auth_req a = {req, (char *)client, (char *)login, (char *)password};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_req(&b, &a);
	assert_int_equal(ipc_write_frame(sock, PROTO_AUTH_REQ, b.data, b.len, -1), 0);
	buf_free(&b);
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(read_frame(sock, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_AUTH_RES);
	struct proto_auth_res r;
	assert_int_equal(proto_decode_auth_res(p, len, &r), 0);
	assert_int_equal(r.req, req);
	snprintf(canon, canonlen, "%s", r.login);
	uint8_t st = r.status;
	proto_auth_res_free(&r);
	free(p);
	return st;
}

static void test_auth_role(void **state)
{
	(void)state;
	struct world w;
	world_init(&w);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pid_t a = start_role(&w, "auth", sp[1]);
	close(sp[1]);
	char canon[300];
	assert_int_equal(ask(sp[0], 1, "192.0.2.1", "Alice", "secret", canon, sizeof(canon)),
	                 AUTH_OK);
	assert_string_equal(canon, "alice");
	assert_int_equal(ask(sp[0], 2, "192.0.2.1", "alice", "Secret", canon, sizeof(canon)),
	                 AUTH_FAIL);
	assert_string_equal(canon, "");
	/* no such user, and a hash of a scheme too weak to keep (DES) */
	assert_int_equal(ask(sp[0], 3, "192.0.2.1", "mallory", "secret", canon, sizeof(canon)),
	                 AUTH_FAIL);
	assert_int_equal(ask(sp[0], 4, "192.0.2.2", "weak", "secret", canon, sizeof(canon)),
	                 AUTH_FAIL);
	/* the third failure from 192.0.2.1 locks it out, even for the right password */
	assert_int_equal(ask(sp[0], 5, "192.0.2.1", "alice", "guess", canon, sizeof(canon)),
	                 AUTH_FAIL);
	assert_int_equal(ask(sp[0], 6, "192.0.2.1", "alice", "secret", canon, sizeof(canon)),
	                 AUTH_LOCKED);
	/* another address is not */
	assert_int_equal(ask(sp[0], 7, "192.0.2.3", "alice", "secret", canon, sizeof(canon)),
	                 AUTH_OK);
	assert_true(log_has(&w, "event=auth-lockout client=192.0.2.1"));
	assert_true(log_has(&w, "event=auth-refused client=192.0.2.1 login=\"alice\""));
	assert_false(log_has(&w, "secret")); /* passwords are never logged */
	assert_true(alive(a));
	/* a frame the auth role never gets from a sane queue ends it */
	struct proto_auth_res r = {1, AUTH_OK, "alice"};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_auth_res(&b, &r);
	assert_int_equal(ipc_write_frame(sp[0], PROTO_AUTH_RES, b.data, b.len, -1), 0);
	buf_free(&b);
	assert_true(closed_by_peer(sp[0]));
	int status;
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_true(WIFEXITED(status));
	close(sp[0]);
	/* and so does a malformed question */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	a = start_role(&w, "auth", sp[1]);
	close(sp[1]);
	assert_int_equal(ipc_write_frame(sp[0], PROTO_AUTH_REQ, "\0\0\0", 3, -1), 0);
	assert_true(closed_by_peer(sp[0]));
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_true(WIFEXITED(status));
	close(sp[0]);
	world_free(&w);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue_forged_envelopes),
	    cmocka_unit_test(test_queue_survives_broken_peers),
	    cmocka_unit_test(test_local_forged_requests),
	    cmocka_unit_test(test_auth_role),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
