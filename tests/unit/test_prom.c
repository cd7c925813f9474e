/*
 * Unit tests for prom: the Prometheus text format writer (HELP/TYPE lines,
 * samples, label and help escaping, floats Go reads back) and histograms
 * (which bucket an observation lands in, cumulative buckets, _sum/_count).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit_util.h"

#include "buf.h"
#include "prom.h"

static void assert_text(struct buf *b, const char *want)
{
	char *got = buf_strdup(b);
	assert_string_equal(got, want);
	free(got);
}

static void test_family_and_samples(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(
	    prom_family(&b, "raven_x_total", PROM_COUNTER, "Things; a \\ and\na newline"), 0);
	assert_int_equal(prom_sample(&b, "raven_x_total", NULL, 0), 0);
	assert_int_equal(prom_sample(&b, "raven_x_total", "", 18446744073709551615ull), 0);
	assert_int_equal(prom_sample(&b, "raven_x_total", "reason=\"size\"", 7), 0);
	assert_int_equal(prom_family(&b, "raven_g", PROM_GAUGE, "G"), 0);
	assert_int_equal(prom_sample_double(&b, "raven_g", NULL, 0.1), 0);
	assert_int_equal(prom_sample_double(&b, "raven_g", NULL, 1700000000.0), 0);
	assert_int_equal(prom_sample_double(&b, "raven_g", NULL, 1.0 / 3.0), 0);
	assert_int_equal(prom_sample_double(&b, "raven_g", NULL, INFINITY), 0);
	assert_int_equal(prom_sample_double(&b, "raven_g", NULL, NAN), 0);
	assert_text(&b, "# HELP raven_x_total Things; a \\\\ and\\na newline\n"
	                "# TYPE raven_x_total counter\n"
	                "raven_x_total 0\n"
	                "raven_x_total 18446744073709551615\n"
	                "raven_x_total{reason=\"size\"} 7\n"
	                "# HELP raven_g G\n"
	                "# TYPE raven_g gauge\n"
	                "raven_g 0.1\n"
	                "raven_g 1700000000\n"
	                "raven_g 0.33333333333333331\n"
	                "raven_g +Inf\n"
	                "raven_g NaN\n");
	/* Whatever %.17g wrote reads back to the very same double. */
	assert_true(strtod("0.33333333333333331", NULL) == 1.0 / 3.0);
	buf_free(&b);
}

static void test_label_escaping(void **state)
{
	(void)state;
	struct buf l;
	buf_init(&l, 0);
	assert_int_equal(prom_label(&l, "version", "1.0 \"x\" \\ \n"), 0);
	assert_int_equal(prom_label(&l, "role", "smtp"), 0);
	assert_text(&l, "version=\"1.0 \\\"x\\\" \\\\ \\n\",role=\"smtp\"");
	buf_free(&l);
}

static const double bounds[] = {1, 2.5, 10};

static void test_histogram_buckets(void **state)
{
	(void)state;
	struct prom_hist h;
	prom_hist_init(&h, bounds, 3);
	/* le is inclusive: 1 is in the first bucket, 1.0001 in the second. */
	const double v[] = {0, 0.5, 1, 1.0001, 2.5, 3, 10, 10.5, 1e9, -4, NAN};
	const uint64_t want[] = {5, 2, 2, 2}; /* -4 and NaN count as 0 */
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		prom_hist_observe(&h, v[i]);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(h.bucket[i], want[i]);
	assert_int_equal(h.count, 11);
	assert_true(fabs(h.sum - (0.5 + 1 + 1.0001 + 2.5 + 3 + 10 + 10.5 + 1e9)) < 1e-6);

	struct buf b;
	buf_init(&b, 0);
	prom_hist_init(&h, bounds, 3);
	prom_hist_observe(&h, 0.25);
	prom_hist_observe(&h, 4);
	prom_hist_observe(&h, 20);
	assert_int_equal(prom_hist_write(&b, "raven_h", "destination=\"local\"", &h), 0);
	assert_int_equal(prom_hist_write(&b, "raven_n", NULL, &h), 0);
	assert_text(&b, "raven_h_bucket{destination=\"local\",le=\"1\"} 1\n"
	                "raven_h_bucket{destination=\"local\",le=\"2.5\"} 1\n"
	                "raven_h_bucket{destination=\"local\",le=\"10\"} 2\n"
	                "raven_h_bucket{destination=\"local\",le=\"+Inf\"} 3\n"
	                "raven_h_sum{destination=\"local\"} 24.25\n"
	                "raven_h_count{destination=\"local\"} 3\n"
	                "raven_n_bucket{le=\"1\"} 1\n"
	                "raven_n_bucket{le=\"2.5\"} 1\n"
	                "raven_n_bucket{le=\"10\"} 2\n"
	                "raven_n_bucket{le=\"+Inf\"} 3\n"
	                "raven_n_sum 24.25\n"
	                "raven_n_count 3\n");
	buf_free(&b);
}

/* Too many bounds are capped; an empty histogram has only +Inf. */
static void test_histogram_edges(void **state)
{
	(void)state;
	static double many[PROM_HIST_MAX + 5];
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = (double)i;
	struct prom_hist h;
	prom_hist_init(&h, many, sizeof(many) / sizeof(many[0]));
	assert_int_equal(h.n, PROM_HIST_MAX);
	prom_hist_observe(&h, 1e6);
	assert_int_equal(h.bucket[PROM_HIST_MAX], 1);
	prom_hist_init(&h, NULL, 0);
	prom_hist_observe(&h, 3);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(prom_hist_write(&b, "e", NULL, &h), 0);
	assert_text(&b, "e_bucket{le=\"+Inf\"} 1\ne_sum 3\ne_count 1\n");
	buf_free(&b);
}

/* A full buffer: -1 and nothing half-written, whatever the room left. */
static void test_all_or_nothing(void **state)
{
	(void)state;
	struct prom_hist h;
	prom_hist_init(&h, bounds, 3);
	prom_hist_observe(&h, 2);
	for (size_t max = 0; max < 300; max++) {
		struct buf b[5];
		for (size_t i = 0; i < 5; i++) {
			buf_init(&b[i], max);
			assert_int_equal(buf_append_str(&b[i], max >= 2 ? "x\n" : ""), 0);
		}
		size_t before = b[0].len;
		int rc[5] = {
		    prom_family(&b[0], "raven_y", PROM_HISTOGRAM, "a \\ help\n"),
		    prom_hist_write(&b[1], "raven_y", "a=\"b\"", &h),
		    prom_sample(&b[2], "raven_y", "a=\"b\"", 12345),
		    prom_sample_double(&b[3], "raven_y", NULL, 0.125),
		    prom_label(&b[4], "k", "va\"lue"),
		};
		for (size_t i = 0; i < 5; i++) {
			if (rc[i] != 0)
				assert_int_equal(b[i].len, before);
			else
				assert_true(b[i].len > before);
			buf_free(&b[i]);
		}
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_true(prom_name_valid("raven_smtp_connections_total", 0));
	assert_true(prom_name_valid("a:b_c9", 0));
	assert_true(prom_name_valid("_x", 1));
	assert_false(prom_name_valid("", 0));
	assert_false(prom_name_valid("9x", 0));
	assert_false(prom_name_valid("a-b", 0));
	assert_false(prom_name_valid("a:b", 1));
	assert_false(prom_name_valid("__name__", 1));
	assert_false(prom_name_valid(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_family_and_samples), cmocka_unit_test(test_label_escaping),
	    cmocka_unit_test(test_histogram_buckets),  cmocka_unit_test(test_histogram_edges),
	    cmocka_unit_test(test_all_or_nothing),     cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
