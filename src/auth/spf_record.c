/*
 * spf_record: parse an SPF record into terms (see spf_record.h).
 *
 *   record    = "v=spf1" *( 1*SP ( directive / modifier ) ) *SP
 *   directive = [ qualifier ] mechanism
 *   modifier  = redirect / explanation / unknown-modifier
 *   unknown-modifier = name "=" macro-string
 *   name      = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 *
 * A term that starts with a valid name and "=" is a modifier; anything else
 * is a mechanism. "redirect" and "exp" are never unknown modifiers: their
 * syntax errors are errors (the suite's "redirect-syntax-error").
 */
#include "spf_record.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf_macro.h"
#include "util.h"
#include "xmalloc.h"

int spf_record_is_spf(const uint8_t *txt, size_t len)
{
	return len >= 6 && strncasecmp((const char *)txt, "v=spf1", 6) == 0 &&
	       (len == 6 || txt[6] == ' ');
}

const char *spf_mech_name(enum spf_mech m)
{
	static const char *names[] = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"};
	return names[m];
}

/* A CIDR length: 1*DIGIT without leading zeros, at most max. */
static int cidr_value(const char *s, size_t len, int max)
{
	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Length of a trailing "/" 1*DIGIT (not "//"), or 0. */
static size_t tail_cidr(const char *s, size_t len, int twoslash)
{
	size_t d = len;
	while (d > 0 && isdigit((unsigned char)s[d - 1]))
		d--;
	if (d == len || d == 0 || s[d - 1] != '/')
		return 0;
	int two = d >= 2 && s[d - 2] == '/';
	if (two != twoslash)
		return 0;
	return len - d + (twoslash ? 2 : 1);
}

/*
 * a / mx: [ ":" domain-spec ] [ "/" ip4-cidr ] [ "//" ip6-cidr ]. The
 * domain-spec may itself hold "/" ("a:foo:bar/baz.example.com"), so the
 * lengths are taken from the end.
 */
static int parse_dual(const char *rest, size_t len, struct spf_term *t, char *err, size_t errlen)
{
	size_t n;
	t->cidr4 = 32;
	t->cidr6 = 128;
	if ((n = tail_cidr(rest, len, 1)) > 0) {
		if ((t->cidr6 = cidr_value(rest + len - n + 2, n - 2, 128)) < 0)
			goto bad_cidr;
		len -= n;
	}
	if ((n = tail_cidr(rest, len, 0)) > 0) {
		if ((t->cidr4 = cidr_value(rest + len - n + 1, n - 1, 32)) < 0)
			goto bad_cidr;
		len -= n;
	}
	if (len == 0)
		return 0;
	if (rest[0] != ':') {
		err_set(err, errlen, "unexpected \"%.*s\" after %s", (int)(len < 40 ? len : 40),
		        rest, spf_mech_name(t->mech));
		return -1;
	}
	if (spf_domain_spec_check(rest + 1, len - 1, &t->letters, err, errlen) == -1)
		return -1;
	t->spec = xstrndup(rest + 1, len - 1);
	return 0;
bad_cidr:
	err_set(err, errlen, "invalid CIDR length in %s", spf_mech_name(t->mech));
	return -1;
}

/* ip4 / ip6: ":" network [ "/" length ]. */
static int parse_ip(const char *rest, size_t len, struct spf_term *t, char *err, size_t errlen)
{
	int v6 = t->mech == SPF_MECH_IP6;
	char net[INET6_ADDRSTRLEN + 1];
	if (len < 2 || rest[0] != ':')
		goto bad;
	const char *slash = memchr(rest, '/', len);
	size_t nlen = (slash ? (size_t)(slash - rest) : len) - 1;
	if (nlen == 0 || nlen >= sizeof(net))
		goto bad;
	memcpy(net, rest + 1, nlen);
	net[nlen] = 0;
	if (!v6) {
		/* ip4-network = qnum "." qnum "." qnum "." qnum, no leading zeros */
		const char *p = net;
		for (int q = 0; q < 4; q++) {
			size_t d = strspn(p, "0123456789");
			int v = cidr_value(p, d, 255);
			if (v < 0 || (q < 3 ? p[d] != '.' : p[d] != 0))
				goto bad;
			t->net[q] = (uint8_t)v;
			p += d + 1;
		}
	} else if (strspn(net, "0123456789abcdefABCDEF:.") != nlen ||
	           inet_pton(AF_INET6, net, t->net) != 1) {
		goto bad;
	}
	int max = v6 ? 128 : 32;
	int cidr = max;
	if (slash && (cidr = cidr_value(slash + 1, len - (size_t)(slash - rest) - 1, max)) < 0) {
		err_set(err, errlen, "invalid CIDR length in %s", spf_mech_name(t->mech));
		return -1;
	}
	if (v6)
		t->cidr6 = cidr;
	else
		t->cidr4 = cidr;
	return 0;
bad:
	err_set(err, errlen, "invalid %s network", spf_mech_name(t->mech));
	return -1;
}

static int parse_mechanism(const char *s, size_t len, struct spf_term *t, char *err, size_t errlen)
{
	t->qual = SPF_PASS;
	if (len > 0 && strchr("+-~?", s[0])) {
		t->qual = s[0] == '+'   ? SPF_PASS
		          : s[0] == '-' ? SPF_FAIL
		          : s[0] == '~' ? SPF_SOFTFAIL
		                        : SPF_NEUTRAL;
		s++;
		len--;
	}
	size_t nlen = 0;
	while (nlen < len && s[nlen] != ':' && s[nlen] != '/')
		nlen++;
	static const enum spf_mech all[] = {SPF_MECH_ALL, SPF_MECH_INCLUDE, SPF_MECH_A,
	                                    SPF_MECH_MX,  SPF_MECH_PTR,     SPF_MECH_IP4,
	                                    SPF_MECH_IP6, SPF_MECH_EXISTS};
	size_t m;
	for (m = 0; m < sizeof(all) / sizeof(all[0]); m++)
		if (strlen(spf_mech_name(all[m])) == nlen &&
		    strncasecmp(s, spf_mech_name(all[m]), nlen) == 0)
			break;
	if (m == sizeof(all) / sizeof(all[0])) {
		err_set(err, errlen, "unknown mechanism \"%.*s\"", (int)(nlen < 40 ? nlen : 40), s);
		return -1;
	}
	t->mech = all[m];
	const char *rest = s + nlen;
	size_t rlen = len - nlen;
	switch (t->mech) {
	case SPF_MECH_ALL:
		if (rlen == 0)
			return 0;
		err_set(err, errlen, "\"all\" takes no argument");
		return -1;
	case SPF_MECH_INCLUDE:
	case SPF_MECH_EXISTS:
	case SPF_MECH_PTR:
		if (rlen == 0 && t->mech == SPF_MECH_PTR)
			return 0;
		if (rlen == 0 || rest[0] != ':') {
			err_set(err, errlen,
			        t->mech == SPF_MECH_PTR ? "%s takes only \":domain\""
			                                : "%s needs \":domain\"",
			        spf_mech_name(t->mech));
			return -1;
		}
		if (spf_domain_spec_check(rest + 1, rlen - 1, &t->letters, err, errlen) == -1)
			return -1;
		t->spec = xstrndup(rest + 1, rlen - 1);
		return 0;
	case SPF_MECH_A:
	case SPF_MECH_MX:
		return parse_dual(rest, rlen, t, err, errlen);
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		return parse_ip(rest, rlen, t, err, errlen);
	}
	return -1;
}

/* Length of the modifier name at s if s is "name=...", else 0. */
static size_t modifier_name(const char *s, size_t len)
{
	if (len == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	size_t n = 1;
	while (n < len && (isalnum((unsigned char)s[n]) || strchr("-_.", s[n])))
		n++;
	return n < len && s[n] == '=' ? n : 0;
}

static int parse_modifier(const char *s, size_t nlen, size_t len, struct spf_record *rec, char *err,
                          size_t errlen)
{
	const char *val = s + nlen + 1;
	size_t vlen = len - nlen - 1;
	char **slot = NULL;
	unsigned *letters = NULL;
	if (nlen == 8 && strncasecmp(s, "redirect", 8) == 0) {
		slot = &rec->redirect;
		letters = &rec->redirect_letters;
	} else if (nlen == 3 && strncasecmp(s, "exp", 3) == 0) {
		slot = &rec->exp;
		letters = &rec->exp_letters;
	}
	if (slot == NULL) /* unknown modifiers are ignored, but must be valid */
		return spf_macro_check(val, vlen, SPF_MACRO_EXP, NULL, err, errlen);
	if (*slot) {
		err_set(err, errlen, "%.*s= given twice", (int)nlen, s);
		return -1;
	}
	if (spf_domain_spec_check(val, vlen, letters, err, errlen) == -1)
		return -1;
	*slot = xstrndup(val, vlen);
	return 0;
}

int spf_record_parse(const char *txt, size_t len, struct spf_record *rec, char *err, size_t errlen)
{
	memset(rec, 0, sizeof(*rec));
	if (!spf_record_is_spf((const uint8_t *)txt, len)) {
		err_set(err, errlen, "not an SPF record");
		return -1;
	}
	if (len > SPF_RECORD_MAX) {
		err_set(err, errlen, "record longer than %d octets", SPF_RECORD_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)txt[i];
		if (c < 0x20 || c > 0x7e) {
			err_set(err, errlen, "character 0x%02x in the record (ASCII only, §3.1)",
			        c);
			return -1;
		}
	}
	size_t cap = 0;
	for (size_t i = 6; i < len;) {
		if (txt[i] == ' ') {
			i++;
			continue;
		}
		size_t tlen = 0;
		while (i + tlen < len && txt[i + tlen] != ' ')
			tlen++;
		const char *t = txt + i;
		i += tlen;
		size_t nlen = modifier_name(t, tlen);
		if (nlen > 0) {
			if (parse_modifier(t, nlen, tlen, rec, err, errlen) == -1)
				goto fail;
			continue;
		}
		if (rec->nterm == SPF_TERMS_MAX) {
			err_set(err, errlen, "more than %d terms", SPF_TERMS_MAX);
			goto fail;
		}
		if (rec->nterm == cap) {
			cap = cap ? cap * 2 : 8;
			rec->term = xreallocarray(rec->term, cap, sizeof(*rec->term));
		}
		struct spf_term *term = &rec->term[rec->nterm];
		memset(term, 0, sizeof(*term));
		if (parse_mechanism(t, tlen, term, err, errlen) == -1) {
			free(term->spec);
			goto fail;
		}
		term->text = xstrndup(t, tlen);
		rec->nterm++;
	}
	return 0;
fail:
	spf_record_free(rec);
	return -1;
}

void spf_record_free(struct spf_record *rec)
{
	for (size_t i = 0; i < rec->nterm; i++) {
		free(rec->term[i].spec);
		free(rec->term[i].text);
	}
	free(rec->term);
	free(rec->redirect);
	free(rec->exp);
	memset(rec, 0, sizeof(*rec));
}
