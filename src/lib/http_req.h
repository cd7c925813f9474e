/*
 * http_req: the head of an HTTP/1.x request (RFC 9112) — the request line
 * and the header fields up to the empty line — read by a pure, resumable,
 * bounded parser, for the metrics endpoint. Bytes are fed in pieces of any
 * size; the result is the same however the input is split.
 *
 * Strict where a scraper has no reason to be creative: one SP between the
 * request line's three parts, an origin-form or absolute-form target of
 * visible ASCII, HTTP/1.0 or HTTP/1.1 (HTTP/1.1 with exactly one Host),
 * header names of token characters right before their ':', no line folding,
 * no control characters (refused as soon as they arrive). CRLF ends a line; a bare LF is accepted
 * too (RFC 9112 §2.2), a bare CR is not. Empty lines before the request line are skipped (§2.2).
 * The head is at most HTTP_REQ_MAX octets in HTTP_REQ_FIELDS_MAX fields. A body is never read: the
 * server answers and closes.
 */
#ifndef RAVEN_HTTP_REQ_H
#define RAVEN_HTTP_REQ_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_REQ_MAX        8192 /* octets of the whole head */
#define HTTP_REQ_LINE_MAX   2048 /* octets of one line, without its end */
#define HTTP_REQ_TARGET_MAX 1024 /* octets of the request target */
#define HTTP_REQ_FIELDS_MAX 64   /* header fields */

enum http_method { HTTP_GET = 1, HTTP_HEAD, HTTP_OTHER };

enum http_result { HTTP_MORE = 0, HTTP_DONE, HTTP_ERROR };

struct http_req {
	/* the parser's state */
	char line[HTTP_REQ_LINE_MAX + 1];
	size_t line_len;
	int cr;        /* the previous octet was a CR */
	size_t total;  /* octets of the head so far */
	size_t fields; /* header fields so far */
	int have_line; /* the request line is in */
	int hosts;     /* Host fields seen */
	int result;    /* sticky once HTTP_DONE or HTTP_ERROR */
	/* the request, once HTTP_DONE */
	enum http_method method;
	char target[HTTP_REQ_TARGET_MAX + 1];
	int minor; /* HTTP/1.minor */
	/* HTTP_ERROR: the status to answer (400, 414, 431, 505) and why */
	int status;
	const char *reason;
};

void http_req_init(struct http_req *r);
/*
 * Feed n octets. *used gets how many were consumed: all of them while
 * HTTP_MORE; up to the end of the head for HTTP_DONE; up to the offending
 * octet for HTTP_ERROR. Once HTTP_DONE or HTTP_ERROR, feeding again returns
 * the same result and consumes nothing.
 */
enum http_result http_req_feed(struct http_req *r, const uint8_t *p, size_t n, size_t *used);

/* The path of the target without its query ("/metrics" for
 * "/metrics?x=1" and "http://host:9465/metrics"): into dst, NUL-ended.
 * An empty path is "/". */
void http_req_path(const struct http_req *r, char *dst, size_t dstlen);

/*
 * What the metrics endpoint answers a complete request: 200 for GET of
 * path, 405 for another method on path, 404 for any other path.
 */
int http_req_route(const struct http_req *r, const char *path);

#endif
