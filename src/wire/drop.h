/*
 * drop: the maildrop file — one message a local user handed to
 * raven-sendmail, written by raven-postdrop into <data>/maildrop and read
 * by the pickup role (docs/SPOOL.md §7). Its author is any local user, so
 * the reader is pure, bounded and resumable: bytes in, one event out at a
 * time, no I/O, no allocation.
 *
 * Layout (integers little-endian): magic "RAVENDRP", u32 version 1, then
 * records of u8 type, u32 payload length, payload:
 *   SENDER  the envelope sender, "" for <>; once, first
 *   RCPT    one recipient address (local@domain); 1..DROP_MAX_RCPTS
 *   DATA    message octets (LF or CRLF lines), 1..DROP_MAX_CHUNK each; any number
 *   END     u32 RCPT count, u64 DATA octets, u32 CRC-32 of every octet before it
 * in that order, and nothing after END. A file without END is incomplete.
 */
#ifndef RAVEN_DROP_H
#define RAVEN_DROP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define DROP_MAGIC     "RAVENDRP"
#define DROP_VERSION   1
#define DROP_ADDR_MAX  1024        /* octets of a SENDER or RCPT */
#define DROP_MAX_RCPTS 10000       /* recipients of one file */
#define DROP_MAX_CHUNK (64 * 1024) /* octets of one DATA record */
#define DROP_MAX_DATA  ((uint64_t)1 << 32)

enum drop_type { DROP_T_SENDER = 1, DROP_T_RCPT, DROP_T_DATA, DROP_T_END };

/* What drop_reader_next() found. */
enum drop_event {
	DROP_MORE = 0, /* every octet given was consumed: feed more */
	DROP_SENDER,   /* item.str */
	DROP_RCPT,     /* item.str */
	DROP_DATA,     /* item.data, item.len: message octets (part of a record) */
	DROP_END,      /* the file is complete; anything more is an error */
	DROP_ERROR,    /* reader.why says what; sticky */
};

struct drop_item {
	const char *str;     /* NUL-terminated, inside the reader */
	const uint8_t *data; /* inside the caller's input */
	size_t len;
};

struct drop_reader {
	int state;
	uint8_t hdr[12]; /* preamble or record header being collected */
	size_t have;
	uint8_t type;
	uint32_t left; /* payload octets still to come */
	char str[DROP_ADDR_MAX + 1];
	size_t slen;
	uint8_t end[16];
	uint32_t crc;
	uint64_t data;   /* DATA octets so far */
	uint32_t rcpts;  /* RCPT records so far */
	uint8_t last;    /* the type of the last record, for their order */
	const char *why; /* DROP_ERROR */
};

void drop_reader_init(struct drop_reader *r);
/*
 * Consume octets from p[0..n) up to the next event; *used is how many were
 * consumed (the caller feeds the rest again). DATA events point into p.
 */
enum drop_event drop_reader_next(struct drop_reader *r, const uint8_t *p, size_t n, size_t *used,
                                 struct drop_item *item);

/* The writer side: records appended to a buffer, the CRC kept. */
struct drop_writer {
	uint32_t crc;
	uint64_t data;
	uint32_t rcpts;
};

void drop_write_start(struct drop_writer *w, struct buf *out);
/* -1 if s is over DROP_ADDR_MAX or holds a NUL, or out is full. */
int drop_write_sender(struct drop_writer *w, struct buf *out, const char *s);
int drop_write_rcpt(struct drop_writer *w, struct buf *out, const char *s);
/* Any length: split into records of at most DROP_MAX_CHUNK. */
int drop_write_data(struct drop_writer *w, struct buf *out, const void *p, size_t n);
int drop_write_end(struct drop_writer *w, struct buf *out);

#endif
