/*
 * addrlist: RFC 5322 address lists — the bodies of From:, To:, Cc:, Bcc:
 * (folded or not). Pure and bounded: a tokenizer that skips comments
 * (nested, quoted pairs) and whitespace, then mailbox-list / group syntax
 * over the tokens. Display names (encoded words included: plain atoms
 * here) are read and dropped; each addr-spec goes to a callback with CFWS
 * removed. Obsolete syntax a real mailer still sends is accepted: dots in
 * display names, empty list elements, source routes in angle addresses,
 * CFWS around dots. DMARC's author domain (src/auth/dmarc_from.c) and
 * raven-sendmail -t (recipients from the header) both read addresses here.
 */
#ifndef RAVEN_ADDRLIST_H
#define RAVEN_ADDRLIST_H

#include <stddef.h>

/* An addr-spec's local part and domain, each at most this long. */
#define ADDRLIST_LOCAL_MAX  256
#define ADDRLIST_DOMAIN_MAX 255

/* addrlist_parse() flags */
#define ADDRLIST_BARE 1u /* a local part without "@domain" is an address (sendmail -t) */

struct addrlist_spec {
	/* "local@domain" as written less CFWS: quoted strings keep their
	 * quotes, a domain literal its brackets; at: the offset of the '@'
	 * (with ADDRLIST_BARE, strlen(text) for a bare local part). */
	char text[ADDRLIST_LOCAL_MAX + 1 + ADDRLIST_DOMAIN_MAX + 1];
	size_t at;
	int literal; /* the domain is a domain literal "[...]" */
};

/* Called for each address; -1 (with a reason in err) stops the parse. */
typedef int (*addrlist_cb)(const struct addrlist_spec *a, void *arg, char *err, size_t errlen);

/*
 * Parse one field body of len octets. 0 when the whole value is an address
 * list (possibly empty) and every callback returned 0; -1 with a reason in
 * err (without the field's name) on a syntax error or a callback's -1.
 */
int addrlist_parse(const char *value, size_t len, unsigned flags, addrlist_cb cb, void *arg,
                   char *err, size_t errlen);

#endif
