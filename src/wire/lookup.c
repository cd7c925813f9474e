/* lookup: the LOOKUP_REQ and LOOKUP_RES frames (see lookup.h). */
#include "lookup.h"

#include <stdlib.h>
#include <string.h>

void lookup_encode_req(struct buf *b, const struct lookup_req *q)
{
	buf_put_u64(b, q->req);
	buf_put_str(b, q->table);
	buf_put_str(b, q->key);
}

int lookup_decode_req(const uint8_t *p, size_t n, struct lookup_req *q)
{
	struct reader r;
	memset(q, 0, sizeof(*q));
	reader_init(&r, p, n);
	if (reader_u64(&r, &q->req) == 0 && reader_str(&r, &q->table, LOOKUP_TABLE_MAX) == 0)
		reader_str(&r, &q->key, LOOKUP_KEY_MAX);
	if (reader_done(&r) == -1 || q->table[0] == '\0' || q->key[0] == '\0') {
		lookup_req_free(q);
		return -1;
	}
	return 0;
}

void lookup_req_free(struct lookup_req *q)
{
	free(q->table);
	free(q->key);
	memset(q, 0, sizeof(*q));
}

void lookup_encode_res(struct buf *b, const struct lookup_res *r)
{
	buf_put_u64(b, r->req);
	buf_put_u8(b, r->status);
	buf_put_str(b, r->value != NULL ? r->value : "");
}

int lookup_decode_res(const uint8_t *p, size_t n, struct lookup_res *out)
{
	struct reader r;
	memset(out, 0, sizeof(*out));
	reader_init(&r, p, n);
	if (reader_u64(&r, &out->req) == 0 && reader_u8(&r, &out->status) == 0)
		reader_str(&r, &out->value, LOOKUP_VALUE_MAX);
	/* Only a found key has a value. */
	if (reader_done(&r) == -1 || out->status > LOOKUP_TEMP ||
	    (out->status != LOOKUP_FOUND && out->value[0] != '\0')) {
		lookup_res_free(out);
		return -1;
	}
	return 0;
}

void lookup_res_free(struct lookup_res *r)
{
	free(r->value);
	memset(r, 0, sizeof(*r));
}
