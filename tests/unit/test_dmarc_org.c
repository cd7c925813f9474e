/*
 * Unit tests for the organisational domain: every case of the Public
 * Suffix List's own test file (test_psl.txt, in $RAVEN_TESTDATA/dmarc)
 * against the Debian list, loaded with psl_load_file, and the fallback to
 * libpsl's built-in list.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "util.h"
#include "xmalloc.h"

static const char *tdir(void)
{
	return unit_testdata();
}

/* One argument of checkPublicSuffix(): 'text' or null (NULL). */
static char *arg(const char **p)
{
	while (**p == ' ' || **p == ',')
		(*p)++;
	if (strncmp(*p, "null", 4) == 0) {
		*p += 4;
		return NULL;
	}
	if (**p != '\'')
		fail_msg("bad test line near \"%.20s\"", *p);
	const char *end = strchr(*p + 1, '\'');
	char *s = xstrndup(*p + 1, (size_t)(end - *p - 1));
	*p = end + 1;
	return s;
}

static void check_file(const struct dmarc_psl *psl, int *active, int *ok, int *disabled)
{
	char *path = xasprintf("%s/dmarc/test_psl.txt", tdir());
	size_t len;
	char *text = file_read_bounded(path, 1024 * 1024, &len, NULL, 0);
	if (text == NULL)
		fail_msg("missing %s (set RAVEN_TESTDATA)", path);
	free(path);
	*active = *ok = *disabled = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		int off = strncmp(line, "//checkPublicSuffix(", 20) == 0;
		if (!off && strncmp(line, "checkPublicSuffix(", 18) != 0)
			continue;
		const char *p = strchr(line, '(') + 1;
		char *in = arg(&p), *want = arg(&p);
		char out[256];
		/* null input: our API takes a string; "" is refused the same way */
		int rc = dmarc_org_domain(psl, in ? in : "", out, sizeof(out));
		if (off) {
			/* Upstream disables the ".local" cases: "local" is not in the
			 * list, so the default rule gives example.local. */
			(*disabled)++;
			assert_int_equal(rc, strcmp(in, "local") == 0 ? -1 : 0);
		} else {
			(*active)++;
			if (want == NULL ? rc != -1 : rc != 0 || strcmp(out, want) != 0)
				fail_msg("%s: got %s, want %s", in ? in : "null", rc ? "null" : out,
				         want ? want : "null");
			(*ok)++;
		}
		free(in);
		free(want);
	}
	free(text);
}

static void test_psl_file(void **state)
{
	(void)state;
	char err[256];
	struct dmarc_psl *psl = dmarc_psl_load(NULL, err, sizeof(err));
	assert_non_null(psl);
	assert_false(dmarc_psl_builtin(psl));
	int active, ok, disabled;
	check_file(psl, &active, &ok, &disabled);
	assert_int_equal(active + disabled, 82);
	print_message("# test_psl.txt (Debian list file): %d/%d active cases pass; %d cases "
	              "commented out upstream (.local) checked as the list answers\n",
	              ok, active, disabled);
	dmarc_psl_free(psl);
}

static void test_psl_builtin(void **state)
{
	(void)state;
	char err[256];
	struct dmarc_psl *psl = dmarc_psl_load("/nonexistent/psl.dat", err, sizeof(err));
	assert_non_null(psl); /* Debian's libpsl has a built-in list */
	assert_true(dmarc_psl_builtin(psl));
	char out[256];
	assert_int_equal(dmarc_org_domain(psl, "mail.example.co.uk", out, sizeof(out)), 0);
	assert_string_equal(out, "example.co.uk");
	dmarc_psl_free(psl);
}

static void test_bad_input(void **state)
{
	(void)state;
	char err[256], out[256], small[4];
	struct dmarc_psl *psl = dmarc_psl_load(NULL, err, sizeof(err));
	static const char *const bad[] = {"", ".", "example.com.", "a b.com", "a\tb.com", "com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(dmarc_org_domain(psl, bad[i], out, sizeof(out)), -1);
	assert_int_equal(dmarc_org_domain(psl, "a.b.example.com", small, sizeof(small)), -1);
	assert_int_equal(dmarc_org_domain(psl, "A.B.Example.COM", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com");
	dmarc_psl_free(psl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_psl_file),
	    cmocka_unit_test(test_psl_builtin),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
