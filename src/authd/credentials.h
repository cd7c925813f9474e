/*
 * credentials: checks a login and password against the "auth users"
 * table of crypt(3) hashes (yescrypt, scrypt, bcrypt, sha512-crypt,
 * sha256-crypt, as mkpasswd and Dovecot write them). Only the auth role
 * links this: no other process keeps the hashes.
 *
 * Timing: the stored hash and the one computed from the password are
 * compared with CRYPTO_memcmp, and a login that does not exist (or whose
 * entry has no usable hash) costs a yescrypt computation as well, against
 * a hash made at start, so neither the time nor the answer tells
 * "no such user" from "wrong password".
 */
#ifndef RAVEN_CREDENTIALS_H
#define RAVEN_CREDENTIALS_H

#include <stddef.h>

struct table;
struct credentials;

/* A copy of the table (the caller's may be wiped afterwards); NULL table:
 * every check fails. Fatal only if crypt cannot work at all. */
struct credentials *credentials_new(const struct table *users);
void credentials_free(struct credentials *c);
/*
 * 1 if password is login's; canon then holds the login as the table knows
 * it (lowercase). 0 otherwise.
 */
int credentials_check(struct credentials *c, const char *login, const char *password, char *canon,
                      size_t canonlen);
/* login's entry in the table file (NULL if none), for credentials_verify. */
void credentials_lookup(const struct credentials *c, const char *login, const char **value);
/*
 * The same check against a hash the caller found (an SQL table's value,
 * asked of the lookup role), NULL if the login is unknown: the time taken
 * is the same either way.
 */
int credentials_verify(struct credentials *c, const char *login, const char *value,
                       const char *password, char *canon, size_t canonlen);
/*
 * The length of the usable hash at the start of a table value (up to a
 * ':' that may follow, as in Dovecot's passwd-file), or 0 if the value is
 * not one we accept (a weak or unknown scheme, "*", "!", empty).
 */
size_t credentials_hash_len(const char *value);
/* Entries of the table without a usable hash (logged at start). */
size_t credentials_unusable(const struct credentials *c);

#endif
