/*
 * utf8: the one UTF-8 validator (RFC 3629) — every parser that admits
 * non-ASCII text (SMTPUTF8 addresses, mailbox names, DSN text, JSON
 * output) asks it, so they all agree on what well-formed means: no
 * overlong forms, no surrogates, nothing past U+10FFFF.
 */
#ifndef RAVEN_UTF8_H
#define RAVEN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (2..4) of the well-formed UTF-8 sequence at p, of which n octets
 * are readable, or 0 if p does not start one (an ASCII octet included).
 * *cp, if not NULL, gets the code point.
 */
size_t utf8_seq_len(const uint8_t *p, size_t n, uint32_t *cp);
/* 1 if all n octets are ASCII or well-formed UTF-8. */
int utf8_valid(const void *p, size_t n);

#endif
