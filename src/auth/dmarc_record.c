/*
 * dmarc_record: the DMARC policy record parser (RFC 7489 §6.3, §6.4),
 * pure and bounded. Where OpenDMARC is more lenient the RFC wins: p= must
 * be none, quarantine or reject; a record whose p= (or sp=) is missing or
 * bad counts as p=none only when it has a valid rua= URI (§6.6.3), and is
 * refused otherwise. Other known tags with bad values make the record
 * invalid; unknown tags are ignored (§6.3).
 */
#include "dmarc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define TAGS_MAX 32

struct dtag {
	const char *name, *value;
	size_t nlen, vlen;
};

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

int dmarc_record_is_dmarc(const char *txt, size_t len)
{
	size_t i = 0;
	while (i < len && is_wsp((unsigned char)txt[i]))
		i++;
	if (i == len || (txt[i] != 'v' && txt[i] != 'V'))
		return 0;
	i++;
	while (i < len && is_wsp((unsigned char)txt[i]))
		i++;
	if (i == len || txt[i] != '=')
		return 0;
	i++;
	while (i < len && is_wsp((unsigned char)txt[i]))
		i++;
	/* "DMARC1" is case-sensitive (%x44.4d.41.52.43.31 in the ABNF). */
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return 0;
	i += 6;
	while (i < len && is_wsp((unsigned char)txt[i]))
		i++;
	return i == len || txt[i] == ';';
}

static int word_is(const struct dtag *t, const char *w)
{
	return t->vlen == strlen(w) && strncasecmp(t->value, w, t->vlen) == 0;
}

static int parse_policy(const struct dtag *t, enum dmarc_policy *p)
{
	if (word_is(t, "none"))
		*p = DMARC_POLICY_NONE;
	else if (word_is(t, "quarantine"))
		*p = DMARC_POLICY_QUARANTINE;
	else if (word_is(t, "reject"))
		*p = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

static int parse_align(const struct dtag *t, enum dmarc_align *a)
{
	if (word_is(t, "r"))
		*a = DMARC_ALIGN_RELAXED;
	else if (word_is(t, "s"))
		*a = DMARC_ALIGN_STRICT;
	else
		return -1;
	return 0;
}

static int parse_ulong(const struct dtag *t, unsigned long max, unsigned long *out)
{
	if (t->vlen == 0 || t->vlen > 10)
		return -1;
	unsigned long v = 0;
	for (size_t i = 0; i < t->vlen; i++) {
		if (!is_digit((unsigned char)t->value[i]))
			return -1;
		v = v * 10 + (unsigned long)(t->value[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* One dmarc-uri: URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]. The URI
 * must have a scheme and something after it, without spaces; unknown
 * schemes are valid syntax, merely unusable (reporting is not done here). */
static int uri_valid(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !is_alpha((unsigned char)s[0]))
		return 0;
	while (i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
	                   s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i == len || s[i] != ':')
		return 0;
	size_t body = ++i;
	while (i < len && s[i] != '!') {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
		    c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
			return 0;
		i++;
	}
	if (i == body)
		return 0;
	if (i < len) { /* size limit */
		i++;
		size_t d = i;
		while (i < len && is_digit((unsigned char)s[i]))
			i++;
		if (i == d)
			return 0;
		if (i < len && strchr("kmgtKMGT", s[i]) != NULL)
			i++;
		if (i != len)
			return 0;
	}
	return 1;
}

static size_t count_uris(const struct dtag *t)
{
	size_t n = 0, i = 0;
	while (i <= t->vlen) {
		size_t a = i;
		while (i < t->vlen && t->value[i] != ',')
			i++;
		size_t b = i;
		while (a < b && is_wsp((unsigned char)t->value[a]))
			a++;
		while (b > a && is_wsp((unsigned char)t->value[b - 1]))
			b--;
		n += uri_valid(t->value + a, b - a);
		i++;
	}
	return n;
}

/* A ':'-separated list whose every element is one of the words. */
static int parse_list(const struct dtag *t, const char *const *words, unsigned *bits)
{
	size_t i = 0;
	*bits = 0;
	while (i <= t->vlen) {
		size_t a = i;
		while (i < t->vlen && t->value[i] != ':')
			i++;
		size_t b = i;
		while (a < b && is_wsp((unsigned char)t->value[a]))
			a++;
		while (b > a && is_wsp((unsigned char)t->value[b - 1]))
			b--;
		int found = 0;
		for (unsigned k = 0; words[k] != NULL; k++) {
			if (b - a == strlen(words[k]) &&
			    strncasecmp(t->value + a, words[k], b - a) == 0) {
				*bits |= 1u << k;
				found = 1;
			}
		}
		if (!found)
			return -1;
		i++;
	}
	return 0;
}

static int split(const char *txt, size_t len, struct dtag *tags, size_t *n, char *err,
                 size_t errlen)
{
	size_t i = 0, nt = 0;
	while (i < len) {
		size_t a = i;
		while (i < len && txt[i] != ';')
			i++;
		size_t b = i++;
		while (a < b && is_wsp((unsigned char)txt[a]))
			a++;
		while (b > a && is_wsp((unsigned char)txt[b - 1]))
			b--;
		if (a == b)
			continue; /* "p=none;;" and a trailing ';' are harmless */
		const char *eq = memchr(txt + a, '=', b - a);
		if (eq == NULL) {
			err_set(err, errlen, "tag without '='");
			return -1;
		}
		size_t ne = (size_t)(eq - txt), vs = ne + 1;
		while (ne > a && is_wsp((unsigned char)txt[ne - 1]))
			ne--;
		while (vs < b && is_wsp((unsigned char)txt[vs]))
			vs++;
		if (ne == a) {
			err_set(err, errlen, "empty tag name");
			return -1;
		}
		for (size_t k = a; k < ne; k++) {
			/* unknown tags are ignored (§6.3), so be lenient about
			 * their names: '-' as well as DKIM's ALNUMPUNC */
			if (!is_alpha((unsigned char)txt[k]) && !is_digit((unsigned char)txt[k]) &&
			    txt[k] != '_' && txt[k] != '-') {
				err_set(err, errlen, "bad tag name");
				return -1;
			}
		}
		for (size_t k = 0; k < nt; k++) {
			if (tags[k].nlen == ne - a &&
			    strncasecmp(tags[k].name, txt + a, ne - a) == 0) {
				err_set(err, errlen, "duplicate tag %.*s", (int)(ne - a), txt + a);
				return -1;
			}
		}
		if (nt == TAGS_MAX) {
			err_set(err, errlen, "too many tags");
			return -1;
		}
		tags[nt].name = txt + a;
		tags[nt].nlen = ne - a;
		tags[nt].value = txt + vs;
		tags[nt].vlen = b - vs;
		nt++;
	}
	*n = nt;
	return 0;
}

static const struct dtag *get(const struct dtag *tags, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (tags[i].nlen == strlen(name) &&
		    strncasecmp(tags[i].name, name, tags[i].nlen) == 0)
			return &tags[i];
	return NULL;
}

static void copy_value(char *dst, size_t dstlen, const struct dtag *t)
{
	size_t n = t->vlen < dstlen - 1 ? t->vlen : dstlen - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t->value[i];
		dst[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
}

int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r, char *err,
                       size_t errlen)
{
	struct dtag tags[TAGS_MAX];
	size_t n;
	memset(r, 0, sizeof(*r));
	if (len == 0) {
		err_set(err, errlen, "empty record");
		return -1;
	}
	if (!dmarc_record_is_dmarc(txt, len)) {
		err_set(err, errlen, "not a DMARC1 record (v=DMARC1 first)");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)txt[i] < 0x20 && !is_wsp((unsigned char)txt[i])) {
			err_set(err, errlen, "control character in record");
			return -1;
		}
	}
	if (split(txt, len, tags, &n, err, errlen) == -1)
		return -1;
	const struct dtag *p = get(tags, n, "p"), *sp = get(tags, n, "sp"),
	                  *pct = get(tags, n, "pct"), *adkim = get(tags, n, "adkim"),
	                  *aspf = get(tags, n, "aspf"), *rua = get(tags, n, "rua"),
	                  *ruf = get(tags, n, "ruf"), *fo = get(tags, n, "fo"),
	                  *rf = get(tags, n, "rf"), *ri = get(tags, n, "ri");
	unsigned long ul;
	r->pct = 100;
	r->ri = 86400;
	r->fo = DMARC_FO_0;
	if (rua) {
		r->nrua = count_uris(rua);
		copy_value(r->rua, sizeof(r->rua), rua);
	}
	if (ruf) {
		r->nruf = count_uris(ruf);
		copy_value(r->ruf, sizeof(r->ruf), ruf);
	}
	int bad_p = p == NULL || parse_policy(p, &r->p) == -1;
	int bad_sp = sp != NULL && parse_policy(sp, &r->sp) == -1;
	if (bad_p || bad_sp) {
		if (r->nrua == 0) {
			err_set(err, errlen,
			        p == NULL ? "no p= tag"
			        : bad_p   ? "bad p= value"
			                  : "bad sp= value");
			return -1;
		}
		/* RFC 7489 §6.6.3: act as if p=none was published. */
		r->p = r->sp = DMARC_POLICY_NONE;
		r->p_from_rua = 1;
	} else if (sp == NULL) {
		r->sp = r->p;
	}
	if (pct) {
		if (parse_ulong(pct, 100, &ul) == -1) {
			err_set(err, errlen, "bad pct= value");
			return -1;
		}
		r->pct = (unsigned)ul;
	}
	if (adkim && parse_align(adkim, &r->adkim) == -1) {
		err_set(err, errlen, "bad adkim= value");
		return -1;
	}
	if (aspf && parse_align(aspf, &r->aspf) == -1) {
		err_set(err, errlen, "bad aspf= value");
		return -1;
	}
	static const char *const fo_words[] = {"0", "1", "d", "s", NULL};
	if (fo && parse_list(fo, fo_words, &r->fo) == -1) {
		err_set(err, errlen, "bad fo= value");
		return -1;
	}
	static const char *const rf_words[] = {"afrf", NULL};
	unsigned rfbits;
	if (rf && parse_list(rf, rf_words, &rfbits) == -1) {
		err_set(err, errlen, "bad rf= value");
		return -1;
	}
	if (ri) {
		if (parse_ulong(ri, 4294967295UL, &ul) == -1) {
			err_set(err, errlen, "bad ri= value");
			return -1;
		}
		r->ri = ul;
	}
	return 0;
}
