/*
 * dmarc_from: a small RFC 5322 From: parser for DMARC's author domain.
 * Pure and bounded: a tokenizer that skips comments (nested, quoted
 * pairs) and whitespace, then mailbox-list / group syntax over the
 * tokens. It only needs the domains, so display names (including encoded
 * words, which are plain atoms here) are read and dropped. Obsolete syntax
 * a real mailer still sends is accepted: dots in display names, empty list
 * elements, source routes in angle addresses, CFWS around dots.
 */
#include "dmarc.h"

#include <string.h>
#include <strings.h>

#include "dkim_tags.h" /* dkim_name_valid */
#include "util.h"

#define COMMENT_DEPTH_MAX 32

enum tok_type {
	T_END,
	T_ATOM,
	T_QSTRING,
	T_DLIT,
	T_SPECIAL, /* < > : ; @ , . */
	T_ERROR,
};

struct tok {
	enum tok_type type;
	size_t start, len;
	char c; /* T_SPECIAL */
};

struct lexer {
	const char *s;
	size_t len, pos;
	const char *why; /* T_ERROR */
};

static int is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static struct tok lex(struct lexer *l)
{
	struct tok t = {T_END, 0, 0, 0};
	const unsigned char *u = (const unsigned char *)l->s;
	for (;;) {
		if (l->pos == l->len)
			return t;
		unsigned char c = u[l->pos];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->pos++;
			continue;
		}
		if (c != '(')
			break;
		int depth = 0;
		do { /* a comment, perhaps nested */
			c = u[l->pos++];
			if (c == '\\' && l->pos < l->len)
				l->pos++;
			else if (c == '(' && ++depth > COMMENT_DEPTH_MAX)
				break;
			else if (c == ')')
				depth--;
		} while (depth > 0 && l->pos < l->len);
		if (depth != 0) {
			t.type = T_ERROR;
			l->why = depth > COMMENT_DEPTH_MAX ? "comments nested too deep"
			                                   : "unterminated comment";
			return t;
		}
	}
	unsigned char c = u[l->pos];
	t.start = l->pos;
	if (is_atext(c)) {
		while (l->pos < l->len && is_atext(u[l->pos]))
			l->pos++;
		t.type = T_ATOM;
	} else if (c == '"' || c == '[') {
		unsigned char close = c == '"' ? '"' : ']';
		l->pos++;
		while (l->pos < l->len && u[l->pos] != close) {
			if (u[l->pos] == '\\' && l->pos + 1 < l->len)
				l->pos++;
			else if (close == ']' && u[l->pos] == '[')
				break;
			l->pos++;
		}
		if (l->pos == l->len || u[l->pos] != close) {
			t.type = T_ERROR;
			l->why = close == '"' ? "unterminated quoted string" : "bad domain literal";
			return t;
		}
		l->pos++;
		t.type = c == '"' ? T_QSTRING : T_DLIT;
	} else if (strchr("<>:;@,.", c) != NULL && c != '\0') {
		l->pos++;
		t.type = T_SPECIAL;
		t.c = (char)c;
	} else {
		t.type = T_ERROR;
		l->why = "unexpected character";
		return t;
	}
	t.len = l->pos - t.start;
	return t;
}

static struct tok peek(struct lexer *l)
{
	size_t save = l->pos;
	struct tok t = lex(l);
	l->pos = save;
	return t;
}

static int is_special(struct tok t, char c)
{
	return t.type == T_SPECIAL && t.c == c;
}

struct parser {
	struct lexer lx;
	struct dmarc_from *out;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *why)
{
	err_set(p->err, p->errlen, "From: %s", why);
	return -1;
}

/* At token t, which was not what the grammar wanted: the lexer's reason
 * if it could not read a token at all, else why. */
static int fail_at(struct parser *p, struct tok t, const char *why)
{
	return fail(p, t.type == T_ERROR && p->lx.why ? p->lx.why : why);
}

/* addr-spec = local-part "@" domain; records the domain. */
static int addr_spec(struct parser *p)
{
	struct tok t = lex(&p->lx);
	if (t.type != T_ATOM && t.type != T_QSTRING)
		return fail_at(p, t, "no address");
	for (;;) { /* local-part: word *("." word), lenient about empty words */
		t = lex(&p->lx);
		if (is_special(t, '@'))
			break;
		if (!is_special(t, '.') && t.type != T_ATOM && t.type != T_QSTRING)
			return fail_at(p, t, "address without '@'");
	}
	char dom[DMARC_DOMAIN_MAX + 2];
	size_t dl = 0;
	int want_label = 1;
	for (;;) {
		t = peek(&p->lx);
		if (t.type == T_DLIT)
			return fail(p, "domain literal has no DMARC policy");
		if (want_label) {
			if (t.type != T_ATOM)
				return fail_at(p, t, "bad domain");
			if (dl + t.len > DMARC_DOMAIN_MAX)
				return fail(p, "domain too long");
			memcpy(dom + dl, p->lx.s + t.start, t.len);
			dl += t.len;
			want_label = 0;
		} else if (is_special(t, '.')) {
			if (dl + 1 > DMARC_DOMAIN_MAX)
				return fail(p, "domain too long");
			dom[dl++] = '.';
			want_label = 1;
		} else {
			break;
		}
		lex(&p->lx);
	}
	dom[dl] = '\0';
	for (size_t i = 0; i < dl; i++)
		if ((unsigned char)dom[i] >= 0x80)
			return fail(p, "non-ASCII domain (no A-label form)");
	if (!dkim_name_valid(dom, dl, 0))
		return fail(p, "bad domain");
	if (p->out->n == DMARC_FROM_ADDRS_MAX)
		return fail(p, "too many addresses");
	memcpy(p->out->domain[p->out->n], dom, dl + 1);
	ascii_lower_str(p->out->domain[p->out->n]);
	p->out->n++;
	return 0;
}

/* mailbox = name-addr / addr-spec; name-addr = [phrase] "<" [route] addr-spec ">" */
static int mailbox(struct parser *p, int allow_group)
{
	size_t start = p->lx.pos;
	struct tok t;
	size_t words = 0;
	for (;;) { /* a phrase, if that is what this is */
		t = lex(&p->lx);
		if (t.type == T_ATOM || t.type == T_QSTRING || is_special(t, '.'))
			words++;
		else
			break;
	}
	if (is_special(t, '<')) {
		t = peek(&p->lx);
		if (is_special(t, '@')) { /* obs-route: "@a,@b:" */
			do
				t = lex(&p->lx);
			while (t.type != T_END && t.type != T_ERROR && !is_special(t, ':') &&
			       !is_special(t, '>'));
			if (!is_special(t, ':'))
				return fail(p, "bad source route");
		}
		if (addr_spec(p) == -1)
			return -1;
		t = lex(&p->lx);
		if (!is_special(t, '>'))
			return fail(p, "missing '>'");
		return 0;
	}
	if (is_special(t, ':') && words > 0) {
		if (!allow_group)
			return fail(p, "group inside a group");
		/* group = phrase ":" [mailbox *("," mailbox)] ";" */
		for (;;) {
			t = peek(&p->lx);
			if (is_special(t, ';')) {
				lex(&p->lx);
				return 0;
			}
			if (is_special(t, ',')) {
				lex(&p->lx);
				continue;
			}
			if (t.type == T_END || t.type == T_ERROR)
				return fail_at(p, t, "group without ';'");
			if (mailbox(p, 0) == -1)
				return -1;
			t = peek(&p->lx);
			if (!is_special(t, ',') && !is_special(t, ';'))
				return fail(p, "junk after an address in a group");
		}
	}
	p->lx.pos = start;
	return addr_spec(p);
}

int dmarc_from_parse(const char *value, size_t len, struct dmarc_from *out, char *err,
                     size_t errlen)
{
	struct parser p = {{value, len, 0, NULL}, out, err, errlen};
	out->n = 0;
	if (len > DMARC_FROM_VALUE_MAX)
		return fail(&p, "field too long");
	for (;;) {
		struct tok t = peek(&p.lx);
		if (t.type == T_END)
			break;
		if (t.type == T_ERROR) {
			lex(&p.lx);
			return fail_at(&p, t, "unreadable");
		}
		if (is_special(t, ',')) { /* obs-mbox-list: empty elements */
			lex(&p.lx);
			continue;
		}
		if (mailbox(&p, 1) == -1)
			return -1;
		t = peek(&p.lx);
		if (t.type != T_END && !is_special(t, ','))
			return fail_at(&p, t, "junk after an address");
	}
	return 0;
}

int dmarc_author_domain(const char *const *values, const size_t *lens, size_t nvalues, char *out,
                        size_t outlen, char *err, size_t errlen)
{
	if (nvalues == 0) {
		err_set(err, errlen, "no From field");
		return -1;
	}
	if (nvalues > 1) {
		err_set(err, errlen, "%zu From fields", nvalues);
		return -1;
	}
	struct dmarc_from f;
	if (dmarc_from_parse(values[0], lens[0], &f, err, errlen) == -1)
		return -1;
	if (f.n == 0) {
		err_set(err, errlen, "From field without an address");
		return -1;
	}
	for (size_t i = 1; i < f.n; i++) {
		if (strcmp(f.domain[i], f.domain[0]) != 0) {
			err_set(err, errlen, "From addresses in different domains");
			return -1;
		}
	}
	if (strlen(f.domain[0]) >= outlen) {
		err_set(err, errlen, "author domain too long");
		return -1;
	}
	memcpy(out, f.domain[0], strlen(f.domain[0]) + 1);
	return 0;
}
