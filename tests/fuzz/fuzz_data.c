/*
 * libFuzzer target for data_reader. Input: two octets choosing the size
 * and line limits, then the DATA stream. It is fed whole, one byte at a
 * time and in uneven chunks: results must be identical, and must match a
 * simple independent model of RFC 5321 DATA (ends only at a line "." after
 * a real CRLF, unstuffing, bare CR/LF, line lengths, Received: count, the
 * Date: and Message-ID: fields of the header section). Fed once more
 * asking for the stop where the header section ends, it must stop exactly
 * where the model says and produce the same output otherwise.
 * Any difference is an abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "data_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int done;
	size_t consumed;
	struct buf out;
	struct data_reader dr;
	int stopped;     /* DATA_HEADER_END came (stop mode) */
	size_t stop_out; /* the output's length then */
};

/* step 0: everything at once; otherwise chunk sizes cycle 1..step. */
static void feed(const uint8_t *in, size_t n, size_t max_size, size_t max_line, size_t step,
                 int stop, struct result *r)
{
	size_t off = 0, k = 0;
	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	data_reader_init(&r->dr, max_size, max_line);
	r->dr.stop_at_body = stop;
	while (off < n) {
		size_t want = n - off, used = 0;
		if (step != 0) {
			size_t c = 1 + (k++ % step);
			want = c < want ? c : want;
		}
		enum data_result res = data_reader_feed(&r->dr, in + off, want, &used, &r->out);
		if (used > want)
			abort();
		off += used;
		if (res == DATA_DONE) {
			r->done = 1;
			break;
		}
		if (res == DATA_HEADER_END) {
			if (!stop || r->stopped)
				abort(); /* only when asked, and once */
			r->stopped = 1;
			r->stop_out = r->out.len;
			continue;
		}
		if (used != want)
			abort();
	}
	r->consumed = off;
}

static void same(const struct result *a, const struct result *b)
{
	if (a->done != b->done || a->consumed != b->consumed || a->out.len != b->out.len ||
	    (a->out.len && memcmp(a->out.data, b->out.data, a->out.len) != 0))
		abort();
	if (a->dr.size != b->dr.size || a->dr.hops != b->dr.hops || a->dr.seen != b->dr.seen ||
	    a->dr.too_big != b->dr.too_big || a->dr.too_long_line != b->dr.too_long_line ||
	    a->dr.bare_cr != b->dr.bare_cr || a->dr.bare_lf != b->dr.bare_lf)
		abort();
}

static int is_crlf(const uint8_t *in, size_t n, size_t i)
{
	return i + 1 < n && in[i] == '\r' && in[i + 1] == '\n';
}

/* 1 if line[0..len) starts with name *WSP ":" (name case-insensitive). */
static int field_is(const uint8_t *line, size_t len, const char *name)
{
	size_t nl = strlen(name), k = nl;
	if (len < nl || strncasecmp((const char *)line, name, nl) != 0)
		return 0;
	while (k < len && (line[k] == ' ' || line[k] == '\t'))
		k++;
	return k < len && line[k] == ':';
}

/* The model, written line by line rather than as a state machine. */
static void model(const uint8_t *in, size_t n, size_t max_line, struct result *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->out, 0);
	size_t i = 0;
	int in_header = 1;
	for (;;) {
		/* the header section's end: a line that starts with CR or LF */
		if (in_header && !m->stopped && i < n && (in[i] == '\r' || in[i] == '\n')) {
			m->stopped = 1;
			m->stop_out = m->out.len;
		}
		/* i is at a line start: offset 0 or just after a CRLF */
		if (i + 3 <= n && in[i] == '.' && is_crlf(in, n, i + 1)) {
			m->done = 1;
			m->consumed = i + 3;
			break;
		}
		if (i < n && in[i] == '.')
			i++;
		size_t j = i;
		while (j < n && !is_crlf(in, n, j))
			j++;
		int ended = j < n;
		size_t end = j;
		if (!ended && end > i && in[end - 1] == '\r')
			end--; /* a trailing CR is still undecided */
		buf_append(&m->out, in + i, end - i);
		size_t len = end - i;
		for (size_t k = i; k < end; k++) {
			if (in[k] == '\n')
				m->dr.bare_lf = 1;
			if (in[k] == '\r')
				m->dr.bare_cr = 1;
		}
		/* an unfinished line is judged on what it holds so far */
		if (max_line != 0 && (ended || len > 0) && len + 2 > max_line)
			m->dr.too_long_line = 1;
		if (in_header) {
			if (field_is(in + i, len, "received"))
				m->dr.hops++;
			if (field_is(in + i, len, "date"))
				m->dr.seen |= DATA_SEEN_DATE;
			if (field_is(in + i, len, "message-id"))
				m->dr.seen |= DATA_SEEN_MESSAGE_ID;
			if (ended && len == 0)
				in_header = 0;
		}
		if (!ended) {
			m->consumed = n;
			break;
		}
		buf_append(&m->out, "\r\n", 2);
		i = j + 2;
	}
	m->dr.size = m->out.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max_size = (size_t)data[0] * 3; /* 0: no limit */
	size_t max_line = data[1];             /* 0: no limit */
	const uint8_t *in = data + 2;
	size_t n = size - 2;
	struct result whole, bytes, chunks, stops, m;
	feed(in, n, max_size, max_line, 0, 0, &whole);
	feed(in, n, max_size, max_line, 1, 0, &bytes);
	feed(in, n, max_size, max_line, 7, 0, &chunks);
	feed(in, n, max_size, max_line, 3, 1, &stops);
	same(&whole, &bytes);
	same(&whole, &chunks);
	same(&whole, &stops);

	model(in, n, max_line, &m);
	if (m.done != whole.done || m.consumed != whole.consumed || m.dr.size != whole.dr.size)
		abort();
	if (m.dr.bare_cr != whole.dr.bare_cr || m.dr.bare_lf != whole.dr.bare_lf ||
	    m.dr.too_long_line != whole.dr.too_long_line || m.dr.hops != whole.dr.hops ||
	    m.dr.seen != whole.dr.seen)
		abort();
	/* The stop comes where the model says (the output is cut when too big). */
	if (stops.stopped != m.stopped ||
	    (m.stopped && !whole.dr.too_big && stops.stop_out != m.stop_out))
		abort();
	int big = max_size != 0 && m.out.len > max_size;
	size_t keep = big ? max_size : m.out.len;
	if (big != whole.dr.too_big || whole.out.len != keep ||
	    (keep && memcmp(whole.out.data, m.out.data, keep) != 0))
		abort();
	/* The end is never anything but CRLF "." CRLF (or "." CRLF first). */
	if (whole.done) {
		size_t c = whole.consumed;
		if (c < 3 || memcmp(in + c - 3, ".\r\n", 3) != 0 ||
		    (c != 3 && (c < 5 || in[c - 5] != '\r' || in[c - 4] != '\n')))
			abort();
		struct smtp_reply err;
		(void)data_reader_verdict(&whole.dr, data[0] & 7, &err);
	}
	buf_free(&whole.out);
	buf_free(&bytes.out);
	buf_free(&chunks.out);
	buf_free(&stops.out);
	buf_free(&m.out);
	return 0;
}
