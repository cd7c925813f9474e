/*
 * The metrics role (raven-metrics) in process: a real loopback listener,
 * HTTP clients on real sockets, and this test as the queue that answers
 * METRICS_REQ. GET /metrics gets the queue's text with the Prometheus
 * content type, whole or sent a byte at a time; anything else 404, 405 or
 * 4xx; a silent queue or an empty text 503; a slow client 408; more than
 * METRICS_MAX_CONNS connections 503; a broken queue frame ends the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unit_util.h"

#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "metrics_role.h"
#include "proto.h"
#include "xmalloc.h"

#define TEXT "# HELP raven_x X\n# TYPE raven_x counter\nraven_x 42\n"

struct fx {
	struct event_base *base;
	struct metrics_role *mr;
	int queue; /* our end: the queue's */
	uint16_t port;
	const char *answer; /* what the fake queue answers; NULL: nothing */
	size_t asked;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 64), 0);
	socklen_t sl = sizeof(sin);
	getsockname(l, (struct sockaddr *)&sin, &sl);
	f->port = ntohs(sin.sin_port);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	f->queue = sp[0];
	f->base = event_base_new();
	f->mr = metrics_role_new(f->base, sp[1], &l, 1);
	metrics_role_set_timeouts(f->mr, 400, 400);
	f->answer = TEXT;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	metrics_role_free(f->mr);
	close(f->queue);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* The fake queue: answer every METRICS_REQ waiting on our end. */
static void serve_queue(struct fx *f)
{
	char c;
	while (recv(f->queue, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		uint32_t type;
		uint8_t *p;
		size_t len;
		int fd;
		assert_int_equal(ipc_read_frame(f->queue, &type, &p, &len, &fd), 0);
		assert_int_equal(type, PROTO_METRICS_REQ);
		uint64_t req;
		assert_int_equal(proto_decode_req(p, len, &req), 0);
		free(p);
		f->asked++;
		if (f->answer == NULL)
			continue;
		struct buf b;
		buf_init(&b, 0);
		metrics_encode_text(&b, req, f->answer, strlen(f->answer));
		assert_int_equal(ipc_write_frame(f->queue, PROTO_METRICS_TEXT, b.data, b.len, -1),
		                 0);
		buf_free(&b);
	}
}

static void pump(struct fx *f)
{
	for (int i = 0; i < 5; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		serve_queue(f);
	}
}

static int client(struct fx *f)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons(f->port),
	                          .sin_addr.s_addr = htonl(0x7f000001)};
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	pump(f);
	return s;
}

/* Everything the server sends until it closes (running the loop). */
static char *response(struct fx *f, int s)
{
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < 4000; i++) {
		pump(f);
		char tmp[4096];
		ssize_t n = recv(s, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			buf_append(&b, tmp, (size_t)n);
		else
			usleep(1000);
	}
	close(s);
	buf_append_byte(&b, 0);
	char *out = xstrdup((const char *)b.data);
	buf_free(&b);
	return out;
}

/* Send req (step octets at a time, 0: whole) and return the response. */
static char *ask(struct fx *f, const char *req, size_t step)
{
	int s = client(f);
	size_t n = strlen(req);
	for (size_t off = 0; off < n;) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		assert_int_equal(send(s, req + off, k, MSG_NOSIGNAL), (ssize_t)k);
		off += k;
		pump(f);
	}
	return response(f, s);
}

static const char *const scrape = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "User-Agent: Prometheus/2.45.0\r\nAccept: text/plain\r\n\r\n";

static void assert_ok(const char *r)
{
	char *want = xasprintf("HTTP/1.1 200 OK\r\n"
	                       "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	                       "Content-Length: %zu\r\n"
	                       "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
	                       strlen(TEXT), TEXT);
	assert_string_equal(r, want);
	free(want);
}

static void test_scrape(void **state)
{
	struct fx *f = *state;
	char *r = ask(f, scrape, 0);
	assert_ok(r);
	free(r);
	r = ask(f, scrape, 1); /* a byte at a time */
	assert_ok(r);
	free(r);
	r = ask(f, "GET /metrics?x=1 HTTP/1.0\n\n", 3);
	assert_ok(r);
	free(r);
	assert_int_equal(f->asked, 3);
}

static void has_status(const char *r, const char *status_line)
{
	if (strncmp(r, status_line, strlen(status_line)) != 0)
		fail_msg("want %s, got:\n%s", status_line, r);
	assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
}

static void test_not_metrics(void **state)
{
	struct fx *f = *state;
	char *r = ask(f, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	has_status(r, "HTTP/1.1 404 Not Found\r\n");
	free(r);
	r = ask(f, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", 0);
	has_status(r, "HTTP/1.1 405 Method Not Allowed\r\n");
	assert_non_null(strstr(r, "\r\nAllow: GET\r\n"));
	free(r);
	r = ask(f, "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	has_status(r, "HTTP/1.1 405 ");
	assert_true(strlen(r) > 4 && strcmp(r + strlen(r) - 4, "\r\n\r\n") == 0); /* no body */
	free(r);
	r = ask(f, "GET /metrics HTTP/1.1\r\n\r\n", 0);
	has_status(r, "HTTP/1.1 400 Bad Request\r\n");
	assert_non_null(strstr(r, "\r\n\r\n400 Bad Request: no Host field\n"));
	free(r);
	r = ask(f, "\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03", 0); /* TLS to a plain port */
	has_status(r, "HTTP/1.1 400 ");
	free(r);
	r = ask(f, "GET /metrics HTTP/2.0\r\n\r\n", 0);
	has_status(r, "HTTP/1.1 505 ");
	free(r);
	struct buf big;
	buf_init(&big, 0);
	buf_append_str(&big, "GET /metrics HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 100; i++)
		buf_printf(&big, "X-%d: %0100d\r\n", i, 0);
	buf_append_str(&big, "\r\n");
	buf_append_byte(&big, 0);
	r = ask(f, (const char *)big.data, 0);
	has_status(r, "HTTP/1.1 431 ");
	free(r);
	buf_free(&big);
	assert_int_equal(f->asked, 0); /* the queue was never bothered */
}

static void test_queue_trouble(void **state)
{
	struct fx *f = *state;
	f->answer = "";
	char *r = ask(f, scrape, 0);
	has_status(r, "HTTP/1.1 503 Service Unavailable\r\n");
	free(r);
	f->answer = NULL; /* the queue does not answer: 503 after the answer timeout */
	r = ask(f, scrape, 0);
	has_status(r, "HTTP/1.1 503 ");
	assert_non_null(strstr(r, "the queue did not answer"));
	free(r);
	assert_int_equal(f->asked, 2);
}

/* A client that sends part of a head and stalls is cut at the read
 * timeout, however it trickles. */
static void test_slow_client(void **state)
{
	struct fx *f = *state;
	int s = client(f);
	const char *part = "GET /metrics HTTP/1.1\r\nHo";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; part[i]; i++) {
		send(s, part + i, 1, MSG_NOSIGNAL);
		pump(f);
		usleep(20000); /* 20 ms an octet: alive, never done */
	}
	char *r = response(f, s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	has_status(r, "HTTP/1.1 408 Request Timeout\r\n");
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 2.0);
	free(r);
}

/* METRICS_MAX_CONNS at once; the next one is told 503 and closed. */
static void test_connection_limit(void **state)
{
	struct fx *f = *state;
	int idle[METRICS_MAX_CONNS];
	for (int i = 0; i < METRICS_MAX_CONNS; i++)
		idle[i] = client(f);
	char *r = ask(f, scrape, 0);
	has_status(r, "HTTP/1.1 503 ");
	free(r);
	for (int i = 0; i < METRICS_MAX_CONNS; i++)
		close(idle[i]);
	pump(f);
	r = ask(f, scrape, 0);
	assert_ok(r);
	free(r);
}

/* A frame from the queue that is not METRICS_TEXT, or does not decode:
 * the queue channel is shut and the loop ends (the role exits there). */
static void test_broken_queue(void **state)
{
	struct fx *f = *state;
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_text(&b, 999, "stale", 5); /* for nobody: ignored */
	assert_int_equal(ipc_write_frame(f->queue, PROTO_METRICS_TEXT, b.data, b.len, -1), 0);
	pump(f);
	assert_false(event_base_got_break(f->base));
	buf_reset(&b);
	buf_put_u64(&b, 1);
	assert_int_equal(ipc_write_frame(f->queue, PROTO_METRICS_TEXT, b.data, b.len, -1), 0);
	buf_free(&b);
	int broke = 0; /* each loop run clears the flag: look after every one */
	for (int i = 0; i < 50 && !broke; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		broke = event_base_got_break(f->base);
	}
	assert_true(broke);
}

int main(void)
{
	log_init("test", 0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scrape, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_trouble, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_queue, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
