/*
 * dmarc_org: the organisational domain (RFC 7489 §3.2) through libpsl.
 * The list is loaded once into a context object, so a role can load it
 * before it chroots and never open a file again.
 */
#include "dmarc.h"

#include <stdlib.h>
#include <string.h>

#include <libpsl.h>

#include "util.h"
#include "xmalloc.h"

#define DEFAULT_PSL "/usr/share/publicsuffix/public_suffix_list.dat"

struct dmarc_psl {
	psl_ctx_t *ctx;
	int builtin; /* libpsl's own, not ours to free */
};

struct dmarc_psl *dmarc_psl_load(const char *path, char *err, size_t errlen)
{
	struct dmarc_psl *p = xcalloc(1, sizeof(*p));
	p->ctx = psl_load_file(path ? path : DEFAULT_PSL);
	if (p->ctx == NULL) {
		/* psl_builtin() is a static list (NULL if libpsl was built
		 * without one); it is older than the distribution's file. */
		p->ctx = (psl_ctx_t *)psl_builtin();
		p->builtin = 1;
	}
	if (p->ctx == NULL) {
		err_set(err, errlen,
		        "%s: cannot load the public suffix list, and libpsl has none built in",
		        path ? path : DEFAULT_PSL);
		free(p);
		return NULL;
	}
	return p;
}

void dmarc_psl_free(struct dmarc_psl *p)
{
	if (p == NULL)
		return;
	if (!p->builtin)
		psl_free(p->ctx);
	free(p);
}

int dmarc_psl_builtin(const struct dmarc_psl *p)
{
	return p->builtin;
}

int dmarc_org_domain(const struct dmarc_psl *p, const char *domain, char *out, size_t outlen)
{
	size_t len = strlen(domain);
	if (len == 0 || len > DMARC_DOMAIN_MAX || domain[0] == '.' || domain[len - 1] == '.')
		return -1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)domain[i] <= 0x20 || domain[i] == 0x7f)
			return -1;
	/* libpsl wants lowercase; its own lowercasing handles UTF-8 too. */
	char *lower = NULL;
	if (psl_str_to_utf8lower(domain, "utf-8", NULL, &lower) != PSL_SUCCESS || lower == NULL) {
		psl_free_string(lower);
		return -1;
	}
	const char *reg = psl_registrable_domain(p->ctx, lower);
	int rc = -1;
	if (reg != NULL && strlen(reg) < outlen) {
		memcpy(out, reg, strlen(reg) + 1);
		rc = 0;
	}
	psl_free_string(lower);
	return rc;
}
