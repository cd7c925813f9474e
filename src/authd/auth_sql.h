/*
 * auth_sql: the auth role's questions to the lookup role when "auth users"
 * is an SQL table. The auth role keeps no connection to the database (its
 * filter lets it reach nothing but its channel): it asks for a login's hash
 * with CRED_REQ through the queue (lookup.h) and checks the password when
 * CRED_RES comes. Meanwhile the AUTH question, password included, waits
 * here; it is wiped when taken or freed. Bounded: past AUTH_SQL_MAX_PENDING
 * questions the caller answers "try again later".
 */
#ifndef RAVEN_AUTH_SQL_H
#define RAVEN_AUTH_SQL_H

#include <stdint.h>

#include "proto.h"

#define AUTH_SQL_MAX_PENDING 256

struct auth_sql;
struct ipc;

struct auth_sql *auth_sql_new(void);
void auth_sql_free(struct auth_sql *s);
/*
 * Ask for the hash of q->login in table; q is taken over (and zeroed) on
 * success. -1 (q left to the caller) if too many questions wait.
 */
int auth_sql_ask(struct auth_sql *s, struct ipc *queue, const char *table,
                 struct proto_auth_req *q);
/* The question answered by CRED_RES number id, moved into q; -1 if none
 * (the queue answered something we never asked: it is broken). */
int auth_sql_take(struct auth_sql *s, uint64_t id, struct proto_auth_req *q);

#endif
