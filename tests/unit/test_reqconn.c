/*
 * Unit tests for reqconn: the list stays linked whichever connection
 * closes first, a long answer is written across many EV_WRITEs and the
 * peer reads it whole, a vanished peer is a failure, and the deadline
 * fires when nothing happens.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit_util.h"

#include "reqconn.h"

struct tconn {
	struct reqconn rc;
	int reads, timeouts;
	enum reqconn_sent last;
	int done;
};

static void t_io(evutil_socket_t fd, short what, void *arg)
{
	struct tconn *t = arg;
	(void)fd;
	if (what & EV_READ) {
		char tmp[64];
		t->reads++;
		if (recv(t->rc.fd, tmp, sizeof(tmp), 0) <= 0)
			event_del(t->rc.io);
		return;
	}
	t->last = reqconn_write(&t->rc);
	if (t->last != REQCONN_MORE) {
		t->done = 1;
		event_del(t->rc.io);
		event_base_loopbreak(t->rc.base);
	}
}

static void t_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tconn *t = arg;
	(void)fd;
	(void)what;
	t->timeouts++;
	event_base_loopbreak(t->rc.base);
}

/* A socketpair: [0] for the reqconn (non-blocking), [1] for the test. */
static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

/* One connection on list over a fresh pair; sv[1] is the test's end. */
static struct event_base *one(struct tconn *t, struct reqconn_list *list, int sv[2],
                              unsigned read_ms)
{
	struct event_base *base = event_base_new();
	memset(t, 0, sizeof(*t));
	pair(sv);
	reqconn_open(&t->rc, list, base, sv[0], 0, t_io, t_timeout, t, read_ms);
	return base;
}

static void test_list(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct reqconn_list list = {NULL, 0};
	struct tconn t[3];
	int peer[3];
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 3; i++) {
		int sv[2];
		pair(sv);
		peer[i] = sv[1];
		reqconn_open(&t[i].rc, &list, base, sv[0], 0, t_io, t_timeout, &t[i], 10000);
		assert_ptr_equal(list.head, &t[i].rc); /* newest first */
		assert_ptr_equal(t[i].rc.arg, &t[i]);
	}
	assert_int_equal(list.n, 3);
	reqconn_close(&t[1].rc); /* the middle one */
	assert_int_equal(list.n, 2);
	assert_ptr_equal(list.head, &t[2].rc);
	assert_ptr_equal(t[2].rc.next, &t[0].rc);
	assert_ptr_equal(t[0].rc.prev, &t[2].rc);
	reqconn_close(&t[2].rc); /* the head */
	assert_ptr_equal(list.head, &t[0].rc);
	assert_null(t[0].rc.prev);
	reqconn_close(&t[0].rc); /* the last */
	assert_null(list.head);
	assert_int_equal(list.n, 0);
	for (int i = 0; i < 3; i++) /* each reqconn closed its end */
		assert_int_equal(recv(peer[i], &(char){0}, 1, 0), 0);
	for (int i = 0; i < 3; i++)
		close(peer[i]);
	event_base_free(base);
}

static void test_answer(void **state)
{
	(void)state;
	struct reqconn_list list = {NULL, 0};
	struct tconn t;
	int sv[2];
	struct event_base *base = one(&t, &list, sv, 10000);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(send(sv[1], "req\n", 4, 0), 4);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(t.reads, 1);
	/* An answer larger than the socket buffer: the peer reads as it goes. */
	size_t len = 1u << 20;
	for (size_t i = 0; i < len; i++)
		assert_int_equal(buf_append_byte(&t.rc.out, (uint8_t)(i * 31)), 0);
	reqconn_respond(&t.rc, 10000);
	size_t got = 0;
	uint8_t tmp[8192];
	while (!t.done) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		ssize_t n = recv(sv[1], tmp, sizeof(tmp), MSG_DONTWAIT);
		for (ssize_t i = 0; i < n; i++)
			assert_int_equal(tmp[i], (uint8_t)((got + (size_t)i) * 31));
		if (n > 0)
			got += (size_t)n;
	}
	assert_int_equal(t.last, REQCONN_SENT);
	assert_int_equal(t.rc.off, len);
	reqconn_close(&t.rc);
	ssize_t n;
	while ((n = recv(sv[1], tmp, sizeof(tmp), 0)) > 0)
		got += (size_t)n;
	assert_int_equal(got, len);
	assert_int_equal(t.timeouts, 0);
	close(sv[1]);
	event_base_free(base);
}

static void test_peer_gone(void **state)
{
	(void)state;
	struct reqconn_list list = {NULL, 0};
	struct tconn t;
	int sv[2];
	struct event_base *base = one(&t, &list, sv, 10000);
	close(sv[1]);
	buf_append_str(&t.rc.out, "answer\n");
	reqconn_respond(&t.rc, 10000);
	event_base_dispatch(base);
	assert_int_equal(t.last, REQCONN_FAILED); /* EPIPE, without SIGPIPE */
	reqconn_close(&t.rc);
	event_base_free(base);
}

static void test_deadline(void **state)
{
	(void)state;
	struct reqconn_list list = {NULL, 0};
	struct tconn t;
	int sv[2];
	struct event_base *base = one(&t, &list, sv, 50);
	event_base_dispatch(base); /* the peer says nothing */
	assert_int_equal(t.timeouts, 1);
	assert_int_equal(t.reads, 0);
	reqconn_close(&t.rc);
	close(sv[1]);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_answer),
	    cmocka_unit_test(test_peer_gone),
	    cmocka_unit_test(test_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
