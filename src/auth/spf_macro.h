/*
 * spf_macro: SPF macro strings (RFC 7208 §7): the syntax check done when a
 * record is parsed, and the expansion done when a term is evaluated. Pure:
 * the values of the macro letters come in a struct, the output goes to a
 * capped buffer. The text comes from DNS records anyone can publish.
 */
#ifndef RAVEN_SPF_MACRO_H
#define RAVEN_SPF_MACRO_H

#include <stddef.h>

#include "buf.h"

/* Bit of a macro letter in the "letters used" masks: SPF_LETTER('p'). */
#define SPF_LETTER(c) (1u << ((c) - 'a'))

/* Flags of the check and the expansion. */
#define SPF_MACRO_EXP 1u /* an explanation string: c, r, t and spaces allowed */

/* The most octets an expansion may produce (then it is refused). */
#define SPF_EXPAND_MAX 4096

/* The values of the macro letters; p may be NULL when not known yet. */
struct spf_macro_env {
	const char *s; /* <sender>: local-part@domain */
	const char *l; /* local-part of <sender> */
	const char *o; /* domain of <sender> */
	const char *d; /* <domain>: the domain whose record is evaluated */
	const char *i; /* <ip>: dotted quad, or 32 dot-separated nibbles */
	const char *p; /* validated domain name of <ip>, or "unknown" */
	const char *v; /* "in-addr" or "ip6" */
	const char *h; /* HELO/EHLO domain */
	const char *c; /* <ip> as people write it (exp only) */
	const char *r; /* the checking host's domain (exp only) */
	const char *t; /* current time in seconds (exp only) */
};

/*
 * 0 if s[0..len) is a valid macro-string (with SPF_MACRO_EXP: an
 * explain-string). *letters (if not NULL) gets the letters it uses.
 * -1 with the reason in err otherwise.
 */
int spf_macro_check(const char *s, size_t len, unsigned flags, unsigned *letters, char *err,
                    size_t errlen);
/*
 * 0 if s[0..len) is a valid domain-spec: a macro-string that ends in a
 * macro or in "." toplabel, with an optional trailing dot (§7.1). c, r and
 * t are refused (§7.2: explanation only).
 */
int spf_domain_spec_check(const char *s, size_t len, unsigned *letters, char *err, size_t errlen);
/*
 * Expand a checked macro-string into out (appended, not NUL-terminated).
 * A letter whose value is NULL (p not known yet) is an error. -1 with the
 * reason if the text is not valid or the result would exceed
 * SPF_EXPAND_MAX octets.
 */
int spf_macro_expand(const char *s, size_t len, unsigned flags, const struct spf_macro_env *env,
                     struct buf *out, char *err, size_t errlen);
/*
 * Make an expanded domain-spec a name to look up (§7.3 and 4.8): drop a
 * trailing dot, and while longer than 253 octets, drop the leftmost
 * label. In place.
 */
void spf_domain_truncate(char *name);

#endif
