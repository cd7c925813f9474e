/*
 * xtext: decoders for the encodings of DSN parameter values. Pure and
 * bounded (no allocation, output into the caller's buffer): cmd_parse uses
 * them to check what a client sends, the DSN builder to show it.
 *
 * RFC 3461 §4 xtext (ENVID, ORCPT with the "rfc822" address type, AUTH=):
 *   xtext = *( xchar / hexchar ), xchar = ASCII 33..126 but '+' and '=',
 *   hexchar = "+" 2(%x30-39 / %x41-46). Lower-case hex digits are accepted
 *   too: the decoded octet is the same, and Postfix's decoder takes them.
 * RFC 6533 §3 utf-8-enc-addr (ORCPT with the "utf-8" address type):
 *   QCHAR (ASCII 33..126 but '+', '=' and '\'), well-formed UTF-8, and
 *   "\x{HEXPOINT}" for '\', the xtext specials and non-ASCII code points,
 *   with HEXPOINT exactly as the RFC's grammar has it (2 digits for
 *   U+0001..U+0009, U+0010..U+0019, U+0020, '+', '=', '\', DEL and
 *   U+0080..U+00FF; 3 to 6 digits without leading zeros for the rest, no
 *   surrogates, at most U+10FFFF). A raw '+' is accepted as well: the
 *   third form the RFC allows, utf-8-address, is a plain mailbox.
 *
 * Decoded text may hold any octet ("+00" is a NUL, "+0A" a line feed):
 * callers decide what they can use.
 */
#ifndef RAVEN_XTEXT_H
#define RAVEN_XTEXT_H

#include <stddef.h>

#include "buf.h"

/*
 * Decode s[0..n) into out (outmax octets, NUL included; *outlen gets the
 * decoded length without it). Returns 0, or -1 when s is not of the
 * encoding or the result does not fit (out is then unspecified). With out
 * NULL nothing is written and nothing can fail to fit: a check of s that
 * also says how long it decodes.
 */
int xtext_decode(const char *s, size_t n, char *out, size_t outmax, size_t *outlen);
int xtext_decode_utf8(const char *s, size_t n, char *out, size_t outmax, size_t *outlen);
/*
 * Append the xtext form of in[0..n) to out: octets 33..126 other than '+'
 * and '=' stand for themselves, every other octet is "+" and two
 * upper-case hex digits. 0, or -1 when out is full.
 */
int xtext_encode(const void *in, size_t n, struct buf *out);

#endif
