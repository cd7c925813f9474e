/* http_req: a pure, resumable, bounded HTTP/1.x request-head parser (see http_req.h). */
#include "http_req.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define METHOD_MAX 32

void http_req_init(struct http_req *r)
{
	memset(r, 0, sizeof(*r));
}

static int tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum http_result fail(struct http_req *r, int status, const char *reason)
{
	r->result = HTTP_ERROR;
	r->status = status;
	r->reason = reason;
	return HTTP_ERROR;
}

/* origin-form "/...", absolute-form "http://...", or "*" (RFC 9112 §3.2). */
static int target_form_ok(const char *t)
{
	return t[0] == '/' || strcmp(t, "*") == 0 || strncasecmp(t, "http://", 7) == 0 ||
	       strncasecmp(t, "https://", 8) == 0;
}

static enum http_result request_line(struct http_req *r)
{
	const char *l = r->line;
	size_t n = r->line_len, i = 0;
	while (i < n && tchar((uint8_t)l[i]))
		i++;
	if (i == 0 || i > METHOD_MAX || i == n || l[i] != ' ')
		return fail(r, 400, "malformed request line");
	r->method = i == 3 && memcmp(l, "GET", 3) == 0    ? HTTP_GET
	            : i == 4 && memcmp(l, "HEAD", 4) == 0 ? HTTP_HEAD
	                                                  : HTTP_OTHER;
	size_t t = ++i;
	while (i < n && (uint8_t)l[i] > 0x20 && (uint8_t)l[i] < 0x7f)
		i++;
	if (i - t > HTTP_REQ_TARGET_MAX)
		return fail(r, 414, "request target too long");
	if (i == t || i == n || l[i] != ' ')
		return fail(r, 400, "malformed request line");
	memcpy(r->target, l + t, i - t);
	r->target[i - t] = '\0';
	if (!target_form_ok(r->target))
		return fail(r, 400, "malformed request target");
	const char *v = l + i + 1;
	size_t vn = n - i - 1;
	if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return fail(r, 400, "malformed HTTP version");
	if (v[5] != '1')
		return fail(r, 505, "HTTP version not supported");
	r->minor = v[7] - '0';
	r->have_line = 1;
	return HTTP_MORE;
}

static enum http_result field_line(struct http_req *r)
{
	const char *l = r->line;
	size_t n = r->line_len, i = 0;
	if (l[0] == ' ' || l[0] == '\t')
		return fail(r, 400, "obsolete line folding");
	if (++r->fields > HTTP_REQ_FIELDS_MAX)
		return fail(r, 431, "too many header fields");
	while (i < n && tchar((uint8_t)l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ':')
		return fail(r, 400, "malformed header field");
	if (i == 4 && strncasecmp(l, "host", 4) == 0)
		r->hosts++;
	return HTTP_MORE; /* the value's octets were checked as they came */
}

/* A whole line (without its end) is in r->line. */
static enum http_result line_done(struct http_req *r)
{
	enum http_result res = HTTP_MORE;
	if (!r->have_line) {
		if (r->line_len > 0) /* empty lines before the request line are skipped */
			res = request_line(r);
	} else if (r->line_len > 0) {
		res = field_line(r);
	} else if (r->minor >= 1 && r->hosts != 1) {
		res = fail(r, 400, r->hosts ? "more than one Host field" : "no Host field");
	} else {
		res = r->result = HTTP_DONE;
	}
	r->line_len = 0;
	return res;
}

enum http_result http_req_feed(struct http_req *r, const uint8_t *p, size_t n, size_t *used)
{
	*used = 0;
	if (r->result != HTTP_MORE)
		return r->result;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		*used = i + 1;
		if (++r->total > HTTP_REQ_MAX) {
			if (r->have_line)
				return fail(r, 431, "request head too large");
			return r->line_len ? fail(r, 414, "request line too long")
			                   : fail(r, 400, "empty lines and no request");
		}
		if (c == '\n') {
			r->cr = 0;
			if (line_done(r) != HTTP_MORE)
				return r->result;
			continue;
		}
		if (r->cr)
			return fail(r, 400, "bare CR");
		if (c == '\r') {
			r->cr = 1;
			continue;
		}
		/* Refused as it comes, not at the end of a line that may never come. */
		if (!r->have_line && (c < 0x20 || c >= 0x7f))
			return fail(r, 400, "invalid octet in the request line");
		if (r->have_line && ((c < 0x20 && c != '\t') || c == 0x7f))
			return fail(r, 400, "control character in a header field");
		if (r->line_len == HTTP_REQ_LINE_MAX)
			return fail(r, r->have_line ? 431 : 414,
			            r->have_line ? "header field too long"
			                         : "request line too long");
		r->line[r->line_len++] = (char)c;
	}
	return HTTP_MORE;
}

void http_req_path(const struct http_req *r, char *dst, size_t dstlen)
{
	const char *t = r->target, *path = t;
	if (t[0] != '/') {
		const char *s = strstr(t, "://");
		path = s ? s + 3 + strcspn(s + 3, "/?#") : t + strlen(t);
	}
	size_t len = strcspn(path, "?#");
	if (len == 0 || path[0] != '/')
		snprintf(dst, dstlen, "/");
	else
		snprintf(dst, dstlen, "%.*s", (int)len, path);
}

int http_req_route(const struct http_req *r, const char *path)
{
	char p[HTTP_REQ_TARGET_MAX + 1];
	http_req_path(r, p, sizeof(p));
	if (strcmp(p, path) != 0)
		return 404;
	return r->method == HTTP_GET ? 200 : 405;
}
