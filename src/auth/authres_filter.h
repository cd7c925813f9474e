/*
 * authres_filter: removes, while a message streams to the spool, every
 * Authentication-Results field of its header section that claims our
 * authserv-id (RFC 8601 §5: a sender must not be able to forge our
 * verdicts; ours is added at delivery). Pure and resumable: octets in, the
 * filtered octets appended to a buffer, the same result however the input
 * is split. Other fields pass at once; an Authentication-Results field is
 * held until it is complete (its folded lines included) or reaches
 * AUTHRES_FILTER_HOLD_MAX octets, when it is judged by what it holds (the
 * authserv-id comes first). Once the header section is over everything
 * passes untouched and authres_filter_passing() says so, so the caller
 * can stop feeding it.
 */
#ifndef RAVEN_AUTHRES_FILTER_H
#define RAVEN_AUTHRES_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define AUTHRES_FILTER_HOLD_MAX 16384
#define AUTHRES_FILTER_ID_MAX   255

struct authres_filter {
	char id[AUTHRES_FILTER_ID_MAX + 1]; /* our authserv-id */
	int state;
	int field;       /* what becomes of the current field */
	size_t name_pos; /* octets of "Authentication-Results" matched */
	struct buf held; /* an Authentication-Results field being read */
	size_t removed;  /* fields removed so far */
};

void authres_filter_init(struct authres_filter *f, const char *authserv_id);
void authres_filter_free(struct authres_filter *f);
/* Filter n more octets of the message; the result is appended to out. */
void authres_filter_feed(struct authres_filter *f, const uint8_t *in, size_t n, struct buf *out);
/* The end of the message: a field still held is judged and flushed. */
void authres_filter_end(struct authres_filter *f, struct buf *out);
/* 1 once the header section is over: the rest would pass unchanged. */
int authres_filter_passing(const struct authres_filter *f);

#endif
