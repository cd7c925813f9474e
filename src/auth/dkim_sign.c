/*
 * dkim_sign: the DKIM signer (RFC 6376 §5) — relaxed/relaxed, rsa-sha256 or
 * ed25519-sha256 by the key, streaming: the body is hashed as it passes,
 * only the header section is kept (capped). The result is the complete
 * folded DKIM-Signature field to prepend.
 */
#include "dkim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_crypto.h"
#include "dkim_hdrs.h"
#include "dkim_tags.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define DEFAULT_MAX_HEADER (256 * 1024)
#define LINE_MAX_LEN       78
#define NAMES_MAX          64

/*
 * RFC 6376 §5.4.1's list, less what transit changes (Received, Return-Path)
 * plus the list headers a mailing list would otherwise be free to forge.
 * Every present instance is signed; From is signed once more than it
 * appears, so that no From can be added above it (over-signing).
 */
static const char *const default_names[] = {
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "sender",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
};

struct dkim_sign {
	const struct dkim_key *key;
	char domain[DKIM_DOMAIN_MAX + 1];
	char selector[DKIM_DOMAIN_MAX + 1];
	int64_t now, expire;
	char *names[NAMES_MAX];
	size_t nnames;
	size_t max_header;
	struct dkim_hdrs hdrs;
	EVP_MD_CTX *md;
	struct dkim_body_canon bc;
};

static void md_sink(void *arg, const void *p, size_t n)
{
	if (EVP_DigestUpdate(arg, p, n) != 1)
		fatal("EVP_DigestUpdate failed");
}

static int name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == ':')
			return 0;
	return 1;
}

static void add_name(struct dkim_sign *s, const char *name)
{
	char *low = ascii_lower_str(xstrdup(name));
	for (size_t i = 0; i < s->nnames; i++) {
		if (strcmp(s->names[i], low) == 0) {
			free(low);
			return;
		}
	}
	s->names[s->nnames++] = low;
}

struct dkim_sign *dkim_sign_new(const struct dkim_key *key, const char *domain,
                                const char *selector, const struct dkim_sign_opts *opts, char *err,
                                size_t errlen)
{
	if (!dkim_name_valid(domain, strlen(domain), 0)) {
		err_set(err, errlen, "bad signing domain");
		return NULL;
	}
	if (!dkim_name_valid(selector, strlen(selector), 1) ||
	    strlen(selector) + strlen("._domainkey.") + strlen(domain) > DKIM_DOMAIN_MAX) {
		err_set(err, errlen, "bad selector");
		return NULL;
	}
	const char *const *names = opts->names ? opts->names : default_names;
	size_t nnames = opts->names ? opts->nnames : sizeof(default_names) / sizeof(*default_names);
	if (nnames >= NAMES_MAX) {
		err_set(err, errlen, "more than %d header names to sign", NAMES_MAX - 1);
		return NULL;
	}
	for (size_t i = 0; i < nnames; i++) {
		if (!name_ok(names[i])) {
			err_set(err, errlen, "bad header name to sign");
			return NULL;
		}
	}
	struct dkim_sign *s = xcalloc(1, sizeof(*s));
	s->key = key;
	memcpy(s->domain, domain, strlen(domain) + 1);
	memcpy(s->selector, selector, strlen(selector) + 1);
	s->now = opts->now;
	s->expire = opts->expire;
	add_name(s, "from"); /* always, whatever the list */
	for (size_t i = 0; i < nnames; i++)
		add_name(s, names[i]);
	s->max_header = opts->max_header ? opts->max_header : DEFAULT_MAX_HEADER;
	dkim_hdrs_init(&s->hdrs, s->max_header);
	s->md = EVP_MD_CTX_new();
	if (s->md == NULL || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
		fatal("EVP_DigestInit_ex failed");
	dkim_body_canon_init(&s->bc, DKIM_CANON_RELAXED, UINT64_MAX, md_sink, s->md);
	return s;
}

void dkim_sign_free(struct dkim_sign *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	EVP_MD_CTX_free(s->md);
	dkim_hdrs_free(&s->hdrs);
	free(s);
}

void dkim_sign_update(struct dkim_sign *s, const void *p, size_t n)
{
	const uint8_t *u = p;
	if (!s->hdrs.done) {
		size_t used = dkim_hdrs_feed(&s->hdrs, u, n);
		u += used;
		n -= used;
	}
	if (n > 0)
		dkim_body_canon_update(&s->bc, u, n);
}

/* Folding: pieces go on the current line while it stays under 78 columns. */
struct fold {
	struct buf *b;
	size_t col;
};

static void fold_break(struct fold *f)
{
	buf_append_str(f->b, "\r\n\t");
	f->col = 8;
}

static void fold_add(struct fold *f, const char *sep, const char *piece, size_t len)
{
	if (f->col + strlen(sep) + len > LINE_MAX_LEN && f->col > 8) {
		fold_break(f);
	} else {
		buf_append_str(f->b, sep);
		f->col += strlen(sep);
	}
	buf_append(f->b, piece, len);
	f->col += len;
}

static void fold_tag(struct fold *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fold_tag(struct fold *f, const char *fmt, ...)
{
	char piece[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(piece, sizeof(piece), fmt, ap);
	va_end(ap);
	fold_add(f, " ", piece, (size_t)n < sizeof(piece) ? (size_t)n : sizeof(piece) - 1);
}

static size_t count_name(const struct dkim_hdrs *h, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < h->nfields; i++)
		n += dkim_hdrs_is(h, i, name);
	return n;
}

int dkim_sign_finish(struct dkim_sign *s, char **out, char *err, size_t errlen)
{
	dkim_hdrs_end(&s->hdrs);
	if (s->hdrs.overflow) {
		err_set(err, errlen, "header section over %zu octets", s->max_header);
		return -1;
	}
	if (count_name(&s->hdrs, "from") == 0) {
		err_set(err, errlen, "no From header field to sign");
		return -1;
	}
	dkim_body_canon_final(&s->bc);
	uint8_t bh[EVP_MAX_MD_SIZE];
	unsigned bhlen;
	if (EVP_DigestFinal_ex(s->md, bh, &bhlen) != 1)
		fatal("EVP_DigestFinal_ex failed");
	char *bh64 = dkim_base64_encode(bh, bhlen);

	/* h=: every instance of each name, From once more. */
	const char *hl[NAMES_MAX * 8];
	size_t nh = 0;
	for (size_t i = 0; i < s->nnames; i++) {
		size_t c = count_name(&s->hdrs, s->names[i]) + (strcmp(s->names[i], "from") == 0);
		for (size_t k = 0; k < c; k++) {
			if (nh == sizeof(hl) / sizeof(*hl)) {
				free(bh64);
				err_set(err, errlen, "more than %zu header fields to sign", nh);
				return -1;
			}
			hl[nh++] = s->names[i];
		}
	}

	struct buf field;
	buf_init(&field, 0);
	buf_append_str(&field, "DKIM-Signature:");
	struct fold f = {&field, strlen("DKIM-Signature:")};
	fold_tag(&f, "v=1;");
	fold_tag(&f, "a=%s;", dkim_alg_name(s->key->alg));
	fold_tag(&f, "c=relaxed/relaxed;");
	fold_tag(&f, "d=%s;", s->domain);
	fold_tag(&f, "s=%s;", s->selector);
	if (s->now >= 0) {
		fold_tag(&f, "t=%lld;", (long long)s->now);
		if (s->expire > 0)
			fold_tag(&f, "x=%lld;", (long long)(s->now + s->expire));
	}
	for (size_t i = 0; i < nh; i++) {
		char piece[DKIM_DOMAIN_MAX + 8];
		int n = snprintf(piece, sizeof(piece), "%s%s%s", i == 0 ? "h=" : "", hl[i],
		                 i + 1 == nh ? ";" : ":");
		/* No space inside h=: fold only with CRLF TAB (pure FWS). */
		fold_add(&f, i == 0 ? " " : "", piece, (size_t)n);
	}
	fold_tag(&f, "bh=%s;", bh64);
	free(bh64);
	fold_tag(&f, "b=");

	/* The header hash: the signed fields bottom-up, then this field with
	 * b= still empty and no CRLF, all relaxed (RFC 6376 §3.7). */
	struct buf hb;
	buf_init(&hb, 0);
	uint8_t *used = xcalloc(s->hdrs.nfields ? s->hdrs.nfields : 1, 1);
	for (size_t k = 0; k < nh; k++) {
		for (size_t i = s->hdrs.nfields; i-- > 0;) {
			if (used[i] || !dkim_hdrs_is(&s->hdrs, i, hl[k]))
				continue;
			used[i] = 1;
			dkim_canon_header(DKIM_CANON_RELAXED, dkim_hdrs_field(&s->hdrs, i),
			                  s->hdrs.fields[i].len, 0, &hb);
			break;
		}
	}
	free(used);
	dkim_canon_header(DKIM_CANON_RELAXED, (const char *)field.data, field.len, 1, &hb);
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned dlen;
	if (EVP_Digest(hb.data, hb.len, digest, &dlen, EVP_sha256(), NULL) != 1)
		fatal("EVP_Digest failed");
	buf_free(&hb);
	uint8_t *sig;
	size_t siglen;
	if (dkim_crypto_sign(s->key, digest, dlen, &sig, &siglen, err, errlen) == -1) {
		buf_free(&field);
		return -1;
	}
	char *b64 = dkim_base64_encode(sig, siglen);
	free(sig);
	size_t blen = strlen(b64);
	for (size_t i = 0; i < blen;) {
		size_t room = f.col < LINE_MAX_LEN ? LINE_MAX_LEN - f.col : 0;
		size_t take = blen - i < room ? blen - i : room;
		if (take == 0) {
			fold_break(&f);
			continue;
		}
		buf_append(&field, b64 + i, take);
		f.col += take;
		i += take;
	}
	free(b64);
	buf_append_str(&field, "\r\n");
	*out = buf_strdup(&field);
	buf_free(&field);
	return 0;
}
