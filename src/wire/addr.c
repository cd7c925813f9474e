/*
 * addr: the RFC 5321 §4.1.2 Path / Mailbox grammar (with the RFC 6531
 * UTF-8 extension), as a small recursive-descent parser over a bounded
 * byte range. Every failure names the part that was wrong, so the client
 * (and the log) learn why the address was refused.
 *
 * Errors are "501 5.1.3" (recipient syntax); callers parsing a sender
 * rewrite the enhanced code to 5.1.7 (see cmd_parse.c), because only they
 * know which side of the envelope the address is on. Non-ASCII without
 * ADDR_ALLOW_UTF8 is "553 5.6.7" (RFC 6531 §3.7.4.1).
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

struct addr_parser {
	const uint8_t *s;
	size_t len;
	size_t pos;
	unsigned flags;
	int has_utf8;
	struct smtp_reply *err;
};

static int addr_fail(struct addr_parser *p, const char *why)
{
	smtp_reply_set(p->err, 501, "5.1.3", why);
	return -1;
}

static int addr_is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* atext of RFC 5322 §3.2.3, ASCII part. */
static int addr_is_atext(uint8_t c)
{
	if (addr_is_alnum(c))
		return 1;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
static int addr_is_qtext(uint8_t c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126);
}

/*
 * At a non-ASCII octet: returns the sequence length if it is acceptable
 * here, 0 with *err set otherwise.
 */
static size_t addr_take_utf8(struct addr_parser *p)
{
	size_t n = utf8_seq_len(p->s + p->pos, p->len - p->pos, NULL);
	if (n == 0) {
		addr_fail(p, "Invalid UTF-8 in address");
		return 0;
	}
	if (!(p->flags & ADDR_ALLOW_UTF8)) {
		smtp_reply_set(p->err, 553, "5.6.7",
		               "Non-ASCII addresses not permitted without SMTPUTF8");
		return 0;
	}
	p->has_utf8 = 1;
	return n;
}

static int addr_peek(const struct addr_parser *p)
{
	return p->pos < p->len ? p->s[p->pos] : -1;
}

/* Dot-string local part; copies into out (at least ADDR_LOCAL_MAX + 1). */
static int addr_dot_string(struct addr_parser *p, char *out, size_t *outlen)
{
	size_t start = p->pos, n = 0;
	int prev_dot = 1; /* the start behaves like a dot: no leading dot */
	while (p->pos < p->len) {
		uint8_t c = p->s[p->pos];
		size_t k = 1;
		if (c == '.') {
			if (p->pos == start)
				return addr_fail(p, "Local part starts with a dot");
			if (prev_dot)
				return addr_fail(p, "Local part contains consecutive dots");
			prev_dot = 1;
		} else if (c >= 0x80) {
			if ((k = addr_take_utf8(p)) == 0)
				return -1;
			prev_dot = 0;
		} else if (addr_is_atext(c)) {
			prev_dot = 0;
		} else {
			break;
		}
		if (n + k > ADDR_LOCAL_MAX)
			return addr_fail(p, "Local part too long");
		memcpy(out + n, p->s + p->pos, k);
		n += k;
		p->pos += k;
	}
	if (n == 0) {
		if (addr_peek(p) == '@')
			return addr_fail(p, "Empty local part");
		return addr_fail(p, "Invalid character in local part");
	}
	if (prev_dot)
		return addr_fail(p, "Local part ends with a dot");
	*outlen = n;
	return 0;
}

/* Quoted-string local part, stored unquoted (quoted-pairs resolved). */
static int addr_quoted_string(struct addr_parser *p, char *out, size_t *outlen)
{
	size_t start = p->pos, n = 0;
	p->pos++; /* opening quote */
	for (;;) {
		if (p->pos >= p->len)
			return addr_fail(p, "Unbalanced quotes in local part");
		/* The limit is on the local part as written, quotes included. */
		if (p->pos - start + 1 > ADDR_LOCAL_MAX)
			return addr_fail(p, "Local part too long");
		uint8_t c = p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c == '\\') {
			if (p->pos + 1 >= p->len)
				return addr_fail(p, "Unbalanced quotes in local part");
			uint8_t q = p->s[p->pos + 1];
			if (q < 32 || q > 126)
				return addr_fail(p, "Invalid quoted-pair in local part");
			out[n++] = (char)q;
			p->pos += 2;
		} else if (c >= 0x80) {
			size_t k = addr_take_utf8(p);
			if (k == 0)
				return -1;
			memcpy(out + n, p->s + p->pos, k);
			n += k;
			p->pos += k;
		} else if (addr_is_qtext(c)) {
			out[n++] = (char)c;
			p->pos++;
		} else {
			return addr_fail(p, "Invalid character in quoted local part");
		}
	}
	if (p->pos - start > ADDR_LOCAL_MAX)
		return addr_fail(p, "Local part too long");
	*outlen = n;
	return 0;
}

/* IPv4 or IPv6 address literal "[...]", copied with its brackets. */
static int addr_literal(struct addr_parser *p, char *out, size_t outmax, size_t *outlen)
{
	size_t start = p->pos;
	const uint8_t *close = memchr(p->s + start, ']', p->len - start);
	if (close == NULL)
		return addr_fail(p, "Unterminated address literal");
	size_t inner = (size_t)(close - (p->s + start)) - 1;
	if (inner + 2 > outmax - 1 || inner + 2 > ADDR_DOMAIN_MAX)
		return addr_fail(p, "Domain too long");
	char tmp[ADDR_DOMAIN_MAX + 1];
	memcpy(tmp, p->s + start + 1, inner);
	tmp[inner] = 0;
	for (size_t i = 0; i < inner; i++) {
		uint8_t c = (uint8_t)tmp[i];
		/* dcontent: %d33-90 / %d94-126 */
		if (c < 33 || c > 126 || c == '[' || c == '\\')
			return addr_fail(p, "Invalid character in address literal");
	}
	unsigned char bin[16];
	if (inner >= 5 && strncasecmp(tmp, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, tmp + 5, bin) != 1)
			return addr_fail(p, "Invalid IPv6 address literal");
	} else if (memchr(tmp, ':', inner) != NULL) {
		return addr_fail(p, "Unsupported address literal");
	} else if (inet_pton(AF_INET, tmp, bin) != 1) {
		return addr_fail(p, "Invalid IPv4 address literal");
	}
	memcpy(out, p->s + start, inner + 2);
	out[inner + 2] = 0;
	*outlen = inner + 2;
	p->pos = start + inner + 2;
	return 0;
}

/*
 * Domain (dot-separated LDH labels) or, if allow_literal, an address
 * literal. Stops at the first octet that cannot continue it; the caller
 * decides whether that octet may follow. out holds ADDR_DOMAIN_MAX + 1.
 */
static int addr_domain(struct addr_parser *p, int allow_literal, char *out, size_t *outlen,
                       int *is_literal)
{
	*is_literal = 0;
	if (addr_peek(p) == '[') {
		if (!allow_literal)
			return addr_fail(p, "Address literal not allowed here");
		*is_literal = 1;
		return addr_literal(p, out, ADDR_DOMAIN_MAX + 1, outlen);
	}
	size_t n = 0;
	for (;;) {
		size_t label = 0;
		int ascii = 1;
		uint8_t last = 0;
		while (p->pos < p->len) {
			uint8_t c = p->s[p->pos];
			size_t k = 1;
			if (c >= 0x80) {
				if ((k = addr_take_utf8(p)) == 0)
					return -1;
				ascii = 0;
			} else if (c == '-') {
				if (label == 0)
					return addr_fail(p, "Domain label starts with a hyphen");
			} else if (!addr_is_alnum(c)) {
				break;
			}
			if (n + k > ADDR_DOMAIN_MAX)
				return addr_fail(p, "Domain too long");
			memcpy(out + n, p->s + p->pos, k);
			n += k;
			label += k;
			last = c;
			p->pos += k;
		}
		if (label == 0) {
			if (n == 0 && addr_peek(p) == '.')
				return addr_fail(p, "Domain starts with a dot");
			if (n == 0)
				return addr_fail(p, "Missing or invalid domain");
			if (addr_peek(p) == '.')
				return addr_fail(p, "Domain has an empty label");
			return addr_fail(p, "Domain ends with a dot");
		}
		if (last == '-')
			return addr_fail(p, "Domain label ends with a hyphen");
		/*
		 * 63 octets is the DNS label limit on the wire; a U-label's
		 * length only matters once it is converted to an A-label, so
		 * non-ASCII labels are bounded by the domain limit alone.
		 */
		if (ascii && label > 63)
			return addr_fail(p, "Domain label too long");
		if (addr_peek(p) != '.')
			break;
		if (n + 1 > ADDR_DOMAIN_MAX)
			return addr_fail(p, "Domain too long");
		out[n++] = '.';
		p->pos++;
	}
	out[n] = 0;
	*outlen = n;
	return 0;
}

/* Whether an unquoted local part can be written as a Dot-string. */
static int addr_local_is_dot_string(const char *l, size_t n)
{
	if (n == 0 || l[0] == '.' || l[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)l[i];
		if (c == '.') {
			if (l[i + 1] == '.')
				return 0;
		} else if (c < 0x80 && !addr_is_atext(c)) {
			return 0;
		}
	}
	return 1;
}

/* text = local part with the minimum quoting (RFC 5321 §4.1.2) "@" domain. */
static void addr_make_text(struct mailaddr *a, size_t local_len)
{
	size_t n = 0;
	if (addr_local_is_dot_string(a->local, local_len)) {
		memcpy(a->text, a->local, local_len);
		n = local_len;
	} else {
		/* Bounded: at most 2 * 64 + 2 octets, text holds 515. */
		a->text[n++] = '"';
		for (size_t i = 0; i < local_len; i++) {
			if (a->local[i] == '"' || a->local[i] == '\\')
				a->text[n++] = '\\';
			a->text[n++] = a->local[i];
		}
		a->text[n++] = '"';
	}
	if (a->domain[0] != 0) {
		a->text[n++] = '@';
		size_t d = strlen(a->domain);
		memcpy(a->text + n, a->domain, d);
		n += d;
	}
	a->text[n] = 0;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ) */
static int addr_mailbox(struct addr_parser *p, struct mailaddr *a)
{
	size_t local_len = 0, dlen = 0;
	int rc;
	if (addr_peek(p) == '"')
		rc = addr_quoted_string(p, a->local, &local_len);
	else
		rc = addr_dot_string(p, a->local, &local_len);
	if (rc == -1)
		return -1;
	a->local[local_len] = 0;
	if (addr_peek(p) != '@') {
		if (addr_peek(p) == -1 || addr_peek(p) == '>')
			return addr_fail(p, "Address has no domain");
		return addr_fail(p, "Invalid character in local part");
	}
	p->pos++;
	if (addr_domain(p, 1, a->domain, &dlen, &a->is_literal) == -1)
		return -1;
	addr_make_text(a, local_len);
	return 0;
}

static void addr_clear(struct mailaddr *a)
{
	a->is_null = 0;
	a->is_literal = 0;
	a->has_utf8 = 0;
	a->local[0] = 0;
	a->domain[0] = 0;
	a->text[0] = 0;
}

/* "<postmaster>" without a domain (RFC 5321 §4.1.1.3), any case. */
static int addr_is_postmaster(const struct addr_parser *p)
{
	static const char pm[] = "postmaster>";
	size_t n = sizeof(pm) - 1;
	return p->len - p->pos >= n && strncasecmp((const char *)p->s + p->pos, pm, n) == 0;
}

/* A-d-l ":" — a source route, checked for syntax and then ignored. */
static int addr_source_route(struct addr_parser *p)
{
	char scratch[ADDR_DOMAIN_MAX + 1];
	size_t n;
	int lit;
	for (;;) {
		if (addr_peek(p) != '@')
			return addr_fail(p, "Invalid source route");
		p->pos++;
		if (addr_domain(p, 0, scratch, &n, &lit) == -1)
			return -1;
		int c = addr_peek(p);
		p->pos++;
		if (c == ':')
			return 0;
		if (c != ',')
			return addr_fail(p, "Invalid source route");
	}
}

int addr_parse_path(const char *s, size_t len, unsigned flags, struct mailaddr *a, size_t *consumed,
                    struct smtp_reply *err)
{
	struct addr_parser p = {(const uint8_t *)s, len, 0, flags, 0, err};
	addr_clear(a);
	*consumed = 0;
	if (addr_peek(&p) != '<')
		return addr_fail(&p, "Address must be enclosed in <>");
	p.pos++;
	if (addr_peek(&p) == '>') {
		if (!(flags & ADDR_ALLOW_NULL))
			return addr_fail(&p, "Null address not allowed here");
		a->is_null = 1;
		*consumed = 2;
		return 0;
	}
	if ((flags & ADDR_ALLOW_POSTMASTER) && addr_is_postmaster(&p)) {
		/* Normalised: the caller routes it without caring how it was spelled. */
		snprintf(a->local, sizeof(a->local), "postmaster");
		snprintf(a->text, sizeof(a->text), "postmaster");
		*consumed = p.pos + sizeof("postmaster>") - 1;
		return 0;
	}
	if (addr_peek(&p) == '@' && addr_source_route(&p) == -1)
		return -1;
	if (addr_mailbox(&p, a) == -1)
		return -1;
	if (addr_peek(&p) != '>') {
		if (addr_peek(&p) == -1)
			return addr_fail(&p, "Missing closing '>' in address");
		return addr_fail(&p, "Invalid character in domain");
	}
	p.pos++;
	if (p.pos > ADDR_PATH_MAX)
		return addr_fail(&p, "Address too long");
	a->has_utf8 = p.has_utf8;
	*consumed = p.pos;
	return 0;
}

int addr_parse_mailbox(const char *s, size_t len, unsigned flags, struct mailaddr *a,
                       struct smtp_reply *err)
{
	struct addr_parser p = {(const uint8_t *)s, len, 0, flags, 0, err};
	addr_clear(a);
	if (len + 2 > ADDR_PATH_MAX)
		return addr_fail(&p, "Address too long");
	if (addr_mailbox(&p, a) == -1)
		return -1;
	if (p.pos != len)
		return addr_fail(&p, "Invalid character in domain");
	a->has_utf8 = p.has_utf8;
	return 0;
}

int addr_valid_helo(const char *s, size_t len)
{
	struct smtp_reply ignored;
	struct addr_parser p = {(const uint8_t *)s, len, 0, 0, 0, &ignored};
	char out[ADDR_DOMAIN_MAX + 1];
	size_t n;
	int lit;
	if (addr_domain(&p, 1, out, &n, &lit) == -1)
		return 0;
	return p.pos == len;
}
