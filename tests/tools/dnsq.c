/*
 * dnsq: resolve names through src/dns (the code the daemon uses) and print
 * the parsed answers, one line per answer and one per record. Built only
 * with the tests; tests/integ/test_dns.py drives it against the fake DNS
 * server.
 *
 *   dnsq [-s ADDR] [-p PORT] [-t MS] [-P] [-d MS] [-r FILE] [-H FILE] [-w MS]
 *        [-C NAME/TYPE@MS]... NAME[/TYPE]...
 *
 * -s/-p forwarder address and port (default: resolv.conf), -t per-query
 * timeout, -P start every query at once (default: one after the other, so
 * a repeated name shows the cache), -d wait MS milliseconds before each
 * query after the first (to outlive a TTL), -r/-H resolv.conf and hosts files,
 * -C start a query and cancel it MS milliseconds later, -w linger MS
 * milliseconds after the last answer (so a cancelled query that would still
 * call back is caught).
 *
 * Output:  NAME TYPE STATUS ttl=N secure=0|1 bogus=0|1 n=N ms=N
 *          NAME TYPE rr <record>
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dns.h"
#include "xmalloc.h"

struct item {
	struct dnsq *d;
	char *name;
	uint16_t type;
	struct dns_query *q;
	struct event *cancel_ev;
};

struct dnsq {
	struct event_base *base;
	struct dns_resolver *r;
	struct item *items;
	size_t n, next, outstanding;
	int parallel;
	unsigned linger_ms, delay_ms;
	struct event *delay_ev;
	struct timeval t0;
};

static long elapsed_ms(const struct dnsq *d)
{
	struct timeval t;
	gettimeofday(&t, NULL);
	return (t.tv_sec - d->t0.tv_sec) * 1000 + (t.tv_usec - d->t0.tv_usec) / 1000;
}

static void print_bytes(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\%03u", p[i]);
	}
	putchar('"');
}

static void print_rr(const struct dns_answer *a, const struct dns_rr *rr)
{
	char buf[INET6_ADDRSTRLEN], tn[16];
	printf("%s %s rr ", a->qname, dns_type_name(a->qtype, tn, sizeof(tn)));
	switch (rr->type) {
	case DNS_T_A:
		printf("%s", inet_ntop(AF_INET, rr->u.a, buf, sizeof(buf)));
		break;
	case DNS_T_AAAA:
		printf("%s", inet_ntop(AF_INET6, rr->u.aaaa, buf, sizeof(buf)));
		break;
	case DNS_T_MX:
		printf("%u %s", rr->u.mx.pref, rr->u.mx.exchange);
		break;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		printf("%s", rr->u.name);
		break;
	case DNS_T_TXT:
		for (size_t i = 0; i < rr->u.txt.nstr; i++) {
			if (i)
				putchar(' ');
			print_bytes(rr->u.txt.str[i].p, rr->u.txt.str[i].len);
		}
		printf(" joined=");
		print_bytes(rr->u.txt.joined, rr->u.txt.joined_len);
		break;
	case DNS_T_TLSA:
		printf("%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);
		for (size_t i = 0; i < rr->u.tlsa.len; i++)
			printf("%02x", rr->u.tlsa.data[i]);
		break;
	default:
		printf("(type %u)", rr->type);
	}
	printf(" ttl=%u\n", rr->ttl);
}

static void start_next(struct dnsq *d);

static void done(struct dnsq *d)
{
	if (d->outstanding > 0 || d->next < d->n)
		return;
	struct timeval tv = {d->linger_ms / 1000, (d->linger_ms % 1000) * 1000};
	event_base_loopexit(d->base, &tv);
}

static void on_answer(const struct dns_answer *a, void *arg)
{
	struct item *it = arg;
	struct dnsq *d = it->d;
	char tn[16];
	it->q = NULL;
	printf("%s %s %s ttl=%u secure=%d bogus=%d n=%zu ms=%ld", a->qname,
	       dns_type_name(a->qtype, tn, sizeof(tn)), dns_status_name(a->status), a->ttl,
	       a->secure, a->bogus, a->nrr, elapsed_ms(d));
	if (a->canonical && strcmp(a->canonical, a->qname) != 0)
		printf(" canonical=%s", a->canonical);
	if (a->why)
		printf(" why=\"%s\"", a->why);
	putchar('\n');
	for (size_t i = 0; i < a->nrr; i++)
		print_rr(a, &a->rr[i]);
	fflush(stdout);
	d->outstanding--;
	if (!d->parallel)
		start_next(d);
	done(d);
}

static void on_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct item *it = arg;
	(void)fd;
	(void)what;
	if (it->q) {
		dns_cancel(it->q);
		it->q = NULL;
		printf("cancelled %s pending=%zu ms=%ld\n", it->name, dns_pending(it->d->r),
		       elapsed_ms(it->d));
		fflush(stdout);
		it->d->outstanding--;
	}
	done(it->d);
}

static void start(struct dnsq *d, struct item *it)
{
	d->outstanding++;
	it->q = dns_lookup(d->r, it->name, it->type, on_answer, it);
	if (it->q == NULL) {
		printf("%s invalid-name\n", it->name);
		d->outstanding--;
	}
}

static void start_next_now(struct dnsq *d)
{
	while (d->next < d->n) {
		struct item *it = &d->items[d->next++];
		start(d, it);
		if (it->q)
			return;
	}
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	struct dnsq *d = arg;
	(void)fd;
	(void)what;
	d->outstanding--;
	start_next_now(d);
	done(d);
}

static void start_next(struct dnsq *d)
{
	struct timeval tv = {d->delay_ms / 1000, (d->delay_ms % 1000) * 1000};
	if (d->next == 0 || d->delay_ms == 0 || d->next >= d->n) {
		start_next_now(d);
		return;
	}
	d->outstanding++; /* the wait keeps the loop from ending */
	evtimer_add(d->delay_ev, &tv);
}

static int parse_item(struct dnsq *d, struct item *it, char *arg, int cancel)
{
	unsigned ms = 0;
	char *at = cancel ? strrchr(arg, '@') : NULL;
	if (at) {
		*at = 0;
		ms = (unsigned)atoi(at + 1);
	}
	char *slash = strrchr(arg, '/');
	it->type = DNS_T_A;
	if (slash && dns_type_from_name(slash + 1) != 0) { /* names may hold '/' */
		*slash = 0;
		it->type = dns_type_from_name(slash + 1);
	}
	it->d = d;
	it->name = arg;
	if (cancel) {
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		it->cancel_ev = evtimer_new(d->base, on_cancel, it);
		evtimer_add(it->cancel_ev, &tv);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct dns_options o = {0};
	struct dnsq d = {0};
	char err[256];
	int c;
	d.base = event_base_new();
	d.items = xcalloc((size_t)argc, sizeof(*d.items));
	size_t ncancel = 0;
	struct item *cancels = xcalloc((size_t)argc, sizeof(*cancels));
	while ((c = getopt(argc, argv, "s:p:t:Pd:r:H:w:C:")) != -1) {
		switch (c) {
		case 's':
			o.forwarder = optarg;
			break;
		case 'p':
			o.port = (uint16_t)atoi(optarg);
			break;
		case 't':
			o.timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'P':
			d.parallel = 1;
			break;
		case 'd':
			d.delay_ms = (unsigned)atoi(optarg);
			break;
		case 'r':
			o.resolv_conf = optarg;
			break;
		case 'H':
			o.hosts = optarg;
			break;
		case 'w':
			d.linger_ms = (unsigned)atoi(optarg);
			break;
		case 'C':
			if (parse_item(&d, &cancels[ncancel++], optarg, 1) == -1)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	for (int i = optind; i < argc; i++)
		if (parse_item(&d, &d.items[d.n++], argv[i], 0) == -1)
			goto usage;
	d.r = dns_new(d.base, &o, err, sizeof(err));
	if (d.r == NULL) {
		fprintf(stderr, "dnsq: %s\n", err);
		for (size_t i = 0; i < ncancel; i++)
			if (cancels[i].cancel_ev)
				event_free(cancels[i].cancel_ev);
		free(cancels);
		free(d.items);
		event_base_free(d.base);
		return 2;
	}
	d.delay_ev = evtimer_new(d.base, on_delay, &d);
	gettimeofday(&d.t0, NULL);
	for (size_t i = 0; i < ncancel; i++) {
		d.outstanding++;
		cancels[i].q =
		    dns_lookup(d.r, cancels[i].name, cancels[i].type, on_answer, &cancels[i]);
	}
	if (d.parallel)
		while (d.next < d.n)
			start(&d, &d.items[d.next++]);
	else
		start_next(&d);
	done(&d);
	event_base_dispatch(d.base);
	printf("end pending=%zu\n", dns_pending(d.r));
	dns_free(d.r);
	event_free(d.delay_ev);
	for (size_t i = 0; i < ncancel; i++)
		if (cancels[i].cancel_ev)
			event_free(cancels[i].cancel_ev);
	free(cancels);
	free(d.items);
	event_base_free(d.base);
	return 0;
usage:
	for (size_t i = 0; i < ncancel; i++)
		if (cancels[i].cancel_ev)
			event_free(cancels[i].cancel_ev);
	free(cancels);
	free(d.items);
	event_base_free(d.base);
	fprintf(stderr, "usage: dnsq [-s ADDR] [-p PORT] [-t MS] [-P] [-d MS] [-r FILE] [-H FILE] "
	                "[-w MS] [-C NAME/TYPE@MS]... NAME[/TYPE]...\n");
	return 2;
}
