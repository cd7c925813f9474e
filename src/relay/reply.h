/*
 * reply: pure, resumable parser of the replies an SMTP server sends to our
 * client (RFC 5321 §4.2). Bytes in, complete replies out, one at a time:
 * several replies in one read (PIPELINING, RFC 2920) come out one per call.
 *
 * Grammar accepted: every line is a 3-digit code (first digit 2..5, the
 * others any digit), then '-' for a continuation line, or SP or nothing
 * for the final line, then text, then CRLF. Every line of one reply must
 * carry the same code.
 *
 * Decisions (see also docs/ARCHITECTURE.md):
 * - A bare LF ends a line as CRLF does (one CR before it is dropped):
 *   servers that send LF-only replies exist and every MTA we know of takes
 *   them; the reply stream carries no message content, so there is nothing
 *   to smuggle. A CR elsewhere is text.
 * - The enhanced status code (RFC 2034/3463) is taken from the start of the
 *   first line's text whenever it is syntactically there — class "."
 *   1*3DIGIT "." 1*3DIGIT, then SP or end of line — and its class equals the
 *   reply code's first digit, whether or not ENHANCEDSTATUSCODES was
 *   advertised: the parser must work before EHLO (greeting) and servers send
 *   codes without advertising them; the class check keeps "220 2.1.3.4
 *   host" or "250 1.2.3" from being misread. The code stays in the text.
 * - Limits: a line is at most line_max octets including its CRLF, a reply
 *   at most lines_max lines. Errors are sticky: a stream that broke the
 *   grammar once cannot be trusted to be in step with our commands again,
 *   so the caller must close the connection.
 */
#ifndef RAVEN_RELAY_REPLY_H
#define RAVEN_RELAY_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define REPLY_LINE_MAX  2048 /* default and ceiling: octets per line incl. CRLF */
#define REPLY_LINES_MAX 100  /* default and ceiling: lines per reply */
#define REPLY_TEXT_MAX  2048 /* joined text, incl. the NUL */
#define REPLY_ENH_MAX   12   /* "5.999.999" + NUL */

enum reply_result { REPLY_MORE = 0, REPLY_DONE, REPLY_ERROR };

struct reply {
	int code;                /* 200..599 */
	char enh[REPLY_ENH_MAX]; /* "5.1.1", or "" when the first line has none */
	/* Every line's text (after "250-" / "250 ") joined with one space;
	 * octets below 0x20 and 0x7f shown as '?'; cut with "..." when long. */
	char text[REPLY_TEXT_MAX];
	unsigned nlines;
	/* Each line's text verbatim (for the EHLO keywords): see reply_line(). */
	struct buf store;
	size_t off[REPLY_LINES_MAX], len[REPLY_LINES_MAX];
};

struct reply_parser {
	size_t line_max;
	unsigned lines_max;
	const char *err; /* why, after REPLY_ERROR (static text) */
	struct reply reply;
	/* private */
	int failed;
	int done;   /* reply holds a finished reply, reset on the next feed */
	char *line; /* current raw line, line_max - 1 octets at most */
	size_t line_len;
};

/* line_max, lines_max: 0 for the defaults; larger values are cut to them. */
void reply_parser_init(struct reply_parser *rp, size_t line_max, unsigned lines_max);
void reply_parser_free(struct reply_parser *rp);
/*
 * Consume octets from in[0..n). REPLY_DONE: one complete reply is in
 * rp->reply (valid until the next call) and *consumed stops right after it;
 * REPLY_MORE: everything was consumed and no reply completed; REPLY_ERROR:
 * rp->err says why (it is returned again on every later call).
 */
enum reply_result reply_parser_feed(struct reply_parser *rp, const uint8_t *in, size_t n,
                                    size_t *consumed);
/* 1 when a reply has started but not finished (octets are held). */
int reply_parser_partial(const struct reply_parser *rp);
/* Line i's text (NUL-terminated, may hold other control octets), its length in *len. */
const char *reply_line(const struct reply *r, unsigned i, size_t *len);

#endif
