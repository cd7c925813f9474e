/* prom: the Prometheus text exposition format (see prom.h). */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prom_hist_init(struct prom_hist *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->n = n > PROM_HIST_MAX ? PROM_HIST_MAX : n;
}

void prom_hist_observe(struct prom_hist *h, double v)
{
	if (!(v > 0)) /* negative (a clock stepped back) or NaN */
		v = 0;
	size_t i = 0;
	while (i < h->n && v > h->bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

int prom_name_valid(const char *s, int label)
{
	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	if (label && s[0] == '_' && s[1] == '_')
		return 0; /* reserved for Prometheus itself */
	for (const char *p = s; *p; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '_' || (c == ':' && !label);
		if (!ok)
			return 0;
	}
	return 1;
}

/* A float as Go's ParseFloat reads it back: the shortest of %.15g and
 * %.17g that round-trips, or NaN / +Inf / -Inf. */
static void fmt_double(char *dst, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(dst, len, "NaN");
	} else if (isinf(v)) {
		snprintf(dst, len, "%sInf", v > 0 ? "+" : "-");
	} else {
		snprintf(dst, len, "%.15g", v);
		if (strtod(dst, NULL) != v)
			snprintf(dst, len, "%.17g", v);
	}
}

/* HELP text: backslash and line feed escaped (label values also escape '"'). */
static int escaped(struct buf *out, const char *s, int quote)
{
	int rc = 0;
	for (const char *p = s; *p && rc == 0; p++) {
		if (*p == '\\')
			rc = buf_append(out, "\\\\", 2);
		else if (*p == '\n')
			rc = buf_append(out, "\\n", 2);
		else if (*p == '"' && quote)
			rc = buf_append(out, "\\\"", 2);
		else
			rc = buf_append_byte(out, (uint8_t)*p);
	}
	return rc;
}

int prom_family(struct buf *out, const char *name, enum prom_type type, const char *help)
{
	static const char *const types[] = {"untyped", "counter", "gauge", "histogram"};
	size_t start = out->len;
	int rc = buf_printf(out, "# HELP %s ", name);
	if (rc == 0)
		rc = escaped(out, help, 0);
	if (rc == 0)
		rc = buf_printf(out, "\n# TYPE %s %s\n", name,
		                type >= PROM_COUNTER && type <= PROM_HISTOGRAM ? types[type]
		                                                               : types[0]);
	if (rc != 0)
		out->len = start;
	return rc;
}

static int sample_head(struct buf *out, const char *name, const char *suffix, const char *labels)
{
	if (labels && labels[0])
		return buf_printf(out, "%s%s{%s} ", name, suffix, labels);
	return buf_printf(out, "%s%s ", name, suffix);
}

int prom_sample(struct buf *out, const char *name, const char *labels, uint64_t value)
{
	size_t start = out->len;
	int rc = sample_head(out, name, "", labels);
	if (rc == 0)
		rc = buf_printf(out, "%llu\n", (unsigned long long)value);
	if (rc != 0)
		out->len = start;
	return rc;
}

int prom_sample_double(struct buf *out, const char *name, const char *labels, double value)
{
	char v[40];
	size_t start = out->len;
	fmt_double(v, sizeof(v), value);
	int rc = sample_head(out, name, "", labels);
	if (rc == 0)
		rc = buf_printf(out, "%s\n", v);
	if (rc != 0)
		out->len = start;
	return rc;
}

int prom_label(struct buf *out, const char *name, const char *value)
{
	size_t start = out->len;
	int rc = buf_printf(out, "%s%s=\"", out->len ? "," : "", name);
	if (rc == 0)
		rc = escaped(out, value, 1);
	if (rc == 0)
		rc = buf_append_byte(out, '"');
	if (rc != 0)
		out->len = start;
	return rc;
}

int prom_hist_write(struct buf *out, const char *name, const char *labels,
                    const struct prom_hist *h)
{
	size_t start = out->len;
	const char *sep = labels && labels[0] ? "," : "";
	const char *lab = labels ? labels : "";
	uint64_t cum = 0;
	int rc = 0;
	for (size_t i = 0; i <= h->n && rc == 0; i++) {
		char le[40];
		if (i < h->n)
			fmt_double(le, sizeof(le), h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		cum += h->bucket[i];
		rc = buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, lab, sep, le,
		                (unsigned long long)cum);
	}
	if (rc == 0) {
		char sum[40];
		fmt_double(sum, sizeof(sum), h->sum);
		rc = sample_head(out, name, "_sum", labels);
		if (rc == 0)
			rc = buf_printf(out, "%s\n", sum);
	}
	if (rc == 0)
		rc = sample_head(out, name, "_count", labels);
	if (rc == 0)
		rc = buf_printf(out, "%llu\n", (unsigned long long)h->count);
	if (rc != 0)
		out->len = start;
	return rc;
}
