/*
 * bounce: the DSN builder (RFC 3464 delivery-status inside an RFC 6522
 * multipart/report, RFC 3461 rules for what is returned, RFC 3834
 * Auto-Submitted, RFC 6533 for SMTPUTF8 mail). See bounce.h for the
 * contract.
 *
 * Much of what ends up in a DSN was chosen by strangers: remote servers
 * write the diagnostics, clients write the addresses, ORCPT, ENVID and the
 * original message. A DSN is itself mail that other software parses, so
 * nothing may break out of its field or part: every string is cleaned of
 * control characters (CR and LF above all), fields are folded, lines never
 * exceed 998 octets, and the MIME boundary is proven absent from every part
 * before it is used.
 */
#include "bounce.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"
#include "util.h"
#include "xmalloc.h"
#include "xtext.h"

#define LINE_MAX_OCTETS 998u /* RFC 5322 §2.1.1, without CRLF */
#define FOLD_AT         78u  /* where we prefer to fold */
#define ADDR_MAX        1000u
#define HUMAN_ADDR_MAX  900u /* "<addr>: " must leave room on its line */
#define QID_MAX         40u  /* keeps the first boundary candidate within 70 */
#define HOST_MAX        253u
#define BOUNDARY_TRIES  64u

/* A sticky-failure writer: one check at the end instead of one per append. */
struct out {
	struct buf *b;
	int fail;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (!o->fail && buf_append(o->b, p, n) == -1)
		o->fail = 1;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Only for short, trusted pieces: a longer result is a bug, not a cut. */
static void put_fmt(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		o->fail = 1;
		return;
	}
	put(o, tmp, (size_t)n);
}

int bounce_is_8bit(const void *p, size_t n)
{
	const uint8_t *s = p;
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 1;
	return 0;
}

static int str_is_8bit(const char *s)
{
	return s != NULL && bounce_is_8bit(s, strlen(s));
}

/*
 * A fresh single-line copy of untrusted text: every control character
 * (CR, LF, TAB, NUL...) becomes a space, runs of spaces collapse, ends are
 * trimmed; non-ASCII is kept only as well-formed UTF-8 and only if
 * allow_utf8, else '?'. At most max octets, then "...".
 */
static char *clean_text(const char *s, size_t max, int allow_utf8)
{
	const uint8_t *p = (const uint8_t *)(s ? s : "");
	size_t n = strlen((const char *)p);
	char *r = xmalloc(max + 4);
	size_t len = 0;
	int space = 0;
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		if (c <= 0x20 || c == 0x7f) {
			space = len > 0;
			i++;
			continue;
		}
		size_t k = 1;
		const uint8_t *src = &p[i];
		if (c >= 0x80) {
			k = allow_utf8 ? utf8_seq_len(&p[i], n - i, NULL) : 0;
			if (k == 0) {
				src = (const uint8_t *)"?";
				k = 1;
				i++;
			} else
				i += k;
		} else
			i++;
		if (len + space + k > max) {
			memcpy(r + len, "...", 3);
			len += 3;
			space = 0;
			break;
		}
		if (space)
			r[len++] = ' ';
		space = 0;
		memcpy(r + len, src, k);
		len += k;
	}
	r[len] = '\0';
	return r;
}

/* Well-formed UTF-8 (ASCII included) without a control character. */
static int showable(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = (uint8_t)s[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
		size_t k = c < 0x80 ? 1 : utf8_seq_len((const uint8_t *)s + i, n - i, NULL);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/*
 * An ORCPT as the client gave it, "addr-type;value" (RFC 3461 §4.2), ->
 * the type and the address the DSN shows. RFC 3464 §2.3.1 wants the
 * address as the sender wrote it, so the value is decoded (xtext for
 * rfc822, RFC 6533 for utf-8) when that gives UTF-8 without control
 * characters. Anything else — a NUL, CR, LF, DEL, an octet that is not
 * UTF-8 ("rfc822;x+7Fy@b", "+FF") — is shown as given, still encoded:
 * the sender keeps his clue, and no octet he chose can leave its field
 * or make the report invalid. A value no decoder takes (spooled by an
 * older version) is shown as given too; clean_text does the rest.
 */
static void orcpt_render(const char *orcpt, char **type, char **addr)
{
	const char *semi = strchr(orcpt, ';');
	if (semi == NULL || semi == orcpt) {
		*type = xstrdup("rfc822");
		*addr = xstrdup(orcpt);
		return;
	}
	size_t tlen = (size_t)(semi - orcpt);
	int utf8 = tlen == 5 && strncasecmp(orcpt, "utf-8", 5) == 0;
	if (utf8)
		*type = xstrdup("utf-8");
	else if (tlen == 6 && strncasecmp(orcpt, "rfc822", 6) == 0)
		*type = xstrdup("rfc822");
	else
		*type = xstrndup(orcpt, tlen);
	const char *v = semi + 1;
	size_t n = strlen(v), len;
	/* decoding never makes a value longer */
	char *d = xmalloc(n + 1);
	int rc =
	    utf8 ? xtext_decode_utf8(v, n, d, n + 1, &len) : xtext_decode(v, n, d, n + 1, &len);
	if (rc == 0 && showable(d, len)) {
		*addr = d;
		return;
	}
	free(d);
	*addr = xstrdup(v);
}

/* Our own names: checked, not cleaned, since they come from config and spool. */
static int host_valid(const char *h)
{
	size_t n = h ? strlen(h) : 0;
	if (n == 0 || n > HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static int qid_valid(const char *q)
{
	size_t n = q ? strlen(q) : 0;
	if (n == 0 || n > QID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = q[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return 0;
	}
	return 1;
}

/* RFC 5322 date-time in UTC; -1 outside years 1970..9999. */
static int fmt_date(int64_t t, char *dst, size_t n)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	if (t < 0 || t > INT64_C(253402300799))
		return -1;
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11)
		return -1;
	int r =
	    snprintf(dst, n, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
	             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/*
 * Write first + text, wrapped: a break replaces a space by CRLF + cont, at
 * FOLD_AT when a space allows, and inside a word only when the line would
 * otherwise pass 998 octets. With cont = " " this is RFC 5322 folding.
 * text must be clean (single spaces, no controls). Ends with CRLF.
 */
static void put_wrapped(struct out *o, const char *first, const char *text, const char *cont)
{
	size_t col = strlen(first), contlen = strlen(cont);
	size_t start = col;
	put_str(o, first);
	const char *p = text;
	int first_word = 1;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t w = strcspn(p, " ");
		if (!first_word) {
			if (col > start && col + 1 + w > FOLD_AT) {
				put(o, "\r\n", 2);
				put_str(o, cont);
				col = contlen;
			} else {
				put(o, " ", 1);
				col++;
			}
		}
		first_word = 0;
		while (w > 0) {
			if (col >= LINE_MAX_OCTETS) {
				put(o, "\r\n", 2);
				put_str(o, cont);
				col = contlen;
			}
			size_t k = LINE_MAX_OCTETS - col;
			if (k >= w)
				k = w;
			else
				/* do not split a UTF-8 sequence */
				while (k > 1 && ((uint8_t)p[k] & 0xc0) == 0x80)
					k--;
			put(o, p, k);
			col += k;
			p += k;
			w -= k;
		}
	}
	put(o, "\r\n", 2);
}

static void put_field(struct out *o, const char *name, const char *value)
{
	char first[64];
	snprintf(first, sizeof(first), "%s: ", name);
	put_wrapped(o, first, value, " ");
}

/*
 * The length of the RFC 3463 status code (class "." subject "." detail)
 * at s, or 0 if there is none.
 */
static size_t status_len(const char *s)
{
	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	const char *p = s + 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (n < 4 && p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
			return 0;
		p += n;
		if (part == 0) {
			if (*p != '.')
				return 0;
			p++;
		}
	}
	return (size_t)(p - s);
}

static int status_valid(const char *s)
{
	size_t n = status_len(s);
	return n > 0 && s[n] == '\0';
}

#define STATUS_MAX 12 /* "5.999.999" and its NUL */

/*
 * The status a diagnostic text opens with, "5.2.2 mailbox full" or an SMTP
 * reply "552 5.2.2 ...", into dst; 0 if it has none of class cls.
 */
static int status_of_text(const char *text, char cls, char dst[STATUS_MAX])
{
	if (text == NULL)
		return 0;
	if (text[0] == cls && text[1] >= '0' && text[1] <= '9' && text[2] >= '0' &&
	    text[2] <= '9' && (text[3] == ' ' || text[3] == '-'))
		text += 4;
	size_t n = status_len(text);
	if (n == 0 || n >= STATUS_MAX || text[0] != cls ||
	    (text[n] != '\0' && text[n] != ' ' && text[n] != ';'))
		return 0;
	memcpy(dst, text, n);
	dst[n] = '\0';
	return 1;
}

static const char *action_for(enum dsn_kind kind, const char *action)
{
	static const char *const known[] = {"failed", "delayed", "delivered", "relayed",
	                                    "expanded"};
	for (size_t i = 0; action != NULL && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(action, known[i]) == 0)
			return known[i];
	return kind == DSN_FAILURE ? "failed" : kind == DSN_DELAY ? "delayed" : "delivered";
}

static const char *status_for(const char *action, const struct dsn_rcpt *r, char buf[STATUS_MAX])
{
	if (status_valid(r->status))
		return r->status;
	char cls = strcmp(action, "failed") == 0 ? '5' : strcmp(action, "delayed") == 0 ? '4' : '2';
	if (status_of_text(r->diagnostic, cls, buf))
		return buf;
	return cls == '5' ? "5.0.0" : cls == '4' ? "4.0.0" : "2.0.0";
}

/* "rfc822; addr", or "utf-8; addr" for non-ASCII addresses in a global DSN. */
static void put_addr_field(struct out *o, const char *name, const char *type, const char *addr,
                           int global)
{
	char *a = clean_text(addr, ADDR_MAX, global);
	char *t = clean_text(type, 64, 0);
	int utf8 = global && str_is_8bit(a);
	char *v = xasprintf("%s; %s", utf8 && strcasecmp(t, "rfc822") == 0 ? "utf-8" : t, a);
	put_field(o, name, v);
	free(v);
	free(a);
	free(t);
}

static int req_is_global(const struct dsn_request *rq)
{
	if (str_is_8bit(rq->sender))
		return 1;
	for (size_t i = 0; i < rq->n_rcpts; i++) {
		if (str_is_8bit(rq->rcpts[i].addr))
			return 1;
		if (rq->rcpts[i].orcpt != NULL) {
			char *t, *a;
			orcpt_render(rq->rcpts[i].orcpt, &t, &a);
			int g = str_is_8bit(a);
			free(t);
			free(a);
			if (g)
				return 1;
		}
	}
	return 0;
}

/* The message/delivery-status body (RFC 3464 §2.2, §2.3: field order as in the grammar). */
static void build_status(struct out *o, const struct dsn_request *rq, int global)
{
	char date[64];
	if (rq->envid != NULL && rq->envid[0] != '\0') {
		char *e = clean_text(rq->envid, 200, 0);
		put_field(o, "Original-Envelope-Id", e);
		free(e);
	}
	put_fmt(o, "Reporting-MTA: dns; %s\r\n", rq->reporting_mta);
	if (rq->arrival > 0 && fmt_date(rq->arrival, date, sizeof(date)) == 0)
		put_fmt(o, "Arrival-Date: %s\r\n", date);
	put_fmt(o, "X-Raven-Queue-ID: %s\r\n", rq->queue_id);
	put_addr_field(o, "X-Raven-Sender", "rfc822", rq->sender, global);

	for (size_t i = 0; i < rq->n_rcpts; i++) {
		const struct dsn_rcpt *r = &rq->rcpts[i];
		const char *action = action_for(rq->kind, r->action);
		put(o, "\r\n", 2);
		if (r->orcpt != NULL && r->orcpt[0] != '\0') {
			char *t, *a;
			orcpt_render(r->orcpt, &t, &a);
			put_addr_field(o, "Original-Recipient", t, a, global);
			free(t);
			free(a);
		}
		put_addr_field(o, "Final-Recipient", "rfc822", r->addr, global);
		put_fmt(o, "Action: %s\r\n", action);
		char st[STATUS_MAX];
		put_fmt(o, "Status: %s\r\n", status_for(action, r, st));
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			char *h = clean_text(r->remote_mta, HOST_MAX, 0);
			char *v = xasprintf("dns; %s", h);
			put_field(o, "Remote-MTA", v);
			free(v);
			free(h);
		}
		if (r->diagnostic != NULL) {
			char *d = clean_text(r->diagnostic, BOUNCE_DIAG_MAX, global);
			if (d[0] != '\0') {
				char *v = xasprintf("%s; %s",
				                    r->diagnostic_is_smtp ? "smtp" : "X-Raven", d);
				put_field(o, "Diagnostic-Code", v);
				free(v);
			}
			free(d);
		}
		if (r->last_attempt > 0 && fmt_date(r->last_attempt, date, sizeof(date)) == 0)
			put_fmt(o, "Last-Attempt-Date: %s\r\n", date);
		if (strcmp(action, "delayed") == 0 && r->retry_until > 0 &&
		    fmt_date(r->retry_until, date, sizeof(date)) == 0)
			put_fmt(o, "Will-Retry-Until: %s\r\n", date);
	}
}

enum attach_how { ATTACH_FULL, ATTACH_HDRS, ATTACH_HDRS_TOO_BIG, ATTACH_HDRS_UNFIT };

/* The text/plain part: what happened, in words, one paragraph per recipient. */
static void build_human(struct out *o, const struct dsn_request *rq, enum attach_how how,
                        uint64_t max_full)
{
	put_fmt(o, "This is the mail system at host %s.\r\n\r\n", rq->reporting_mta);
	switch (rq->kind) {
	case DSN_FAILURE:
		put_str(o, "I'm sorry to have to inform you that your message could not\r\n"
		           "be delivered to one or more recipients. The reasons are given\r\n"
		           "below; the delivery report is attached for programs.\r\n");
		break;
	case DSN_DELAY:
		put_str(o,
		        "####### THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND #######\r\n\r\n"
		        "Your message could not be delivered yet to one or more\r\n"
		        "recipients. The mail system will keep trying; you will be\r\n"
		        "told if it finally gives up.\r\n");
		break;
	case DSN_SUCCESS:
		put_str(o, "Your message was successfully delivered to the recipients\r\n"
		           "listed below, as you asked to be told.\r\n");
		break;
	}
	put(o, "\r\n", 2);
	switch (how) {
	case ATTACH_FULL:
		put_str(o, "Your original message is attached below.\r\n");
		break;
	case ATTACH_HDRS:
		put_str(o, "The headers of your original message are attached below.\r\n");
		break;
	case ATTACH_HDRS_TOO_BIG:
		put_fmt(o,
		        "Your message was larger than %llu octets, so only its\r\n"
		        "headers are attached below.\r\n",
		        (unsigned long long)max_full);
		break;
	case ATTACH_HDRS_UNFIT:
		put_str(o, "Your message could not be returned unchanged, so only its\r\n"
		           "headers are attached below.\r\n");
		break;
	}
	if (rq->kind == DSN_FAILURE)
		put_fmt(o,
		        "\r\nFor help, write to the postmaster of %s and include\r\n"
		        "this report.\r\n",
		        rq->reporting_mta);
	put_str(o, "\r\n                   The mail system\r\n");

	int global = 1; /* text/plain; charset=utf-8 carries UTF-8 in any case */
	char date[64];
	for (size_t i = 0; i < rq->n_rcpts; i++) {
		const struct dsn_rcpt *r = &rq->rcpts[i];
		const char *action = action_for(rq->kind, r->action);
		char *a = clean_text(r->addr, HUMAN_ADDR_MAX, global);
		char *d = clean_text(r->diagnostic, BOUNCE_DIAG_MAX, global);
		char *h = clean_text(r->remote_mta, HOST_MAX, 0);
		char *first = xasprintf("<%s>: ", a);
		char *text, st[STATUS_MAX];
		const char *status = status_for(action, r, st);
		if (d[0] != '\0' && h[0] != '\0')
			text = xasprintf("host %s said: %s (status %s)", h, d, status);
		else if (d[0] != '\0')
			text = xasprintf("%s (status %s)", d, status);
		else
			text = xasprintf("%s (status %s)", action, status);
		put(o, "\r\n", 2);
		put_wrapped(o, first, text, "    ");
		if (strcmp(action, "delayed") == 0 && r->retry_until > 0 &&
		    fmt_date(r->retry_until, date, sizeof(date)) == 0)
			put_fmt(o, "    The mail system will keep trying until %s.\r\n", date);
		free(first);
		free(text);
		free(a);
		free(d);
		free(h);
	}
}

/*
 * Fit to travel unchanged as message/rfc822: no NUL, CR and LF only as
 * CRLF, lines of at most 998 octets. The last line may lack its CRLF (one
 * is added when writing).
 */
static int full_fit(const uint8_t *p, size_t n)
{
	size_t col = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '\0')
			return 0;
		if (c == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (c == '\n')
			return 0;
		if (++col > LINE_MAX_OCTETS)
			return 0;
	}
	return 1;
}

/*
 * The header section of p[0..n), cleaned line by line into dst: CR, LF and
 * CRLF all end a line, other control characters except TAB become '?', a
 * line over 998 octets is folded. complete: p is the whole message, so a
 * last line without a line end is kept; otherwise it may be cut and is
 * dropped.
 */
static void headers_clean(const uint8_t *p, size_t n, int complete, struct out *o)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != '\r' && p[j] != '\n')
			j++;
		if (j == n && !complete)
			break;
		if (j == i)
			break; /* the empty line that ends the header section */
		size_t col = 0;
		for (size_t k = i; k < j; k++) {
			uint8_t c = p[k];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				c = '?';
			if (col >= LINE_MAX_OCTETS) {
				put(o, "\r\n ", 3);
				col = 1;
			}
			put(o, &c, 1);
			col++;
		}
		put(o, "\r\n", 2);
		if (j < n && p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')
			j++;
		i = j + 1;
	}
}

static int read_all(int fd, uint8_t *p, size_t n, char *err, size_t errlen)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, errlen, "reading the original message: %s", strerror(errno));
			return -1;
		}
		if (r == 0) {
			err_set(err, errlen, "original message shorter than its recorded size");
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static int contains(const struct buf *b, const char *s)
{
	size_t n = strlen(s);
	return b->len >= n && memmem(b->data, b->len, s, n) != NULL;
}

/*
 * A boundary found in none of the parts. The first candidate is readable
 * and predictable; should a part contain it (by accident or by malice), the
 * later ones mix a hash of the contents in, which a message cannot contain
 * for itself.
 */
static int pick_boundary(const struct dsn_request *rq, const struct buf *parts[], size_t nparts,
                         char *dst, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (unsigned t = 0; t < BOUNDARY_TRIES; t++) {
		if (t == 0)
			snprintf(dst, n, "=_Raven_%s_%lld", rq->queue_id, (long long)rq->now);
		else {
			if (t == 1)
				for (size_t i = 0; i < nparts; i++)
					h = fnv1a(h, parts[i]->data, parts[i]->len);
			h = fnv1a(h, (const uint8_t *)&t, sizeof(t));
			snprintf(dst, n, "=_Raven_%016llx.%u", (unsigned long long)h, t);
		}
		int seen = 0;
		for (size_t i = 0; i < nparts && !seen; i++)
			seen = contains(parts[i], dst);
		if (!seen)
			return 0;
	}
	return -1;
}

static int check_request(const struct dsn_request *rq, char *err, size_t errlen)
{
	if (rq->kind != DSN_FAILURE && rq->kind != DSN_DELAY && rq->kind != DSN_SUCCESS) {
		err_set(err, errlen, "unknown DSN kind %d", (int)rq->kind);
		return -1;
	}
	if (rq->sender == NULL || rq->sender[0] == '\0') {
		err_set(err, errlen, "null sender: a bounce is never bounced");
		return -1;
	}
	if (!host_valid(rq->reporting_mta)) {
		err_set(err, errlen, "invalid reporting MTA name");
		return -1;
	}
	if (!qid_valid(rq->queue_id)) {
		err_set(err, errlen, "invalid queue id");
		return -1;
	}
	if (rq->n_rcpts == 0 || rq->rcpts == NULL) {
		err_set(err, errlen, "no recipients to report on");
		return -1;
	}
	for (size_t i = 0; i < rq->n_rcpts; i++)
		if (rq->rcpts[i].addr == NULL || rq->rcpts[i].addr[0] == '\0') {
			err_set(err, errlen, "recipient %zu without an address", i);
			return -1;
		}
	return 0;
}

/* Reads what will be attached into att; returns how it is attached. */
static int load_attachment(const struct dsn_request *rq, int fd, uint64_t size, uint64_t max_full,
                           struct buf *att, enum attach_how *how, char *err, size_t errlen)
{
	int want_full = rq->kind == DSN_FAILURE && rq->ret == RET_FULL;
	if (want_full && size <= max_full && size <= SIZE_MAX) {
		uint8_t *p = xmalloc(size ? (size_t)size : 1);
		if (read_all(fd, p, (size_t)size, err, errlen) == -1) {
			free(p);
			return -1;
		}
		int fit = full_fit(p, (size_t)size);
		struct out o = {att, 0};
		if (fit) {
			put(&o, p, (size_t)size);
			if (size < 2 || p[size - 2] != '\r' || p[size - 1] != '\n')
				put(&o, "\r\n", 2);
			*how = ATTACH_FULL;
		} else {
			headers_clean(p, (size_t)size, 1, &o);
			*how = ATTACH_HDRS_UNFIT;
		}
		free(p);
		if (o.fail) {
			err_set(err, errlen, "original message too large for the DSN");
			return -1;
		}
		return 0;
	}
	*how = want_full ? ATTACH_HDRS_TOO_BIG : ATTACH_HDRS;
	size_t n = size < BOUNCE_HDRS_MAX ? (size_t)size : BOUNCE_HDRS_MAX;
	uint8_t *p = xmalloc(n ? n : 1);
	if (read_all(fd, p, n, err, errlen) == -1) {
		free(p);
		return -1;
	}
	struct out o = {att, 0};
	headers_clean(p, n, n == size, &o);
	free(p);
	if (o.fail) {
		err_set(err, errlen, "original headers too large for the DSN");
		return -1;
	}
	return 0;
}

static void put_part_head(struct out *o, const char *boundary, const char *desc, const char *type,
                          const struct buf *body, int cte)
{
	put_fmt(o, "--%s\r\nContent-Description: %s\r\nContent-Type: %s\r\n", boundary, desc, type);
	if (cte)
		put_fmt(o, "Content-Transfer-Encoding: %s\r\n",
		        bounce_is_8bit(body->data, body->len) ? "8bit" : "7bit");
	put(o, "\r\n", 2);
}

int bounce_build(const struct dsn_request *rq, int data_fd, uint64_t data_size, uint64_t max_full,
                 struct buf *out, char *err, size_t errlen)
{
	if (check_request(rq, err, errlen) == -1)
		return -1;
	char now[64];
	if (fmt_date(rq->now, now, sizeof(now)) == -1) {
		err_set(err, errlen, "current time out of range");
		return -1;
	}
	int global = req_is_global(rq);
	struct buf human, status, att;
	buf_init(&human, out->max);
	buf_init(&status, out->max);
	buf_init(&att, out->max);
	size_t start = out->len;
	int rc = -1;
	enum attach_how how;
	if (load_attachment(rq, data_fd, data_size, max_full, &att, &how, err, errlen) == -1)
		goto done;

	struct out h = {&human, 0}, s = {&status, 0};
	build_human(&h, rq, how, max_full);
	build_status(&s, rq, global);
	if (h.fail || s.fail) {
		err_set(err, errlen, "DSN too large");
		goto done;
	}
	const struct buf *parts[] = {&human, &status, &att};
	char boundary[80];
	if (pick_boundary(rq, parts, 3, boundary, sizeof(boundary)) == -1) {
		err_set(err, errlen, "no MIME boundary absent from the content");
		goto done;
	}

	static const char *const subjects[] = {"", "Undelivered Mail Returned to Sender",
	                                       "Delayed Mail (still being retried)",
	                                       "Successful Mail Delivery Report"};
	static const char *const kinds[] = {"", "bounce", "delay", "success"};
	const char *report = global ? "global-delivery-status" : "delivery-status";
	int eight = bounce_is_8bit(human.data, human.len) ||
	            bounce_is_8bit(status.data, status.len) || bounce_is_8bit(att.data, att.len);
	struct out o = {out, 0};
	put_fmt(&o, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", rq->reporting_mta);
	char *snd = clean_text(rq->sender, ADDR_MAX, global);
	char *to = xasprintf("<%s>", snd);
	put_field(&o, "To", to);
	free(to);
	free(snd);
	put_fmt(&o, "Subject: %s\r\n", subjects[rq->kind]);
	put_fmt(&o, "Date: %s\r\n", now);
	put_fmt(&o, "Message-ID: <%s.%s.%lld@%s>\r\n", rq->queue_id, kinds[rq->kind],
	        (long long)rq->now, rq->reporting_mta);
	put_str(&o, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	put_fmt(&o, "Content-Type: multipart/report; report-type=%s;\r\n\tboundary=\"%s\"\r\n",
	        report, boundary);
	put_fmt(&o, "Content-Transfer-Encoding: %s\r\n", eight ? "8bit" : "7bit");
	put_str(&o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	put_part_head(&o, boundary, "Notification", "text/plain; charset=utf-8", &human, 1);
	/* The CRLF before each delimiter belongs to the delimiter (RFC 2046
	 * §5.1.1): one more keeps a part's own last line break. */
	put(&o, human.data, human.len);
	put(&o, "\r\n", 2);
	put_part_head(&o, boundary, "Delivery report",
	              global ? "message/global-delivery-status" : "message/delivery-status",
	              &status, global);
	put(&o, status.data, status.len);
	put(&o, "\r\n", 2);
	if (how == ATTACH_FULL)
		put_part_head(&o, boundary, "Undelivered Message",
		              global ? "message/global" : "message/rfc822", &att, 1);
	else
		put_part_head(&o, boundary, "Message Headers",
		              global ? "message/global-headers" : "text/rfc822-headers", &att, 1);
	put(&o, att.data, att.len);
	put(&o, "\r\n", 2);
	put_fmt(&o, "--%s--\r\n", boundary);
	if (o.fail) {
		err_set(err, errlen, "DSN too large");
		goto done;
	}
	rc = 0;
done:
	if (rc == -1 && out->len > start)
		out->len = start;
	buf_free(&human);
	buf_free(&status);
	buf_free(&att);
	return rc;
}
