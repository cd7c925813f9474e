/*
 * Unit tests for dnsbl (src/auth/dnsbl.c): query names for IPv4, IPv6 and
 * IPv4-mapped clients, and what answers mean — listed, not listed, the
 * list refusing us (127.255.255.x), a lookup failure, per-zone codes.
 */
#include "unit_util.h"

#include <string.h>

#include "dnsbl.h"

static void test_names(void **state)
{
	(void)state;
	char n[300];
	assert_int_equal(dnsbl_query_name("192.0.2.99", "zen.example", n, sizeof(n)), 0);
	assert_string_equal(n, "99.2.0.192.zen.example");
	assert_int_equal(dnsbl_query_name("::ffff:192.0.2.99", "zen.example", n, sizeof(n)), 0);
	assert_string_equal(n, "99.2.0.192.zen.example");
	assert_int_equal(dnsbl_query_name("2001:db8::1", "bl.example", n, sizeof(n)), 0);
	assert_string_equal(n, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	                       "bl.example");
	assert_int_equal(dnsbl_query_name("not-an-ip", "z.example", n, sizeof(n)), -1);
	assert_int_equal(dnsbl_query_name("192.0.2.1", "z.example", n, 8), -1);
}

static struct dns_answer answer(enum dns_status st, struct dns_rr *rr, size_t n)
{
	struct dns_answer a;
	memset(&a, 0, sizeof(a));
	a.status = st;
	a.rr = rr;
	a.nrr = n;
	return a;
}

static struct dns_rr a_rr(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct dns_rr r;
	memset(&r, 0, sizeof(r));
	r.type = DNS_T_A;
	r.u.a[0] = a;
	r.u.a[1] = b;
	r.u.a[2] = c;
	r.u.a[3] = d;
	return r;
}

static void test_classify(void **state)
{
	(void)state;
	char code[32];
	struct dns_rr rr[3];
	struct dns_answer a = answer(DNS_NXDOMAIN, NULL, 0);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_NOT_LISTED);
	a = answer(DNS_NODATA, NULL, 0);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_NOT_LISTED);
	a = answer(DNS_TEMPFAIL, NULL, 0);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_ERROR);
	a = answer(DNS_TIMEOUT, NULL, 0);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_ERROR);

	rr[0] = a_rr(127, 0, 0, 2);
	a = answer(DNS_OK, rr, 1);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_LISTED);
	assert_string_equal(code, "127.0.0.2");
	/* the list refusing our resolver is no listing */
	rr[0] = a_rr(127, 255, 255, 254);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_REFUSED);
	assert_string_equal(code, "127.255.255.254");
	/* ... unless the same answer lists us too */
	rr[1] = a_rr(127, 0, 0, 4);
	a = answer(DNS_OK, rr, 2);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_LISTED);
	assert_string_equal(code, "127.0.0.4");
	/* a web server's address from a rewriting resolver is no listing */
	rr[0] = a_rr(198, 51, 100, 7);
	a = answer(DNS_OK, rr, 1);
	assert_int_equal(dnsbl_classify(&a, NULL, NULL, 0, code, sizeof(code)), DNSBL_NOT_LISTED);
	assert_string_equal(code, "");

	/* per-zone codes: only 127.0.0.2 and 127.0.0.4-11 count */
	uint32_t lo[] = {0x7f000002, 0x7f000004}, hi[] = {0x7f000002, 0x7f00000b};
	rr[0] = a_rr(127, 0, 0, 3);
	assert_int_equal(dnsbl_classify(&a, lo, hi, 2, code, sizeof(code)), DNSBL_NOT_LISTED);
	rr[0] = a_rr(127, 0, 0, 11);
	assert_int_equal(dnsbl_classify(&a, lo, hi, 2, code, sizeof(code)), DNSBL_LISTED);
	rr[0] = a_rr(127, 0, 0, 12);
	assert_int_equal(dnsbl_classify(&a, lo, hi, 2, code, sizeof(code)), DNSBL_NOT_LISTED);
	rr[0] = a_rr(127, 255, 255, 252);
	assert_int_equal(dnsbl_classify(&a, lo, hi, 2, code, sizeof(code)), DNSBL_REFUSED);
	assert_string_equal(dnsbl_verdict_name(DNSBL_REFUSED), "refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
