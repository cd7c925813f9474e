/*
 * Unit tests for authres_filter (src/auth/authres_filter.c): our own
 * Authentication-Results fields leave the header section, anyone else's
 * stay, the body is never touched, and the output is the same whether the
 * message comes whole, one octet at a time, or split at any point.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres_filter.h"
#include "xmalloc.h"

#define ID "mx.test.example"

static char *run(const char *in, size_t len, size_t chunk, size_t *removed)
{
	struct authres_filter f;
	struct buf out;
	authres_filter_init(&f, ID);
	buf_init(&out, 0);
	for (size_t off = 0; off < len;) {
		size_t k = chunk == 0 || chunk > len - off ? len - off : chunk;
		authres_filter_feed(&f, (const uint8_t *)in + off, k, &out);
		off += k;
	}
	authres_filter_end(&f, &out);
	*removed = f.removed;
	authres_filter_free(&f);
	char *s = buf_strdup(&out);
	buf_free(&out);
	return s;
}

/* Whole, a byte at a time, and split in two at every point: one result. */
static void check(const char *in, const char *want, size_t want_removed)
{
	size_t len = strlen(in), removed;
	char *got = run(in, len, 0, &removed);
	if (strcmp(got, want) != 0)
		fail_msg("whole:\n--- in:\n%s--- want:\n%s--- got:\n%s", in, want, got);
	assert_int_equal(removed, want_removed);
	free(got);
	got = run(in, len, 1, &removed);
	assert_string_equal(got, want);
	assert_int_equal(removed, want_removed);
	free(got);
	for (size_t cut = 1; cut < len; cut++) {
		struct authres_filter f;
		struct buf out;
		authres_filter_init(&f, ID);
		buf_init(&out, 0);
		authres_filter_feed(&f, (const uint8_t *)in, cut, &out);
		authres_filter_feed(&f, (const uint8_t *)in + cut, len - cut, &out);
		authres_filter_end(&f, &out);
		char *s = buf_strdup(&out);
		if (strcmp(s, want) != 0)
			fail_msg("split at %zu differs", cut);
		free(s);
		buf_free(&out);
		authres_filter_free(&f);
	}
}

static void test_ours_removed(void **state)
{
	(void)state;
	check("Received: from a by b\r\n"
	      "Authentication-Results: mx.test.example; spf=pass smtp.mailfrom=x@y\r\n"
	      "Subject: hi\r\n\r\nbody\r\n",
	      "Received: from a by b\r\nSubject: hi\r\n\r\nbody\r\n", 1);
	/* folded, odd case, white space before the colon, quoted id, comments */
	check("authentication-RESULTS  :\r\n\t(forged) \"MX.test.example\";\r\n\tdkim=pass\r\n"
	      "From: a@b\r\n"
	      "Authentication-Results: (c) mx.test.example (d); none\r\n"
	      "\r\nx\r\n",
	      "From: a@b\r\n\r\nx\r\n", 2);
}

static void test_others_kept(void **state)
{
	(void)state;
	const char *msg = "Authentication-Results: mx.other.example; spf=pass\r\n"
	                  "Authentication-Results: mx.test.example.evil; dkim=pass\r\n"
	                  "Authentication-Results-Extra: mx.test.example; x\r\n"
	                  "Authentication: mx.test.example\r\n"
	                  "X-Authentication-Results: mx.test.example; spf=pass\r\n"
	                  "Subject: s\r\n\r\n"
	                  "Authentication-Results: mx.test.example; in the body, untouched\r\n";
	check(msg, msg, 0);
}

static void test_edges(void **state)
{
	(void)state;
	/* a message that is all header, ending in ours */
	check("Subject: s\r\nAuthentication-Results: mx.test.example; none\r\n", "Subject: s\r\n",
	      1);
	check("Authentication-Results: mx.test.example; none", "", 1);
	/* no header at all */
	check("\r\nbody\r\n", "\r\nbody\r\n", 0);
	check("", "", 0);
	/* a name with no colon on its line */
	check("Authentication-Results\r\nA: b\r\n\r\n", "Authentication-Results\r\nA: b\r\n\r\n",
	      0);
	/* a continuation line before any field */
	check(" odd\r\nA: b\r\n\r\n", " odd\r\nA: b\r\n\r\n", 0);
	/* bare LF line ends (the session refuses such mail; the filter copes) */
	check("Authentication-Results: mx.test.example; x\nA: b\n\nbody\n", "A: b\n\nbody\n", 1);
}

/* A field over the hold limit is judged by its start. */
static void test_huge(void **state)
{
	(void)state;
	size_t big = AUTHRES_FILTER_HOLD_MAX * 2;
	for (int ours = 0; ours < 2; ours++) {
		char *in = xmalloc(big + 200), *want = xmalloc(big + 200);
		size_t n = (size_t)sprintf(
		    in, "Authentication-Results: %s; x=", ours ? ID : "mx.other.example");
		memset(in + n, 'a', big);
		n += big;
		n += (size_t)sprintf(in + n, "\r\n\tmore\r\nSubject: s\r\n\r\nb\r\n");
		if (ours)
			strcpy(want, "Subject: s\r\n\r\nb\r\n");
		else
			strcpy(want, in);
		size_t removed;
		char *got = run(in, n, 0, &removed);
		assert_string_equal(got, want);
		assert_int_equal(removed, (size_t)ours);
		free(got);
		got = run(in, n, 7, &removed);
		assert_string_equal(got, want);
		free(got);
		free(in);
		free(want);
	}
}

static void test_passing(void **state)
{
	(void)state;
	struct authres_filter f;
	struct buf out;
	authres_filter_init(&f, ID);
	buf_init(&out, 0);
	authres_filter_feed(&f, (const uint8_t *)"A: b\r\n", 6, &out);
	assert_false(authres_filter_passing(&f));
	authres_filter_feed(&f, (const uint8_t *)"\r\nbody", 6, &out);
	assert_true(authres_filter_passing(&f));
	buf_free(&out);
	authres_filter_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ours_removed), cmocka_unit_test(test_others_kept),
	    cmocka_unit_test(test_edges),        cmocka_unit_test(test_huge),
	    cmocka_unit_test(test_passing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
