/*
 * dns_role: the raven-dns process (see dns_role.h). Every question is
 * looked up at once on libunbound (which caches answers for their TTL),
 * at most DNS_ROLE_MAX_PENDING at a time; a name that is not a valid DNS
 * name, or one over that many, is answered with a temporary failure.
 */
#include "dns_role.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "xmalloc.h"

struct dns_role {
	struct ipc *queue;
	struct dns_resolver *dns;
	size_t pending;
};

struct question {
	struct dns_role *d;
	uint64_t req;
};

static void reply(struct dns_role *d, uint64_t req, const struct dns_raw *raw)
{
	struct proto_dns_res r = {
	    .req = req,
	    .answered = raw->answered ? 1 : 0,
	    .status = (uint8_t)raw->status,
	    .rcode = raw->rcode >= 0 && raw->rcode <= 15 ? (uint8_t)raw->rcode : 2,
	    .sec = raw->sec >= 0 && raw->sec <= 2 ? (uint8_t)raw->sec : 1,
	    .why = (char *)(raw->why ? raw->why : ""),
	    .pkt = (uint8_t *)raw->pkt,
	    .len = raw->answered && raw->len <= PROTO_DNS_PACKET_MAX ? raw->len : 0,
	};
	char why[PROTO_DNS_WHY_MAX + 1];
	snprintf(why, sizeof(why), "%s", r.why);
	r.why = why;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_dns_res(&b, &r);
	ipc_send(d->queue, PROTO_DNS_RES, b.data, b.len, -1);
	buf_free(&b);
}

static void fail(struct dns_role *d, uint64_t req, const char *why)
{
	struct dns_raw raw = {.answered = 0, .status = DNS_TEMPFAIL, .why = why};
	reply(d, req, &raw);
}

static void answered(const struct dns_raw *raw, void *arg)
{
	struct question *q = arg;
	q->d->pending--;
	reply(q->d, q->req, raw);
	free(q);
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct dns_role *d = arg;
	struct proto_dns_req req;
	if (m->fd != -1)
		close(m->fd);
	if (m->type != PROTO_DNS_REQ || m->fd != -1 || m->fd_lost ||
	    proto_decode_dns_req(m->data, m->len, &req) == -1) {
		/* The queue is broken: go, as if it had died (we are restarted). */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		ipc_shutdown(ch);
		return;
	}
	if (d->pending >= DNS_ROLE_MAX_PENDING) {
		fail(d, req.req, "too many questions waiting");
	} else {
		struct question *q = xcalloc(1, sizeof(*q));
		q->d = d;
		q->req = req.req;
		if (dns_lookup_raw(d->dns, req.name, req.type, answered, q) != NULL) {
			d->pending++;
		} else {
			free(q);
			fail(d, req.req, "not a valid DNS name");
		}
	}
	proto_dns_req_free(&req);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-channel-closed");
	exit(0);
}

struct dns_resolver *dns_role_prepare(const struct config *conf, struct event_base *base)
{
	char err[512];
	struct dns_options o = {.forwarder = conf->resolver, .port = conf->resolver_port};
	struct dns_resolver *r = dns_new(base, &o, err, sizeof(err));
	if (r == NULL)
		fatal_status(EX_CONFIG, "event=dns-prepare-failed reason=\"%s\"", err);
	return r;
}

void dns_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                   struct dns_resolver *dns)
{
	struct dns_role d = {.dns = dns};
	struct ipc_handlers h = {queue_msg, queue_closed, &d};
	d.queue = ipc_new(base, queue_sock, &h);
	log_info("event=dns-ready resolver=%s", conf->resolver ? conf->resolver : "system");
	event_base_dispatch(base);
	exit(0);
}
