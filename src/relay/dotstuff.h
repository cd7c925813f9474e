/*
 * dotstuff: the streaming encoder of a spooled message into the DATA
 * section (RFC 5321 §4.5.2): a line that starts with '.' gets a second one,
 * and the end is CRLF "." CRLF (with a CRLF added first when the message
 * does not end with one). Feed it the message in chunks of any size.
 *
 * Line ends: the spool holds CRLF (the server refuses bare CR and LF). A
 * message that came another way may not, so every bare LF and every bare CR
 * becomes CRLF: what we send is made of CRLF-terminated lines only, and no
 * next hop can read a line end or an end-of-data marker into it that we did
 * not mean (SMTP smuggling). This changes such a message, as Postfix does
 * for bare LF; mail with bare CR is broken anyway (RFC 5321 §2.3.8).
 * Line length (RFC 5321's 1000 octets) is not enforced here.
 */
#ifndef RAVEN_RELAY_DOTSTUFF_H
#define RAVEN_RELAY_DOTSTUFF_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct dotstuff {
	int line_start; /* the next octet starts a line */
	int after_cr;   /* the last octet was a CR, already sent as CRLF */
	uint64_t in;    /* octets consumed */
	uint64_t out;   /* octets produced */
};

void dotstuff_init(struct dotstuff *ds);
/*
 * Encode in[0..n), appending to out. 0, or -1 when out reached its maximum
 * (the encoder's state is then undefined: drain out between calls, or give
 * it no maximum).
 */
int dotstuff_feed(struct dotstuff *ds, const uint8_t *in, size_t n, struct buf *out);
/* The end: CRLF if the last line is unfinished, then ".\r\n". 0 or -1 as above. */
int dotstuff_finish(struct dotstuff *ds, struct buf *out);

#endif
