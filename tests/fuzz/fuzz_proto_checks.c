/*
 * libFuzzer target for the decoders of the sender-authentication frames
 * (src/wire/proto_checks.c): DNS_REQ from a compromised smtp role, DNS_RES
 * from a compromised resolver role, SIGN_REQ and SIGN_RES. The first byte
 * picks the type, the rest is the payload. What a decoder accepts must be
 * within its bounds and encode back to exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
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
	switch (data[0] % 4) {
	case 0: {
		struct proto_dns_req q;
		if (proto_decode_dns_req(p, n, &q) == 0) {
			if (q.type == 0 || q.name[0] == '\0' || strlen(q.name) > PROTO_DNS_NAME_MAX)
				abort();
			proto_encode_dns_req(&b, &q);
			same(&b, p, n);
			proto_dns_req_free(&q);
		}
		break;
	}
	case 1: {
		struct proto_dns_res r;
		if (proto_decode_dns_res(p, n, &r) == 0) {
			if (r.sec > 2 || r.rcode > 15 || (r.len > 0) != (r.pkt != NULL) ||
			    (!r.answered && r.len > 0))
				abort();
			proto_encode_dns_res(&b, &r);
			same(&b, p, n);
			proto_dns_res_free(&r);
		}
		break;
	}
	case 2: {
		struct proto_sign_req q;
		if (proto_decode_sign_req(p, n, &q) == 0) {
			if (!envelope_id_valid(q.id))
				abort();
			proto_encode_sign_req(&b, &q);
			same(&b, p, n);
			proto_sign_req_free(&q);
		}
		break;
	}
	default: {
		struct proto_sign_res r;
		if (proto_decode_sign_res(p, n, &r) == 0) {
			if (r.status == SIGN_OK && !envelope_trace_valid(r.text, strlen(r.text)))
				abort();
			proto_encode_sign_res(&b, &r);
			same(&b, p, n);
			proto_sign_res_free(&r);
		}
		break;
	}
	}
	buf_free(&b);
	return 0;
}
