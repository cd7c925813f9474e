/*
 * dotstuff: DATA encoder (see dotstuff.h). Runs of ordinary octets are
 * copied with one append; only line ends and line-leading dots cost more.
 */
#include "dotstuff.h"

#include <string.h>

void dotstuff_init(struct dotstuff *ds)
{
	memset(ds, 0, sizeof(*ds));
	ds->line_start = 1;
}

static int ds_emit(struct dotstuff *ds, struct buf *out, const void *p, size_t n)
{
	if (buf_append(out, p, n) == -1)
		return -1;
	ds->out += n;
	return 0;
}

int dotstuff_feed(struct dotstuff *ds, const uint8_t *in, size_t n, struct buf *out)
{
	size_t i = 0;
	ds->in += n;
	while (i < n) {
		if (ds->after_cr) {
			ds->after_cr = 0;
			if (in[i] == '\n') { /* the LF of a CRLF: sent with the CR */
				i++;
				continue;
			}
		}
		if (ds->line_start && in[i] == '.' && ds_emit(ds, out, ".", 1) == -1)
			return -1;
		size_t j = i;
		while (j < n && in[j] != '\r' && in[j] != '\n')
			j++;
		if (j > i) {
			if (ds_emit(ds, out, in + i, j - i) == -1)
				return -1;
			ds->line_start = 0;
		}
		if (j == n)
			break;
		/* CRLF, a bare CR or a bare LF: each is one line end, sent as CRLF. */
		if (ds_emit(ds, out, "\r\n", 2) == -1)
			return -1;
		ds->line_start = 1;
		ds->after_cr = in[j] == '\r';
		i = j + 1;
	}
	return 0;
}

int dotstuff_finish(struct dotstuff *ds, struct buf *out)
{
	if (!ds->line_start && ds_emit(ds, out, "\r\n", 2) == -1)
		return -1;
	if (ds_emit(ds, out, ".\r\n", 3) == -1)
		return -1;
	ds->line_start = 1;
	ds->after_cr = 0;
	return 0;
}
