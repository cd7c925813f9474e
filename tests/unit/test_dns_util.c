/* Unit tests for dns_util: name checks, quoting, reverse names, MX order. */
#include "unit_util.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_util.h"

#define L63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"

static void test_name_valid(void **state)
{
	(void)state;
	const char *good[] = {
	    "example.org",
	    "example.org.",
	    "a",
	    "_25._tcp.mx.example",
	    "foo:bar/baz.example.com",
	    "macro%percent  space%20url-space.example.com",
	    "a\\.b.example",
	    "a\\032b.example",
	    "x\\255y",
	    L63 ".example",
	    L63 "." L63 "." L63 "."
	        "abcdefghijklmnopqrstuvwxyzabcdefghi"
	        "jklmnopqrstuvwxyzabcdefgh", /* 253 */
	};
	const char *bad[] = {
	    "",
	    ".",
	    "..",
	    "a..b",
	    ".a",
	    "a..",
	    L63 "l.example",
	    "a\\256b",
	    "a\\12",
	    "a\\",
	    "caf\xc3\xa9.example",
	    "tab\there.example",
	    "nul\x01.example",
	    L63 "." L63 "." L63 "." L63 ".x", /* 256 octets on the wire */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!dns_name_valid(good[i]))
			fail_msg("refused good name %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dns_name_valid(bad[i]))
			fail_msg("accepted bad name %s", bad[i]);
}

static void test_hostname_valid(void **state)
{
	(void)state;
	assert_true(dns_hostname_valid("mx1.example.org"));
	assert_true(dns_hostname_valid("mx1.example.org."));
	assert_true(dns_hostname_valid("localhost"));
	assert_true(dns_hostname_valid("a-b.xn--zckzah"));
	assert_true(dns_hostname_valid("1.2.3.4")); /* syntax alone cannot tell */
	assert_false(dns_hostname_valid(""));
	assert_false(dns_hostname_valid("."));
	assert_false(dns_hostname_valid("-a.example"));
	assert_false(dns_hostname_valid("a-.example"));
	assert_false(dns_hostname_valid("a..example"));
	assert_false(dns_hostname_valid("a_b.example"));
	assert_false(dns_hostname_valid("[1.2.3.4]"));
	assert_false(dns_hostname_valid(L63 "l.example"));
	assert_false(dns_hostname_valid("example.org.."));
}

static void test_quote(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 64);
	const char in[] = "a b\\c.d\x01\xc3.e";
	assert_int_equal(dns_name_quote(in, sizeof(in) - 1, &b), 0);
	assert_int_equal(buf_append_byte(&b, 0), 0);
	assert_string_equal((char *)b.data, "a\\032b\\\\c.d\\001\\195.e");
	assert_true(dns_name_valid((char *)b.data));
	buf_free(&b);
	buf_init(&b, 4);
	assert_int_equal(dns_name_quote("ab\\", 3, &b), 0); /* exactly fits */
	assert_int_equal(dns_name_quote("c", 1, &b), -1);   /* cap reached: refused */
	buf_free(&b);
}

static void test_unquote(void **state)
{
	(void)state;
	char out[32];
	assert_int_equal(dns_name_unquote("a\\032b\\\\c.d\\.e", out, sizeof(out)), 0);
	assert_string_equal(out, "a b\\c.d.e");
	assert_int_equal(dns_name_unquote("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(dns_name_unquote("abc", out, 4), 0);
	assert_int_equal(dns_name_unquote("abcd", out, 4), -1); /* no room for the NUL */
	assert_int_equal(dns_name_unquote("a\\000b", out, sizeof(out)), -1);
	assert_int_equal(dns_name_unquote("a\\256b", out, sizeof(out)), -1);
	assert_int_equal(dns_name_unquote("a\\", out, sizeof(out)), -1);
	/* quote then unquote gives the octets back */
	struct buf b;
	buf_init(&b, 0);
	const char in[] = "x y\\z.\x7f.ok";
	assert_int_equal(dns_name_quote(in, sizeof(in) - 1, &b), 0);
	buf_append_byte(&b, 0);
	assert_int_equal(dns_name_unquote((char *)b.data, out, sizeof(out)), 0);
	assert_string_equal(out, in);
	buf_free(&b);
}

static void test_reverse(void **state)
{
	(void)state;
	char out[128];
	uint8_t v4[4], v6[16];
	inet_pton(AF_INET, "192.0.2.1", v4);
	assert_int_equal(dns_reverse_name(AF_INET, v4, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "1.2.0.192.in-addr.arpa");
	assert_int_equal(dns_reverse_name(AF_INET, v4, "zen.example", out, sizeof(out)), 0);
	assert_string_equal(out, "1.2.0.192.zen.example");
	assert_int_equal(dns_reverse_name(AF_INET, v4, NULL, out, 22), -1);
	assert_int_equal(dns_reverse_name(AF_INET, v4, NULL, out, 23), 0);
	inet_pton(AF_INET6, "2001:db8::cb01", v6);
	assert_int_equal(dns_reverse_name(AF_INET6, v6, NULL, out, sizeof(out)), 0);
	assert_string_equal(
	    out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_int_equal(dns_reverse_name(AF_INET6, v6, "bl.example", out, sizeof(out)), 0);
	assert_string_equal(
	    out, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
	assert_int_equal(dns_reverse_name(AF_INET6, v6, NULL, out, 72), -1);
	assert_int_equal(dns_reverse_name(AF_INET6, v6, NULL, out, 73), 0);
	assert_int_equal(dns_reverse_name(AF_UNIX, v6, NULL, out, sizeof(out)), -1);
}

/* A scripted "random" source: returns its values in turn. */
struct script {
	const uint32_t *v;
	size_t n, i;
};

static uint32_t scripted(void *arg)
{
	struct script *s = arg;
	return s->v[s->i++ % s->n];
}

static struct dns_rr mx(uint16_t pref, const char *name)
{
	struct dns_rr r;
	memset(&r, 0, sizeof(r));
	r.type = DNS_T_MX;
	r.u.mx.pref = pref;
	r.u.mx.exchange = (char *)name;
	return r;
}

static void order(const struct dns_rr *rr, size_t n, char *out)
{
	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		strcat(out, rr[i].type == DNS_T_MX ? rr[i].u.mx.exchange : "?");
		strcat(out, " ");
	}
}

static void test_mx_sort(void **state)
{
	(void)state;
	char got[128];
	struct dns_rr rr[6];
	struct dns_rr other;
	memset(&other, 0, sizeof(other));
	other.type = DNS_T_A;

	/* rnd always 0: Fisher-Yates moves each last element to the front */
	const uint32_t zero[] = {0};
	struct script s = {zero, 1, 0};
	rr[0] = mx(20, "c");
	rr[1] = other;
	rr[2] = mx(10, "a1");
	rr[3] = mx(10, "a2");
	rr[4] = mx(30, "d");
	rr[5] = mx(10, "a3");
	dns_mx_sort(rr, 6, scripted, &s);
	order(rr, 6, got);
	assert_string_equal(got, "a2 a3 a1 c d ? ");

	/* rnd returning i: every swap is with itself, order stays stable */
	const uint32_t same[] = {2, 1};
	struct script t = {same, 2, 0};
	rr[0] = mx(20, "c");
	rr[1] = mx(10, "a1");
	rr[2] = mx(10, "a2");
	rr[3] = mx(10, "a3");
	dns_mx_sort(rr, 4, scripted, &t);
	order(rr, 4, got);
	assert_string_equal(got, "a1 a2 a3 c ");
	assert_int_equal(t.i, 2); /* called once per swap of the 3 equal ones */

	/* single preference classes: rnd not needed at all */
	struct script u = {zero, 1, 0};
	rr[0] = mx(5, "x");
	rr[1] = mx(1, "y");
	dns_mx_sort(rr, 2, scripted, &u);
	order(rr, 2, got);
	assert_string_equal(got, "y x ");
	assert_int_equal(u.i, 0);
	dns_mx_sort(rr, 0, scripted, &u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_valid), cmocka_unit_test(test_hostname_valid),
	    cmocka_unit_test(test_quote),      cmocka_unit_test(test_unquote),
	    cmocka_unit_test(test_reverse),    cmocka_unit_test(test_mx_sort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
