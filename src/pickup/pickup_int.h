/* pickup's internals: the role (pickup_role.c) and one file (pickup_file.c). */
#ifndef RAVEN_PICKUP_INT_H
#define RAVEN_PICKUP_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "bounce.h"
#include "buf.h"
#include "config.h"
#include "envelope.h"
#include "route.h"

/* What pickup_file_load() made of a maildrop file. */
struct pickup_file {
	char name[256];
	int fd;
	uid_t uid; /* the owner as the kernel reports it: the submitter */
	char *sender;
	/* deliveries the queue is asked to commit; strings owned here */
	struct envelope_draft_rcpt *ok;
	size_t n_ok;
	/* recipients that cannot be delivered: bounced to the sender */
	struct dsn_rcpt *bad;
	size_t n_bad;
	uint64_t data_octets;
	int eightbit, smtputf8;
	char **strings; /* everything the arrays above point to */
	size_t n_strings;
	/* LOAD_PENDING: what an SQL table must be asked before loading again */
	char need_table[65], need_key[513];
};

enum pickup_load {
	LOAD_OK = 0,
	LOAD_GONE,    /* vanished meanwhile (already taken) */
	LOAD_CORRUPT, /* not a maildrop file: moved to corrupt/ */
	LOAD_LATER,   /* a temporary failure: left for the next scan */
	LOAD_PENDING, /* routing needs an SQL table's answer: need_table, need_key */
};

/* Read and check the whole file, route its recipients (SQL tables through
 * lookup: NULL makes them unavailable). why: the reason of anything but
 * LOAD_OK. */
enum pickup_load pickup_file_load(const struct config *conf, const struct route_lookup *lookup,
                                  int dirfd, const char *name, struct pickup_file *f, char *why,
                                  size_t whylen);
/*
 * Write the message into the spool file fd: our Received: header, then
 * the DATA octets with every line ended by CRLF. *written: the octets,
 * *crc: their CRC-32C (for the envelope, checked at delivery). 0, or -1
 * with errno.
 */
int pickup_file_write(const struct config *conf, const struct pickup_file *f, const char *id,
                      int fd, uint64_t *written, uint32_t *crc);
/* The failure notice for f->bad into out (DSN from bounce.c); 0 or -1. */
int pickup_file_dsn(const struct config *conf, const struct pickup_file *f, const char *id,
                    int data_fd, uint64_t size, struct buf *out, char *why, size_t whylen);
void pickup_file_free(struct pickup_file *f);

#endif
