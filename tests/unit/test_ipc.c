/*
 * Unit tests for ipc: frames and file descriptors over a socketpair between
 * two event-driven channels, between a channel and the blocking helpers
 * (also across a fork, with frames larger than the socket buffer), and the
 * failures that must close a channel.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit_util.h"

#include "ipc.h"
#include "xmalloc.h"

/* What one side has received. */
struct rx {
	size_t n, cap;
	uint32_t *type;
	uint8_t **data;
	size_t *len;
	int *fd;
	int closed;
	int lost; /* frames whose fd could not be received */
	int echo; /* send every frame straight back */
};

static void rx_on_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct rx *rx = arg;
	if (rx->n == rx->cap) {
		rx->cap = rx->cap ? rx->cap * 2 : 16;
		rx->type = xreallocarray(rx->type, rx->cap, sizeof(*rx->type));
		rx->data = xreallocarray(rx->data, rx->cap, sizeof(*rx->data));
		rx->len = xreallocarray(rx->len, rx->cap, sizeof(*rx->len));
		rx->fd = xreallocarray(rx->fd, rx->cap, sizeof(*rx->fd));
	}
	rx->type[rx->n] = m->type;
	rx->data[rx->n] = xmemdup(m->data, m->len);
	rx->len[rx->n] = m->len;
	rx->fd[rx->n] = m->fd;
	rx->lost += m->fd_lost;
	rx->n++;
	if (rx->echo)
		ipc_send(ch, m->type, m->data, m->len, m->fd);
}

static void rx_on_close(struct ipc *ch, void *arg)
{
	(void)ch;
	struct rx *rx = arg;
	rx->closed++;
}

static void rx_free(struct rx *rx)
{
	for (size_t i = 0; i < rx->n; i++) {
		free(rx->data[i]);
		if (rx->fd[i] != -1)
			close(rx->fd[i]);
	}
	free(rx->type);
	free(rx->data);
	free(rx->len);
	free(rx->fd);
	memset(rx, 0, sizeof(*rx));
}

static struct ipc_handlers handlers(struct rx *rx)
{
	struct ipc_handlers h = {rx_on_msg, rx_on_close, rx};
	return h;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Run the loop until rx has n frames (and, if asked, saw the close). */
static void pump(struct event_base *base, struct rx *rx, size_t n, int want_close)
{
	int timed_out = 0;
	struct event *t = evtimer_new(base, on_timeout, &timed_out);
	struct timeval tv = {20, 0};
	evtimer_add(t, &tv);
	while (!timed_out) {
		if (rx->n >= n && (!want_close || rx->closed))
			break;
		if (rx->closed) /* nothing more can arrive */
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
	assert_false(timed_out);
	assert_true(rx->n >= n);
	if (!want_close)
		assert_int_equal(rx->closed, 0);
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 8));
	return p;
}

/* Prove fd is a pipe's read end whose write end is wfd, and it is ours. */
static void assert_pipe_path(int wfd, int fd, const char *token)
{
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	size_t n = strlen(token);
	assert_int_equal(write(wfd, token, n), (ssize_t)n);
	char got[64] = {0};
	assert_int_equal(read(fd, got, sizeof(got) - 1), (ssize_t)n);
	assert_string_equal(got, token);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0}, rb = {0};
	struct ipc_handlers ha = handlers(&ra), hb = handlers(&rb);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	struct ipc *b = ipc_new(base, sv[1], &hb);
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	ipc_send(a, 1, "hello", 5, -1);
	ipc_send(a, 2, NULL, 0, -1);
	ipc_send(a, 0xffffffffu, all, sizeof(all), -1);
	assert_int_equal(ipc_pending(a), 3 * IPC_HDR_LEN + 5 + 0 + 256);
	pump(base, &rb, 3, 0);
	assert_int_equal(rb.n, 3);
	assert_int_equal(ipc_pending(a), 0);
	assert_int_equal(rb.type[0], 1);
	assert_int_equal(rb.len[0], 5);
	assert_memory_equal(rb.data[0], "hello", 5);
	assert_int_equal(rb.type[1], 2);
	assert_int_equal(rb.len[1], 0);
	assert_true(rb.type[2] == 0xffffffffu);
	assert_int_equal(rb.len[2], 256);
	assert_memory_equal(rb.data[2], all, 256);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rb.fd[i], -1);
	/* And back. */
	ipc_send(b, 9, "pong", 4, -1);
	pump(base, &ra, 1, 0);
	assert_int_equal(ra.type[0], 9);
	assert_memory_equal(ra.data[0], "pong", 4);
	ipc_free(a);
	ipc_free(b);
	rx_free(&ra);
	rx_free(&rb);
	event_base_free(base);
}

/* Frames at and near the maximum, far larger than the socket buffer. */
static void test_large_frames(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0}, rb = {0};
	struct ipc_handlers ha = handlers(&ra), hb = handlers(&rb);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	struct ipc *b = ipc_new(base, sv[1], &hb);
	static const size_t sizes[] = {IPC_MAX_PAYLOAD, IPC_MAX_PAYLOAD - 1, 1, 65536 - IPC_HDR_LEN,
	                               IPC_MAX_PAYLOAD};
	size_t ns = sizeof(sizes) / sizeof(sizes[0]);
	for (size_t i = 0; i < ns; i++) {
		uint8_t *p = pattern(sizes[i], (unsigned)i);
		ipc_send(a, (uint32_t)i, p, sizes[i], -1);
		free(p);
	}
	pump(base, &rb, ns, 0);
	for (size_t i = 0; i < ns; i++) {
		uint8_t *p = pattern(sizes[i], (unsigned)i);
		assert_int_equal(rb.type[i], i);
		assert_int_equal(rb.len[i], sizes[i]);
		assert_memory_equal(rb.data[i], p, sizes[i]);
		free(p);
	}
	ipc_free(a);
	ipc_free(b);
	rx_free(&ra);
	rx_free(&rb);
	event_base_free(base);
}

static void test_fd_passing(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0}, rb = {0};
	struct ipc_handlers ha = handlers(&ra), hb = handlers(&rb);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	struct ipc *b = ipc_new(base, sv[1], &hb);
	int p[2];
	assert_int_equal(pipe(p), 0);
	ipc_send(a, 5, "fd", 2, p[0]);
	/* ipc_send dup'ed it: ours is still open and still ours to close. */
	assert_true(fcntl(p[0], F_GETFD) != -1);
	close(p[0]);
	pump(base, &rb, 1, 0);
	assert_int_equal(rb.type[0], 5);
	assert_memory_equal(rb.data[0], "fd", 2);
	assert_pipe_path(p[1], rb.fd[0], "through the socket");
	close(p[1]);
	ipc_free(a);
	ipc_free(b);
	rx_free(&ra);
	rx_free(&rb);
	event_base_free(base);
}

/*
 * Many frames, some with fds, all queued before the loop runs: each fd must
 * arrive with its own frame, in order.
 */
static void check_interleaved(size_t nframes, size_t fd_every, size_t maxlen)
{
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0}, rb = {0};
	struct ipc_handlers ha = handlers(&ra), hb = handlers(&rb);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	struct ipc *b = ipc_new(base, sv[1], &hb);
	int *wfd = xcalloc(nframes, sizeof(int));
	for (size_t i = 0; i < nframes; i++) {
		size_t len = (i * 7919) % (maxlen + 1);
		uint8_t *pl = pattern(len, (unsigned)i);
		int fd = -1;
		wfd[i] = -1;
		if (i % fd_every == 0) {
			int p[2];
			assert_int_equal(pipe(p), 0);
			fd = p[0];
			wfd[i] = p[1];
		}
		ipc_send(a, (uint32_t)(1000 + i), pl, len, fd);
		if (fd != -1)
			close(fd);
		free(pl);
	}
	assert_true(ipc_pending(a) > 0);
	pump(base, &rb, nframes, 0);
	assert_int_equal(rb.n, nframes);
	for (size_t i = 0; i < nframes; i++) {
		size_t len = (i * 7919) % (maxlen + 1);
		uint8_t *pl = pattern(len, (unsigned)i);
		assert_int_equal(rb.type[i], 1000 + i);
		assert_int_equal(rb.len[i], len);
		assert_memory_equal(rb.data[i], pl, len);
		free(pl);
		if (wfd[i] == -1) {
			assert_int_equal(rb.fd[i], -1);
		} else {
			char tok[32];
			snprintf(tok, sizeof(tok), "frame-%zu", i);
			assert_pipe_path(wfd[i], rb.fd[i], tok);
			close(wfd[i]);
		}
	}
	free(wfd);
	ipc_free(a);
	ipc_free(b);
	rx_free(&ra);
	rx_free(&rb);
	event_base_free(base);
}

static void test_interleaved_fds(void **state)
{
	(void)state;
	check_interleaved(12, 3, 100);
	check_interleaved(12, 1, 70000); /* every frame carries one */
}

static void test_many_queued(void **state)
{
	(void)state;
	check_interleaved(5000, 50, 3000);
}

/* Build one frame's bytes as ipc.h describes them. */
static size_t raw_frame(uint8_t *out, uint32_t type, uint32_t len, uint32_t flags,
                        const void *payload, size_t paylen)
{
	uint32_t h[3] = {type, len, flags};
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 4; k++)
			out[i * 4 + k] = (uint8_t)(h[i] >> (8 * k));
	if (paylen)
		memcpy(out + IPC_HDR_LEN, payload, paylen);
	return IPC_HDR_LEN + paylen;
}

static void send_with_fd(int sock, const void *p, size_t n, int fd)
{
	struct iovec iov = {(void *)p, n};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct msghdr mh = {0};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)n);
}

/* A channel on sv[0] of a fresh pair whose other end sv[1] the test writes raw. */
struct raw_rx {
	struct event_base *base;
	int sv[2];
	struct rx rx;
	struct ipc_handlers h;
	struct ipc *ch;
};

static void raw_rx_open(struct raw_rx *r)
{
	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	make_pair(r->sv);
	r->h = handlers(&r->rx);
	r->ch = ipc_new(r->base, r->sv[0], &r->h);
}

static void raw_rx_close(struct raw_rx *r)
{
	close(r->sv[1]);
	ipc_free(r->ch);
	rx_free(&r->rx);
	event_base_free(r->base);
}

/* Frames arriving one byte at a time are delivered whole, and only once complete. */
static void test_byte_at_a_time(void **state)
{
	(void)state;
	struct raw_rx r;
	raw_rx_open(&r);
	struct rx *ra = &r.rx;
	uint8_t stream[256];
	size_t ends[3], n = 0;
	n += raw_frame(stream + n, 1, 3, 0, "abc", 3);
	ends[0] = n;
	size_t fd_frame = n;
	n += raw_frame(stream + n, 2, 4, 1, "withfd", 4);
	ends[1] = n;
	n += raw_frame(stream + n, 3, 0, 0, NULL, 0);
	ends[2] = n;
	int p[2];
	assert_int_equal(pipe(p), 0);
	for (size_t i = 0; i < n; i++) {
		if (i == fd_frame)
			send_with_fd(r.sv[1], stream + i, 1, p[0]);
		else
			assert_int_equal(write(r.sv[1], stream + i, 1), 1);
		for (int k = 0; k < 4; k++)
			event_base_loop(r.base, EVLOOP_NONBLOCK);
		size_t complete = (i + 1 >= ends[0]) + (i + 1 >= ends[1]) + (i + 1 >= ends[2]);
		assert_int_equal(ra->n, complete);
	}
	close(p[0]);
	assert_int_equal(ra->closed, 0);
	assert_memory_equal(ra->data[0], "abc", 3);
	assert_int_equal(ra->fd[0], -1);
	assert_int_equal(ra->type[1], 2);
	assert_memory_equal(ra->data[1], "with", 4);
	assert_pipe_path(p[1], ra->fd[1], "bytewise");
	assert_int_equal(ra->len[2], 0);
	assert_int_equal(ra->fd[2], -1);
	close(p[1]);
	raw_rx_close(&r);
}

/*
 * Frames that each carry an fd end every recvmsg(): a burst of them queued
 * before the receiver wakes must still reach it in one pass of its loop,
 * or a receiver that batches per pass (local delivery, group commit) sees
 * batches of one.
 */
static void test_fd_burst_one_pass(void **state)
{
	(void)state;
	struct raw_rx r;
	raw_rx_open(&r);
	enum { BURST = 8 };
	int p[2];
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < BURST; i++) {
		uint8_t frame[64];
		size_t n = raw_frame(frame, (uint32_t)(10 + i), 2, 1, "fd", 2);
		send_with_fd(r.sv[1], frame, n, p[0]);
	}
	event_base_loop(r.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(r.rx.n, BURST);
	for (int i = 0; i < BURST; i++) {
		assert_int_equal(r.rx.type[i], 10 + i);
		assert_true(r.rx.fd[i] >= 0);
	}
	close(p[0]);
	close(p[1]);
	raw_rx_close(&r);
}

/*
 * A child process speaks through the blocking helpers; the parent's channel
 * echoes every frame (fd included) back. The child checks the echoes.
 * Returns a step number on failure so the parent can say where.
 */
static int child_blocking_side(int sock)
{
	static const size_t sizes[] = {0, 1, 100, 70000, IPC_MAX_PAYLOAD, 5};
	size_t ns = sizeof(sizes) / sizeof(sizes[0]);
	int p[2];
	if (pipe(p) == -1)
		return 1;
	for (size_t i = 0; i < ns; i++) {
		uint8_t *pl = pattern(sizes[i], (unsigned)i);
		int rc =
		    ipc_write_frame(sock, (uint32_t)(50 + i), pl, sizes[i], i == 2 ? p[0] : -1);
		free(pl);
		if (rc == -1)
			return 2;
	}
	for (size_t i = 0; i < ns; i++) {
		uint32_t type;
		uint8_t *pl;
		size_t len;
		int fd;
		if (ipc_read_frame(sock, &type, &pl, &len, &fd) == -1)
			return 3;
		uint8_t *want = pattern(sizes[i], (unsigned)i);
		int bad =
		    type != 50 + i || len != sizes[i] || memcmp(pl, want, len) != 0 || pl[len] != 0;
		free(want);
		free(pl);
		if (bad)
			return 4;
		if ((i == 2) != (fd != -1))
			return 5;
		if (fd != -1) {
			char c = 0;
			if (write(p[1], "E", 1) != 1 || read(fd, &c, 1) != 1 || c != 'E')
				return 6;
			close(fd);
		}
	}
	return 0;
}

static void test_blocking_helpers_with_loop(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	pid_t pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(sv[0]);
		_exit(child_blocking_side(sv[1]));
	}
	close(sv[1]);
	struct rx ra = {0};
	ra.echo = 1;
	struct ipc_handlers ha = handlers(&ra);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	pump(base, &ra, 6, 1); /* six frames, then the child exits */
	assert_int_equal(ra.n, 6);
	assert_int_equal(ra.closed, 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ipc_free(a);
	rx_free(&ra);
	event_base_free(base);
}

/* Blocking helpers on both ends, in one process (frames fit the socket buffer). */
static void test_blocking_pair(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(ipc_write_frame(sv[0], 7, "payload", 7, -1), 0);
	assert_int_equal(ipc_write_frame(sv[0], 8, NULL, 0, p[0]), 0);
	assert_int_equal(ipc_write_frame(sv[0], 9, "x", 1, -1), 0);
	uint32_t type;
	uint8_t *pl;
	size_t len;
	int fd;
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), 0);
	assert_int_equal(type, 7);
	assert_int_equal(len, 7);
	assert_string_equal((char *)pl, "payload"); /* NUL-terminated for convenience */
	assert_int_equal(fd, -1);
	free(pl);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), 0);
	assert_int_equal(type, 8);
	assert_int_equal(len, 0);
	assert_pipe_path(p[1], fd, "blocking");
	close(fd);
	free(pl);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), 0);
	assert_int_equal(type, 9);
	free(pl);
	/* Too large to send. */
	assert_int_equal(ipc_write_frame(sv[0], 1, "", IPC_MAX_PAYLOAD + 1, -1), -1);

	/* Broken frames are refused by the reader. */
	uint8_t raw[64];
	size_t n = raw_frame(raw, 1, IPC_MAX_PAYLOAD + 1, 0, NULL, 0);
	assert_int_equal(write(sv[0], raw, n), (ssize_t)n);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), -1);
	assert_null(pl);
	n = raw_frame(raw, 1, 0, 2, NULL, 0); /* unknown flag */
	assert_int_equal(write(sv[0], raw, n), (ssize_t)n);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), -1);
	n = raw_frame(raw, 1, 2, 1, "ab", 2); /* fd announced, none sent */
	assert_int_equal(write(sv[0], raw, n), (ssize_t)n);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), -1);
	assert_int_equal(fd, -1);
	/* EOF in the middle of a frame, then at a frame boundary. */
	n = raw_frame(raw, 1, 10, 0, "abc", 3);
	assert_int_equal(write(sv[0], raw, n), (ssize_t)n);
	close(sv[0]);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), -1);
	assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), -1);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

/* Each bad header closes the channel, without a frame being delivered. */
static void test_bad_header_closes(void **state)
{
	(void)state;
	static const uint32_t bad[][3] = {
	    {1, IPC_MAX_PAYLOAD + 1, 0}, /* oversize length */
	    {1, 0xffffffffu, 0},
	    {1, 4, 2}, /* unknown flag */
	    {1, 0, 1}, /* fd announced, none sent */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct event_base *base = event_base_new();
		int sv[2];
		make_pair(sv);
		struct rx ra = {0};
		struct ipc_handlers ha = handlers(&ra);
		struct ipc *a = ipc_new(base, sv[0], &ha);
		uint8_t raw[64];
		/* A good frame first: it is delivered, then the bad one kills the channel. */
		size_t n = raw_frame(raw, 42, 2, 0, "ok", 2);
		n += raw_frame(raw + n, bad[i][0], bad[i][1], bad[i][2], "abcd",
		               bad[i][1] == 4 ? 4 : 0);
		assert_int_equal(write(sv[1], raw, n), (ssize_t)n);
		pump(base, &ra, 1, 1);
		assert_int_equal(ra.n, 1);
		assert_int_equal(ra.type[0], 42);
		assert_int_equal(ra.closed, 1);
		/* Dead stays dead: sending is a no-op, more input is not read. */
		ipc_send(a, 1, "x", 1, -1);
		n = raw_frame(raw, 43, 0, 0, NULL, 0);
		assert_int_equal(write(sv[1], raw, n), (ssize_t)n);
		event_base_loop(base, EVLOOP_NONBLOCK);
		assert_int_equal(ra.n, 1);
		assert_int_equal(ra.closed, 1);
		close(sv[1]);
		ipc_free(a);
		rx_free(&ra);
		event_base_free(base);
	}
}

static void test_peer_close(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0};
	struct ipc_handlers ha = handlers(&ra);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	close(sv[1]);
	pump(base, &ra, 0, 1);
	assert_int_equal(ra.closed, 1);
	assert_int_equal(ra.n, 0);
	ipc_send(a, 1, "late", 4, -1); /* no crash, no SIGPIPE */
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(ra.closed, 1);
	ipc_free(a);
	rx_free(&ra);
	event_base_free(base);

	/* Writing to a peer that went away is also a close, not a SIGPIPE. */
	base = event_base_new();
	make_pair(sv);
	struct rx rb = {0};
	struct ipc_handlers hb = handlers(&rb);
	a = ipc_new(base, sv[0], &hb);
	shutdown(sv[1], SHUT_RD);
	close(sv[1]);
	ipc_send(a, 1, "into the void", 13, -1);
	pump(base, &rb, 0, 1);
	assert_int_equal(rb.closed, 1);
	ipc_free(a);
	rx_free(&rb);
	event_base_free(base);
}

/*
 * Frames written just before the peer closes are delivered before on_close,
 * whatever the chunking (here the data is exactly one 64 KiB read, and then
 * two, so EOF is only seen by a further read).
 */
static void test_frames_then_close(void **state)
{
	(void)state;
	static const size_t totals[] = {100, 65536, 131072};
	for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
		struct event_base *base = event_base_new();
		int sv[2];
		make_pair(sv);
		int big = 1 << 20;
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		struct rx ra = {0};
		struct ipc_handlers ha = handlers(&ra);
		struct ipc *a = ipc_new(base, sv[0], &ha);
		size_t plen = totals[t] / 2 - IPC_HDR_LEN;
		uint8_t *pl = pattern(plen, 3);
		assert_int_equal(ipc_write_frame(sv[1], 1, pl, plen, -1), 0);
		assert_int_equal(ipc_write_frame(sv[1], 2, pl, plen, -1), 0);
		close(sv[1]);
		pump(base, &ra, 2, 1);
		assert_int_equal(totals[t] * 100 + ra.n, totals[t] * 100 + 2);
		assert_int_equal(ra.len[1], plen);
		assert_memory_equal(ra.data[1], pl, plen);
		free(pl);
		ipc_free(a);
		rx_free(&ra);
		event_base_free(base);
	}
}

/*
 * A writer in another process that keeps the socket full: the reader must
 * hand frames over as they complete instead of reading until the socket is
 * drained (which could buffer more than any frame allows).
 */
static void test_streaming_writer(void **state)
{
	(void)state;
	enum { NBIG = 12 };
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	pid_t pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(sv[0]);
		uint8_t *pl = pattern(IPC_MAX_PAYLOAD, 9);
		for (int i = 0; i < NBIG; i++)
			if (ipc_write_frame(sv[1], (uint32_t)i, pl, IPC_MAX_PAYLOAD, -1) == -1)
				_exit(1);
		_exit(0);
	}
	close(sv[1]);
	struct rx ra = {0};
	struct ipc_handlers ha = handlers(&ra);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	pump(base, &ra, NBIG, 1);
	assert_int_equal(ra.n, NBIG);
	uint8_t *pl = pattern(IPC_MAX_PAYLOAD, 9);
	for (int i = 0; i < NBIG; i++) {
		assert_int_equal(ra.type[i], i);
		assert_int_equal(ra.len[i], IPC_MAX_PAYLOAD);
		assert_memory_equal(ra.data[i], pl, IPC_MAX_PAYLOAD);
	}
	free(pl);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ipc_free(a);
	rx_free(&ra);
	event_base_free(base);
}

static void test_flush_blocking(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0};
	struct ipc_handlers ha = handlers(&ra);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	int p[2];
	assert_int_equal(pipe(p), 0);
	ipc_send(a, 1, "first", 5, -1);
	ipc_send(a, 2, "second", 6, p[0]);
	ipc_send(a, 3, "third", 5, -1);
	assert_true(ipc_pending(a) > 0);
	assert_int_equal(ipc_flush_blocking(a), 0);
	assert_int_equal(ipc_pending(a), 0);
	/* The socket is still non-blocking for the loop afterwards. */
	assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
	uint32_t type;
	uint8_t *pl;
	size_t len;
	int fd;
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(ipc_read_frame(sv[1], &type, &pl, &len, &fd), 0);
		assert_int_equal(type, i);
		assert_int_equal(fd != -1, i == 2);
		if (fd != -1) {
			assert_pipe_path(p[1], fd, "flushed");
			close(fd);
		}
		free(pl);
	}
	close(p[0]);
	close(p[1]);
	close(sv[1]);
	ipc_free(a);
	rx_free(&ra);
	event_base_free(base);
}

/* The lowest descriptor number not in use: with RLIMIT_NOFILE set to it,
 * no new descriptor can be made. */
static int lowest_free_fd(void)
{
	int fd = dup(0);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

/*
 * Out of descriptors, the frame fails and the channel lives: the receiver
 * gets the frame with fd_lost (the kernel dropped the fd, MSG_CTRUNC) and
 * the frames after it intact; a sender that cannot dup the fd gets -1 and
 * nothing is queued.
 */
static void test_out_of_descriptors(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	int sv[2];
	make_pair(sv);
	struct rx ra = {0}, rb = {0};
	struct ipc_handlers ha = handlers(&ra), hb = handlers(&rb);
	struct ipc *a = ipc_new(base, sv[0], &ha);
	struct ipc *b = ipc_new(base, sv[1], &hb);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(ipc_send(a, 7, "with fd", 7, p[0]), 0);
	assert_int_equal(ipc_send(a, 8, "after", 5, -1), 0);
	/* Written out before the limit falls, so only receiving is starved. */
	assert_int_equal(ipc_flush_blocking(a), 0);
	assert_int_equal(rb.n, 0);
	struct rlimit old, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest_free_fd();
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	pump(base, &rb, 2, 0);
	/* Sending an fd needs a dup: refused, nothing queued. */
	size_t before = ipc_pending(b);
	errno = 0;
	assert_int_equal(ipc_send(b, 9, "x", 1, p[1]), -1);
	assert_true(errno == EMFILE || errno == ENFILE);
	assert_int_equal(ipc_pending(b), before);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(rb.type[0], 7);
	assert_int_equal(rb.fd[0], -1);
	assert_int_equal(rb.lost, 1);
	assert_int_equal(rb.type[1], 8);
	assert_memory_equal(rb.data[1], "after", 5);
	assert_int_equal(rb.closed, 0);
	/* With descriptors again, the channel carries fds as before. */
	assert_int_equal(ipc_send(a, 10, "again", 5, p[0]), 0);
	pump(base, &rb, 3, 0);
	assert_pipe_path(p[1], rb.fd[2], "still works");
	assert_int_equal(ipc_send(a, 11, NULL, IPC_MAX_PAYLOAD + 1, -1), -1);
	assert_int_equal(errno, EMSGSIZE);
	close(p[0]);
	close(p[1]);
	ipc_free(a);
	ipc_free(b);
	rx_free(&ra);
	rx_free(&rb);
	event_base_free(base);
}

int main(void)
{
	/* A failing test must not die of SIGPIPE before it can say why. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_large_frames),
	    cmocka_unit_test(test_fd_passing),
	    cmocka_unit_test(test_interleaved_fds),
	    cmocka_unit_test(test_many_queued),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_fd_burst_one_pass),
	    cmocka_unit_test(test_blocking_helpers_with_loop),
	    cmocka_unit_test(test_blocking_pair),
	    cmocka_unit_test(test_bad_header_closes),
	    cmocka_unit_test(test_peer_close),
	    cmocka_unit_test(test_frames_then_close),
	    cmocka_unit_test(test_flush_blocking),
	    cmocka_unit_test(test_streaming_writer),
	    cmocka_unit_test(test_out_of_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
