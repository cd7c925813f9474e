/*
 * Unit tests for the sender-authentication frames (src/wire/proto_checks.c)
 * and DELIVER_REQ's prepend: each round-trips, every strict prefix and a
 * byte left over are refused, and values out of range never decode.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"

typedef int (*decode_fn)(const uint8_t *p, size_t n, void *out);
typedef void (*free_fn)(void *out);

/* Every strict prefix and one byte too many are refused. */
static void refuses_damage(const struct buf *b, decode_fn dec, free_fn fr, size_t outsize)
{
	void *out = malloc(outsize);
	for (size_t len = 0; len < b->len; len++) {
		uint8_t *copy = malloc(len ? len : 1); /* exactly sized for ASan */
		memcpy(copy, b->data, len);
		if (dec(copy, len, out) == 0)
			fail_msg("prefix of %zu octets decoded", len);
		free(copy);
	}
	uint8_t *more = malloc(b->len + 1);
	memcpy(more, b->data, b->len);
	more[b->len] = 0;
	if (dec(more, b->len + 1, out) == 0) {
		fr(out);
		fail_msg("a byte left over decoded");
	}
	free(more);
	free(out);
}

static int dec_dns_req(const uint8_t *p, size_t n, void *o)
{
	return proto_decode_dns_req(p, n, o);
}
static void free_dns_req(void *o)
{
	proto_dns_req_free(o);
}
static int dec_dns_res(const uint8_t *p, size_t n, void *o)
{
	return proto_decode_dns_res(p, n, o);
}
static void free_dns_res(void *o)
{
	proto_dns_res_free(o);
}
static int dec_sign_req(const uint8_t *p, size_t n, void *o)
{
	return proto_decode_sign_req(p, n, o);
}
static void free_sign_req(void *o)
{
	proto_sign_req_free(o);
}
static int dec_sign_res(const uint8_t *p, size_t n, void *o)
{
	return proto_decode_sign_res(p, n, o);
}
static void free_sign_res(void *o)
{
	proto_sign_res_free(o);
}

static void test_dns_req(void **state)
{
	(void)state;
	struct proto_dns_req q = {.req = 42, .type = 16, .name = "_dmarc.example.org"}, d;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_req(&b, &q);
	assert_int_equal(proto_decode_dns_req(b.data, b.len, &d), 0);
	assert_int_equal(d.req, 42);
	assert_int_equal(d.type, 16);
	assert_string_equal(d.name, "_dmarc.example.org");
	proto_dns_req_free(&d);
	refuses_damage(&b, dec_dns_req, free_dns_req, sizeof(d));
	/* type 0, an empty name */
	struct proto_dns_req bad[] = {{.req = 1, .type = 0, .name = "x"},
	                              {.req = 1, .type = 1, .name = ""}};
	for (size_t i = 0; i < 2; i++) {
		buf_reset(&b);
		proto_encode_dns_req(&b, &bad[i]);
		assert_int_equal(proto_decode_dns_req(b.data, b.len, &d), -1);
	}
	buf_free(&b);
}

static void test_dns_res(void **state)
{
	(void)state;
	uint8_t pkt[] = {1, 2, 3, 4, 5};
	struct proto_dns_res r = {.req = 7,
	                          .answered = 1,
	                          .rcode = 3,
	                          .sec = 2,
	                          .why = "",
	                          .pkt = pkt,
	                          .len = sizeof(pkt)},
	                     d;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_res(&b, &r);
	assert_int_equal(proto_decode_dns_res(b.data, b.len, &d), 0);
	assert_int_equal(d.req, 7);
	assert_int_equal(d.rcode, 3);
	assert_int_equal(d.sec, 2);
	assert_int_equal(d.len, sizeof(pkt));
	assert_memory_equal(d.pkt, pkt, sizeof(pkt));
	proto_dns_res_free(&d);
	refuses_damage(&b, dec_dns_res, free_dns_res, sizeof(d));

	/* no reply: a status and a reason, no packet */
	struct proto_dns_res t = {.req = 8, .answered = 0, .status = 4, .why = "timeout"};
	buf_reset(&b);
	proto_encode_dns_res(&b, &t);
	assert_int_equal(proto_decode_dns_res(b.data, b.len, &d), 0);
	assert_null(d.pkt);
	assert_string_equal(d.why, "timeout");
	proto_dns_res_free(&d);

	/* out of range: sec, rcode, status, answered, a packet with no reply */
	struct proto_dns_res bad[] = {
	    {.answered = 1, .sec = 3},
	    {.answered = 1, .rcode = 16},
	    {.answered = 0, .status = 5},
	    {.answered = 2},
	    {.answered = 0, .pkt = pkt, .len = 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		proto_encode_dns_res(&b, &bad[i]);
		if (proto_decode_dns_res(b.data, b.len, &d) == 0)
			fail_msg("bad DNS_RES %zu decoded", i);
	}
	buf_free(&b);
}

static void test_sign(void **state)
{
	(void)state;
	struct proto_sign_req q = {.req = 9,
	                           .id = "0006A1B2",
	                           .size = 123,
	                           .crc = 77,
	                           .has_crc = 1},
	                      dq;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_sign_req(&b, &q);
	assert_int_equal(proto_decode_sign_req(b.data, b.len, &dq), 0);
	assert_string_equal(dq.id, "0006A1B2");
	assert_int_equal(dq.size, 123);
	assert_int_equal(dq.crc, 77);
	proto_sign_req_free(&dq);
	refuses_damage(&b, dec_sign_req, free_sign_req, sizeof(dq));
	q.id = "not/an/id";
	buf_reset(&b);
	proto_encode_sign_req(&b, &q);
	assert_int_equal(proto_decode_sign_req(b.data, b.len, &dq), -1);

	const char *sig = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\r\n\tb=abc\r\n";
	struct proto_sign_res r = {.req = 9, .status = SIGN_OK, .text = (char *)sig}, dr;
	buf_reset(&b);
	proto_encode_sign_res(&b, &r);
	assert_int_equal(proto_decode_sign_res(b.data, b.len, &dr), 0);
	assert_string_equal(dr.text, sig);
	proto_sign_res_free(&dr);
	refuses_damage(&b, dec_sign_res, free_sign_res, sizeof(dr));
	/* a "signature" that is not header text, a status out of range */
	r.text = "DKIM-Signature: x\r\n\r\nInjected: body";
	buf_reset(&b);
	proto_encode_sign_res(&b, &r);
	assert_int_equal(proto_decode_sign_res(b.data, b.len, &dr), -1);
	r.text = "no key for example.org";
	buf_reset(&b);
	proto_encode_sign_res(&b, &r);
	assert_int_equal(proto_decode_sign_res(b.data, b.len, &dr), -1);
	r.status = SIGN_NONE;
	buf_reset(&b);
	proto_encode_sign_res(&b, &r);
	assert_int_equal(proto_decode_sign_res(b.data, b.len, &dr), 0);
	proto_sign_res_free(&dr);
	r.status = SIGN_TEMP + 1;
	buf_reset(&b);
	proto_encode_sign_res(&b, &r);
	assert_int_equal(proto_decode_sign_res(b.data, b.len, &dr), -1);
	buf_free(&b);
}

static void test_deliver_prepend(void **state)
{
	(void)state;
	uint32_t idx = 0, notify = 0;
	char *user = "bob", *addr = "bob@example.org", *orcpt = "";
	struct proto_deliver d = {.job = 1,
	                          .id = "0006A1",
	                          .action = "mailbox",
	                          .sender = "",
	                          .envid = "",
	                          .n = 1,
	                          .idx = &idx,
	                          .user = &user,
	                          .addr = &addr,
	                          .notify = &notify,
	                          .orcpt = &orcpt,
	                          .prepend = "Authentication-Results: h; none\r\n"},
	                     out;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_deliver(&b, &d);
	assert_int_equal(proto_decode_deliver(b.data, b.len, &out), 0);
	assert_string_equal(out.prepend, "Authentication-Results: h; none\r\n");
	proto_deliver_free(&out);
	d.prepend = NULL; /* encodes as "" */
	buf_reset(&b);
	proto_encode_deliver(&b, &d);
	assert_int_equal(proto_decode_deliver(b.data, b.len, &out), 0);
	assert_string_equal(out.prepend, "");
	proto_deliver_free(&out);
	/* a DELIVER_REQ from before prepend (four octets short) is refused */
	assert_int_equal(proto_decode_deliver(b.data, b.len - 4, &out), -1);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dns_req),
	    cmocka_unit_test(test_dns_res),
	    cmocka_unit_test(test_sign),
	    cmocka_unit_test(test_deliver_prepend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
