/*
 * dns: the resolver on libunbound's event API (see dns.h), and the same
 * interface for a process that may not open sockets (a remote resolver:
 * questions go out as frames, replies come back as packets).
 *
 * libunbound may call its callback before ub_resolve_event() returns (an
 * answer from its cache or from /etc/hosts), and from deep inside its own
 * state machine. We never run the caller's callback from there: the answer
 * is parsed, stored in the query, and delivered by the query's own event
 * on the next pass of the loop. So a callback may start new lookups, cancel
 * others or free the resolver without re-entering libunbound.
 *
 * libunbound has no per-query timeout of its own (against a silent server
 * it retries with backoff for several seconds before SERVFAIL), so each
 * query has a timer; when it fires the query is cancelled in libunbound and
 * answered DNS_TIMEOUT.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound-event.h>
#include <unbound.h>
#include <unistd.h>

#include "dns_cache.h"
#include "dns_util.h"
#include "hmap.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *prev, *next;
	struct event *ev; /* the timeout, then the delivery */
	int async_id;
	uint64_t remote_id; /* a remote resolver's question number */
	int in_flight;      /* libunbound (or the remote) still has it */
	int done;           /* ans (or the raw reply) is filled */
	int delivering;     /* cb is running */
	struct dns_answer ans;
	/* raw lookups: the reply as it came */
	void (*raw_cb)(const struct dns_raw *raw, void *arg);
	struct dns_raw raw;
	uint8_t *raw_pkt;
	char *raw_why;
	char *name;
	uint16_t type;
	void (*cb)(const struct dns_answer *a, void *arg);
	void *arg;
};

struct dns_resolver {
	struct event_base *base;
	struct ub_ctx *ctx; /* NULL: a remote resolver */
	struct timeval timeout;
	struct dns_query *queries;
	size_t pending;
	/* remote */
	struct dns_remote_ops ops;
	struct hmap *asked; /* question number -> query */
	uint64_t next_id;
	struct dns_cache *cache;
	uint64_t hits;
};

static void unlink_query(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	if (q->prev)
		q->prev->next = q->next;
	else
		r->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	r->pending--;
}

static void query_free(struct dns_query *q)
{
	event_free(q->ev);
	dns_answer_free(&q->ans);
	free(q->raw_pkt);
	free(q->raw_why);
	free(q->name);
	free(q);
}

/* Answer q with a status and no records, unless it already has an answer. */
static void set_failure(struct dns_query *q, enum dns_status status, const char *why)
{
	if (q->done)
		return;
	dns_answer_free(&q->ans);
	q->ans.status = status;
	q->ans.why = why ? xstrdup(why) : NULL;
	q->raw.answered = 0;
	q->raw.status = status;
	free(q->raw_why);
	q->raw_why = why ? xstrdup(why) : NULL;
	q->raw.why = q->raw_why;
	q->done = 1;
}

static void deliver_soon(struct dns_query *q)
{
	event_del(q->ev);
	event_active(q->ev, EV_TIMEOUT, 1);
}

/* Stop whoever still works on q (libunbound, or the remote's number). */
static void stop_in_flight(struct dns_query *q)
{
	if (!q->in_flight)
		return;
	q->in_flight = 0;
	if (q->r->ctx)
		ub_cancel(q->r->ctx, q->async_id);
	else
		hmap_del_u64(q->r->asked, q->remote_id);
}

/* libunbound's callback: keep the reply (raw queries) or its parse. */
static void ub_done(void *arg, int rcode, void *pkt, int len, int sec, char *why_bogus,
                    int ratelimited)
{
	struct dns_query *q = arg;
	(void)ratelimited;
	q->in_flight = 0;
	size_t n = pkt != NULL && len > 0 ? (size_t)len : 0;
	if (q->raw_cb) {
		q->raw_pkt = n ? xmalloc(n) : NULL;
		if (n)
			memcpy(q->raw_pkt, pkt, n);
		q->raw_why = why_bogus ? xstrdup(why_bogus) : NULL;
		q->raw = (struct dns_raw){.answered = 1,
		                          .rcode = rcode,
		                          .sec = sec,
		                          .pkt = q->raw_pkt,
		                          .len = n,
		                          .why = q->raw_why};
	} else {
		struct dns_raw raw = {.answered = 1,
		                      .rcode = rcode,
		                      .sec = sec,
		                      .pkt = n ? pkt : NULL,
		                      .len = n,
		                      .why = why_bogus};
		dns_answer_from_raw(&raw, q->type, &q->ans);
	}
	q->done = 1;
	deliver_soon(q);
}

/* The query's event: its timeout, or the delivery of a stored answer. */
static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	(void)fd;
	(void)what;
	if (!q->done) {
		stop_in_flight(q);
		set_failure(q, DNS_TIMEOUT, "no answer in time");
	}
	if (q->raw_cb) {
		unlink_query(q);
		q->delivering = 1;
		q->raw_cb(&q->raw, q->arg);
		query_free(q);
		return;
	}
	/* The answer names the query as it was asked. */
	free(q->ans.qname);
	q->ans.qname = xstrdup(q->name);
	q->ans.qtype = q->type;
	if (q->ans.canonical == NULL)
		q->ans.canonical = xstrdup(q->name);
	unlink_query(q);
	q->delivering = 1;
	q->cb(&q->ans, q->arg);
	query_free(q);
}

static struct dns_query *query_new(struct dns_resolver *r, const char *name, uint16_t rrtype,
                                   void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->name = xstrdup(name);
	q->type = rrtype;
	q->arg = arg;
	q->ev = evtimer_new(r->base, on_event, q);
	if (q->ev == NULL)
		fatal("dns: evtimer_new failed");
	q->next = r->queries;
	if (r->queries)
		r->queries->prev = q;
	r->queries = q;
	r->pending++;
	evtimer_add(q->ev, &r->timeout);
	return q;
}

static int64_t now_sec(const struct dns_resolver *r)
{
	struct timeval tv;
	event_base_gettimeofday_cached(r->base, &tv);
	return (int64_t)tv.tv_sec;
}

/* A remote resolver's lookup: from the cache, else asked under a number. */
static void remote_start(struct dns_query *q)
{
	struct dns_resolver *r = q->r;
	struct dns_raw raw;
	if (dns_cache_get(r->cache, q->name, q->type, now_sec(r), &raw)) {
		r->hits++;
		dns_answer_from_raw(&raw, q->type, &q->ans);
		q->done = 1;
		deliver_soon(q);
		return;
	}
	q->remote_id = ++r->next_id;
	if (r->ops.ask(r->ops.arg, q->remote_id, q->name, q->type) == -1) {
		set_failure(q, DNS_TEMPFAIL, "resolver not reachable");
		deliver_soon(q);
		return;
	}
	q->in_flight = 1;
	hmap_put_u64(r->asked, q->remote_id, q);
}

/* Hand q to libunbound; a refusal is answered from the loop like any. */
static void ub_start(struct dns_query *q)
{
	q->in_flight = 1;
	int rc =
	    ub_resolve_event(q->r->ctx, q->name, q->type, 1 /* IN */, q, ub_done, &q->async_id);
	if (rc != 0) {
		q->in_flight = 0;
		set_failure(q, DNS_TEMPFAIL, ub_strerror(rc));
		deliver_soon(q);
	}
}

struct dns_query *dns_lookup(struct dns_resolver *r, const char *name, uint16_t rrtype,
                             void (*cb)(const struct dns_answer *a, void *arg), void *arg)
{
	if (!dns_name_valid(name))
		return NULL;
	struct dns_query *q = query_new(r, name, rrtype, arg);
	q->cb = cb;
	if (r->ctx == NULL) {
		remote_start(q);
		return q;
	}
	ub_start(q);
	return q;
}

struct dns_query *dns_lookup_raw(struct dns_resolver *r, const char *name, uint16_t rrtype,
                                 void (*cb)(const struct dns_raw *raw, void *arg), void *arg)
{
	if (r->ctx == NULL || !dns_name_valid(name))
		return NULL;
	struct dns_query *q = query_new(r, name, rrtype, arg);
	q->raw_cb = cb;
	ub_start(q);
	return q;
}

void dns_cancel(struct dns_query *q)
{
	if (q == NULL || q->delivering)
		return;
	stop_in_flight(q);
	unlink_query(q);
	query_free(q);
}

size_t dns_pending(const struct dns_resolver *r)
{
	return r->pending;
}

struct event_base *dns_event_base(const struct dns_resolver *r)
{
	return r->base;
}

static int set_option(struct ub_ctx *ctx, const char *opt, const char *val, char *err,
                      size_t errlen)
{
	int rc = ub_ctx_set_option(ctx, opt, val);
	if (rc != 0)
		err_set(err, errlen, "resolver option %s %s: %s", opt, val, ub_strerror(rc));
	return rc ? -1 : 0;
}

/* ub_ctx_* functions that read files report "could not read"; say which. */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) == 0)
		return 0;
	err_set(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

static int configure(struct dns_resolver *r, const struct dns_options *o, char *err, size_t errlen)
{
	struct ub_ctx *ctx = r->ctx;
	int rc;
	/* The library's defaults, said out loud: a forwarder on loopback is
	 * what tests (and a local caching resolver) use. */
	if (set_option(ctx, "do-not-query-localhost:", "no", err, errlen) == -1)
		return -1;
	/* Private reverse zones (10.in-addr.arpa, 168.192.in-addr.arpa, ...)
	 * belong to the upstream resolver, not to unbound's built-in empty
	 * zones: PTR and DNSBL lookups for LAN addresses must reach it. */
	if (set_option(ctx, "unblock-lan-zones:", "yes", err, errlen) == -1 ||
	    set_option(ctx, "insecure-lan-zones:", "yes", err, errlen) == -1)
		return -1;
	if (o->forwarder) {
		unsigned char addr[16];
		char fwd[INET6_ADDRSTRLEN + 8];
		if (inet_pton(AF_INET, o->forwarder, addr) != 1 &&
		    inet_pton(AF_INET6, o->forwarder, addr) != 1) {
			err_set(err, errlen, "resolver \"%s\" is not an IP address", o->forwarder);
			return -1;
		}
		/* unbound's "addr@port" form; works for any port */
		snprintf(fwd, sizeof(fwd), "%s@%u", o->forwarder, o->port ? o->port : 53);
		if ((rc = ub_ctx_set_fwd(ctx, fwd)) != 0) {
			err_set(err, errlen, "resolver %s: %s", fwd, ub_strerror(rc));
			return -1;
		}
	} else {
		const char *rc_path = o->resolv_conf ? o->resolv_conf : "/etc/resolv.conf";
		const char *hosts = o->hosts ? o->hosts : "/etc/hosts";
		if (readable("resolver configuration", rc_path, err, errlen) == -1)
			return -1;
		if ((rc = ub_ctx_resolvconf(ctx, rc_path)) != 0) {
			err_set(err, errlen, "%s: %s", rc_path, ub_strerror(rc));
			return -1;
		}
		if (access(hosts, F_OK) == 0) {
			if (readable("hosts file", hosts, err, errlen) == -1)
				return -1;
			if ((rc = ub_ctx_hosts(ctx, hosts)) != 0) {
				err_set(err, errlen, "%s: %s", hosts, ub_strerror(rc));
				return -1;
			}
		}
	}
	if (o->dnssec) {
		const char *ta = o->trust_anchor ? o->trust_anchor : DNS_TRUST_ANCHOR_DEFAULT;
		if (readable("trust anchor", ta, err, errlen) == -1)
			return -1;
		if ((rc = ub_ctx_add_ta_file(ctx, ta)) != 0) {
			err_set(err, errlen, "trust anchor %s: %s", ta, ub_strerror(rc));
			return -1;
		}
	} else if (set_option(ctx, "module-config:", "iterator", err, errlen) == -1) {
		return -1; /* no validator: nothing to validate against */
	}
	/*
	 * libunbound applies its configuration (and reads the trust anchor)
	 * only at the first query, which in a role comes after the chroot.
	 * Removing the local data of a name that has none is the one public
	 * call that finalizes the context now and changes nothing else.
	 */
	if ((rc = ub_ctx_data_remove(ctx, "raven-finalize.invalid.")) != 0) {
		err_set(err, errlen, "resolver setup: %s", ub_strerror(rc));
		return -1;
	}
	/* With a forwarder, "test." (RFC 6761) is the forwarder's to answer:
	 * test zones live there. unbound serves it empty by default. */
	if (o->forwarder && (rc = ub_ctx_zone_remove(ctx, "test.")) != 0) {
		err_set(err, errlen, "resolver setup: %s", ub_strerror(rc));
		return -1;
	}
	return 0;
}

struct dns_resolver *dns_new(struct event_base *base, const struct dns_options *o, char *err,
                             size_t errlen)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	unsigned ms = o->timeout_ms ? o->timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	r->base = base;
	r->timeout.tv_sec = ms / 1000;
	r->timeout.tv_usec = (ms % 1000) * 1000;
	r->ctx = ub_ctx_create_event(base);
	if (r->ctx == NULL) {
		err_set(err, errlen, "resolver: cannot create a libunbound context");
		free(r);
		return NULL;
	}
	if (configure(r, o, err, errlen) == -1) {
		ub_ctx_delete(r->ctx);
		free(r);
		return NULL;
	}
	return r;
}

void dns_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	while (r->queries)
		dns_cancel(r->queries);
	if (r->ctx)
		ub_ctx_delete(r->ctx);
	hmap_free(r->asked);
	dns_cache_free(r->cache);
	free(r);
}

struct dns_resolver *dns_new_remote(struct event_base *base, const struct dns_remote_ops *ops,
                                    unsigned timeout_ms, size_t cache_max)
{
	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	unsigned ms = timeout_ms ? timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
	r->base = base;
	r->timeout.tv_sec = ms / 1000;
	r->timeout.tv_usec = (ms % 1000) * 1000;
	r->ops = *ops;
	r->asked = hmap_new();
	r->cache = dns_cache_new(cache_max, DNS_REMOTE_MAX_TTL);
	return r;
}

void dns_remote_answer(struct dns_resolver *r, uint64_t id, const struct dns_raw *raw)
{
	struct dns_query *q = r->asked ? hmap_del_u64(r->asked, id) : NULL;
	if (q == NULL || q->done)
		return;
	q->in_flight = 0;
	dns_answer_from_raw(raw, q->type, &q->ans);
	q->done = 1;
	enum dns_status st = q->ans.status;
	if (st == DNS_OK || st == DNS_NXDOMAIN || st == DNS_NODATA)
		dns_cache_put(r->cache, q->name, q->type, raw, q->ans.ttl, now_sec(r));
	deliver_soon(q);
}

uint64_t dns_cache_hits(const struct dns_resolver *r)
{
	return r->hits;
}
