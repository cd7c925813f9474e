/*
 * Unit tests for metrics_fmt, the queue's Prometheus text: every output is
 * read back by a strict checker of the text format 0.0.4 (below: HELP and
 * TYPE once per family and before its samples, families not interleaved,
 * valid names, escaped label values, values that parse, no series twice,
 * histograms cumulative up to le="+Inf" equal to _count), and the values
 * of a known snapshot are found exactly where they belong.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_util.h"

#include "buf.h"
#include "metrics_fmt.h"
#include "prom.h"
#include "xmalloc.h"

/* --- a strict checker of the text format ------------------------------- */

#define MAX_SERIES 512

struct checker {
	char family[128];
	char type[16];
	int have_type;
	char seen_families[MAX_SERIES][128];
	size_t n_families;
	char series[MAX_SERIES][256];
	size_t n_series;
	/* the current histogram's buckets, for one label set at a time */
	double last_bucket;
	int inf_seen;
	size_t buckets; /* of the current family */
	double inf_value;
	char why[256];
};

static int bad(struct checker *c, const char *line, const char *why)
{
	snprintf(c->why, sizeof(c->why), "%s: %.150s", why, line);
	return -1;
}

static int parse_value(const char *s, double *v)
{
	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) {
		*v = strcmp(s, "NaN") == 0 ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
		return 0;
	}
	char *end;
	*v = strtod(s, &end);
	return *s != '\0' && *end == '\0' && !isspace((unsigned char)*s) ? 0 : -1;
}

/* labels "a=\"x\",b=\"y\"" between p and '}'; le's value out. */
static int parse_labels(const char **pp, char *le, size_t lelen)
{
	const char *p = *pp;
	le[0] = '\0';
	while (*p != '}') {
		char name[64];
		size_t n = 0;
		while (*p && *p != '=' && n + 1 < sizeof(name))
			name[n++] = *p++;
		name[n] = '\0';
		if (*p != '=' || p[1] != '"' || !prom_name_valid(name, 1))
			return -1;
		p += 2;
		char val[256];
		size_t k = 0;
		while (*p && *p != '"') {
			if (*p == '\\') {
				if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
					return -1;
				p++;
			}
			if (k + 1 < sizeof(val))
				val[k++] = *p;
			p++;
		}
		val[k] = '\0';
		if (*p != '"')
			return -1;
		p++;
		if (strcmp(name, "le") == 0)
			snprintf(le, lelen, "%s", val);
		if (*p == ',')
			p++;
		else if (*p != '}')
			return -1;
	}
	*pp = p + 1;
	return 0;
}

static int check_line(struct checker *c, const char *line)
{
	if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
		const char *name = line + 7, *sp = strchr(name, ' ');
		if (sp == NULL || (size_t)(sp - name) >= sizeof(c->family))
			return bad(c, line, "no text after the name");
		char n[128];
		memcpy(n, name, (size_t)(sp - name));
		n[sp - name] = '\0';
		if (!prom_name_valid(n, 0))
			return bad(c, line, "invalid metric name");
		if (line[2] == 'H') {
			for (size_t i = 0; i < c->n_families; i++)
				if (strcmp(c->seen_families[i], n) == 0)
					return bad(c, line, "family announced twice");
			snprintf(c->seen_families[c->n_families++], 128, "%s", n);
			snprintf(c->family, sizeof(c->family), "%s", n);
			c->have_type = 0;
			for (const char *p = sp + 1; *p; p++)
				if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
					return bad(c, line, "bad escape in HELP");
				else if (*p == '\\')
					p++;
			return 0;
		}
		if (strcmp(n, c->family) != 0 || c->have_type)
			return bad(c, line, "TYPE not right after its HELP");
		const char *t = sp + 1;
		if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
			return bad(c, line, "unknown type");
		snprintf(c->type, sizeof(c->type), "%s", t);
		c->have_type = 1;
		c->inf_seen = 1;
		c->buckets = 0;
		return 0;
	}
	if (line[0] == '#' || line[0] == '\0')
		return bad(c, line, "comment or empty line");
	if (!c->have_type)
		return bad(c, line, "sample before its TYPE");
	/* name */
	char name[128];
	size_t n = 0;
	const char *p = line;
	while (*p && *p != '{' && *p != ' ' && n + 1 < sizeof(name))
		name[n++] = *p++;
	name[n] = '\0';
	char le[32] = "";
	const char *labels = p;
	if (*p == '{') {
		p++;
		if (parse_labels(&p, le, sizeof(le)) == -1)
			return bad(c, line, "malformed labels");
	}
	size_t lablen = (size_t)(p - labels);
	if (*p != ' ')
		return bad(c, line, "no value");
	double v;
	if (parse_value(p + 1, &v) == -1)
		return bad(c, line, "value does not parse");
	size_t fl = strlen(c->family);
	int hist = strcmp(c->type, "histogram") == 0;
	const char *suffix = strncmp(name, c->family, fl) == 0 ? name + fl : NULL;
	if (suffix == NULL || (!hist && suffix[0] != '\0') ||
	    (hist && strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") &&
	     strcmp(suffix, "_count")))
		return bad(c, line, "sample of another family");
	if (strcmp(c->type, "counter") == 0 && !(v >= 0))
		return bad(c, line, "negative counter");
	if (hist && strcmp(suffix, "_bucket") == 0) {
		if (le[0] == '\0')
			return bad(c, line, "bucket without le");
		if (c->inf_seen) { /* a new label set's buckets begin */
			c->inf_seen = 0;
			c->last_bucket = 0;
		}
		if (v < c->last_bucket)
			return bad(c, line, "buckets not cumulative");
		c->last_bucket = v;
		c->buckets++;
		if (strcmp(le, "+Inf") == 0) {
			c->inf_seen = 1;
			c->inf_value = v;
		}
	} else if (hist && (!c->inf_seen || c->buckets == 0)) {
		return bad(c, line, "histogram without le=\"+Inf\"");
	} else if (hist && strcmp(suffix, "_count") == 0 && v != c->inf_value) {
		return bad(c, line, "_count differs from the +Inf bucket");
	}
	char key[256];
	snprintf(key, sizeof(key), "%s%.*s", name, (int)lablen, labels);
	for (size_t i = 0; i < c->n_series; i++)
		if (strcmp(c->series[i], key) == 0)
			return bad(c, line, "series twice");
	if (c->n_series == MAX_SERIES)
		return bad(c, line, "too many series for the checker");
	snprintf(c->series[c->n_series++], sizeof(c->series[0]), "%s", key);
	return 0;
}

/* 0 if text is valid exposition format; else -1 with the reason in why. */
static int check_text(const char *text, char *why, size_t whylen)
{
	struct checker *c = xcalloc(1, sizeof(*c));
	int rc = 0;
	size_t len = strlen(text);
	if (len == 0 || text[len - 1] != '\n') {
		snprintf(why, whylen, "does not end with a line feed");
		free(c);
		return -1;
	}
	char *copy = xstrdup(text), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save))
		rc = check_line(c, l);
	if (rc == 0 && strstr(text, "\n\n"))
		rc = bad(c, "", "an empty line");
	snprintf(why, whylen, "%s", c->why);
	free(copy);
	free(c);
	return rc;
}

static void assert_valid(const char *text)
{
	char why[300];
	if (check_text(text, why, sizeof(why)) != 0)
		fail_msg("invalid exposition text: %s\n%s", why, text);
}

static void test_checker(void **state)
{
	(void)state;
	char why[300];
	assert_int_equal(check_text("# HELP a x\n# TYPE a counter\na 1\n", why, sizeof(why)), 0);
	static const char *const bad_texts[] = {
	    "a 1\n",
	    "# HELP a x\n# TYPE a counter\na 1",
	    "# HELP a x\n# TYPE a counter\nb 1\n",
	    "# HELP a x\n# TYPE a counter\na -1\n",
	    "# HELP a x\n# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
	    "# HELP a x\n# TYPE a counter\na{x=1} 1\n",
	    "# HELP a x\n# TYPE a counter\na{x=\"\\t\"} 1\n",
	    "# HELP a x\n# TYPE a counter\na one\n",
	    "# HELP a x\n# TYPE a counter\n# HELP a x\n# TYPE a counter\n",
	    "# HELP a x\n# TYPE a histogram\na_bucket{le=\"1\"} 2\na_bucket{le=\"+Inf\"} 1\n",
	    "# HELP a x\n# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_sum 1\na_count 2\n",
	    "# HELP a x\n# TYPE a histogram\na_sum 1\n",
	    "# HELP a x\n# TYPE a gauge\na 1\n\n",
	    "# HELP a-b x\n# TYPE a-b gauge\n",
	};
	for (size_t i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++)
		if (check_text(bad_texts[i], why, sizeof(why)) == 0)
			fail_msg("the checker took bad text %zu", i);
}

/* --- the formatter ----------------------------------------------------- */

static const double bounds[] = {0.1, 1, 10};

struct fx {
	struct metrics_snapshot s;
	struct role_starts starts;
	struct prom_hist batch, local, relay;
};

static void snapshot(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->s.version = "1.2 (git \"x\\y\")";
	f->s.now = 1800000100;
	f->s.daemon_started = 1800000000;
	f->s.queue_started = 1800000050;
	for (size_t i = 0; i < MET_COUNT; i++)
		f->s.v[i] = 1000 + i;
	f->s.v[MET_SMTP_RCPT_UNKNOWN_USER] = 3;
	f->s.v[MET_QUEUE_RCPT_DEFERRED] = 0;
	f->s.processes[PEER_SMTP] = 1;
	f->s.processes[PEER_LOCAL] = 1;
	f->starts.started = 1800000000;
	f->starts.n = 2;
	strcpy(f->starts.role[0].name, "queue");
	f->starts.role[0].starts = 1;
	strcpy(f->starts.role[1].name, "smtp");
	f->starts.role[1].starts = 3;
	f->s.starts = &f->starts;
	prom_hist_init(&f->batch, bounds, 3);
	prom_hist_init(&f->local, bounds, 3);
	prom_hist_init(&f->relay, bounds, 3);
	prom_hist_observe(&f->batch, 1);
	prom_hist_observe(&f->batch, 5);
	prom_hist_observe(&f->local, 0.05);
	f->s.batch = &f->batch;
	f->s.latency_local = &f->local;
	f->s.latency_relay = &f->relay;
}

static char *render(const struct metrics_snapshot *s)
{
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(metrics_fmt(&b, s), 0);
	char *text = buf_strdup(&b);
	buf_free(&b);
	assert_valid(text);
	return text;
}

static void has(const char *text, const char *line)
{
	char *want = xasprintf("\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("missing line: %s\nin:\n%s", line, text);
	free(want);
}

static void test_snapshot(void **state)
{
	(void)state;
	struct fx f;
	snapshot(&f);
	char *t = render(&f.s);
	assert_int_equal(strncmp(t, "# HELP raven_build_info ", 24), 0);
	has(t, "raven_build_info{version=\"1.2 (git \\\"x\\\\y\\\")\"} 1");
	has(t, "raven_start_time_seconds 1800000000");
	has(t, "raven_uptime_seconds 100");
	has(t, "raven_queue_start_time_seconds 1800000050");
	has(t, "raven_role_processes{role=\"queue\"} 1");
	has(t, "raven_role_processes{role=\"smtp\"} 1");
	has(t, "raven_role_processes{role=\"relay\"} 0");
	has(t, "raven_role_processes{role=\"metrics\"} 0");
	has(t, "raven_role_restarts_total{role=\"queue\"} 0");
	has(t, "raven_role_restarts_total{role=\"smtp\"} 2");
	has(t, "# TYPE raven_smtp_recipients_refused_total counter");
	has(t, "raven_smtp_recipients_refused_total{reason=\"unknown_user\"} 3");
	has(t, "raven_smtp_connections 1003"); /* a gauge row */
	has(t, "raven_queue_recipients{state=\"deferred\"} 0");
	has(t, "raven_deliveries_total{destination=\"relay\",outcome=\"bounced\"} 1032");
	has(t, "raven_queue_commit_batch_size_bucket{le=\"1\"} 1");
	has(t, "raven_queue_commit_batch_size_bucket{le=\"10\"} 2");
	has(t, "raven_queue_commit_batch_size_sum 6");
	has(t, "raven_delivery_latency_seconds_bucket{destination=\"local\",le=\"0.1\"} 1");
	has(t, "raven_delivery_latency_seconds_count{destination=\"relay\"} 0");
	/* Every catalog row is there, with its value. */
	for (size_t i = 0; i < MET_COUNT; i++) {
		const struct metric_def *d = metric_def((enum metric_id)i);
		char *line =
		    d->labels
		        ? xasprintf("%s{%s} %llu", d->name, d->labels, (unsigned long long)f.s.v[i])
		        : xasprintf("%s %llu", d->name, (unsigned long long)f.s.v[i]);
		has(t, line);
		free(line);
	}
	free(t);
}

/* Before the parent has told anything: no start time, no restarts; the
 * uptime is the queue's. */
static void test_no_starts(void **state)
{
	(void)state;
	struct fx f;
	snapshot(&f);
	f.starts.n = 0;
	f.s.daemon_started = 0;
	char *t = render(&f.s);
	assert_null(strstr(t, "raven_start_time_seconds"));
	assert_null(strstr(t, "raven_role_restarts_total"));
	has(t, "raven_uptime_seconds 50");
	free(t);
}

/* A buffer too small: -1, whatever the size. */
static void test_too_small(void **state)
{
	(void)state;
	struct fx f;
	snapshot(&f);
	struct buf b;
	buf_init(&b, 0);
	assert_int_equal(metrics_fmt(&b, &f.s), 0);
	size_t whole = b.len;
	buf_free(&b);
	for (size_t max = 1; max < whole; max += 97) { /* 0 is no maximum */
		buf_init(&b, max);
		assert_int_equal(metrics_fmt(&b, &f.s), -1);
		buf_free(&b);
	}
	buf_init(&b, whole);
	assert_int_equal(metrics_fmt(&b, &f.s), 0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checker),
	    cmocka_unit_test(test_snapshot),
	    cmocka_unit_test(test_no_starts),
	    cmocka_unit_test(test_too_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
