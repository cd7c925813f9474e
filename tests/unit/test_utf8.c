/* utf8: the one validator, against RFC 3629's table and its edges. */
#include <string.h>

#include "unit_util.h"
#include "utf8.h"

static size_t len_of(const char *s, uint32_t *cp)
{
	return utf8_seq_len((const uint8_t *)s, strlen(s), cp);
}

static void test_well_formed(void **state)
{
	(void)state;
	uint32_t cp = 0;
	assert_int_equal(len_of("\xc3\xb8", &cp), 2); /* ø */
	assert_int_equal(cp, 0xf8);
	assert_int_equal(len_of("\xc2\x80", &cp), 2); /* smallest 2-octet */
	assert_int_equal(cp, 0x80);
	assert_int_equal(len_of("\xe0\xa0\x80", &cp), 3); /* smallest 3-octet */
	assert_int_equal(cp, 0x800);
	assert_int_equal(len_of("\xed\x9f\xbf", &cp), 3); /* just below the surrogates */
	assert_int_equal(len_of("\xee\x80\x80", &cp), 3); /* just above them */
	assert_int_equal(len_of("\xf0\x90\x80\x80", &cp), 4);
	assert_int_equal(cp, 0x10000);
	assert_int_equal(len_of("\xf4\x8f\xbf\xbf", &cp), 4);
	assert_int_equal(cp, 0x10ffff);
	assert_int_equal(len_of("\xe2\x82\xac rest", NULL), 3); /* € then more */
}

static void test_ill_formed(void **state)
{
	(void)state;
	assert_int_equal(len_of("a", NULL), 0);                /* ASCII is not a sequence */
	assert_int_equal(len_of("\x80", NULL), 0);             /* lone continuation */
	assert_int_equal(len_of("\xc0\xaf", NULL), 0);         /* overlong '/' */
	assert_int_equal(len_of("\xc1\xbf", NULL), 0);         /* overlong */
	assert_int_equal(len_of("\xe0\x9f\xbf", NULL), 0);     /* overlong 3-octet */
	assert_int_equal(len_of("\xed\xa0\x80", NULL), 0);     /* surrogate D800 */
	assert_int_equal(len_of("\xed\xbf\xbf", NULL), 0);     /* surrogate DFFF */
	assert_int_equal(len_of("\xf0\x8f\xbf\xbf", NULL), 0); /* overlong 4-octet */
	assert_int_equal(len_of("\xf4\x90\x80\x80", NULL), 0); /* past U+10FFFF */
	assert_int_equal(len_of("\xf5\x80\x80\x80", NULL), 0);
	assert_int_equal(len_of("\xc3(", NULL), 0); /* bad continuation */
	/* truncated: only the octets said to be readable count */
	assert_int_equal(utf8_seq_len((const uint8_t *)"\xe2\x82\xac", 2, NULL), 0);
	assert_int_equal(utf8_seq_len((const uint8_t *)"\xc3\xb8", 0, NULL), 0);
}

static void test_valid_strings(void **state)
{
	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid("plain ascii", 11));
	assert_true(utf8_valid("bj\xc3\xb8rn \xe2\x82\xac", 10));
	assert_false(utf8_valid("bj\xc3", 3)); /* cut in the middle */
	assert_false(utf8_valid("a\xff"
	                        "b",
	                        3));        /* never valid */
	assert_true(utf8_valid("a\0b", 3)); /* NUL is ASCII; callers refuse it */
}

/* The table of RFC 3629, case by case. */
static void test_table(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n, want;
	} cases[] = {
	    {"a", 1, 0},
	    {"\xc3\xb8", 2, 2},
	    {"\xc3\xb8x", 3, 2},
	    {"\xc3", 1, 0},             /* cut */
	    {"\xc0\xaf", 2, 0},         /* overlong */
	    {"\xc1\xbf", 2, 0},         /* overlong */
	    {"\xe0\x9f\xbf", 3, 0},     /* overlong */
	    {"\xe0\xa0\x80", 3, 3},     /* U+0800 */
	    {"\xed\x9f\xbf", 3, 3},     /* U+D7FF */
	    {"\xed\xa0\x80", 3, 0},     /* U+D800, a surrogate */
	    {"\xef\xbf\xbf", 3, 3},     /* U+FFFF */
	    {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong */
	    {"\xf0\x9f\x98\x80", 4, 4}, /* U+1F600 */
	    {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
	    {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
	    {"\xf5\x80\x80\x80", 4, 0},
	    {"\xf0\x9f\x98", 3, 0}, /* cut */
	    {"\xe2\x82\x41", 3, 0}, /* not a continuation */
	    {"\x80", 1, 0},         /* stray continuation */
	    {"\xff", 1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (utf8_seq_len((const uint8_t *)cases[i].s, cases[i].n, NULL) != cases[i].want)
			fail_msg("case %zu: %zu, expected %zu", i,
			         utf8_seq_len((const uint8_t *)cases[i].s, cases[i].n, NULL),
			         cases[i].want);
	assert_int_equal(utf8_seq_len((const uint8_t *)"", 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_well_formed),
	    cmocka_unit_test(test_ill_formed),
	    cmocka_unit_test(test_valid_strings),
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
