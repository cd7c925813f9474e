/*
 * sm_msg: what raven-sendmail does to the message on its standard input
 * before it goes to the maildrop. Pure and bounded (no I/O): octets in,
 * the message out with CRLF line ends,
 *   - a leading mbox "From " line dropped;
 *   - without -i, a line holding a lone "." ends the message;
 *   - the header section read field by field (a line that is neither a
 *     field nor a continuation ends it, as a blank line does) and capped;
 *   - Bcc: fields removed (their addresses are recipients with -t);
 *   - Date:, Message-ID: and From: added at the end of the header when
 *     missing (the values are the caller's: it knows the clock and user);
 *   - with -t, every address of To:, Cc: and Bcc: collected (read with
 *     src/wire/addrlist.c, bare names too; the caller qualifies and
 *     validates each with addr.c).
 * Local programs write LF line ends; a lone CR is kept as it is.
 */
#ifndef RAVEN_SM_MSG_H
#define RAVEN_SM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SM_HEADER_MAX (1024 * 1024) /* octets of the header section */
#define SM_RCPTS_MAX  1000          /* addresses -t takes from the header */

struct sm_opts {
	int dot_ends;     /* no -i: a lone "." line ends the message */
	int header_rcpts; /* -t */
	/* the values of the fields to add when missing */
	const char *date, *message_id, *from;
};

struct sm_field {
	size_t off, len; /* in hdr, with its CRLF */
	size_t name_len;
};

struct sm_msg {
	struct sm_opts o;
	int state;
	int mid_line; /* the line buffer was flushed before its end */
	int first_line;
	struct buf line; /* the line being collected */
	struct buf hdr;  /* the header section, CRLF lines */
	struct sm_field *fields;
	size_t n_fields, cap_fields;
	int header_done; /* the header section was written to out */
	char **rcpts;    /* -t: addresses as written (local@domain, no CFWS) */
	size_t n_rcpts;
	char why[256]; /* the reason of a -1 */
};

void sm_msg_init(struct sm_msg *m, const struct sm_opts *o);
void sm_msg_free(struct sm_msg *m);
/*
 * Take n octets of input; the message so far is appended to out. -1 with
 * m->why (a header over SM_HEADER_MAX, an address in To/Cc/Bcc that does
 * not parse, too many). After the lone dot, further input is ignored.
 */
int sm_msg_feed(struct sm_msg *m, const uint8_t *p, size_t n, struct buf *out);
/* The end of input: the last line is ended; 0 or -1 as sm_msg_feed. */
int sm_msg_end(struct sm_msg *m, struct buf *out);

#endif
