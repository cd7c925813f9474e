/*
 * dkim_tags: tag=value lists, the DKIM-Signature field and the key record
 * (see dkim_tags.h). Pure functions over bounded input.
 */
#include "dkim_tags.h"

#include <string.h>
#include <strings.h>

#include "util.h"

static int is_fws(unsigned char c)
{
	/* CR and LF only ever appear as folding here (the header collector and
	 * DNS strings give no other line ends), so they count as whitespace. */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

int dkim_tags_parse(const char *s, size_t len, struct dkim_tag *tags, size_t max, size_t *n,
                    char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, nt = 0;
	*n = 0;
	for (;;) {
		while (i < len && is_fws(u[i]))
			i++;
		if (i == len) {
			if (nt == 0) {
				err_set(err, errlen, "empty tag list");
				return -1;
			}
			break; /* a trailing ';' */
		}
		if (!is_alpha(u[i])) {
			err_set(err, errlen, "bad tag name at offset %zu", i);
			return -1;
		}
		size_t name = i;
		while (i < len && (is_alpha(u[i]) || is_digit(u[i]) || u[i] == '_'))
			i++;
		size_t name_len = i - name;
		while (i < len && is_fws(u[i]))
			i++;
		if (i == len || u[i] != '=') {
			err_set(err, errlen, "tag \"%.*s\" without '='",
			        (int)(name_len > 32 ? 32 : name_len), s + name);
			return -1;
		}
		i++;
		size_t raw_start = i;
		while (i < len && is_fws(u[i]))
			i++;
		size_t vstart = i, vend = i;
		while (i < len && u[i] != ';') {
			if ((u[i] < 0x21 && !is_fws(u[i])) || u[i] == 0x7f) {
				err_set(err, errlen, "control character in tag \"%.*s\"",
				        (int)(name_len > 32 ? 32 : name_len), s + name);
				return -1;
			}
			if (!is_fws(u[i]))
				vend = i + 1;
			i++;
		}
		for (size_t k = 0; k < nt; k++) {
			if (tags[k].name_len == name_len &&
			    memcmp(tags[k].name, s + name, name_len) == 0) {
				err_set(err, errlen, "duplicate tag \"%.*s\"",
				        (int)(name_len > 32 ? 32 : name_len), s + name);
				return -1;
			}
		}
		if (nt == max) {
			err_set(err, errlen, "more than %zu tags", max);
			return -1;
		}
		tags[nt].name = s + name;
		tags[nt].name_len = name_len;
		tags[nt].value = s + vstart;
		tags[nt].value_len = vend - vstart;
		tags[nt].raw_start = raw_start;
		tags[nt].raw_end = i;
		nt++;
		if (i == len)
			break;
		i++; /* the ';' */
	}
	*n = nt;
	return 0;
}

int dkim_base64_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0, q = 0, pad = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64_digit(c);
		if (v < 0 || pad > 0)
			return -1;
		q++;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == max)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (pad > 2 || q % 4 == 1 || (pad > 0 && (q + pad) % 4 != 0))
		return -1;
	*outlen = n;
	return 0;
}

int dkim_name_valid(const char *s, size_t len, int selector)
{
	if (len == 0 || len > DKIM_DOMAIN_MAX)
		return 0;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && !(selector && c == '_'))
			return 0;
		label++;
	}
	return 1;
}

static const struct dkim_tag *tag_get(const struct dkim_tag *tags, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n; i++)
		if (tags[i].name_len == nl && memcmp(tags[i].name, name, nl) == 0)
			return &tags[i];
	return NULL;
}

static int value_is(const struct dkim_tag *t, const char *word)
{
	return t->value_len == strlen(word) && strncasecmp(t->value, word, t->value_len) == 0;
}

/* 1 if word is an element of a ':'-separated tag value (FWS trimmed, any case). */
static int list_has(const char *v, size_t len, const char *word)
{
	size_t i = 0, wl = strlen(word);
	while (i <= len) {
		size_t a = i;
		while (i < len && v[i] != ':')
			i++;
		size_t b = i;
		while (a < b && is_fws((unsigned char)v[a]))
			a++;
		while (b > a && is_fws((unsigned char)v[b - 1]))
			b--;
		if (b - a == wl && strncasecmp(v + a, word, wl) == 0)
			return 1;
		i++;
	}
	return 0;
}

/* Digits only, at most maxdigits; saturates at UINT64_MAX. */
static int parse_uint(const struct dkim_tag *t, size_t maxdigits, uint64_t *out)
{
	if (t->value_len == 0 || t->value_len > maxdigits)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < t->value_len; i++) {
		if (!is_digit((unsigned char)t->value[i]))
			return -1;
		unsigned d = (unsigned)(t->value[i] - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*out = v;
	return 0;
}

static void copy_name(char *dst, const struct dkim_tag *t)
{
	memcpy(dst, t->value, t->value_len);
	dst[t->value_len] = '\0';
}

static int parse_h(struct dkim_sig *sig, const struct dkim_tag *t, char *err, size_t errlen)
{
	size_t i = 0, used = 0;
	int from = 0;
	const char *v = t->value;
	while (i <= t->value_len) {
		size_t a = i;
		while (i < t->value_len && v[i] != ':')
			i++;
		size_t b = i;
		while (a < b && is_fws((unsigned char)v[a]))
			a++;
		while (b > a && is_fws((unsigned char)v[b - 1]))
			b--;
		if (a == b) {
			err_set(err, errlen, "empty header name in h=");
			return -1;
		}
		if (sig->nh == DKIM_HNAMES_MAX || used + (b - a) + 1 > sizeof(sig->hbuf)) {
			err_set(err, errlen, "h= too long");
			return -1;
		}
		sig->hoff[sig->nh++] = (uint16_t)used;
		for (size_t k = a; k < b; k++) {
			unsigned char c = (unsigned char)v[k];
			if (c < 0x21 || c > 0x7e) {
				err_set(err, errlen, "bad header name in h=");
				return -1;
			}
			sig->hbuf[used++] = (char)lower(c);
		}
		sig->hbuf[used++] = '\0';
		if (strcmp(sig->hbuf + sig->hoff[sig->nh - 1], "from") == 0)
			from = 1;
		i++;
	}
	if (!from) {
		err_set(err, errlen, "From field not signed (h=)");
		return -1;
	}
	return 0;
}

static int hexval(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* i= is dkim-quoted-printable; the domain after the last '@' must be d= or
 * below it (RFC 6376 §3.5). */
static int parse_i(struct dkim_sig *sig, const struct dkim_tag *t, char *err, size_t errlen)
{
	size_t n = 0;
	for (size_t i = 0; i < t->value_len; i++) {
		unsigned char c = (unsigned char)t->value[i];
		if (is_fws(c))
			continue;
		if (c == '=') {
			int hi = i + 2 < t->value_len ? hexval((unsigned char)t->value[i + 1]) : -1;
			int lo = hi >= 0 ? hexval((unsigned char)t->value[i + 2]) : -1;
			if (lo < 0) {
				err_set(err, errlen, "bad quoted-printable in i=");
				return -1;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || n == DKIM_IDENTITY_MAX) {
			err_set(err, errlen, "bad i=");
			return -1;
		}
		sig->identity[n++] = (char)c;
	}
	sig->identity[n] = '\0';
	char *at = strrchr(sig->identity, '@');
	if (at == NULL) {
		err_set(err, errlen, "i= without '@'");
		return -1;
	}
	size_t dl = strlen(sig->domain), il = strlen(at + 1);
	if (il < dl || strcasecmp(at + 1 + il - dl, sig->domain) != 0 ||
	    (il > dl && at[il - dl] != '.')) {
		err_set(err, errlen, "i= is not within d=");
		return -1;
	}
	return 0;
}

static int parse_canon(struct dkim_sig *sig, const struct dkim_tag *t)
{
	const char *v = t->value, *slash = memchr(v, '/', t->value_len);
	size_t hl = slash ? (size_t)(slash - v) : t->value_len;
	enum dkim_canon *dst[2] = {&sig->hcanon, &sig->bcanon};
	const char *part[2] = {v, slash ? slash + 1 : NULL};
	size_t plen[2] = {hl, slash ? t->value_len - hl - 1 : 0};
	for (int k = 0; k < 2; k++) {
		if (part[k] == NULL)
			break;
		if (plen[k] == 6 && strncasecmp(part[k], "simple", 6) == 0)
			*dst[k] = DKIM_CANON_SIMPLE;
		else if (plen[k] == 7 && strncasecmp(part[k], "relaxed", 7) == 0)
			*dst[k] = DKIM_CANON_RELAXED;
		else
			return -1;
	}
	return 0;
}

int dkim_sig_parse(const char *value, size_t len, struct dkim_sig *sig, char *err, size_t errlen)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	size_t n;
	memset(sig, 0, sizeof(*sig));
	if (dkim_tags_parse(value, len, tags, DKIM_TAGS_MAX, &n, err, errlen) == -1)
		return -1;
	const struct dkim_tag *v = tag_get(tags, n, "v"), *a = tag_get(tags, n, "a"),
	                      *b = tag_get(tags, n, "b"), *bh = tag_get(tags, n, "bh"),
	                      *c = tag_get(tags, n, "c"), *d = tag_get(tags, n, "d"),
	                      *h = tag_get(tags, n, "h"), *i = tag_get(tags, n, "i"),
	                      *l = tag_get(tags, n, "l"), *q = tag_get(tags, n, "q"),
	                      *s = tag_get(tags, n, "s"), *t = tag_get(tags, n, "t"),
	                      *x = tag_get(tags, n, "x");
	/* What the result header reports, first, so that it is there even when
	 * something else is wrong. */
	if (d && dkim_name_valid(d->value, d->value_len, 0))
		copy_name(sig->domain, d);
	if (s && dkim_name_valid(s->value, s->value_len, 1))
		copy_name(sig->selector, s);
	if (b) {
		size_t k = 0;
		for (size_t j = 0; j < b->value_len && k < 8; j++)
			if (b64_digit((unsigned char)b->value[j]) >= 0)
				sig->b8[k++] = b->value[j];
		sig->b8[k] = '\0';
	}
	if (a && value_is(a, "rsa-sha256"))
		sig->alg = DKIM_ALG_RSA_SHA256;
	else if (a && value_is(a, "ed25519-sha256"))
		sig->alg = DKIM_ALG_ED25519_SHA256;
	else if (a && value_is(a, "rsa-sha1"))
		sig->alg = DKIM_ALG_RSA_SHA1;

	if (v == NULL || !value_is(v, "1")) {
		err_set(err, errlen, v ? "unsupported version (v=)" : "no v= tag");
		return -1;
	}
	if (a == NULL || !(value_is(a, "rsa-sha256") || value_is(a, "ed25519-sha256") ||
	                   value_is(a, "rsa-sha1"))) {
		err_set(err, errlen, a ? "unsupported algorithm (a=)" : "no a= tag");
		return -1;
	}
	if (b == NULL || bh == NULL || d == NULL || h == NULL || s == NULL) {
		err_set(err, errlen, "missing required tag (%s=)",
		        !b    ? "b"
		        : !bh ? "bh"
		        : !d  ? "d"
		        : !h  ? "h"
		              : "s");
		return -1;
	}
	if (dkim_base64_decode(b->value, b->value_len, sig->b, sizeof(sig->b), &sig->blen) == -1 ||
	    sig->blen == 0) {
		err_set(err, errlen, "bad b= value");
		return -1;
	}
	sig->braw_start = b->raw_start;
	sig->braw_end = b->raw_end;
	size_t want = sig->alg == DKIM_ALG_RSA_SHA1 ? 20 : 32;
	if (dkim_base64_decode(bh->value, bh->value_len, sig->bh, sizeof(sig->bh), &sig->bhlen) ==
	        -1 ||
	    sig->bhlen != want) {
		err_set(err, errlen, "bad bh= value");
		return -1;
	}
	if (c && parse_canon(sig, c) == -1) {
		err_set(err, errlen, "unsupported canonicalization (c=)");
		return -1;
	}
	if (sig->domain[0] == '\0') {
		err_set(err, errlen, "bad domain name in d=");
		return -1;
	}
	if (sig->selector[0] == '\0') {
		err_set(err, errlen, "bad selector in s=");
		return -1;
	}
	if (strlen(sig->selector) + strlen("._domainkey.") + strlen(sig->domain) >
	    DKIM_DOMAIN_MAX) {
		err_set(err, errlen, "key name too long");
		return -1;
	}
	if (parse_h(sig, h, err, errlen) == -1)
		return -1;
	if (i) {
		if (parse_i(sig, i, err, errlen) == -1)
			return -1;
	} else {
		sig->identity[0] = '@';
		memcpy(sig->identity + 1, sig->domain, strlen(sig->domain) + 1);
	}
	if (l) {
		if (parse_uint(l, 76, &sig->l) == -1) {
			err_set(err, errlen, "bad l= value");
			return -1;
		}
		sig->has_l = 1;
	}
	if (q && !list_has(q->value, q->value_len, "dns/txt")) {
		err_set(err, errlen, "unsupported query method (q=)");
		return -1;
	}
	uint64_t tv;
	if (t) {
		if (parse_uint(t, 12, &tv) == -1) {
			err_set(err, errlen, "bad t= value");
			return -1;
		}
		sig->t = (int64_t)tv;
		sig->has_t = 1;
	}
	if (x) {
		if (parse_uint(x, 12, &tv) == -1) {
			err_set(err, errlen, "bad x= value");
			return -1;
		}
		sig->x = (int64_t)tv;
		sig->has_x = 1;
	}
	if (sig->has_t && sig->has_x && sig->x < sig->t) {
		err_set(err, errlen, "x= is before t=");
		return -1;
	}
	return 0;
}

int dkim_keyrec_parse(const char *txt, size_t len, struct dkim_keyrec *k, char *err, size_t errlen)
{
	struct dkim_tag tags[DKIM_TAGS_MAX];
	size_t n;
	memset(k, 0, sizeof(*k));
	if (dkim_tags_parse(txt, len, tags, DKIM_TAGS_MAX, &n, err, errlen) == -1)
		return -1;
	const struct dkim_tag *v = tag_get(tags, n, "v"), *h = tag_get(tags, n, "h"),
	                      *kt = tag_get(tags, n, "k"), *p = tag_get(tags, n, "p"),
	                      *s = tag_get(tags, n, "s"), *t = tag_get(tags, n, "t");
	/* v=, if there, must be first and exactly DKIM1 (RFC 6376 §3.6.1). */
	if (v && (v != &tags[0] || v->value_len != 5 || memcmp(v->value, "DKIM1", 5) != 0)) {
		err_set(err, errlen, "unsupported key record version (v=)");
		return -1;
	}
	k->h_sha1 = k->h_sha256 = 1;
	if (h) {
		k->h_sha1 = list_has(h->value, h->value_len, "sha1");
		k->h_sha256 = list_has(h->value, h->value_len, "sha256");
	}
	k->type = DKIM_KEY_RSA;
	if (kt && value_is(kt, "ed25519"))
		k->type = DKIM_KEY_ED25519;
	else if (kt && !value_is(kt, "rsa")) {
		err_set(err, errlen, "unknown key type (k=)");
		return -1;
	}
	if (s && !list_has(s->value, s->value_len, "*") &&
	    !list_has(s->value, s->value_len, "email")) {
		err_set(err, errlen, "key not for email (s=)");
		return -1;
	}
	if (t) {
		k->testing = list_has(t->value, t->value_len, "y");
		k->strict = list_has(t->value, t->value_len, "s");
	}
	if (p == NULL) {
		err_set(err, errlen, "key record without p=");
		return -1;
	}
	if (p->value_len == 0) {
		k->revoked = 1;
		return 0;
	}
	if (dkim_base64_decode(p->value, p->value_len, k->p, sizeof(k->p), &k->plen) == -1 ||
	    k->plen == 0) {
		err_set(err, errlen, "bad public key (p=)");
		return -1;
	}
	return 0;
}
