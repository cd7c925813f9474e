/*
 * Unit tests for SQL tables: the statements and their queries' parameter
 * (conf_sql.c), the LOOKUP_REQ/LOOKUP_RES frames (every strict prefix
 * refused), the answer cache (ttl_cache.c), and routing through the lookup
 * hook (pending, found, absent, unavailable, route_verify's vouching).
 */
#include "unit_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookup.h"
#include "route.h"
#include "ttl_cache.h"

static struct config *parse(const char *text, char *err, size_t errlen)
{
	return conf_parse_string("t.conf", text, strlen(text), err, errlen);
}

static void refused(const char *text, const char *want)
{
	char err[512];
	struct config *c = parse(text, err, sizeof(err));
	if (c != NULL)
		fail_msg("accepted: %s", text);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

#define SQL_CONF                                                                                   \
	"listen on 127.0.0.1 port 25\n"                                                            \
	"table d sqlite \"/x/mail.db\" query \"SELECT 1 FROM domains WHERE name = $1\"\n"          \
	"table u postgresql \"host=127.0.0.1 password=secret\" query \"SELECT 1 FROM u WHERE "     \
	"n = $1 AND t = '$2?' AND x::text <> $1\"\n"                                               \
	"table a sqlite \"/x/mail.db\" query \"SELECT target FROM aliases WHERE name = $1\"\n"     \
	"action \"m\" maildir \"/var/mail/%{user}\" users <u> alias <a>\n"                         \
	"match from any for domain <d> action \"m\"\n"

static void test_grammar(void **state)
{
	(void)state;
	char err[512];
	struct config *c = parse(SQL_CONF, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(conf_has_sql_tables(c), 1);
	const struct table *u = c->actions[0]->users;
	assert_int_equal(table_kind(u), TABLE_POSTGRESQL);
	assert_string_equal(table_source(u), "host=127.0.0.1 password=secret");
	assert_int_equal(table_kind(c->rules[0].domains), TABLE_SQLITE);
	conf_wipe_secrets(c, CONF_KEEP_SQL_SOURCES); /* the lookup role */
	assert_string_equal(table_source(u), "host=127.0.0.1 password=secret");
	conf_wipe_secrets(c, 0); /* every other process */
	assert_null(strstr(table_source(u), "secret"));
	conf_free(c);

	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"rel.db\" query \"SELECT 1 WHERE $1\"\n",
	        "absolute path");
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1\"\n",
	        "needs the parameter $1");
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1 WHERE a = ?\"\n",
	        "only query parameter");
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1 WHERE a = $1 OR b = $2\"\n",
	        "only query parameter");
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1 WHERE a = $10\"\n",
	        "only query parameter");
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1 WHERE a = :key\"\n",
	        "only query parameter");
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1 WHERE a = '$1\"\n",
	        "unterminated");
	refused("listen on 127.0.0.1\n"
	        "table t postgresql \"\" query \"SELECT $1\"\n",
	        "connection string");
	/* SQL serves auth users and auth senders; the relay's auth still not. */
	refused("listen on 127.0.0.1\n"
	        "table t sqlite \"/a.db\" query \"SELECT 1 FROM u WHERE n = $1\"\n"
	        "auth users <t>\nauth senders <t>\n"
	        "action \"r\" relay host \"smarthost.example\" auth <t>\n",
	        "relay auth: table <t> is kept in a database");
}

static void test_frames(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 0);
	struct lookup_req q = {.req = 42, .table = "users", .key = "alice"}, q2;
	lookup_encode_req(&b, &q);
	assert_int_equal(lookup_decode_req(b.data, b.len, &q2), 0);
	assert_int_equal(q2.req, 42);
	assert_string_equal(q2.table, "users");
	assert_string_equal(q2.key, "alice");
	lookup_req_free(&q2);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(lookup_decode_req(b.data, n, &q2), -1);
	buf_append_byte(&b, 0);
	assert_int_equal(lookup_decode_req(b.data, b.len, &q2), -1); /* leftover */
	buf_reset(&b);
	q.key = "";
	lookup_encode_req(&b, &q);
	assert_int_equal(lookup_decode_req(b.data, b.len, &q2), -1); /* empty key */

	struct lookup_res r = {.req = 7, .status = LOOKUP_FOUND, .value = "alice, bob"}, r2;
	buf_reset(&b);
	lookup_encode_res(&b, &r);
	assert_int_equal(lookup_decode_res(b.data, b.len, &r2), 0);
	assert_int_equal(r2.status, LOOKUP_FOUND);
	assert_string_equal(r2.value, "alice, bob");
	lookup_res_free(&r2);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(lookup_decode_res(b.data, n, &r2), -1);
	r.status = LOOKUP_ABSENT; /* an absent key with a value: broken */
	buf_reset(&b);
	lookup_encode_res(&b, &r);
	assert_int_equal(lookup_decode_res(b.data, b.len, &r2), -1);
	r.status = 3; /* no such status */
	r.value = "";
	buf_reset(&b);
	lookup_encode_res(&b, &r);
	assert_int_equal(lookup_decode_res(b.data, b.len, &r2), -1);
	buf_free(&b);
}

static void test_cache(void **state)
{
	(void)state;
	struct ttl_cache *c = ttl_cache_new(3, 5);
	int present;
	const char *v;
	assert_int_equal(ttl_cache_get(c, "a", 100, &present, &v), 0);
	ttl_cache_put(c, "a", 1, "x", 100);
	ttl_cache_put(c, "b", 0, NULL, 101); /* negative answers are kept too */
	assert_int_equal(ttl_cache_get(c, "a", 104, &present, &v), 1);
	assert_int_equal(present, 1);
	assert_string_equal(v, "x");
	assert_int_equal(ttl_cache_get(c, "b", 104, &present, &v), 1);
	assert_int_equal(present, 0);
	assert_int_equal(ttl_cache_get(c, "a", 105, &present, &v), 0); /* expired */
	/* bounded: the oldest goes first */
	ttl_cache_put(c, "c", 1, "", 102);
	ttl_cache_put(c, "d", 1, "", 102);
	assert_int_equal(ttl_cache_count(c), 3);
	assert_int_equal(ttl_cache_get(c, "a", 102, &present, &v), 0);
	assert_int_equal(ttl_cache_get(c, "d", 102, &present, &v), 1);
	/* a newer answer replaces the older */
	ttl_cache_put(c, "d", 0, NULL, 103);
	assert_int_equal(ttl_cache_get(c, "d", 103, &present, &v), 1);
	assert_int_equal(present, 0);
	/* everything expired leaves at the next put */
	ttl_cache_put(c, "e", 1, "y", 200);
	assert_int_equal(ttl_cache_count(c), 1);
	ttl_cache_free(c);
}

/* A hook over a fixed set of answers: key -> value (NULL: absent). */
struct answers {
	const char *table, *key, *value;
	enum route_answer a;
};

static const struct answers *known;

static enum route_answer hook_fn(void *arg, const struct table *t, const char *key,
                                 const char **value)
{
	(void)arg;
	for (const struct answers *k = known; k->table != NULL; k++)
		if (strcmp(k->table, table_name(t)) == 0 && strcmp(k->key, key) == 0) {
			*(value ? value : &(const char *){NULL}) = k->value;
			return k->a;
		}
	return ROUTE_UNKNOWN;
}

static void resolve(const struct config *c, const char *local, const char *domain,
                    const struct answers *ans, struct route_result *r)
{
	static const struct route_lookup hook = {hook_fn, NULL};
	known = ans;
	struct route_request rq = {
	    .local = local, .domain = domain, .from = FROM_ANY, .lookup = &hook};
	route_resolve(c, &rq, r);
}

static void test_route_hook(void **state)
{
	(void)state;
	char err[512];
	struct config *c = parse(SQL_CONF, err, sizeof(err));
	struct route_result r;
	const struct answers none[] = {{NULL, NULL, NULL, 0}};
	resolve(c, "Alice", "Sql.Test", none, &r);
	assert_int_equal(r.verdict, ROUTE_PENDING);
	assert_string_equal(r.need_table, "d");
	assert_string_equal(r.need_key, "sql.test"); /* asked lowercased */
	route_result_free(&r);

	const struct answers dom[] = {{"d", "sql.test", "1", ROUTE_FOUND}, {NULL, NULL, NULL, 0}};
	resolve(c, "alice", "sql.test", dom, &r);
	assert_int_equal(r.verdict, ROUTE_PENDING);
	assert_string_equal(r.need_table, "a");
	route_result_free(&r);

	const struct answers all[] = {
	    {"d", "sql.test", "1", ROUTE_FOUND},     {"a", "team", "alice, bob", ROUTE_FOUND},
	    {"a", "alice", NULL, ROUTE_ABSENT},      {"a", "bob", NULL, ROUTE_ABSENT},
	    {"a", "nobody", NULL, ROUTE_ABSENT},     {"u", "alice", "1", ROUTE_FOUND},
	    {"u", "bob", "1", ROUTE_FOUND},          {"u", "nobody", NULL, ROUTE_ABSENT},
	    {"d", "other.test", NULL, ROUTE_ABSENT}, {NULL, NULL, NULL, 0}};
	resolve(c, "team", "sql.test", all, &r);
	assert_int_equal(r.verdict, ROUTE_LOCAL);
	assert_int_equal(r.n_users, 2);
	route_result_free(&r);
	resolve(c, "nobody", "sql.test", all, &r);
	assert_int_equal(r.verdict, ROUTE_UNKNOWN_USER);
	route_result_free(&r);
	resolve(c, "alice", "other.test", all, &r);
	assert_int_equal(r.verdict, ROUTE_RELAY_DENIED);
	route_result_free(&r);

	const struct answers down[] = {{"d", "sql.test", NULL, ROUTE_UNAVAILABLE},
	                               {NULL, NULL, NULL, 0}};
	resolve(c, "alice", "sql.test", down, &r);
	assert_int_equal(r.verdict, ROUTE_TEMP_ERROR);
	route_result_free(&r);

	/* without a hook (pickup, sendmail): unavailable, never a guess */
	struct route_request rq = {.local = "alice", .domain = "sql.test", .from = FROM_ANY};
	route_resolve(c, &rq, &r);
	assert_int_equal(r.verdict, ROUTE_TEMP_ERROR);
	route_result_free(&r);

	/* the queue's re-check: the action the smtp role chose, a safe mailbox */
	assert_int_equal(route_verify(c, "m", "info", "sql.test", "alice", err, sizeof(err)), 0);
	assert_int_equal(route_verify(c, "m", "info", "sql.test", "../x", err, sizeof(err)), -1);
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grammar),
	    cmocka_unit_test(test_frames),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_route_hook),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
