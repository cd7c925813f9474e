/*
 * Unit tests for dns_rdata: DNS reply packets built octet by octet here
 * (with and without compression), the typed records and statuses they
 * parse to, and malformed packets that must be refused. Every packet is
 * parsed from an exactly-sized heap copy (ASan sees any read past the end),
 * and every strict prefix of a good packet must be refused cleanly.
 */
#include "unit_util.h"

#include "dns_pkt.h"

#include <stdlib.h>
#include <string.h>

#include "dns_rdata.h"
#include "xmalloc.h"

static void put_ptr(struct pb *b, size_t off)
{
	put16(b, 0xc000 | (unsigned)off);
}

static void header(struct pb *b, unsigned rcode, unsigned an, unsigned ns)
{
	b->n = 0;
	put16(b, 0x1234);
	put16(b, 0x8180 | rcode); /* QR RD RA */
	put16(b, 1);
	put16(b, an);
	put16(b, ns);
	put16(b, 0);
}

/* Question at offset 12, so a pointer to 12 names it. */
static void question(struct pb *b, const char *name, unsigned type)
{
	put_name(b, name);
	put16(b, type);
	put16(b, 1);
}

/* An RR owned by the name at offset owner (a pointer), rdata as given. */
static void rr(struct pb *b, size_t owner, unsigned type, uint32_t ttl, const void *rd,
               size_t rdlen)
{
	put_ptr(b, owner);
	put16(b, type);
	put16(b, 1);
	put32(b, ttl);
	put16(b, (unsigned)rdlen);
	put(b, rd, rdlen);
}

static int parse(const struct pb *b, unsigned qtype, struct dns_answer *a, char *err, size_t errlen)
{
	uint8_t *copy = xmemdup(b->p, b->n);
	int rc = dns_packet_parse(copy, b->n, (uint16_t)qtype, a, err, errlen);
	free(copy);
	return rc;
}

/* Every strict prefix of a good packet is refused, without a crash. */
static void prefixes_fail(const struct pb *b, unsigned qtype)
{
	for (size_t n = 0; n < b->n; n++) {
		uint8_t *copy = xmemdup(b->p, n ? n : 1);
		struct dns_answer a;
		char err[128];
		assert_int_equal(dns_packet_parse(copy, n, (uint16_t)qtype, &a, err, sizeof(err)),
		                 -1);
		assert_non_null(strstr(err, "malformed"));
		free(copy);
	}
}

static void test_a_records(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 2, 0);
	question(&b, "Mail.Example.ORG", 1);
	rr(&b, 12, 1, 300, "\xc0\x00\x02\x01", 4);
	rr(&b, 12, 1, 60, "\xc0\x00\x02\x02", 4);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.qname, "Mail.Example.ORG");
	assert_string_equal(a.canonical, "Mail.Example.ORG");
	assert_int_equal(a.nrr, 2);
	assert_memory_equal(a.rr[0].u.a, "\xc0\x00\x02\x01", 4);
	assert_memory_equal(a.rr[1].u.a, "\xc0\x00\x02\x02", 4);
	assert_int_equal(a.ttl, 60);
	assert_int_equal(a.rr[0].ttl, 300);
	dns_answer_free(&a);
	assert_null(a.rr);
	prefixes_fail(&b, 1);
}

static void test_mx_compressed(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 2, 0);
	question(&b, "example.org", 15);
	/* 10 mx1.<ptr to example.org>; 0 . (a null MX, RFC 7505) */
	struct pb rd = {.n = 0};
	put16(&rd, 10);
	put(&rd, "\x03mx1", 4);
	put_ptr(&rd, 12);
	rr(&b, 12, 15, 3600, rd.p, rd.n);
	rr(&b, 12, 15, 3600, "\x00\x00\x00", 3);
	assert_int_equal(parse(&b, 15, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_OK);
	assert_int_equal(a.nrr, 2);
	assert_int_equal(a.rr[0].u.mx.pref, 10);
	assert_string_equal(a.rr[0].u.mx.exchange, "mx1.example.org");
	assert_int_equal(a.rr[1].u.mx.pref, 0);
	assert_string_equal(a.rr[1].u.mx.exchange, "");
	dns_answer_free(&a);
	prefixes_fail(&b, 15);
}

static void test_cname_chain(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 4, 0);
	question(&b, "www.example.org", 28);
	size_t target = b.n + 12; /* where the first CNAME's rdata will start */
	struct pb rd = {.n = 0};
	put(&rd, "\x04host", 5);
	put_ptr(&rd, 16); /* "example.org" inside the question */
	rr(&b, 12, 5, 100, rd.p, rd.n);
	/* a record of another owner is not ours */
	put_name(&b, "other.example.org");
	put16(&b, 28);
	put16(&b, 1);
	put32(&b, 5);
	put16(&b, 16);
	put(&b, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x09", 16);
	/* the target's AAAA, owner written in capitals */
	put(&b, "\x04HOST", 5);
	put_ptr(&b, 16);
	put16(&b, 28);
	put16(&b, 1);
	put32(&b, 200);
	put16(&b, 16);
	put(&b, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	rr(&b, target, 1, 50, "\x01\x02\x03\x04", 4); /* another type */
	assert_int_equal(parse(&b, 28, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_OK);
	assert_string_equal(a.canonical, "host.example.org");
	assert_int_equal(a.nrr, 1);
	assert_memory_equal(a.rr[0].u.aaaa, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	assert_int_equal(a.ttl, 100); /* the chain's CNAME counts */
	dns_answer_free(&a);

	/* asked for the CNAME itself: the record, not its target's */
	header(&b, 0, 1, 0);
	question(&b, "www.example.org", 5);
	rr(&b, 12, 5, 100, rd.p, rd.n);
	assert_int_equal(parse(&b, 5, &a, err, sizeof(err)), 0);
	assert_int_equal(a.nrr, 1);
	assert_string_equal(a.rr[0].u.name, "host.example.org");
	dns_answer_free(&a);
}

static void test_cname_loop_is_bounded(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 1, 0);
	question(&b, "loop.example", 1);
	struct pb rd = {.n = 0};
	put_ptr(&rd, 12); /* CNAME to itself */
	rr(&b, 12, 5, 100, rd.p, rd.n);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CNAME chain"));
}

static void test_negative(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	struct pb soa = {.n = 0};
	put(&soa, "\x02ns\0", 4);
	put(&soa, "\x02hm\0", 4);
	put32(&soa, 1);
	put32(&soa, 3600);
	put32(&soa, 600);
	put32(&soa, 86400);
	put32(&soa, 120); /* minimum */

	header(&b, 3, 0, 1);
	question(&b, "nope.example", 1);
	rr(&b, 12, 6, 900, soa.p, soa.n);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_NXDOMAIN);
	assert_int_equal(a.nrr, 0);
	assert_int_equal(a.ttl, 120);
	dns_answer_free(&a);
	prefixes_fail(&b, 1);

	header(&b, 0, 0, 1);
	question(&b, "empty.example", 16);
	rr(&b, 12, 6, 30, soa.p, soa.n);
	assert_int_equal(parse(&b, 16, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_int_equal(a.ttl, 30);
	dns_answer_free(&a);

	header(&b, 0, 0, 0); /* no SOA: not cached */
	question(&b, "empty.example", 16);
	assert_int_equal(parse(&b, 16, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_int_equal(a.ttl, 0);
	dns_answer_free(&a);

	header(&b, 2, 0, 0);
	question(&b, "broken.example", 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	assert_string_equal(a.why, "RCODE 2");
	dns_answer_free(&a);

	header(&b, 5, 0, 0); /* REFUSED */
	question(&b, "broken.example", 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_TEMPFAIL);
	dns_answer_free(&a);
}

static void test_txt(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 3, 0);
	question(&b, "example.org", 16);
	rr(&b, 12, 16, 300, "\x07v=spf1 \x04-all", 13);
	rr(&b, 12, 16, 300, "", 0); /* no strings at all */
	rr(&b, 12, 16, 300,
	   "\x03"
	   "a\0b\x00",
	   5); /* a NUL inside, then "" */
	assert_int_equal(parse(&b, 16, &a, err, sizeof(err)), 0);
	assert_int_equal(a.nrr, 3);
	assert_int_equal(a.rr[0].u.txt.nstr, 2);
	assert_int_equal(a.rr[0].u.txt.str[0].len, 7);
	assert_memory_equal(a.rr[0].u.txt.str[0].p, "v=spf1 ", 7);
	assert_memory_equal(a.rr[0].u.txt.str[1].p, "-all", 4);
	assert_string_equal((char *)a.rr[0].u.txt.joined, "v=spf1 -all");
	assert_int_equal(a.rr[0].u.txt.joined_len, 11);
	assert_int_equal(a.rr[1].u.txt.nstr, 0);
	assert_int_equal(a.rr[1].u.txt.joined_len, 0);
	assert_string_equal((char *)a.rr[1].u.txt.joined, "");
	assert_int_equal(a.rr[2].u.txt.nstr, 2);
	assert_int_equal(a.rr[2].u.txt.joined_len, 3);
	assert_memory_equal(a.rr[2].u.txt.joined, "a\0b", 4);
	assert_int_equal(a.rr[2].u.txt.str[1].len, 0);
	dns_answer_free(&a);
	prefixes_fail(&b, 16);

	/* a string running past its rdata */
	header(&b, 0, 1, 0);
	question(&b, "example.org", 16);
	rr(&b, 12, 16, 300,
	   "\x05"
	   "abc",
	   4);
	put(&b, "de", 2); /* the octets exist in the packet, but not in the rdata */
	assert_int_equal(parse(&b, 16, &a, err, sizeof(err)), -1);
}

static void test_ptr_tlsa_escapes(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 1, 0);
	question(&b, "4.3.2.1.in-addr.arpa", 12);
	struct pb rd = {.n = 0};
	put(&rd,
	    "\x07"
	    "a.b c\\\x01",
	    8); /* one label: a . b SP c \ 0x01 */
	put(&rd,
	    "\x03"
	    "com\0",
	    5);
	rr(&b, 12, 12, 60, rd.p, rd.n);
	assert_int_equal(parse(&b, 12, &a, err, sizeof(err)), 0);
	assert_string_equal(a.rr[0].u.name, "a\\.b\\032c\\\\\\001.com");
	dns_answer_free(&a);

	header(&b, 0, 1, 0);
	question(&b, "_25._tcp.mx.example", 52);
	rr(&b, 12, 52, 60, "\x03\x01\x01\xab\xcd", 5);
	assert_int_equal(parse(&b, 52, &a, err, sizeof(err)), 0);
	assert_int_equal(a.rr[0].u.tlsa.usage, 3);
	assert_int_equal(a.rr[0].u.tlsa.selector, 1);
	assert_int_equal(a.rr[0].u.tlsa.mtype, 1);
	assert_int_equal(a.rr[0].u.tlsa.len, 2);
	assert_memory_equal(a.rr[0].u.tlsa.data, "\xab\xcd", 2);
	dns_answer_free(&a);
	prefixes_fail(&b, 52);

	/* no association data at all (found by fuzz_dns_rdata) */
	header(&b, 0, 1, 0);
	question(&b, "_25._tcp.mx.example", 52);
	rr(&b, 12, 52, 60, "\x03\x01\x01", 3);
	assert_int_equal(parse(&b, 52, &a, err, sizeof(err)), 0);
	assert_int_equal(a.rr[0].u.tlsa.len, 0);
	assert_non_null(a.rr[0].u.tlsa.data);
	dns_answer_free(&a);
}

/* Packets that must be refused, each with the reason it gives. */
static void test_malformed(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];

	header(&b, 0, 1, 0); /* A with 5 octets */
	question(&b, "x.example", 1);
	rr(&b, 12, 1, 1, "\x01\x02\x03\x04\x05", 5);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "malformed DNS reply: bad rdata");

	header(&b, 0, 1, 0); /* AAAA with 4 */
	question(&b, "x.example", 28);
	rr(&b, 12, 28, 1, "\x01\x02\x03\x04", 4);
	assert_int_equal(parse(&b, 28, &a, err, sizeof(err)), -1);

	header(&b, 0, 1, 0); /* MX whose name stops before its rdata ends */
	question(&b, "x.example", 15);
	rr(&b, 12, 15, 1, "\x00\x01\x00\x00", 4);
	assert_int_equal(parse(&b, 15, &a, err, sizeof(err)), -1);

	header(&b, 0, 1, 0); /* MX whose name runs past its rdata */
	question(&b, "x.example", 15);
	rr(&b, 12, 15, 1, "\x00\x01\x02mx", 5);
	put(&b, "\0", 1);
	assert_int_equal(parse(&b, 15, &a, err, sizeof(err)), -1);

	header(&b, 0, 1, 0); /* a pointer to itself */
	question(&b, "x.example", 1);
	size_t self = b.n;
	put_ptr(&b, self);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "malformed DNS reply: bad record");

	header(&b, 0, 1, 0); /* a pointer forward */
	question(&b, "x.example", 1);
	put_ptr(&b, b.n + 2);
	put_name(&b, "y");
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);

	header(&b, 0, 0, 0); /* two pointers bouncing between each other */
	b.p[5] = 1;
	put(&b, "\xc0\x0e\xc0\x0c", 4);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);

	header(&b, 0, 0, 0); /* extended label type 0x40 */
	put(&b, "\x41x\0", 3);
	put16(&b, 1);
	put16(&b, 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);

	header(&b, 0, 0, 0); /* a name of 256 octets on the wire */
	for (int i = 0; i < 4; i++) {
		put(&b, "\x3f", 1);
		for (int j = 0; j < 63; j++)
			put(&b, "a", 1);
	}
	put(&b, "\0", 1);
	put16(&b, 1);
	put16(&b, 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "malformed DNS reply: bad question");

	header(&b, 0, 0, 0); /* 255 octets is fine */
	for (int i = 0; i < 3; i++) {
		put(&b, "\x3f", 1);
		for (int j = 0; j < 63; j++)
			put(&b, "a", 1);
	}
	put(&b, "\x3d", 1);
	for (int j = 0; j < 61; j++)
		put(&b, "a", 1);
	put(&b, "\0", 1);
	put16(&b, 1);
	put16(&b, 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, DNS_NODATA);
	assert_int_equal(strlen(a.qname), 253);
	dns_answer_free(&a);

	header(&b, 0, 0, 0); /* the answer to another type */
	question(&b, "x.example", 1);
	assert_int_equal(parse(&b, 28, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "malformed DNS reply: reply to another type");

	header(&b, 0, 0, 0); /* a query, not a reply */
	b.p[2] = 0x01;
	question(&b, "x.example", 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);

	header(&b, 0, 0, 0); /* two questions */
	b.p[5] = 2;
	question(&b, "x.example", 1);
	question(&b, "y.example", 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);

	header(&b, 0, 0xffff, 0); /* more records than we take */
	question(&b, "x.example", 1);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "malformed DNS reply: too many records");

	header(&b, 0, 1, 0); /* rdlength past the end */
	question(&b, "x.example", 1);
	put_ptr(&b, 12);
	put16(&b, 1);
	put16(&b, 1);
	put32(&b, 1);
	put16(&b, 4);
	put(&b, "\x01\x02", 2);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), -1);
}

static void test_ttl_high_bit_is_zero(void **state)
{
	(void)state;
	struct pb b;
	struct dns_answer a;
	char err[128];
	header(&b, 0, 1, 0);
	question(&b, "x.example", 1);
	rr(&b, 12, 1, 0x80000000u, "\x01\x02\x03\x04", 4);
	assert_int_equal(parse(&b, 1, &a, err, sizeof(err)), 0);
	assert_int_equal(a.ttl, 0);
	dns_answer_free(&a);
}

static void test_names(void **state)
{
	(void)state;
	char buf[16];
	assert_string_equal(dns_type_name(15, buf, sizeof(buf)), "MX");
	assert_string_equal(dns_type_name(65, buf, sizeof(buf)), "TYPE65");
	assert_int_equal(dns_type_from_name("mx"), 15);
	assert_int_equal(dns_type_from_name("TLSA"), 52);
	assert_int_equal(dns_type_from_name("TYPE65"), 65);
	assert_int_equal(dns_type_from_name("99"), 99);
	assert_int_equal(dns_type_from_name("65536"), 0);
	assert_int_equal(dns_type_from_name("0"), 0);
	assert_int_equal(dns_type_from_name("bogus"), 0);
	assert_int_equal(dns_type_from_name(""), 0);
	assert_string_equal(dns_status_name(DNS_NODATA), "nodata");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_records),
	    cmocka_unit_test(test_mx_compressed),
	    cmocka_unit_test(test_cname_chain),
	    cmocka_unit_test(test_cname_loop_is_bounded),
	    cmocka_unit_test(test_negative),
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_ptr_tlsa_escapes),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_ttl_high_bit_is_zero),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
