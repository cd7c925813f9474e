/*
 * reply: the SMTP reply parser (see reply.h for the grammar and the
 * decisions). A line is gathered whole before it is judged, so feeding a
 * stream in any split gives the same replies and the same errors at the
 * same octet.
 */
#include "reply.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void reply_parser_init(struct reply_parser *rp, size_t line_max, unsigned lines_max)
{
	memset(rp, 0, sizeof(*rp));
	rp->line_max = line_max == 0 || line_max > REPLY_LINE_MAX ? REPLY_LINE_MAX : line_max;
	if (rp->line_max < 4)
		rp->line_max = 4; /* "250" LF must fit */
	rp->lines_max = lines_max == 0 || lines_max > REPLY_LINES_MAX ? REPLY_LINES_MAX : lines_max;
	rp->line = xmalloc(rp->line_max);
	/* Every line's text plus its NUL: never more than the lines themselves. */
	buf_init(&rp->reply.store, rp->line_max * rp->lines_max);
}

void reply_parser_free(struct reply_parser *rp)
{
	free(rp->line);
	buf_free(&rp->reply.store);
	memset(rp, 0, sizeof(*rp));
}

int reply_parser_partial(const struct reply_parser *rp)
{
	return !rp->done && !rp->failed && (rp->line_len > 0 || rp->reply.nlines > 0);
}

const char *reply_line(const struct reply *r, unsigned i, size_t *len)
{
	if (i >= r->nlines) {
		*len = 0;
		return "";
	}
	*len = r->len[i];
	return (const char *)r->store.data + r->off[i];
}

static void reply_reset(struct reply *r)
{
	r->code = 0;
	r->enh[0] = 0;
	r->text[0] = 0;
	r->nlines = 0;
	buf_reset(&r->store);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1*3DIGIT at s[*i..n); advances *i. */
static int enh_number(const char *s, size_t n, size_t *i)
{
	size_t start = *i;
	while (*i < n && *i - start < 3 && is_digit(s[*i]))
		(*i)++;
	return *i > start;
}

/* The RFC 3463 code at the start of the first line's text (see reply.h). */
static void reply_find_enh(struct reply *r)
{
	size_t n;
	const char *s = reply_line(r, 0, &n);
	size_t i;
	if (n < 5 || s[0] != (char)('0' + r->code / 100) || s[1] != '.')
		return;
	i = 2;
	if (!enh_number(s, n, &i) || i >= n || s[i] != '.')
		return;
	i++;
	if (!enh_number(s, n, &i))
		return;
	if (i < n && s[i] != ' ')
		return; /* "5.1.1x" or a fourth digit: not a status code */
	memcpy(r->enh, s, i);
	r->enh[i] = 0;
}

/* Join the lines for people (logs, DSN diagnostics), control octets masked. */
static void reply_join(struct reply *r)
{
	static const char cut[] = "...";
	size_t o = 0, room = sizeof(r->text) - sizeof(cut); /* keep space for "..." + NUL */
	int truncated = 0;
	for (unsigned i = 0; i < r->nlines && !truncated; i++) {
		size_t n;
		const char *s = reply_line(r, i, &n);
		if (i > 0) {
			if (o >= room) {
				truncated = 1;
				break;
			}
			r->text[o++] = ' ';
		}
		for (size_t k = 0; k < n; k++) {
			if (o >= room) {
				truncated = 1;
				break;
			}
			unsigned char c = (unsigned char)s[k];
			r->text[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	if (truncated) {
		memcpy(r->text + o, cut, sizeof(cut));
		o += sizeof(cut) - 1;
	}
	r->text[o] = 0;
}

static enum reply_result reply_fail(struct reply_parser *rp, const char *why)
{
	rp->failed = 1;
	rp->err = why;
	return REPLY_ERROR;
}

/* A whole line (without its LF) is in rp->line: judge it. */
static enum reply_result reply_line_done(struct reply_parser *rp)
{
	struct reply *r = &rp->reply;
	const char *s = rp->line;
	size_t n = rp->line_len;
	rp->line_len = 0;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n < 3 || s[0] < '2' || s[0] > '5' || !is_digit(s[1]) || !is_digit(s[2]))
		return reply_fail(rp, "malformed reply code");
	if (n > 3 && s[3] != '-' && s[3] != ' ')
		return reply_fail(rp, "malformed reply line: no space or '-' after the code");
	int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (r->nlines == 0)
		r->code = code;
	else if (code != r->code)
		return reply_fail(rp, "reply code changed within a multi-line reply");
	int more = n > 3 && s[3] == '-';
	const char *t = n > 4 ? s + 4 : s + n;
	size_t tlen = n > 4 ? n - 4 : 0;
	r->off[r->nlines] = r->store.len;
	r->len[r->nlines] = tlen;
	/* Cannot fail: store holds lines_max lines of line_max octets. */
	if (buf_append(&r->store, t, tlen) == -1 || buf_append_byte(&r->store, 0) == -1)
		return reply_fail(rp, "reply too large");
	r->nlines++;
	if (more) {
		if (r->nlines >= rp->lines_max)
			return reply_fail(rp, "too many lines in one reply");
		return REPLY_MORE;
	}
	reply_find_enh(r);
	reply_join(r);
	rp->done = 1;
	return REPLY_DONE;
}

enum reply_result reply_parser_feed(struct reply_parser *rp, const uint8_t *in, size_t n,
                                    size_t *consumed)
{
	*consumed = 0;
	if (rp->failed)
		return REPLY_ERROR;
	if (rp->done) {
		rp->done = 0;
		reply_reset(&rp->reply);
	}
	size_t i = 0;
	while (i < n) {
		const uint8_t *lf = memchr(in + i, '\n', n - i);
		size_t take = (lf != NULL ? (size_t)(lf - (in + i)) : n - i);
		/* The line may hold line_max - 1 octets before its LF. */
		size_t room = rp->line_max - 1 - rp->line_len;
		if (take > room) {
			*consumed = i + room + 1;
			return reply_fail(rp, "reply line too long");
		}
		memcpy(rp->line + rp->line_len, in + i, take);
		rp->line_len += take;
		i += take;
		if (lf == NULL)
			break;
		i++; /* the LF */
		enum reply_result res = reply_line_done(rp);
		if (res != REPLY_MORE) {
			*consumed = i;
			return res;
		}
	}
	*consumed = i;
	return REPLY_MORE;
}
