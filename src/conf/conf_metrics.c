/*
 * conf_metrics: the "metrics listen" statement — where the Prometheus
 * endpoint listens (raven.conf(5)). The endpoint has neither TLS nor
 * authentication and tells whoever asks how much mail flows, from where
 * it is refused and how the queue stands, so it listens on loopback
 * addresses only, unless the statement says allow-remote (for a scraper
 * on another host, behind a firewall).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "xmalloc.h"

#define METRICS_PORT          9465 /* Prometheus's default port allocation list */
#define METRICS_LISTENERS_MAX 8

/* 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6. */
static int loopback(int family, const unsigned char *a)
{
	static const unsigned char v6_loop[16] = {[15] = 1};
	static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
	if (family == AF_INET)
		return a[0] == 127;
	return memcmp(a, v6_loop, 16) == 0 || (memcmp(a, v4_mapped, 12) == 0 && a[12] == 127);
}

static void metrics_add(struct conf_parser *p, int line, const char *addr, uint16_t port)
{
	struct config *c = p->c;
	for (size_t i = 0; i < c->n_metrics_listeners; i++) {
		if (c->metrics_listeners[i].port == port &&
		    strcmp(c->metrics_listeners[i].addr, addr) == 0) {
			conf_error(p, line, "duplicate metrics listener %s port %u", addr, port);
			return;
		}
	}
	if (c->n_metrics_listeners == METRICS_LISTENERS_MAX) {
		conf_error(p, line, "more than %d metrics listeners", METRICS_LISTENERS_MAX);
		return;
	}
	c->metrics_listeners = xreallocarray(c->metrics_listeners, c->n_metrics_listeners + 1,
	                                     sizeof(*c->metrics_listeners));
	struct listener *l = &c->metrics_listeners[c->n_metrics_listeners++];
	memset(l, 0, sizeof(*l));
	l->addr = xstrdup(addr);
	l->port = port;
}

/* One address as written ("::1", "[::1]", "127.0.0.1"): canonical form
 * and whether it is loopback; -1 if it is not a numeric address. */
static int parse_addr(const char *addr, char *canon, size_t len, int *is_loopback)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(addr);
	if (n >= sizeof(tmp))
		return -1;
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']')
		snprintf(tmp, sizeof(tmp), "%.*s", (int)(n - 2), addr + 1);
	else
		snprintf(tmp, sizeof(tmp), "%s", addr);
	unsigned char bin[16];
	int family = inet_pton(AF_INET, tmp, bin) == 1    ? AF_INET
	             : inet_pton(AF_INET6, tmp, bin) == 1 ? AF_INET6
	                                                  : 0;
	if (family == 0)
		return -1;
	inet_ntop(family, bin, canon, (socklen_t)len);
	*is_loopback = loopback(family, bin);
	return 0;
}

void conf_add_metrics_listen(struct conf_parser *p, int line, char *addr)
{
	char q[300], canon[INET6_ADDRSTRLEN];
	int lo = 0;
	if (p->metrics_line == 0)
		p->metrics_line = line;
	if (p->s.allow_remote > 1)
		conf_error(p, line, "duplicate option \"allow-remote\"");
	uint16_t port = p->s.port_set ? p->s.port : METRICS_PORT;
	if (p->s.port_set && p->s.port == 0) {
		/* out of range, already reported */
	} else if (strcmp(addr, "localhost") == 0) {
		metrics_add(p, line, "127.0.0.1", port);
		metrics_add(p, line, "::1", port);
	} else if (parse_addr(addr, canon, sizeof(canon), &lo) == -1) {
		conf_error(p, line,
		           "metrics listen on \"%s\": not a numeric IPv4 or IPv6 address (or "
		           "localhost)",
		           conf_quote(q, sizeof(q), addr));
	} else if (!lo && !p->s.allow_remote) {
		conf_error(p, line,
		           "metrics listen on %s: not a loopback address; the endpoint has no "
		           "authentication: add allow-remote to serve other hosts",
		           canon);
	} else {
		metrics_add(p, line, canon, port);
	}
	free(addr);
	conf_scratch_clear(&p->s);
}

void conf_check_metrics_listen(struct conf_parser *p)
{
	const struct config *c = p->c;
	for (size_t i = 0; i < c->n_metrics_listeners; i++)
		for (size_t j = 0; j < c->n_listeners; j++)
			if (c->metrics_listeners[i].port == c->listeners[j].port &&
			    strcmp(c->metrics_listeners[i].addr, c->listeners[j].addr) == 0)
				conf_error(p, p->metrics_line,
				           "metrics listen on %s port %u: also an SMTP listener",
				           c->listeners[j].addr, c->listeners[j].port);
}
