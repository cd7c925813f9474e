/*
 * sm_addr: the addresses raven-sendmail puts on a message — recipients
 * from the command line or the header, the envelope sender, and the From:,
 * Date: and Message-ID: it adds — checked with the same parsers the SMTP
 * server uses (src/wire/addr.c, addrlist.c).
 */
#ifndef RAVEN_SM_ADDR_H
#define RAVEN_SM_ADDR_H

#include <stddef.h>
#include <time.h>

struct config;

/*
 * The domain a bare name ("alice", a login name) is qualified with: the
 * hostname if this configuration delivers its mail locally, else
 * "localhost" if that is local, else the hostname.
 */
const char *sm_origin(const struct config *c);

/* A list of canonical addresses, without duplicates (case-insensitive). */
struct sm_rcpts {
	char **addr;
	size_t n;
};

void sm_rcpts_free(struct sm_rcpts *r);
/*
 * Add one command-line argument: a bare name (qualified with origin), an
 * address, or a list ("A <a@x>, b@y"). -1 with a reason in err if any
 * address does not parse.
 */
int sm_rcpts_add_arg(struct sm_rcpts *r, const char *arg, const char *origin, char *err,
                     size_t errlen);
/* Add an address as -t found it in the header (local@domain, or a bare
 * local part, qualified with origin). */
int sm_rcpts_add(struct sm_rcpts *r, const char *addr, const char *origin, char *err,
                 size_t errlen);

/*
 * The envelope sender of -f: "" or "<>" for the null sender, a bare name
 * (qualified), or an address, optionally in <>. The canonical text in out
 * ("" for <>); -1 with a reason if it does not parse.
 */
int sm_sender(const char *arg, const char *origin, char *out, size_t outlen, char *err,
              size_t errlen);

/* "Full Name <addr>", the name quoted (or RFC 2047-encoded when not
 * ASCII) as needed; just addr without a name. A fresh string. */
char *sm_from_field(const char *fullname, const char *addr);
/* The full name from a passwd gecos field (up to its first ',', '&' as the
 * capitalised login), into out; "" if none. */
void sm_gecos_name(const char *gecos, const char *login, char *out, size_t outlen);
/* RFC 5322 date of t in local time: "Thu, 03 Dec 2026 10:20:35 +0100". */
void sm_date(time_t t, char *out, size_t outlen);

#endif
