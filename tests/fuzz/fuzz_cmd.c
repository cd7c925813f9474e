/*
 * libFuzzer target for cmd_parse. Input: one octet choosing the line limit
 * and utf8_addrs, then a client byte stream. The stream is split by the
 * line reader fed whole and one byte at a time; the two transcripts must be
 * identical (abort() otherwise), and every line goes through cmd_parse.
 * The whole input is also decoded as xtext and as an RFC 6533 address (the
 * decoders behind ORCPT and ENVID): the check-only and the decoding forms
 * must agree, and nothing decodes longer than it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd_parse.h"
#include "xtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_line(const char *line, size_t len, int utf8)
{
	struct smtp_cmd cmd;
	struct smtp_reply err;
	if (cmd_parse(line, len, utf8, &cmd, &err) == 0) {
		if (cmd.verb < CMD_HELO || cmd.verb > CMD_AUTH)
			abort();
		if (strlen(cmd.arg) >= sizeof(cmd.arg) || strlen(cmd.envid) > 100)
			abort();
		if ((cmd.verb == CMD_MAIL || cmd.verb == CMD_RCPT) && !cmd.addr.is_null &&
		    cmd.addr.text[0] == 0)
			abort();
		if (strlen(cmd.orcpt) > CMD_ORCPT_MAX ||
		    (cmd.orcpt[0] && !memchr(cmd.orcpt, ';', 500)))
			abort();
		/* a dropped ORCPT or ENVID leaves nothing behind, and points into the line */
		if (cmd.ignored.event != NULL &&
		    (cmd.ignored.why == NULL || cmd.ignored.off + cmd.ignored.len > len ||
		     (cmd.verb == CMD_RCPT && cmd.orcpt[0]) ||
		     (cmd.verb == CMD_MAIL && cmd.envid[0])))
			abort();
	} else if (err.code < 500 || err.code > 555 || err.text[0] == 0) {
		abort();
	}
}

static void decode_both(const uint8_t *in, size_t n)
{
	int (*const decoders[])(const char *, size_t, char *, size_t,
	                        size_t *) = {xtext_decode, xtext_decode_utf8};
	char out[512];
	for (size_t d = 0; d < 2; d++) {
		size_t counted = 0, len = 0;
		int check = decoders[d]((const char *)in, n, NULL, 0, &counted);
		int rc = decoders[d]((const char *)in, n, out, sizeof(out), &len);
		if (check == 0 && counted > n)
			abort();
		if (rc == 0 && (check != 0 || len != counted || out[len] != '\0'))
			abort();
		if (rc == -1 && check == 0 && counted < sizeof(out))
			abort();
	}
}

/* Transcript of what the reader reports; step 0 means "all at once". */
static void split(const uint8_t *in, size_t n, size_t max, size_t step, int utf8, struct buf *t)
{
	struct line_reader lr;
	size_t off = 0;
	line_reader_init(&lr, max);
	while (off < n) {
		size_t want = step == 0 || step > n - off ? n - off : step, used = 0;
		enum line_result r = line_reader_feed(&lr, in + off, want, &used);
		if (used > want || (r == LINE_MORE && used != want) ||
		    (r != LINE_MORE && used == 0))
			abort();
		off += used;
		if (r == LINE_DONE) {
			if (lr.len + 1 > max)
				abort();
			buf_append(t, "L", 1);
			buf_append(t, &lr.len, sizeof(lr.len));
			buf_append(t, lr.line, lr.len);
			if (step == 0)
				parse_line(lr.line, lr.len, utf8);
		} else if (r == LINE_TOO_LONG) {
			buf_append(t, "T", 1);
		}
	}
	buf_append(t, &lr.len, sizeof(lr.len));
	buf_append(t, &lr.overflow, sizeof(lr.overflow));
	buf_append(t, &lr.last_cr, sizeof(lr.last_cr));
	line_reader_free(&lr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max = 2 + (size_t)(data[0] >> 1) * 8;
	int utf8 = data[0] & 1;
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	struct buf whole, bytes, chunks;
	buf_init(&whole, 0);
	buf_init(&bytes, 0);
	buf_init(&chunks, 0);
	split(in, n, max, 0, utf8, &whole);
	split(in, n, max, 1, utf8, &bytes);
	split(in, n, max, 3, utf8, &chunks);
	if (whole.len != bytes.len || memcmp(whole.data, bytes.data, whole.len) != 0)
		abort();
	if (whole.len != chunks.len || memcmp(whole.data, chunks.data, whole.len) != 0)
		abort();
	buf_free(&whole);
	buf_free(&bytes);
	buf_free(&chunks);
	/* The whole input as one line, too (whatever the reader would allow). */
	parse_line((const char *)in, n, utf8);
	decode_both(in, n);
	return 0;
}
