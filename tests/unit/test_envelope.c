/*
 * Unit tests for the envelope codec (src/queue/envelope.c): round trips,
 * every single-byte corruption, every truncation, hand-built files that are
 * structurally wrong but carry valid checksums, and STATE application.
 *
 * The decoder takes a whole file image, not a stream, so the "fed one byte
 * at a time" rule takes the form of decoding every prefix of a file.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crc32.h"
#include "envelope.h"
#include "xmalloc.h"

/* ---- helpers ---- */

static void rcpt_set(struct envelope_rcpt *r, const char *addr, const char *orcpt, uint32_t notify,
                     const char *action, const char *user)
{
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->action = xstrdup(action);
	r->user = user ? xstrdup(user) : NULL;
}

/* A valid envelope with n recipients and a mix of odd strings. */
static void env_make(struct envelope *e, size_t n)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->id, "Q1a2B3c4");
	e->arrival = 1700000000;
	e->size = 12345;
	e->sender = xstrdup("s\xc3\xa9nder+tag@\"quoted \\\" local\".example");
	e->helo = xstrdup("[192.0.2.1]");
	e->client = xstrdup("2001:db8::1");
	e->envid = xstrdup("QQ314159");
	e->ret = 2;
	e->body = 2;
	e->smtputf8 = 1;
	e->n_rcpts = n;
	e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	for (size_t i = 0; i < n; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "user%zu@example.org", i);
		rcpt_set(&e->rcpts[i], addr, i % 3 == 0 ? "rfc822;x@y" : NULL, (uint32_t)(i % 16),
		         i % 2 ? "outbound" : "mailbox", i % 2 ? NULL : "user");
	}
}

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void assert_env_equal(const struct envelope *a, const struct envelope *b)
{
	assert_string_equal(a->id, b->id);
	assert_true(a->arrival == b->arrival);
	assert_true(a->size == b->size);
	/* NULL sender/helo/client encode as "" */
	assert_string_equal(a->sender ? a->sender : "", b->sender ? b->sender : "");
	assert_string_equal(a->helo ? a->helo : "", b->helo ? b->helo : "");
	assert_string_equal(a->client ? a->client : "", b->client ? b->client : "");
	assert_true(str_eq(a->envid, b->envid));
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->n_rcpts, b->n_rcpts);
	for (size_t i = 0; i < a->n_rcpts; i++) {
		const struct envelope_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		assert_true(str_eq(x->addr, y->addr));
		assert_true(str_eq(x->orcpt, y->orcpt));
		assert_int_equal(x->notify, y->notify);
		assert_true(str_eq(x->action, y->action));
		assert_true(str_eq(x->user, y->user));
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_true(x->next_try == y->next_try);
		assert_true(str_eq(x->last_error, y->last_error));
	}
}

static void encode_ok(const struct envelope *e, struct buf *b)
{
	buf_init(b, 0);
	assert_int_equal(envelope_encode(e, b), 0);
}

static int decode_fails(const uint8_t *p, size_t n)
{
	struct envelope e;
	char err[128] = "";
	int rc = envelope_decode(p, n, &e, err, sizeof(err));
	if (rc == 0) {
		envelope_free(&e);
		return 0;
	}
	/* a failure always says why, and leaves nothing to free */
	assert_true(err[0] != '\0');
	assert_null(e.rcpts);
	assert_null(e.sender);
	return 1;
}

/* Hand-built records, to make files the encoder would never write. */
static void rec(struct buf *b, uint8_t type, const struct buf *payload)
{
	size_t off = b->len;
	assert_int_equal(buf_put_u8(b, type), 0);
	assert_int_equal(buf_put_u32(b, (uint32_t)payload->len), 0);
	if (payload->len)
		assert_int_equal(buf_append(b, payload->data, payload->len), 0);
	assert_int_equal(buf_put_u32(b, crc32_update(0, b->data + off, b->len - off)), 0);
}

enum { T_HEADER = 1, T_SENDER, T_PARAMS, T_RCPT, T_END, T_STATE };

static void preamble(struct buf *b)
{
	buf_init(b, 0);
	buf_append(b, "RAVENENV", 8);
	/* version 1 files, as earlier Ravens wrote them: still read */
	buf_put_u32(b, ENVELOPE_VERSION_1);
}

static void rec_header(struct buf *b, const char *id, size_t extra)
{
	struct buf p;
	buf_init(&p, 0);
	buf_put_str(&p, id);
	buf_put_u64(&p, 1);
	buf_put_u64(&p, 10);
	for (size_t i = 0; i < extra; i++)
		buf_put_u8(&p, 0);
	rec(b, T_HEADER, &p);
	buf_free(&p);
}

static void rec_sender(struct buf *b, const void *sender, size_t slen)
{
	struct buf p;
	buf_init(&p, 0);
	buf_put_bytes(&p, sender, slen);
	buf_put_str(&p, "helo");
	buf_put_str(&p, "client");
	rec(b, T_SENDER, &p);
	buf_free(&p);
}

static void rec_params(struct buf *b, uint8_t envid_flag, uint8_t ret, uint8_t body, uint8_t u8)
{
	struct buf p;
	buf_init(&p, 0);
	buf_put_u8(&p, envid_flag);
	if (envid_flag)
		buf_put_str(&p, "ENV");
	buf_put_u8(&p, ret);
	buf_put_u8(&p, body);
	buf_put_u8(&p, u8);
	rec(b, T_PARAMS, &p);
	buf_free(&p);
}

static void rec_rcpt(struct buf *b, uint8_t orcpt_flag, uint32_t notify)
{
	struct buf p;
	buf_init(&p, 0);
	buf_put_str(&p, "rcpt@example.org");
	buf_put_u8(&p, orcpt_flag);
	if (orcpt_flag)
		buf_put_str(&p, "rfc822;rcpt@example.org");
	buf_put_u32(&p, notify);
	buf_put_str(&p, "mailbox");
	buf_put_u8(&p, 0);
	rec(b, T_RCPT, &p);
	buf_free(&p);
}

static void rec_u32(struct buf *b, uint8_t type, uint32_t v)
{
	struct buf p;
	buf_init(&p, 0);
	buf_put_u32(&p, v);
	rec(b, type, &p);
	buf_free(&p);
}

static void rec_state(struct buf *b, uint32_t idx, uint8_t state)
{
	struct buf p;
	buf_init(&p, 0);
	buf_put_u32(&p, idx);
	buf_put_u8(&p, state);
	buf_put_u32(&p, 1); /* attempts */
	buf_put_u64(&p, 2); /* next try */
	buf_put_u32(&p, 0); /* notified */
	buf_put_u64(&p, 3); /* last attempt */
	buf_put_u8(&p, 0);  /* no error text */
	rec(b, T_STATE, &p);
	buf_free(&p);
}

/* A minimal valid hand-built file with k recipients. */
static void good_file(struct buf *b, uint32_t k)
{
	preamble(b);
	rec_header(b, "abc", 0);
	rec_sender(b, "s@x", 3);
	rec_params(b, 1, 1, 1, 0);
	for (uint32_t i = 0; i < k; i++)
		rec_rcpt(b, 0, 0);
	rec_u32(b, T_END, k);
}

/* ---- tests ---- */

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(crc32_update(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(crc32_update(0, "", 0), 0);
	uint32_t c = crc32_update(0, "1234", 4);
	assert_int_equal(crc32_update(c, "56789", 5), 0xCBF43926u);
}

static void test_id_valid(void **state)
{
	(void)state;
	assert_true(envelope_id_valid("a"));
	assert_true(envelope_id_valid("09AZaz"));
	assert_true(envelope_id_valid("0123456789abcdef0123456789ABCDEF")); /* 32 */
	assert_false(envelope_id_valid("0123456789abcdef0123456789ABCDEF0"));
	assert_false(envelope_id_valid(""));
	assert_false(envelope_id_valid(NULL));
	assert_false(envelope_id_valid("../x"));
	assert_false(envelope_id_valid("a.b"));
	assert_false(envelope_id_valid("a b"));
	assert_false(envelope_id_valid("\xc3\xa9"));
}

static void test_roundtrip_many(void **state)
{
	(void)state;
	struct envelope e, d;
	env_make(&e, 1000);
	/* a few odd strings: at the limit, empty, control bytes, high bytes */
	char *big = xmalloc(ENVELOPE_MAX_STR + 1);
	memset(big, 'x', ENVELOPE_MAX_STR);
	big[ENVELOPE_MAX_STR] = '\0';
	free(e.rcpts[7].addr);
	e.rcpts[7].addr = xstrdup(big);
	free(e.rcpts[8].action);
	e.rcpts[8].action = xstrdup("");
	free(e.helo);
	e.helo = xstrdup("\r\n\t\x01\xff\"\\");
	free(e.sender);
	e.sender = xstrdup("");
	e.arrival = 0; /* the range ends */
	e.size = UINT64_MAX;
	e.rcpts[9].state = RCPT_DEFERRED;
	e.rcpts[9].attempts = 7;
	e.rcpts[9].next_try = (int64_t)ENVELOPE_TIME_MAX;
	e.rcpts[9].last_error = xstrdup(big);
	e.rcpts[999].state = RCPT_HELD;
	free(big);

	struct buf b;
	encode_ok(&e, &b);
	char err[128];
	size_t used = 0;
	assert_int_equal(envelope_decode_prefix(b.data, b.len, &d, &used, err, sizeof(err)), 0);
	assert_int_equal(used, b.len);
	assert_env_equal(&e, &d);

	/* encode(decode(x)) == x, byte for byte */
	struct buf b2;
	encode_ok(&d, &b2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);

	struct envelope c;
	envelope_copy(&c, &d);
	envelope_free(&d);
	assert_env_equal(&e, &c);
	envelope_free(&c);
	envelope_free(&e);
	buf_free(&b);
	buf_free(&b2);
}

/* Small deterministic generator, so failures reproduce. */
static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static char *rnd_str(uint64_t *s, int may_null)
{
	if (may_null && rnd(s) % 4 == 0)
		return NULL;
	size_t n = rnd(s) % 5 == 0 ? rnd(s) % (ENVELOPE_MAX_STR + 1) : rnd(s) % 20;
	char *p = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(1 + rnd(s) % 255);
	p[n] = '\0';
	return p;
}

static void test_roundtrip_random(void **state)
{
	(void)state;
	uint64_t seed = 42;
	for (int iter = 0; iter < 200; iter++) {
		struct envelope e;
		memset(&e, 0, sizeof(e));
		size_t idlen = 1 + rnd(&seed) % ENVELOPE_ID_MAX;
		static const char alnum[] =
		    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
		for (size_t i = 0; i < idlen; i++)
			e.id[i] = alnum[rnd(&seed) % 62];
		e.arrival =
		    (int64_t)(((uint64_t)rnd(&seed) << 32 | rnd(&seed)) % (ENVELOPE_TIME_MAX + 1));
		e.size = (uint64_t)rnd(&seed) << 32 | rnd(&seed);
		e.sender = rnd_str(&seed, 0);
		e.helo = rnd_str(&seed, 0);
		e.client = rnd_str(&seed, 0);
		e.envid = rnd_str(&seed, 1);
		e.ret = (uint8_t)(rnd(&seed) % 3);
		e.body = (uint8_t)(rnd(&seed) % 4);
		e.smtputf8 = (uint8_t)(rnd(&seed) % 2);
		e.n_rcpts = 1 + rnd(&seed) % 30;
		e.rcpts = xcalloc(e.n_rcpts, sizeof(*e.rcpts));
		for (size_t i = 0; i < e.n_rcpts; i++) {
			struct envelope_rcpt *r = &e.rcpts[i];
			r->addr = rnd_str(&seed, 0);
			r->orcpt = rnd_str(&seed, 1);
			r->notify = rnd(&seed) % 16;
			r->action = rnd_str(&seed, 0);
			r->user = rnd_str(&seed, 1);
			if (rnd(&seed) % 2) {
				r->state = (uint8_t)(rnd(&seed) % 5);
				r->attempts = rnd(&seed);
				r->next_try = (int64_t)rnd(&seed);
				r->last_error = rnd_str(&seed, 1);
			}
		}
		struct buf b;
		encode_ok(&e, &b);
		struct envelope d;
		char err[128];
		assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
		assert_env_equal(&e, &d);
		envelope_free(&d);
		envelope_free(&e);
		buf_free(&b);
	}
}

static void test_max_rcpts(void **state)
{
	(void)state;
	struct envelope e;
	memset(&e, 0, sizeof(e));
	strcpy(e.id, "big");
	e.sender = xstrdup("");
	e.helo = xstrdup("h");
	e.client = xstrdup("c");
	e.n_rcpts = ENVELOPE_MAX_RCPTS;
	e.rcpts = xcalloc(e.n_rcpts, sizeof(*e.rcpts));
	for (size_t i = 0; i < e.n_rcpts; i++) {
		e.rcpts[i].addr = xstrdup("a@b");
		e.rcpts[i].action = xstrdup("m");
	}
	struct buf b;
	encode_ok(&e, &b);
	struct envelope d;
	char err[128];
	assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n_rcpts, ENVELOPE_MAX_RCPTS);
	envelope_free(&d);

	/* one more RCPT and a matching END: over the limit */
	b.len -= 13; /* the END record */
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, ENVELOPE_MAX_RCPTS + 1);
	assert_true(decode_fails(b.data, b.len));

	/* and the encoder refuses it too */
	e.rcpts = xreallocarray(e.rcpts, e.n_rcpts + 1, sizeof(*e.rcpts));
	e.rcpts[e.n_rcpts].addr = xstrdup("a@b");
	e.rcpts[e.n_rcpts].action = xstrdup("m");
	e.rcpts[e.n_rcpts].orcpt = e.rcpts[e.n_rcpts].user = e.rcpts[e.n_rcpts].last_error = NULL;
	e.rcpts[e.n_rcpts].state = 0;
	e.rcpts[e.n_rcpts].attempts = 0;
	e.rcpts[e.n_rcpts].next_try = 0;
	e.n_rcpts++;
	size_t before = b.len;
	assert_int_equal(envelope_encode(&e, &b), -1);
	assert_int_equal(b.len, before);
	envelope_free(&e);
	buf_free(&b);
}

static void test_encode_rejects(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	buf_append(&b, "keep", 4);
	struct envelope e;
	char *big = xmalloc(ENVELOPE_MAX_STR + 2);
	memset(big, 'y', ENVELOPE_MAX_STR + 1);
	big[ENVELOPE_MAX_STR + 1] = '\0';

#define REJECT(mutate)                                                                             \
	do {                                                                                       \
		env_make(&e, 3);                                                                   \
		size_t keep_n = e.n_rcpts;                                                         \
		mutate;                                                                            \
		assert_int_equal(envelope_encode(&e, &b), -1);                                     \
		assert_int_equal(b.len, 4);                                                        \
		e.n_rcpts = keep_n;                                                                \
		envelope_free(&e);                                                                 \
	} while (0)

	REJECT(strcpy(e.id, ""));
	REJECT(strcpy(e.id, "a/b"));
	REJECT(e.n_rcpts = 0);
	REJECT(e.ret = 3);
	REJECT(e.body = 4);
	REJECT(e.smtputf8 = 2);
	REJECT(e.rcpts[1].notify = 16);
	REJECT(e.rcpts[2].state = RCPT_FAILED + 1);
	REJECT((free(e.sender), e.sender = xstrdup(big)));
	REJECT((free(e.rcpts[0].addr), e.rcpts[0].addr = xstrdup(big)));
	REJECT(e.rcpts[0].last_error = xstrdup(big));
#undef REJECT

	/* a capped output buffer: fails, and is left as it was */
	struct buf small;
	buf_init(&small, 64);
	env_make(&e, 3);
	assert_int_equal(envelope_encode(&e, &small), -1);
	assert_int_equal(small.len, 0);
	envelope_free(&e);
	buf_free(&small);

	assert_int_equal(envelope_encode_state(0, RCPT_FAILED + 1, 0, 0, NULL, &b), -1);
	assert_int_equal(envelope_encode_state(ENVELOPE_MAX_RCPTS, 0, 0, 0, NULL, &b), -1);
	assert_int_equal(envelope_encode_state(0, 0, 0, 0, big, &b), -1);
	assert_int_equal(b.len, 4);
	free(big);
	buf_free(&b);
}

static void test_state_application(void **state)
{
	(void)state;
	struct envelope e, d;
	env_make(&e, 3);
	struct buf b;
	encode_ok(&e, &b);
	assert_int_equal(envelope_encode_state(0, RCPT_DEFERRED, 1, 100, "451 try later", &b), 0);
	assert_int_equal(envelope_encode_state(2, RCPT_DELIVERED, 1, 0, NULL, &b), 0);
	assert_int_equal(envelope_encode_state(0, RCPT_FAILED, 2, 0, "550 no such user", &b), 0);
	char err[128];
	assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
	/* last record for a recipient wins */
	assert_int_equal(d.rcpts[0].state, RCPT_FAILED);
	assert_int_equal(d.rcpts[0].attempts, 2);
	assert_string_equal(d.rcpts[0].last_error, "550 no such user");
	assert_int_equal(d.rcpts[1].state, RCPT_PENDING);
	assert_null(d.rcpts[1].last_error);
	assert_int_equal(d.rcpts[2].state, RCPT_DELIVERED);
	assert_null(d.rcpts[2].last_error);

	/* re-encoding compacts three STATE records into two */
	struct buf b2;
	encode_ok(&d, &b2);
	assert_true(b2.len < b.len);
	struct envelope d2;
	assert_int_equal(envelope_decode(b2.data, b2.len, &d2, err, sizeof(err)), 0);
	assert_env_equal(&d, &d2);
	envelope_free(&d2);
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b);
	buf_free(&b2);
}

/* A file with two STATE records appended, and its committed length. */
static void stated_file(struct buf *b, size_t *committed, size_t *first_state)
{
	struct envelope e;
	env_make(&e, 3);
	encode_ok(&e, b);
	envelope_free(&e);
	*committed = b->len;
	assert_int_equal(envelope_encode_state(1, RCPT_DEFERRED, 1, 99, "4.4.1 timeout", b), 0);
	*first_state = b->len;
	assert_int_equal(envelope_encode_state(2, RCPT_DELIVERED, 1, 0, NULL, b), 0);
}

static void test_every_byte_flipped(void **state)
{
	(void)state;
	struct buf b;
	size_t committed, first_state;
	stated_file(&b, &committed, &first_state);
	static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x10};
	uint8_t *copy = xmalloc(b.len);
	for (size_t i = 0; i < b.len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(copy, b.data, b.len);
			copy[i] ^= masks[m];
			/*
			 * Every record is checksummed, and a STATE record whose
			 * length field was damaged into "longer than the file"
			 * must not pass for a torn append: its surviving octets
			 * disagree with the length. So no flip anywhere decodes.
			 */
			if (!decode_fails(copy, b.len))
				fail_msg("flip 0x%02x at offset %zu decoded", masks[m], i);
		}
	}
	free(copy);
	buf_free(&b);
}

static void test_every_truncation(void **state)
{
	(void)state;
	struct buf b;
	size_t committed, first_state;
	stated_file(&b, &committed, &first_state);
	for (size_t len = 0; len <= b.len; len++) {
		struct envelope d;
		char err[128];
		size_t used = 0;
		int rc = envelope_decode_prefix(b.data, len, &d, &used, err, sizeof(err));
		if (len < committed) {
			if (rc != -1)
				fail_msg("prefix of %zu octets (committed part is %zu) decoded",
				         len, committed);
			continue;
		}
		assert_int_equal(rc, 0);
		/* only whole STATE records count */
		if (len < first_state) {
			assert_int_equal(used, committed);
			assert_int_equal(d.rcpts[1].state, RCPT_PENDING);
			assert_int_equal(d.rcpts[2].state, RCPT_PENDING);
		} else if (len < b.len) {
			assert_int_equal(used, first_state);
			assert_int_equal(d.rcpts[1].state, RCPT_DEFERRED);
			assert_string_equal(d.rcpts[1].last_error, "4.4.1 timeout");
			assert_int_equal(d.rcpts[2].state, RCPT_PENDING);
		} else {
			assert_int_equal(used, b.len);
			assert_int_equal(d.rcpts[2].state, RCPT_DELIVERED);
		}
		envelope_free(&d);
	}
	buf_free(&b);
}

static void test_handbuilt_good(void **state)
{
	(void)state;
	struct buf b;
	good_file(&b, 2);
	rec_state(&b, 1, RCPT_HELD);
	struct envelope d;
	char err[128];
	assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
	assert_string_equal(d.id, "abc");
	assert_int_equal(d.n_rcpts, 2);
	assert_int_equal(d.rcpts[1].state, RCPT_HELD);
	assert_string_equal(d.envid, "ENV");
	envelope_free(&d);
	buf_free(&b);
}

static void test_structural_errors(void **state)
{
	(void)state;
	struct buf b;

	/* empty, short, bad magic, bad version */
	assert_true(decode_fails((const uint8_t *)"", 0));
	assert_true(decode_fails((const uint8_t *)"RAVENENV", 8));
	good_file(&b, 1);
	b.data[0] = 'X';
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	good_file(&b, 1);
	b.data[8] = 3; /* versions 1 and 2 exist */
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* leftover bytes inside a record (valid CRC) */
	preamble(&b);
	rec_header(&b, "abc", 1);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* unknown record types, before and after END */
	for (uint8_t t = 0; t < 255; t++) {
		if (t >= T_HEADER && t <= T_STATE)
			continue;
		good_file(&b, 1);
		struct buf p;
		buf_init(&p, 0);
		buf_put_u32(&p, 0);
		rec(&b, t, &p);
		buf_free(&p);
		assert_true(decode_fails(b.data, b.len));
		buf_free(&b);
	}

	/* missing SENDER */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* missing HEADER */
	preamble(&b);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* missing PARAMS */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "s", 1);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* duplicate HEADER */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* duplicate SENDER after RCPT */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_sender(&b, "s", 1);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* no END at all, and a missing END before STATE */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	assert_true(decode_fails(b.data, b.len));
	rec_state(&b, 0, RCPT_DELIVERED);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* duplicate END, RCPT after END */
	good_file(&b, 1);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	good_file(&b, 1);
	rec_rcpt(&b, 0, 0);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* no recipients */
	good_file(&b, 0);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* END count mismatch, both ways */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_rcpt(&b, 0, 0);
	size_t mark = b.len;
	rec_u32(&b, T_END, 3);
	assert_true(decode_fails(b.data, b.len));
	b.len = mark;
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	b.len = mark;
	rec_u32(&b, T_END, 2);
	assert_false(decode_fails(b.data, b.len));
	buf_free(&b);

	/* bad values: envid flag, ret, body, smtputf8, orcpt flag, notify */
	static const uint8_t bad_params[][4] = {
	    {2, 0, 0, 0}, {0, 3, 0, 0}, {0, 0, 4, 0}, {0, 0, 0, 2}};
	for (size_t i = 0; i < 4; i++) {
		preamble(&b);
		rec_header(&b, "abc", 0);
		rec_sender(&b, "s", 1);
		const uint8_t *v = bad_params[i];
		struct buf p;
		buf_init(&p, 0);
		buf_put_u8(&p, v[0]);
		buf_put_u8(&p, v[1]);
		buf_put_u8(&p, v[2]);
		buf_put_u8(&p, v[3]);
		rec(&b, T_PARAMS, &p);
		buf_free(&p);
		rec_rcpt(&b, 0, 0);
		rec_u32(&b, T_END, 1);
		assert_true(decode_fails(b.data, b.len));
		buf_free(&b);
	}
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	mark = b.len;
	rec_rcpt(&b, 2, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	b.len = mark;
	rec_rcpt(&b, 0, 0x10);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	b.len = mark;
	rec_rcpt(&b, 1, 0x0f);
	rec_u32(&b, T_END, 1);
	assert_false(decode_fails(b.data, b.len));
	buf_free(&b);

	/* strings: an embedded NUL, over the limit */
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, "a\0b", 3);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	char *big = xmalloc(ENVELOPE_MAX_STR + 1);
	memset(big, 'z', ENVELOPE_MAX_STR + 1);
	preamble(&b);
	rec_header(&b, "abc", 0);
	rec_sender(&b, big, ENVELOPE_MAX_STR + 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	free(big);

	/* bad ids in HEADER */
	static const char *const bad_ids[] = {"", "a/b", "..", "0123456789abcdef0123456789ABCDEF0"};
	for (size_t i = 0; i < 4; i++) {
		preamble(&b);
		rec_header(&b, bad_ids[i], 0);
		rec_sender(&b, "s", 1);
		rec_params(&b, 0, 0, 0, 0);
		rec_rcpt(&b, 0, 0);
		rec_u32(&b, T_END, 1);
		assert_true(decode_fails(b.data, b.len));
		buf_free(&b);
	}
	/* an id with an embedded NUL */
	preamble(&b);
	struct buf hp;
	buf_init(&hp, 0);
	buf_put_bytes(&hp, "a\0b", 3);
	buf_put_u64(&hp, 1);
	buf_put_u64(&hp, 10);
	rec(&b, T_HEADER, &hp);
	buf_free(&hp);
	rec_sender(&b, "s", 1);
	rec_params(&b, 0, 0, 0, 0);
	rec_rcpt(&b, 0, 0);
	rec_u32(&b, T_END, 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* a record longer than any record can be */
	good_file(&b, 1);
	b.len -= 13;
	struct buf p;
	buf_init(&p, 0);
	for (int i = 0; i < 5 * (ENVELOPE_MAX_STR + 4); i++)
		buf_put_u8(&p, 0);
	rec(&b, T_RCPT, &p);
	buf_free(&p);
	rec_u32(&b, T_END, 2);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
}

/* Every field of the recipient's delivery state survives an append. */
static void test_rcpt_state_fields(void **state)
{
	(void)state;
	struct buf b;
	good_file(&b, 2);
	struct envelope_rcpt r = {0};
	r.state = RCPT_DEFERRED;
	r.attempts = 7;
	r.next_try = 1800000000;
	r.notified = ENVELOPE_NOTIFIED_FINAL | (2u << ENVELOPE_NOTIFIED_DELAY_SHIFT);
	r.last_attempt = 1799999000;
	r.last_error = "451 4.2.0 mailbox busy";
	assert_int_equal(envelope_encode_rcpt_state(1, &r, &b), 0);
	struct envelope d;
	char err[128];
	assert_int_equal(envelope_decode(b.data, b.len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.rcpts[1].state, RCPT_DEFERRED);
	assert_int_equal(d.rcpts[1].attempts, 7);
	assert_int_equal(d.rcpts[1].next_try, 1800000000);
	assert_int_equal(d.rcpts[1].notified, r.notified);
	assert_int_equal(d.rcpts[1].last_attempt, 1799999000);
	assert_string_equal(d.rcpts[1].last_error, "451 4.2.0 mailbox busy");
	assert_int_equal(d.rcpts[0].state, RCPT_PENDING);
	/* and a re-encoding keeps them */
	struct buf again;
	buf_init(&again, 0);
	assert_int_equal(envelope_encode(&d, &again), 0);
	struct envelope d2;
	assert_int_equal(envelope_decode(again.data, again.len, &d2, err, sizeof(err)), 0);
	assert_int_equal(d2.rcpts[1].notified, r.notified);
	assert_int_equal(d2.rcpts[1].last_attempt, 1799999000);
	envelope_free(&d);
	envelope_free(&d2);
	buf_free(&again);
	buf_free(&b);
}

static void test_state_errors(void **state)
{
	(void)state;
	struct buf b;

	/* times outside 0 .. 2^40 are refused: arithmetic on them must not overflow */
	struct envelope_rcpt far = {0};
	far.state = RCPT_DEFERRED;
	far.next_try = (int64_t)ENVELOPE_TIME_MAX + 1;
	good_file(&b, 2);
	assert_int_equal(envelope_encode_rcpt_state(1, &far, &b), -1);
	buf_free(&b);
	good_file(&b, 2);
	far.next_try = -1;
	assert_int_equal(envelope_encode_rcpt_state(1, &far, &b), -1);
	buf_free(&b);

	/* index out of range, bad state value */
	good_file(&b, 2);
	rec_state(&b, 2, RCPT_DELIVERED);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	good_file(&b, 2);
	rec_state(&b, 1, RCPT_FAILED + 1);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	good_file(&b, 2);
	rec_state(&b, 1, RCPT_FAILED);
	assert_false(decode_fails(b.data, b.len));
	buf_free(&b);

	/* a complete STATE record with a bad CRC is corruption */
	good_file(&b, 2);
	rec_state(&b, 0, RCPT_DELIVERED);
	b.data[b.len - 1] ^= 1;
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* leftover bytes inside a STATE record */
	good_file(&b, 2);
	struct buf p;
	buf_init(&p, 0);
	buf_put_u32(&p, 0);
	buf_put_u8(&p, 1);
	buf_put_u32(&p, 1);
	buf_put_u64(&p, 2);
	buf_put_u8(&p, 0);
	buf_put_u8(&p, 0);
	rec(&b, T_STATE, &p);
	buf_free(&p);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* a torn STATE is ignored, but only as the last thing in the file */
	good_file(&b, 2);
	size_t committed = b.len;
	rec_state(&b, 0, RCPT_DELIVERED);
	size_t one = b.len;
	rec_state(&b, 1, RCPT_DELIVERED);
	b.len -= 3;
	struct envelope d;
	char err[128];
	size_t used;
	assert_int_equal(envelope_decode_prefix(b.data, b.len, &d, &used, err, sizeof(err)), 0);
	assert_int_equal(used, one);
	assert_int_equal(d.rcpts[0].state, RCPT_DELIVERED);
	assert_int_equal(d.rcpts[1].state, RCPT_PENDING);
	envelope_free(&d);
	/* a torn record followed by a whole one is damage */
	rec_state(&b, 1, RCPT_DELIVERED);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* a STATE length damaged to reach past the end is not a tear */
	good_file(&b, 2);
	committed = b.len;
	rec_state(&b, 0, RCPT_DELIVERED);
	rec_state(&b, 1, RCPT_DELIVERED);
	b.data[committed + 1] = 60; /* first STATE's length: 30 -> 60 */
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);

	/* a torn non-STATE tail is damage */
	good_file(&b, 2);
	buf_put_u8(&b, T_RCPT);
	assert_true(decode_fails(b.data, b.len));
	buf_free(&b);
	good_file(&b, 2);
	buf_put_u8(&b, T_STATE);
	assert_false(decode_fails(b.data, b.len));
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32),
	    cmocka_unit_test(test_rcpt_state_fields),
	    cmocka_unit_test(test_id_valid),
	    cmocka_unit_test(test_roundtrip_many),
	    cmocka_unit_test(test_roundtrip_random),
	    cmocka_unit_test(test_max_rcpts),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_state_application),
	    cmocka_unit_test(test_every_byte_flipped),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_handbuilt_good),
	    cmocka_unit_test(test_structural_errors),
	    cmocka_unit_test(test_state_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
