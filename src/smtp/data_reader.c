/*
 * data_reader: the DATA section state machine (RFC 5321 §4.1.1.4,
 * §4.5.2). It ends only at CRLF "." CRLF, where a CRLF must be a real CR
 * followed by a real LF: a bare CR or LF is recorded and moves the reader
 * out of "line start", so no mix of bare line ends can form an end marker
 * that another MTA would read differently (SMTP smuggling).
 *
 * Output is produced in runs: everything between two removed octets (a
 * stuffing dot, the end marker, a CR whose meaning is not known yet at the
 * end of a feed) is appended with one call, so a large message costs a few
 * memchr() scans and memcpy()s per line, not work per octet.
 */
#include "data_reader.h"

#include <string.h>

enum {
	DR_START = 0, /* at the start of a line */
	DR_DOT,       /* line started with '.', which has been dropped */
	DR_DOT_CR,    /* ".\r" at line start: the end unless a non-LF follows */
	DR_TEXT,      /* inside a line */
	DR_CR,        /* inside a line, after a CR */
	DR_DONE,
};

/* The header fields looked for, lowercase; Received: counts hops. */
static const struct {
	const char *name;
	unsigned seen; /* 0: Received */
} dr_fields[] = {{"received", 0}, {"date", DATA_SEEN_DATE}, {"message-id", DATA_SEEN_MESSAGE_ID}};
#define DR_ALL_FIELDS ((1u << (sizeof(dr_fields) / sizeof(dr_fields[0]))) - 1)

static void dr_header_line_start(struct data_reader *dr)
{
	dr->hdr_cand = DR_ALL_FIELDS;
	dr->hdr_pos = 0;
	dr->hdr_after = 0;
	dr->hdr_off = 0;
}

void data_reader_init(struct data_reader *dr, size_t max_size, size_t max_line)
{
	memset(dr, 0, sizeof(*dr));
	dr->max_size = max_size;
	dr->max_line = max_line;
	dr->state = DR_START;
	dr->in_header = 1;
	dr_header_line_start(dr);
}

static void dr_emit(struct data_reader *dr, struct buf *out, const uint8_t *p, size_t k)
{
	if (k == 0)
		return;
	uint64_t before = dr->size;
	dr->size += k;
	if (dr->too_big)
		return;
	size_t take = k;
	if (dr->max_size != 0 && dr->size > dr->max_size) {
		/* !too_big so far means before <= max_size */
		take = (size_t)(dr->max_size - before);
		dr->too_big = 1;
	}
	if (out != NULL && take > 0 && buf_append(out, p, take) == -1)
		dr->too_big = 1;
}

static void dr_line_grow(struct data_reader *dr, size_t k)
{
	if (k == 0)
		return; /* the same verdict however the input was split */
	dr->line_len = k > SIZE_MAX - dr->line_len ? SIZE_MAX : dr->line_len + k;
	/* Lines only grow until their CRLF, so the flag can be set early. */
	if (dr->max_line != 0 && (dr->line_len > SIZE_MAX - 2 || dr->line_len + 2 > dr->max_line))
		dr->too_long_line = 1;
}

/* A field name (the candidates in bits) ended with ':'. */
static void dr_field_seen(struct data_reader *dr, unsigned bits)
{
	for (size_t j = 0; j < sizeof(dr_fields) / sizeof(dr_fields[0]); j++)
		if (bits & (1u << j)) {
			dr->seen |= dr_fields[j].seen;
			if (dr_fields[j].seen == 0)
				dr->hops++;
		}
	dr->hdr_off = 1;
}

/* Match the start of a header line against each name *WSP ":". */
static void dr_header_bytes(struct data_reader *dr, const uint8_t *p, size_t k)
{
	for (size_t i = 0; i < k && !dr->hdr_off; i++) {
		uint8_t c = p[i];
		if (dr->hdr_after) {
			if (c == ':')
				dr_field_seen(dr, dr->hdr_cand);
			else if (c != ' ' && c != '\t')
				dr->hdr_off = 1;
			continue;
		}
		if (c == ':' || c == ' ' || c == '\t') {
			unsigned ended = 0;
			for (size_t j = 0; j < sizeof(dr_fields) / sizeof(dr_fields[0]); j++)
				if ((dr->hdr_cand & (1u << j)) &&
				    dr_fields[j].name[dr->hdr_pos] == '\0')
					ended |= 1u << j;
			dr->hdr_cand = ended;
			if (ended == 0)
				dr->hdr_off = 1;
			else if (c == ':')
				dr_field_seen(dr, ended);
			else
				dr->hdr_after = 1;
			continue;
		}
		uint8_t lc = c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
		for (size_t j = 0; j < sizeof(dr_fields) / sizeof(dr_fields[0]); j++)
			if ((dr->hdr_cand & (1u << j)) &&
			    (dr_fields[j].name[dr->hdr_pos] == '\0' ||
			     (uint8_t)dr_fields[j].name[dr->hdr_pos] != lc))
				dr->hdr_cand &= ~(1u << j);
		dr->hdr_pos++;
		if (dr->hdr_cand == 0)
			dr->hdr_off = 1;
	}
}

static void dr_header(struct data_reader *dr, const uint8_t *p, size_t k)
{
	if (dr->in_header && !dr->hdr_off)
		dr_header_bytes(dr, p, k);
}

/* A CR that turned out not to start a CRLF. */
static void dr_bare_cr(struct data_reader *dr, struct buf *out, int emit)
{
	static const uint8_t cr = '\r';
	dr->bare_cr = 1;
	if (emit)
		dr_emit(dr, out, &cr, 1);
	dr_line_grow(dr, 1);
	dr_header(dr, &cr, 1);
}

static void dr_line_end(struct data_reader *dr)
{
	if (dr->max_line != 0 && (dr->line_len > SIZE_MAX - 2 || dr->line_len + 2 > dr->max_line))
		dr->too_long_line = 1;
	if (dr->in_header && dr->line_len == 0)
		dr->in_header = 0; /* the empty line ends the header section */
	dr->line_len = 0;
	dr_header_line_start(dr);
	dr->state = DR_START;
}

enum data_result data_reader_feed(struct data_reader *dr, const uint8_t *in, size_t n,
                                  size_t *consumed, struct buf *out)
{
	static const uint8_t cr = '\r';
	const uint8_t *p = in, *end = in + n;
	const uint8_t *run = in;  /* start of octets copied verbatim, not yet emitted */
	const uint8_t *lf = NULL; /* next LF at or after p, or NULL: none before end */
	int lf_known = 0;
	if (dr->state == DR_DONE) {
		*consumed = 0;
		return DATA_DONE;
	}
	while (p < end) {
		switch (dr->state) {
		case DR_START:
			if (dr->stop_at_body && !dr->stopped && dr->in_header &&
			    (*p == '\r' || *p == '\n')) {
				/* The line that ends the header section: the caller
				 * adds its fields before it. */
				dr_emit(dr, out, run, (size_t)(p - run));
				dr->stopped = 1;
				*consumed = (size_t)(p - in);
				return DATA_HEADER_END;
			}
			if (*p == '.') {
				dr_emit(dr, out, run, (size_t)(p - run));
				run = ++p;
				dr->state = DR_DOT;
			} else {
				dr->state = DR_TEXT;
			}
			break;
		case DR_DOT:
			if (*p == '\r') {
				/* Held back: part of the end marker if LF follows. */
				run = ++p;
				dr->state = DR_DOT_CR;
			} else {
				dr->state = DR_TEXT; /* the dot was stuffing */
			}
			break;
		case DR_DOT_CR:
			if (*p == '\n') {
				dr_emit(dr, out, run, (size_t)(p - run));
				dr->state = DR_DONE;
				*consumed = (size_t)(p + 1 - in);
				return DATA_DONE;
			}
			dr_bare_cr(dr, out, 1);
			dr->state = DR_TEXT;
			break;
		case DR_TEXT: {
			if (!lf_known || (lf != NULL && lf < p)) {
				lf = memchr(p, '\n', (size_t)(end - p));
				lf_known = 1;
			}
			const uint8_t *lim = lf != NULL ? lf : end;
			const uint8_t *q = memchr(p, '\r', (size_t)(lim - p));
			if (q == NULL)
				q = lim;
			dr_line_grow(dr, (size_t)(q - p));
			dr_header(dr, p, (size_t)(q - p));
			p = q;
			if (p == end)
				break;
			if (*p == '\r') {
				dr->state = DR_CR;
			} else {
				dr->bare_lf = 1;
				dr_line_grow(dr, 1);
				dr_header(dr, p, 1);
			}
			p++;
			break;
		}
		case DR_CR:
			/* run == p: the CR ended the previous feed and was held back. */
			if (run == p)
				dr_emit(dr, out, &cr, 1);
			if (*p == '\n') {
				p++;
				dr_line_end(dr);
			} else {
				dr_bare_cr(dr, out, 0);
				dr->state = DR_TEXT;
			}
			break;
		}
	}
	/*
	 * A trailing CR is held back: whether it is half of a CRLF is only
	 * known with the next octet (it is re-emitted then, above).
	 */
	if (dr->state == DR_CR && end > run)
		dr_emit(dr, out, run, (size_t)(end - 1 - run));
	else
		dr_emit(dr, out, run, (size_t)(end - run));
	*consumed = n;
	return DATA_MORE;
}

int data_reader_verdict(const struct data_reader *dr, size_t max_hops, struct smtp_reply *err)
{
	if (dr->bare_cr || dr->bare_lf) {
		smtp_reply_set(err, 550, "5.6.0",
		               "Message contains bare CR or LF; lines must end with CRLF");
		return -1;
	}
	if (dr->too_big) {
		smtp_reply_set(err, 552, "5.3.4", "Message size exceeds fixed limit");
		return -1;
	}
	if (dr->too_long_line) {
		char text[sizeof(err->text)];
		snprintf(text, sizeof(text), "Message contains a line longer than %zu octets",
		         dr->max_line);
		smtp_reply_set(err, 550, "5.6.0", text);
		return -1;
	}
	if (max_hops != 0 && dr->hops > max_hops) {
		smtp_reply_set(err, 554, "5.4.6", "Too many Received: headers (mail loop)");
		return -1;
	}
	return 0;
}
