/*
 * prom: the Prometheus text exposition format, version 0.0.4, written
 * into a buf — one family at a time: its HELP and TYPE lines, then its
 * samples. Histograms are kept here too (fixed upper bounds, observations
 * counted per bucket) and written cumulatively with their _sum and _count.
 *
 * Pure: no I/O, no clock. Every writer returns 0, or -1 when out's maximum
 * was reached (the output is then incomplete and must not be served).
 * Metric and label names are the caller's constants, checked by
 * prom_name_valid() in the tests; label values are escaped here.
 */
#ifndef RAVEN_PROM_H
#define RAVEN_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type { PROM_COUNTER = 1, PROM_GAUGE, PROM_HISTOGRAM };

#define PROM_HIST_MAX 24 /* upper bounds of one histogram, +Inf not counted */

struct prom_hist {
	const double *bounds; /* strictly increasing upper bounds ("le"), +Inf implied */
	size_t n;
	uint64_t bucket[PROM_HIST_MAX + 1]; /* per bucket, not cumulative; [n]: above all */
	uint64_t count;
	double sum;
};

/* bounds must outlive h; n at most PROM_HIST_MAX. */
void prom_hist_init(struct prom_hist *h, const double *bounds, size_t n);
/* Count v in the first bucket whose bound is >= v (negative or NaN counts as 0). */
void prom_hist_observe(struct prom_hist *h, double v);

/* 1 if s is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with
 * label 1, a valid label name (no ':', not starting with "__"). */
int prom_name_valid(const char *s, int label);

/* "# HELP name help" (help escaped) and "# TYPE name type". */
int prom_family(struct buf *out, const char *name, enum prom_type type, const char *help);

/* One sample: name{labels} value. labels is NULL (or "") or the inside of
 * the braces, already rendered (see prom_label). */
int prom_sample(struct buf *out, const char *name, const char *labels, uint64_t value);
int prom_sample_double(struct buf *out, const char *name, const char *labels, double value);

/* Append name="value" (value escaped: \\, \" and \n) to out, after a comma
 * if out is not empty. out is the label set being built. */
int prom_label(struct buf *out, const char *name, const char *value);

/* The samples of a histogram: every bucket (cumulative, le="+Inf" last),
 * _sum and _count; labels as for prom_sample (le is added). */
int prom_hist_write(struct buf *out, const char *name, const char *labels,
                    const struct prom_hist *h);

#endif
