/*
 * Unit tests for the statements of the sender checks and DKIM signing
 * (src/conf/conf_checks.c, parse.y): spf, dmarc, dnsbl (zones, lists,
 * reject/tag, answer codes, the allow-list), dkim verify and dkim sign,
 * what they mean together, and every error with its file:line.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "xmalloc.h"

#define MIN_TAIL                                                                                   \
	"listen on 127.0.0.1 port 2525\n"                                                          \
	"table domains { \"example.org\" }\n"                                                      \
	"action \"local\" maildir \"/m/%{user}\"\n"                                                \
	"match from any for domain <domains> action \"local\"\n"

static struct config *parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return conf_parse_string("t.conf", text, strlen(text), err, errlen);
}

static struct config *parse_ok(const char *text)
{
	char err[512];
	struct config *c = parse(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("unexpected error: %s\n--- text:\n%s", err, text);
	return c;
}

static void expect_err(const char *text, const char *want)
{
	char err[512];
	struct config *c = parse(text, err, sizeof(err));
	if (c != NULL) {
		conf_free(c);
		fail_msg("expected error \"%s\", got success\n--- text:\n%s", want, text);
	}
	if (strcmp(err, want) != 0)
		fail_msg("expected error \"%s\"\n             got \"%s\"\n--- text:\n%s", want, err,
		         text);
}

static void test_defaults_off(void **state)
{
	(void)state;
	struct config *c = parse_ok(MIN_TAIL);
	assert_int_equal(c->spf, CHECK_OFF);
	assert_int_equal(c->dmarc, CHECK_OFF);
	assert_false(c->dkim_verify);
	assert_int_equal(c->n_dnsbl, 0);
	assert_int_equal(c->n_dkim_sign, 0);
	assert_false(conf_checks_on(c));
	assert_false(conf_has_dkim_sign(c));
	conf_free(c);
	/* the built-in default runs neither the resolver nor the signer role */
	c = conf_default();
	assert_false(conf_checks_on(c));
	assert_false(conf_has_dkim_sign(c));
	conf_free(c);
}

static void test_spf_dmarc(void **state)
{
	(void)state;
	struct config *c = parse_ok(MIN_TAIL "spf reject\n");
	assert_int_equal(c->spf, CHECK_REJECT);
	assert_int_equal(conf_spf_policy(c), CHECK_REJECT);
	assert_false(conf_dkim_verifying(c));
	assert_true(conf_checks_on(c));
	conf_free(c);

	/* dmarc needs both verdicts: SPF is recorded, DKIM verified */
	c = parse_ok(MIN_TAIL "dmarc quarantine\n");
	assert_int_equal(c->dmarc, CHECK_QUARANTINE);
	assert_int_equal(c->spf, CHECK_OFF);
	assert_int_equal(conf_spf_policy(c), CHECK_TAG);
	assert_true(conf_dkim_verifying(c));
	conf_free(c);
	c = parse_ok(MIN_TAIL "dmarc reject\nspf tag\ndkim verify\n");
	assert_int_equal(c->dmarc, CHECK_REJECT);
	assert_int_equal(conf_spf_policy(c), CHECK_TAG);
	assert_true(c->dkim_verify);
	conf_free(c);
	c = parse_ok(MIN_TAIL "dmarc off\nspf off\n");
	assert_false(conf_checks_on(c));
	conf_free(c);

	expect_err(MIN_TAIL "spf quarantine\n",
	           "t.conf:5: spf: \"quarantine\" is not a policy of SPF (reject, tag or off)");
	expect_err(MIN_TAIL "spf tag\nspf reject\n", "t.conf:6: spf already set on line 5");
	expect_err(MIN_TAIL "dmarc tag\ndmarc tag\n", "t.conf:6: dmarc already set on line 5");
	expect_err(MIN_TAIL "spf\n", "t.conf:5: syntax error, unexpected end of line, expecting "
	                             "off or quarantine or reject or tag");
}

static void test_dnsbl(void **state)
{
	(void)state;
	struct config *c = parse_ok(MIN_TAIL "dnsbl \"zen.example\"\n"
	                                     "dnsbl { \"a.example\", \"B.example\" } tag\n"
	                                     "dnsbl bl.example reject codes { \"127.0.0.2\", "
	                                     "\"127.0.0.4-127.0.0.11\" }\n");
	assert_int_equal(c->n_dnsbl, 4);
	assert_string_equal(c->dnsbl[0].zone, "zen.example");
	assert_true(c->dnsbl[0].reject); /* the default */
	assert_int_equal(c->dnsbl[0].n_codes, 0);
	assert_false(c->dnsbl[1].reject);
	assert_string_equal(c->dnsbl[2].zone, "b.example");
	assert_false(c->dnsbl[2].reject);
	assert_true(c->dnsbl[3].reject);
	assert_int_equal(c->dnsbl[3].n_codes, 2);
	assert_int_equal(c->dnsbl[3].lo[0], 0x7f000002);
	assert_int_equal(c->dnsbl[3].hi[0], 0x7f000002);
	assert_int_equal(c->dnsbl[3].lo[1], 0x7f000004);
	assert_int_equal(c->dnsbl[3].hi[1], 0x7f00000b);
	assert_int_equal(c->dnsbl[3].line, 7);
	assert_true(conf_checks_on(c));
	conf_free(c);

	expect_err(MIN_TAIL "dnsbl \"not a zone\"\n",
	           "t.conf:5: dnsbl: \"not a zone\" is not a DNS zone");
	expect_err(MIN_TAIL "dnsbl a.example\ndnsbl A.example tag\n",
	           "t.conf:6: dnsbl: zone \"A.example\" already listed on line 5");
	expect_err(MIN_TAIL "dnsbl a.example reject tag\n",
	           "t.conf:5: dnsbl: reject or tag, not both");
	expect_err(MIN_TAIL "dnsbl a.example tag tag\n", "t.conf:5: dnsbl: duplicate option");
	expect_err(MIN_TAIL "dnsbl { }\n", "t.conf:5: dnsbl: empty list");
	expect_err(MIN_TAIL "dnsbl a.example codes { \"127.0.0.9-127.0.0.2\" }\n",
	           "t.conf:5: dnsbl: codes: \"127.0.0.9-127.0.0.2\" is neither an IPv4 address "
	           "nor a range A-B");
	expect_err(MIN_TAIL "dnsbl a.example codes { \"::1\" }\n",
	           "t.conf:5: dnsbl: codes: \"::1\" is neither an IPv4 address nor a range A-B");
	expect_err(MIN_TAIL "dnsbl a.example codes { }\n",
	           "t.conf:5: dnsbl: codes: 1 to 64 addresses or ranges");
	expect_err(MIN_TAIL "dnsbl a.example codes { \"127.0.0.2\" } codes { \"127.0.0.3\" }\n",
	           "t.conf:5: dnsbl: duplicate option \"codes\"");
}

static void test_dnsbl_allow(void **state)
{
	(void)state;
	struct config *c =
	    parse_ok(MIN_TAIL "dnsbl a.example\n"
	                      "dnsbl allow { \"192.0.2.0/24\", \"2001:db8::/32\" }\n");
	assert_int_equal(c->n_dnsbl_allow, 2);
	struct sockaddr_in in = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.0.2.77", &in.sin_addr);
	assert_true(conf_netmask_match(c->dnsbl_allow, c->n_dnsbl_allow, (void *)&in));
	inet_pton(AF_INET, "198.51.100.1", &in.sin_addr);
	assert_false(conf_netmask_match(c->dnsbl_allow, c->n_dnsbl_allow, (void *)&in));
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);
	assert_true(conf_netmask_match(c->dnsbl_allow, c->n_dnsbl_allow, (void *)&in6));
	/* an IPv4 client on a dual-stack socket */
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &in6.sin6_addr);
	assert_true(conf_netmask_match(c->dnsbl_allow, c->n_dnsbl_allow, (void *)&in6));
	conf_free(c);

	c = parse_ok("table trusted { \"203.0.113.0/24\" }\n" MIN_TAIL "dnsbl allow <trusted>\n");
	assert_int_equal(c->n_dnsbl_allow, 1);
	inet_pton(AF_INET, "203.0.113.5", &in.sin_addr);
	assert_true(conf_netmask_match(c->dnsbl_allow, c->n_dnsbl_allow, (void *)&in));
	conf_free(c);

	expect_err(MIN_TAIL "dnsbl allow { \"300.1.1.1\" }\n",
	           "t.conf:5: dnsbl allow: \"300.1.1.1\": not an IPv4 or IPv6 address");
	expect_err(MIN_TAIL "dnsbl allow <nope>\n",
	           "t.conf:5: unknown table <nope> (tables must be defined before use)");
	expect_err(MIN_TAIL "dnsbl allow { }\n", "t.conf:5: dnsbl allow: no networks");
	expect_err(MIN_TAIL "dnsbl allow { \"10.0.0.0/8\" }\ndnsbl allow { \"10.0.0.0/8\" }\n",
	           "t.conf:6: dnsbl allow already set on line 5");
}

static void test_dkim(void **state)
{
	(void)state;
	struct config *c = parse_ok(MIN_TAIL "dkim verify\n"
	                                     "dkim sign domain \"Example.ORG.\" selector \"s1\" "
	                                     "key \"/etc/raven/s1.key\"\n"
	                                     "dkim key \"k2\" sign selector \"2024_a.b\" domain "
	                                     "\"mail.example.org\"\n");
	assert_true(c->dkim_verify);
	assert_int_equal(c->n_dkim_sign, 2);
	assert_true(conf_has_dkim_sign(c));
	assert_string_equal(c->dkim_sign[0].domain, "example.org");
	assert_string_equal(c->dkim_sign[0].selector, "s1");
	assert_string_equal(c->dkim_sign[0].key, "/etc/raven/s1.key");
	assert_string_equal(c->dkim_sign[1].domain, "mail.example.org");
	/* the nearest parent domain's key signs a subdomain */
	assert_ptr_equal(conf_dkim_signing_for(c, "example.org"), &c->dkim_sign[0]);
	assert_ptr_equal(conf_dkim_signing_for(c, "news.EXAMPLE.org"), &c->dkim_sign[0]);
	assert_ptr_equal(conf_dkim_signing_for(c, "a.mail.example.org"), &c->dkim_sign[1]);
	assert_null(conf_dkim_signing_for(c, "badexample.org"));
	assert_null(conf_dkim_signing_for(c, "org"));
	/* a relative key path is made absolute */
	char err[256], cwd[4096];
	assert_int_equal(conf_finish(c, err, sizeof(err)), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char *want = xasprintf("%s/k2", cwd);
	assert_string_equal(c->dkim_sign[1].key, want);
	free(want);
	conf_free(c);

	/* signing alone asks no DNS: the signer role runs, the resolver not */
	c = parse_ok(MIN_TAIL "dkim sign domain \"example.org\" selector \"s1\" key \"k\"\n");
	assert_true(conf_has_dkim_sign(c));
	assert_false(conf_checks_on(c));
	conf_free(c);
	/* verifying alone signs nothing */
	c = parse_ok(MIN_TAIL "dkim verify\n");
	assert_false(conf_has_dkim_sign(c));
	assert_true(conf_checks_on(c));
	conf_free(c);

	expect_err(MIN_TAIL "dkim\n", "t.conf:5: syntax error, unexpected end of line");
	expect_err(MIN_TAIL "dkim sign domain \"example.org\" selector \"s\"\n",
	           "t.conf:5: dkim sign: domain \"D\" selector \"S\" key \"FILE\" are all needed");
	expect_err(MIN_TAIL "dkim sign verify domain \"d.example\" selector \"s\" key \"k\"\n",
	           "t.conf:5: dkim: sign and verify are statements of their own");
	expect_err(MIN_TAIL "dkim verify key \"k\"\n",
	           "t.conf:5: dkim verify takes no domain, selector or key");
	expect_err(MIN_TAIL "dkim verify\ndkim verify\n",
	           "t.conf:6: dkim verify already set on line 5");
	expect_err(MIN_TAIL "dkim sign domain \"a b\" selector \"s\" key \"k\"\n",
	           "t.conf:5: dkim sign: \"a b\" is not a domain name");
	expect_err(MIN_TAIL "dkim sign domain \"a.example\" selector \"s s\" key \"k\"\n",
	           "t.conf:5: dkim sign: selector \"s s\" is not a DNS label");
	expect_err(MIN_TAIL "dkim sign domain \"a.example\" selector \"s\" key \"\"\n",
	           "t.conf:5: dkim sign: empty key path");
	expect_err(MIN_TAIL "dkim sign domain \"a.example\" domain \"b.example\" selector \"s\" "
	                    "key \"k\"\n",
	           "t.conf:5: dkim: duplicate option \"domain\"");
	expect_err(MIN_TAIL "dkim sign domain a.example selector s key k\n"
	                    "dkim sign domain A.example selector t key l\n",
	           "t.conf:6: dkim sign: domain \"a.example\" already has a key on line 5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_off), cmocka_unit_test(test_spf_dmarc),
	    cmocka_unit_test(test_dnsbl),        cmocka_unit_test(test_dnsbl_allow),
	    cmocka_unit_test(test_dkim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
