/*
 * Unit tests for recipient routing (src/conf/route.c): rule order and the
 * from/for matching, sub-addresses, aliases(5) expansion with its limits,
 * users tables, postmaster and the default configuration.
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "route.h"
#include "xmalloc.h"

static struct config *load(const char *text)
{
	char err[512];
	struct config *c = conf_parse_string("r.conf", text, strlen(text), err, sizeof(err));
	if (c == NULL)
		fail_msg("config: %s", err);
	return c;
}

/*
 * Resolve and compare with want: "LOCAL:action:u1,u2", "UNKNOWN:reason",
 * "DENIED:reason", "ERROR:reason".
 */
static void check(const struct config *c, const char *local, const char *domain,
                  enum match_from from, int auth, const char *want)
{
	struct route_request rq = {
	    .local = local, .domain = domain, .from = from, .authenticated = auth};
	struct route_result r;
	route_resolve(c, &rq, &r);
	char got[1024];
	switch (r.verdict) {
	case ROUTE_LOCAL: {
		struct buf b;
		buf_init(&b, 0);
		buf_printf(&b, "LOCAL:%s:", r.action->name);
		for (size_t i = 0; i < r.n_users; i++)
			buf_printf(&b, "%s%s", i ? "," : "", r.users[i]);
		char *s = buf_strdup(&b);
		snprintf(got, sizeof(got), "%s", s);
		free(s);
		buf_free(&b);
		break;
	}
	case ROUTE_UNKNOWN_USER:
		snprintf(got, sizeof(got), "UNKNOWN:%s", r.reason);
		break;
	case ROUTE_RELAY:
		snprintf(got, sizeof(got), "RELAY:%s", r.action->name);
		break;
	case ROUTE_RELAY_DENIED:
		snprintf(got, sizeof(got), "DENIED:%s", r.reason);
		break;
	case ROUTE_ERROR:
		snprintf(got, sizeof(got), "ERROR:%s", r.reason);
		break;
	default:
		snprintf(got, sizeof(got), "verdict %d", r.verdict);
		break;
	}
	if (r.verdict != ROUTE_LOCAL) {
		assert_null(r.users);
		assert_int_equal(r.n_users, 0);
	}
	route_result_free(&r);
	assert_null(r.users);
	if (strcmp(got, want) != 0)
		fail_msg("%s@%s: want \"%s\", got \"%s\"", local, domain ? domain : "(none)", want,
		         got);
}

static void test_default_config(void **state)
{
	(void)state;
	struct config *c = conf_default();
	check(c, "alice", "localhost", FROM_ANY, 0, "LOCAL:local:alice");
	check(c, "Alice+Tag", "LOCALHOST", FROM_ANY, 0, "LOCAL:local:alice");
	check(c, "anything", "localhost", FROM_LOCAL, 0, "LOCAL:local:anything");
	check(c, "postmaster", NULL, FROM_ANY, 0, "LOCAL:local:postmaster");
	check(c, "PostMaster", "", FROM_ANY, 0, "LOCAL:local:postmaster");
	check(c, "alice", NULL, FROM_ANY, 0, "UNKNOWN:Recipient address needs a domain");
	check(c, "alice", "example.org", FROM_ANY, 0, "DENIED:Relaying denied");
	check(c, "alice", "example.org", FROM_ANY, 1, "DENIED:Relaying denied");
	/* local clients relay by MX */
	check(c, "alice", "example.org", FROM_LOCAL, 0, "RELAY:outbound");
	check(c, "../etc", "localhost", FROM_ANY, 0, "UNKNOWN:Mailbox name not allowed");
	check(c, ".hidden", "localhost", FROM_ANY, 0, "UNKNOWN:Mailbox name not allowed");
	check(c, "a b", "localhost", FROM_ANY, 0, "UNKNOWN:Mailbox name not allowed");
	check(c, "", "localhost", FROM_ANY, 0, "UNKNOWN:No such user here");
	char longlocal[300];
	memset(longlocal, 'a', sizeof(longlocal) - 1);
	longlocal[sizeof(longlocal) - 1] = '\0';
	check(c, longlocal, "localhost", FROM_ANY, 0, "UNKNOWN:No such user here");
	longlocal[65] = '\0';
	check(c, longlocal, "localhost", FROM_ANY, 0, "UNKNOWN:Mailbox name not allowed");
	longlocal[64] = '\0';
	char want[128];
	snprintf(want, sizeof(want), "LOCAL:local:%s", longlocal);
	check(c, longlocal, "localhost", FROM_ANY, 0, want);
	conf_free(c);
}

static void test_rules(void **state)
{
	(void)state;
	struct config *c = load("listen on ::1\n"
	                        "table d1 { \"one.example\" }\n"
	                        "action \"a1\" maildir \"/m1/%{user}\"\n"
	                        "action \"a2\" maildir \"/m2/%{user}\"\n"
	                        "action \"a3\" maildir \"/m3/%{user}\"\n"
	                        "action \"a4\" maildir \"/m4/%{user}\"\n"
	                        "match from auth for domain \"two.example\" action \"a2\"\n"
	                        "match from any for domain <d1> action \"a1\"\n"
	                        "match from local for domain \"two.example\" action \"a3\"\n"
	                        "match from local for any action \"a4\"\n");
	check(c, "u", "one.example", FROM_ANY, 0, "LOCAL:a1:u");
	check(c, "u", "ONE.example", FROM_LOCAL, 1, "LOCAL:a1:u");
	check(c, "u", "two.example", FROM_ANY, 0, "DENIED:Relaying denied");
	check(c, "u", "two.example", FROM_ANY, 1, "LOCAL:a2:u");
	check(c, "u", "two.example", FROM_LOCAL, 0, "LOCAL:a3:u");
	check(c, "u", "two.example", FROM_LOCAL, 1, "LOCAL:a2:u");
	check(c, "u", "three.example", FROM_LOCAL, 0, "LOCAL:a4:u");
	check(c, "u", "three.example", FROM_ANY, 1, "DENIED:Relaying denied");
	/* <postmaster>: the hostname is nobody's domain here: first maildir rule */
	check(c, "postmaster", NULL, FROM_ANY, 0, "LOCAL:a2:postmaster");
	conf_free(c);
}

/*
 * "match from auth" for a relay action: authenticated clients (and local
 * ones, by their own rule) are relayed, anyone else reaches the local
 * domain only. Relay actions are still refused by the grammar, so the
 * action and rules are added as the relay role's configuration will.
 */
static void test_auth_relay(void **state)
{
	(void)state;
	struct config *c = load("listen on ::1\n"
	                        "table d { \"example.org\" }\n"
	                        "action \"box\" maildir \"/m/%{user}\"\n"
	                        "match from any for domain <d> action \"box\"\n");
	struct action *out = xcalloc(1, sizeof(*out));
	out->name = xstrdup("outbound");
	out->kind = ACTION_RELAY;
	c->actions = xreallocarray(c->actions, c->n_actions + 1, sizeof(*c->actions));
	c->actions[c->n_actions++] = out;
	c->rules = xreallocarray(c->rules, c->n_rules + 2, sizeof(*c->rules));
	c->rules[c->n_rules++] = (struct match_rule){FROM_AUTH, FOR_ANY, NULL, out, 5};
	c->rules[c->n_rules++] = (struct match_rule){FROM_LOCAL, FOR_ANY, NULL, out, 6};
	check(c, "u", "remote.test", FROM_ANY, 1, "RELAY:outbound");
	check(c, "u", "remote.test", FROM_LOCAL, 1, "RELAY:outbound");
	check(c, "u", "remote.test", FROM_LOCAL, 0, "RELAY:outbound");
	check(c, "u", "remote.test", FROM_ANY, 0, "DENIED:Relaying denied");
	check(c, "u", "EXAMPLE.org", FROM_ANY, 1, "LOCAL:box:u");
	check(c, "u", "example.org", FROM_ANY, 0, "LOCAL:box:u");
	char why[256];
	/* the queue's re-check: some kind of client routes there */
	assert_int_equal(route_verify(c, "outbound", "u", "remote.test", NULL, why, sizeof(why)),
	                 0);
	assert_int_equal(route_verify(c, "box", "u", "remote.test", "u", why, sizeof(why)), -1);
	conf_free(c);
}

/* postmaster@<hostname> works though the host's name is routed nowhere
 * (RFC 5321 4.5.1); any other user there, or postmaster elsewhere, does not. */
static void test_postmaster_at_hostname(void **state)
{
	(void)state;
	struct config *c = load("hostname \"mx.example\"\n"
	                        "listen on ::1\n"
	                        "table u { \"alice\" }\n"
	                        "action \"a1\" maildir \"/m1/%{user}\" users <u>\n"
	                        "match from any for domain \"one.example\" action \"a1\"\n");
	check(c, "postmaster", "mx.example", FROM_ANY, 0, "LOCAL:a1:postmaster");
	check(c, "POSTMASTER", "MX.Example", FROM_ANY, 0, "LOCAL:a1:postmaster");
	check(c, "alice", "mx.example", FROM_ANY, 0, "DENIED:Relaying denied");
	check(c, "postmaster", "other.example", FROM_ANY, 0, "DENIED:Relaying denied");
	check(c, "postmaster", "one.example", FROM_ANY, 0, "LOCAL:a1:postmaster");
	conf_free(c);
}

#define ALIAS_CONF(aliases, users)                                                                 \
	"listen on ::1\n"                                                                          \
	"table d { \"example.org\", \"example.net\" }\n"                                           \
	"table other { \"other.example\" }\n"                                                      \
	"table aliases { " aliases " }\n"                                                          \
	"table users { " users " }\n"                                                              \
	"action \"mbox\" maildir \"/m/%{user}\" alias <aliases> users <users>\n"                   \
	"action \"elsewhere\" maildir \"/e/%{user}\"\n"                                            \
	"match from any for domain <d> action \"mbox\"\n"                                          \
	"match from any for domain <other> action \"elsewhere\"\n"

static void test_aliases(void **state)
{
	(void)state;
	struct config *c = load(ALIAS_CONF(
	    "\"postmaster\" = \"root\", \"root\" = \"alice, bob\", \"Team\" = \"root, carol, "
	    "alice\", \"self\" = \"self, bob\", \"fwd\" = \"alice@example.net\", "
	    "\"remote\" = \"x@remote.example\", \"away\" = \"y@other.example\", "
	    "\"pipe\" = \"|/bin/cat\", \"file\" = \"/tmp/mbox\", \"inc\" = \":include:/x\", "
	    "\"loop1\" = \"loop2\", \"loop2\" = \"loop3\", \"loop3\" = \"loop1\", "
	    "\"ghost\" = \"nobody\", \"quoted\" = \"\\\"alice\\\" ,  , bob\", "
	    "\"alice+list\" = \"bob\", \"direct\" = \"\\\\root\", \"empty\", "
	    "\"atonly\" = \"@example.org\"",
	    "\"alice\", \"bob\", \"carol\", \"self\", \"alice+special\", \"root\""));
	check(c, "alice", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice");
	check(c, "root", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice,bob");
	check(c, "team", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice,bob,carol");
	check(c, "TEAM+x", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice,bob,carol");
	check(c, "self", "example.org", FROM_ANY, 0, "LOCAL:mbox:self,bob");
	check(c, "fwd", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice");
	check(c, "quoted", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice,bob");
	check(c, "direct", "example.org", FROM_ANY, 0, "LOCAL:mbox:root");
	check(c, "empty", "example.org", FROM_ANY, 0, "UNKNOWN:No such user here");
	check(c, "atonly", "example.org", FROM_ANY, 0, "ERROR:Alias target without a local part");
	check(c, "remote", "example.org", FROM_ANY, 0,
	      "ERROR:Forwarding to remote addresses is not supported yet");
	check(c, "away", "example.org", FROM_ANY, 0,
	      "ERROR:Forwarding to another local delivery action is not supported yet");
	check(c, "pipe", "example.org", FROM_ANY, 0,
	      "ERROR:Alias to a command: delivery to commands is not supported");
	check(c, "file", "example.org", FROM_ANY, 0,
	      "ERROR:Alias to a file: delivery to files is not supported");
	check(c, "inc", "example.org", FROM_ANY, 0, "ERROR:Alias with :include: is not supported");
	check(c, "loop2", "example.org", FROM_ANY, 0, "ERROR:Alias loop");
	/* the users table applies after expansion */
	check(c, "ghost", "example.org", FROM_ANY, 0, "UNKNOWN:No such user here");
	check(c, "dave", "example.org", FROM_ANY, 0, "UNKNOWN:No such user here");
	/* +tag: removed unless the full name is known */
	check(c, "bob+folder", "example.org", FROM_ANY, 0, "LOCAL:mbox:bob");
	check(c, "alice+list", "example.org", FROM_ANY, 0, "LOCAL:mbox:bob");
	check(c, "alice+special", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice+special");
	check(c, "root+x", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice,bob");
	check(c, "dave+x", "example.org", FROM_ANY, 0, "UNKNOWN:No such user here");
	check(c, "+x", "example.org", FROM_ANY, 0, "UNKNOWN:No such user here");
	/* postmaster: aliased here, always accepted */
	check(c, "Postmaster", "example.org", FROM_ANY, 0, "LOCAL:mbox:alice,bob");
	check(c, "postmaster", NULL, FROM_ANY, 0, "LOCAL:mbox:alice,bob");
	/* other domain, other action without aliases or users */
	check(c, "team", "other.example", FROM_ANY, 0, "LOCAL:elsewhere:team");
	conf_free(c);

	/* postmaster with a users table that lacks it, and a broken alias */
	c = load(ALIAS_CONF("\"root\" = \"|/bin/sh\"", "\"alice\""));
	check(c, "postmaster", "example.org", FROM_ANY, 0, "LOCAL:mbox:postmaster");
	check(c, "POSTMASTER+x", "example.net", FROM_ANY, 0, "LOCAL:mbox:postmaster");
	check(c, "root", "example.net", FROM_ANY, 0,
	      "ERROR:Alias to a command: delivery to commands is not supported");
	conf_free(c);
	c = load(ALIAS_CONF("\"postmaster\" = \"|/bin/sh\"", "\"alice\""));
	check(c, "postmaster", "example.org", FROM_ANY, 0, "LOCAL:mbox:postmaster");
	conf_free(c);
	c = load(ALIAS_CONF("\"postmaster\" = \"/etc/passwd, alice\"", "\"alice\""));
	check(c, "postmaster", "example.org", FROM_ANY, 0, "LOCAL:mbox:postmaster");
	conf_free(c);
	/* an alias target that is not a safe mailbox name */
	c = load(ALIAS_CONF("\"x\" = \".evil\"", "\".evil\""));
	check(c, "x", "example.org", FROM_ANY, 0, "UNKNOWN:Mailbox name not allowed");
	conf_free(c);
}

static char *chain_conf(int n)
{
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "\"a%d\" = \"a%d\", ", i, i + 1);
	char *aliases = buf_strdup(&b);
	buf_free(&b);
	char *text = xasprintf("listen on ::1\n"
	                       "table d { \"example.org\" }\n"
	                       "table aliases { %s }\n"
	                       "action \"m\" maildir \"/m/%%{user}\" alias <aliases>\n"
	                       "match from any for domain <d> action \"m\"\n",
	                       aliases);
	free(aliases);
	return text;
}

static void test_limits(void **state)
{
	(void)state;
	/* a0 -> a1 -> ... -> aN: N nested aliases */
	char *text = chain_conf(ROUTE_MAX_DEPTH);
	struct config *c = load(text);
	char want[64];
	snprintf(want, sizeof(want), "LOCAL:m:a%d", ROUTE_MAX_DEPTH);
	check(c, "a0", "example.org", FROM_ANY, 0, want);
	conf_free(c);
	free(text);
	text = chain_conf(ROUTE_MAX_DEPTH + 1);
	c = load(text);
	check(c, "a0", "example.org", FROM_ANY, 0, "ERROR:Aliases nested too deeply");
	snprintf(want, sizeof(want), "LOCAL:m:a%d", ROUTE_MAX_DEPTH + 1);
	check(c, "a1", "example.org", FROM_ANY, 0, want);
	conf_free(c);
	free(text);

	/* fan-out: "big" expands to exactly the limit, "bigger" one past it */
	struct buf b;
	buf_init(&b, 0);
	/* strings are capped at 4096 bytes: big -> g0..g9 -> 100 users each */
	buf_append_str(&b, "listen on ::1\ntable d { \"example.org\" }\n"
	                   "table aliases { \"big\" = \"g0,g1,g2,g3,g4,g5,g6,g7,g8,g9\"");
	for (int g = 0; g < ROUTE_MAX_EXPANSION / 100; g++) {
		buf_printf(&b, ", \"g%d\" = \"", g);
		for (int i = 0; i < 100; i++)
			buf_printf(&b, "%su%d", i ? "," : "", g * 100 + i);
		buf_append_str(&b, "\"");
	}
	buf_append_str(&b, ", \"bigger\" = \"big, extra\", \"dup\" = \"big, u1, U2, big\"");
	/* a DAG with no loop but exponentially many paths */
	for (int i = 0; i < 15; i++)
		buf_printf(&b, ", \"w%d\" = \"w%d, w%d, w%d, w%d\"", i, i + 1, i + 1, i + 1, i + 1);
	buf_append_str(&b, " }\naction \"m\" maildir \"/m/%{user}\" alias <aliases>\n"
	                   "match from any for domain <d> action \"m\"\n");
	text = buf_strdup(&b);
	buf_free(&b);
	c = load(text);
	free(text);
	struct route_request rq = {.local = "big", .domain = "example.org", .from = FROM_ANY};
	struct route_result r;
	route_resolve(c, &rq, &r);
	assert_int_equal(r.verdict, ROUTE_LOCAL);
	assert_int_equal(r.n_users, ROUTE_MAX_EXPANSION);
	assert_string_equal(r.users[999], "u999");
	route_result_free(&r);
	rq.local = "dup";
	route_resolve(c, &rq, &r);
	assert_int_equal(r.verdict, ROUTE_LOCAL);
	assert_int_equal(r.n_users, ROUTE_MAX_EXPANSION);
	route_result_free(&r);
	check(c, "bigger", "example.org", FROM_ANY, 0,
	      "ERROR:Alias expands to too many recipients");
	check(c, "w0", "example.org", FROM_ANY, 0, "ERROR:Alias expansion too large");
	check(c, "w14", "example.org", FROM_ANY, 0, "LOCAL:m:w15");
	conf_free(c);
}

static void test_safe_mailbox(void **state)
{
	(void)state;
	assert_true(route_safe_mailbox("alice"));
	assert_true(route_safe_mailbox("a.b-c_d+e"));
	assert_true(route_safe_mailbox("x"));
	assert_false(route_safe_mailbox(""));
	assert_false(route_safe_mailbox("."));
	assert_false(route_safe_mailbox(".."));
	assert_false(route_safe_mailbox(".x"));
	assert_false(route_safe_mailbox("a/b"));
	assert_false(route_safe_mailbox("a\\b"));
	assert_false(route_safe_mailbox("a b"));
	assert_false(route_safe_mailbox("a\nb"));
	assert_false(route_safe_mailbox("a\x7f"));
	/* SMTPUTF8 mailboxes: well-formed UTF-8 only */
	assert_true(route_safe_mailbox("caf\xc3\xa9"));
	assert_false(route_safe_mailbox("caf\xc3"));          /* truncated */
	assert_false(route_safe_mailbox("caf\xc0\xaf"));      /* overlong '/' */
	assert_false(route_safe_mailbox("\xed\xa0\x80"));     /* surrogate */
	assert_false(route_safe_mailbox("\xf4\x90\x80\x80")); /* > U+10FFFF */
	assert_false(route_safe_mailbox("\xff"));
	char s[70];
	memset(s, 'a', sizeof(s));
	s[64] = '\0';
	assert_true(route_safe_mailbox(s));
	s[64] = 'a';
	s[65] = '\0';
	assert_false(route_safe_mailbox(s));
}

/* The trusted re-check: what route_resolve would give, for some client. */
static void test_verify(void **state)
{
	(void)state;
	struct config *c =
	    load("listen on ::1\n"
	         "table d { \"example.org\" }\n"
	         "table users { \"alice\", \"bob\" }\n"
	         "table aliases { \"team\" = \"alice, bob\" }\n"
	         "action \"mbox\" maildir \"/m/%{user}\" users <users> alias <aliases>\n"
	         "action \"other\" maildir \"/o/%{user}\"\n"
	         "match from any for domain <d> action \"mbox\"\n"
	         "match from local for domain \"two.example\" action \"other\"\n");
	char why[256];
	assert_int_equal(route_verify(c, "mbox", "alice", "example.org", "alice", why, sizeof(why)),
	                 0);
	assert_int_equal(
	    route_verify(c, "mbox", "Alice+x", "EXAMPLE.org", "alice", why, sizeof(why)), 0);
	assert_int_equal(route_verify(c, "mbox", "team", "example.org", "bob", why, sizeof(why)),
	                 0);
	/* only local clients route two.example to "other": still a route */
	assert_int_equal(route_verify(c, "other", "x", "two.example", "x", why, sizeof(why)), 0);
	/* a user not in the table */
	assert_int_equal(
	    route_verify(c, "mbox", "mallory", "example.org", "mallory", why, sizeof(why)), -1);
	assert_string_equal(why, "the recipient does not route to action \"mbox\"");
	/* a mailbox the recipient does not expand to */
	assert_int_equal(route_verify(c, "mbox", "alice", "example.org", "bob", why, sizeof(why)),
	                 -1);
	assert_string_equal(why, "mailbox bob is not one the recipient expands to");
	/* an action that does not route there */
	assert_int_equal(
	    route_verify(c, "other", "alice", "example.org", "alice", why, sizeof(why)), -1);
	assert_int_equal(route_verify(c, "mbox", "x", "far.example", "x", why, sizeof(why)), -1);
	/* as the spool records them: <postmaster> is "postmaster" */
	assert_int_equal(
	    route_verify_rcpt(c, "mbox", "Alice@Example.org", "alice", why, sizeof(why)), 0);
	assert_int_equal(route_verify_rcpt(c, "mbox", "postmaster", "postmaster", why, sizeof(why)),
	                 0);
	assert_int_equal(route_verify_rcpt(c, "mbox", "not an address", "alice", why, sizeof(why)),
	                 -1);
	/* a path outside the base, an unknown action, no mailbox */
	assert_int_equal(
	    route_verify(c, "other", "x", "two.example", "../../etc", why, sizeof(why)), -1);
	assert_string_equal(why, "mailbox name not allowed");
	assert_int_equal(route_verify(c, "nope", "alice", "example.org", "alice", why, sizeof(why)),
	                 -1);
	assert_int_equal(route_verify(c, "mbox", "alice", "example.org", NULL, why, sizeof(why)),
	                 -1);
	conf_free(c);
}

/* An lmtp action routes like a maildir one: expansion, users, postmaster. */
static void test_lmtp(void **state)
{
	(void)state;
	struct config *c =
	    load("listen on ::1\n"
	         "table d { \"example.org\" }\n"
	         "table users { \"alice\", \"bob\" }\n"
	         "table aliases { \"team\" = \"alice, bob@example.org\" }\n"
	         "action \"store\" lmtp \"/run/dovecot/lmtp\" users <users> alias <aliases>\n"
	         "action \"out\" relay\n"
	         "match from any for domain <d> action \"store\"\n"
	         "match from local for any action \"out\"\n");
	check(c, "Alice+tag", "example.org", FROM_ANY, 0, "LOCAL:store:alice");
	check(c, "team", "example.org", FROM_ANY, 0, "LOCAL:store:alice,bob");
	check(c, "mallory", "example.org", FROM_ANY, 0, "UNKNOWN:No such user here");
	/* postmaster of this host: the first local action, lmtp included */
	check(c, "postmaster", NULL, FROM_ANY, 0, "LOCAL:store:postmaster");
	check(c, "x", "far.example", FROM_LOCAL, 0, "RELAY:out");
	char why[256];
	assert_int_equal(route_verify(c, "store", "team", "example.org", "bob", why, sizeof(why)),
	                 0);
	assert_int_equal(route_verify(c, "store", "team", "example.org", "", why, sizeof(why)), -1);
	assert_int_equal(route_verify(c, "out", "x", "far.example", "", why, sizeof(why)), 0);
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_config), cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_auth_relay),     cmocka_unit_test(test_postmaster_at_hostname),
	    cmocka_unit_test(test_aliases),        cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_safe_mailbox),   cmocka_unit_test(test_verify),
	    cmocka_unit_test(test_lmtp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
