/*
 * dmarc_from: the author domains of a From: field for DMARC, read with the
 * shared RFC 5322 address-list parser (src/wire/addrlist.c); only the
 * domains matter here, and each must be a DNS name DMARC can look up.
 */
#include "dmarc.h"

#include <string.h>

#include "addrlist.h"
#include "dkim_tags.h" /* dkim_name_valid */
#include "util.h"

static int collect(const struct addrlist_spec *a, void *arg, char *err, size_t errlen)
{
	struct dmarc_from *out = arg;
	const char *dom = a->text + a->at + 1;
	size_t dl = strlen(dom);
	if (a->literal) {
		err_set(err, errlen, "domain literal has no DMARC policy");
		return -1;
	}
	if (dl > DMARC_DOMAIN_MAX) {
		err_set(err, errlen, "domain too long");
		return -1;
	}
	for (size_t i = 0; i < dl; i++)
		if ((unsigned char)dom[i] >= 0x80) {
			err_set(err, errlen, "non-ASCII domain (no A-label form)");
			return -1;
		}
	if (!dkim_name_valid(dom, dl, 0)) {
		err_set(err, errlen, "bad domain");
		return -1;
	}
	if (out->n == DMARC_FROM_ADDRS_MAX) {
		err_set(err, errlen, "too many addresses");
		return -1;
	}
	memcpy(out->domain[out->n], dom, dl + 1);
	ascii_lower_str(out->domain[out->n]);
	out->n++;
	return 0;
}

int dmarc_from_parse(const char *value, size_t len, struct dmarc_from *out, char *err,
                     size_t errlen)
{
	char why[128];
	out->n = 0;
	if (len > DMARC_FROM_VALUE_MAX) {
		err_set(err, errlen, "From: field too long");
		return -1;
	}
	if (addrlist_parse(value, len, 0, collect, out, why, sizeof(why)) == -1) {
		err_set(err, errlen, "From: %s", why);
		return -1;
	}
	return 0;
}

int dmarc_author_domain(const char *const *values, const size_t *lens, size_t nvalues, char *out,
                        size_t outlen, char *err, size_t errlen)
{
	if (nvalues == 0) {
		err_set(err, errlen, "no From field");
		return -1;
	}
	if (nvalues > 1) {
		err_set(err, errlen, "%zu From fields", nvalues);
		return -1;
	}
	struct dmarc_from f;
	if (dmarc_from_parse(values[0], lens[0], &f, err, errlen) == -1)
		return -1;
	if (f.n == 0) {
		err_set(err, errlen, "From field without an address");
		return -1;
	}
	for (size_t i = 1; i < f.n; i++) {
		if (strcmp(f.domain[i], f.domain[0]) != 0) {
			err_set(err, errlen, "From addresses in different domains");
			return -1;
		}
	}
	if (strlen(f.domain[0]) >= outlen) {
		err_set(err, errlen, "author domain too long");
		return -1;
	}
	memcpy(out, f.domain[0], strlen(f.domain[0]) + 1);
	return 0;
}
