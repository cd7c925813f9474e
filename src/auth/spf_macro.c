/*
 * spf_macro: check and expand SPF macro strings (see spf_macro.h).
 *
 *   macro-string = *( macro-expand / macro-literal )
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   transformers = *DIGIT [ "r" ]
 *   delimiter    = "." / "-" / "+" / "," / "/" / "_" / "="
 *
 * One scanner (scan_macro) reads a macro-expand for both the check and the
 * expansion, so they cannot disagree about what is valid.
 */
#include "spf_macro.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xmalloc.h"

#define LETTERS    "slodiphcrtv"
#define EXP_ONLY   "crt"
#define DELIMITERS ".-+,/_="
#define DIGITS_MAX 1000 /* "%{d99999}" keeps every part, like any N >= parts */

/* One macro-expand, as read by scan_macro(). */
struct macro {
	char letter;   /* lowercase; 0 for %% %_ %- */
	int upper;     /* URL-escape the result */
	unsigned keep; /* rightmost parts to keep; 0: all */
	int reverse;
	char delims[sizeof(DELIMITERS)];
	const char *literal; /* for %% %_ %- */
};

/*
 * Read the macro-expand at s[*i] (which is '%') and move *i past it.
 * -1 with a reason if it is not valid in this context.
 */
static int scan_macro(const char *s, size_t len, size_t *i, unsigned flags, struct macro *m,
                      char *err, size_t errlen)
{
	size_t at = *i;
	memset(m, 0, sizeof(*m));
	if (at + 1 >= len) {
		err_set(err, errlen, "'%%' at the end of a macro string");
		return -1;
	}
	char c = s[at + 1];
	if (c == '%' || c == '_' || c == '-') {
		m->literal = c == '%' ? "%" : c == '_' ? " " : "%20";
		*i = at + 2;
		return 0;
	}
	if (c != '{') {
		err_set(err, errlen, "'%%' followed by '%c' (invalid macro)",
		        isprint((unsigned char)c) ? c : '?');
		return -1;
	}
	size_t j = at + 2;
	if (j >= len || s[j] == 0 || !strchr(LETTERS, tolower((unsigned char)s[j]))) {
		err_set(err, errlen, "unknown macro letter in %%{...}");
		return -1;
	}
	m->letter = (char)tolower((unsigned char)s[j]);
	m->upper = isupper((unsigned char)s[j]) != 0;
	if (!(flags & SPF_MACRO_EXP) && strchr(EXP_ONLY, m->letter)) {
		err_set(err, errlen, "macro %%{%c} is allowed in explanations only", s[j]);
		return -1;
	}
	j++;
	int digits = 0;
	unsigned n = 0;
	while (j < len && isdigit((unsigned char)s[j])) {
		n = n * 10 + (unsigned)(s[j] - '0');
		if (n > DIGITS_MAX)
			n = DIGITS_MAX;
		digits = 1;
		j++;
	}
	if (digits && n == 0) {
		err_set(err, errlen, "macro transformer 0 (must keep at least one part)");
		return -1;
	}
	m->keep = n;
	if (j < len && (s[j] == 'r' || s[j] == 'R')) {
		m->reverse = 1;
		j++;
	}
	size_t nd = 0;
	while (j < len && s[j] != 0 && strchr(DELIMITERS, s[j])) {
		if (!memchr(m->delims, s[j], nd))
			m->delims[nd++] = s[j];
		j++;
	}
	if (j >= len || s[j] != '}') {
		err_set(err, errlen, "macro %%{...} not closed by '}'");
		return -1;
	}
	*i = j + 1;
	return 0;
}

/* A literal octet: visible ASCII but '%' (and space in explanations). */
static int literal_ok(unsigned char c, unsigned flags)
{
	if (c == ' ')
		return (flags & SPF_MACRO_EXP) != 0;
	return c > 0x20 && c < 0x7f && c != '%';
}

int spf_macro_check(const char *s, size_t len, unsigned flags, unsigned *letters, char *err,
                    size_t errlen)
{
	unsigned used = 0;
	for (size_t i = 0; i < len;) {
		if (s[i] == '%') {
			struct macro m;
			if (scan_macro(s, len, &i, flags, &m, err, errlen) == -1)
				return -1;
			if (m.letter)
				used |= SPF_LETTER(m.letter);
			continue;
		}
		if (!literal_ok((unsigned char)s[i], flags)) {
			err_set(err, errlen, "character 0x%02x not allowed in a macro string",
			        (unsigned char)s[i]);
			return -1;
		}
		i++;
	}
	if (letters)
		*letters = used;
	return 0;
}

/*
 * toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 */
static int toplabel_ok(const char *s, size_t len)
{
	int alpha = 0, hyphen = 0;
	if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalpha(c))
			alpha = 1;
		else if (c == '-')
			hyphen = 1;
		else if (!isdigit(c))
			return 0;
	}
	return alpha || hyphen;
}

int spf_domain_spec_check(const char *s, size_t len, unsigned *letters, char *err, size_t errlen)
{
	if (len == 0) {
		err_set(err, errlen, "empty domain-spec");
		return -1;
	}
	if (spf_macro_check(s, len, 0, letters, err, errlen) == -1)
		return -1;
	/* Where does the last macro-expand end? */
	size_t last_macro_end = 0;
	for (size_t i = 0; i < len;) {
		if (s[i] == '%') {
			struct macro m;
			scan_macro(s, len, &i, 0, &m, NULL, 0); /* valid: checked above */
			last_macro_end = i;
		} else {
			i++;
		}
	}
	size_t end = len;
	if (end > 1 && s[end - 1] == '.')
		end--; /* one trailing dot is allowed */
	if (last_macro_end == end)
		return 0; /* domain-end = macro-expand */
	size_t dot = end;
	while (dot > 0 && s[dot - 1] != '.')
		dot--;
	if (dot == 0 || dot <= last_macro_end || !toplabel_ok(s + dot, end - dot)) {
		err_set(err, errlen, "domain-spec \"%.*s\" does not end in a valid top label",
		        (int)(len < 64 ? len : 64), s);
		return -1;
	}
	return 0;
}

/* A part of a macro's value: the text between two delimiters. */
struct part {
	const char *p;
	size_t len;
};

static int append_part(const struct macro *m, const struct part *pt, struct buf *out)
{
	for (size_t x = 0; x < pt->len; x++) {
		unsigned char c = (unsigned char)pt->p[x];
		int r;
		/* URL-escape all but RFC 3986 "unreserved" (§7.3) */
		if (m->upper && !(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'))
			r = buf_printf(out, "%%%02X", c);
		else
			r = buf_append_byte(out, c);
		if (r == -1)
			return -1;
	}
	return 0;
}

/* Append value transformed by m: split on the delimiters, maybe reverse,
 * keep the rightmost parts, join with dots, maybe URL-escape. */
static int expand_one(const struct macro *m, const char *value, struct buf *out)
{
	const char *delims = m->delims[0] ? m->delims : ".";
	size_t n = 1;
	for (const char *c = value; *c; c++)
		n += strchr(delims, *c) != NULL;
	struct part *parts = xcalloc(n, sizeof(*parts));
	const char *p = value;
	for (size_t k = 0; k < n; k++) {
		parts[k].p = p;
		parts[k].len = strcspn(p, delims);
		p += parts[k].len + 1;
	}
	for (size_t a = 0, b = n - 1; m->reverse && a < b; a++, b--) {
		struct part t = parts[a];
		parts[a] = parts[b];
		parts[b] = t;
	}
	size_t first = m->keep && m->keep < n ? n - m->keep : 0;
	int rc = 0;
	for (size_t k = first; k < n && rc == 0; k++) {
		if (k > first && buf_append_byte(out, '.') == -1)
			rc = -1;
		else
			rc = append_part(m, &parts[k], out);
	}
	free(parts);
	return rc;
}

static const char *letter_value(const struct spf_macro_env *env, char letter)
{
	switch (letter) {
	case 's':
		return env->s;
	case 'l':
		return env->l;
	case 'o':
		return env->o;
	case 'd':
		return env->d;
	case 'i':
		return env->i;
	case 'p':
		return env->p;
	case 'v':
		return env->v;
	case 'h':
		return env->h;
	case 'c':
		return env->c;
	case 'r':
		return env->r;
	case 't':
		return env->t;
	}
	return NULL;
}

int spf_macro_expand(const char *s, size_t len, unsigned flags, const struct spf_macro_env *env,
                     struct buf *out, char *err, size_t errlen)
{
	size_t start = out->len, max = out->max;
	if (out->max - out->len > SPF_EXPAND_MAX)
		out->max = out->len + SPF_EXPAND_MAX;
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		if (s[i] != '%') {
			if (!literal_ok((unsigned char)s[i], flags)) {
				err_set(err, errlen,
				        "character 0x%02x not allowed in a macro string",
				        (unsigned char)s[i]);
				rc = -1;
				break;
			}
			if (buf_append_byte(out, (uint8_t)s[i++]) == -1)
				goto toolong;
			continue;
		}
		struct macro m;
		if (scan_macro(s, len, &i, flags, &m, err, errlen) == -1) {
			rc = -1;
			break;
		}
		if (m.literal) {
			if (buf_append_str(out, m.literal) == -1)
				goto toolong;
			continue;
		}
		const char *v = letter_value(env, m.letter);
		if (v == NULL) {
			err_set(err, errlen, "no value for macro %%{%c}", m.letter);
			rc = -1;
			break;
		}
		if (expand_one(&m, v, out) == -1)
			goto toolong;
	}
	out->max = max;
	if (rc == -1)
		out->len = start;
	return rc;
toolong:
	out->max = max;
	out->len = start;
	err_set(err, errlen, "macro expansion longer than %d octets", SPF_EXPAND_MAX);
	return -1;
}

void spf_domain_truncate(char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[--len] = 0;
	char *p = name;
	while (len > 253) {
		char *dot = strchr(p, '.');
		if (dot == NULL)
			break; /* one label longer than 253: refused later as a name */
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	if (p != name)
		memmove(name, p, len + 1);
}
