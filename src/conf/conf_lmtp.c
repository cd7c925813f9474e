/*
 * conf_lmtp: the lmtp action (RFC 2033 delivery to a mail store such as
 * Dovecot), the options it shares with maildir actions, and the parser of
 * its target. Recipients routed to an lmtp action are local mailboxes like
 * a maildir action's: aliases expanded and the users table checked at RCPT
 * time, so that the LMTP server is never the first to say "no such user"
 * (that would be a bounce after our 250: backscatter).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "conf_int.h"
#include "xmalloc.h"

int conf_action_local(const struct action *a)
{
	return a != NULL && (a->kind == ACTION_MAILDIR || a->kind == ACTION_LMTP);
}

/* "24" -> 24; 1..65535, digits only. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *q = s; *q; q++) {
		if (*q < '0' || *q > '9')
			return -1;
		v = v * 10 + (unsigned long)(*q - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int conf_lmtp_target(const char *s, char **host, uint16_t *port, const char **why)
{
	struct sockaddr_un sun;
	struct in6_addr a6;
	struct in_addr a4;
	char name[256];
	const char *rest;
	*host = NULL;
	*port = 0;
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(sun.sun_path)) {
			*why = "socket path too long (at most 107 bytes)";
			return -1;
		}
		if (s[strlen(s) - 1] == '/') {
			*why = "socket path names a directory";
			return -1;
		}
		*host = xstrdup(s);
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		size_t n = close ? (size_t)(close - s - 1) : 0;
		const char *in = s + 1;
		if (n >= 5 && strncasecmp(in, "IPv6:", 5) == 0) {
			in += 5;
			n -= 5;
		}
		if (close == NULL || n == 0 || n >= sizeof(name)) {
			*why = "expected [IPv6 address]";
			return -1;
		}
		memcpy(name, in, n);
		name[n] = '\0';
		if (inet_pton(AF_INET6, name, &a6) != 1) {
			*why = "not an IPv6 address between [ ]";
			return -1;
		}
		rest = close + 1;
	} else {
		const char *colon = strchr(s, ':');
		size_t n = colon ? (size_t)(colon - s) : strlen(s);
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			*why = "an IPv6 address goes between [ ]";
			return -1;
		}
		if (n == 0 || n >= sizeof(name)) {
			*why = "expected HOST:PORT, [IPV6]:PORT or /path/to/socket";
			return -1;
		}
		memcpy(name, s, n);
		name[n] = '\0';
		if (inet_pton(AF_INET, name, &a4) != 1 && !conf_valid_hostname(name)) {
			*why = "not a host name or IPv4 address";
			return -1;
		}
		rest = s + n;
	}
	*port = LMTP_DEFAULT_PORT;
	if (*rest != '\0' && (*rest != ':' || parse_port(rest + 1, port) == -1)) {
		*why = "bad port (1 to 65535)";
		return -1;
	}
	*host = s[0] == '[' ? xasprintf("[%s]", name) : xstrdup(name);
	return 0;
}

void conf_local_opt(struct conf_parser *p, int line, int users, char *table)
{
	char **slot = users ? &p->s.users : &p->s.aliases;
	if (*slot != NULL)
		conf_error(p, line, "duplicate option \"%s\"", users ? "users" : "alias");
	free(*slot);
	*slot = table;
	if (users)
		p->s.users_line = line;
	else
		p->s.aliases_line = line;
}

static void lmtp_rcpt_to(struct conf_parser *p, struct action *a)
{
	char q[300];
	static const struct {
		const char *word;
		enum lmtp_rcpt_to v;
	} modes[] = {{"user@domain", LMTP_RCPT_USER_DOMAIN},
	             {"user", LMTP_RCPT_USER},
	             {"original", LMTP_RCPT_ORIGINAL}};
	const char *w = p->s.rcpt_to;
	a->lmtp_rcpt_to = LMTP_RCPT_USER_DOMAIN;
	if (w == NULL)
		return;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(w, modes[i].word) == 0) {
			a->lmtp_rcpt_to = modes[i].v;
			return;
		}
	}
	conf_error(p, p->s.rcpt_to_line, "rcpt-to \"%s\": expected user@domain, user or original",
	           conf_quote(q, sizeof(q), w));
}

void conf_add_lmtp(struct conf_parser *p, int line, char *name, char *target)
{
	char q[300];
	struct action *a = conf_action_add(p, line, name, ACTION_LMTP);
	if (a != NULL) {
		const char *why = NULL;
		a->lmtp_target = target;
		target = NULL;
		if (conf_lmtp_target(a->lmtp_target, &a->lmtp_host, &a->lmtp_port, &why) == -1)
			conf_error(p, line, "lmtp \"%s\": %s",
			           conf_quote(q, sizeof(q), a->lmtp_target), why);
		if (p->s.users != NULL)
			a->users = conf_table_ref(p, p->s.users_line, p->s.users);
		if (p->s.aliases != NULL)
			a->aliases = conf_table_ref(p, p->s.aliases_line, p->s.aliases);
		lmtp_rcpt_to(p, a);
		/* The server gets the address as received and resolves it itself:
		 * aliases of ours would only send it the same address twice. */
		if (a->lmtp_rcpt_to == LMTP_RCPT_ORIGINAL && a->aliases != NULL)
			conf_error(p, line,
			           "rcpt-to original sends the address as received: an alias "
			           "table has no place there (use user@domain)");
	}
	free(target);
	conf_scratch_clear(&p->s);
}
