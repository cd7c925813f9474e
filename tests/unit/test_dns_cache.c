/*
 * Unit tests for the pieces that let a socket-less role resolve: raw
 * replies turned into answers (dns_answer_from_raw), the bounded answer
 * cache (dns_cache), and the remote resolver (dns_new_remote) driven with
 * a fake "ask" and replies handed back as a resolver role would.
 */
#include "unit_util.h"

#include "dns_pkt.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "dns_cache.h"

/* A reply to name/A: RCODE rcode with one A record 192.0.2.<last>, or
 * none (last 0). */
static void reply_a(struct pb *b, const char *name, unsigned rcode, uint8_t last, uint32_t ttl)
{
	b->n = 0;
	put16(b, 0x1234);
	put16(b, 0x8180 | rcode);
	put16(b, 1);
	put16(b, last ? 1 : 0);
	put16(b, 0);
	put16(b, 0);
	put_name(b, name);
	put16(b, DNS_T_A);
	put16(b, 1);
	if (last) {
		put16(b, 0xc00c);
		put16(b, DNS_T_A);
		put16(b, 1);
		put32(b, ttl);
		put16(b, 4);
		uint8_t a[4] = {192, 0, 2, last};
		put(b, a, 4);
	}
}

static struct dns_raw raw_of(const struct pb *b, int rcode)
{
	struct dns_raw r = {.answered = 1, .rcode = rcode, .pkt = b->p, .len = b->n};
	return r;
}

static void test_from_raw(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	struct dns_raw none = {.answered = 0, .status = DNS_TIMEOUT};
	dns_answer_from_raw(&none, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_TIMEOUT);
	assert_non_null(a.why);
	dns_answer_free(&a);

	reply_a(&b, "x.example", 0, 7, 60);
	struct dns_raw r = raw_of(&b, 0);
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_OK);
	assert_int_equal(a.nrr, 1);
	assert_int_equal(a.rr[0].u.a[3], 7);
	assert_int_equal(a.ttl, 60);
	assert_false(a.secure);
	dns_answer_free(&a);

	r.sec = 2;
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_true(a.secure);
	dns_answer_free(&a);

	r.sec = 1; /* bogus: never used */
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	assert_true(a.bogus);
	assert_int_equal(a.nrr, 0);
	dns_answer_free(&a);

	/* a packet for another type, a broken one, a SERVFAIL */
	r.sec = 0;
	dns_answer_from_raw(&r, DNS_T_TXT, &a);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	dns_answer_free(&a);
	r.len = 5;
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	dns_answer_free(&a);
	reply_a(&b, "x.example", 2, 0, 0);
	r = raw_of(&b, 2);
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	dns_answer_free(&a);

	/* NXDOMAIN: from the packet, and without one */
	reply_a(&b, "x.example", 3, 0, 0);
	r = raw_of(&b, 3);
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	dns_answer_free(&a);
	r.pkt = NULL;
	r.len = 0;
	dns_answer_from_raw(&r, DNS_T_A, &a);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	dns_answer_free(&a);
}

static void test_cache(void **state)
{
	(void)state;
	struct pb b;
	struct dns_raw got;
	struct dns_cache *c = dns_cache_new(2, 100);
	reply_a(&b, "a.example", 0, 1, 60);
	struct dns_raw r = raw_of(&b, 0);
	dns_cache_put(c, "a.example", DNS_T_A, &r, 60, 1000);
	assert_true(dns_cache_get(c, "A.EXAMPLE", DNS_T_A, 1059, &got));
	assert_int_equal(got.len, b.n);
	assert_memory_equal(got.pkt, b.p, b.n);
	assert_false(dns_cache_get(c, "a.example", DNS_T_TXT, 1000, &got));
	assert_false(dns_cache_get(c, "a.example", DNS_T_A, 1060, &got)); /* expired */
	assert_int_equal(dns_cache_count(c), 0);

	/* TTL capped; ttl 0, no packet and oversized packets are not kept */
	dns_cache_put(c, "a.example", DNS_T_A, &r, 100000, 0);
	assert_true(dns_cache_get(c, "a.example", DNS_T_A, 99, &got));
	assert_false(dns_cache_get(c, "a.example", DNS_T_A, 100, &got));
	dns_cache_put(c, "z.example", DNS_T_A, &r, 0, 0);
	struct dns_raw nopkt = {.answered = 1};
	dns_cache_put(c, "z.example", DNS_T_A, &nopkt, 60, 0);
	struct dns_raw big = r;
	big.len = DNS_CACHE_PACKET_MAX + 1;
	dns_cache_put(c, "z.example", DNS_T_A, &big, 60, 0);
	assert_int_equal(dns_cache_count(c), 0);

	/* full: the oldest goes; a replaced entry counts once */
	dns_cache_put(c, "a.example", DNS_T_A, &r, 60, 0);
	dns_cache_put(c, "b.example", DNS_T_A, &r, 60, 0);
	dns_cache_put(c, "b.example", DNS_T_A, &r, 60, 0);
	assert_int_equal(dns_cache_count(c), 2);
	dns_cache_put(c, "c.example", DNS_T_A, &r, 60, 0);
	assert_int_equal(dns_cache_count(c), 2);
	assert_false(dns_cache_get(c, "a.example", DNS_T_A, 1, &got));
	assert_true(dns_cache_get(c, "b.example", DNS_T_A, 1, &got));
	assert_true(dns_cache_get(c, "c.example", DNS_T_A, 1, &got));
	dns_cache_free(c);
}

/* ---- the remote resolver ---- */

struct asked {
	uint64_t id[16];
	char name[16][64];
	size_t n;
	int fail;
};

static int fake_ask(void *arg, uint64_t id, const char *name, uint16_t type)
{
	struct asked *a = arg;
	(void)type;
	if (a->fail)
		return -1;
	assert_true(a->n < 16);
	a->id[a->n] = id;
	snprintf(a->name[a->n], sizeof(a->name[0]), "%s", name);
	a->n++;
	return 0;
}

struct got {
	int calls;
	enum dns_status status;
	uint8_t last;
};

static void on_answer(const struct dns_answer *a, void *arg)
{
	struct got *g = arg;
	g->calls++;
	g->status = a->status;
	g->last = a->status == DNS_OK ? a->rr[0].u.a[3] : 0;
}

static void run(struct event_base *base)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void test_remote(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct asked asked = {0};
	struct dns_remote_ops ops = {fake_ask, &asked};
	struct dns_resolver *r = dns_new_remote(base, &ops, 200, 100);
	struct got g = {0};
	struct pb b;

	assert_null(dns_lookup(r, "bad..name", DNS_T_A, on_answer, &g));
	assert_non_null(dns_lookup(r, "a.example", DNS_T_A, on_answer, &g));
	assert_int_equal(asked.n, 1);
	assert_string_equal(asked.name[0], "a.example");
	run(base);
	assert_int_equal(g.calls, 0); /* nothing before the reply */
	reply_a(&b, "a.example", 0, 9, 60);
	struct dns_raw raw = raw_of(&b, 0);
	dns_remote_answer(r, asked.id[0] + 1000, &raw); /* nobody asked that */
	assert_int_equal(g.calls, 0);
	dns_remote_answer(r, asked.id[0], &raw);
	assert_int_equal(g.calls, 0); /* never from inside: from the loop */
	run(base);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.status, DNS_OK);
	assert_int_equal(g.last, 9);
	dns_remote_answer(r, asked.id[0], &raw); /* twice: ignored */
	run(base);
	assert_int_equal(g.calls, 1);

	/* asked again: from the cache, no frame */
	assert_non_null(dns_lookup(r, "A.example", DNS_T_A, on_answer, &g));
	assert_int_equal(asked.n, 1);
	run(base);
	assert_int_equal(g.calls, 2);
	assert_int_equal(g.last, 9);
	assert_int_equal(dns_cache_hits(r), 1);

	/* a cancelled question is never answered */
	struct dns_query *q = dns_lookup(r, "c.example", DNS_T_A, on_answer, &g);
	assert_int_equal(asked.n, 2);
	dns_cancel(q);
	reply_a(&b, "c.example", 0, 3, 60);
	raw = raw_of(&b, 0);
	dns_remote_answer(r, asked.id[1], &raw);
	run(base);
	assert_int_equal(g.calls, 2);
	assert_int_equal(dns_pending(r), 0);

	/* the remote cannot be reached: a temporary failure, from the loop */
	asked.fail = 1;
	assert_non_null(dns_lookup(r, "d.example", DNS_T_A, on_answer, &g));
	assert_int_equal(g.calls, 2);
	run(base);
	assert_int_equal(g.calls, 3);
	assert_int_equal(g.status, DNS_TEMPFAIL);
	asked.fail = 0;

	/* no reply in time: DNS_TIMEOUT, and a late reply is ignored */
	assert_non_null(dns_lookup(r, "e.example", DNS_T_A, on_answer, &g));
	event_base_dispatch(base); /* until the timer fires */
	assert_int_equal(g.calls, 4);
	assert_int_equal(g.status, DNS_TIMEOUT);
	reply_a(&b, "e.example", 0, 5, 60);
	raw = raw_of(&b, 0);
	dns_remote_answer(r, asked.id[asked.n - 1], &raw);
	run(base);
	assert_int_equal(g.calls, 4);

	/* freed with questions open: no callback */
	dns_lookup(r, "f.example", DNS_T_A, on_answer, &g);
	dns_free(r);
	run(base);
	assert_int_equal(g.calls, 4);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_raw),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_remote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
