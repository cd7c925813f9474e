/*
 * Unit tests for the EHLO capability parser (src/relay/caps.c): every
 * keyword, case, SIZE values (absent, 0, huge, garbage), both AUTH forms,
 * garbage and the first line (the server's name) never read as a keyword.
 * Each EHLO reply goes through the reply parser whole and one byte at a
 * time first: both must give the same capabilities.
 */
#include "unit_util.h"

#include <string.h>

#include "caps.h"
#include "reply.h"

/* Parse one EHLO reply (fed whole or byte by byte) into c. */
static void caps_of(const char *ehlo, int bytewise, struct caps *c)
{
	struct reply_parser rp;
	size_t len = strlen(ehlo), off = 0, used;
	enum reply_result r = REPLY_MORE;
	reply_parser_init(&rp, 0, 0);
	while (off < len && r != REPLY_DONE) {
		size_t n = bytewise ? 1 : len - off;
		r = reply_parser_feed(&rp, (const uint8_t *)ehlo + off, n, &used);
		assert_int_not_equal(r, REPLY_ERROR);
		off += used;
	}
	assert_int_equal(r, REPLY_DONE);
	assert_int_equal(off, len);
	caps_parse(&rp.reply, c);
	reply_parser_free(&rp);
}

static void check(const char *ehlo, unsigned flags, uint64_t size, unsigned mechs)
{
	struct caps a, b;
	caps_of(ehlo, 0, &a);
	caps_of(ehlo, 1, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	if (a.flags != flags || a.size_max != size || a.mechs != mechs)
		fail_msg("\"%s\": flags %#x size %llu mechs %#x, want %#x %llu %#x", ehlo, a.flags,
		         (unsigned long long)a.size_max, a.mechs, flags, (unsigned long long)size,
		         mechs);
}

static void test_keywords(void **state)
{
	(void)state;
	check("250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	      "250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250-STARTTLS\r\n"
	      "250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n",
	      CAPS_PIPELINING | CAPS_SIZE | CAPS_8BITMIME | CAPS_SMTPUTF8 | CAPS_DSN |
	          CAPS_STARTTLS | CAPS_AUTH | CAPS_ENHANCEDSTATUSCODES | CAPS_CHUNKING,
	      10240000, CAPS_MECH_PLAIN | CAPS_MECH_LOGIN);
	/* a plain EHLO reply: the name only */
	check("250 mx.example.org\r\n", 0, 0, 0);
	/* case-insensitive, spaces and tabs around words */
	check("250-mx\r\n250-pipelining\r\n250-Size\t 2000 \r\n250-8bitmime\r\n250  dsn  \r\n",
	      CAPS_PIPELINING | CAPS_SIZE | CAPS_8BITMIME | CAPS_DSN, 2000, 0);
	/* the first line is the server's name, never a keyword */
	check("250-PIPELINING\r\n250 DSN\r\n", CAPS_DSN, 0, 0);
	/* LF-only replies, as real servers send */
	check("250-mx\n250-STARTTLS\n250 SMTPUTF8\n", CAPS_STARTTLS | CAPS_SMTPUTF8, 0, 0);
}

static void test_size(void **state)
{
	(void)state;
	check("250-mx\r\n250 SIZE\r\n", CAPS_SIZE, 0, 0);
	check("250-mx\r\n250 SIZE 0\r\n", CAPS_SIZE, 0, 0);
	check("250-mx\r\n250 SIZE 1\r\n", CAPS_SIZE, 1, 0);
	check("250-mx\r\n250 SIZE 18446744073709551615\r\n", CAPS_SIZE, UINT64_MAX, 0);
	check("250-mx\r\n250 SIZE 18446744073709551616\r\n", CAPS_SIZE, 0, 0);
	check("250-mx\r\n250 SIZE 99999999999999999999999\r\n", CAPS_SIZE, 0, 0);
	check("250-mx\r\n250 SIZE 12ab\r\n", CAPS_SIZE, 0, 0);
	check("250-mx\r\n250 SIZE -5\r\n", CAPS_SIZE, 0, 0);
	/* the last SIZE line wins */
	check("250-mx\r\n250-SIZE 100\r\n250 SIZE 200\r\n", CAPS_SIZE, 200, 0);
	/* a keyword that only starts like one is not it */
	check("250-mx\r\n250-SIZEX 100\r\n250 XSIZE 5\r\n", 0, 0, 0);
}

static void test_auth(void **state)
{
	(void)state;
	check("250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n", CAPS_AUTH, 0,
	      CAPS_MECH_LOGIN | CAPS_MECH_PLAIN | CAPS_MECH_CRAM_MD5);
	/* the old form, alone and beside the new one */
	check("250-mx\r\n250 AUTH=LOGIN PLAIN\r\n", CAPS_AUTH, 0,
	      CAPS_MECH_LOGIN | CAPS_MECH_PLAIN);
	check("250-mx\r\n250-AUTH=LOGIN\r\n250 AUTH SCRAM-SHA-256 XOAUTH2\r\n", CAPS_AUTH, 0,
	      CAPS_MECH_LOGIN | CAPS_MECH_SCRAM_SHA_256 | CAPS_MECH_XOAUTH2);
	check("250-mx\r\n250 auth plain oauthbearer external scram-sha-1 GSSAPI NTLM\r\n",
	      CAPS_AUTH, 0,
	      CAPS_MECH_PLAIN | CAPS_MECH_OAUTHBEARER | CAPS_MECH_EXTERNAL | CAPS_MECH_SCRAM_SHA_1);
	/* AUTH without mechanisms; "AUTH=" with nothing after it is no keyword */
	check("250-mx\r\n250 AUTH\r\n", CAPS_AUTH, 0, 0);
	check("250-mx\r\n250 AUTH=\r\n", 0, 0, 0);
	/* mechanism names are whole words */
	check("250-mx\r\n250 AUTH PLAINX XLOGIN PLAIN-\r\n", CAPS_AUTH, 0, 0);
}

static void test_garbage(void **state)
{
	(void)state;
	check("250-mx\r\n250-\r\n250- \r\n250-\x01\xff\x80 PIPELINING\r\n250-X-EXPS GSSAPI\r\n"
	      "250-VRFY\r\n250-ETRN\r\n250 =PIPELINING\r\n",
	      0, 0, 0);
	struct caps c;
	memset(&c, 0xab, sizeof(c));
	caps_parse_line(&c, "", 0); /* nothing, changes nothing */
	assert_int_equal(c.flags, 0xabababab);
	/* a line with an embedded NUL stops nowhere: the length rules */
	memset(&c, 0, sizeof(c));
	caps_parse_line(&c, "DSN\0PIPELINING", 14);
	assert_int_equal(c.flags, 0);
	caps_parse_line(&c, "DSN", 3);
	assert_int_equal(c.flags, CAPS_DSN);
}

static void test_mechs_str(void **state)
{
	(void)state;
	char s[64];
	assert_string_equal(caps_mechs_str(0, s, sizeof(s)), "");
	assert_string_equal(caps_mechs_str(CAPS_MECH_PLAIN | CAPS_MECH_LOGIN, s, sizeof(s)),
	                    "PLAIN LOGIN");
	/* only whole names fit */
	assert_string_equal(caps_mechs_str(CAPS_MECH_PLAIN | CAPS_MECH_CRAM_MD5, s, 12), "PLAIN");
	assert_string_equal(caps_mechs_str(CAPS_MECH_PLAIN, s, 5), "");
	assert_string_equal(caps_mechs_str(CAPS_MECH_PLAIN, s, 6), "PLAIN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keywords),  cmocka_unit_test(test_size),
	    cmocka_unit_test(test_auth),      cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_mechs_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
