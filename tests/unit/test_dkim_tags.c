/*
 * Unit tests for the DKIM tag-list, signature and key-record parsers and
 * the DNS-name check, good and bad. Every input is parsed from an
 * exactly-sized heap copy, so ASan sees any read past the end.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_tags.h"
#include "xmalloc.h"

static int tags(const char *s, struct dkim_tag *t, size_t *n)
{
	char err[128];
	size_t len = strlen(s);
	char *copy = xmemdup(s, len);
	int rc = dkim_tags_parse(copy, len, t, DKIM_TAGS_MAX, n, err, sizeof(err));
	if (rc == 0) /* point into the caller's string, which outlives the copy */
		for (size_t i = 0; i < *n; i++) {
			t[i].name = s + (t[i].name - copy);
			t[i].value = s + (t[i].value - copy);
		}
	free(copy);
	return rc;
}

static void test_tag_lists(void **state)
{
	(void)state;
	struct dkim_tag t[DKIM_TAGS_MAX];
	size_t n;
	const char *s = " v=1;\r\n\ta = rsa-sha256 ;b=AB\r\n CD; z_9=; ";
	assert_int_equal(tags(s, t, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(t[1].name, "a", 1);
	assert_int_equal(t[1].value_len, strlen("rsa-sha256"));
	assert_memory_equal(t[1].value, "rsa-sha256", t[1].value_len);
	assert_int_equal(t[2].value_len, strlen("AB\r\n CD")); /* inner FWS kept */
	assert_int_equal(t[3].value_len, 0);
	/* raw span: everything after '=' up to the ';' */
	assert_int_equal(t[2].raw_start, (size_t)(strstr(s, "b=") - s) + 2);
	assert_int_equal(t[2].raw_end, (size_t)(strstr(s, "; z_9") - s));
	assert_int_equal(tags("a=b", t, &n), 0);
	assert_int_equal(n, 1);

	static const char *const bad[] = {
	    "",        " ",       ";",  "a",     "a=b;;c=d", "1a=b", "a=b; a=c",
	    "a=b\x01", "a=b\x7f", "=b", "a b=c", "a=b;c",    "-a=b",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (tags(bad[i], t, &n) != -1)
			fail_msg("accepted bad tag list \"%s\"", bad[i]);
	/* case matters in tag names (RFC 6376 §3.2): not a duplicate */
	assert_int_equal(tags("a=1; A=2", t, &n), 0);
	char many[1024] = "";
	for (int i = 0; i <= DKIM_TAGS_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "t%d=x;", i);
	assert_int_equal(tags(many, t, &n), -1);
}

static void test_base64(void **state)
{
	(void)state;
	uint8_t out[16];
	size_t n;
	assert_int_equal(dkim_base64_decode("aGVs\r\n bG8=", 11, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	assert_int_equal(dkim_base64_decode("aGVsbG8", 7, out, sizeof(out), &n), 0); /* unpadded */
	assert_int_equal(n, 5);
	assert_int_equal(dkim_base64_decode("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	static const char *const bad[] = {"aGVs*G8=", "aGVsbG8=a", "a", "aGVsbG8===", "aGVsb=8="};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(dkim_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
		                 -1);
	assert_int_equal(dkim_base64_decode("aGVsbG8=", 8, out, 4, &n), -1); /* too long */
}

static void test_names(void **state)
{
	(void)state;
	static const char *const good[] = {"example.com", "a-b.c", "x", "EXAMPLE.com", "a1.b2"};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(dkim_name_valid(good[i], strlen(good[i]), 0));
	static const char *const bad[] = {"legitimate.com(.attacker.com",
	                                  "",
	                                  "-a.com",
	                                  "a-.com",
	                                  "a..com",
	                                  ".a",
	                                  "a.",
	                                  "a b.com",
	                                  "a_b.com",
	                                  "ex\xc3\xa9.com",
	                                  "a\0b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (dkim_name_valid(bad[i], strlen(bad[i]) + (i == 10 ? 3 : 0), 0))
			fail_msg("accepted bad name \"%s\"", bad[i]);
	assert_true(dkim_name_valid("s_1.sub", 7, 1)); /* selectors may use '_' */
	char label[70];
	memset(label, 'a', 64);
	assert_false(dkim_name_valid(label, 64, 0));
	assert_true(dkim_name_valid(label, 63, 0));
	char longname[300];
	for (int i = 0; i < 64; i++)
		memcpy(longname + 4 * i, "abc.", 4);
	assert_true(dkim_name_valid(longname, 251, 0));
	assert_false(dkim_name_valid(longname, 255, 0));
}

#define B64SIG "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ=="
#define BH32   "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define BH20   "2jmj7l5rSw0yVb/vlWAYkK/YBwk="

static int sig(const char *s, struct dkim_sig *out, char *err, size_t errlen)
{
	size_t len = strlen(s);
	char *copy = xmemdup(s, len);
	int rc = dkim_sig_parse(copy, len, out, err, errlen);
	free(copy);
	return rc;
}

static void test_signature(void **state)
{
	(void)state;
	struct dkim_sig *s = xmalloc(sizeof(*s));
	char err[160];
	const char *good = " v=1; a=rsa-sha256; c=relaxed/simple; d=Example.COM;\r\n"
	                   "\ts=sel; t=100; x=200; l=42; q=dns/txt; i=j=40o@sub.example.com;\r\n"
	                   "\th=From : To:\r\n\tsubject; bh=" BH32
	                   ";\r\n\tb=dGhp cyBp\r\n\tcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==; z=a";
	if (sig(good, s, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(s->alg, DKIM_ALG_RSA_SHA256);
	assert_int_equal(s->hcanon, DKIM_CANON_RELAXED);
	assert_int_equal(s->bcanon, DKIM_CANON_SIMPLE);
	assert_string_equal(s->domain, "Example.COM");
	assert_string_equal(s->selector, "sel");
	assert_string_equal(s->identity, "j@o@sub.example.com");
	assert_string_equal(s->b8, "dGhpcyBp");
	assert_int_equal(s->blen, strlen("this is not a real signature"));
	assert_int_equal(s->bhlen, 32);
	assert_int_equal(s->nh, 3);
	assert_string_equal(s->hbuf + s->hoff[0], "from");
	assert_string_equal(s->hbuf + s->hoff[2], "subject");
	assert_true(s->has_l && s->l == 42 && s->t == 100 && s->x == 200);
	const char *b = strstr(good, "b=dGhp") + 2;
	assert_int_equal(s->braw_start, (size_t)(b - good));
	assert_int_equal(s->braw_end, (size_t)(strstr(good, "; z=a") - good));

	/* defaults: c=simple/simple, i=@d */
	assert_int_equal(sig("v=1; a=ed25519-sha256; d=a.b; s=s; h=from; bh=" BH32 "; b=" B64SIG, s,
	                     err, sizeof(err)),
	                 0);
	assert_int_equal(s->hcanon, DKIM_CANON_SIMPLE);
	assert_int_equal(s->bcanon, DKIM_CANON_SIMPLE);
	assert_string_equal(s->identity, "@a.b");
	assert_int_equal(
	    sig("v=1; a=rsa-sha1; d=a.b; s=s; h=from; bh=" BH20 "; b=" B64SIG, s, err, sizeof(err)),
	    0);
	assert_int_equal(s->alg, DKIM_ALG_RSA_SHA1);
	assert_int_equal(sig("v=1; a=rsa-sha256; c=relaxed; d=a.b; s=s; h=from; bh=" BH32
	                     "; b=" B64SIG "; l="
	                     "99999999999999999999999999",
	                     s, err, sizeof(err)),
	                 0);
	assert_int_equal(s->bcanon, DKIM_CANON_SIMPLE); /* c=relaxed: body simple */
	assert_true(s->l == UINT64_MAX);                /* saturated */

	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"a=rsa-sha256; d=a.b; s=s; h=from; bh=" BH32 "; b=" B64SIG, "no v= tag"},
	    {"v=2; a=rsa-sha256; d=a.b; s=s; h=from; bh=" BH32 "; b=" B64SIG,
	     "unsupported version (v=)"},
	    {"v=1; a=rsa-md5; d=a.b; s=s; h=from; bh=" BH32 "; b=" B64SIG,
	     "unsupported algorithm (a=)"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh=" BH32, "missing required tag (b=)"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; b=" B64SIG, "missing required tag (bh=)"},
	    {"v=1; a=rsa-sha256; s=s; h=from; bh=" BH32 "; b=" B64SIG, "missing required tag (d=)"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; bh=" BH32 "; b=" B64SIG, "missing required tag (h=)"},
	    {"v=1; a=rsa-sha256; d=a.b; h=from; bh=" BH32 "; b=" B64SIG,
	     "missing required tag (s=)"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh=" BH32 "; b=", "bad b= value"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh=" BH32 "; b=!!!!", "bad b= value"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; bh=" BH20 "; b=" B64SIG, "bad bh= value"},
	    {"v=1; a=rsa-sha256; c=future; d=a.b; s=s; h=from; bh=" BH32 "; b=" B64SIG,
	     "unsupported canonicalization (c=)"},
	    {"v=1; a=rsa-sha256; c=simple/; d=a.b; s=s; h=from; bh=" BH32 "; b=" B64SIG,
	     "unsupported canonicalization (c=)"},
	    {"v=1; a=rsa-sha256; d=legitimate.com(.attacker.com; s=s; h=from; bh=" BH32
	     "; b=" B64SIG,
	     "bad domain name in d="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s s; h=from; bh=" BH32 "; b=" B64SIG,
	     "bad selector in s="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=to:subject; bh=" BH32 "; b=" B64SIG,
	     "From field not signed (h=)"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from::to; bh=" BH32 "; b=" B64SIG,
	     "empty header name in h="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=x@c.d; bh=" BH32 "; b=" B64SIG,
	     "i= is not within d="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=x@xa.b; bh=" BH32 "; b=" B64SIG,
	     "i= is not within d="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=a.b; bh=" BH32 "; b=" B64SIG,
	     "i= without '@'"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=x=4@a.b; bh=" BH32 "; b=" B64SIG,
	     "bad quoted-printable in i="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; i=x=0A@a.b; bh=" BH32 "; b=" B64SIG, "bad i="},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; l=x; bh=" BH32 "; b=" B64SIG, "bad l= value"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; q=dns; bh=" BH32 "; b=" B64SIG,
	     "unsupported query method (q=)"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; t=1234567890123; bh=" BH32 "; b=" B64SIG,
	     "bad t= value"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; x=-1; bh=" BH32 "; b=" B64SIG, "bad x= value"},
	    {"v=1; a=rsa-sha256; d=a.b; s=s; h=from; t=10; x=9; bh=" BH32 "; b=" B64SIG,
	     "x= is before t="},
	    {"v=1; v=1; a=rsa-sha256", "duplicate tag \"v\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		if (sig(bad[i].s, s, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i].s);
		if (strcmp(err, bad[i].why) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].s, err, bad[i].why);
	}
	/* the result header still gets d=, s= and b8 from a broken signature */
	assert_int_equal(sig("v=1; a=rsa-sha256; d=a.b; s=sel; h=to; bh=" BH32 "; b=" B64SIG, s,
	                     err, sizeof(err)),
	                 -1);
	assert_string_equal(s->domain, "a.b");
	assert_string_equal(s->selector, "sel");
	assert_string_equal(s->b8, "dGhpcyBp");
	/* a key name over 253 octets */
	char dom[256] = "", longsig[1024];
	for (int i = 0; i < 4; i++)
		snprintf(dom + strlen(dom), sizeof(dom) - strlen(dom), "%.50s.",
		         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij");
	strcat(dom, "com"); /* 207 octets; with a 40-octet selector the key name is 259 */
	snprintf(longsig, sizeof(longsig),
	         "v=1; a=rsa-sha256; d=%s; s=%.40s; h=from; bh=" BH32 "; b=" B64SIG, dom,
	         "ssssssssssssssssssssssssssssssssssssssssssss");
	assert_int_equal(sig(longsig, s, err, sizeof(err)), -1);
	assert_string_equal(err, "key name too long");
	free(s);
}

static int keyrec(const char *txt, struct dkim_keyrec *k, char *err, size_t errlen)
{
	size_t len = strlen(txt);
	char *copy = xmemdup(txt, len);
	int rc = dkim_keyrec_parse(copy, len, k, err, errlen);
	free(copy);
	return rc;
}

static void test_key_records(void **state)
{
	(void)state;
	struct dkim_keyrec k;
	char err[160];
	assert_int_equal(keyrec("v=DKIM1; k=ed25519; p=" BH32, &k, err, sizeof(err)), 0);
	assert_int_equal(k.type, DKIM_KEY_ED25519);
	assert_int_equal(k.plen, 32);
	assert_true(k.h_sha1 && k.h_sha256 && !k.testing && !k.strict && !k.revoked);
	assert_int_equal(keyrec("p=" BH32 "; t=y:s:x; h=sha1 : sha256; s=email:*; n=notes here", &k,
	                        err, sizeof(err)),
	                 0);
	assert_int_equal(k.type, DKIM_KEY_RSA); /* k= defaults to rsa */
	assert_true(k.testing && k.strict && k.h_sha1 && k.h_sha256);
	assert_int_equal(keyrec("h=sha1; p=" BH32, &k, err, sizeof(err)), 0);
	assert_true(k.h_sha1 && !k.h_sha256);
	assert_int_equal(keyrec("v=DKIM1; p=", &k, err, sizeof(err)), 0);
	assert_true(k.revoked);
	assert_int_equal(keyrec("s=*; p=" BH32, &k, err, sizeof(err)), 0);

	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"", "empty tag list"},
	    {"k=rsa; v=DKIM1; p=" BH32, "unsupported key record version (v=)"},
	    {"v=DKIM2; p=" BH32, "unsupported key record version (v=)"},
	    {"v=DKIM1: g=*; p=" BH32, "unsupported key record version (v=)"},
	    {"k=ed25519-sha256; p=" BH32, "unknown key type (k=)"},
	    {"s=chat; p=" BH32, "key not for email (s=)"},
	    {"s=tlsrpt; p=" BH32, "key not for email (s=)"},
	    {"v=DKIM1; k=rsa", "key record without p="},
	    {"p=abc!", "bad public key (p=)"},
	    {"k=rsa; t; p=" BH32, "tag \"t\" without '='"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		if (keyrec(bad[i].s, &k, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i].s);
		if (strcmp(err, bad[i].why) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].s, err, bad[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tag_lists),   cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_names),       cmocka_unit_test(test_signature),
	    cmocka_unit_test(test_key_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
