/*
 * xtext: RFC 3461 §4 encoding of ORCPT addresses and ENVID values in MAIL
 * and RCPT parameters. Octets 33..126 other than '+' and '=' stand for
 * themselves; every other octet is "+" and two upper-case hex digits.
 */
#ifndef RAVEN_RELAY_XTEXT_H
#define RAVEN_RELAY_XTEXT_H

#include <stddef.h>

#include "buf.h"

/* Append the xtext form of in[0..n) to out. 0, or -1 when out is full. */
int xtext_encode(const void *in, size_t n, struct buf *out);
/*
 * Append the octets that the xtext in[0..n) stands for to out. Lower-case
 * hex digits are accepted (servers and old clients write them); anything
 * else outside the grammar — a raw octet outside 33..126, a raw '=', a '+'
 * not followed by two hex digits — is an error. 0, or -1 (out may hold
 * part of the result).
 */
int xtext_decode(const char *in, size_t n, struct buf *out);

#endif
