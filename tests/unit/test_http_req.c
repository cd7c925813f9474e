/*
 * Unit tests for http_req, the metrics endpoint's request-head parser:
 * every case is fed whole, one byte at a time and in odd-sized chunks, and
 * must give the same result, status, method and target each time; what
 * follows a complete head is never consumed. Then the routing (200, 404,
 * 405) and the bounds (line, target, fields, whole head).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_util.h"

#include "buf.h"
#include "http_req.h"
#include "xmalloc.h"

struct outcome {
	enum http_result res;
	int status; /* HTTP_ERROR; for HTTP_DONE: the route's answer for /metrics */
	size_t used;
	enum http_method method;
	char target[HTTP_REQ_TARGET_MAX + 1];
};

/* Feed p in chunks of step octets (0: whole), as a server would. */
static struct outcome run(const char *p, size_t n, size_t step)
{
	struct http_req r;
	struct outcome o = {0};
	http_req_init(&r);
	size_t off = 0;
	enum http_result res = HTTP_MORE;
	while (off < n && res == HTTP_MORE) {
		size_t k = step == 0 || n - off < step ? n - off : step, used;
		res = http_req_feed(&r, (const uint8_t *)p + off, k, &used);
		assert_true(used <= k);
		if (res == HTTP_MORE)
			assert_int_equal(used, k);
		off += used;
	}
	if (res != HTTP_MORE) { /* sticky, and nothing more is consumed */
		size_t again;
		assert_int_equal(http_req_feed(&r, (const uint8_t *)"x", 1, &again), res);
		assert_int_equal(again, 0);
	}
	o.res = res;
	o.used = off;
	if (res == HTTP_ERROR) {
		o.status = r.status;
		assert_non_null(r.reason);
	} else if (res == HTTP_DONE) {
		o.status = http_req_route(&r, "/metrics");
		o.method = r.method;
		snprintf(o.target, sizeof(o.target), "%s", r.target);
	}
	return o;
}

/* Whole, byte by byte, and in chunks of 2, 3, 7 and 64: one answer. */
static struct outcome run_all(const char *p, size_t n)
{
	struct outcome first = run(p, n, 0);
	static const size_t steps[] = {1, 2, 3, 7, 64};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct outcome o = run(p, n, steps[i]);
		assert_int_equal(o.res, first.res);
		assert_int_equal(o.status, first.status);
		assert_int_equal(o.used, first.used);
		assert_int_equal(o.method, first.method);
		assert_string_equal(o.target, first.target);
	}
	return first;
}

static const struct {
	const char *in;
	enum http_result res;
	int status; /* error status, or the route's answer */
	const char *target;
} cases[] = {
    /* what scrapers send */
    {"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9465\r\nUser-Agent: Prometheus/2.45\r\n"
     "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
     "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
     HTTP_DONE, 200, "/metrics"},
    {"GET /metrics HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: localhost\r\n"
     "User-Agent: Python-urllib/3.11\r\nConnection: close\r\n\r\n",
     HTTP_DONE, 200, "/metrics"},
    {"GET /metrics HTTP/1.0\r\n\r\n", HTTP_DONE, 200, "/metrics"},
    {"GET /metrics HTTP/1.0\n\n", HTTP_DONE, 200, "/metrics"}, /* bare LF ends lines */
    {"\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", HTTP_DONE, 200, "/metrics"},
    {"GET /metrics?name[]=x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 200, "/metrics?name[]=x"},
    {"GET http://127.0.0.1:9465/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", HTTP_DONE, 200,
     "http://127.0.0.1:9465/metrics"},
    {"GET /metrics HTTP/1.1\r\nHost:\r\nX-Empty:   \r\nX-Tab:\ta\tb\r\nX-8bit: \xc3\xa9\r\n\r\n",
     HTTP_DONE, 200, "/metrics"},
    {"GET /metrics HTTP/1.9\r\nHost: a\r\n\r\n", HTTP_DONE, 200, "/metrics"},
    /* answered, but not with metrics */
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 404, "/"},
    {"GET /metrics/ HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 404, "/metrics/"},
    {"GET /Metrics HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 404, "/Metrics"},
    {"GET /metricsx HTTP/1.0\r\n\r\n", HTTP_DONE, 404, "/metricsx"},
    {"GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 404, "http://a"},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 404, "*"},
    {"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", HTTP_DONE, 405,
     "/metrics"},
    {"HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 405, "/metrics"},
    {"get /metrics HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_DONE, 405, "/metrics"},
    /* refused */
    {"GET /metrics HTTP/1.1\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET  /metrics HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics  HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {" GET /metrics HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1 \r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics\r\n", HTTP_ERROR, 400, ""},
    {"GET\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics http/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.10\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/2.0\r\n", HTTP_ERROR, 505, ""},
    {"GET /metrics HTTP/0.9\r\n", HTTP_ERROR, 505, ""},
    {"GET metrics HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GET /met\x01rics HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GET /m\xc3\xa9trics HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GE(T /metrics HTTP/1.1\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\rHost: a\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\n: a\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHost: a\x01\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHost: a\x7f\r\n\r\n", HTTP_ERROR, 400, ""},
    {"GET /metrics HTTP/1.1\r\nHo\x80st: a\r\n\r\n", HTTP_ERROR, 400, ""},
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		struct outcome o = run_all(in, strlen(in));
		if (o.res != cases[i].res || o.status != cases[i].status ||
		    strcmp(o.target, cases[i].target) != 0)
			fail_msg("case %zu (%s): result %d status %d target \"%s\"", i, in,
			         (int)o.res, o.status, o.target);
	}
}

/* A NUL in the head is refused (it cannot be in a string literal above). */
static void test_nul(void **state)
{
	(void)state;
	static const char in[] = "GET /metrics HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	struct outcome o = run_all(in, sizeof(in) - 1);
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 400);
}

/* The head ends at the empty line: a pipelined request or a body stays. */
static void test_stops_at_end_of_head(void **state)
{
	(void)state;
	const char *head = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
	char *in = xasprintf("%sGET / HTTP/1.1\r\n", head);
	struct outcome o = run_all(in, strlen(in));
	assert_int_equal(o.res, HTTP_DONE);
	assert_int_equal(o.used, strlen(head));
	free(in);
	/* Incomplete heads ask for more, whatever the cut. */
	for (size_t n = 0; n < strlen(head); n++)
		assert_int_equal(run_all(head, n).res, HTTP_MORE);
}

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_bounds(void **state)
{
	(void)state;
	/* The longest target passes, one more octet is 414. */
	char *t = repeat('a', HTTP_REQ_TARGET_MAX - 1);
	char *in = xasprintf("GET /%s HTTP/1.0\r\n\r\n", t);
	struct outcome o = run_all(in, strlen(in));
	assert_int_equal(o.res, HTTP_DONE);
	assert_int_equal(o.status, 404);
	free(in);
	in = xasprintf("GET /%sa HTTP/1.0\r\n\r\n", t);
	o = run_all(in, strlen(in));
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 414);
	free(in);
	free(t);
	/* A request line with no end in sight: 414 once it passes the line limit. */
	t = repeat('a', HTTP_REQ_LINE_MAX + 10);
	in = xasprintf("GET /%s", t);
	o = run_all(in, strlen(in));
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 414);
	assert_int_equal(o.used, HTTP_REQ_LINE_MAX + 1);
	free(in);
	free(t);
	/* One header field over the line limit: 431. */
	t = repeat('v', HTTP_REQ_LINE_MAX);
	in = xasprintf("GET /metrics HTTP/1.0\r\nX: %s\r\n\r\n", t);
	o = run_all(in, strlen(in));
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 431);
	free(in);
	free(t);
	/* HTTP_REQ_FIELDS_MAX fields pass, one more is 431. */
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "GET /metrics HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < HTTP_REQ_FIELDS_MAX; i++)
		buf_printf(&b, "X-%d: y\r\n", i);
	buf_append_str(&b, "\r\n");
	o = run_all((const char *)b.data, b.len);
	assert_int_equal(o.res, HTTP_DONE);
	assert_int_equal(o.status, 200);
	b.len -= 2;
	buf_append_str(&b, "X-last: y\r\n\r\n");
	o = run_all((const char *)b.data, b.len);
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 431);
	/* A head over HTTP_REQ_MAX in few fields: 431 at its limit exactly. */
	buf_reset(&b);
	buf_append_str(&b, "GET /metrics HTTP/1.1\r\nHost: a\r\n");
	t = repeat('z', 1000);
	for (int i = 0; i < 9; i++)
		buf_printf(&b, "X-%d: %s\r\n", i, t);
	free(t);
	o = run_all((const char *)b.data, b.len);
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 431);
	assert_int_equal(o.used, HTTP_REQ_MAX + 1);
	/* Endless empty lines before the request line: bounded too. */
	buf_reset(&b);
	for (int i = 0; i < HTTP_REQ_MAX; i++)
		buf_append_str(&b, "\r\n");
	o = run_all((const char *)b.data, b.len);
	assert_int_equal(o.res, HTTP_ERROR);
	assert_int_equal(o.status, 400);
	assert_int_equal(o.used, HTTP_REQ_MAX + 1);
	buf_free(&b);
}

static void test_path(void **state)
{
	(void)state;
	static const struct {
		const char *target, *path;
	} paths[] = {
	    {"/metrics", "/metrics"},
	    {"/metrics?x=1", "/metrics"},
	    {"/metrics#f", "/metrics"},
	    {"http://h:1/metrics?x", "/metrics"},
	    {"HTTP://h/metrics", "/metrics"},
	    {"http://h", "/"},
	    {"http://h?x", "/"},
	    {"*", "/"},
	    {"/", "/"},
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct http_req r;
		http_req_init(&r);
		snprintf(r.target, sizeof(r.target), "%s", paths[i].target);
		char p[64];
		http_req_path(&r, p, sizeof(p));
		assert_string_equal(p, paths[i].path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_nul),
	    cmocka_unit_test(test_stops_at_end_of_head),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
