/*
 * buf: a growable byte buffer with a hard maximum. Appending past the
 * maximum fails (returns -1) instead of growing: every buffer fed by the
 * network is capped.
 */
#ifndef RAVEN_BUF_H
#define RAVEN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len; 0 means SIZE_MAX */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_byte(struct buf *b, uint8_t c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop n bytes from the front; they are wiped (see buf.c). */
void buf_consume(struct buf *b, size_t n);
/* NUL-terminated copy of the contents (the buffer itself is not changed). */
char *buf_strdup(const struct buf *b);

/* Little-endian integer append helpers used by the record codecs. */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* u32 length followed by the bytes. */
int buf_put_bytes(struct buf *b, const void *p, size_t n);
int buf_put_str(struct buf *b, const char *s); /* NULL encodes as "" */

/*
 * A bounded reader over a byte range: every get fails (returns -1 and
 * sets r->err) instead of reading past the end.
 */
struct reader {
	const uint8_t *p;
	size_t left;
	int err;
};

void reader_init(struct reader *r, const void *p, size_t n);
int reader_u8(struct reader *r, uint8_t *v);
int reader_u32(struct reader *r, uint32_t *v);
int reader_u64(struct reader *r, uint64_t *v);
/* A u32-length-prefixed byte string, at most max bytes; points into the input. */
int reader_bytes(struct reader *r, const uint8_t **p, size_t *n, size_t max);
/* As reader_bytes, then copied into a fresh NUL-terminated string; fails on
 * an embedded NUL. */
int reader_str(struct reader *r, char **s, size_t max);
/* 0 when everything was read and nothing failed. */
int reader_done(const struct reader *r);

/* Append p[0..n) in base64 (RFC 4648, with padding). */
void buf_append_b64(struct buf *b, const void *p, size_t n);

#endif
