/* senders: the addresses a login owns (see senders.h). Pure. */
#include "senders.h"

#include <string.h>
#include <strings.h>

/* local[0..n) without its "+tag" (a login owns its sub-addresses). */
static size_t base_len(const char *local)
{
	const char *plus = strchr(local, '+');
	return plus != NULL && plus != local ? (size_t)(plus - local) : strlen(local);
}

static int local_is(const struct mailaddr *a, const char *name, size_t n)
{
	return base_len(a->local) == n && strncasecmp(a->local, name, n) == 0;
}

/* "user@domain" owns a (its +tag variants too). */
static int address_is(const struct mailaddr *a, const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	if (at == NULL)
		return 0;
	size_t dl = n - (size_t)(at + 1 - s);
	return local_is(a, s, (size_t)(at - s)) && strlen(a->domain) == dl &&
	       strncasecmp(a->domain, at + 1, dl) == 0;
}

/* One item of a senders list: an address, "@domain" or "domain". */
static int item_owns(const struct mailaddr *a, const char *s, size_t n)
{
	if (n > 0 && s[0] == '@')
		s++, n--;
	else if (memchr(s, '@', n) != NULL)
		return address_is(a, s, n);
	return n > 0 && strlen(a->domain) == n && strncasecmp(a->domain, s, n) == 0;
}

static int list_owns(const struct mailaddr *a, const char *list)
{
	const char *s = list;
	while (*s != '\0') {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		size_t n = strcspn(s, ", \t");
		if (n > 0 && item_owns(a, s, n))
			return 1;
		s += n;
	}
	return 0;
}

/* A domain this configuration delivers into a mailbox. */
static int local_domain(const struct config *c, const char *domain)
{
	if (strcasecmp(domain, c->hostname) == 0)
		return 1;
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct match_rule *r = &c->rules[i];
		if (r->action != NULL && r->action->kind == ACTION_MAILDIR && r->domains != NULL &&
		    table_lookup(r->domains, domain, NULL))
			return 1;
	}
	return 0;
}

int senders_owns(const struct config *c, const char *login, const struct mailaddr *a)
{
	const char *list = NULL;
	int listed = c->auth_senders != NULL && table_lookup(c->auth_senders, login, &list);
	return senders_owns_listed(c, login, a, listed, list);
}

int senders_owns_listed(const struct config *c, const char *login, const struct mailaddr *a,
                        int listed, const char *list)
{
	if (a->is_null)
		return 1;
	if (a->domain[0] == '\0' || a->is_literal)
		return 0;
	if (listed)
		return list != NULL && list_owns(a, list);
	if (strchr(login, '@') != NULL)
		return address_is(a, login, strlen(login));
	return local_is(a, login, strlen(login)) && local_domain(c, a->domain);
}
