/*
 * lockout: failed authentications per client address, and the addresses
 * refused for a while because of them. Pure (the caller gives the time),
 * bounded (the least recently failing addresses are forgotten first when
 * the table is full). IPv6 clients are counted per /64: one host has that
 * many addresses to rotate through.
 */
#ifndef RAVEN_LOCKOUT_H
#define RAVEN_LOCKOUT_H

#include <stddef.h>
#include <stdint.h>

#define LOCKOUT_MAX_ENTRIES 65536

struct lockout;

/* max_failures within window seconds lock an address out for window seconds. */
struct lockout *lockout_new(size_t max_failures, unsigned window);
void lockout_free(struct lockout *l);
/* 1 if the client (an address as text) is locked out at now. */
int lockout_locked(struct lockout *l, const char *client, int64_t now);
/* Count a failure at now; 1 if it is the one that locks the client out. */
int lockout_fail(struct lockout *l, const char *client, int64_t now);
/* Addresses remembered (tests). */
size_t lockout_count(const struct lockout *l);

#endif
