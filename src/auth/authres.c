/*
 * authres: builds Authentication-Results fields and finds the ones that
 * claim our authserv-id (see authres.h).
 */
#include "authres.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "util.h"
#include "xmalloc.h"

#define LINE_MAX_LEN 78
#define TOKEN_MAX    400 /* one method=result, comment or property */
#define ID_MAX       256

struct authres {
	char *id;
	size_t n;
	struct buf res[AUTHRES_MAX_RESULTS]; /* each resinfo as space-separated tokens */
	size_t ntok[AUTHRES_MAX_RESULTS];
	size_t tokoff[AUTHRES_MAX_RESULTS][16];
};

static int is_tspecial(unsigned char c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

static int is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_keyword(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

/* dot-atom: atext runs separated by single dots. */
static int is_dot_atom(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static void quote(char *dst, size_t dstlen, const char *open, const char *close, const char *escape,
                  const char *value)
{
	size_t n = 0;
	/* Room for the closing quote and the NUL is kept back throughout. */
	size_t limit = dstlen > strlen(close) + 1 ? dstlen - strlen(close) - 1 : 0;
	for (const char *o = open; *o && n < limit; o++)
		dst[n++] = *o;
	for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
		unsigned char c = *v < 0x20 || *v == 0x7f ? '?' : *v; /* never CR, LF */
		size_t need = strchr(escape, c) != NULL ? 2 : 1;
		if (n + need > limit)
			break;
		if (need == 2)
			dst[n++] = '\\';
		dst[n++] = (char)c;
	}
	for (const char *c = close; *c; c++)
		dst[n++] = *c;
	dst[n] = '\0';
}

void authres_escape_value(char *dst, size_t dstlen, const char *value)
{
	size_t len = strlen(value);
	int token = len > 0;
	for (size_t i = 0; i < len && token; i++)
		token = is_token_char((unsigned char)value[i]);
	/* RFC 8601 pvalue also allows [local-part] "@" domain-name bare. */
	const char *at = strrchr(value, '@');
	int addr = at != NULL && (at == value || is_dot_atom(value, (size_t)(at - value))) &&
	           is_dot_atom(at + 1, strlen(at + 1));
	if ((token || addr) && len < dstlen) {
		memcpy(dst, value, len + 1);
		return;
	}
	quote(dst, dstlen, "\"", "\"", "\"\\", value);
}

struct authres *authres_new(const char *authserv_id)
{
	struct authres *a = xcalloc(1, sizeof(*a));
	char id[ID_MAX];
	authres_escape_value(id, sizeof(id), authserv_id);
	a->id = xstrdup(id);
	return a;
}

void authres_free(struct authres *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		buf_free(&a->res[i]);
	free(a->id);
	free(a);
}

static void add_token(struct authres *a, size_t i, const char *tok)
{
	if (a->ntok[i] == sizeof(a->tokoff[i]) / sizeof(a->tokoff[i][0]))
		return;
	a->tokoff[i][a->ntok[i]++] = a->res[i].len;
	buf_append(&a->res[i], tok, strlen(tok) + 1); /* NUL-separated */
}

int authres_add(struct authres *a, const char *method, const char *result, const char *comment,
                const char *reason, const struct authres_prop *props, size_t nprops)
{
	if (a->n == AUTHRES_MAX_RESULTS || !is_keyword(method) || !is_keyword(result))
		return -1;
	size_t i = a->n++;
	buf_init(&a->res[i], 0);
	char tok[TOKEN_MAX];
	snprintf(tok, sizeof(tok), "%s=%s", method, result);
	add_token(a, i, tok);
	if (comment && *comment) {
		quote(tok, sizeof(tok), "(", ")", "()\\", comment);
		add_token(a, i, tok);
	}
	if (reason && *reason) {
		char q[TOKEN_MAX - 8];
		quote(q, sizeof(q), "\"", "\"", "\"\\", reason);
		snprintf(tok, sizeof(tok), "reason=%s", q);
		add_token(a, i, tok);
	}
	for (size_t k = 0; k < nprops; k++) {
		if (props[k].value == NULL || !is_keyword(props[k].ptype) ||
		    !is_keyword(props[k].property))
			continue;
		char v[TOKEN_MAX - 40];
		authres_escape_value(v, sizeof(v), props[k].value);
		snprintf(tok, sizeof(tok), "%s.%s=%s", props[k].ptype, props[k].property, v);
		add_token(a, i, tok);
	}
	return 0;
}

int authres_add_spf(struct authres *a, const char *result, const char *mailfrom, const char *helo,
                    const char *reason)
{
	struct authres_prop p[2];
	size_t n = 0;
	if (mailfrom)
		p[n++] = (struct authres_prop){"smtp", "mailfrom", mailfrom};
	if (helo)
		p[n++] = (struct authres_prop){"smtp", "helo", helo};
	return authres_add(a, "spf", result, NULL, reason, p, n);
}

int authres_add_dkim(struct authres *a, const struct dkim_result *r)
{
	char comment[64] = "";
	if (r->key_bits)
		snprintf(comment, sizeof(comment), "%u-bit key%s", r->key_bits,
		         r->testing ? "; test mode" : "");
	else if (r->testing)
		snprintf(comment, sizeof(comment), "test mode");
	struct authres_prop p[5];
	size_t n = 0;
	if (r->domain[0]) {
		p[n++] = (struct authres_prop){"header", "d", r->domain};
		if (r->identity[0])
			p[n++] = (struct authres_prop){"header", "i", r->identity};
	}
	if (r->selector[0])
		p[n++] = (struct authres_prop){"header", "s", r->selector};
	if (r->domain[0])
		p[n++] = (struct authres_prop){"header", "a", dkim_alg_name(r->alg)};
	if (r->b8[0])
		p[n++] = (struct authres_prop){"header", "b", r->b8};
	return authres_add(a, "dkim", dkim_status_name(r->status), comment,
	                   r->status == DKIM_PASS ? NULL : r->reason, p, n);
}

int authres_add_dmarc(struct authres *a, const struct dmarc_outcome *o)
{
	char comment[80] = "";
	if (o->result == DMARC_RESULT_PASS || o->result == DMARC_RESULT_FAIL)
		snprintf(comment, sizeof(comment), "p=%s dis=%s", dmarc_policy_name(o->policy),
		         dmarc_policy_name(o->disposition));
	struct authres_prop p[1];
	size_t n = 0;
	if (o->from_domain[0])
		p[n++] = (struct authres_prop){"header", "from", o->from_domain};
	return authres_add(a, "dmarc", dmarc_result_name(o->result), comment,
	                   o->result == DMARC_RESULT_PASS ? NULL : o->reason, p, n);
}

int authres_add_dnsbl(struct authres *a, const char *result, const char *zone,
                      const char *listed_ip, const char *txt)
{
	struct authres_prop p[3];
	size_t n = 0;
	if (zone)
		p[n++] = (struct authres_prop){"dns", "zone", zone};
	if (listed_ip)
		p[n++] = (struct authres_prop){"policy", "ip", listed_ip};
	if (txt)
		p[n++] = (struct authres_prop){"policy", "txt", txt};
	return authres_add(a, "x-dnsbl", result, NULL, NULL, p, n);
}

char *authres_build(const struct authres *a)
{
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "Authentication-Results: %s;", a->id);
	size_t col = b.len;
	if (a->n == 0)
		buf_append_str(&b, " none");
	for (size_t i = 0; i < a->n; i++) {
		/* Each resinfo starts a line; long ones fold between tokens. */
		buf_append_str(&b, "\r\n\t");
		col = 8;
		for (size_t k = 0; k < a->ntok[i]; k++) {
			const char *tok = (const char *)a->res[i].data + a->tokoff[i][k];
			size_t tl = strlen(tok);
			if (k > 0 && col + 1 + tl > LINE_MAX_LEN) {
				buf_append_str(&b, "\r\n\t  ");
				col = 10;
			} else if (k > 0) {
				buf_append_byte(&b, ' ');
				col++;
			}
			buf_append(&b, tok, tl);
			col += tl;
		}
		if (i + 1 < a->n)
			buf_append_byte(&b, ';');
	}
	buf_append_str(&b, "\r\n");
	char *s = buf_strdup(&b);
	buf_free(&b);
	return s;
}

/* Skip CFWS: whitespace, folding and (nested) comments. */
static size_t skip_cfws(const char *s, size_t len, size_t i)
{
	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++;
			continue;
		}
		if (s[i] != '(')
			break;
		int depth = 0;
		while (i < len) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')' && --depth == 0) {
				i++;
				break;
			}
			i++;
		}
		if (depth != 0)
			return len; /* unterminated: nothing follows */
	}
	return i;
}

int authres_is_ours(const char *field, size_t len, const char *authserv_id)
{
	static const char name[] = "Authentication-Results";
	const char *colon = memchr(field, ':', len);
	if (colon == NULL)
		return 0;
	size_t nl = (size_t)(colon - field);
	while (nl > 0 && (field[nl - 1] == ' ' || field[nl - 1] == '\t'))
		nl--;
	if (nl != sizeof(name) - 1 || strncasecmp(field, name, nl) != 0)
		return 0;
	size_t i = skip_cfws(field, len, (size_t)(colon - field) + 1);
	char id[ID_MAX];
	size_t n = 0;
	if (i < len && field[i] == '"') {
		for (i++; i < len && field[i] != '"'; i++) {
			if (field[i] == '\\' && i + 1 < len)
				i++;
			if (field[i] == '\r' || field[i] == '\n')
				continue; /* folding inside the quotes */
			if (n + 1 == sizeof(id))
				return 0;
			id[n++] = field[i];
		}
		if (i == len)
			return 0;
		i++;
	} else {
		for (; i < len && is_token_char((unsigned char)field[i]); i++) {
			if (n + 1 == sizeof(id))
				return 0;
			id[n++] = field[i];
		}
	}
	id[n] = '\0';
	/* The id ends at CFWS, ';' or the end; anything else makes it a
	 * different (or no) id. */
	if (i < len && field[i] != ';' && field[i] != '(' && field[i] != ' ' && field[i] != '\t' &&
	    field[i] != '\r' && field[i] != '\n')
		return 0;
	return n > 0 && strcasecmp(id, authserv_id) == 0;
}

size_t authres_find(const char *hdr, size_t len, const char *authserv_id,
                    struct authres_span *spans, size_t max)
{
	size_t i = 0, n = 0;
	while (i < len) {
		if (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n')
			break; /* the blank line: end of the header section */
		size_t start = i, end;
		for (;;) { /* to a CRLF not followed by WSP */
			while (i < len && !(hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n'))
				i++;
			if (i >= len) {
				end = i = len;
				break;
			}
			end = i;
			i += 2;
			if (i >= len || (hdr[i] != ' ' && hdr[i] != '\t'))
				break;
		}
		if (authres_is_ours(hdr + start, end - start, authserv_id)) {
			if (n < max) {
				spans[n].off = start;
				spans[n].len = i - start;
			}
			n++;
		}
	}
	return n;
}
