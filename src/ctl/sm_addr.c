/* sm_addr: raven-sendmail's addresses (see sm_addr.h). */
#include "sm_addr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "addrlist.h"
#include "buf.h"
#include "config.h"
#include "route.h"
#include "util.h"
#include "xmalloc.h"

static int domain_is_local(const struct config *c, const char *domain)
{
	/* not postmaster: postmaster@hostname is always local (RFC 5321 §4.5.1) */
	struct route_request rq = {.local = "root", .domain = domain, .from = FROM_LOCAL};
	struct route_result rr;
	route_resolve(c, &rq, &rr);
	int local = rr.verdict == ROUTE_LOCAL || rr.verdict == ROUTE_UNKNOWN_USER;
	route_result_free(&rr);
	return local;
}

const char *sm_origin(const struct config *c)
{
	if (domain_is_local(c, c->hostname))
		return c->hostname;
	return domain_is_local(c, "localhost") ? "localhost" : c->hostname;
}

void sm_rcpts_free(struct sm_rcpts *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->addr[i]);
	free(r->addr);
	r->addr = NULL;
	r->n = 0;
}

/* A name without any of the characters an address or a list needs. */
static int bare_name(const char *s)
{
	return s[0] != '\0' && strpbrk(s, "@<>,;:\"()[]\\ \t\r\n") == NULL;
}

int sm_rcpts_add(struct sm_rcpts *r, const char *addr, const char *origin, char *err, size_t errlen)
{
	struct mailaddr a;
	struct smtp_reply why;
	char *q = strchr(addr, '@') ? xstrdup(addr) : xasprintf("%s@%s", addr, origin);
	int rc = addr_parse_mailbox(q, strlen(q), ADDR_ALLOW_UTF8, &a, &why);
	free(q);
	if (rc == -1) {
		err_set(err, errlen, "%s: %s", addr, why.text);
		return -1;
	}
	for (size_t i = 0; i < r->n; i++)
		if (strcasecmp(r->addr[i], a.text) == 0)
			return 0;
	r->addr = xreallocarray(r->addr, r->n + 1, sizeof(*r->addr));
	r->addr[r->n++] = xstrdup(a.text);
	return 0;
}

struct list_ctx {
	struct sm_rcpts *r;
	const char *origin;
	size_t seen;
};

static int list_one(const struct addrlist_spec *a, void *arg, char *err, size_t errlen)
{
	struct list_ctx *c = arg;
	c->seen++;
	return sm_rcpts_add(c->r, a->text, c->origin, err, errlen);
}

int sm_rcpts_add_arg(struct sm_rcpts *r, const char *arg, const char *origin, char *err,
                     size_t errlen)
{
	if (bare_name(arg))
		return sm_rcpts_add(r, arg, origin, err, errlen);
	struct list_ctx c = {r, origin, 0};
	char why[300];
	size_t before = r->n;
	if (addrlist_parse(arg, strlen(arg), ADDRLIST_BARE, list_one, &c, why, sizeof(why)) == -1) {
		err_set(err, errlen, "%s: %s", arg, why);
		while (r->n > before) /* all of the argument or nothing */
			free(r->addr[--r->n]);
		return -1;
	}
	if (c.seen == 0 && strpbrk(arg, ":;") == NULL) {
		err_set(err, errlen, "%s: no address", arg);
		return -1;
	}
	return 0;
}

int sm_sender(const char *arg, const char *origin, char *out, size_t outlen, char *err,
              size_t errlen)
{
	size_t n = strlen(arg);
	if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>') {
		arg++;
		n -= 2;
	}
	if (n == 0) {
		snprintf(out, outlen, "%s", "");
		return 0;
	}
	char *s = xstrndup(arg, n);
	if (bare_name(s)) {
		char *q = xasprintf("%s@%s", s, origin);
		free(s);
		s = q;
	}
	struct mailaddr a;
	struct smtp_reply why;
	int rc = addr_parse_mailbox(s, strlen(s), ADDR_ALLOW_UTF8, &a, &why);
	if (rc == -1)
		err_set(err, errlen, "%s: %s", s, why.text);
	else
		snprintf(out, outlen, "%s", a.text);
	free(s);
	return rc;
}

static int is_atext_phrase(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if (!isalnum(*u) && strchr("!#$%&'*+-/=?^_`{|}~ ", *u) == NULL)
			return 0;
	return 1;
}

char *sm_from_field(const char *fullname, const char *addr)
{
	struct buf b;
	buf_init(&b, 0);
	int ascii = 1, printable = 1;
	for (const unsigned char *u = (const unsigned char *)(fullname ? fullname : ""); *u; u++) {
		ascii &= *u < 0x80;
		printable &= *u >= 0x20 && *u != 0x7f;
	}
	if (fullname == NULL || fullname[0] == '\0' || !printable) {
		buf_append_str(&b, addr);
	} else if (!ascii) {
		/* RFC 2047 encoded words of at most 45 octets each (60 in base64) */
		size_t n = strlen(fullname);
		for (size_t i = 0; i < n;) {
			size_t k = n - i < 45 ? n - i : 45;
			while (i + k < n && k > 1 &&
			       ((unsigned char)fullname[i + k] & 0xc0) == 0x80)
				k--; /* never split a UTF-8 sequence */
			buf_printf(&b, "%s=?UTF-8?B?", i ? " " : "");
			buf_append_b64(&b, fullname + i, k);
			buf_append_str(&b, "?=");
			i += k;
		}
		buf_printf(&b, " <%s>", addr);
	} else if (is_atext_phrase(fullname)) {
		buf_printf(&b, "%s <%s>", fullname, addr);
	} else {
		buf_append_byte(&b, '"');
		for (const char *c = fullname; *c; c++) {
			if (*c == '"' || *c == '\\')
				buf_append_byte(&b, '\\');
			buf_append_byte(&b, (uint8_t)*c);
		}
		buf_printf(&b, "\" <%s>", addr);
	}
	char *s = buf_strdup(&b);
	buf_free(&b);
	return s;
}

void sm_gecos_name(const char *gecos, const char *login, char *out, size_t outlen)
{
	struct buf b;
	buf_init(&b, outlen > 0 ? outlen - 1 : 1);
	for (const char *c = gecos ? gecos : ""; *c && *c != ','; c++) {
		if (*c != '&') {
			buf_append_byte(&b, (uint8_t)*c);
			continue;
		}
		for (const char *l = login; *l; l++)
			buf_append_byte(&b,
			                (uint8_t)(l == login ? toupper((unsigned char)*l) : *l));
	}
	snprintf(out, outlen, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
	buf_free(&b);
}

void sm_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm);
}
