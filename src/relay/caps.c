/*
 * caps: the EHLO keyword parser. Each line is split into words at spaces
 * and tabs; the first word is the keyword ("AUTH=LOGIN PLAIN", the form
 * some servers still send for pre-RFC 2554 clients, counts as AUTH with
 * LOGIN and PLAIN). Nothing here can fail: a server's garbage only means
 * it offers less.
 */
#include "caps.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	unsigned flag;
} caps_keywords[] = {
    {"PIPELINING", CAPS_PIPELINING},
    {"SIZE", CAPS_SIZE},
    {"8BITMIME", CAPS_8BITMIME},
    {"SMTPUTF8", CAPS_SMTPUTF8},
    {"DSN", CAPS_DSN},
    {"STARTTLS", CAPS_STARTTLS},
    {"AUTH", CAPS_AUTH},
    {"ENHANCEDSTATUSCODES", CAPS_ENHANCEDSTATUSCODES},
    {"CHUNKING", CAPS_CHUNKING},
};

static const struct {
	const char *name;
	unsigned flag;
} caps_mechs[] = {
    {"PLAIN", CAPS_MECH_PLAIN},
    {"LOGIN", CAPS_MECH_LOGIN},
    {"CRAM-MD5", CAPS_MECH_CRAM_MD5},
    {"SCRAM-SHA-1", CAPS_MECH_SCRAM_SHA_1},
    {"SCRAM-SHA-256", CAPS_MECH_SCRAM_SHA_256},
    {"XOAUTH2", CAPS_MECH_XOAUTH2},
    {"OAUTHBEARER", CAPS_MECH_OAUTHBEARER},
    {"EXTERNAL", CAPS_MECH_EXTERNAL},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int caps_eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

static int caps_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Next word of s[*i..n): its start and length; 0 when there is none. */
static int caps_word(const char *s, size_t n, size_t *i, const char **w, size_t *wn)
{
	while (*i < n && caps_space(s[*i]))
		(*i)++;
	if (*i >= n)
		return 0;
	*w = s + *i;
	while (*i < n && !caps_space(s[*i]))
		(*i)++;
	*wn = (size_t)(s + *i - *w);
	return 1;
}

static void caps_add_mech(struct caps *c, const char *w, size_t wn)
{
	for (size_t k = 0; k < NELEM(caps_mechs); k++)
		if (caps_eq(w, wn, caps_mechs[k].name))
			c->mechs |= caps_mechs[k].flag;
}

/* "SIZE" [SP 1*DIGIT]: 0 (no limit) when absent, zero, not a number or beyond 2^64. */
static uint64_t caps_size(const char *w, size_t wn)
{
	uint64_t v = 0;
	if (wn == 0 || wn > 20)
		return 0;
	for (size_t k = 0; k < wn; k++) {
		if (w[k] < '0' || w[k] > '9')
			return 0;
		unsigned d = (unsigned)(w[k] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

void caps_parse_line(struct caps *c, const char *s, size_t n)
{
	size_t i = 0;
	const char *w;
	size_t wn;
	if (!caps_word(s, n, &i, &w, &wn))
		return;
	if (wn > 5 && strncasecmp(w, "AUTH=", 5) == 0) {
		c->flags |= CAPS_AUTH;
		caps_add_mech(c, w + 5, wn - 5);
		while (caps_word(s, n, &i, &w, &wn))
			caps_add_mech(c, w, wn);
		return;
	}
	unsigned flag = 0;
	for (size_t k = 0; k < NELEM(caps_keywords); k++)
		if (caps_eq(w, wn, caps_keywords[k].name))
			flag = caps_keywords[k].flag;
	c->flags |= flag;
	if (flag == CAPS_SIZE) {
		c->size_max = caps_word(s, n, &i, &w, &wn) ? caps_size(w, wn) : 0;
	} else if (flag == CAPS_AUTH) {
		while (caps_word(s, n, &i, &w, &wn))
			caps_add_mech(c, w, wn);
	}
}

void caps_parse(const struct reply *r, struct caps *c)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 1; i < r->nlines; i++) {
		size_t n;
		const char *s = reply_line(r, i, &n);
		caps_parse_line(c, s, n);
	}
}

char *caps_mechs_str(unsigned mechs, char *dst, size_t dstlen)
{
	size_t o = 0;
	if (dstlen == 0)
		return dst;
	dst[0] = 0;
	for (size_t k = 0; k < NELEM(caps_mechs); k++) {
		if (!(mechs & caps_mechs[k].flag))
			continue;
		int w = snprintf(dst + o, dstlen - o, "%s%s", o ? " " : "", caps_mechs[k].name);
		if (w < 0 || (size_t)w >= dstlen - o) {
			dst[o] = 0; /* whole names only */
			break;
		}
		o += (size_t)w;
	}
	return dst;
}
