/*
 * conf_checks: the statements of the sender checks and of DKIM signing —
 * spf, dmarc, dnsbl, dkim — checked where they are written, and what they
 * mean taken together (dmarc needs SPF's and DKIM's verdicts, so it turns
 * both on). The grammar is in parse.y; docs/raven.conf.5.md says what each
 * statement does.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_int.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

static const char *policy_name(enum check_policy how)
{
	switch (how) {
	case CHECK_OFF:
		return "off";
	case CHECK_TAG:
		return "tag";
	case CHECK_QUARANTINE:
		return "quarantine";
	case CHECK_REJECT:
		return "reject";
	}
	return "?";
}

void conf_set_spf(struct conf_parser *p, int line, enum check_policy how)
{
	if (conf_once(p, line, &p->spf_line, "spf") == -1)
		return;
	if (how == CHECK_QUARANTINE)
		conf_error(p, line, "spf: \"%s\" is not a policy of SPF (reject, tag or off)",
		           policy_name(how));
	else
		p->c->spf = how;
}

void conf_set_dmarc(struct conf_parser *p, int line, enum check_policy how)
{
	if (conf_once(p, line, &p->dmarc_line, "dmarc") == 0)
		p->c->dmarc = how;
}

/* A DNS zone as a DNSBL suffix: a host name (letters, digits, hyphens). */
static int zone_valid(const char *z)
{
	return conf_valid_hostname(z) && strlen(z) <= 200;
}

static int ipv4_value(const char *s, uint32_t *v)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*v = ntohl(a.s_addr);
	return 0;
}

/* "127.0.0.2" or "127.0.0.4-127.0.0.11" */
static int code_range(const char *s, uint32_t *lo, uint32_t *hi)
{
	char a[32];
	const char *dash = strchr(s, '-');
	size_t n = dash ? (size_t)(dash - s) : strlen(s);
	if (n == 0 || n >= sizeof(a))
		return -1;
	memcpy(a, s, n);
	a[n] = '\0';
	if (ipv4_value(a, lo) == -1)
		return -1;
	if (dash == NULL) {
		*hi = *lo;
		return 0;
	}
	return ipv4_value(dash + 1, hi) == -1 || *hi < *lo ? -1 : 0;
}

static void dnsbl_codes(struct conf_parser *p, int line, struct dnsbl_zone *z)
{
	const struct conf_list *l = p->s.dnsbl_codes;
	char q[300];
	if (l == NULL)
		return;
	if (l->n == 0 || l->n > CONF_DNSBL_CODES_MAX) {
		conf_error(p, line, "dnsbl: codes: 1 to %d addresses or ranges",
		           CONF_DNSBL_CODES_MAX);
		return;
	}
	z->lo = xcalloc(l->n, sizeof(*z->lo));
	z->hi = xcalloc(l->n, sizeof(*z->hi));
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].value != NULL || code_range(l->v[i].key, &z->lo[i], &z->hi[i]) == -1) {
			conf_error(p, line,
			           "dnsbl: codes: \"%s\" is neither an IPv4 address nor a range "
			           "A-B",
			           conf_quote(q, sizeof(q), l->v[i].key));
			return;
		}
		z->n_codes++;
	}
}

static void add_zone(struct conf_parser *p, int line, const char *zone)
{
	struct config *c = p->c;
	char q[300];
	if (!zone_valid(zone)) {
		conf_error(p, line, "dnsbl: \"%s\" is not a DNS zone",
		           conf_quote(q, sizeof(q), zone));
		return;
	}
	for (size_t i = 0; i < c->n_dnsbl; i++)
		if (strcasecmp(c->dnsbl[i].zone, zone) == 0) {
			conf_error(p, line, "dnsbl: zone \"%s\" already listed on line %d",
			           conf_quote(q, sizeof(q), zone), c->dnsbl[i].line);
			return;
		}
	if (c->n_dnsbl >= CONF_DNSBL_ZONES_MAX) {
		conf_error(p, line, "dnsbl: more than %d zones", CONF_DNSBL_ZONES_MAX);
		return;
	}
	c->dnsbl = xreallocarray(c->dnsbl, c->n_dnsbl + 1, sizeof(*c->dnsbl));
	struct dnsbl_zone *z = &c->dnsbl[c->n_dnsbl++];
	memset(z, 0, sizeof(*z));
	z->zone = ascii_lower_str(xstrdup(zone));
	z->reject = !p->s.dnsbl_tag;
	z->line = line;
	dnsbl_codes(p, line, z);
}

void conf_add_dnsbl(struct conf_parser *p, int line, char *zone, struct conf_list *list)
{
	if (p->s.dnsbl_reject && p->s.dnsbl_tag)
		conf_error(p, line, "dnsbl: reject or tag, not both");
	else if (p->s.dnsbl_reject > 1 || p->s.dnsbl_tag > 1)
		conf_error(p, line, "dnsbl: duplicate option");
	else if (list != NULL && list->n == 0)
		conf_error(p, line, "dnsbl: empty list");
	else if (zone != NULL)
		add_zone(p, line, zone);
	else
		for (size_t i = 0; i < list->n; i++)
			if (list->v[i].value != NULL)
				conf_error(p, line, "dnsbl: unexpected \"= value\"");
			else
				add_zone(p, line, list->v[i].key);
	free(zone);
	conf_list_free(list);
	conf_scratch_clear(&p->s);
}

struct allow_walk {
	struct conf_parser *p;
	int line;
	struct netmask *m;
	size_t n;
};

static void allow_one(struct allow_walk *w, const char *net)
{
	const char *why;
	char q[300];
	if (conf_parse_netmask(net, &w->m[w->n], &why) == -1)
		conf_error(w->p, w->line, "dnsbl allow: \"%s\": %s", conf_quote(q, sizeof(q), net),
		           why);
	else
		w->n++;
}

static void allow_entry(const char *key, const char *value, void *arg)
{
	(void)value;
	allow_one(arg, key);
}

void conf_set_dnsbl_allow(struct conf_parser *p, int line, struct conf_list *list, char *table)
{
	struct config *c = p->c;
	if (conf_once(p, line, &p->dnsbl_allow_line, "dnsbl allow") == -1)
		goto out;
	const struct table *t = table ? conf_table_ref(p, line, table) : NULL;
	size_t n = list ? list->n : t ? table_size(t) : 0;
	if (n == 0) {
		if (list != NULL || t != NULL)
			conf_error(p, line, "dnsbl allow: no networks");
		goto out;
	}
	struct allow_walk w = {p, line, xcalloc(n, sizeof(struct netmask)), 0};
	if (list != NULL) {
		for (size_t i = 0; i < list->n; i++)
			if (list->v[i].value != NULL)
				conf_error(p, line, "dnsbl allow: unexpected \"= value\"");
			else
				allow_one(&w, list->v[i].key);
	} else {
		table_foreach(t, allow_entry, &w);
	}
	c->dnsbl_allow = w.m;
	c->n_dnsbl_allow = w.n;
out:
	free(table);
	conf_list_free(list);
}

/* A selector is one or more labels of letters, digits, '-' and '_'. */
static int selector_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		           (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
			label++;
		} else {
			return 0;
		}
	}
	return label > 0;
}

static void add_signing(struct conf_parser *p, int line)
{
	struct config *c = p->c;
	struct conf_scratch *s = &p->s;
	char q[300];
	if (s->dkim_domain == NULL || s->dkim_selector == NULL || s->dkim_key == NULL) {
		conf_error(p, line,
		           "dkim sign: domain \"D\" selector \"S\" key \"FILE\" are all "
		           "needed");
		return;
	}
	size_t n = strlen(s->dkim_domain);
	if (n > 1 && s->dkim_domain[n - 1] == '.')
		s->dkim_domain[n - 1] = '\0';
	if (!conf_valid_hostname(s->dkim_domain)) {
		conf_error(p, line, "dkim sign: \"%s\" is not a domain name",
		           conf_quote(q, sizeof(q), s->dkim_domain));
		return;
	}
	if (!selector_valid(s->dkim_selector)) {
		conf_error(p, line, "dkim sign: selector \"%s\" is not a DNS label",
		           conf_quote(q, sizeof(q), s->dkim_selector));
		return;
	}
	if (s->dkim_key[0] == '\0') {
		conf_error(p, line, "dkim sign: empty key path");
		return;
	}
	ascii_lower_str(s->dkim_domain);
	for (size_t i = 0; i < c->n_dkim_sign; i++)
		if (strcmp(c->dkim_sign[i].domain, s->dkim_domain) == 0) {
			conf_error(p, line, "dkim sign: domain \"%s\" already has a key on line %d",
			           conf_quote(q, sizeof(q), s->dkim_domain), c->dkim_sign[i].line);
			return;
		}
	if (c->n_dkim_sign >= CONF_DKIM_SIGN_MAX) {
		conf_error(p, line, "dkim sign: more than %d domains", CONF_DKIM_SIGN_MAX);
		return;
	}
	c->dkim_sign = xreallocarray(c->dkim_sign, c->n_dkim_sign + 1, sizeof(*c->dkim_sign));
	struct dkim_signing *d = &c->dkim_sign[c->n_dkim_sign++];
	d->domain = s->dkim_domain;
	d->selector = s->dkim_selector;
	d->key = s->dkim_key;
	d->line = line;
	s->dkim_domain = s->dkim_selector = s->dkim_key = NULL;
}

void conf_dkim_opt(struct conf_parser *p, int line, char **slot, char *value, const char *name)
{
	if (*slot != NULL)
		conf_error(p, line, "dkim: duplicate option \"%s\"", name);
	free(*slot);
	*slot = value;
}

void conf_add_dkim(struct conf_parser *p, int line)
{
	struct conf_scratch *s = &p->s;
	int opts = s->dkim_domain || s->dkim_selector || s->dkim_key;
	if (s->dkim_sign > 1 || s->dkim_verify > 1)
		conf_error(p, line, "dkim: duplicate option");
	else if (s->dkim_sign && s->dkim_verify)
		conf_error(p, line, "dkim: sign and verify are statements of their own");
	else if (s->dkim_verify && opts)
		conf_error(p, line, "dkim verify takes no domain, selector or key");
	else if (s->dkim_verify && conf_once(p, line, &p->dkim_verify_line, "dkim verify") == 0)
		p->c->dkim_verify = 1;
	else if (s->dkim_sign)
		add_signing(p, line);
	else if (!s->dkim_verify)
		conf_error(p, line, "dkim: sign or verify?");
	conf_scratch_clear(s);
}

void conf_checks_free(struct config *c)
{
	for (size_t i = 0; i < c->n_dnsbl; i++) {
		free(c->dnsbl[i].zone);
		free(c->dnsbl[i].lo);
		free(c->dnsbl[i].hi);
	}
	free(c->dnsbl);
	free(c->dnsbl_allow);
	for (size_t i = 0; i < c->n_dkim_sign; i++) {
		free(c->dkim_sign[i].domain);
		free(c->dkim_sign[i].selector);
		free(c->dkim_sign[i].key);
	}
	free(c->dkim_sign);
}

enum check_policy conf_spf_policy(const struct config *c)
{
	if (c->spf == CHECK_OFF && c->dmarc != CHECK_OFF)
		return CHECK_TAG;
	return c->spf;
}

int conf_dkim_verifying(const struct config *c)
{
	return c->dkim_verify || c->dmarc != CHECK_OFF;
}

int conf_checks_on(const struct config *c)
{
	return conf_spf_policy(c) != CHECK_OFF || conf_dkim_verifying(c) || c->n_dnsbl > 0;
}

int conf_has_dkim_sign(const struct config *c)
{
	return c->n_dkim_sign > 0;
}

const struct dkim_signing *conf_dkim_signing_for(const struct config *c, const char *domain)
{
	const struct dkim_signing *best = NULL;
	size_t dl = strlen(domain), best_len = 0;
	for (size_t i = 0; i < c->n_dkim_sign; i++) {
		const struct dkim_signing *s = &c->dkim_sign[i];
		size_t sl = strlen(s->domain);
		int match = (dl == sl && strcasecmp(domain, s->domain) == 0) ||
		            (dl > sl && domain[dl - sl - 1] == '.' &&
		             strcasecmp(domain + dl - sl, s->domain) == 0);
		if (match && sl > best_len) {
			best = s;
			best_len = sl;
		}
	}
	return best;
}
