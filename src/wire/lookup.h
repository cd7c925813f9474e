/*
 * lookup: the frames of table lookups in databases (SQL tables), asked by
 * the smtp role and answered by the lookup role, through the queue as AUTH
 * is:
 *
 *   smtp   -> queue   LOOKUP_REQ  {req, table, key}
 *   queue  -> lookup  LOOKUP_REQ  the same, with the queue's own req
 *   lookup -> queue   LOOKUP_RES  {req, status, value}
 *   queue  -> smtp    LOOKUP_RES  the same, with smtp's req
 *
 * The network role never holds a connection string and never reaches a
 * database; the queue only checks and forwards the frames.
 *
 * An SQL "auth users" table (login -> crypt hash) is asked for by the auth
 * role alone, with frames of their own type but the same layout and codec:
 *
 *   auth   -> queue   CRED_REQ    {req, table, key}: the table must be the
 *                                 lookup role's "auth users" table
 *   queue  -> lookup  CRED_REQ    the same, with the queue's own req
 *   lookup -> queue   CRED_RES    {req, status, value}: value is the hash
 *   queue  -> auth    CRED_RES    the same, with the auth role's req
 *
 * The queue accepts CRED_REQ from the auth role only (peer_frames), so the
 * smtp role cannot ask for a hash; and the lookup role answers a LOOKUP_REQ
 * on the "auth users" table with presence only, never the value.
 */
#ifndef RAVEN_LOOKUP_H
#define RAVEN_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* LOOKUP_RES: the key is in the table (with a value or not), is not, or
 * the database could not answer (smtp: 451 4.3.0). */
enum lookup_status { LOOKUP_ABSENT = 0, LOOKUP_FOUND, LOOKUP_TEMP };

#define LOOKUP_TABLE_MAX 64   /* a table's name (CONF_MAX_NAME) */
#define LOOKUP_KEY_MAX   512  /* an address or a domain, lowercased */
#define LOOKUP_VALUE_MAX 4096 /* an alias's targets, joined */

struct lookup_req {
	uint64_t req;
	char *table; /* not empty */
	char *key;   /* not empty */
};

struct lookup_res {
	uint64_t req;
	uint8_t status; /* enum lookup_status */
	char *value;    /* LOOKUP_FOUND: the first column ("" if NULL); else "" */
};

void lookup_encode_req(struct buf *b, const struct lookup_req *q);
int lookup_decode_req(const uint8_t *p, size_t n, struct lookup_req *q);
void lookup_req_free(struct lookup_req *q);
void lookup_encode_res(struct buf *b, const struct lookup_res *r);
int lookup_decode_res(const uint8_t *p, size_t n, struct lookup_res *r);
void lookup_res_free(struct lookup_res *r);

#endif
