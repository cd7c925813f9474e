/*
 * Unit tests for the DKIM verifier against third-party vectors in
 * $RAVEN_TESTDATA (default tests/vectors, a copy of ../shared/testdata; the files are used as
 * they are, LF line ends turned into CRLF as RFC 5322 wants): dkimpy's
 * data with its DNS.tsv, stalwart mail-auth's files, and the Mail::DKIM
 * corpus with FAKE_DNS.dat and expected.tsv. Every message is verified
 * three ways — whole, one byte at a time, and with the keys answered
 * before the body arrives — and the results must be identical.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dkim_fakedns.h"
#include "util.h"
#include "xmalloc.h"

#define STALWART_NOW 1667843664 /* the time stalwart's own test verifies at */
#define CORPUS_NOW   1700000000
#define MAX_RES      16

struct outcome {
	size_t n;
	struct dkim_result r[MAX_RES];
};

static const char *tdir(void)
{
	return unit_testdata();
}

/* A vector file, LF made CRLF; the test fails if it is missing. */
static char *vec(const char *rel, size_t *len)
{
	char *path = xasprintf("%s/%s", tdir(), rel);
	size_t raw_len;
	char *raw = file_read_bounded(path, 8 * 1024 * 1024, &raw_len, NULL, 0);
	if (raw == NULL)
		fail_msg("missing test vector %s (set RAVEN_TESTDATA)", path);
	free(path);
	char *out = fakedns_crlf(raw, raw_len, len);
	free(raw);
	return out;
}

static char *vec_raw(const char *rel)
{
	char *path = xasprintf("%s/%s", tdir(), rel);
	size_t len;
	char *raw = file_read_bounded(path, 1024 * 1024, &len, NULL, 0);
	if (raw == NULL)
		fail_msg("missing test vector %s", path);
	free(path);
	while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		raw[--len] = '\0';
	return raw;
}

enum mode { WHOLE, BYTES, EARLY_KEYS };

static void run(const char *msg, size_t len, struct fakedns *dns, const struct dkim_verify_opts *o,
                enum mode m, struct outcome *out)
{
	struct dkim_verify *v = dkim_verify_new(o);
	size_t chunk = m == BYTES ? 1 : m == EARLY_KEYS ? 7 : (len ? len : 1);
	for (size_t i = 0; i < len; i += chunk) {
		dkim_verify_update(v, msg + i, len - i < chunk ? len - i : chunk);
		if (m == EARLY_KEYS && dkim_verify_headers_done(v))
			fakedns_answer_keys(dns, v);
	}
	dkim_verify_end(v);
	assert_true(dkim_verify_headers_done(v));
	fakedns_answer_keys(dns, v);
	assert_true(dkim_verify_done(v));
	memset(out, 0, sizeof(*out));
	out->n = dkim_verify_result_count(v);
	assert_true(out->n <= MAX_RES);
	for (size_t i = 0; i < out->n; i++)
		out->r[i] = *dkim_verify_result(v, i);
	dkim_verify_free(v);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->r[i].status, b->r[i].status);
		assert_string_equal(a->r[i].reason, b->r[i].reason);
		assert_string_equal(a->r[i].domain, b->r[i].domain);
		assert_string_equal(a->r[i].identity, b->r[i].identity);
		assert_string_equal(a->r[i].selector, b->r[i].selector);
		assert_string_equal(a->r[i].b8, b->r[i].b8);
		assert_int_equal(a->r[i].key_bits, b->r[i].key_bits);
	}
}

/* Verify three ways; the outcomes must agree. */
static void verify(const char *msg, size_t len, struct fakedns *dns,
                   const struct dkim_verify_opts *o, struct outcome *out)
{
	struct outcome b, c;
	run(msg, len, dns, o, WHOLE, out);
	run(msg, len, dns, o, BYTES, &b);
	run(msg, len, dns, o, EARLY_KEYS, &c);
	same(out, &b);
	same(out, &c);
}

/* "pass,fail" style: each result's status, in header order. */
static void statuses(const struct outcome *o, char *s, size_t len)
{
	s[0] = '\0';
	for (size_t i = 0; i < o->n; i++)
		snprintf(s + strlen(s), len - strlen(s), "%s%s", i ? "," : "",
		         dkim_status_name(o->r[i].status));
	if (o->n == 0)
		snprintf(s, len, "none");
}

/* The message's overall verdict in Mail::DKIM's words. */
static const char *verdict(const struct outcome *o)
{
	int fail = 0;
	for (size_t i = 0; i < o->n; i++) {
		if (o->r[i].status == DKIM_PASS)
			return "pass";
		fail |= o->r[i].status == DKIM_FAIL;
	}
	return fail ? "fail" : o->n ? "invalid" : "none";
}

static void expect(const char *what, const struct outcome *o, const char *want)
{
	char got[256];
	statuses(o, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", what, got, want);
}

/* ---- dkimpy (Debian python3-dkim 1.1.4, dkim/tests/data) ---- */

/* The key dkimpy's test_dkim.py (dnsfunc) serves for test2.message; it is
 * not in DNS.tsv. */
static const char gmail_key[] =
    "k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh"
    "+eBCsSTrqmwIYYvywlbhbqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQ"
    "s8g3FgD2Ap3ZB5DekAo5wMmk4wimDO+U8QzI3SD07y2+07wlNWwIt8svnxgdxGkVbb"
    "hzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhkx4xYSIc9oSwVmAl5Oct"
    "MEeWUwg8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac0598H"
    "Y+vtSBczUiKERHv1yRbcaQtZFh5wtiRrN04BLUTD21MycBX5jYchHjPY/wIDAQAB";

/* dkimpy's test_catch_bad_key (dnsfunc6): a key with a byte missing. */
static const char broken_key[] =
    "k=rsa; p=MFwwDQYJKoZIhvNAQEBBQADSwAwSAJBANmBe10IgY+u7h3enWTukkqtUD5PR52T"
    "b/mPfjC0QJTocVBq6Za/PlzfV+Py92VaCak19F4WrbVTK5Gg5tW220MCAwEAAQ==";

static int dkimpy_total, dkimpy_ok;

static void dkimpy_case(const char *file, const char *key_name, const char *key_txt,
                        const char *want)
{
	struct fakedns dns;
	fakedns_init(&dns);
	char *path = xasprintf("%s/dkim/dkimpy/DNS.tsv", tdir());
	assert_int_equal(fakedns_load_file(&dns, path), 0);
	free(path);
	if (key_name != NULL) {
		/* This record replaces DNS.tsv's. */
		for (size_t i = 0; i < dns.n; i++)
			if (strcmp(dns.recs[i].name, key_name) == 0)
				dns.recs[i].name[0] = '#';
		fakedns_add(&dns, key_name, DKIM_DNS_OK, key_txt);
	}
	char *rel = xasprintf("dkim/dkimpy/%s", file);
	size_t len;
	char *msg = vec(rel, &len);
	struct dkim_verify_opts o = {.now = 1700000000};
	struct outcome out;
	dkimpy_total++;
	verify(msg, len, &dns, &o, &out);
	expect(file, &out, want);
	dkimpy_ok++;
	free(rel);
	free(msg);
	fakedns_free(&dns);
}

static void test_dkimpy_messages(void **state)
{
	(void)state;
	dkimpy_case("rfc6376.signed.msg", NULL, NULL, "pass,pass");
	dkimpy_case("rfc6376.signed.rsa.msg", NULL, NULL, "pass");
	dkimpy_case("ed25519test2.msg", NULL, NULL, "pass"); /* signed by Exim */
	dkimpy_case("test2.message", "20120113._domainkey.gmail.com", gmail_key, "pass");
	/* Kitterman's 2011 key is in no table: no key, permerror. */
	dkimpy_case("message.mbox", NULL, NULL, "permerror");
	dkimpy_case("rfc6376.signed.rsa.msg", "test._domainkey.football.example.com", broken_key,
	            "permerror");
}

/* The key-record variants of dkimpy's data, as the key of a good message. */
static void test_dkimpy_key_records(void **state)
{
	(void)state;
	static const struct {
		const char *file, *want;
	} cases[] = {
	    {"test.txt", "pass"},
	    {"test2.txt", "pass"},            /* no k=: rsa */
	    {"test_bad.txt", "permerror"},    /* p= DER cut short (dkimpy test_crypto) */
	    {"badk.txt", "permerror"},        /* k=ed25519-sha256 */
	    {"badversion.txt", "permerror"},  /* "v=DKIM1:" */
	    {"test_tlsrpt.txt", "permerror"}, /* s=tlsrpt: not for email */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *rel = xasprintf("dkim/dkimpy/%s", cases[i].file);
		char *txt = vec_raw(rel);
		dkimpy_case("rfc6376.signed.rsa.msg", "test._domainkey.football.example.com", txt,
		            cases[i].want);
		free(txt);
		free(rel);
	}
}

/* test.message.baddomain: d=legitimate.com(.attacker.com must fail and
 * must never be looked up. */
static void test_dkimpy_baddomain(void **state)
{
	(void)state;
	struct fakedns dns;
	fakedns_init(&dns);
	fakedns_add(
	    &dns, "test._domainkey.legitimate.com(.attacker.com", DKIM_DNS_OK,
	    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6"
	    "Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+"
	    "PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
	size_t len;
	char *msg = vec("dkim/dkimpy/test.message.baddomain", &len);
	struct dkim_verify_opts o = {.now = 1700000000};
	struct outcome out;
	dkimpy_total++;
	verify(msg, len, &dns, &o, &out);
	expect("baddomain", &out, "permerror");
	assert_string_equal(out.r[0].domain, ""); /* never reported as a domain either */
	assert_int_equal(dns.nasked, 0);
	dkimpy_ok++;
	free(msg);
	fakedns_free(&dns);
}

/* Tampering with a dkimpy-signed message breaks both signatures. */
static void test_dkimpy_tampered(void **state)
{
	(void)state;
	struct fakedns dns;
	fakedns_init(&dns);
	char *path = xasprintf("%s/dkim/dkimpy/DNS.tsv", tdir());
	assert_int_equal(fakedns_load_file(&dns, path), 0);
	free(path);
	size_t len;
	char *msg = vec("dkim/dkimpy/rfc6376.signed.msg", &len);
	struct dkim_verify_opts o = {.now = 1700000000};
	struct outcome out;
	char *p = strstr(msg, "We lost the game");
	assert_non_null(p);
	p[3] = 'w'; /* "We won..." */
	dkimpy_total++;
	verify(msg, len, &dns, &o, &out);
	expect("body tampered", &out, "fail,fail");
	assert_string_equal(out.r[0].reason, "body hash did not verify");
	dkimpy_ok++;
	p[3] = 'l';
	p = strstr(msg, "Subject: Is dinner ready?");
	assert_non_null(p);
	p[9] = 'i';
	dkimpy_total++;
	verify(msg, len, &dns, &o, &out);
	expect("subject tampered", &out, "fail,fail");
	assert_string_equal(out.r[1].reason, "signature did not verify");
	dkimpy_ok++;
	p[9] = 'I';
	/* An extra From: at the bottom is what h= selects first: fails. */
	char *hdr_end = strstr(msg, "\r\n\r\n");
	char *extra =
	    xasprintf("%.*s\r\nFrom: evil@example.org%s", (int)(hdr_end - msg), msg, hdr_end);
	dkimpy_total++;
	verify(extra, strlen(extra), &dns, &o, &out);
	expect("From added below", &out, "fail,fail");
	dkimpy_ok++;
	free(extra);
	free(msg);
	fakedns_free(&dns);
	print_message("# dkimpy vectors: %d/%d as expected\n", dkimpy_ok, dkimpy_total);
}

/* ---- stalwart mail-auth (resources/dkim/00{1..6}.txt) ---- */

static void stalwart_run(const char *file, int64_t now, struct outcome *out)
{
	char *rel = xasprintf("dkim/stalwart-mail-auth/%s", file);
	size_t len;
	char *text = vec(rel, &len);
	struct fakedns dns;
	fakedns_init(&dns);
	size_t body = fakedns_load_text(&dns, text, len, 1);
	struct dkim_verify_opts o = {.now = now};
	verify(text + body, len - body, &dns, &o, out);
	fakedns_free(&dns);
	free(text);
	free(rel);
}

static void test_stalwart(void **state)
{
	(void)state;
	static const struct {
		const char *file, *want;
	} cases[] = {
	    {"001.txt", "pass,pass"}, /* RFC 8463 A.3: ed25519 + rsa, relaxed */
	    {"002.txt", "pass"},      /* RFC 6376 example, re-signed (PKCS#1 key) */
	    {"003.txt", "pass,pass"},
	    {"005.txt", "pass"},
	    {"006.txt", "pass"},
	    /*
	     * 004 (facebookmail.com) has t=1667862801, 19137 s after the time
	     * stalwart verifies at. Like dkimpy and OpenDKIM we allow 300 s of
	     * clock drift, so at that time it is permerror; at its own t= it
	     * passes (below).
	     */
	    {"004.txt", "permerror"},
	};
	int ok = 0, n = 0;
	struct outcome out;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++, n++) {
		stalwart_run(cases[i].file, STALWART_NOW, &out);
		expect(cases[i].file, &out, cases[i].want);
		ok++;
	}
	stalwart_run("004.txt", 1667862801, &out);
	expect("004 at its t=", &out, "pass");
	ok++, n++;
	/* 005 carries x=1667930064: after that it is expired. */
	stalwart_run("005.txt", 1667930065, &out);
	expect("005 after x=", &out, "permerror");
	assert_string_equal(out.r[0].reason, "signature expired (x=)");
	ok++, n++;
	print_message("# stalwart vectors: %d/%d as expected (6 files; 004 passes at its t=, "
	              "not at stalwart's time: 300 s drift)\n",
	              ok, n);
}

/* ---- Mail::DKIM corpus (t/corpus, t/FAKE_DNS.dat, expected.tsv) ---- */

/* Why our verdict differs from Mail::DKIM's, when it does. */
#define SHA1  "rsa-sha1 is refused (RFC 8301 s3.1): fail"
#define DRAFT "pre-RFC 6376 draft signature (no v=, or v=0.5): permerror"
#define DK    "DomainKey-Signature only (RFC 4870, historic): no DKIM result"
#define GTAG  "key g= was dropped by RFC 6376: ignored, so the signature passes"

static const struct corpus_row {
	const char *file;
	const char *strict;   /* statuses under RFC 8301 (the default) */
	const char *historic; /* statuses with rsa-sha1 and 512-bit keys allowed */
	const char *why;      /* set when the strict verdict differs from Mail::DKIM's */
	const char *why_historic;
} corpus[] = {
    {"good_ietf00_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_ietf00_2.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_ietf00_3.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_ietf00_4.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_ietf00_5.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"mine_ietf01_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"mine_ietf01_2.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"mine_ietf01_3.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"mine_ietf01_4.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"mine_ietf05_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_ietf01_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_ietf01_2.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"good_rfc4871_3.txt", "fail", "pass", SHA1, NULL},
    {"good_rfc4871_4.txt", "fail", "pass", SHA1, NULL},
    {"good_1878523.txt", "fail", "pass", SHA1, NULL},
    {"good_83176.txt", "fail", "pass", SHA1, NULL},
    {"multiple_1.txt", "permerror,permerror,permerror,permerror",
     "permerror,permerror,permerror,permerror", DRAFT, DRAFT},
    {"multiple_2.txt", "permerror,fail,fail,permerror", "permerror,pass,fail,permerror", SHA1,
     NULL},
    {"good_qp_1.txt", "fail", "pass", SHA1, NULL},
    {"good_qp_2.txt", "fail", "pass", SHA1, NULL},
    {"good_qp_3.txt", "fail", "pass", SHA1, NULL},
    {"bad_ietf01_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"bad_ietf01_2.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"bad_ietf01_3.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"bad_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"bad_1878954.txt", "fail", "fail", NULL, NULL}, /* LF file; body hash fails */
    {"good_dk_gmail.txt", "none", "none", DK, DK},
    {"good_dk_yahoo.txt", "none", "none", DK, DK},
    {"good_dk_1.txt", "none", "none", DK, DK},
    {"good_dk_2.txt", "none", "none", DK, DK},
    {"good_dk_3.txt", "none", "none", DK, DK},
    {"good_dk_4.txt", "none", "none", DK, DK},
    {"good_dk_5.txt", "none", "none", DK, DK},
    {"good_dk_6.txt", "none", "none", DK, DK},
    {"good_dk_7.txt", "none", "none", DK, DK},
    {"dk_headers_1.txt", "none", "none", DK, DK},
    {"dk_headers_2.txt", "none", "none", DK, DK},
    {"bad_dk_1.txt", "none", "none", DK, DK},
    {"bad_dk_2.txt", "none", "none", DK, DK},
    {"bad_dk_3.txt", "none", "none", DK, DK},
    {"bad_dk_4.txt", "none", "none", DK, DK},
    {"bad_dk_5.txt", "none", "none", DK, DK},
    {"dk_multiple_1.txt", "none", "none", DK, DK},
    {"no_body_1.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"no_body_2.txt", "permerror", "permerror", DRAFT, DRAFT},
    {"no_body_3.txt", "permerror", "permerror", DRAFT, DRAFT},
    /* ignore_1..4 and badkey_1..7 are v=0.5: refused before the tag or key
     * they test is read, which is an "invalid" verdict all the same. */
    {"ignore_1.txt", "permerror", "permerror", NULL, NULL},
    {"ignore_2.txt", "permerror", "permerror", NULL, NULL},
    {"ignore_3.txt", "permerror", "permerror", NULL, NULL},
    {"ignore_4.txt", "permerror", "permerror", NULL, NULL},
    {"ignore_5.txt", "permerror", "permerror", NULL, NULL}, /* q=http */
    {"ignore_6.txt", "permerror", "permerror", NULL, NULL}, /* q=dns/special */
    {"ignore_7.txt", "permerror", "permerror", NULL, NULL}, /* expired */
    {"ignore_8.txt", "permerror", "permerror", NULL, NULL}, /* i= outside d= */
    {"goodkey_1.txt", "fail", "pass", SHA1, NULL},
    {"goodkey_2.txt", "fail", "pass", SHA1, NULL},
    {"goodkey_3.txt", "fail", "pass", SHA1, NULL},
    {"goodkey_4.txt", "fail", "pass", SHA1, NULL},
    {"badkey_1.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_2.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_3.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_4.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_5.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_6.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_7.txt", "permerror", "permerror", NULL, NULL},
    {"badkey_8.txt", "fail", "pass", SHA1, GTAG},
    {"badkey_9.txt", "fail", "pass", SHA1, GTAG},
    {"badkey_10.txt", "fail", "permerror", SHA1, NULL},      /* t=s with i= in a subdomain */
    {"badkey_11.txt", "permerror", "permerror", NULL, NULL}, /* key h= lacks sha256 */
    {"badkey_12.txt", "fail", "pass", SHA1, GTAG},
    {"badkey_13.txt", "fail", "pass", SHA1, GTAG},
    /* rsa-sha1 is refused before the key lookup, so the DNS error of
     * badkey_14/15 only shows in historic mode. */
    {"badkey_14.txt", "fail", "temperror", SHA1, NULL},
    {"badkey_15.txt", "fail", "temperror", SHA1, NULL},
    {"goodkey_ed25519.txt", "pass", "pass", NULL, NULL},
    {"badkey1_ed25519.txt", "permerror", "permerror", NULL, NULL}, /* SPKI, not 32 octets */
    {"badkey2_ed25519.txt", "fail", "fail", NULL, NULL},
    {"badkey3_ed25519.txt", "fail", "fail", NULL, NULL},
    {"badkey4_ed25519.txt", "permerror", "permerror", NULL, NULL},
    {"badkey5_ed25519.txt", "permerror", "permerror", NULL, NULL}, /* "" record */
};

/* Mail::DKIM's expected verdict for file, from expected.tsv. */
static char *upstream_verdict(const char *tsv, const char *file)
{
	size_t fl = strlen(file);
	for (const char *line = tsv; line && *line;) {
		const char *nl = strchr(line, '\n');
		if (strncmp(line, file, fl) == 0 && line[fl] == '\t') {
			const char *v = line + fl + 1;
			return xstrndup(v, strcspn(v, "\t\r\n"));
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static void test_mail_dkim_corpus(void **state)
{
	(void)state;
	struct fakedns dns;
	fakedns_init(&dns);
	char *path = xasprintf("%s/dkim/mail-dkim/FAKE_DNS.dat", tdir());
	assert_int_equal(fakedns_load_file(&dns, path), 0);
	free(path);
	size_t tsvlen;
	char *tsv = vec("dkim/mail-dkim/expected.tsv", &tsvlen);
	size_t nrows = sizeof(corpus) / sizeof(*corpus), ok = 0, agree = 0, agree_h = 0;
	int rows_in_tsv = 0;
	for (const char *l = tsv; (l = strstr(l, ".txt\t")) != NULL; l++)
		rows_in_tsv++;
	assert_int_equal(rows_in_tsv, (int)nrows); /* every upstream row is covered */
	struct dkim_verify_opts strict = {.now = CORPUS_NOW};
	struct dkim_verify_opts historic = {
	    .now = CORPUS_NOW, .allow_rsa_sha1 = 1, .min_rsa_bits = 512};
	for (size_t i = 0; i < nrows; i++) {
		const struct corpus_row *row = &corpus[i];
		char *up = upstream_verdict(tsv, row->file);
		if (up == NULL)
			fail_msg("%s is not in expected.tsv", row->file);
		char *rel = xasprintf("dkim/mail-dkim/corpus/%s", row->file);
		size_t len;
		char *msg = vec(rel, &len);
		struct outcome a, b;
		verify(msg, len, &dns, &strict, &a);
		verify(msg, len, &dns, &historic, &b);
		expect(row->file, &a, row->strict);
		expect(row->file, &b, row->historic);
		/* A difference from Mail::DKIM must be explained, and only a
		 * difference may be. */
		int same_a = strcmp(verdict(&a), up) == 0, same_b = strcmp(verdict(&b), up) == 0;
		if (same_a == (row->why != NULL) || same_b == (row->why_historic != NULL))
			fail_msg("%s: Mail::DKIM says %s, we say %s / %s (historic); the table's "
			         "reasons do not match",
			         row->file, up, verdict(&a), verdict(&b));
		agree += same_a;
		agree_h += same_b;
		ok++;
		free(msg);
		free(rel);
		free(up);
	}
	print_message("# Mail::DKIM corpus: %zu/%zu as expected; verdict equal to Mail::DKIM's in "
	              "%zu/%zu (RFC 8301 default), %zu/%zu with rsa-sha1 and 512-bit keys allowed; "
	              "every difference has its reason in the table\n",
	              ok, nrows, agree, nrows, agree_h, nrows);
	free(tsv);
	fakedns_free(&dns);
}

/* ---- engine behaviour ---- */

static const char small_msg[] = "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n";

static void test_unsigned_and_headers(void **state)
{
	(void)state;
	struct dkim_verify_opts o = {.now = 1};
	struct dkim_verify *v = dkim_verify_new(&o);
	const char *names[4];
	dkim_verify_update(v, small_msg, sizeof(small_msg) - 1);
	assert_true(dkim_verify_headers_done(v));
	assert_int_equal(dkim_verify_keys_needed(v, names, 4), 0);
	dkim_verify_end(v);
	assert_true(dkim_verify_done(v));
	assert_int_equal(dkim_verify_result_count(v), 0);
	assert_int_equal(dkim_verify_header_count(v), 2);
	const char *f;
	size_t len;
	assert_int_equal(dkim_verify_header(v, 1, &f, &len), 0);
	assert_int_equal(len, strlen("Subject: hi"));
	assert_memory_equal(f, "Subject: hi", len);
	assert_int_equal(dkim_verify_header(v, 2, &f, &len), -1);
	const char *vals[2];
	size_t lens[2];
	assert_int_equal(dkim_verify_header_values(v, "from", vals, lens, 2), 1);
	assert_int_equal(lens[0], strlen(" a@example.com"));
	assert_memory_equal(vals[0], " a@example.com", lens[0]);
	assert_int_equal(dkim_verify_header_values(v, "To", vals, lens, 2), 0);
	assert_int_equal(
	    dkim_verify_key_answer(v, "x._domainkey.example.com", DKIM_DNS_NXDOMAIN, NULL, NULL, 0),
	    -1);
	dkim_verify_free(v);
}

static void test_header_cap(void **state)
{
	(void)state;
	struct dkim_verify_opts o = {.now = 1, .max_header = 64};
	struct dkim_verify *v = dkim_verify_new(&o);
	char msg[512];
	snprintf(msg, sizeof(msg),
	         "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; "
	         "h=from; bh=AAAA; b=AAAA\r\nFrom: a@example.com\r\n\r\nbody\r\n");
	dkim_verify_update(v, msg, strlen(msg));
	dkim_verify_end(v);
	assert_true(dkim_verify_done(v));
	assert_int_equal(dkim_verify_result_count(v), 1);
	assert_int_equal(dkim_verify_result(v, 0)->status, DKIM_POLICY);
	assert_int_equal(dkim_verify_header_count(v), 0);
	dkim_verify_free(v);
}

/* A key name asked once even when two signatures share it; answers are
 * case-insensitive and may carry the root dot; a TEMPFAIL is temperror. */
static void test_key_answers(void **state)
{
	(void)state;
	size_t len;
	char *msg = vec("dkim/dkimpy/rfc6376.signed.msg", &len);
	struct dkim_verify_opts o = {.now = 1700000000};
	struct dkim_verify *v = dkim_verify_new(&o);
	dkim_verify_update(v, msg, len);
	const char *names[4];
	assert_int_equal(dkim_verify_keys_needed(v, names, 4), 2);
	assert_string_equal(names[0], "brisbane._domainkey.football.example.com");
	assert_string_equal(names[1], "test._domainkey.football.example.com");
	assert_int_equal(dkim_verify_key_answer(v, "TEST._domainkey.Football.Example.COM.",
	                                        DKIM_DNS_TEMPFAIL, NULL, NULL, 0),
	                 0);
	assert_int_equal(dkim_verify_keys_needed(v, names, 4), 1);
	assert_false(dkim_verify_done(v));
	dkim_verify_end(v);
	assert_false(dkim_verify_done(v));
	assert_int_equal(dkim_verify_key_answer(v, "brisbane._domainkey.football.example.com",
	                                        DKIM_DNS_NODATA, NULL, NULL, 0),
	                 0);
	assert_true(dkim_verify_done(v));
	assert_int_equal(dkim_verify_result(v, 0)->status, DKIM_PERMERROR);
	assert_int_equal(dkim_verify_result(v, 1)->status, DKIM_TEMPERROR);
	/* A late or repeated answer changes nothing. */
	assert_int_equal(dkim_verify_key_answer(v, "brisbane._domainkey.football.example.com",
	                                        DKIM_DNS_OK, NULL, NULL, 0),
	                 0);
	assert_int_equal(dkim_verify_result(v, 0)->status, DKIM_PERMERROR);
	dkim_verify_free(v);
	free(msg);
}

/* More signatures than max_sigs: the rest are neutral and need no key. */
static void test_max_sigs(void **state)
{
	(void)state;
	size_t len;
	char *msg = vec("dkim/dkimpy/rfc6376.signed.msg", &len);
	struct fakedns dns;
	fakedns_init(&dns);
	char *path = xasprintf("%s/dkim/dkimpy/DNS.tsv", tdir());
	assert_int_equal(fakedns_load_file(&dns, path), 0);
	free(path);
	struct dkim_verify_opts o = {.now = 1700000000, .max_sigs = 1};
	struct outcome out;
	verify(msg, len, &dns, &o, &out);
	expect("max_sigs 1", &out, "pass,neutral");
	assert_false(fakedns_was_asked(&dns, "test._domainkey.football.example.com"));
	fakedns_free(&dns);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dkimpy_messages),
	    cmocka_unit_test(test_dkimpy_key_records),
	    cmocka_unit_test(test_dkimpy_baddomain),
	    cmocka_unit_test(test_dkimpy_tampered),
	    cmocka_unit_test(test_stalwart),
	    cmocka_unit_test(test_mail_dkim_corpus),
	    cmocka_unit_test(test_unsigned_and_headers),
	    cmocka_unit_test(test_header_cap),
	    cmocka_unit_test(test_key_answers),
	    cmocka_unit_test(test_max_sigs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
