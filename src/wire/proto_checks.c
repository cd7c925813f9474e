/*
 * proto_checks: encoders and strict decoders of the frames of sender
 * authentication (proto.h): the smtp role's DNS questions and the replies
 * the resolver role sends back, and the DKIM signer's requests and answers.
 * Like every decoder, each fails on short input, on leftover bytes and on
 * a value out of its range: a malformed frame is a broken peer.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "xmalloc.h"

void proto_encode_dns_req(struct buf *b, const struct proto_dns_req *q)
{
	buf_put_u64(b, q->req);
	buf_put_u32(b, q->type);
	buf_put_str(b, q->name);
}

int proto_decode_dns_req(const uint8_t *p, size_t n, struct proto_dns_req *q)
{
	struct reader r;
	uint32_t type = 0;
	memset(q, 0, sizeof(*q));
	reader_init(&r, p, n);
	if (reader_u64(&r, &q->req) == 0 && reader_u32(&r, &type) == 0)
		reader_str(&r, &q->name, PROTO_DNS_NAME_MAX);
	if (reader_done(&r) == -1 || type == 0 || type > 65535 || q->name[0] == '\0') {
		proto_dns_req_free(q);
		return -1;
	}
	q->type = (uint16_t)type;
	return 0;
}

void proto_dns_req_free(struct proto_dns_req *q)
{
	free(q->name);
	memset(q, 0, sizeof(*q));
}

void proto_encode_dns_res(struct buf *b, const struct proto_dns_res *r)
{
	buf_put_u64(b, r->req);
	buf_put_u8(b, r->answered);
	buf_put_u8(b, r->status);
	buf_put_u8(b, r->rcode);
	buf_put_u8(b, r->sec);
	buf_put_str(b, r->why ? r->why : "");
	buf_put_bytes(b, r->pkt, r->len);
}

/* The highest enum dns_status (DNS_TIMEOUT), which wire does not include. */
#define DNS_STATUS_MAX 4

int proto_decode_dns_res(const uint8_t *p, size_t n, struct proto_dns_res *out)
{
	struct reader r;
	const uint8_t *pkt = NULL;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u64(&r, &out->req) == 0 && reader_u8(&r, &out->answered) == 0 &&
	    reader_u8(&r, &out->status) == 0 && reader_u8(&r, &out->rcode) == 0 &&
	    reader_u8(&r, &out->sec) == 0 && reader_str(&r, &out->why, PROTO_DNS_WHY_MAX) == 0)
		reader_bytes(&r, &pkt, &out->len, PROTO_DNS_PACKET_MAX);
	if (reader_done(&r) == -1 || out->answered > 1 || out->status > DNS_STATUS_MAX ||
	    out->rcode > 15 || out->sec > 2 || (!out->answered && out->len > 0)) {
		proto_dns_res_free(out);
		return -1;
	}
	if (out->len > 0) {
		out->pkt = xmalloc(out->len);
		memcpy(out->pkt, pkt, out->len);
	}
	return 0;
}

void proto_dns_res_free(struct proto_dns_res *r)
{
	free(r->why);
	free(r->pkt);
	memset(r, 0, sizeof(*r));
}

void proto_encode_sign_req(struct buf *b, const struct proto_sign_req *q)
{
	buf_put_u64(b, q->req);
	buf_put_str(b, q->id);
	buf_put_u64(b, q->size);
	buf_put_u8(b, q->has_crc);
	buf_put_u32(b, q->crc);
}

int proto_decode_sign_req(const uint8_t *p, size_t n, struct proto_sign_req *q)
{
	struct reader r;
	memset(q, 0, sizeof(*q));
	reader_init(&r, p, n);
	if (reader_u64(&r, &q->req) == 0 && reader_str(&r, &q->id, ENVELOPE_ID_MAX) == 0 &&
	    reader_u64(&r, &q->size) == 0 && reader_u8(&r, &q->has_crc) == 0)
		reader_u32(&r, &q->crc);
	if (reader_done(&r) == -1 || q->has_crc > 1 || !envelope_id_valid(q->id)) {
		proto_sign_req_free(q);
		return -1;
	}
	return 0;
}

void proto_sign_req_free(struct proto_sign_req *q)
{
	free(q->id);
	memset(q, 0, sizeof(*q));
}

void proto_encode_sign_res(struct buf *b, const struct proto_sign_res *r)
{
	buf_put_u64(b, r->req);
	buf_put_u8(b, r->status);
	buf_put_str(b, r->text ? r->text : "");
}

/* A signature is header text for the top of someone's message: it must be
 * one, whatever the signer says (envelope_trace_valid). */
int proto_decode_sign_res(const uint8_t *p, size_t n, struct proto_sign_res *out)
{
	struct reader r;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u64(&r, &out->req) == 0 && reader_u8(&r, &out->status) == 0)
		reader_str(&r, &out->text, PROTO_SIGN_TEXT_MAX);
	if (reader_done(&r) == -1 || out->status > SIGN_TEMP ||
	    (out->status == SIGN_OK && !envelope_trace_valid(out->text, strlen(out->text)))) {
		proto_sign_res_free(out);
		return -1;
	}
	return 0;
}

void proto_sign_res_free(struct proto_sign_res *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}
