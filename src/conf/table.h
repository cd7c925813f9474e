/*
 * table: a named lookup table, key -> optional value. Keys are compared
 * case-insensitively (stored lowercased). Sources: an inline list
 * { "a", "b" } or a file with one "key[: value]" entry a line ('#' comments,
 * blank lines ignored; "key value" with whitespace also accepted) — the
 * format of aliases(5), of users ("name:crypt-hash") and of plain lists.
 *
 * A table may also live in a database (SQLite file, PostgreSQL server):
 * then it holds no entries here, only where and how to ask (table_kind(),
 * table_source(), table_query()); the lookup role asks, and routing gets
 * the answers through its lookup hook (route.h).
 */
#ifndef RAVEN_TABLE_H
#define RAVEN_TABLE_H

#include <stddef.h>

struct table;

enum table_kind { TABLE_MEMORY = 0, TABLE_SQLITE, TABLE_POSTGRESQL };

struct table *table_new(const char *name);
void table_free(struct table *t);
const char *table_name(const struct table *t);
/* Add or replace; value may be NULL. */
void table_put(struct table *t, const char *key, const char *value);
#define TABLE_MAX_FILE ((size_t)64 << 20)

/* Load a file. 0 or -1 with "path:line: reason" in err. */
int table_load_file(struct table *t, const char *path, char *err, size_t errlen);
/* A file's text read elsewhere (conf_bundle.h): as table_load_file. */
int table_load_file_text(struct table *t, const char *path, const char *text, size_t len, char *err,
                         size_t errlen);
/* Same, from memory (tests, fuzzing). */
int table_load_string(struct table *t, const char *name, const char *text, size_t len, char *err,
                      size_t errlen);
/* 1 if present (value, possibly NULL, in *value when value != NULL). */
int table_lookup(const struct table *t, const char *key, const char **value);
size_t table_size(const struct table *t);
/* The one entry of a single-entry table (credentials); 0 if it is empty. */
int table_first(const struct table *t, const char **key, const char **value);
/* Zero and drop every value, keeping the keys (a credentials table in a
 * process that must not hold the hashes). */
void table_wipe_values(struct table *t);
/* 1 if loaded from a file (table NAME file "PATH"), 0 if written inline. */
int table_from_file(const struct table *t);
/* 1 if some entry has a value. */
int table_has_values(const struct table *t);
/* Call fn for every entry (in no particular order). */
/* A table kept in a database: source is the SQLite file or the PostgreSQL
 * connection string, query has the looked-up key as the parameter $1. */
struct table *table_new_sql(const char *name, enum table_kind kind, const char *source,
                            const char *query);
enum table_kind table_kind(const struct table *t);
/* The file or connection string; "" once wiped (table_wipe_source). */
const char *table_source(const struct table *t);
const char *table_query(const struct table *t);
/* Zero the source: a connection string may carry a password that only the
 * lookup role needs. */
void table_wipe_source(struct table *t);
void table_foreach(const struct table *t, void (*fn)(const char *key, const char *value, void *arg),
                   void *arg);

#endif
