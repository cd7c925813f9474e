/*
 * data_reader: pure, resumable reader of the DATA section (RFC 5321
 * §4.1.1.4, §4.5.2). Dot-unstuffs, and ends ONLY at <CRLF>.<CRLF> (the line
 * "." preceded by CRLF; the CRLF right after the 354 counts as the first).
 * A bare LF or bare CR anywhere is recorded (the session then refuses the
 * message) and is never taken as part of an end marker: "\n.\n",
 * "\r.\r", "\n.\r\n" do not end the data (no SMTP smuggling).
 *
 * While streaming it enforces the message-size limit (output beyond it is
 * dropped and too_big is set), the text-line limit (too_long_line), and
 * counts Received: header fields in the header section (hops).
 * Output is the unstuffed message with CRLF line ends, without the final
 * ".\r\n".
 *
 * It also notes which of Date: and Message-ID: the header section has, and
 * can stop once where that section ends (just before the empty line), so a
 * submission server can add the missing ones there (RFC 6409 §8) without
 * holding the message.
 */
#ifndef RAVEN_DATA_READER_H
#define RAVEN_DATA_READER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "smtp_reply.h"

enum data_result {
	DATA_MORE = 0,
	DATA_DONE,
	DATA_HEADER_END, /* with stop_at_body: the header section ends here (once) */
};

/* Header fields seen in the header section. */
enum { DATA_SEEN_DATE = 1, DATA_SEEN_MESSAGE_ID = 2 };

struct data_reader {
	size_t max_size; /* message size limit, octets */
	size_t max_line; /* text line limit, octets incl. CRLF */
	/* results */
	uint64_t size; /* octets of message produced (even beyond max_size) */
	size_t hops;   /* Received: fields in the header section */
	int too_big;
	int too_long_line;
	int bare_lf;
	int bare_cr;
	unsigned seen;    /* DATA_SEEN_* */
	int stop_at_body; /* set by the caller after init: report DATA_HEADER_END */
	int stopped;      /* DATA_HEADER_END was reported */
	/* private state */
	int state;
	size_t line_len;
	int in_header;
	/* the field name at the start of this header line, matched against
	 * the names we look for: candidates left, octets matched, the name
	 * over (white space until ':'), or no match possible any more */
	unsigned hdr_cand;
	size_t hdr_pos;
	int hdr_after;
	int hdr_off;
};

/* A limit of 0 means "no limit" (as Postfix's message_size_limit = 0). */
void data_reader_init(struct data_reader *dr, size_t max_size, size_t max_line);
/*
 * Consume octets; unstuffed output is appended to out (which the caller
 * may drain between calls; NULL discards the output, e.g. once the message
 * is known to be refused). If appending to out fails (its own cap), the
 * message counts as too big. Returns DATA_DONE when the end marker has been
 * consumed (*consumed stops right after it; later octets are the next
 * command), otherwise DATA_MORE with *consumed == n.
 */
enum data_result data_reader_feed(struct data_reader *dr, const uint8_t *in, size_t n,
                                  size_t *consumed, struct buf *out);
/*
 * After DATA_DONE: 0 if the message is acceptable, or -1 with the reply
 * to give in *err, the first that applies of: 550 5.6.0 bare CR/LF, 552
 * 5.3.4 too big, 550 5.6.0 line too long, 554 5.4.6 too many hops. max_hops is
 * the largest acceptable number of Received: fields (0: no limit).
 */
int data_reader_verdict(const struct data_reader *dr, size_t max_hops, struct smtp_reply *err);

#endif
