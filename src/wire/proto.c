/* proto: encoders and strict decoders of the inter-role messages (proto.h). */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define PROTO_STR_MAX 4096

void proto_encode_req(struct buf *b, uint64_t req)
{
	buf_put_u64(b, req);
}

int proto_decode_req(const uint8_t *p, size_t n, uint64_t *req)
{
	struct reader r;
	reader_init(&r, p, n);
	reader_u64(&r, req);
	return reader_done(&r);
}

void proto_encode_new_ok(struct buf *b, uint64_t req, const char *id)
{
	buf_put_u64(b, req);
	buf_put_str(b, id);
}

int proto_decode_new_ok(const uint8_t *p, size_t n, struct proto_reply *out)
{
	struct reader r;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u64(&r, &out->req) == 0)
		reader_str(&r, &out->id, ENVELOPE_ID_MAX);
	if (reader_done(&r) == -1) {
		proto_reply_free(out);
		return -1;
	}
	return 0;
}

void proto_encode_fail(struct buf *b, uint64_t req, uint32_t error, const char *reason)
{
	buf_put_u64(b, req);
	buf_put_u32(b, error);
	buf_put_str(b, reason);
}

int proto_decode_fail(const uint8_t *p, size_t n, struct proto_reply *out)
{
	struct reader r;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u64(&r, &out->req) == 0 && reader_u32(&r, &out->error) == 0)
		reader_str(&r, &out->reason, PROTO_STR_MAX);
	if (reader_done(&r) == -1) {
		proto_reply_free(out);
		return -1;
	}
	return 0;
}

void proto_reply_free(struct proto_reply *r)
{
	free(r->reason);
	free(r->id);
	r->reason = r->id = NULL;
}

int proto_encode_commit(struct buf *b, uint64_t req, const struct envelope_draft *e)
{
	struct buf env;
	buf_init(&env, 0);
	if (envelope_encode_draft(e, &env) == -1) {
		buf_free(&env);
		return -1;
	}
	buf_put_u64(b, req);
	buf_put_bytes(b, env.data, env.len);
	buf_free(&env);
	return 0;
}

int proto_decode_commit(const uint8_t *p, size_t n, struct proto_commit *c, char *err,
                        size_t errlen)
{
	struct reader r;
	const uint8_t *env;
	size_t envlen;
	memset(c, 0, sizeof(*c));
	reader_init(&r, p, n);
	if (reader_u64(&r, &c->req) == -1 || reader_bytes(&r, &env, &envlen, n) == -1 ||
	    reader_done(&r) == -1) {
		snprintf(err, errlen, "malformed commit frame");
		return -1;
	}
	return envelope_decode(env, envlen, &c->env, err, errlen);
}

void proto_encode_id(struct buf *b, const char *id)
{
	buf_put_str(b, id);
}

int proto_decode_id(const uint8_t *p, size_t n, char *id, size_t idlen)
{
	struct reader r;
	const uint8_t *s;
	size_t len;
	reader_init(&r, p, n);
	if (reader_bytes(&r, &s, &len, ENVELOPE_ID_MAX) == -1 || reader_done(&r) == -1 ||
	    len >= idlen || memchr(s, 0, len))
		return -1;
	memcpy(id, s, len);
	id[len] = '\0';
	return 0;
}

void proto_encode_deliver(struct buf *b, const struct proto_deliver *d)
{
	buf_put_u64(b, d->job);
	buf_put_str(b, d->id);
	buf_put_str(b, d->action);
	buf_put_u64(b, (uint64_t)d->arrival);
	buf_put_str(b, d->sender);
	buf_put_u64(b, d->size);
	buf_put_u8(b, d->body);
	buf_put_u8(b, d->smtputf8);
	buf_put_u8(b, d->ret);
	buf_put_str(b, d->envid ? d->envid : "");
	buf_put_u32(b, (uint32_t)d->n);
	for (size_t i = 0; i < d->n; i++) {
		buf_put_u32(b, d->idx[i]);
		buf_put_str(b, d->user[i]);
		buf_put_str(b, d->addr[i]);
		buf_put_u32(b, d->notify ? d->notify[i] : 0);
		buf_put_str(b, d->orcpt && d->orcpt[i] ? d->orcpt[i] : "");
	}
	buf_put_u8(b, d->has_crc);
	buf_put_u32(b, d->crc);
	buf_put_str(b, d->prepend ? d->prepend : "");
}

int proto_decode_deliver(const uint8_t *p, size_t n, struct proto_deliver *d)
{
	struct reader r;
	uint64_t arrival = 0;
	uint32_t count = 0;
	memset(d, 0, sizeof(*d));
	reader_init(&r, p, n);
	if (reader_u64(&r, &d->job) == 0 && reader_str(&r, &d->id, ENVELOPE_ID_MAX) == 0 &&
	    reader_str(&r, &d->action, PROTO_STR_MAX) == 0 && reader_u64(&r, &arrival) == 0 &&
	    reader_str(&r, &d->sender, PROTO_STR_MAX) == 0 && reader_u64(&r, &d->size) == 0 &&
	    reader_u8(&r, &d->body) == 0 && reader_u8(&r, &d->smtputf8) == 0 &&
	    reader_u8(&r, &d->ret) == 0 && reader_str(&r, &d->envid, PROTO_STR_MAX) == 0 &&
	    reader_u32(&r, &count) == 0 && count >= 1 && count <= PROTO_MAX_JOB_RCPTS) {
		d->idx = xcalloc(count, sizeof(*d->idx));
		d->user = xcalloc(count, sizeof(*d->user));
		d->addr = xcalloc(count, sizeof(*d->addr));
		d->notify = xcalloc(count, sizeof(*d->notify));
		d->orcpt = xcalloc(count, sizeof(*d->orcpt));
		for (; d->n < count; d->n++) {
			if (reader_u32(&r, &d->idx[d->n]) == -1 ||
			    reader_str(&r, &d->user[d->n], PROTO_STR_MAX) == -1 ||
			    reader_str(&r, &d->addr[d->n], PROTO_STR_MAX) == -1 ||
			    reader_u32(&r, &d->notify[d->n]) == -1 ||
			    reader_str(&r, &d->orcpt[d->n], PROTO_STR_MAX) == -1) {
				/* half an entry: not counted in n */
				free(d->user[d->n]);
				free(d->addr[d->n]);
				free(d->orcpt[d->n]);
				d->user[d->n] = d->addr[d->n] = d->orcpt[d->n] = NULL;
				break;
			}
		}
	}
	d->arrival = (int64_t)arrival;
	int bad = d->n == count &&
	          (reader_u8(&r, &d->has_crc) == -1 || reader_u32(&r, &d->crc) == -1 ||
	           d->has_crc > 1 || reader_str(&r, &d->prepend, PROTO_PREPEND_MAX) == -1);
	if (bad || reader_done(&r) == -1 || d->n == 0 || d->n != count ||
	    d->body > BODY_BINARYMIME || d->smtputf8 > 1 || d->ret > RET_HDRS) {
		proto_deliver_free(d);
		return -1;
	}
	return 0;
}

void proto_deliver_free(struct proto_deliver *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->user[i]);
		free(d->addr[i]);
		if (d->orcpt)
			free(d->orcpt[i]);
	}
	free(d->id);
	free(d->action);
	free(d->sender);
	free(d->envid);
	free(d->prepend);
	free(d->idx);
	free(d->user);
	free(d->addr);
	free(d->notify);
	free(d->orcpt);
	memset(d, 0, sizeof(*d));
}

void proto_encode_result(struct buf *b, const struct proto_result *res)
{
	buf_put_u64(b, res->job);
	buf_put_u32(b, res->flags);
	buf_put_u32(b, (uint32_t)res->n);
	for (size_t i = 0; i < res->n; i++) {
		buf_put_u32(b, res->idx[i]);
		buf_put_u8(b, res->status[i]);
		buf_put_u8(b, res->rflags ? res->rflags[i] : 0);
		buf_put_str(b, res->text[i]);
	}
}

int proto_decode_result(const uint8_t *p, size_t n, struct proto_result *res)
{
	struct reader r;
	uint32_t count = 0;
	int bad = 0;
	memset(res, 0, sizeof(*res));
	reader_init(&r, p, n);
	if (reader_u64(&r, &res->job) == 0 && reader_u32(&r, &res->flags) == 0 &&
	    reader_u32(&r, &count) == 0 && count >= 1 && count <= PROTO_MAX_JOB_RCPTS) {
		res->idx = xcalloc(count, sizeof(*res->idx));
		res->status = xcalloc(count, 1);
		res->rflags = xcalloc(count, 1);
		res->text = xcalloc(count, sizeof(*res->text));
		for (; res->n < count; res->n++) {
			if (reader_u32(&r, &res->idx[res->n]) == -1 ||
			    reader_u8(&r, &res->status[res->n]) == -1 ||
			    reader_u8(&r, &res->rflags[res->n]) == -1 ||
			    reader_str(&r, &res->text[res->n], PROTO_STR_MAX) == -1)
				break;
			bad |= res->status[res->n] > DELIVER_CORRUPT;
			bad |= (res->rflags[res->n] & ~PROTO_RCPT_RELAYED) != 0;
		}
	}
	bad |= (res->flags & ~PROTO_DEST_UNREACHABLE) != 0;
	if (reader_done(&r) == -1 || bad || res->n == 0 || res->n != count) {
		proto_result_free(res);
		return -1;
	}
	return 0;
}

void proto_result_free(struct proto_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->text[i]);
	free(r->text);
	free(r->idx);
	free(r->status);
	free(r->rflags);
	memset(r, 0, sizeof(*r));
}

void proto_encode_peer(struct buf *b, uint32_t kind)
{
	buf_put_u32(b, kind);
}

int proto_decode_peer(const uint8_t *p, size_t n, uint32_t *kind)
{
	struct reader r;
	reader_init(&r, p, n);
	reader_u32(&r, kind);
	if (reader_done(&r) == -1 || *kind < PEER_SMTP || *kind > PEER_KIND_MAX)
		return -1;
	return 0;
}

void proto_encode_auth_req(struct buf *b, const struct proto_auth_req *a)
{
	buf_put_u64(b, a->req);
	buf_put_str(b, a->client);
	buf_put_str(b, a->login);
	buf_put_str(b, a->password);
}

int proto_decode_auth_req(const uint8_t *p, size_t n, struct proto_auth_req *a)
{
	struct reader r;
	memset(a, 0, sizeof(*a));
	reader_init(&r, p, n);
	if (reader_u64(&r, &a->req) == 0 &&
	    reader_str(&r, &a->client, PROTO_AUTH_CLIENT_MAX) == 0 &&
	    reader_str(&r, &a->login, PROTO_AUTH_FIELD_MAX) == 0)
		reader_str(&r, &a->password, PROTO_AUTH_FIELD_MAX);
	if (reader_done(&r) == -1 || a->login[0] == '\0' || a->password[0] == '\0') {
		proto_auth_req_free(a);
		return -1;
	}
	return 0;
}

void proto_auth_req_free(struct proto_auth_req *a)
{
	if (a->password != NULL)
		explicit_bzero(a->password, strlen(a->password));
	free(a->client);
	free(a->login);
	free(a->password);
	memset(a, 0, sizeof(*a));
}

void proto_encode_auth_res(struct buf *b, const struct proto_auth_res *a)
{
	buf_put_u64(b, a->req);
	buf_put_u8(b, a->status);
	buf_put_str(b, a->login);
}

int proto_decode_auth_res(const uint8_t *p, size_t n, struct proto_auth_res *a)
{
	struct reader r;
	memset(a, 0, sizeof(*a));
	reader_init(&r, p, n);
	if (reader_u64(&r, &a->req) == 0 && reader_u8(&r, &a->status) == 0)
		reader_str(&r, &a->login, PROTO_AUTH_FIELD_MAX);
	/* A login comes with success only, and success with a login. */
	if (reader_done(&r) == -1 || a->status > AUTH_TEMP ||
	    (a->status == AUTH_OK) != (a->login[0] != '\0')) {
		proto_auth_res_free(a);
		return -1;
	}
	return 0;
}

void proto_auth_res_free(struct proto_auth_res *a)
{
	free(a->login);
	memset(a, 0, sizeof(*a));
}

void proto_encode_connect(struct buf *b, uint64_t req, const char *action)
{
	buf_put_u64(b, req);
	buf_put_str(b, action);
}

int proto_decode_connect(const uint8_t *p, size_t n, uint64_t *req, char **action)
{
	struct reader r;
	*action = NULL;
	reader_init(&r, p, n);
	if (reader_u64(&r, req) == 0)
		reader_str(&r, action, PROTO_ACTION_MAX);
	if (reader_done(&r) == -1) {
		free(*action);
		*action = NULL;
		return -1;
	}
	return 0;
}
