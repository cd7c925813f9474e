/*
 * conf_sql: the statements of tables kept in a database,
 *
 *   table NAME sqlite "/path/to/file.db" query "SELECT ... WHERE x = $1"
 *   table NAME postgresql "host=... dbname=..." query "SELECT ... = $1"
 *
 * The looked-up key is always the bound parameter $1 (PostgreSQL's own
 * syntax, and a named parameter SQLite binds the same way), never text
 * pasted into the query: a recipient address cannot change what is asked.
 * The query is checked here for what can be checked without a database:
 * it has $1, outside quoted text, and no other parameter.
 */
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "util.h"

#define SQL_QUERY_MAX  1000
#define SQL_SOURCE_MAX 1000

int conf_sql_query_check(const char *q, char *err, size_t errlen)
{
	size_t n = strnlen(q, SQL_QUERY_MAX + 1);
	if (n == 0 || n > SQL_QUERY_MAX) {
		err_set(err, errlen, "the query must have 1 to %d characters", SQL_QUERY_MAX);
		return -1;
	}
	int has_key = 0;
	char quote = 0; /* inside '...' or "..." (SQL identifiers) */
	for (size_t i = 0; i < n; i++) {
		char c = q[i];
		if (quote) {
			if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '\'' || c == '"') {
			quote = c;
		} else if (c == '?' || c == ':' || c == '@') {
			/* SQLite's other parameter forms; "::" is PostgreSQL's cast */
			if (c == ':' && (q[i + 1] == ':' || (i > 0 && q[i - 1] == ':')))
				continue;
			if (c == '?' || (q[i + 1] >= 'a' && q[i + 1] <= 'z') ||
			    (q[i + 1] >= 'A' && q[i + 1] <= 'Z')) {
				err_set(err, errlen,
				        "the only query parameter is $1 (the looked-up key)");
				return -1;
			}
		} else if (c == '$') {
			if (q[i + 1] == '1' && !(q[i + 2] >= '0' && q[i + 2] <= '9')) {
				has_key = 1;
				continue;
			}
			err_set(err, errlen, "the only query parameter is $1 (the looked-up key)");
			return -1;
		}
	}
	if (quote) {
		err_set(err, errlen, "unterminated quote in the query");
		return -1;
	}
	if (!has_key) {
		err_set(err, errlen, "the query needs the parameter $1 (the looked-up key)");
		return -1;
	}
	return 0;
}

void conf_add_table_sql(struct conf_parser *p, int line, char *name, enum table_kind kind,
                        char *source, char *query)
{
	char err[200];
	size_t n = strnlen(source, SQL_SOURCE_MAX + 1);
	if (n == 0 || n > SQL_SOURCE_MAX)
		conf_error(p, line, "table %s: the %s must have 1 to %d characters", name,
		           kind == TABLE_SQLITE ? "file name" : "connection string",
		           SQL_SOURCE_MAX);
	else if (kind == TABLE_SQLITE && source[0] != '/')
		conf_error(p, line, "table %s: the SQLite file must be an absolute path", name);
	else if (conf_sql_query_check(query, err, sizeof(err)) == -1)
		conf_error(p, line, "table %s: %s", name, err);
	else
		conf_table_add(p, line, table_new_sql(name, kind, source, query));
	explicit_bzero(source, strlen(source)); /* a connection string may hold a password */
	free(source);
	free(query);
	free(name);
}

int conf_has_sql_tables(const struct config *c)
{
	for (size_t i = 0; i < c->n_tables; i++)
		if (table_kind(c->tables[i]) != TABLE_MEMORY)
			return 1;
	return 0;
}
