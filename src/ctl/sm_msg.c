/* sm_msg: raven-sendmail's message preparation (see sm_msg.h). */
#include "sm_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addrlist.h"
#include "util.h"
#include "xmalloc.h"

enum { ST_HEADER, ST_BODY, ST_DONE };

/* A body line longer than this is passed on in pieces (it cannot be the
 * lone dot any more). */
#define LINE_FLUSH (64 * 1024)

void sm_msg_init(struct sm_msg *m, const struct sm_opts *o)
{
	memset(m, 0, sizeof(*m));
	m->o = *o;
	m->state = ST_HEADER;
	m->first_line = 1;
	buf_init(&m->line, 0);
	buf_init(&m->hdr, SM_HEADER_MAX);
}

void sm_msg_free(struct sm_msg *m)
{
	buf_free(&m->line);
	buf_free(&m->hdr);
	free(m->fields);
	for (size_t i = 0; i < m->n_rcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	memset(m, 0, sizeof(*m));
}

/* field-name = 1*ftext (33..126 but ':'), then ':' (obsolete WSP before it
 * allowed); the length of the name, 0 if the line is no field. */
static size_t field_name(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] >= 33 && s[i] <= 126 && s[i] != ':')
		i++;
	size_t name = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return name > 0 && i < n && s[i] == ':' ? name : 0;
}

static int is_name(const struct sm_msg *m, const struct sm_field *f, const char *name)
{
	return f->name_len == strlen(name) &&
	       strncasecmp((const char *)m->hdr.data + f->off, name, f->name_len) == 0;
}

static int add_rcpt(const struct addrlist_spec *a, void *arg, char *err, size_t errlen)
{
	struct sm_msg *m = arg;
	if (m->n_rcpts == SM_RCPTS_MAX) {
		err_set(err, errlen, "more than %d recipients", SM_RCPTS_MAX);
		return -1;
	}
	m->rcpts = xreallocarray(m->rcpts, m->n_rcpts + 1, sizeof(*m->rcpts));
	m->rcpts[m->n_rcpts++] = xstrdup(a->text);
	return 0;
}

static int fail(struct sm_msg *m, const char *why)
{
	snprintf(m->why, sizeof(m->why), "%s", why);
	return -1;
}

/* The header section is whole: recipients, Bcc gone, fields added. */
static int finish_header(struct sm_msg *m, struct buf *out)
{
	int have_date = 0, have_id = 0, have_from = 0;
	for (size_t i = 0; i < m->n_fields; i++) {
		const struct sm_field *f = &m->fields[i];
		const char *s = (const char *)m->hdr.data + f->off;
		int bcc = is_name(m, f, "Bcc");
		if (m->o.header_rcpts && (bcc || is_name(m, f, "To") || is_name(m, f, "Cc"))) {
			const char *colon = memchr(s, ':', f->len);
			size_t vlen = f->len - (size_t)(colon + 1 - s) - 2; /* less its CRLF */
			char why[200];
			if (addrlist_parse(colon + 1, vlen, ADDRLIST_BARE, add_rcpt, m, why,
			                   sizeof(why)) == -1) {
				snprintf(m->why, sizeof(m->why), "%.*s: %s", (int)f->name_len, s,
				         why);
				return -1;
			}
		}
		have_date |= is_name(m, f, "Date");
		have_id |= is_name(m, f, "Message-ID");
		have_from |= is_name(m, f, "From");
		if (!bcc)
			buf_append(out, s, f->len);
	}
	if (!have_date && m->o.date)
		buf_printf(out, "Date: %s\r\n", m->o.date);
	if (!have_id && m->o.message_id)
		buf_printf(out, "Message-ID: %s\r\n", m->o.message_id);
	if (!have_from && m->o.from)
		buf_printf(out, "From: %s\r\n", m->o.from);
	buf_append(out, "\r\n", 2);
	m->header_done = 1;
	m->state = ST_BODY;
	return 0;
}

static int body_line(struct sm_msg *m, const uint8_t *s, size_t n, struct buf *out)
{
	if (!m->mid_line && m->o.dot_ends && n == 1 && s[0] == '.') {
		m->state = ST_DONE;
		return 0;
	}
	buf_append(out, s, n);
	buf_append(out, "\r\n", 2);
	m->mid_line = 0;
	return 0;
}

static int header_line(struct sm_msg *m, const uint8_t *s, size_t n, struct buf *out)
{
	int first = m->first_line;
	m->first_line = 0;
	if (first && n >= 5 && memcmp(s, "From ", 5) == 0)
		return 0; /* an mbox separator, not a field */
	if (m->o.dot_ends && n == 1 && s[0] == '.') {
		if (finish_header(m, out) == -1)
			return -1;
		m->state = ST_DONE;
		return 0;
	}
	if (n == 0)
		return finish_header(m, out);
	int cont = (s[0] == ' ' || s[0] == '\t') && m->n_fields > 0;
	size_t name = cont ? 0 : field_name(s, n);
	if (!cont && name == 0) {
		/* Not a header field: the body starts here, after a blank line. */
		if (finish_header(m, out) == -1)
			return -1;
		return body_line(m, s, n, out);
	}
	if (buf_append(&m->hdr, s, n) == -1 || buf_append(&m->hdr, "\r\n", 2) == -1)
		return fail(m, "header section too large");
	if (cont) {
		m->fields[m->n_fields - 1].len += n + 2;
		return 0;
	}
	if (m->n_fields == m->cap_fields) {
		m->cap_fields = m->cap_fields ? m->cap_fields * 2 : 16;
		m->fields = xreallocarray(m->fields, m->cap_fields, sizeof(*m->fields));
	}
	m->fields[m->n_fields++] = (struct sm_field){m->hdr.len - n - 2, n + 2, name};
	return 0;
}

/* One whole line without its LF (a CR before the LF is dropped too). */
static int line(struct sm_msg *m, const uint8_t *s, size_t n, struct buf *out)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	return m->state == ST_HEADER ? header_line(m, s, n, out) : body_line(m, s, n, out);
}

int sm_msg_feed(struct sm_msg *m, const uint8_t *p, size_t n, struct buf *out)
{
	while (n > 0 && m->state != ST_DONE) {
		const uint8_t *lf = memchr(p, '\n', n);
		size_t k = lf ? (size_t)(lf - p) : n;
		if (buf_append(&m->line, p, k) == -1)
			return fail(m, "out of memory");
		p += k + (lf != NULL);
		n -= k + (lf != NULL);
		if (lf) {
			int rc = line(m, m->line.data, m->line.len, out);
			buf_reset(&m->line);
			if (rc == -1)
				return -1;
		} else if (m->state == ST_HEADER && m->line.len > SM_HEADER_MAX) {
			return fail(m, "header section too large");
		} else if (m->state == ST_BODY && m->line.len > LINE_FLUSH) {
			/* keep a trailing CR: it may be half of the CRLF to come */
			size_t keep = m->line.data[m->line.len - 1] == '\r';
			buf_append(out, m->line.data, m->line.len - keep);
			buf_consume(&m->line, m->line.len - keep);
			m->mid_line = 1;
		}
	}
	return 0;
}

int sm_msg_end(struct sm_msg *m, struct buf *out)
{
	if (m->state == ST_DONE)
		return 0;
	if (m->line.len > 0 || m->mid_line) {
		int rc = line(m, m->line.data, m->line.len, out);
		buf_reset(&m->line);
		if (rc == -1)
			return -1;
	}
	if (m->state == ST_HEADER)
		return finish_header(m, out);
	return 0;
}
