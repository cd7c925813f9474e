/* addrlist: RFC 5322 address lists (see addrlist.h). */
#include "addrlist.h"

#include <string.h>

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
			if (u[l->pos] == '\0')
				break; /* never part of an address (and it would end our text) */
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
	addrlist_cb cb;
	void *arg;
	unsigned flags;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *why)
{
	err_set(p->err, p->errlen, "%s", why);
	return -1;
}

/* At token t, which was not what the grammar wanted: the lexer's reason
 * if it could not read a token at all, else why. */
static int fail_at(struct parser *p, struct tok t, const char *why)
{
	return fail(p, t.type == T_ERROR && p->lx.why ? p->lx.why : why);
}

/* Append the token's octets to dst (of dmax); -1 when it does not fit. */
static int take(const struct parser *p, struct tok t, char *dst, size_t *dl, size_t dmax)
{
	if (*dl + t.len > dmax)
		return -1;
	memcpy(dst + *dl, p->lx.s + t.start, t.len);
	*dl += t.len;
	return 0;
}

/* addr-spec = local-part "@" domain; handed to the callback. */
static int addr_spec(struct parser *p)
{
	struct addrlist_spec a;
	size_t n = 0;
	int after_word = 0;
	struct tok t = lex(&p->lx);
	if (t.type != T_ATOM && t.type != T_QSTRING)
		return fail_at(p, t, "no address");
	for (;;) { /* local-part: word *("." word), lenient about empty words */
		size_t before = p->lx.pos;
		if (n > 0)
			t = lex(&p->lx);
		if (is_special(t, '@') && n > 0)
			break;
		if ((p->flags & ADDRLIST_BARE) && after_word &&
		    (t.type == T_END || is_special(t, ',') || is_special(t, ';') ||
		     is_special(t, '>'))) {
			p->lx.pos = before; /* a bare local part: the caller qualifies it */
			a.text[n] = '\0';
			a.at = n;
			a.literal = 0;
			return p->cb(&a, p->arg, p->err, p->errlen);
		}
		int word = t.type == T_ATOM || t.type == T_QSTRING;
		if ((!word && !is_special(t, '.')) || (word && after_word))
			return fail_at(p, t, "address without '@'");
		if (take(p, t, a.text, &n, ADDRLIST_LOCAL_MAX) == -1)
			return fail(p, "local part too long");
		after_word = word;
	}
	a.at = n;
	a.text[n++] = '@';
	size_t dstart = n;
	a.literal = 0;
	t = peek(&p->lx);
	if (t.type == T_DLIT) {
		lex(&p->lx);
		if (take(p, t, a.text, &n, dstart + ADDRLIST_DOMAIN_MAX) == -1)
			return fail(p, "domain too long");
		a.literal = 1;
	} else {
		for (int want_label = 1;; lex(&p->lx)) {
			t = peek(&p->lx);
			if (want_label && t.type != T_ATOM)
				return fail_at(p, t, "bad domain");
			if (!want_label && !is_special(t, '.'))
				break;
			if (take(p, t, a.text, &n, dstart + ADDRLIST_DOMAIN_MAX) == -1)
				return fail(p, "domain too long");
			want_label = !want_label;
		}
	}
	a.text[n] = '\0';
	return p->cb(&a, p->arg, p->err, p->errlen);
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

int addrlist_parse(const char *value, size_t len, unsigned flags, addrlist_cb cb, void *arg,
                   char *err, size_t errlen)
{
	struct parser p = {{value, len, 0, NULL}, cb, arg, flags, err, errlen};
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
