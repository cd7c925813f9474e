/*
 * Unit tests for Authentication-Results: the builder's exact output,
 * escaping of hostile values, folding, and the finder of fields that
 * claim our authserv-id (spacing, comments, quoting, folding, look-alike
 * ids and field names).
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "xmalloc.h"

static void check_lines(const char *h)
{
	size_t len = strlen(h);
	assert_true(len >= 2 && strcmp(h + len - 2, "\r\n") == 0);
	for (const char *p = h; *p; p++) {
		assert_true(*p != '\r' || p[1] == '\n');
		assert_true(*p != '\n' || (p > h && p[-1] == '\r'));
		if (*p == '\n' && p[1])
			assert_true(p[1] == '\t'); /* every continuation folds */
	}
}

static void test_build(void **state)
{
	(void)state;
	struct authres *a = authres_new("mx.example.org");
	assert_int_equal(authres_add_spf(a, "pass", "alice@example.com", "mail.example.com", NULL),
	                 0);
	struct dkim_result r = {.status = DKIM_PASS,
	                        .domain = "example.com",
	                        .identity = "@example.com",
	                        .selector = "sel",
	                        .b8 = "ab+/cd=e",
	                        .alg = DKIM_ALG_ED25519_SHA256,
	                        .key_bits = 256};
	assert_int_equal(authres_add_dkim(a, &r), 0);
	struct dkim_result f = {.status = DKIM_FAIL,
	                        .reason = "body hash did not verify",
	                        .domain = "example.net",
	                        .identity = "\"odd user\"@example.net",
	                        .selector = "s",
	                        .b8 = "AAAABBBB",
	                        .alg = DKIM_ALG_RSA_SHA256,
	                        .key_bits = 2048,
	                        .testing = 1};
	assert_int_equal(authres_add_dkim(a, &f), 0);
	struct dmarc_outcome o = {.result = DMARC_RESULT_FAIL,
	                          .policy = DMARC_POLICY_REJECT,
	                          .disposition = DMARC_POLICY_QUARANTINE,
	                          .from_domain = "example.com",
	                          .reason = "no aligned DKIM or SPF pass"};
	assert_int_equal(authres_add_dmarc(a, &o), 0);
	assert_int_equal(authres_add_dnsbl(a, "fail", "zen.example.org", "127.0.0.2",
	                                   "Listed; see https://x.example/?ip=1"),
	                 0);
	char *h = authres_build(a);
	const char *want =
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tspf=pass smtp.mailfrom=alice@example.com smtp.helo=mail.example.com;\r\n"
	    "\tdkim=pass (256-bit key) header.d=example.com header.i=@example.com\r\n"
	    "\t  header.s=sel header.a=ed25519-sha256 header.b=\"ab+/cd=e\";\r\n"
	    "\tdkim=fail (2048-bit key; test mode) reason=\"body hash did not verify\"\r\n"
	    "\t  header.d=example.net header.i=\"\\\"odd user\\\"@example.net\" header.s=s\r\n"
	    "\t  header.a=rsa-sha256 header.b=AAAABBBB;\r\n"
	    "\tdmarc=fail (p=reject dis=quarantine)\r\n"
	    "\t  reason=\"no aligned DKIM or SPF pass\" header.from=example.com;\r\n"
	    "\tx-dnsbl=fail dns.zone=zen.example.org policy.ip=127.0.0.2\r\n"
	    "\t  policy.txt=\"Listed; see https://x.example/?ip=1\"\r\n";
	if (strcmp(h, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", h, want);
	check_lines(h);
	assert_true(authres_is_ours(h, strlen(h) - 2, "MX.example.org"));
	free(h);
	authres_free(a);

	a = authres_new("mx.example.org");
	h = authres_build(a);
	assert_string_equal(h, "Authentication-Results: mx.example.org; none\r\n");
	free(h);
	/* method and result are our constants, never free text */
	assert_int_equal(authres_add(a, "spf pass", "pass", NULL, NULL, NULL, 0), -1);
	assert_int_equal(authres_add(a, "spf", "pass;", NULL, NULL, NULL, 0), -1);
	assert_int_equal(authres_add(a, "", "pass", NULL, NULL, NULL, 0), -1);
	for (int i = 0; i < AUTHRES_MAX_RESULTS; i++)
		assert_int_equal(authres_add(a, "spf", "none", NULL, NULL, NULL, 0), 0);
	assert_int_equal(authres_add(a, "spf", "none", NULL, NULL, NULL, 0), -1);
	authres_free(a);
}

/* Values from the network cannot break out of their place. */
static void test_escaping(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"example.com", "example.com"},
	    {"user@example.com", "user@example.com"},
	    {"@example.com", "@example.com"},
	    {"first.last@sub.example.com", "first.last@sub.example.com"},
	    {"a b", "\"a b\""},
	    {"", "\"\""},
	    {"x;y", "\"x;y\""},
	    {"a\"b\\c", "\"a\\\"b\\\\c\""},
	    {"evil\r\nX-Injected: 1", "\"evil??X-Injected: 1\""},
	    {"(comment)", "\"(comment)\""},
	    {"a..b@example.com", "\"a..b@example.com\""},
	    {"user@", "\"user@\""},
	    {"caf\xc3\xa9@example.com", "\"caf\xc3\xa9@example.com\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char out[128];
		authres_escape_value(out, sizeof(out), cases[i].in);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("\"%s\": got %s", cases[i].in, out);
	}
	/* truncated, still closed */
	char small[8];
	authres_escape_value(small, sizeof(small), "a b c d e f g");
	assert_string_equal(small, "\"a b c\"");

	struct authres *a = authres_new("mx.example.org");
	authres_add_spf(a, "fail", "\"x\r\ny\"@example.com", "h)elo", "reason \"quoted\" (x)");
	authres_add(a, "x-test", "pass", "a (nested) \\ comment\r\n", NULL, NULL, 0);
	char *h = authres_build(a);
	check_lines(h);
	assert_non_null(strstr(h, "smtp.mailfrom=\"\\\"x??y\\\"@example.com\""));
	assert_non_null(strstr(h, "smtp.helo=\"h)elo\""));
	assert_non_null(strstr(h, "reason=\"reason \\\"quoted\\\" (x)\""));
	assert_non_null(strstr(h, "(a \\(nested\\) \\\\ comment?"
	                          "?)"));
	free(h);
	authres_free(a);
	a = authres_new("my server");
	h = authres_build(a);
	assert_string_equal(h, "Authentication-Results: \"my server\"; none\r\n");
	free(h);
	authres_free(a);
}

static void test_ours(void **state)
{
	(void)state;
	static const struct {
		const char *field;
		int ours;
	} cases[] = {
	    {"Authentication-Results: mx.example.org; spf=pass", 1},
	    {"authentication-results:mx.example.org;none", 1},
	    {"AUTHENTICATION-RESULTS : MX.Example.ORG (comment); dkim=pass", 1},
	    {"Authentication-Results: (c (nested \\) x)) mx.example.org 1; none", 1},
	    {"Authentication-Results:\r\n\tmx.example.org;\r\n\tspf=pass", 1},
	    {"Authentication-Results: \"mx.example.org\"; none", 1},
	    {"Authentication-Results: \"mx.exa\\mple.org\"; none", 1},
	    {"Authentication-Results: mx.example.org(x);none", 1},
	    {"Authentication-Results: mx.example.org", 1},
	    {"Authentication-Results: mx.example.org.evil.com; spf=pass", 0},
	    {"Authentication-Results: evil.com; spf=pass smtp.mailfrom=mx.example.org", 0},
	    {"Authentication-Results: mx.example.orgx; none", 0},
	    {"Authentication-Results: xmx.example.org; none", 0},
	    {"Authentication-Results: mx.example.org/x; none", 0},
	    {"Authentication-Results: mx.example.org=; none", 0},
	    {"Authentication-Results: \"mx.example.org ; none", 0},
	    {"Authentication-Results: (unterminated mx.example.org; none", 0},
	    {"Authentication-Results: ; mx.example.org", 0},
	    {"Authentication-Results:", 0},
	    {"X-Authentication-Results: mx.example.org; none", 0},
	    {"ARC-Authentication-Results: i=1; mx.example.org; spf=pass", 0},
	    {"Authentication-Results-X: mx.example.org; none", 0},
	    {"Authentication-Results mx.example.org; none", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		size_t len = strlen(cases[i].field);
		char *copy = xmemdup(cases[i].field, len);
		if (authres_is_ours(copy, len, "mx.example.org") != cases[i].ours)
			fail_msg("\"%s\": expected %d", cases[i].field, cases[i].ours);
		free(copy);
	}
}

static void test_find(void **state)
{
	(void)state;
	const char *hdr = "Received: from x\r\n"
	                  "Authentication-Results: mx.example.org; spf=pass\r\n"
	                  "Authentication-Results: other.example; spf=fail\r\n"
	                  "Subject: hello\r\n"
	                  "authentication-results :\r\n"
	                  " (forged) MX.EXAMPLE.ORG;\r\n"
	                  "\tdkim=pass\r\n"
	                  "From: a@example.com\r\n"
	                  "\r\n"
	                  "Authentication-Results: mx.example.org; in the body\r\n";
	struct authres_span s[4];
	size_t n = authres_find(hdr, strlen(hdr), "mx.example.org", s, 4);
	assert_int_equal(n, 2);
	/* cut them out: what remains is the header without them */
	char out[1024];
	size_t o = 0, at = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + o, hdr + at, s[i].off - at);
		o += s[i].off - at;
		at = s[i].off + s[i].len;
	}
	strcpy(out + o, hdr + at);
	assert_string_equal(out, "Received: from x\r\n"
	                         "Authentication-Results: other.example; spf=fail\r\n"
	                         "Subject: hello\r\n"
	                         "From: a@example.com\r\n"
	                         "\r\n"
	                         "Authentication-Results: mx.example.org; in the body\r\n");
	/* more than max: counted, not written */
	assert_int_equal(authres_find(hdr, strlen(hdr), "mx.example.org", s, 1), 2);
	/* a header section without the blank line, last field without CRLF */
	const char *tail = "Authentication-Results: mx.example.org; none";
	n = authres_find(tail, strlen(tail), "mx.example.org", s, 4);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].len, strlen(tail));
	assert_int_equal(authres_find("", 0, "mx.example.org", s, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_ours),
	    cmocka_unit_test(test_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
