/*
 * relay_role: the outbound relay process. It takes jobs from the queue as
 * the local role does (one message, one destination, its recipients, a
 * read-only descriptor of the data), keeps one queue of jobs per
 * destination, opens and reuses connections to it within a limit that
 * starts small and grows while deliveries succeed (slow start), and
 * answers with one outcome per recipient. A destination that cannot be
 * reached at all is reported as such, so the queue makes all its mail
 * wait for the backoff instead of each message trying again.
 *
 * What it acts on comes from its configuration: the action must be a
 * relay action, the next hop is that action's smarthost or the
 * recipients' domain — never something the queue merely claimed; or an
 * lmtp action, whose target is the next hop (relay_lmtp.c).
 */
#include "relay.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "hmap.h"
#include "ipc.h"
#include "log.h"
#include "relay_int.h"
#include "util.h"
#include "xmalloc.h"

uint32_t relay_random(struct relay *r)
{
	return util_rand(&r->rng);
}

static void reply_result(struct relay *r, struct relay_job *j)
{
	struct proto_result res = {.job = j->d.job,
	                           .flags = j->flags,
	                           .n = j->d.n,
	                           .idx = j->d.idx,
	                           .status = j->status,
	                           .rflags = j->rflags,
	                           .text = j->text};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_result(&b, &res);
	ipc_send(r->queue, PROTO_DELIVER_RES, b.data, b.len, -1);
	buf_free(&b);
}

static void job_free(struct relay_job *j)
{
	for (size_t k = 0; k < j->d.n; k++)
		free(j->text[k]);
	free(j->text);
	for (size_t k = 0; j->rcpt_to && k < j->d.n; k++)
		free(j->rcpt_to[k]);
	free(j->rcpt_to);
	free(j->status);
	free(j->rflags);
	if (j->fd != -1)
		close(j->fd);
	proto_deliver_free(&j->d);
	free(j);
}

void relay_job_done(struct relay_job *j)
{
	reply_result(j->r, j);
	job_free(j);
}

void relay_job_fail(struct relay_job *j, uint8_t status, const char *text, uint32_t flags)
{
	char esc[RELAY_TEXT_MAX * 2];
	log_escape(esc, sizeof(esc), text, strlen(text));
	for (size_t k = 0; k < j->d.n; k++) {
		char to[600];
		log_escape(to, sizeof(to), j->d.addr[k], strlen(j->d.addr[k]));
		log_info("event=%s id=%s rcpt=%u to=\"%s\" status=%s reply=\"%s\"",
		         j->dest && j->dest->lmtp ? "lmtp" : "relay", j->d.id, j->d.idx[k], to,
		         status == DELIVER_PERM ? "bounced" : "deferred", esc);
		j->status[k] = status;
		free(j->text[k]);
		j->text[k] = xstrdup(text);
	}
	j->flags |= flags;
	relay_job_done(j);
}

/* ---- destinations ---- */

static uint64_t dest_hash(const char *action, const char *nexthop)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = action; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = nexthop; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

/* The destination for (action, next hop), made if new. */
static struct relay_dest *dest_get(struct relay *r, const struct action *a, const char *nexthop,
                                   int smarthost)
{
	const char *aname = a ? a->name : "";
	uint64_t h = dest_hash(aname, nexthop);
	struct relay_dest *head = hmap_get_u64(r->dests, h);
	for (struct relay_dest *d = head; d; d = d->hnext)
		if (d->action == a && strcmp(d->nexthop, nexthop) == 0)
			return d;
	struct relay_dest *d = xcalloc(1, sizeof(*d));
	d->r = r;
	d->action = a;
	d->nexthop = xstrdup(nexthop);
	d->hash = h;
	d->smarthost = smarthost;
	d->lmtp = a && a->kind == ACTION_LMTP;
	d->port = d->lmtp ? a->lmtp_port : a && a->relay_port ? a->relay_port : 25;
	d->limit = RELAY_START_LIMIT;
	d->hnext = head;
	hmap_put_u64(r->dests, h, d);
	return d;
}

/* Forget a destination nothing uses (domains come and go with the mail). */
static void dest_release_if_idle(struct relay_dest *d)
{
	if (d->sessions > 0 || d->n_wait > 0 || d->route_pending)
		return;
	struct relay *r = d->r;
	struct relay_dest *head = hmap_get_u64(r->dests, d->hash);
	struct relay_dest **pp = &head;
	while (*pp && *pp != d)
		pp = &(*pp)->hnext;
	if (*pp == NULL)
		return;
	*pp = d->hnext;
	if (head)
		hmap_put_u64(r->dests, d->hash, head);
	else
		hmap_del_u64(r->dests, d->hash);
	free(d->nexthop);
	free(d);
}

struct relay_job *relay_dest_take(struct relay_dest *d)
{
	struct relay_job *j = d->wait_head;
	if (j == NULL)
		return NULL;
	d->wait_head = j->next;
	if (d->wait_head == NULL)
		d->wait_tail = NULL;
	d->n_wait--;
	j->next = NULL;
	return j;
}

static void route_done(struct relay_dest *d)
{
	d->route_pending = 0;
	d->route_ready = d->route.status == DELIVER_OK;
	if (!d->route_ready) {
		/* No host to try: every waiting job gets the reason (a bad
		 * domain fails, a DNS outage waits). */
		struct relay_job *j;
		while ((j = relay_dest_take(d)) != NULL)
			relay_job_fail(j, d->route.status, d->route.why, 0);
		dest_release_if_idle(d);
		return;
	}
	relay_dest_kick(d);
}

void relay_dest_kick(struct relay_dest *d)
{
	struct timeval now;
	event_base_gettimeofday_cached(d->r->base, &now);
	while (d->n_wait > 0 && d->idle != NULL) {
		struct relay_sess *s = d->idle;
		relay_session_give(s, relay_dest_take(d)); /* takes it off the idle list */
	}
	if (d->n_wait == 0) {
		dest_release_if_idle(d);
		return;
	}
	if (d->route_ready && now.tv_sec - d->route_time.tv_sec > RELAY_ROUTE_TTL_SEC)
		d->route_ready = 0;
	if (!d->route_ready) {
		if (!d->route_pending) {
			d->route_pending = 1;
			d->route_time = now;
			relay_route_start(d, route_done);
		}
		return;
	}
	/* One new connection per waiting job, within the destination's limit. */
	size_t want = d->sessions + d->n_wait;
	while (d->sessions < want && d->sessions < d->limit)
		relay_session_start(d);
}

void relay_dest_session_gone(struct relay_dest *d, int delivered)
{
	d->sessions--;
	/* Slow start: grow while deliveries succeed, halve when they do not. */
	if (delivered) {
		if (d->limit < d->r->max_per_dest)
			d->limit++;
	} else {
		d->limit = d->limit > 2 ? d->limit / 2 : 1;
	}
	relay_dest_kick(d);
}

/* ---- jobs from the queue ---- */

/* The domain of addr, in lower case, or NULL. */
static char *domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (at == NULL || at[1] == '\0')
		return NULL;
	return ascii_lower_str(xstrdup(at + 1));
}

/*
 * Where the job goes, from the configuration: the action (a relay action,
 * or "" for notices with no relay action configured: the built-in MX
 * relay) and the next hop (its smarthost, or the recipients' domain). -1
 * with why when the job cannot be relayed as asked.
 */
static struct relay_dest *job_dest(struct relay *r, struct relay_job *j, char *why, size_t len)
{
	const struct action *a = NULL;
	if (j->d.action[0] != '\0') {
		a = conf_action(r->conf, j->d.action);
		if (a != NULL && a->kind == ACTION_LMTP) {
			/* Its target, from our configuration: one destination. */
			if (relay_lmtp_job(j, a, why, len) == -1)
				return NULL;
			return dest_get(r, a, a->lmtp_host, 1);
		}
		if (a == NULL || a->kind != ACTION_RELAY) {
			snprintf(why, len, "4.3.5 action %s is not a relay or lmtp action",
			         j->d.action);
			return NULL;
		}
	}
	char *domain = domain_of(j->d.addr[0]);
	if (domain == NULL) {
		snprintf(why, len, "5.1.3 recipient without a domain");
		return NULL;
	}
	for (size_t k = 1; k < j->d.n; k++) {
		char *other = domain_of(j->d.addr[k]);
		int same = other && strcmp(other, domain) == 0;
		free(other);
		if (!same && (a == NULL || a->relay_host == NULL)) {
			free(domain);
			snprintf(why, len, "4.3.0 one job for several domains");
			return NULL;
		}
	}
	struct relay_dest *d;
	if (a != NULL && a->relay_host != NULL)
		d = dest_get(r, a, a->relay_host, 1);
	else
		d = dest_get(r, a, domain, 0);
	free(domain);
	return d;
}

static void job_arrived(struct relay *r, struct relay_job *j)
{
	char why[512];
	struct relay_dest *d = job_dest(r, j, why, sizeof(why));
	if (d == NULL) {
		relay_job_fail(j, why[0] == '5' ? DELIVER_PERM : DELIVER_TEMP, why, 0);
		return;
	}
	j->dest = d;
	if (d->wait_tail)
		d->wait_tail->next = j;
	else
		d->wait_head = j;
	d->wait_tail = j;
	d->n_wait++;
	relay_dest_kick(d);
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct relay *r = arg;
	struct relay_job *j = xcalloc(1, sizeof(*j));
	j->r = r;
	j->fd = m->fd;
	if (m->type != PROTO_DELIVER_REQ || (m->fd == -1 && !m->fd_lost) ||
	    proto_decode_deliver(m->data, m->len, &j->d) == -1 || !envelope_id_valid(j->d.id)) {
		/* The queue is our only peer: a broken one ends this role. */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		if (m->fd != -1)
			close(m->fd);
		proto_deliver_free(&j->d);
		free(j);
		ipc_shutdown(ch);
		return;
	}
	j->status = xcalloc(j->d.n, 1);
	j->rflags = xcalloc(j->d.n, 1);
	j->text = xcalloc(j->d.n, sizeof(*j->text));
	for (size_t k = 0; k < j->d.n; k++) {
		j->status[k] = DELIVER_TEMP; /* until a peer says otherwise */
		j->text[k] = xstrdup("");
	}
	event_base_gettimeofday_cached(r->base, &j->t_arrived);
	if (j->fd == -1) {
		relay_job_fail(j, DELIVER_TEMP, "4.3.0 no descriptor left to receive the message",
		               0);
		return;
	}
	job_arrived(r, j);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-gone");
	exit(0); /* the queue is this role's only peer; the parent restarts us */
}

struct relay *relay_prepare(const struct config *conf, struct event_base *base, char *err,
                            size_t errlen)
{
	struct relay *r = xcalloc(1, sizeof(*r));
	r->conf = conf;
	r->base = base;
	r->dests = hmap_new();
	r->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	r->max_per_dest = conf->queue_per_destination ? conf->queue_per_destination : 20;
	struct dns_options o = {.forwarder = conf->resolver, .port = conf->resolver_port};
	r->dns = dns_new(base, &o, err, errlen);
	if (r->dns == NULL) {
		free(r);
		return NULL;
	}
	r->tls = relay_tls_new(err, errlen);
	if (r->tls == NULL) {
		dns_free(r->dns);
		free(r);
		return NULL;
	}
	return r;
}

void relay_run(struct relay *r, int queue_sock, int parent_sock)
{
	struct ipc_handlers h = {queue_msg, queue_closed, r};
	r->queue = ipc_new(r->base, queue_sock, &h);
	relay_lmtp_channel(r, parent_sock);
	r->metrics = metrics_push_new(r->base, r->queue);
	log_info("event=relay-ready resolver=%s", r->conf->resolver ? r->conf->resolver : "system");
	event_base_dispatch(r->base);
	exit(0);
}
