/*
 * route: what happens to one recipient (see route.h). The match rules pick
 * an action; for a local action (maildir or lmtp) the local part is normalised (lowercase,
 * "+tag" removed), expanded through the action's aliases(5) table and each
 * final mailbox checked against the users table, all at RCPT time so that an
 * unknown user is refused in the dialogue instead of bounced later.
 *
 * Expansion is bounded three ways: nesting depth (ROUTE_MAX_DEPTH), final
 * mailboxes (ROUTE_MAX_EXPANSION) and total alias visits, which stops a
 * table where every alias names the next one many times from costing
 * exponential work even though it has no loop.
 */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "utf8.h"
#include "util.h"
#include "xmalloc.h"

#define ROUTE_MAX_VISITS (ROUTE_MAX_EXPANSION * 10)
#define ROUTE_MAX_LOCAL  255 /* longer local parts are nobody's mailbox */

struct expand {
	const struct config *c;
	const struct route_request *rq;
	const struct action *action;
	struct route_result *out;
	const char *chain[ROUTE_MAX_DEPTH + 1]; /* aliases being expanded, for loops */
	size_t visits;
	int failed;
};

static void set_verdict(struct route_result *out, enum route_verdict v, const char *reason)
{
	out->verdict = v;
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

static void fail(struct expand *e, enum route_verdict v, const char *reason)
{
	if (e->failed)
		return;
	e->failed = 1;
	set_verdict(e->out, v, reason);
}

static char *lower_dup(const char *s, size_t n)
{
	return ascii_lower_str(xstrndup(s, n));
}

int route_safe_mailbox(const char *name)
{
	size_t n = strnlen(name, 65);
	if (n == 0 || n > 64 || name[0] == '.')
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';) {
		/* graphic ASCII or well-formed UTF-8 (SMTPUTF8 mailboxes); no '/',
		 * no controls, no spaces */
		if (*p >= 0x80) {
			size_t k = utf8_seq_len(p, strnlen((const char *)p, 4), NULL);
			if (k == 0)
				return 0;
			p += k;
			continue;
		}
		if (*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
			return 0;
		p++;
	}
	return 1;
}

/* A lookup in any table: in memory here, else the caller's hook, which
 * may not know yet (the lookup to do is recorded in out). */
static enum route_answer route_table(const struct route_request *rq, struct route_result *out,
                                     const struct table *t, const char *key, const char **value)
{
	if (value != NULL)
		*value = NULL;
	if (t == NULL)
		return ROUTE_ABSENT;
	if (table_kind(t) == TABLE_MEMORY)
		return table_lookup(t, key, value) ? ROUTE_FOUND : ROUTE_ABSENT;
	if (rq->lookup == NULL)
		return ROUTE_UNAVAILABLE;
	/* Keys are asked lowercased, as memory tables compare them. */
	char lkey[sizeof(out->need_key)];
	if (strlen(key) >= sizeof(lkey))
		return ROUTE_ABSENT; /* longer than any address */
	snprintf(lkey, sizeof(lkey), "%s", key);
	ascii_lower_str(lkey);
	enum route_answer a = rq->lookup->fn(rq->lookup->arg, t, lkey, value);
	if (a == ROUTE_UNKNOWN && out->need_table[0] == '\0') {
		snprintf(out->need_table, sizeof(out->need_table), "%s", table_name(t));
		snprintf(out->need_key, sizeof(out->need_key), "%s", lkey);
	}
	return a;
}

/* The verdict of a lookup that could not be answered. */
static void set_blocked(struct route_result *out, enum route_answer a)
{
	if (a == ROUTE_UNKNOWN)
		set_verdict(out, ROUTE_PENDING, "Lookup pending");
	else
		set_verdict(out, ROUTE_TEMP_ERROR, "Lookup table unavailable");
}

/* The first rule for this client and domain; NULL with *blocked set when an
 * SQL table of domains could not answer. */
static const struct match_rule *route_match(const struct config *c, const struct route_request *rq,
                                            const char *domain, struct route_result *out,
                                            enum route_answer *blocked)
{
	*blocked = ROUTE_FOUND;
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct match_rule *r = &c->rules[i];
		int from = r->from == FROM_ANY ||
		           (r->from == FROM_LOCAL && rq->from == FROM_LOCAL) ||
		           (r->from == FROM_AUTH && rq->authenticated);
		if (!from)
			continue;
		if (r->for_ == FOR_ANY)
			return r;
		if (r->domains == NULL)
			continue;
		if (rq->vouched != NULL && table_kind(r->domains) != TABLE_MEMORY) {
			if (r->action == rq->vouched)
				return r;
			continue;
		}
		enum route_answer a = route_table(rq, out, r->domains, domain, NULL);
		if (a == ROUTE_FOUND)
			return r;
		if (a != ROUTE_ABSENT) {
			*blocked = a;
			return NULL;
		}
	}
	return NULL;
}

static void fail_blocked(struct expand *e, enum route_answer a)
{
	fail(e, a == ROUTE_UNKNOWN ? ROUTE_PENDING : ROUTE_TEMP_ERROR,
	     a == ROUTE_UNKNOWN ? "Lookup pending" : "Lookup table unavailable");
}

/* lowercase; "user+tag" -> "user" unless "user+tag" is itself known. */
static char *normalize(struct expand *e, const char *local)
{
	const struct action *a = e->action;
	char *name = lower_dup(local, strlen(local));
	char *plus = strchr(name, '+');
	if (plus == NULL || plus == name)
		return name;
	enum route_answer r = route_table(e->rq, e->out, a->aliases, name, NULL);
	if (r == ROUTE_ABSENT)
		r = route_table(e->rq, e->out, a->users, name, NULL);
	if (r == ROUTE_FOUND)
		return name;
	if (r != ROUTE_ABSENT)
		fail_blocked(e, r);
	*plus = '\0';
	return name;
}

static void add_mailbox(struct expand *e, const char *name)
{
	struct route_result *out = e->out;
	for (size_t i = 0; i < out->n_users; i++)
		if (strcmp(out->users[i], name) == 0)
			return;
	if (out->n_users >= ROUTE_MAX_EXPANSION) {
		fail(e, ROUTE_ERROR, "Alias expands to too many recipients");
		return;
	}
	out->users = xreallocarray(out->users, out->n_users + 1, sizeof(*out->users));
	out->users[out->n_users++] = xstrdup(name);
}

static void expand_name(struct expand *e, const char *name, size_t depth);

static void expand_target(struct expand *e, const char *parent, const char *t, size_t n,
                          size_t depth)
{
	if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
		t++;
		n -= 2;
	}
	if (n == 0)
		return;
	if (t[0] == '|') {
		fail(e, ROUTE_ERROR, "Alias to a command: delivery to commands is not supported");
		return;
	}
	if (t[0] == '/') {
		fail(e, ROUTE_ERROR, "Alias to a file: delivery to files is not supported");
		return;
	}
	if (n >= 9 && strncmp(t, ":include:", 9) == 0) {
		fail(e, ROUTE_ERROR, "Alias with :include: is not supported");
		return;
	}
	if (t[0] == '\\') {
		/* aliases(5): "\user" is delivered as is, never expanded again */
		char *m = lower_dup(t + 1, n - 1);
		add_mailbox(e, m);
		free(m);
		return;
	}
	const char *at = memchr(t, '@', n);
	if (at != NULL) {
		char *domain = xstrndup(at + 1, n - (size_t)(at + 1 - t));
		enum route_answer blocked;
		const struct match_rule *r = route_match(e->c, e->rq, domain, e->out, &blocked);
		free(domain);
		if (r == NULL && blocked != ROUTE_FOUND) {
			fail_blocked(e, blocked);
			return;
		}
		if (r == NULL || !conf_action_local(r->action)) {
			fail(e, ROUTE_ERROR, "Forwarding to remote addresses is not supported yet");
			return;
		}
		if (r->action != e->action) {
			fail(e, ROUTE_ERROR,
			     "Forwarding to another local delivery action is not supported yet");
			return;
		}
		n = (size_t)(at - t);
		if (n == 0) {
			fail(e, ROUTE_ERROR, "Alias target without a local part");
			return;
		}
	}
	char *lname = lower_dup(t, n);
	if (strcmp(lname, parent) == 0) {
		/* "root: root, backup" (Postfix): the alias names its own mailbox */
		add_mailbox(e, lname);
		free(lname);
		return;
	}
	char *name = normalize(e, lname);
	free(lname);
	expand_name(e, name, depth);
	free(name);
}

static void expand_name(struct expand *e, const char *name, size_t depth)
{
	const char *value = NULL;
	if (e->failed)
		return;
	if (++e->visits > ROUTE_MAX_VISITS) {
		fail(e, ROUTE_ERROR, "Alias expansion too large");
		return;
	}
	enum route_answer found = route_table(e->rq, e->out, e->action->aliases, name, &value);
	if (found != ROUTE_FOUND && found != ROUTE_ABSENT) {
		fail_blocked(e, found);
		return;
	}
	if (found == ROUTE_ABSENT || value == NULL || value[0] == '\0') {
		add_mailbox(e, name);
		return;
	}
	for (size_t i = 0; i < depth; i++) {
		if (strcmp(e->chain[i], name) == 0) {
			fail(e, ROUTE_ERROR, "Alias loop");
			return;
		}
	}
	if (depth >= ROUTE_MAX_DEPTH) {
		fail(e, ROUTE_ERROR, "Aliases nested too deeply");
		return;
	}
	e->chain[depth] = name;
	const char *s = value;
	while (*s != '\0' && !e->failed) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		const char *end = s;
		int quoted = 0;
		while (*end != '\0' && (quoted || *end != ',')) {
			if (*end == '"')
				quoted = !quoted;
			end++;
		}
		size_t n = (size_t)(end - s);
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		expand_target(e, name, s, n, depth + 1);
		s = end;
	}
}

/* route_verify's re-check of an action whose users or aliases are kept in a
 * database: the smtp role asked them; the mailbox it names is taken if it
 * is a safe name (the action decides where and as whom it is written). */
static int vouch_local(const struct action *a, const char *user, struct route_result *out)
{
	int sql = (a->users != NULL && table_kind(a->users) != TABLE_MEMORY) ||
	          (a->aliases != NULL && table_kind(a->aliases) != TABLE_MEMORY);
	if (!sql || user == NULL || !route_safe_mailbox(user))
		return 0;
	out->users = xcalloc(1, sizeof(*out->users));
	out->users[0] = xstrdup(user);
	out->n_users = 1;
	out->verdict = ROUTE_LOCAL;
	return 1;
}

/* Local delivery: expansion, then every final mailbox must be acceptable. */
static void route_local(const struct config *c, const struct route_request *rq,
                        const struct action *a, struct route_result *out)
{
	struct expand e;
	memset(&e, 0, sizeof(e));
	e.c = c;
	e.rq = rq;
	e.action = a;
	e.out = out;
	out->action = a;
	if (rq->vouched == a && vouch_local(a, rq->vouched_user, out))
		return;
	char *name = normalize(&e, rq->local);
	expand_name(&e, name, 0);
	if (!e.failed && out->n_users == 0)
		fail(&e, ROUTE_UNKNOWN_USER, "Alias expands to no mailbox");
	for (size_t i = 0; i < out->n_users && !e.failed; i++) {
		const char *m = out->users[i];
		enum route_answer known = ROUTE_FOUND;
		if (a->users != NULL && strcmp(m, "postmaster") != 0)
			known = route_table(rq, out, a->users, m, NULL);
		if (!route_safe_mailbox(m))
			fail(&e, ROUTE_UNKNOWN_USER, "Mailbox name not allowed");
		else if (known == ROUTE_ABSENT)
			fail(&e, ROUTE_UNKNOWN_USER, "No such user here");
		else if (known != ROUTE_FOUND)
			fail_blocked(&e, known);
	}
	/* A lookup still to do: ask it before anything is decided. */
	if (e.failed && out->verdict != ROUTE_PENDING && strcmp(name, "postmaster") == 0) {
		/* RFC 5321 §4.5.1: postmaster must work even if its alias is broken. */
		route_result_free(out);
		out->action = a;
		out->users = xcalloc(1, sizeof(*out->users));
		out->users[0] = xstrdup("postmaster");
		out->n_users = 1;
		e.failed = 0;
	}
	free(name);
	if (e.failed) {
		enum route_verdict v = out->verdict;
		char reason[sizeof(out->reason)];
		memcpy(reason, out->reason, sizeof(reason));
		route_result_free(out);
		out->verdict = v;
		memcpy(out->reason, reason, sizeof(reason));
		return;
	}
	out->verdict = ROUTE_LOCAL;
}

void route_resolve(const struct config *c, const struct route_request *rq, struct route_result *out)
{
	memset(out, 0, sizeof(*out));
	const char *local = rq->local != NULL ? rq->local : "";
	if (*local == '\0' || strnlen(local, ROUTE_MAX_LOCAL + 1) > ROUTE_MAX_LOCAL) {
		set_verdict(out, ROUTE_UNKNOWN_USER, "No such user here");
		return;
	}
	const struct match_rule *r;
	int bare = rq->domain == NULL || rq->domain[0] == '\0';
	if (bare && strcasecmp(local, "postmaster") != 0) {
		set_verdict(out, ROUTE_UNKNOWN_USER, "Recipient address needs a domain");
		return;
	}
	enum route_answer blocked = ROUTE_FOUND;
	r = bare ? NULL : route_match(c, rq, rq->domain, out, &blocked);
	if (r == NULL && blocked != ROUTE_FOUND && strcasecmp(local, "postmaster") != 0) {
		set_blocked(out, blocked);
		return;
	}
	if (r == NULL && strcasecmp(local, "postmaster") == 0 &&
	    (bare || strcasecmp(rq->domain, c->hostname) == 0)) {
		/* <postmaster> (RFC 5321 §4.1.1.3) and postmaster@<hostname>
		 * (§4.5.1): the postmaster of this host, even when the host's
		 * own name is not one of the routed domains. */
		r = route_match(c, rq, c->hostname, out, &blocked);
		if (r == NULL || !conf_action_local(r->action)) {
			r = NULL;
			for (size_t i = 0; i < c->n_rules && r == NULL; i++)
				if (conf_action_local(c->rules[i].action))
					r = &c->rules[i];
		}
	}
	if (r == NULL || r->action == NULL) {
		set_verdict(out, ROUTE_RELAY_DENIED, "Relaying denied");
		return;
	}
	if (r->action->kind == ACTION_RELAY) {
		out->verdict = ROUTE_RELAY;
		out->action = r->action;
		return;
	}
	route_local(c, rq, r->action, out);
}

void route_result_free(struct route_result *r)
{
	for (size_t i = 0; i < r->n_users; i++)
		free(r->users[i]);
	free(r->users);
	r->users = NULL;
	r->n_users = 0;
	r->action = NULL;
	r->verdict = 0;
	r->reason[0] = '\0';
}

int route_verify(const struct config *c, const char *action, const char *local, const char *domain,
                 const char *user, char *why, size_t whylen)
{
	const struct action *a = conf_action(c, action);
	if (a == NULL) {
		err_set(why, whylen, "no action \"%s\" in the configuration", action);
		return -1;
	}
	int relay = a->kind == ACTION_RELAY;
	if (relay && user != NULL && user[0] != '\0') {
		err_set(why, whylen, "a relay action has no mailbox");
		return -1;
	}
	if (!relay && (user == NULL || !route_safe_mailbox(user))) {
		err_set(why, whylen, "mailbox name not allowed");
		return -1;
	}
	/* Who the client was decides the rule; any kind that routes here will do. */
	static const struct {
		enum match_from from;
		int auth;
	} kinds[] = {{FROM_ANY, 0}, {FROM_LOCAL, 0}, {FROM_ANY, 1}, {FROM_LOCAL, 1}};
	int routed_here = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct route_request rq = {local, domain, kinds[i].from, kinds[i].auth,
		                           NULL,  a,      user};
		struct route_result rr;
		route_resolve(c, &rq, &rr);
		int ok = 0;
		if (rr.action == a && rr.verdict == ROUTE_RELAY && relay)
			ok = 1;
		if (rr.action == a && rr.verdict == ROUTE_LOCAL) {
			routed_here = 1;
			for (size_t k = 0; k < rr.n_users && !ok; k++)
				ok = strcmp(rr.users[k], user) == 0;
		}
		route_result_free(&rr);
		if (ok)
			return 0;
	}
	err_set(why, whylen,
	        routed_here ? "mailbox %s is not one the recipient expands to"
	                    : "the recipient does not route to action \"%s\"",
	        routed_here ? user : action);
	return -1;
}

int route_verify_rcpt(const struct config *c, const char *action, const char *addr,
                      const char *user, char *why, size_t whylen)
{
	struct mailaddr a;
	struct smtp_reply err;
	if (addr != NULL && strcasecmp(addr, "postmaster") == 0) /* <postmaster> */
		return route_verify(c, action, "postmaster", "", user, why, whylen);
	if (addr == NULL || action == NULL ||
	    addr_parse_mailbox(addr, strlen(addr), ADDR_ALLOW_UTF8 | ADDR_ALLOW_POSTMASTER, &a,
	                       &err) == -1) {
		err_set(why, whylen, "recipient address does not parse");
		return -1;
	}
	return route_verify(c, action, a.local, a.domain, user, why, whylen);
}
