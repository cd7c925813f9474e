/*
 * Unit tests for proto: every message survives encode + decode, and every
 * decoder refuses each shorter prefix of a valid frame, a frame with a
 * byte too many, and values out of range. A role that sent such a frame is
 * broken; the receiver must never guess.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "xmalloc.h"

/* Every proper prefix of b, and b plus one byte, must fail decode. */
#define ASSERT_STRICT(b, decode_call_on)                                                           \
	do {                                                                                       \
		for (size_t cut = 0; cut < (b).len; cut++)                                         \
			assert_int_equal(decode_call_on((b).data, cut), -1);                       \
		uint8_t *more = xmalloc((b).len + 1);                                              \
		memcpy(more, (b).data, (b).len);                                                   \
		more[(b).len] = 0;                                                                 \
		assert_int_equal(decode_call_on(more, (b).len + 1), -1);                           \
		free(more);                                                                        \
	} while (0)

static int dec_req(const uint8_t *p, size_t n)
{
	uint64_t req;
	return proto_decode_req(p, n, &req);
}

static int dec_new_ok(const uint8_t *p, size_t n)
{
	struct proto_reply r;
	int rc = proto_decode_new_ok(p, n, &r);
	if (rc == 0)
		proto_reply_free(&r);
	return rc;
}

static int dec_fail(const uint8_t *p, size_t n)
{
	struct proto_reply r;
	int rc = proto_decode_fail(p, n, &r);
	if (rc == 0)
		proto_reply_free(&r);
	return rc;
}

static int dec_deliver(const uint8_t *p, size_t n)
{
	struct proto_deliver d;
	int rc = proto_decode_deliver(p, n, &d);
	if (rc == 0)
		proto_deliver_free(&d);
	return rc;
}

static int dec_result(const uint8_t *p, size_t n)
{
	struct proto_result r;
	int rc = proto_decode_result(p, n, &r);
	if (rc == 0)
		proto_result_free(&r);
	return rc;
}

static int dec_auth_req(const uint8_t *p, size_t n)
{
	struct proto_auth_req a;
	int rc = proto_decode_auth_req(p, n, &a);
	if (rc == 0)
		proto_auth_req_free(&a);
	return rc;
}

static int dec_auth_res(const uint8_t *p, size_t n)
{
	struct proto_auth_res a;
	int rc = proto_decode_auth_res(p, n, &a);
	if (rc == 0)
		proto_auth_res_free(&a);
	return rc;
}

/* AUTH_REQ / AUTH_RES: round trips, strictness, and the values no sane
 * peer sends (an empty login or password, a status out of range, a login
 * without success or success without one, fields over their bounds). */
static void test_auth(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	struct proto_auth_req q = {42, "2001:db8::1", "alice", "s3cret pass"}, qd;
	proto_encode_auth_req(&b, &q);
	assert_int_equal(proto_decode_auth_req(b.data, b.len, &qd), 0);
	assert_true(qd.req == 42);
	assert_string_equal(qd.client, "2001:db8::1");
	assert_string_equal(qd.login, "alice");
	assert_string_equal(qd.password, "s3cret pass");
	proto_auth_req_free(&qd);
	assert_null(qd.password);
	ASSERT_STRICT(b, dec_auth_req);
	static const struct proto_auth_req bad_q[] = {{1, "c", "", "pw"}, {1, "c", "alice", ""}};
	for (size_t i = 0; i < 2; i++) {
		buf_reset(&b);
		proto_encode_auth_req(&b, &bad_q[i]);
		assert_int_equal(dec_auth_req(b.data, b.len), -1);
	}
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct proto_auth_req long_pw = {1, "c", "alice", big}, long_client = {1, big, "a", "p"};
	buf_reset(&b);
	proto_encode_auth_req(&b, &long_pw);
	assert_int_equal(dec_auth_req(b.data, b.len), -1);
	buf_reset(&b);
	proto_encode_auth_req(&b, &long_client);
	assert_int_equal(dec_auth_req(b.data, b.len), -1);

	struct proto_auth_res r = {43, AUTH_OK, "alice"}, rd;
	buf_reset(&b);
	proto_encode_auth_res(&b, &r);
	assert_int_equal(proto_decode_auth_res(b.data, b.len, &rd), 0);
	assert_true(rd.req == 43);
	assert_int_equal(rd.status, AUTH_OK);
	assert_string_equal(rd.login, "alice");
	proto_auth_res_free(&rd);
	ASSERT_STRICT(b, dec_auth_res);
	static const struct proto_auth_res good_r[] = {
	    {1, AUTH_FAIL, ""}, {1, AUTH_LOCKED, ""}, {1, AUTH_TEMP, ""}};
	static const struct proto_auth_res bad_r[] = {
	    {1, AUTH_OK, ""}, {1, AUTH_FAIL, "alice"}, {1, AUTH_TEMP + 1, ""}, {1, 255, ""}};
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&b);
		proto_encode_auth_res(&b, &good_r[i]);
		assert_int_equal(dec_auth_res(b.data, b.len), 0);
	}
	for (size_t i = 0; i < 4; i++) {
		buf_reset(&b);
		proto_encode_auth_res(&b, &bad_r[i]);
		assert_int_equal(dec_auth_res(b.data, b.len), -1);
	}
	/* and the auth role is a peer the parent may hand over */
	buf_reset(&b);
	proto_encode_peer(&b, PEER_AUTH);
	uint32_t kind = 0;
	assert_int_equal(proto_decode_peer(b.data, b.len, &kind), 0);
	assert_int_equal(kind, PEER_AUTH);
	buf_reset(&b);
	proto_encode_peer(&b, PEER_KIND_MAX + 1);
	assert_int_equal(proto_decode_peer(b.data, b.len, &kind), -1);
	buf_free(&b);
}

static void test_small_messages(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, 0x0102030405060708ull);
	uint64_t req = 0;
	assert_int_equal(proto_decode_req(b.data, b.len, &req), 0);
	assert_true(req == 0x0102030405060708ull);
	ASSERT_STRICT(b, dec_req);

	buf_reset(&b);
	proto_encode_new_ok(&b, 7, "000661A13D94AD75");
	struct proto_reply r;
	assert_int_equal(proto_decode_new_ok(b.data, b.len, &r), 0);
	assert_true(r.req == 7);
	assert_string_equal(r.id, "000661A13D94AD75");
	proto_reply_free(&r);
	ASSERT_STRICT(b, dec_new_ok);

	buf_reset(&b);
	proto_encode_fail(&b, 9, 28, "No space left on device");
	assert_int_equal(proto_decode_fail(b.data, b.len, &r), 0);
	assert_true(r.req == 9);
	assert_int_equal(r.error, 28);
	assert_string_equal(r.reason, "No space left on device");
	proto_reply_free(&r);
	ASSERT_STRICT(b, dec_fail);

	buf_reset(&b);
	proto_encode_id(&b, "ABC123");
	char id[ENVELOPE_ID_MAX + 1];
	assert_int_equal(proto_decode_id(b.data, b.len, id, sizeof(id)), 0);
	assert_string_equal(id, "ABC123");
	assert_int_equal(proto_decode_id(b.data, b.len, id, 6), -1); /* no room for it */
	assert_int_equal(proto_decode_id(b.data, b.len - 1, id, sizeof(id)), -1);

	buf_reset(&b);
	proto_encode_peer(&b, PEER_LOCAL);
	uint32_t kind = 0;
	assert_int_equal(proto_decode_peer(b.data, b.len, &kind), 0);
	assert_int_equal(kind, PEER_LOCAL);
	buf_free(&b);
}

static void test_deliver(void **state)
{
	(void)state;
	uint32_t idx[] = {0, 3, 4};
	char *users[] = {"alice", "bob", "carol"};
	char *addrs[] = {"team@example.org", "bob@example.org", "postmaster"};
	uint32_t notify[] = {NOTIFY_SUCCESS | NOTIFY_FAILURE, 0, NOTIFY_NEVER};
	char *orcpt[] = {"rfc822;team@example.org", "", "utf-8;pm"};
	struct proto_deliver d = {
	    .job = 42,
	    .id = "000661A13D94AD75",
	    .action = "mailbox",
	    .arrival = 1800000000,
	    .sender = "",
	    .size = 12345,
	    .body = BODY_8BITMIME,
	    .smtputf8 = 1,
	    .ret = RET_HDRS,
	    .envid = "ENV-1",
	    .n = 3,
	    .idx = idx,
	    .user = users,
	    .addr = addrs,
	    .notify = notify,
	    .orcpt = orcpt,
	    .crc = 0xE3069283u,
	    .has_crc = 1,
	};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_deliver(&b, &d);
	struct proto_deliver got;
	assert_int_equal(proto_decode_deliver(b.data, b.len, &got), 0);
	assert_int_equal(got.crc, 0xE3069283u);
	assert_int_equal(got.has_crc, 1);
	assert_true(got.job == 42);
	assert_string_equal(got.id, d.id);
	assert_string_equal(got.action, "mailbox");
	assert_true(got.arrival == 1800000000);
	assert_string_equal(got.sender, "");
	assert_int_equal(got.n, 3);
	assert_true(got.size == 12345);
	assert_int_equal(got.body, BODY_8BITMIME);
	assert_int_equal(got.smtputf8, 1);
	assert_int_equal(got.ret, RET_HDRS);
	assert_string_equal(got.envid, "ENV-1");
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(got.idx[i], idx[i]);
		assert_string_equal(got.user[i], users[i]);
		assert_string_equal(got.addr[i], addrs[i]);
		assert_int_equal(got.notify[i], notify[i]);
		assert_string_equal(got.orcpt[i], orcpt[i]);
	}
	proto_deliver_free(&got);
	ASSERT_STRICT(b, dec_deliver);

	/* the checksum flag is 0 or 1 */
	d.has_crc = 2;
	buf_reset(&b);
	proto_encode_deliver(&b, &d);
	assert_int_equal(dec_deliver(b.data, b.len), -1);
	d.has_crc = 1;

	/* no recipient at all is refused, even well framed */
	d.n = 0;
	buf_reset(&b);
	proto_encode_deliver(&b, &d);
	assert_int_equal(dec_deliver(b.data, b.len), -1);
	/* a NUL inside a string is refused */
	d.n = 1;
	d.sender = "s@example.org";
	buf_reset(&b);
	proto_encode_deliver(&b, &d);
	uint8_t *at = memmem(b.data, b.len, "s@example", 9);
	assert_non_null(at);
	at[1] = '\0';
	assert_int_equal(dec_deliver(b.data, b.len), -1);
	buf_free(&b);
}

static void test_result(void **state)
{
	(void)state;
	uint32_t idx[] = {1, 2};
	uint8_t status[] = {DELIVER_OK, DELIVER_CORRUPT};
	char *text[] = {"delivered to maildir /var/mail/a", "unsafe mailbox name"};
	uint8_t rflags[] = {PROTO_RCPT_RELAYED, 0};
	struct proto_result r = {.job = 5,
	                         .flags = PROTO_DEST_UNREACHABLE,
	                         .n = 2,
	                         .idx = idx,
	                         .status = status,
	                         .rflags = rflags,
	                         .text = text};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_result(&b, &r);
	struct proto_result got;
	assert_int_equal(proto_decode_result(b.data, b.len, &got), 0);
	assert_true(got.job == 5);
	assert_int_equal(got.flags, PROTO_DEST_UNREACHABLE);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.status[1], DELIVER_CORRUPT);
	assert_int_equal(got.rflags[0], PROTO_RCPT_RELAYED);
	assert_int_equal(got.rflags[1], 0);
	assert_string_equal(got.text[0], text[0]);
	proto_result_free(&got);
	ASSERT_STRICT(b, dec_result);
	/* unknown flags are refused */
	r.flags = 2;
	buf_reset(&b);
	proto_encode_result(&b, &r);
	assert_int_equal(dec_result(b.data, b.len), -1);
	r.flags = 0;
	rflags[1] = 4;
	buf_reset(&b);
	proto_encode_result(&b, &r);
	assert_int_equal(dec_result(b.data, b.len), -1);
	rflags[1] = 0;

	/* a status the queue does not know is refused */
	status[1] = DELIVER_CORRUPT + 1;
	buf_reset(&b);
	proto_encode_result(&b, &r);
	assert_int_equal(dec_result(b.data, b.len), -1);
	buf_free(&b);
}

static int dec_commit(const uint8_t *p, size_t n)
{
	struct proto_commit c;
	char err[128];
	int rc = proto_decode_commit(p, n, &c, err, sizeof(err));
	if (rc == 0)
		envelope_free(&c.env);
	return rc;
}

/* A draft (borrowed strings) goes out; an owned envelope comes back. */
static void test_commit(void **state)
{
	(void)state;
	struct envelope_draft_rcpt r[2] = {
	    {"alice@example.org", "rfc822;alice@example.org", NOTIFY_FAILURE, "mbox", "alice"},
	    {"team@example.org", NULL, 0, "mbox", "bob"},
	};
	struct envelope_draft d = {.arrival = 1700000000,
	                           .size = 42,
	                           .sender = "s@remote.test",
	                           .helo = "client.test",
	                           .client = "192.0.2.1",
	                           .envid = "ENV1",
	                           .ret = RET_HDRS,
	                           .body = BODY_8BITMIME,
	                           .n_rcpts = 2,
	                           .rcpts = r};
	snprintf(d.id, sizeof(d.id), "ABC123");
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(proto_encode_commit(&b, 77, &d), 0);
	struct proto_commit c;
	char err[128];
	assert_int_equal(proto_decode_commit(b.data, b.len, &c, err, sizeof(err)), 0);
	assert_true(c.req == 77);
	assert_string_equal(c.env.id, "ABC123");
	assert_int_equal(c.env.size, 42);
	assert_string_equal(c.env.envid, "ENV1");
	assert_int_equal(c.env.n_rcpts, 2);
	assert_string_equal(c.env.rcpts[0].orcpt, "rfc822;alice@example.org");
	assert_int_equal(c.env.rcpts[0].notify, NOTIFY_FAILURE);
	assert_string_equal(c.env.rcpts[1].user, "bob");
	assert_null(c.env.rcpts[1].orcpt);
	assert_int_equal(c.env.rcpts[1].state, RCPT_PENDING);
	envelope_free(&c.env);
	ASSERT_STRICT(b, dec_commit);
	/* an owned copy of the draft encodes to the very same bytes */
	struct envelope owned;
	envelope_from_draft(&owned, &d);
	struct buf again;
	buf_init(&again, 0);
	assert_int_equal(envelope_encode(&owned, &again), 0);
	struct buf direct;
	buf_init(&direct, 0);
	assert_int_equal(envelope_encode_draft(&d, &direct), 0);
	assert_int_equal(again.len, direct.len);
	assert_memory_equal(again.data, direct.data, direct.len);
	envelope_free(&owned);
	/* invalid drafts are refused, nothing appended */
	d.n_rcpts = 0;
	size_t before = direct.len;
	assert_int_equal(envelope_encode_draft(&d, &direct), -1);
	assert_int_equal(direct.len, before);
	buf_free(&again);
	buf_free(&direct);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_messages), cmocka_unit_test(test_deliver),
	    cmocka_unit_test(test_result),         cmocka_unit_test(test_commit),
	    cmocka_unit_test(test_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
