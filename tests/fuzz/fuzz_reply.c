/*
 * libFuzzer target for the SMTP reply parser (src/relay/reply.c). Input:
 * one octet choosing the line limit (0: the default), one the line-count
 * limit, then the server's octets. They are parsed whole, one byte at a
 * time and in uneven chunks: the replies, errors and octets consumed must
 * be identical. Every reply must keep the invariants: a code 200..599, an
 * enhanced code of the reply's class or none, a bounded text without
 * control octets, lines within the limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_reply(const struct reply_parser *rp)
{
	const struct reply *r = &rp->reply;
	check(r->code >= 200 && r->code <= 599);
	check(r->nlines >= 1 && r->nlines <= rp->lines_max);
	size_t tl = strlen(r->text);
	check(tl < REPLY_TEXT_MAX);
	for (size_t i = 0; i < tl; i++)
		check((unsigned char)r->text[i] >= 0x20 && r->text[i] != 0x7f);
	if (r->enh[0]) {
		check(r->enh[0] == '0' + r->code / 100 && r->enh[1] == '.');
		check(strncmp(r->text, r->enh, strlen(r->enh)) == 0);
	}
	for (unsigned i = 0; i < r->nlines; i++) {
		size_t ln;
		(void)reply_line(r, i, &ln);
		/* the text follows "250-" and precedes at least an LF */
		check(ln == 0 || ln + 5 <= rp->line_max);
	}
}

/* step 0: all at once; otherwise chunks cycle through 1..step. */
static void parse(const uint8_t *in, size_t n, size_t line_max, unsigned lines_max, size_t step,
                  struct buf *tr)
{
	struct reply_parser rp;
	size_t off = 0, k = 0;
	reply_parser_init(&rp, line_max, lines_max);
	buf_init(tr, 0);
	while (off < n) {
		size_t want = n - off, used = 0;
		if (step != 0) {
			size_t c = 1 + (k++ % step);
			want = c < want ? c : want;
		}
		enum reply_result res = reply_parser_feed(&rp, in + off, want, &used);
		check(used <= want);
		off += used;
		if (res == REPLY_ERROR) {
			buf_printf(tr, "E %s %zu\n", rp.err, off);
			break;
		}
		if (res == REPLY_MORE) {
			check(used == want);
			continue;
		}
		check_reply(&rp);
		buf_printf(tr, "R %d %s %u %zu %s\n", rp.reply.code, rp.reply.enh, rp.reply.nlines,
		           off, rp.reply.text);
		for (unsigned i = 0; i < rp.reply.nlines; i++) {
			size_t ln;
			const char *l = reply_line(&rp.reply, i, &ln);
			buf_append(tr, l, ln);
			buf_append_byte(tr, '\n');
		}
	}
	buf_printf(tr, "P %d\n", reply_parser_partial(&rp));
	reply_parser_free(&rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t line_max = (size_t)data[0] * 4; /* 0: default 2048 */
	unsigned lines_max = data[1] % 16;     /* 0: default 100 */
	struct buf a, b, c;
	parse(data + 2, size - 2, line_max, lines_max, 0, &a);
	parse(data + 2, size - 2, line_max, lines_max, 1, &b);
	parse(data + 2, size - 2, line_max, lines_max, 7, &c);
	check(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	check(a.len == c.len && memcmp(a.data, c.data, a.len) == 0);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	return 0;
}
