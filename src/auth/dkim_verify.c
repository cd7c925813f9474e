/*
 * dkim_verify: the DKIM verifier (RFC 6376 §6) as an I/O-free engine (see
 * dkim.h). Each signature goes through: parse and time checks when the
 * header section is complete, a body hash fed as the body streams, the key
 * record when the caller answers, then the header hash and the signature
 * check once the message has ended. Key problems are reported before body
 * problems (the order of RFC 6376 §6.1), whatever the order in which the
 * answers and the end of the message arrive, so results never depend on
 * timing.
 */
#include "dkim.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_crypto.h"
#include "dkim_hdrs.h"
#include "dkim_keycache.h"
#include "dkim_tags.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define DEFAULT_MAX_HEADER (256 * 1024)
#define DEFAULT_MAX_SIGS   8
#define DEFAULT_SLACK      300
#define RSA_MAX_BITS       8192

struct keyq {
	char name[DKIM_DOMAIN_MAX + 1];
	int answered;
	int usable;
	enum dkim_status status; /* when not usable */
	char reason[160];
	struct dkim_keyrec rec;
	EVP_PKEY *pkey;
};

struct vsig {
	struct dkim_result res;
	int final;
	struct dkim_sig sig;
	size_t field;  /* its header field */
	size_t vstart; /* where its value starts in the field */
	size_t kq;     /* its key query */
	EVP_MD_CTX *md;
	struct dkim_body_canon bc;
	int body_ok;
};

struct dkim_verify {
	struct dkim_verify_opts opts;
	struct dkim_hdrs hdrs;
	int headers_handled;
	int ended;
	struct vsig *sigs;
	size_t nsigs;
	struct keyq *keys;
	size_t nkeys;
};

const char *dkim_status_name(enum dkim_status s)
{
	switch (s) {
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	case DKIM_POLICY:
		return "policy";
	}
	return "permerror";
}

const char *dkim_alg_name(enum dkim_alg a)
{
	switch (a) {
	case DKIM_ALG_RSA_SHA256:
		return "rsa-sha256";
	case DKIM_ALG_ED25519_SHA256:
		return "ed25519-sha256";
	case DKIM_ALG_RSA_SHA1:
		return "rsa-sha1";
	}
	return "unknown";
}

struct dkim_verify *dkim_verify_new(const struct dkim_verify_opts *opts)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	v->opts = *opts;
	if (v->opts.max_header == 0)
		v->opts.max_header = DEFAULT_MAX_HEADER;
	if (v->opts.max_sigs == 0)
		v->opts.max_sigs = DEFAULT_MAX_SIGS;
	if (v->opts.future_slack == 0)
		v->opts.future_slack = DEFAULT_SLACK;
	if (v->opts.min_rsa_bits == 0)
		v->opts.min_rsa_bits = 1024;
	if (v->opts.min_rsa_bits < 512)
		v->opts.min_rsa_bits = 512;
	dkim_hdrs_init(&v->hdrs, v->opts.max_header);
	return v;
}

void dkim_verify_free(struct dkim_verify *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->nsigs; i++)
		EVP_MD_CTX_free(v->sigs[i].md);
	for (size_t i = 0; i < v->nkeys; i++)
		EVP_PKEY_free(v->keys[i].pkey);
	free(v->sigs);
	free(v->keys);
	dkim_hdrs_free(&v->hdrs);
	free(v);
}

static void finish(struct vsig *s, enum dkim_status st, const char *why)
{
	s->final = 1;
	s->res.status = st;
	snprintf(s->res.reason, sizeof(s->res.reason), "%s", why ? why : "");
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}

static void md_sink(void *arg, const void *p, size_t n)
{
	if (EVP_DigestUpdate(arg, p, n) != 1)
		fatal("EVP_DigestUpdate failed");
}

static size_t key_query(struct dkim_verify *v, const struct dkim_sig *sig)
{
	char name[DKIM_DOMAIN_MAX + 1];
	snprintf(name, sizeof(name), "%s._domainkey.%s", sig->selector, sig->domain);
	for (size_t i = 0; i < v->nkeys; i++)
		if (strcasecmp(v->keys[i].name, name) == 0)
			return i;
	v->keys = xreallocarray(v->keys, v->nkeys + 1, sizeof(*v->keys));
	struct keyq *k = &v->keys[v->nkeys];
	memset(k, 0, sizeof(*k));
	memcpy(k->name, name, sizeof(name));
	return v->nkeys++;
}

/* One DKIM-Signature field, parsed and checked as far as the header lets. */
static void sig_setup(struct dkim_verify *v, struct vsig *s, int evaluate)
{
	const char *field = dkim_hdrs_field(&v->hdrs, s->field);
	size_t len = v->hdrs.fields[s->field].len;
	const char *colon = memchr(field, ':', len);
	s->vstart = (size_t)(colon - field) + 1; /* the name matched, so there is one */
	char why[160];
	int rc = dkim_sig_parse(field + s->vstart, len - s->vstart, &s->sig, why, sizeof(why));
	memcpy(s->res.domain, s->sig.domain, sizeof(s->res.domain));
	memcpy(s->res.selector, s->sig.selector, sizeof(s->res.selector));
	memcpy(s->res.identity, s->sig.identity, sizeof(s->res.identity));
	memcpy(s->res.b8, s->sig.b8, sizeof(s->res.b8));
	s->res.alg = s->sig.alg;
	if (!evaluate) {
		snprintf(why, sizeof(why), "not evaluated: more than %u signatures",
		         v->opts.max_sigs);
		finish(s, DKIM_NEUTRAL, why);
		return;
	}
	if (rc == -1) {
		finish(s, DKIM_PERMERROR, why);
		return;
	}
	if (s->sig.has_x && s->sig.x < v->opts.now) {
		finish(s, DKIM_PERMERROR, "signature expired (x=)");
		return;
	}
	if (s->sig.has_t && s->sig.t > v->opts.now + (int64_t)v->opts.future_slack) {
		finish(s, DKIM_PERMERROR, "signature timestamp in the future (t=)");
		return;
	}
	/* Only an otherwise valid signature gets this far: rsa-sha1 "fails"
	 * rather than being malformed, and needs no key lookup. */
	if (s->sig.alg == DKIM_ALG_RSA_SHA1 && !v->opts.allow_rsa_sha1) {
		finish(s, DKIM_FAIL, "rsa-sha1 is not accepted (RFC 8301)");
		return;
	}
	s->kq = key_query(v, &s->sig);
	s->md = EVP_MD_CTX_new();
	if (s->md == NULL || EVP_DigestInit_ex(s->md, dkim_crypto_md(s->sig.alg), NULL) != 1)
		fatal("EVP_DigestInit_ex failed");
	dkim_body_canon_init(&s->bc, s->sig.bcanon, s->sig.has_l ? s->sig.l : UINT64_MAX, md_sink,
	                     s->md);
}

static void headers_complete(struct dkim_verify *v)
{
	v->headers_handled = 1;
	if (v->hdrs.overflow) {
		v->sigs = xcalloc(1, sizeof(*v->sigs));
		v->nsigs = 1;
		char why[160];
		snprintf(why, sizeof(why), "not evaluated: header section over %zu octets",
		         v->opts.max_header);
		finish(&v->sigs[0], DKIM_POLICY, why);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < v->hdrs.nfields; i++)
		n += dkim_hdrs_is(&v->hdrs, i, "DKIM-Signature");
	if (n == 0)
		return;
	v->sigs = xcalloc(n, sizeof(*v->sigs));
	for (size_t i = 0; i < v->hdrs.nfields; i++) {
		if (!dkim_hdrs_is(&v->hdrs, i, "DKIM-Signature"))
			continue;
		struct vsig *s = &v->sigs[v->nsigs++];
		s->field = i;
		sig_setup(v, s, v->nsigs <= v->opts.max_sigs);
	}
}

void dkim_verify_update(struct dkim_verify *v, const void *p, size_t n)
{
	if (v->ended)
		return;
	const uint8_t *u = p;
	if (!v->hdrs.done) {
		size_t used = dkim_hdrs_feed(&v->hdrs, u, n);
		u += used;
		n -= used;
		if (!v->hdrs.done)
			return;
	}
	if (!v->headers_handled)
		headers_complete(v);
	if (n == 0)
		return;
	for (size_t i = 0; i < v->nsigs; i++)
		if (!v->sigs[i].final)
			dkim_body_canon_update(&v->sigs[i].bc, u, n);
}

/* The canonical header data (RFC 6376 §3.7) and its signature check. */
static int header_hash_ok(struct dkim_verify *v, struct vsig *s, EVP_PKEY *pkey)
{
	const struct dkim_hdrs *h = &v->hdrs;
	struct buf hb;
	buf_init(&hb, 0);
	uint8_t *used = xcalloc(h->nfields ? h->nfields : 1, 1);
	/* The field being verified did not exist when it was signed, so an
	 * h= that names dkim-signature (to cover older signatures) can never
	 * mean this one. */
	used[s->field] = 1;
	for (size_t k = 0; k < s->sig.nh; k++) {
		const char *name = s->sig.hbuf + s->sig.hoff[k];
		/* Repeated names take instances from the bottom up; a name with no
		 * instance left contributes nothing (RFC 6376 §5.4.2). */
		for (size_t i = h->nfields; i-- > 0;) {
			if (used[i] || !dkim_hdrs_is(h, i, name))
				continue;
			used[i] = 1;
			dkim_canon_header(s->sig.hcanon, dkim_hdrs_field(h, i), h->fields[i].len, 0,
			                  &hb);
			break;
		}
	}
	free(used);
	/* The signature field itself, its b= value emptied, no CRLF. */
	const char *field = dkim_hdrs_field(h, s->field);
	size_t len = h->fields[s->field].len;
	size_t cut_a = s->vstart + s->sig.braw_start, cut_b = s->vstart + s->sig.braw_end;
	char *self = xmalloc(len);
	memcpy(self, field, cut_a);
	memcpy(self + cut_a, field + cut_b, len - cut_b);
	dkim_canon_header(s->sig.hcanon, self, len - (cut_b - cut_a), 1, &hb);
	free(self);

	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned dlen;
	if (EVP_Digest(hb.data, hb.len, digest, &dlen, dkim_crypto_md(s->sig.alg), NULL) != 1)
		fatal("EVP_Digest failed");
	buf_free(&hb);
	return dkim_crypto_verify(pkey, s->sig.alg, digest, dlen, s->sig.b, s->sig.blen);
}

/* Decide what can be decided: needs the end of the message and the key. */
static void advance(struct dkim_verify *v, struct vsig *s)
{
	if (s->final || !v->ended)
		return;
	struct keyq *k = &v->keys[s->kq];
	if (!k->answered)
		return;
	if (!k->usable) {
		finish(s, k->status, k->reason);
		return;
	}
	s->res.testing = k->rec.testing;
	int want_rsa = s->sig.alg != DKIM_ALG_ED25519_SHA256;
	if (want_rsa != (k->rec.type == DKIM_KEY_RSA)) {
		finish(s, DKIM_PERMERROR, "key type (k=) does not match a=");
		return;
	}
	if (s->sig.alg == DKIM_ALG_RSA_SHA1 ? !k->rec.h_sha1 : !k->rec.h_sha256) {
		finish(s, DKIM_PERMERROR, "key does not allow this hash (h=)");
		return;
	}
	if (k->rec.strict) {
		const char *at = strrchr(s->sig.identity, '@');
		if (at == NULL || strcasecmp(at + 1, s->sig.domain) != 0) {
			finish(s, DKIM_PERMERROR, "key requires i= domain to equal d= (t=s)");
			return;
		}
	}
	s->res.key_bits = (unsigned)EVP_PKEY_get_bits(k->pkey);
	char why[160];
	if (want_rsa && s->res.key_bits < v->opts.min_rsa_bits) {
		snprintf(why, sizeof(why), "RSA key of %u bits is too short (RFC 8301)",
		         s->res.key_bits);
		finish(s, DKIM_FAIL, why);
		return;
	}
	if (want_rsa && s->res.key_bits > RSA_MAX_BITS) {
		snprintf(why, sizeof(why), "RSA key of %u bits is over %u", s->res.key_bits,
		         RSA_MAX_BITS);
		finish(s, DKIM_PERMERROR, why);
		return;
	}
	if (s->sig.has_l && s->bc.total < s->sig.l) {
		finish(s, DKIM_FAIL, "body shorter than l=");
		return;
	}
	if (!s->body_ok) {
		finish(s, DKIM_FAIL, "body hash did not verify");
		return;
	}
	if (!header_hash_ok(v, s, k->pkey)) {
		finish(s, DKIM_FAIL, "signature did not verify");
		return;
	}
	finish(s, DKIM_PASS, NULL);
}

void dkim_verify_end(struct dkim_verify *v)
{
	if (v->ended)
		return;
	dkim_hdrs_end(&v->hdrs);
	if (!v->headers_handled)
		headers_complete(v);
	v->ended = 1;
	for (size_t i = 0; i < v->nsigs; i++) {
		struct vsig *s = &v->sigs[i];
		if (s->final)
			continue;
		dkim_body_canon_final(&s->bc);
		uint8_t digest[EVP_MAX_MD_SIZE];
		unsigned dlen;
		if (EVP_DigestFinal_ex(s->md, digest, &dlen) != 1)
			fatal("EVP_DigestFinal_ex failed");
		s->body_ok = dlen == s->sig.bhlen && memcmp(digest, s->sig.bh, dlen) == 0;
		advance(v, s);
	}
}

int dkim_verify_headers_done(const struct dkim_verify *v)
{
	return v->headers_handled;
}

static int key_wanted(const struct dkim_verify *v, size_t kq)
{
	for (size_t i = 0; i < v->nsigs; i++)
		if (!v->sigs[i].final && v->sigs[i].kq == kq)
			return 1;
	return 0;
}

size_t dkim_verify_keys_needed(const struct dkim_verify *v, const char **names, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < v->nkeys; i++) {
		if (v->keys[i].answered || !key_wanted(v, i))
			continue;
		if (n < max)
			names[n] = v->keys[i].name;
		n++;
	}
	return n;
}

static void key_parse(struct dkim_keycache *cache, struct keyq *k, enum dkim_dns_status st,
                      const char *const *txt, const size_t *len, size_t ntxt)
{
	char why[128];
	k->status = DKIM_PERMERROR;
	switch (st) {
	case DKIM_DNS_NXDOMAIN:
		snprintf(k->reason, sizeof(k->reason), "no key for signature (NXDOMAIN)");
		return;
	case DKIM_DNS_NODATA:
		snprintf(k->reason, sizeof(k->reason), "no key for signature (no TXT record)");
		return;
	case DKIM_DNS_TEMPFAIL:
		k->status = DKIM_TEMPERROR;
		snprintf(k->reason, sizeof(k->reason), "key lookup failed temporarily");
		return;
	case DKIM_DNS_OK:
		break;
	}
	if (ntxt == 0) {
		snprintf(k->reason, sizeof(k->reason), "no key for signature (no TXT record)");
		return;
	}
	/* RFC 6376 §3.6.2.2 leaves several records undefined: refuse them. */
	if (ntxt > 1) {
		snprintf(k->reason, sizeof(k->reason), "%zu TXT records at the key name", ntxt);
		return;
	}
	if (dkim_keyrec_parse(txt[0], len[0], &k->rec, why, sizeof(why)) == -1) {
		snprintf(k->reason, sizeof(k->reason), "key record: %s", why);
		return;
	}
	if (k->rec.revoked) {
		snprintf(k->reason, sizeof(k->reason), "key revoked (empty p=)");
		return;
	}
	k->pkey = cache ? dkim_keycache_get(cache, &k->rec, why, sizeof(why))
	                : dkim_crypto_pubkey(&k->rec, why, sizeof(why));
	if (k->pkey == NULL) {
		snprintf(k->reason, sizeof(k->reason), "key record: %s", why);
		return;
	}
	k->usable = 1;
}

int dkim_verify_key_answer(struct dkim_verify *v, const char *name, enum dkim_dns_status st,
                           const char *const *txt, const size_t *len, size_t ntxt)
{
	size_t nl = strlen(name);
	if (nl > 0 && name[nl - 1] == '.')
		nl--; /* a resolver's absolute name */
	for (size_t i = 0; i < v->nkeys; i++) {
		struct keyq *k = &v->keys[i];
		if (strlen(k->name) != nl || strncasecmp(k->name, name, nl) != 0)
			continue;
		if (k->answered || !key_wanted(v, i))
			return 0;
		k->answered = 1;
		key_parse(v->opts.keys, k, st, txt, len, ntxt);
		for (size_t j = 0; j < v->nsigs; j++)
			if (v->sigs[j].kq == i)
				advance(v, &v->sigs[j]);
		return 0;
	}
	return -1;
}

int dkim_verify_done(const struct dkim_verify *v)
{
	if (!v->ended)
		return 0;
	for (size_t i = 0; i < v->nsigs; i++)
		if (!v->sigs[i].final)
			return 0;
	return 1;
}

size_t dkim_verify_result_count(const struct dkim_verify *v)
{
	return v->nsigs;
}

const struct dkim_result *dkim_verify_result(const struct dkim_verify *v, size_t i)
{
	return i < v->nsigs ? &v->sigs[i].res : NULL;
}

size_t dkim_verify_header_count(const struct dkim_verify *v)
{
	return v->hdrs.done && !v->hdrs.overflow ? v->hdrs.nfields : 0;
}

int dkim_verify_header(const struct dkim_verify *v, size_t i, const char **field, size_t *len)
{
	if (i >= dkim_verify_header_count(v))
		return -1;
	*field = dkim_hdrs_field(&v->hdrs, i);
	*len = v->hdrs.fields[i].len;
	return 0;
}

size_t dkim_verify_header_values(const struct dkim_verify *v, const char *name, const char **values,
                                 size_t *lens, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < dkim_verify_header_count(v); i++) {
		if (!dkim_hdrs_is(&v->hdrs, i, name))
			continue;
		const char *field = dkim_hdrs_field(&v->hdrs, i);
		size_t len = v->hdrs.fields[i].len;
		const char *colon = memchr(field, ':', len); /* there is one: the name matched */
		if (n < max) {
			values[n] = colon + 1;
			lens[n] = len - (size_t)(colon + 1 - field);
		}
		n++;
	}
	return n;
}
