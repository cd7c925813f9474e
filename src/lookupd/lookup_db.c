/* lookup_db: SQLite and PostgreSQL behind one interface (see lookup_db.h). */
#include "lookup_db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "xmalloc.h"

struct lookup_db {
	const struct table *t;
	sqlite3 *lite;
	sqlite3_stmt *stmt;
	dev_t dev; /* the SQLite file the connection has open */
	ino_t ino;
	PGconn *pg;
};

struct lookup_db *lookup_db_new(const struct table *t)
{
	struct lookup_db *db = xcalloc(1, sizeof(*db));
	db->t = t;
	return db;
}

static void db_close(struct lookup_db *db)
{
	sqlite3_finalize(db->stmt);
	db->stmt = NULL;
	sqlite3_close(db->lite);
	db->lite = NULL;
	if (db->pg != NULL)
		PQfinish(db->pg);
	db->pg = NULL;
}

void lookup_db_free(struct lookup_db *db)
{
	if (db == NULL)
		return;
	db_close(db);
	free(db);
}

/* Add one row's value; values past the limit are left out. */
static void append_value(char *value, size_t valuelen, const char *v)
{
	size_t n = strlen(value);
	if (v == NULL || *v == '\0')
		return;
	snprintf(value + n, valuelen - n, "%s%s", n > 0 ? ", " : "", v);
}

/*
 * Open read-only: the lookup role never writes a table. An open connection
 * keeps reading the file it opened, so the path is looked at before each
 * query: a file replaced (a new one moved into place, as administrators
 * regenerate them) is opened afresh; a file gone is a failure (451), not
 * the old contents.
 */
static int lite_open(struct lookup_db *db, char *err, size_t errlen)
{
	struct stat st;
	if (stat(table_source(db->t), &st) == -1) {
		err_set(err, errlen, "%s: %s", table_source(db->t), strerror(errno));
		db_close(db);
		return -1;
	}
	if (db->stmt != NULL && st.st_dev == db->dev && st.st_ino == db->ino)
		return 0;
	db_close(db);
	db->dev = st.st_dev;
	db->ino = st.st_ino;
	int rc = sqlite3_open_v2(table_source(db->t), &db->lite,
	                         SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db->lite, 2000);
		rc = sqlite3_prepare_v2(db->lite, table_query(db->t), -1, &db->stmt, NULL);
	}
	if (rc != SQLITE_OK) {
		err_set(err, errlen, "%s", db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
		db_close(db);
		return -1;
	}
	return 0;
}

static enum lookup_status lite_query(struct lookup_db *db, const char *key, char *value,
                                     size_t valuelen, char *err, size_t errlen)
{
	if (lite_open(db, err, errlen) == -1)
		return LOOKUP_TEMP;
	enum lookup_status st = LOOKUP_ABSENT;
	int rc = sqlite3_bind_text(db->stmt, 1, key, -1, SQLITE_TRANSIENT);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(db->stmt);
		if (rc == SQLITE_ROW) {
			st = LOOKUP_FOUND;
			append_value(value, valuelen,
			             (const char *)sqlite3_column_text(db->stmt, 0));
		}
	}
	if (rc != SQLITE_DONE) {
		err_set(err, errlen, "%s", sqlite3_errmsg(db->lite));
		db_close(db); /* opened afresh next time */
		return LOOKUP_TEMP;
	}
	sqlite3_reset(db->stmt);
	sqlite3_clear_bindings(db->stmt);
	return st;
}

static int pg_open(struct lookup_db *db, char *err, size_t errlen)
{
	if (db->pg != NULL && PQstatus(db->pg) == CONNECTION_OK)
		return 0;
	db_close(db);
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", LOOKUP_DB_CONNECT_TIMEOUT);
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	const char *vals[] = {table_source(db->t), timeout, NULL};
	db->pg = PQconnectdbParams(keys, vals, 1);
	if (db->pg == NULL || PQstatus(db->pg) != CONNECTION_OK) {
		err_set(err, errlen, "%s", db->pg ? PQerrorMessage(db->pg) : "out of memory");
		db_close(db);
		return -1;
	}
	return 0;
}

static enum lookup_status pg_query(struct lookup_db *db, const char *key, char *value,
                                   size_t valuelen, char *err, size_t errlen)
{
	int had = db->pg != NULL;
	if (pg_open(db, err, errlen) == -1)
		return LOOKUP_TEMP;
	const char *params[1] = {key};
	PGresult *res = PQexecParams(db->pg, table_query(db->t), 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && had && PQstatus(db->pg) != CONNECTION_OK) {
		/* A connection made before the server restarted: once more on a
		 * fresh one, so the first lookup after a restart is answered. */
		PQclear(res);
		db_close(db);
		if (pg_open(db, err, errlen) == -1)
			return LOOKUP_TEMP;
		res = PQexecParams(db->pg, table_query(db->t), 1, NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		err_set(err, errlen, "%s", PQerrorMessage(db->pg));
		PQclear(res);
		if (PQstatus(db->pg) != CONNECTION_OK)
			db_close(db); /* connected afresh next time */
		return LOOKUP_TEMP;
	}
	int rows = PQntuples(res);
	for (int i = 0; i < rows && PQnfields(res) > 0; i++)
		if (!PQgetisnull(res, i, 0))
			append_value(value, valuelen, PQgetvalue(res, i, 0));
	PQclear(res);
	return rows > 0 ? LOOKUP_FOUND : LOOKUP_ABSENT;
}

enum lookup_status lookup_db_query(struct lookup_db *db, const char *key, char *value,
                                   size_t valuelen, char *err, size_t errlen)
{
	value[0] = '\0';
	err[0] = '\0';
	if (table_kind(db->t) == TABLE_SQLITE)
		return lite_query(db, key, value, valuelen, err, errlen);
	return pg_query(db, key, value, valuelen, err, errlen);
}

static void strip_newlines(char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int lookup_db_check(const struct table *t, char *err, size_t errlen)
{
	int rc = 0;
	struct lookup_db *db = lookup_db_new(t);
	if (table_kind(t) == TABLE_SQLITE) {
		if (sqlite3_open_v2(table_source(t), &db->lite, SQLITE_OPEN_READONLY, NULL) !=
		    SQLITE_OK) {
			err_set(err, errlen, "cannot open %s: %s", table_source(t),
			        db->lite ? sqlite3_errmsg(db->lite) : "out of memory");
			rc = 1;
		} else if (sqlite3_prepare_v2(db->lite, table_query(t), -1, &db->stmt, NULL) !=
		           SQLITE_OK) {
			err_set(err, errlen, "%s", sqlite3_errmsg(db->lite));
			/* a missing or unreadable file opens, then fails here */
			rc = sqlite3_errcode(db->lite) == SQLITE_ERROR ? -1 : 1;
		} else if (sqlite3_bind_parameter_count(db->stmt) != 1) {
			err_set(err, errlen, "the query must have exactly one parameter, $1");
			rc = -1;
		}
	} else if (pg_open(db, err, errlen) == -1) {
		rc = 1;
	} else {
		PGresult *res = PQprepare(db->pg, "", table_query(t), 1, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			err_set(err, errlen, "%s", PQerrorMessage(db->pg));
			rc = -1;
		}
		PQclear(res);
	}
	strip_newlines(err);
	lookup_db_free(db);
	return rc;
}
