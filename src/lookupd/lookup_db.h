/*
 * lookup_db: one connection to the database of one SQL table (an SQLite
 * file opened read-only, or a PostgreSQL session), and the table's query
 * run with the key bound as $1. Blocking: used by the lookup role's worker
 * threads only, never on an event loop. A connection that fails is closed
 * and opened again at the next lookup, so a database that comes back is
 * used again without a restart.
 */
#ifndef RAVEN_LOOKUP_DB_H
#define RAVEN_LOOKUP_DB_H

#include <stddef.h>

#include "lookup.h"
#include "table.h"

/* How long connecting to PostgreSQL may take, in seconds. */
#define LOOKUP_DB_CONNECT_TIMEOUT 3

struct lookup_db;

struct lookup_db *lookup_db_new(const struct table *t);
void lookup_db_free(struct lookup_db *db);
/* LOOKUP_FOUND with the first column of every row joined by ", " in value
 * (at most LOOKUP_VALUE_MAX octets), LOOKUP_ABSENT, or LOOKUP_TEMP with
 * the reason in err. */
enum lookup_status lookup_db_query(struct lookup_db *db, const char *key, char *value,
                                   size_t valuelen, char *err, size_t errlen);
/*
 * ravend -n: 0 if the table's query is accepted by its database; 1 if the
 * database cannot be reached now (a warning: it may be up when mail comes);
 * -1 if the database refuses the query (a configuration error). The reason
 * in err.
 */
int lookup_db_check(const struct table *t, char *err, size_t errlen);

#endif
