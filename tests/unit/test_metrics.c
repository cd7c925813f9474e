/*
 * Unit tests for the metrics catalog and frames (src/wire/metrics.c) and
 * the role side's counting (metrics_push.c): the catalog is consistent
 * (valid names and labels, each family's rows together, one type and help
 * per family); every frame round-trips, and its decoder refuses every
 * truncation, leftover bytes, duplicate or unordered ids and counters a
 * peer does not own; a push sends increases and changed gauges only.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit_util.h"

#include "buf.h"
#include "ipc.h"
#include "metrics.h"
#include "prom.h"
#include "xmalloc.h"

/* "k=\"v\",k2=\"v2\"" with valid label names and plain values. */
static int labels_ok(const char *l)
{
	while (*l) {
		const char *eq = strchr(l, '=');
		if (eq == NULL || eq[1] != '"')
			return 0;
		char name[64];
		size_t n = (size_t)(eq - l);
		if (n == 0 || n >= sizeof(name))
			return 0;
		memcpy(name, l, n);
		name[n] = '\0';
		if (!prom_name_valid(name, 1))
			return 0;
		const char *end = strchr(eq + 2, '"');
		const char *esc = strpbrk(eq + 2, "\\\n");
		if (end == NULL || end == eq + 2 || (esc != NULL && esc < end))
			return 0;
		l = end + 1;
		if (*l == ',' && l[1] != '\0')
			l++;
		else if (*l != '\0')
			return 0;
	}
	return 1;
}

static void test_catalog(void **state)
{
	(void)state;
	for (size_t i = 0; i < MET_COUNT; i++) {
		const struct metric_def *d = metric_def((enum metric_id)i);
		assert_non_null(d->name);
		assert_non_null(d->help);
		assert_true(prom_name_valid(d->name, 0));
		assert_true(strncmp(d->name, "raven_", 6) == 0);
		assert_true(d->type == PROM_COUNTER || d->type == PROM_GAUGE);
		/* Counters end in _total, gauges do not. */
		size_t len = strlen(d->name);
		int total = len > 6 && strcmp(d->name + len - 6, "_total") == 0;
		assert_int_equal(total, d->type == PROM_COUNTER);
		assert_true(d->labels == NULL || labels_ok(d->labels));
		assert_true(d->owner <= PEER_KIND_MAX && d->owner != PEER_METRICS);
		for (size_t j = 0; j < i; j++) {
			const struct metric_def *e = metric_def((enum metric_id)j);
			if (strcmp(e->name, d->name) != 0)
				continue;
			/* the same family: right after its other rows, alike */
			assert_string_equal(metric_def((enum metric_id)(i - 1))->name, d->name);
			assert_int_equal(e->type, d->type);
			assert_string_equal(e->help, d->help);
			assert_int_equal(e->owner, d->owner);
			assert_non_null(e->labels);
			assert_non_null(d->labels);
			assert_string_not_equal(e->labels, d->labels);
		}
	}
	assert_true(labels_ok("a=\"b\",c_d=\"e\""));
	assert_false(labels_ok("a=\"b\","));
	assert_false(labels_ok("a=b"));
	assert_false(labels_ok("a=\"\""));
}

/* Decoding any strict prefix, or the frame with a byte more, fails. */
#define ASSERT_STRICT(b, call)                                                                     \
	do {                                                                                       \
		for (size_t cut = 0; cut < (b).len; cut++) {                                       \
			const uint8_t *sdata = (b).data;                                           \
			size_t slen = cut;                                                         \
			assert_int_equal(call, -1);                                                \
		}                                                                                  \
		buf_append_byte(&(b), 0);                                                          \
		{                                                                                  \
			const uint8_t *sdata = (b).data;                                           \
			size_t slen = (b).len;                                                     \
			assert_int_equal(call, -1);                                                \
		}                                                                                  \
		(b).len--;                                                                         \
	} while (0)

static void test_counters_frame(void **state)
{
	(void)state;
	struct metric_values mv = {0}, out;
	mv.v[MET_SMTP_CONN_ACCEPTED] = 3;
	mv.set[MET_SMTP_CONN_ACCEPTED] = 1;
	mv.v[MET_SMTP_SESSIONS] = 0; /* a gauge back to 0 is news too */
	mv.set[MET_SMTP_SESSIONS] = 1;
	mv.v[MET_SMTP_RCPT_TEMPFAIL] = UINT64_MAX;
	mv.set[MET_SMTP_RCPT_TEMPFAIL] = 1;
	mv.v[MET_SMTP_MSG_BYTES] = 99; /* not set: not sent */
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_counters(&b, &mv);
	assert_int_equal(b.len, 4 + 3 * 12);
	assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_SMTP, &out), 0);
	for (size_t i = 0; i < MET_COUNT; i++) {
		assert_int_equal(out.set[i], mv.set[i]);
		assert_int_equal(out.v[i], mv.set[i] ? mv.v[i] : 0);
	}
	/* Only smtp owns these. */
	assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_LOCAL, &out), -1);
	assert_int_equal(out.set[MET_SMTP_CONN_ACCEPTED], 0);
	assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_METRICS, &out), -1);
	assert_int_equal(metrics_decode_counters(b.data, b.len, 0, &out), -1);
	ASSERT_STRICT(b, metrics_decode_counters(sdata, slen, PEER_SMTP, &out));
	buf_free(&b);

	/* Hand-made frames: empty, out of order, twice, unknown, the queue's own. */
	static const struct {
		uint32_t n;
		uint32_t id[3];
	} bad[] = {
	    {0, {0}},
	    {2, {MET_SMTP_SESSIONS, MET_SMTP_CONN_ACCEPTED}},
	    {2, {MET_SMTP_SESSIONS, MET_SMTP_SESSIONS}},
	    {1, {MET_COUNT}},
	    {1, {0xffffffffu}},
	    {1, {MET_DELIVERED_LOCAL}},
	    {3, {MET_SMTP_CONN_ACCEPTED, MET_SMTP_SESSIONS, MET_LOCAL_SYNCS}},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_init(&b, 0);
		buf_put_u32(&b, bad[i].n);
		for (uint32_t k = 0; k < bad[i].n; k++) {
			buf_put_u32(&b, bad[i].id[k]);
			buf_put_u64(&b, 1);
		}
		assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_SMTP, &out), -1);
		buf_free(&b);
	}
	/* More entries announced than ids exist. */
	buf_init(&b, 0);
	buf_put_u32(&b, MET_COUNT + 1);
	assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_SMTP, &out), -1);
	buf_free(&b);
	/* The local and relay roles' own. */
	memset(&mv, 0, sizeof(mv));
	mv.set[MET_LOCAL_SYNCS] = mv.set[MET_LOCAL_REFUSED] = 1;
	buf_init(&b, 0);
	metrics_encode_counters(&b, &mv);
	assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_LOCAL, &out), 0);
	assert_int_equal(metrics_decode_counters(b.data, b.len, PEER_RELAY, &out), -1);
	buf_free(&b);
}

static void test_text_frame(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	static const char text[] = "# HELP a b\n# TYPE a counter\na 1\n";
	metrics_encode_text(&b, 77, text, sizeof(text) - 1);
	uint64_t req;
	const uint8_t *t;
	size_t len;
	assert_int_equal(metrics_decode_text(b.data, b.len, &req, &t, &len), 0);
	assert_int_equal(req, 77);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(t, text, len);
	ASSERT_STRICT(b, metrics_decode_text(sdata, slen, &req, &t, &len));
	buf_reset(&b);
	metrics_encode_text(&b, 1, "", 0);
	assert_int_equal(metrics_decode_text(b.data, b.len, &req, &t, &len), 0);
	assert_int_equal(len, 0);
	buf_free(&b);
}

static void test_starts_frame(void **state)
{
	(void)state;
	struct role_starts s = {.started = 1800000000, .n = 3}, out;
	strcpy(s.role[0].name, "queue");
	s.role[0].starts = 1;
	strcpy(s.role[1].name, "smtp");
	s.role[1].starts = 4;
	strcpy(s.role[2].name, "pickup_2");
	s.role[2].starts = 0;
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_starts(&b, &s);
	assert_int_equal(metrics_decode_starts(b.data, b.len, &out), 0);
	assert_int_equal(out.started, s.started);
	assert_int_equal(out.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(out.role[i].name, s.role[i].name);
		assert_int_equal(out.role[i].starts, s.role[i].starts);
	}
	ASSERT_STRICT(b, metrics_decode_starts(sdata, slen, &out));
	buf_free(&b);
	/* Names: empty, too long, upper case, a quote (it becomes a label), twice. */
	static const char *const bad[] = {"", "abcdefghijklmnopqrstuvwxyz0123456", "Smtp", "a\"b",
	                                  "queue"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_init(&b, 0);
		buf_put_u64(&b, 1);
		buf_put_u32(&b, 2);
		buf_put_str(&b, "queue");
		buf_put_u64(&b, 1);
		buf_put_str(&b, bad[i]);
		buf_put_u64(&b, 1);
		assert_int_equal(metrics_decode_starts(b.data, b.len, &out), -1);
		assert_int_equal(out.n, 0);
		buf_free(&b);
	}
	buf_init(&b, 0);
	buf_put_u64(&b, 1);
	buf_put_u32(&b, METRICS_ROLES_MAX + 1);
	assert_int_equal(metrics_decode_starts(b.data, b.len, &out), -1);
	buf_free(&b);
}

/* The channel writes its frames later in the loop's pass: let it. */
static void settle(struct event_base *base)
{
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* The next frame on sock, a COUNTERS frame from an smtp role. */
static void next_counters(int sock, struct metric_values *out)
{
	uint32_t type;
	uint8_t *p;
	size_t len;
	int fd;
	assert_int_equal(ipc_read_frame(sock, &type, &p, &len, &fd), 0);
	assert_int_equal(type, PROTO_COUNTERS);
	assert_int_equal(fd, -1);
	assert_int_equal(metrics_decode_counters(p, len, PEER_SMTP, out), 0);
	free(p);
}

/* The role side: increments and gauges become one frame, then nothing. */
static void test_push(void **state)
{
	(void)state;
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	struct event_base *base = event_base_new();
	struct ipc_handlers h = {NULL, NULL, NULL};
	struct ipc *ch = ipc_new(base, sp[0], &h);
	struct metrics_push *mp = metrics_push_new(base, ch);
	metrics_count(mp, MET_SMTP_CONN_ACCEPTED);
	metrics_count(mp, MET_SMTP_CONN_ACCEPTED);
	metrics_add(mp, MET_SMTP_MSG_BYTES, 1000);
	metrics_add(mp, MET_SMTP_MSG_BYTES, 0);
	metrics_gauge(mp, MET_SMTP_SESSIONS, 2);
	metrics_count(NULL, MET_SMTP_CONN_ACCEPTED); /* harmless */
	metrics_push_flush(mp);
	settle(base);
	struct metric_values out;
	next_counters(sp[1], &out);
	assert_int_equal(out.v[MET_SMTP_CONN_ACCEPTED], 2);
	assert_int_equal(out.v[MET_SMTP_MSG_BYTES], 1000);
	assert_int_equal(out.v[MET_SMTP_SESSIONS], 2);
	assert_int_equal(out.set[MET_SMTP_CUT_ERRORS], 0);
	/* Nothing changed: no frame. The same gauge value: still nothing. */
	metrics_push_flush(mp);
	metrics_gauge(mp, MET_SMTP_SESSIONS, 2);
	metrics_push_flush(mp);
	settle(base);
	/* The timer sends by itself; counters restart from 0, the gauge is kept. */
	metrics_count(mp, MET_SMTP_CONN_ACCEPTED);
	metrics_gauge(mp, MET_SMTP_SESSIONS, 0);
	event_base_loop(base, EVLOOP_ONCE); /* the timer is all that can fire */
	settle(base);
	next_counters(sp[1], &out);
	assert_int_equal(out.v[MET_SMTP_CONN_ACCEPTED], 1);
	assert_int_equal(out.set[MET_SMTP_SESSIONS], 1);
	assert_int_equal(out.v[MET_SMTP_SESSIONS], 0);
	assert_int_equal(out.set[MET_SMTP_MSG_BYTES], 0);
	/* Saturation, not wrap-around. */
	metrics_add(mp, MET_SMTP_MSG_BYTES, UINT64_MAX - 1);
	metrics_add(mp, MET_SMTP_MSG_BYTES, 5);
	metrics_push_flush(mp);
	settle(base);
	next_counters(sp[1], &out);
	assert_true(out.v[MET_SMTP_MSG_BYTES] == UINT64_MAX);
	/* No frame is left over. */
	char c;
	assert_int_equal(recv(sp[1], &c, 1, MSG_DONTWAIT), -1);
	metrics_push_free(mp);
	metrics_push_free(NULL);
	ipc_free(ch);
	close(sp[1]);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_catalog),    cmocka_unit_test(test_counters_frame),
	    cmocka_unit_test(test_text_frame), cmocka_unit_test(test_starts_frame),
	    cmocka_unit_test(test_push),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
