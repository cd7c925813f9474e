/*
 * connector (src/parent/connector.c): the parent connects an lmtp action's
 * unix-domain socket for the relay and passes the descriptor back; it acts
 * only on what its configuration says, and a frame that asks for anything
 * else (another type, an undecodable payload, a descriptor, an action that
 * is not an lmtp action with a socket) is refused as a broken peer. Started
 * as root, the connection is made with the relay account's file-system
 * identity: a socket only root may use stays out of reach.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "connector.h"
#include "proto.h"
#include "unit_util.h"
#include "xmalloc.h"

struct fx {
	char *dir, *sock;
	int listener;
	struct config *conf;
	struct privsep priv;
	struct event_base *base;
	struct ipc *ch; /* the parent's end */
	int relay;      /* the relay's end */
};

static void noop_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)m;
	(void)arg;
}

static int listen_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	f->dir = unit_tmpdir();
	chmod(f->dir, 0755);
	f->sock = xasprintf("%s/lmtp", f->dir);
	f->listener = listen_unix(f->sock);
	chmod(f->sock, 0666);
	char *text = xasprintf("listen on 127.0.0.1 port 2\n"
	                       "action \"store\" lmtp \"%s\"\n"
	                       "action \"gone\" lmtp \"%s/nothing-here\"\n"
	                       "action \"tcp\" lmtp \"127.0.0.1:24\"\n"
	                       "action \"out\" relay\n"
	                       "match from any for domain \"x.example\" action \"store\"\n",
	                       f->sock, f->dir);
	char err[256];
	f->conf = conf_parse_string("c.conf", text, strlen(text), err, sizeof(err));
	free(text);
	if (f->conf == NULL)
		fail_msg("config: %s", err);
	/* As root: the relay's account is one nobody else uses here. */
	f->priv.root = geteuid() == 0;
	f->priv.net.uid = f->priv.root ? 4242 : geteuid();
	f->priv.net.gid = f->priv.root ? 4242 : getegid();
	f->base = event_base_new();
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	struct ipc_handlers h = {noop_msg, NULL, NULL};
	f->ch = ipc_new(f->base, sp[0], &h);
	f->relay = sp[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ipc_free(f->ch);
	close(f->relay);
	close(f->listener);
	event_base_free(f->base);
	conf_free(f->conf);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f->sock);
	free(f);
	return 0;
}

/* Hand the connector a frame; its verdict. */
static int ask(struct fx *f, uint32_t type, const char *action, int fd)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_connect(&b, 77, action);
	struct ipc_msg m = {.type = type, .data = b.data, .len = b.len, .fd = fd};
	int rc = connector_msg(f->conf, &f->priv, f->ch, &m);
	buf_free(&b);
	for (int i = 0; i < 10; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	return rc;
}

/* The answer on the relay's end: errno, and the descriptor (or -1). */
static uint32_t answer(struct fx *f, int *fd)
{
	uint32_t type;
	uint8_t *p;
	size_t len;
	assert_int_equal(ipc_read_frame(f->relay, &type, &p, &len, fd), 0);
	assert_int_equal(type, PROTO_CONNECT_RES);
	struct proto_reply r;
	assert_int_equal(proto_decode_fail(p, len, &r), 0);
	free(p);
	assert_true(r.req == 77);
	uint32_t e = r.error;
	proto_reply_free(&r);
	return e;
}

static void test_connects_configured_socket(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, "store", -1), 0);
	int fd;
	assert_int_equal(answer(f, &fd), 0);
	assert_true(fd >= 0);
	int peer = accept(f->listener, NULL, NULL);
	assert_true(peer >= 0);
	assert_int_equal(write(fd, "LHLO x\r\n", 8), 8);
	char buf[16];
	assert_int_equal(read(peer, buf, sizeof(buf)), 8);
	close(peer);
	close(fd);

	/* a configured socket nobody listens on: the reason, no descriptor */
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, "gone", -1), 0);
	assert_int_equal(answer(f, &fd), ENOENT);
	assert_int_equal(fd, -1);
}

static void test_refuses_what_config_does_not_say(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, "tcp", -1), -1);     /* no socket */
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, "out", -1), -1);     /* not lmtp */
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, "nothing", -1), -1); /* no such action */
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, f->sock, -1), -1);   /* a path, not a name */
	assert_int_equal(ask(f, PROTO_DELIVER_RES, "store", -1), -1);   /* another frame */
	int extra = dup(0);
	assert_int_equal(ask(f, PROTO_CONNECT_REQ, "store", extra), -1); /* a descriptor */
	close(extra);
	struct ipc_msg m = {
	    .type = PROTO_CONNECT_REQ, .data = (const uint8_t *)"xy", .len = 2, .fd = -1};
	assert_int_equal(connector_msg(f->conf, &f->priv, f->ch, &m), -1); /* garbled */
	/* nothing was answered to any of them */
	char c;
	assert_int_equal(recv(f->relay, &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* As root, the socket's permissions apply as to the relay's account. */
static void test_relay_identity(void **state)
{
	struct fx *f = *state;
	if (!f->priv.root) {
		/* Not root: no identity to take on, but the socket's permissions
		 * still decide, as they do for the relay's account. */
		chmod(f->sock, 0);
		errno = 0;
		assert_int_equal(connector_connect(&f->priv, &f->priv.net, f->sock), -1);
		assert_int_equal(errno, EACCES);
		chmod(f->sock, 0666);
		int fd = connector_connect(&f->priv, &f->priv.net, f->sock);
		assert_true(fd >= 0);
		close(fd);
		return;
	}
	chmod(f->sock, 0600); /* root's alone */
	errno = 0;
	assert_int_equal(connector_connect(&f->priv, &f->priv.net, f->sock), -1);
	assert_int_equal(errno, EACCES);
	/* and the parent is root again afterwards */
	assert_int_equal(setfsuid((uid_t)-1), 0);
	gid_t groups[4];
	int n = getgroups(4, groups);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++)
		assert_int_not_equal(groups[i], 4242);
	chmod(f->sock, 0666);
	int fd = connector_connect(&f->priv, &f->priv.net, f->sock);
	assert_true(fd >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_connects_configured_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_what_config_does_not_say, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_identity, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
