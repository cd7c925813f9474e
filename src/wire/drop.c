/* drop: the maildrop file's reader and writer (see drop.h). */
#include "drop.h"

#include <string.h>

#include "crc32.h"

enum { S_PREAMBLE, S_HDR, S_STR, S_DATA, S_END, S_DONE, S_ERROR };

#define PREAMBLE_LEN 12
#define HDR_LEN      5
#define END_LEN      16

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

void drop_reader_init(struct drop_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->state = S_PREAMBLE;
}

static enum drop_event fail(struct drop_reader *r, const char *why)
{
	r->state = S_ERROR;
	r->why = why;
	return DROP_ERROR;
}

/* Collect up to need octets of a fixed-size part into dst; 1 when whole. */
static int gather(struct drop_reader *r, uint8_t *dst, size_t need, const uint8_t *p, size_t n,
                  size_t *i)
{
	size_t k = need - r->have < n - *i ? need - r->have : n - *i;
	memcpy(dst + r->have, p + *i, k);
	r->have += k;
	*i += k;
	if (r->have < need)
		return 0;
	r->have = 0;
	return 1;
}

/* A record header is whole: is this record allowed here, this long? */
static enum drop_event header(struct drop_reader *r)
{
	uint8_t type = r->hdr[0];
	uint32_t len = le32(r->hdr + 1);
	int after_rcpt = r->last == DROP_T_RCPT || r->last == DROP_T_DATA;
	switch (type) {
	case DROP_T_SENDER:
		if (r->last != 0)
			return fail(r, "SENDER out of order");
		if (len > DROP_ADDR_MAX)
			return fail(r, "SENDER too long");
		break;
	case DROP_T_RCPT:
		if (r->last != DROP_T_SENDER && r->last != DROP_T_RCPT)
			return fail(r, "RCPT out of order");
		if (len == 0 || len > DROP_ADDR_MAX)
			return fail(r, "RCPT empty or too long");
		if (r->rcpts == DROP_MAX_RCPTS)
			return fail(r, "too many recipients");
		break;
	case DROP_T_DATA:
		if (!after_rcpt)
			return fail(r, "DATA out of order");
		if (len == 0 || len > DROP_MAX_CHUNK)
			return fail(r, "DATA record empty or too long");
		if (r->data + len > DROP_MAX_DATA)
			return fail(r, "message too large");
		break;
	case DROP_T_END:
		if (!after_rcpt)
			return fail(r, "END out of order");
		if (len != END_LEN)
			return fail(r, "END of the wrong length");
		break;
	default:
		return fail(r, "unknown record type");
	}
	if (type != DROP_T_END)
		r->crc = crc32_update(r->crc, r->hdr, HDR_LEN);
	r->type = type;
	r->last = type;
	r->left = len;
	r->slen = 0;
	r->state = type == DROP_T_DATA ? S_DATA : type == DROP_T_END ? S_END : S_STR;
	return DROP_MORE;
}

enum drop_event drop_reader_next(struct drop_reader *r, const uint8_t *p, size_t n, size_t *used,
                                 struct drop_item *item)
{
	size_t i = 0;
	enum drop_event ev = DROP_MORE;
	memset(item, 0, sizeof(*item));
	while (ev == DROP_MORE && r->state != S_ERROR) {
		size_t k;
		switch (r->state) {
		case S_PREAMBLE:
			if (!gather(r, r->hdr, PREAMBLE_LEN, p, n, &i))
				goto out;
			if (memcmp(r->hdr, DROP_MAGIC, 8) != 0) {
				fail(r, "not a maildrop file");
				goto out;
			}
			if (le32(r->hdr + 8) != DROP_VERSION) {
				fail(r, "unknown version");
				goto out;
			}
			r->crc = crc32_update(0, r->hdr, PREAMBLE_LEN);
			r->state = S_HDR;
			break;
		case S_HDR:
			if (!gather(r, r->hdr, HDR_LEN, p, n, &i))
				goto out;
			ev = header(r);
			break;
		case S_STR:
			k = r->left < n - i ? r->left : n - i;
			memcpy(r->str + r->slen, p + i, k);
			r->crc = crc32_update(r->crc, p + i, k);
			r->slen += k;
			r->left -= (uint32_t)k;
			i += k;
			if (r->left > 0)
				goto out;
			r->str[r->slen] = '\0';
			if (memchr(r->str, '\0', r->slen) != NULL) {
				fail(r, "NUL in an address");
				goto out;
			}
			item->str = r->str;
			r->rcpts += r->type == DROP_T_RCPT;
			ev = r->type == DROP_T_RCPT ? DROP_RCPT : DROP_SENDER;
			r->state = S_HDR;
			break;
		case S_DATA:
			if (i == n)
				goto out;
			k = r->left < n - i ? r->left : n - i;
			r->crc = crc32_update(r->crc, p + i, k);
			item->data = p + i;
			item->len = k;
			r->left -= (uint32_t)k;
			r->data += k;
			i += k;
			ev = DROP_DATA;
			if (r->left == 0)
				r->state = S_HDR;
			break;
		case S_END:
			if (!gather(r, r->end, END_LEN, p, n, &i))
				goto out;
			if (le32(r->end) != r->rcpts || le64(r->end + 4) != r->data) {
				fail(r, "END counts differ from the records");
				goto out;
			}
			if (le32(r->end + 12) != r->crc) {
				fail(r, "bad checksum");
				goto out;
			}
			r->state = S_DONE;
			ev = DROP_END;
			break;
		case S_DONE:
			if (i < n) {
				fail(r, "octets after END");
				goto out;
			}
			goto out;
		}
	}
out:
	*used = i;
	return r->state == S_ERROR ? DROP_ERROR : ev;
}

static int put(struct drop_writer *w, struct buf *out, uint8_t type, const void *p, size_t n)
{
	size_t start = out->len;
	if (buf_put_u8(out, type) == -1 || buf_put_u32(out, (uint32_t)n) == -1 ||
	    buf_append(out, p, n) == -1) {
		out->len = start;
		return -1;
	}
	w->crc = crc32_update(w->crc, out->data + start, out->len - start);
	return 0;
}

void drop_write_start(struct drop_writer *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	size_t start = out->len;
	buf_append(out, DROP_MAGIC, 8);
	buf_put_u32(out, DROP_VERSION);
	w->crc = crc32_update(0, out->data + start, out->len - start);
}

static int put_str(struct drop_writer *w, struct buf *out, uint8_t type, const char *s)
{
	size_t n = strlen(s);
	return n > DROP_ADDR_MAX ? -1 : put(w, out, type, s, n);
}

int drop_write_sender(struct drop_writer *w, struct buf *out, const char *s)
{
	return put_str(w, out, DROP_T_SENDER, s);
}

int drop_write_rcpt(struct drop_writer *w, struct buf *out, const char *s)
{
	if (s[0] == '\0' || w->rcpts == DROP_MAX_RCPTS || put_str(w, out, DROP_T_RCPT, s) == -1)
		return -1;
	w->rcpts++;
	return 0;
}

int drop_write_data(struct drop_writer *w, struct buf *out, const void *p, size_t n)
{
	const uint8_t *u = p;
	while (n > 0) {
		size_t k = n < DROP_MAX_CHUNK ? n : DROP_MAX_CHUNK;
		if (w->data + k > DROP_MAX_DATA || put(w, out, DROP_T_DATA, u, k) == -1)
			return -1;
		w->data += k;
		u += k;
		n -= k;
	}
	return 0;
}

int drop_write_end(struct drop_writer *w, struct buf *out)
{
	size_t start = out->len;
	if (buf_put_u8(out, DROP_T_END) == -1 || buf_put_u32(out, END_LEN) == -1 ||
	    buf_put_u32(out, w->rcpts) == -1 || buf_put_u64(out, w->data) == -1 ||
	    buf_put_u32(out, w->crc) == -1) {
		out->len = start;
		return -1;
	}
	return 0;
}
