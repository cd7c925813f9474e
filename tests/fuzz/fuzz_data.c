/*
 * libFuzzer target for data_reader. Input: two octets choosing the size
 * and line limits, then the DATA stream. It is fed whole, one byte at a
 * time and in uneven chunks: results must be identical, and must match a
 * simple independent model of RFC 5321 DATA (ends only at a line "." after
 * a real CRLF, unstuffing, bare CR/LF, line lengths, Received: count).
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
};

/* step 0: everything at once; otherwise chunk sizes cycle 1..step. */
static void feed(const uint8_t *in, size_t n, size_t max_size, size_t max_line, size_t step,
                 struct result *r)
{
	size_t off = 0, k = 0;
	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	data_reader_init(&r->dr, max_size, max_line);
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
	if (a->dr.size != b->dr.size || a->dr.hops != b->dr.hops ||
	    a->dr.too_big != b->dr.too_big || a->dr.too_long_line != b->dr.too_long_line ||
	    a->dr.bare_cr != b->dr.bare_cr || a->dr.bare_lf != b->dr.bare_lf)
		abort();
}

static int is_crlf(const uint8_t *in, size_t n, size_t i)
{
	return i + 1 < n && in[i] == '\r' && in[i + 1] == '\n';
}

/* The model, written line by line rather than as a state machine. */
static void model(const uint8_t *in, size_t n, size_t max_line, struct result *m)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->out, 0);
	size_t i = 0;
	int in_header = 1;
	for (;;) {
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
			size_t k = i;
			if (len >= 8 && strncasecmp((const char *)in + i, "received", 8) == 0) {
				k += 8;
				while (k < end && (in[k] == ' ' || in[k] == '\t'))
					k++;
				if (k < end && in[k] == ':')
					m->dr.hops++;
			}
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
	struct result whole, bytes, chunks, m;
	feed(in, n, max_size, max_line, 0, &whole);
	feed(in, n, max_size, max_line, 1, &bytes);
	feed(in, n, max_size, max_line, 7, &chunks);
	same(&whole, &bytes);
	same(&whole, &chunks);

	model(in, n, max_line, &m);
	if (m.done != whole.done || m.consumed != whole.consumed || m.dr.size != whole.dr.size)
		abort();
	if (m.dr.bare_cr != whole.dr.bare_cr || m.dr.bare_lf != whole.dr.bare_lf ||
	    m.dr.too_long_line != whole.dr.too_long_line || m.dr.hops != whole.dr.hops)
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
	buf_free(&m.out);
	return 0;
}
