/*
 * control_req: reader and parser of control-socket requests, and the escapers
 * that make untrusted text safe for JSON and for a terminal (control_req.h).
 * Pure: no I/O, bounded by CONTROL_REQ_MAX and by the caller's buffers.
 */
#include "control_req.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

struct verb_row {
	const char *name;
	enum control_verb verb;
	enum { ID_NONE, ID_OPTIONAL, ID_REQUIRED } id;
};

static const struct verb_row verbs[] = {
    {"queue", CTL_QUEUE, ID_NONE},     {"show", CTL_SHOW, ID_REQUIRED},
    {"flush", CTL_FLUSH, ID_OPTIONAL}, {"remove", CTL_REMOVE, ID_REQUIRED},
    {"hold", CTL_HOLD, ID_REQUIRED},   {"release", CTL_RELEASE, ID_REQUIRED},
    {"stats", CTL_STATS, ID_NONE},     {"reload", CTL_RELOAD, ID_NONE},
    {"status", CTL_STATUS, ID_NONE},
};

#define N_VERBS    (sizeof(verbs) / sizeof(verbs[0]))
#define MAX_TOKENS 4 /* more than any valid request has: verb, id, an option */

void control_reader_init(struct control_reader *r)
{
	memset(r, 0, sizeof(*r));
}

enum control_read control_reader_feed(struct control_reader *r, const uint8_t *p, size_t n,
                                      size_t *used)
{
	*used = 0;
	if (r->overflow)
		return CONTROL_READ_TOO_LONG;
	if (r->done)
		return CONTROL_READ_LINE;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			*used = i + 1;
			r->line[r->len] = '\0';
			r->done = 1;
			return CONTROL_READ_LINE;
		}
		/* The LF must fit too: the content is at most CONTROL_REQ_MAX - 1. */
		if (r->len + 1 >= sizeof(r->line)) {
			*used = i + 1;
			r->overflow = 1;
			return CONTROL_READ_TOO_LONG;
		}
		r->line[r->len++] = (char)p[i];
	}
	*used = n;
	return CONTROL_READ_MORE;
}

const char *control_verb_name(enum control_verb v)
{
	for (size_t i = 0; i < N_VERBS; i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "?";
}

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

static int parse(const char *line, size_t len, struct control_req *req, char *err, size_t errlen)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return fail(err, errlen, "empty request");
	if (len >= CONTROL_REQ_MAX)
		return fail(err, errlen, "request too long");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c > 0x7e)
			return fail(err, errlen, "invalid character in request");
	}
	/* Split on single spaces: an empty token means a doubled, leading or
	 * trailing space, which no client of ours produces. */
	const char *tok[MAX_TOKENS];
	size_t toklen[MAX_TOKENS], ntok = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start)
			return fail(err, errlen, "malformed request: stray space");
		if (ntok == MAX_TOKENS)
			return fail(err, errlen, "too many arguments");
		tok[ntok] = line + start;
		toklen[ntok++] = i - start;
		start = i + 1;
	}
	const struct verb_row *row = NULL;
	for (size_t i = 0; i < N_VERBS; i++)
		if (strlen(verbs[i].name) == toklen[0] &&
		    memcmp(verbs[i].name, tok[0], toklen[0]) == 0)
			row = &verbs[i];
	if (row == NULL)
		return fail(err, errlen, "unknown command");
	req->verb = row->verb;
	int have_id = 0;
	for (size_t t = 1; t < ntok; t++) {
		if (toklen[t] == 6 && memcmp(tok[t], "--json", 6) == 0) {
			if (req->json)
				return fail(err, errlen, "--json given twice");
			req->json = 1;
			continue;
		}
		if (toklen[t] == 12 && memcmp(tok[t], "--prometheus", 12) == 0 &&
		    row->verb == CTL_STATS) {
			if (req->prometheus)
				return fail(err, errlen, "--prometheus given twice");
			req->prometheus = 1;
			continue;
		}
		if (row->id == ID_NONE)
			return fail(err, errlen, "this command takes no argument");
		if (have_id)
			return fail(err, errlen, "too many arguments");
		if (tok[t][0] == '-')
			return fail(err, errlen, "unknown option");
		if (toklen[t] > ENVELOPE_ID_MAX)
			return fail(err, errlen, "invalid queue id");
		memcpy(req->id, tok[t], toklen[t]);
		req->id[toklen[t]] = '\0';
		if (!envelope_id_valid(req->id))
			return fail(err, errlen, "invalid queue id");
		have_id = 1;
	}
	if (row->id == ID_REQUIRED && !have_id)
		return fail(err, errlen, "missing queue id");
	if (req->json && req->prometheus)
		return fail(err, errlen, "--json and --prometheus exclude each other");
	return 0;
}

int control_req_parse(const char *line, size_t len, struct control_req *req, char *err,
                      size_t errlen)
{
	struct control_req r = {0};
	if (parse(line, len, &r, err, errlen) == -1) {
		memset(req, 0, sizeof(*req));
		return -1;
	}
	*req = r;
	return 0;
}

int control_json_string(struct buf *out, const void *src, size_t n)
{
	const uint8_t *p = src;
	size_t start = out->len;
	int rc = buf_append_byte(out, '"');
	for (size_t i = 0; i < n && rc == 0;) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t l;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			rc = buf_append(out, esc, 2);
			i++;
		} else if (c == '\n') {
			rc = buf_append(out, "\\n", 2), i++;
		} else if (c == '\r') {
			rc = buf_append(out, "\\r", 2), i++;
		} else if (c == '\t') {
			rc = buf_append(out, "\\t", 2), i++;
		} else if (c < 0x20 || c == 0x7f) {
			rc = buf_printf(out, "\\u%04x", c), i++;
		} else if (c < 0x80) {
			rc = buf_append_byte(out, c), i++;
		} else if ((l = utf8_seq_len(p + i, n - i, &cp)) > 0) {
			rc = buf_append(out, p + i, l), i += l;
		} else {
			rc = buf_printf(out, "\\u%04x", c), i++;
		}
	}
	if (rc == 0)
		rc = buf_append_byte(out, '"');
	if (rc != 0)
		out->len = start;
	return rc;
}

int control_json_str(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_append_str(out, "null");
	return control_json_string(out, s, strlen(s));
}

/* Code points a terminal would act on: C1 controls and the bidi overrides
 * that reorder what an administrator sees. */
static int cp_unsafe(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

int control_text(struct buf *out, const void *src, size_t n, int keep_lf)
{
	const uint8_t *p = src;
	size_t start = out->len;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t l;
		if (keep_lf && c == '\n') {
			rc = buf_append_byte(out, c), i++;
		} else if (keep_lf && c == '\r' && i + 1 < n && p[i + 1] == '\n') {
			i++;
		} else if (keep_lf && c == '\t') {
			rc = buf_append_byte(out, c), i++;
		} else if (c == '\\') {
			rc = buf_append(out, "\\\\", 2), i++;
		} else if (c >= 0x20 && c < 0x7f) {
			rc = buf_append_byte(out, c), i++;
		} else if (c >= 0x80 && (l = utf8_seq_len(p + i, n - i, &cp)) > 0 &&
		           !cp_unsafe(cp)) {
			rc = buf_append(out, p + i, l), i += l;
		} else {
			rc = buf_printf(out, "\\x%02X", c), i++;
		}
	}
	if (rc != 0)
		out->len = start;
	return rc;
}

void control_duration(char *dst, size_t dstlen, int64_t secs)
{
	const char *sign = "";
	uint64_t s = (uint64_t)secs;
	if (secs < 0) {
		sign = "-";
		s = (uint64_t)0 - (uint64_t)secs;
	}
	if (s < 60)
		snprintf(dst, dstlen, "%s%" PRIu64 "s", sign, s);
	else if (s < 3600)
		snprintf(dst, dstlen, "%s%" PRIu64 "m", sign, s / 60);
	else if (s < 86400)
		snprintf(dst, dstlen, "%s%" PRIu64 "h", sign, s / 3600);
	else
		snprintf(dst, dstlen, "%s%" PRIu64 "d", sign, s / 86400);
}
