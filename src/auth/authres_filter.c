/*
 * authres_filter: the streaming remover of our own Authentication-Results
 * fields (see authres_filter.h). A state machine over the header section,
 * one octet at a time where a field name is being matched or a field held,
 * whole runs to the next line end where a field just passes, and
 * everything at once after the header section.
 */
#include "authres_filter.h"

#include <stdio.h>
#include <string.h>

#include "authres.h"

static const char ar_name[] = "authentication-results";
#define AR_NAME_LEN (sizeof(ar_name) - 1)

enum {
	AF_LINE_START, /* at the start of a header line */
	AF_NAME,       /* reading a field name that may be ours to look at */
	AF_NAME_WSP,   /* after the whole name, white space before ':' */
	AF_LINE,       /* inside a line: the field's fate applies */
	AF_BODY,       /* after the header section */
};

enum { F_NONE, F_PASS, F_HOLD, F_DROP };

void authres_filter_init(struct authres_filter *f, const char *authserv_id)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "%s", authserv_id);
	f->state = AF_LINE_START;
	f->field = F_NONE;
	buf_init(&f->held, 0);
}

void authres_filter_free(struct authres_filter *f)
{
	buf_free(&f->held);
}

int authres_filter_passing(const struct authres_filter *f)
{
	return f->state == AF_BODY;
}

static void flush_held(struct authres_filter *f, struct buf *out)
{
	buf_append(out, f->held.data, f->held.len);
	buf_reset(&f->held);
}

/* An Authentication-Results field held whole (or up to the cap). */
static void judge(struct authres_filter *f, struct buf *out)
{
	if (authres_is_ours((const char *)f->held.data, f->held.len, f->id)) {
		f->removed++;
		buf_reset(&f->held);
		f->field = F_DROP;
	} else {
		flush_held(f, out);
		f->field = F_PASS;
	}
}

/* The current field is over (a new one starts, or the header ends). */
static void field_end(struct authres_filter *f, struct buf *out)
{
	if (f->field == F_HOLD)
		judge(f, out);
	else if (f->held.len > 0)
		flush_held(f, out);
	f->field = F_NONE;
}

/* The name turned out not to be ours to look at: what was held passes. */
static void not_ours(struct authres_filter *f, struct buf *out)
{
	flush_held(f, out);
	f->field = F_PASS;
	f->state = AF_LINE;
}

static void line_octet(struct authres_filter *f, uint8_t c, struct buf *out)
{
	if (f->field == F_HOLD) {
		buf_append_byte(&f->held, c);
		if (f->held.len >= AUTHRES_FILTER_HOLD_MAX)
			judge(f, out); /* the authserv-id comes first: enough to tell */
	} else if (f->field != F_DROP) {
		buf_append_byte(out, c);
	}
	if (c == '\n')
		f->state = AF_LINE_START;
}

static void name_octet(struct authres_filter *f, uint8_t c, struct buf *out)
{
	buf_append_byte(&f->held, c);
	uint8_t lc = c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
	if (f->state == AF_NAME && f->name_pos < AR_NAME_LEN &&
	    lc == (uint8_t)ar_name[f->name_pos]) {
		f->name_pos++;
		return;
	}
	int whole = f->name_pos == AR_NAME_LEN;
	if (whole && (c == ' ' || c == '\t')) {
		f->state = AF_NAME_WSP;
		return;
	}
	if (whole && c == ':') {
		f->field = F_HOLD;
		f->state = AF_LINE;
		return;
	}
	not_ours(f, out);
	if (c == '\n')
		f->state = AF_LINE_START;
}

void authres_filter_feed(struct authres_filter *f, const uint8_t *in, size_t n, struct buf *out)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = in[i];
		switch (f->state) {
		case AF_BODY:
			buf_append(out, in + i, n - i);
			return;
		case AF_LINE_START:
			if (c == '\r' || c == '\n') {
				/* the empty line: the header section is over */
				field_end(f, out);
				f->state = AF_BODY;
				continue;
			}
			if (c == ' ' || c == '\t') {
				f->state = AF_LINE; /* a folded line of the same field */
				continue;
			}
			field_end(f, out);
			f->name_pos = 0;
			f->state = AF_NAME;
			continue;
		case AF_NAME:
		case AF_NAME_WSP:
			name_octet(f, c, out);
			i++;
			break;
		case AF_LINE:
			if (f->field == F_PASS || f->field == F_NONE) {
				/* a whole run to the line end */
				const uint8_t *lf = memchr(in + i, '\n', n - i);
				size_t k = lf ? (size_t)(lf - (in + i)) + 1 : n - i;
				buf_append(out, in + i, k);
				i += k;
				if (lf)
					f->state = AF_LINE_START;
				break;
			}
			line_octet(f, c, out);
			i++;
			break;
		}
	}
}

void authres_filter_end(struct authres_filter *f, struct buf *out)
{
	if (f->state != AF_BODY)
		field_end(f, out);
	f->state = AF_BODY;
}
