/*
 * Unit tests for the auth role's library (src/authd): failure counting
 * per address with its lockout, window and bounded table, and the
 * crypt(3) credentials check for each accepted scheme, refused schemes,
 * unknown logins and the canonical login.
 */
#include "unit_util.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credentials.h"
#include "lockout.h"
#include "table.h"
#include "xmalloc.h"

static void test_lockout(void **state)
{
	(void)state;
	struct lockout *l = lockout_new(3, 60);
	int64_t t = 1000;
	assert_false(lockout_locked(l, "192.0.2.1", t));
	assert_int_equal(lockout_fail(l, "192.0.2.1", t), 0);
	assert_int_equal(lockout_fail(l, "192.0.2.1", t + 1), 0);
	assert_false(lockout_locked(l, "192.0.2.1", t + 1));
	assert_int_equal(lockout_fail(l, "192.0.2.1", t + 2), 1); /* the third locks */
	assert_true(lockout_locked(l, "192.0.2.1", t + 2));
	assert_true(lockout_locked(l, "192.0.2.1", t + 61));
	assert_false(lockout_locked(l, "192.0.2.2", t + 2));
	/* failures while locked do not extend it */
	assert_int_equal(lockout_fail(l, "192.0.2.1", t + 30), 0);
	assert_false(lockout_locked(l, "192.0.2.1", t + 62));
	/* failures spread over more than the window do not add up */
	assert_int_equal(lockout_fail(l, "198.51.100.1", t), 0);
	assert_int_equal(lockout_fail(l, "198.51.100.1", t + 40), 0);
	assert_int_equal(lockout_fail(l, "198.51.100.1", t + 70), 0); /* window restarted */
	assert_int_equal(lockout_fail(l, "198.51.100.1", t + 71), 0);
	assert_int_equal(lockout_fail(l, "198.51.100.1", t + 72), 1);
	/* IPv6: one /64 is one client */
	assert_int_equal(lockout_fail(l, "2001:db8:1:2::1", t), 0);
	assert_int_equal(lockout_fail(l, "2001:db8:1:2::2", t), 0);
	assert_int_equal(lockout_fail(l, "2001:db8:1:2:ffff::3", t), 1);
	assert_true(lockout_locked(l, "2001:db8:1:2::99", t));
	assert_false(lockout_locked(l, "2001:db8:1:3::1", t));
	lockout_free(l);
	/* bounded: the least recently failing addresses are forgotten first */
	l = lockout_new(2, 3600);
	assert_int_equal(lockout_fail(l, "10.0.0.1", t), 0);
	char a[32];
	for (unsigned i = 0; i < LOCKOUT_MAX_ENTRIES + 10; i++) {
		snprintf(a, sizeof(a), "10.%u.%u.%u", 1 + (i >> 16), (i >> 8) & 255, i & 255);
		lockout_fail(l, a, t);
	}
	assert_int_equal(lockout_count(l), LOCKOUT_MAX_ENTRIES);
	assert_int_equal(lockout_fail(l, "10.0.0.1", t), 0); /* forgotten: a first failure */
	assert_int_equal(lockout_fail(l, a, t), 1);          /* the newest is remembered */
	lockout_free(l);
}

static char *hash_of(const char *prefix, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)));
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	assert_non_null(h);
	char *out = xstrdup(h);
	free(cd);
	return out;
}

static void test_credentials(void **state)
{
	(void)state;
	struct table *t = table_new("passwd");
	static const char *const schemes[][2] = {
	    {"yes", "$y$"}, {"bf", "$2b$"}, {"sha512", "$6$"}, {"sha256", "$5$"}};
	for (size_t i = 0; i < 4; i++) {
		char *h = hash_of(schemes[i][1], "pw-of-them");
		/* Dovecot's passwd-file puts more fields after the hash */
		char *v = i == 2 ? xasprintf("%s:1000:1000::/home/x", h) : xstrdup(h);
		table_put(t, schemes[i][0], v);
		free(h);
		free(v);
	}
	table_put(t, "des", "abJnggxhB/yWI");
	table_put(t, "md5", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/");
	table_put(t, "locked", "!$6$x$y");
	table_put(t, "nohash", NULL);
	struct credentials *c = credentials_new(t);
	assert_int_equal(credentials_unusable(c), 4);
	char canon[300];
	for (size_t i = 0; i < 4; i++) {
		assert_true(
		    credentials_check(c, schemes[i][0], "pw-of-them", canon, sizeof(canon)));
		assert_string_equal(canon, schemes[i][0]);
		assert_false(
		    credentials_check(c, schemes[i][0], "pw-of-them ", canon, sizeof(canon)));
		assert_false(credentials_check(c, schemes[i][0], "", canon, sizeof(canon)));
	}
	assert_true(credentials_check(c, "YES", "pw-of-them", canon, sizeof(canon)));
	assert_string_equal(canon, "yes"); /* the table's key, whatever case was typed */
	/* weak schemes, disabled entries, unknown logins: refused */
	assert_false(credentials_check(c, "des", "secret", canon, sizeof(canon)));
	assert_false(credentials_check(c, "md5", "secret", canon, sizeof(canon)));
	assert_false(credentials_check(c, "locked", "secret", canon, sizeof(canon)));
	assert_false(credentials_check(c, "nohash", "secret", canon, sizeof(canon)));
	assert_false(credentials_check(c, "nobody", "pw-of-them", canon, sizeof(canon)));
	/* the dummy for unknown logins is a real yescrypt hash: it costs as much
	 * (the fastest of three tries each, so a busy machine does not decide) */
	double unknown = 1e9, known = 1e9;
	for (int i = 0; i < 3; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		credentials_check(c, "nobody", "x", canon, sizeof(canon));
		clock_gettime(CLOCK_MONOTONIC, &b);
		double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		unknown = secs < unknown ? secs : unknown;
		clock_gettime(CLOCK_MONOTONIC, &a);
		credentials_check(c, "yes", "x", canon, sizeof(canon));
		clock_gettime(CLOCK_MONOTONIC, &b);
		secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		known = secs < known ? secs : known;
	}
	assert_true(unknown > known / 4 && unknown < known * 4);
	assert_int_equal(credentials_hash_len("$y$j9T$abc$def:rest"), strlen("$y$j9T$abc$def"));
	assert_int_equal(credentials_hash_len("{SHA512-CRYPT}$6$a$b"), 0);
	assert_int_equal(credentials_hash_len(""), 0);
	assert_int_equal(credentials_hash_len(NULL), 0);
	credentials_free(c);
	/* without a table every check fails */
	c = credentials_new(NULL);
	assert_false(credentials_check(c, "yes", "pw-of-them", canon, sizeof(canon)));
	credentials_free(c);
	table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lockout),
	    cmocka_unit_test(test_credentials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
