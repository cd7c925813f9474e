/*
 * dkim_hdrs: collects a message's header section from a stream of chunks,
 * capped, and splits it into fields. Both the DKIM verifier and signer
 * feed the message through it; the bytes after the blank line are the
 * body, which it hands back untouched (it never keeps any of it).
 */
#ifndef RAVEN_DKIM_HDRS_H
#define RAVEN_DKIM_HDRS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define DKIM_HDRS_FIELDS_MAX 4096

struct dkim_field {
	size_t off, len; /* in raw, without the CRLF that ends it */
	size_t name_len; /* before ':' with trailing WSP gone; 0: no colon */
};

struct dkim_hdrs {
	struct buf raw; /* the header section; each field ends with CRLF */
	uint32_t tail;  /* the last four octets seen, to find CRLF CRLF */
	uint64_t seen;  /* header octets seen (past the cap too) */
	int done;       /* the blank line (or the end) was reached */
	int overflow;   /* more than the cap, or too many fields */
	size_t nfields;
	struct dkim_field *fields;
};

void dkim_hdrs_init(struct dkim_hdrs *h, size_t max);
void dkim_hdrs_free(struct dkim_hdrs *h);
/* Take header octets from p; returns how many were header (the rest, if
 * any, is body). Once done it takes nothing. */
size_t dkim_hdrs_feed(struct dkim_hdrs *h, const void *p, size_t n);
/* End of message before the blank line: what was read is the header. */
void dkim_hdrs_end(struct dkim_hdrs *h);
/* 1 if field i's name is name (case-insensitive). */
int dkim_hdrs_is(const struct dkim_hdrs *h, size_t i, const char *name);
static inline const char *dkim_hdrs_field(const struct dkim_hdrs *h, size_t i)
{
	return (const char *)h->raw.data + h->fields[i].off;
}

#endif
