/*
 * relay_route: where a destination's mail goes, from DNS (RFC 5321 §5.1).
 * MX records sorted by preference, equal preferences shuffled; no MX: the
 * domain itself (implicit MX); a null MX (RFC 7505): permanent failure
 * 5.1.10; NXDOMAIN: 5.1.2; SERVFAIL or a timeout: temporary 4.4.3. Each
 * MX's IPv6 addresses, then its IPv4 ones. An MX that is this host — our
 * hostname, or one of our listening addresses on the port we would use —
 * is dropped, and if nothing else is left the mail loops: 5.4.6. A
 * smarthost is looked up by address only; address literals need no DNS.
 * Every lookup is asynchronous (src/dns), on the role's loop.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
#include "dns_util.h"
#include "log.h"
#include "relay_int.h"
#include "xmalloc.h"

struct mx_host {
	char name[256];
	struct relay_addr v6[RELAY_MAX_ADDRS], v4[RELAY_MAX_ADDRS];
	size_t n6, n4;
};

struct route_ctx {
	struct relay_dest *d;
	void (*cb)(struct relay_dest *d);
	struct mx_host mx[RELAY_MAX_MX];
	size_t n_mx;
	size_t pending;
	int implicit; /* no MX: the domain's own addresses */
	int temp;     /* an address lookup failed for now */
	int looped;   /* an MX was this host */
	char temp_why[128];
};

static void finish(struct route_ctx *c, uint8_t status, const char *fmt, const char *arg)
{
	struct relay_dest *d = c->d;
	d->route.status = status;
	if (status != DELIVER_OK)
		snprintf(d->route.why, sizeof(d->route.why), fmt, arg);
	void (*cb)(struct relay_dest *) = c->cb;
	free(c);
	cb(d);
}

/* addr is a literal "1.2.3.4", "[1.2.3.4]" or "[IPv6:...]": one address. */
static int parse_literal(const char *text, uint16_t port, struct relay_addr *a)
{
	char buf[128];
	size_t n = strlen(text);
	const char *s = text;
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return -1;
		memcpy(buf, text + 1, n - 2);
		buf[n - 2] = '\0';
		s = strncasecmp(buf, "IPv6:", 5) == 0 ? buf + 5 : buf;
	}
	memset(a, 0, sizeof(*a));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
	if (inet_pton(AF_INET, s, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		a->len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		a->len = sizeof(*in6);
	} else {
		return -1;
	}
	snprintf(a->host, sizeof(a->host), "%s", text);
	inet_ntop(a->ss.ss_family,
	          a->ss.ss_family == AF_INET ? (void *)&in4->sin_addr : (void *)&in6->sin6_addr,
	          a->ip, sizeof(a->ip));
	return 0;
}

/* One of our own listeners, as seen from the address we would connect to. */
static int is_ourselves(const struct config *conf, const struct relay_addr *a, uint16_t port)
{
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const struct listener *l = &conf->listeners[i];
		if (l->port != port)
			continue;
		int wildcard = strcmp(l->addr, "0.0.0.0") == 0 || strcmp(l->addr, "::") == 0;
		int loopback = strncmp(a->ip, "127.", 4) == 0 || strcmp(a->ip, "::1") == 0;
		if (strcmp(l->addr, a->ip) == 0 || (wildcard && loopback))
			return 1;
	}
	return 0;
}

static void assemble(struct route_ctx *c)
{
	struct relay_dest *d = c->d;
	const struct config *conf = d->r->conf;
	d->route.n = 0;
	for (size_t i = 0; i < c->n_mx; i++) {
		struct mx_host *h = &c->mx[i];
		for (int fam = 0; fam < 2; fam++) {
			struct relay_addr *list = fam == 0 ? h->v6 : h->v4;
			size_t n = fam == 0 ? h->n6 : h->n4;
			for (size_t k = 0; k < n && d->route.n < RELAY_MAX_ADDRS; k++) {
				if (is_ourselves(conf, &list[k], d->port)) {
					c->looped = 1;
					continue;
				}
				d->route.addr[d->route.n++] = list[k];
			}
		}
	}
	if (d->route.n > 0)
		finish(c, DELIVER_OK, NULL, NULL);
	else if (c->looped)
		finish(c, DELIVER_PERM, "5.4.6 mail for %s loops back to myself", d->nexthop);
	else if (c->temp)
		finish(c, DELIVER_TEMP, "4.4.3 %s", c->temp_why);
	else if (c->implicit || d->smarthost)
		finish(c, DELIVER_PERM, "5.1.2 no mail exchanger nor address for %s", d->nexthop);
	else
		finish(c, DELIVER_TEMP, "4.4.4 none of the mail exchangers of %s has an address",
		       d->nexthop);
}

struct addr_query {
	struct route_ctx *c;
	size_t mx;
};

static void addr_answer(const struct dns_answer *a, void *arg)
{
	struct addr_query *q = arg;
	struct route_ctx *c = q->c;
	struct mx_host *h = &c->mx[q->mx];
	uint16_t port = c->d->port;
	if (a->status == DNS_TEMPFAIL || a->status == DNS_TIMEOUT) {
		c->temp = 1;
		snprintf(c->temp_why, sizeof(c->temp_why), "address lookup of %s failed: %s",
		         h->name, a->status == DNS_TIMEOUT ? "timeout" : "SERVFAIL");
	}
	for (size_t i = 0; a->status == DNS_OK && i < a->nrr; i++) {
		const struct dns_rr *rr = &a->rr[i];
		char ip[64];
		struct relay_addr *dst = NULL;
		if (rr->type == DNS_T_A && h->n4 < RELAY_MAX_ADDRS) {
			inet_ntop(AF_INET, rr->u.a, ip, sizeof(ip));
			dst = &h->v4[h->n4];
		} else if (rr->type == DNS_T_AAAA && h->n6 < RELAY_MAX_ADDRS) {
			inet_ntop(AF_INET6, rr->u.aaaa, ip, sizeof(ip));
			dst = &h->v6[h->n6];
		}
		if (dst == NULL || parse_literal(ip, port, dst) == -1)
			continue;
		snprintf(dst->host, sizeof(dst->host), "%s", h->name);
		if (rr->type == DNS_T_A)
			h->n4++;
		else
			h->n6++;
	}
	free(q);
	if (--c->pending == 0)
		assemble(c);
}

/* Look up every MX host's AAAA and A records. */
static void lookup_addresses(struct route_ctx *c)
{
	struct dns_resolver *dns = c->d->r->dns;
	c->pending = 2 * c->n_mx;
	for (size_t i = 0; i < c->n_mx; i++) {
		static const uint16_t types[2] = {DNS_T_AAAA, DNS_T_A};
		for (int t = 0; t < 2; t++) {
			struct addr_query *q = xcalloc(1, sizeof(*q));
			q->c = c;
			q->mx = i;
			if (dns_lookup(dns, c->mx[i].name, types[t], addr_answer, q) == NULL) {
				/* not a valid name: nothing will come */
				free(q);
				c->pending--;
			}
		}
	}
	if (c->pending == 0)
		assemble(c);
}

static uint32_t rnd(void *arg)
{
	return relay_random(arg);
}

static void mx_answer(const struct dns_answer *a, void *arg)
{
	struct route_ctx *c = arg;
	struct relay_dest *d = c->d;
	const char *hostname = d->r->conf->hostname;
	switch (a->status) {
	case DNS_NXDOMAIN:
		finish(c, DELIVER_PERM, "5.1.2 domain %s does not exist (NXDOMAIN)", d->nexthop);
		return;
	case DNS_TEMPFAIL:
	case DNS_TIMEOUT:
		finish(c, DELIVER_TEMP,
		       a->status == DNS_TIMEOUT ? "4.4.3 MX lookup of %s timed out"
		                                : "4.4.3 MX lookup of %s failed (SERVFAIL)",
		       d->nexthop);
		return;
	case DNS_NODATA:
		c->implicit = 1;
		snprintf(c->mx[0].name, sizeof(c->mx[0].name), "%s", d->nexthop);
		c->n_mx = 1;
		lookup_addresses(c);
		return;
	case DNS_OK:
		break;
	}
	if (a->nrr == 1 && a->rr[0].u.mx.exchange[0] == '\0') {
		finish(c, DELIVER_PERM, "5.1.10 %s does not accept mail (null MX)", d->nexthop);
		return;
	}
	struct dns_rr *rr = xcalloc(a->nrr, sizeof(*rr));
	memcpy(rr, a->rr, a->nrr * sizeof(*rr));
	dns_mx_sort(rr, a->nrr, rnd, d->r);
	for (size_t i = 0; i < a->nrr && c->n_mx < RELAY_MAX_MX; i++) {
		const char *x = rr[i].u.mx.exchange;
		if (x[0] == '\0')
			continue;
		if (strcasecmp(x, hostname) == 0) {
			c->looped = 1; /* ourselves: never deliver to us */
			continue;
		}
		snprintf(c->mx[c->n_mx++].name, sizeof(c->mx[0].name), "%s", x);
	}
	free(rr);
	if (c->n_mx == 0) {
		assemble(c); /* nothing but ourselves (or empty): the loop error */
		return;
	}
	lookup_addresses(c);
}

void relay_route_start(struct relay_dest *d, void (*cb)(struct relay_dest *d))
{
	struct route_ctx *c = xcalloc(1, sizeof(*c));
	c->d = d;
	c->cb = cb;
	memset(&d->route, 0, sizeof(d->route));
	if (d->lmtp && d->port == 0) {
		/* An LMTP socket on this host, connected by the parent. */
		struct relay_addr *a = &d->route.addr[0];
		a->ss.ss_family = AF_UNIX;
		snprintf(a->host, sizeof(a->host), "%s", d->r->conf->hostname);
		snprintf(a->ip, sizeof(a->ip), "%s", d->nexthop);
		d->route.n = 1;
		finish(c, DELIVER_OK, NULL, NULL);
		return;
	}
	/* An address literal, as a smarthost or as a recipient's domain. */
	if (d->nexthop[0] == '[' || (d->smarthost && strchr(d->nexthop, ':'))) {
		if (parse_literal(d->nexthop, d->port, &c->mx[0].v4[0]) == 0) {
			struct relay_addr *a = &c->mx[0].v4[0];
			if (a->ss.ss_family == AF_INET6) {
				c->mx[0].v6[0] = *a;
				c->mx[0].n6 = 1;
			} else {
				c->mx[0].n4 = 1;
			}
			c->n_mx = 1;
			assemble(c);
			return;
		}
		finish(c, DELIVER_PERM, "5.1.2 bad address literal %s", d->nexthop);
		return;
	}
	if (d->smarthost) {
		struct relay_addr lit;
		if (parse_literal(d->nexthop, d->port, &lit) == 0) {
			c->mx[0].v4[0] = lit;
			c->mx[0].n4 = 1;
			c->n_mx = 1;
			assemble(c);
			return;
		}
		snprintf(c->mx[0].name, sizeof(c->mx[0].name), "%s", d->nexthop);
		c->n_mx = 1;
		lookup_addresses(c);
		return;
	}
	if (dns_lookup(d->r->dns, d->nexthop, DNS_T_MX, mx_answer, c) == NULL)
		finish(c, DELIVER_PERM, "5.1.2 %s is not a valid domain name", d->nexthop);
}
