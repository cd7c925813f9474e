/* buf: growable byte buffer with a hard cap, and a bounded reader. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xmalloc.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

static int buf_reserve(struct buf *b, size_t n)
{
	if (n > b->max - b->len)
		return -1;
	size_t need = b->len + n;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xreallocarray(b->data, cap, 1);
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_byte(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

void buf_consume(struct buf *b, size_t n)
{
	/* The bytes consumed are wiped, not left behind the end: channel
	 * buffers carry passwords and hashes (AUTH, CRED frames). */
	if (n >= b->len) {
		if (b->len)
			explicit_bzero(b->data, b->len);
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	explicit_bzero(b->data + b->len - n, n);
	b->len -= n;
}

char *buf_strdup(const struct buf *b)
{
	char *s = xmalloc(b->len + 1);
	if (b->len)
		memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = {v, v >> 8, v >> 16, v >> 24};
	return buf_append(b, x, 4);
}

int buf_put_u64(struct buf *b, uint64_t v)
{
	if (b->max - b->len < 8 || buf_put_u32(b, (uint32_t)v) == -1) /* all or nothing */
		return -1;
	return buf_put_u32(b, (uint32_t)(v >> 32));
}

int buf_put_bytes(struct buf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX || n > b->max - b->len || b->max - b->len - n < 4 ||
	    buf_put_u32(b, (uint32_t)n) == -1)
		return -1;
	return buf_append(b, p, n);
}

int buf_put_str(struct buf *b, const char *s)
{
	return buf_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

void reader_init(struct reader *r, const void *p, size_t n)
{
	r->p = p;
	r->left = n;
	r->err = 0;
}

static int reader_take(struct reader *r, size_t n, const uint8_t **out)
{
	if (r->err || n > r->left) {
		r->err = 1;
		return -1;
	}
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

int reader_u8(struct reader *r, uint8_t *v)
{
	const uint8_t *p;
	if (reader_take(r, 1, &p) == -1)
		return -1;
	*v = p[0];
	return 0;
}

int reader_u32(struct reader *r, uint32_t *v)
{
	const uint8_t *p;
	if (reader_take(r, 4, &p) == -1)
		return -1;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

int reader_u64(struct reader *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (reader_u32(r, &lo) == -1 || reader_u32(r, &hi) == -1)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int reader_bytes(struct reader *r, const uint8_t **p, size_t *n, size_t max)
{
	uint32_t len;
	if (reader_u32(r, &len) == -1)
		return -1;
	if (len > max) {
		r->err = 1;
		return -1;
	}
	if (reader_take(r, len, p) == -1)
		return -1;
	*n = len;
	return 0;
}

int reader_str(struct reader *r, char **s, size_t max)
{
	const uint8_t *p;
	size_t n;
	if (reader_bytes(r, &p, &n, max) == -1)
		return -1;
	if (memchr(p, '\0', n) != NULL) {
		r->err = 1;
		return -1;
	}
	*s = xstrndup((const char *)p, n);
	return 0;
}

int reader_done(const struct reader *r)
{
	return (r->err || r->left != 0) ? -1 : 0;
}

void buf_append_b64(struct buf *b, const void *p, size_t n)
{
	/* Whole quanta at a time, so the pieces join into one encoding. */
	const uint8_t *in = p;
	char piece[4 * 64 + 1];
	while (n > 0) {
		size_t k = n < 3 * 64 ? n : 3 * 64;
		buf_append(b, piece, b64_encode(in, k, piece, sizeof(piece)));
		in += k;
		n -= k;
	}
}
