/*
 * libFuzzer target for proto's decoders: the frames one role sends another
 * (a compromised smtp role controls what the queue decodes). The first
 * byte picks the message type, the rest is the payload. A decoder must
 * accept or refuse without reading out of bounds or leaking, and what it
 * accepts must encode back to exactly the input (one encoding per message:
 * nothing is guessed or skipped). Any violation abort()s.
 */
#include "metrics.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lookup.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct buf *b, const uint8_t *p, size_t n)
{
	if (b->len != n || (n > 0 && memcmp(b->data, p, n) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	struct buf b;
	buf_init(&b, 0);
	switch (data[0] % 13) {
	case 0: {
		uint64_t req;
		if (proto_decode_req(p, n, &req) == 0) {
			proto_encode_req(&b, req);
			same(&b, p, n);
		}
		break;
	}
	case 1: {
		struct proto_reply r;
		if (proto_decode_new_ok(p, n, &r) == 0) {
			proto_encode_new_ok(&b, r.req, r.id);
			same(&b, p, n);
			proto_reply_free(&r);
		}
		break;
	}
	case 2: {
		struct proto_reply r;
		if (proto_decode_fail(p, n, &r) == 0) {
			proto_encode_fail(&b, r.req, r.error, r.reason);
			same(&b, p, n);
			proto_reply_free(&r);
		}
		break;
	}
	case 3: {
		struct proto_deliver d;
		if (proto_decode_deliver(p, n, &d) == 0) {
			proto_encode_deliver(&b, &d);
			same(&b, p, n);
			proto_deliver_free(&d);
		}
		break;
	}
	case 4: {
		struct proto_result r;
		if (proto_decode_result(p, n, &r) == 0) {
			if (r.n == 0)
				abort();
			proto_encode_result(&b, &r);
			same(&b, p, n);
			proto_result_free(&r);
		}
		break;
	}
	case 6: {
		struct proto_auth_req a;
		if (proto_decode_auth_req(p, n, &a) == 0) {
			if (a.login[0] == '\0' || a.password[0] == '\0')
				abort();
			proto_encode_auth_req(&b, &a);
			same(&b, p, n);
			proto_auth_req_free(&a);
		}
		break;
	}
	case 7: {
		struct proto_auth_res a;
		if (proto_decode_auth_res(p, n, &a) == 0) {
			if (a.status > AUTH_TEMP || (a.status == AUTH_OK) != (a.login[0] != '\0'))
				abort();
			proto_encode_auth_res(&b, &a);
			same(&b, p, n);
			proto_auth_res_free(&a);
		}
		break;
	}
	case 8: {
		struct metric_values mv;
		enum peer_kind from = (enum peer_kind)(data[0] / 11 % (PEER_KIND_MAX + 1));
		if (metrics_decode_counters(p, n, from, &mv) == 0) {
			for (size_t i = 0; i < MET_COUNT; i++)
				if (mv.set[i] && metric_def((enum metric_id)i)->owner != from)
					abort();
			metrics_encode_counters(&b, &mv);
			same(&b, p, n);
		}
		break;
	}
	case 9: {
		uint64_t req;
		const uint8_t *text;
		size_t len;
		if (metrics_decode_text(p, n, &req, &text, &len) == 0) {
			metrics_encode_text(&b, req, text, len);
			same(&b, p, n);
		}
		break;
	}
	case 10: {
		struct role_starts rs;
		if (metrics_decode_starts(p, n, &rs) == 0) {
			for (size_t i = 0; i < rs.n; i++)
				if (strchr(rs.role[i].name, '"') || strchr(rs.role[i].name, '\\'))
					abort(); /* names become label values */
			metrics_encode_starts(&b, &rs);
			same(&b, p, n);
		}
		break;
	}
	case 11: {
		struct lookup_req q;
		if (lookup_decode_req(p, n, &q) == 0) {
			lookup_encode_req(&b, &q);
			same(&b, p, n);
			lookup_req_free(&q);
		}
		break;
	}
	case 12: {
		struct lookup_res r;
		if (lookup_decode_res(p, n, &r) == 0) {
			if (r.status != LOOKUP_FOUND && r.value[0] != '\0')
				abort();
			lookup_encode_res(&b, &r);
			same(&b, p, n);
			lookup_res_free(&r);
		}
		break;
	}
	default: {
		char id[ENVELOPE_ID_MAX + 1];
		uint32_t kind;
		if (proto_decode_id(p, n, id, sizeof(id)) == 0) {
			proto_encode_id(&b, id);
			same(&b, p, n);
		}
		buf_reset(&b);
		if (proto_decode_peer(p, n, &kind) == 0) {
			proto_encode_peer(&b, kind);
			same(&b, p, n);
		}
		buf_reset(&b);
		uint64_t req;
		char *action;
		if (proto_decode_connect(p, n, &req, &action) == 0) {
			proto_encode_connect(&b, req, action);
			same(&b, p, n);
			free(action);
		}
		break;
	}
	}
	buf_free(&b);
	return 0;
}
