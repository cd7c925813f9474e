/*
 * dkim_canon: DKIM's "simple" and "relaxed" canonicalizations (RFC 6376
 * §3.4). Header fields are canonicalized one at a time; the body is a
 * streaming state machine that hands its output to a sink in small blocks,
 * so a message body is never held in memory: whatever the chunking of the
 * input, the output is the same octets.
 */
#ifndef RAVEN_DKIM_CANON_H
#define RAVEN_DKIM_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dkim_tags.h"

/*
 * Append the canonical form of one header field (raw "Name: value", folded,
 * without its final CRLF) to out, with a CRLF unless nocrlf (the signature
 * field itself). -1 if out is full.
 */
int dkim_canon_header(enum dkim_canon mode, const char *field, size_t len, int nocrlf,
                      struct buf *out);

struct dkim_body_canon {
	enum dkim_canon mode;
	int cr;         /* a CR seen, its LF not yet */
	int wsp;        /* relaxed: a run of WSP not yet written */
	int any;        /* some non-empty line was written */
	uint64_t crlfs; /* line ends held back: trailing empty lines are dropped */
	uint64_t limit; /* l=: octets passed to the sink at most */
	uint64_t total; /* canonical octets produced (past the limit too) */
	void (*sink)(void *arg, const void *p, size_t n);
	void *arg;
	size_t blen;
	uint8_t block[1024];
};

/* limit: UINT64_MAX for none. */
void dkim_body_canon_init(struct dkim_body_canon *c, enum dkim_canon mode, uint64_t limit,
                          void (*sink)(void *arg, const void *p, size_t n), void *arg);
void dkim_body_canon_update(struct dkim_body_canon *c, const void *p, size_t n);
/* End of body: writes the final CRLF (if any) and flushes. */
void dkim_body_canon_final(struct dkim_body_canon *c);

#endif
