/*
 * dkim_role: the raven-dkim process (see dkim_role.h). One request at a
 * time, on its own loop: reading a spooled message from the local disk and
 * signing it is short work, and nobody waits on this process but the
 * queue's relay jobs. The data is read twice with pread (the header section
 * for the From: domain, then the whole message for the signer) and checked
 * against the size and CRC-32C the queue passes: a message damaged on disk
 * is not signed.
 */
#include "dkim_role.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crc32c.h"
#include "dkim.h"
#include "dkim_hdrs.h"
#include "dmarc.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "xmalloc.h"

#define SIGN_CHUNK      65536
#define SIGN_HEADER_MAX (256 * 1024)

struct dkim_keys {
	size_t n;
	struct dkim_key **key; /* parallel to conf->dkim_sign */
};

struct dkim_role {
	const struct config *conf;
	const struct dkim_keys *keys;
	struct ipc *queue;
};

struct dkim_keys *dkim_role_prepare(const struct config *conf)
{
	struct dkim_keys *k = xcalloc(1, sizeof(*k));
	k->n = conf->n_dkim_sign;
	k->key = xcalloc(k->n ? k->n : 1, sizeof(*k->key));
	for (size_t i = 0; i < k->n; i++) {
		const struct dkim_signing *s = &conf->dkim_sign[i];
		char err[256];
		if (dkim_key_load(s->key, &k->key[i], err, sizeof(err)) == -1)
			fatal_status(EX_CONFIG,
			             "event=dkim-key-failed domain=%s selector=%s key=\"%s\" "
			             "reason=\"%s\"",
			             s->domain, s->selector, s->key, err);
		log_info("event=dkim-key-loaded domain=%s selector=%s alg=%s", s->domain,
		         s->selector, dkim_alg_name(dkim_key_alg(k->key[i])));
	}
	return k;
}

/* The From: domain of the message in fd: 0, or -1 with why. */
static int from_domain(int fd, char *dom, size_t len, char *why, size_t wlen)
{
	struct dkim_hdrs h;
	uint8_t chunk[SIGN_CHUNK];
	off_t off = 0;
	dkim_hdrs_init(&h, SIGN_HEADER_MAX);
	while (!h.done) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, wlen, "cannot read the message: %s", strerror(errno));
			dkim_hdrs_free(&h);
			return -1;
		}
		if (n == 0) {
			dkim_hdrs_end(&h);
			break;
		}
		dkim_hdrs_feed(&h, chunk, (size_t)n);
		off += n;
	}
	const char *vals[2];
	size_t lens[2], nv = 0;
	for (size_t i = 0; i < h.nfields; i++)
		if (dkim_hdrs_is(&h, i, "From") && nv < 2) {
			const char *f = dkim_hdrs_field(&h, i);
			size_t colon = h.fields[i].name_len;
			while (colon < h.fields[i].len && f[colon] != ':')
				colon++;
			vals[nv] = f + colon + 1;
			lens[nv] = h.fields[i].len > colon ? h.fields[i].len - colon - 1 : 0;
			nv++;
		}
	int rc = h.overflow ? -1 : dmarc_author_domain(vals, lens, nv, dom, len, why, wlen);
	if (h.overflow)
		snprintf(why, wlen, "header section too large");
	dkim_hdrs_free(&h);
	return rc;
}

/* Sign the whole message in fd: the field, or NULL with why. */
static char *sign_fd(const struct proto_sign_req *q, int fd, const struct dkim_key *key,
                     const struct dkim_signing *s, char *why, size_t wlen)
{
	struct dkim_sign_opts o = {.now = (int64_t)time(NULL)};
	struct dkim_sign *sg = dkim_sign_new(key, s->domain, s->selector, &o, why, wlen);
	if (sg == NULL)
		return NULL;
	uint8_t chunk[SIGN_CHUNK];
	uint64_t off = 0;
	uint32_t crc = 0;
	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, wlen, "cannot read the message: %s", strerror(errno));
			dkim_sign_free(sg);
			return NULL;
		}
		if (n == 0)
			break;
		dkim_sign_update(sg, chunk, (size_t)n);
		crc = crc32c_update(crc, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	char *out = NULL;
	if (off != q->size || (q->has_crc && crc != q->crc))
		snprintf(why, wlen, "the spooled data does not match its envelope");
	else if (dkim_sign_finish(sg, &out, why, wlen) == -1)
		out = NULL;
	dkim_sign_free(sg);
	return out;
}

static void reply(struct dkim_role *d, uint64_t req, enum sign_status st, const char *text)
{
	struct proto_sign_res r = {.req = req, .status = (uint8_t)st, .text = (char *)text};
	struct buf b;
	buf_init(&b, 0);
	proto_encode_sign_res(&b, &r);
	ipc_send(d->queue, PROTO_SIGN_RES, b.data, b.len, -1);
	buf_free(&b);
}

static void handle(struct dkim_role *d, const struct proto_sign_req *q, int fd)
{
	char dom[DMARC_DOMAIN_MAX + 1], why[256];
	if (from_domain(fd, dom, sizeof(dom), why, sizeof(why)) == -1) {
		log_info("event=dkim-unsigned id=%s reason=\"%s\"", q->id, why);
		reply(d, q->req, SIGN_NONE, why);
		return;
	}
	const struct dkim_signing *s = conf_dkim_signing_for(d->conf, dom);
	if (s == NULL) {
		reply(d, q->req, SIGN_NONE, "no key for the From: domain");
		return;
	}
	const struct dkim_key *key = d->keys->key[s - d->conf->dkim_sign];
	char *sig = sign_fd(q, fd, key, s, why, sizeof(why));
	if (sig == NULL) {
		log_warn("event=dkim-sign-failed id=%s domain=%s reason=\"%s\"", q->id, s->domain,
		         why);
		reply(d, q->req, SIGN_TEMP, why);
		return;
	}
	log_info("event=dkim-signed id=%s domain=%s selector=%s", q->id, s->domain, s->selector);
	reply(d, q->req, SIGN_OK, sig);
	free(sig);
}

static void queue_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct dkim_role *d = arg;
	struct proto_sign_req q;
	if (m->type != PROTO_SIGN_REQ || m->fd == -1 || m->fd_lost ||
	    proto_decode_sign_req(m->data, m->len, &q) == -1) {
		/* The queue is broken: go, as if it had died (we are restarted). */
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		if (m->fd != -1)
			close(m->fd);
		ipc_shutdown(ch);
		return;
	}
	handle(d, &q, m->fd);
	close(m->fd);
	proto_sign_req_free(&q);
}

static void queue_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	log_info("event=queue-channel-closed");
	exit(0);
}

void dkim_role_main(const struct config *conf, struct event_base *base, int queue_sock,
                    struct dkim_keys *keys)
{
	struct dkim_role d = {.conf = conf, .keys = keys};
	struct ipc_handlers h = {queue_msg, queue_closed, &d};
	d.queue = ipc_new(base, queue_sock, &h);
	log_info("event=dkim-ready keys=%zu", keys->n);
	event_base_dispatch(base);
	exit(0);
}
