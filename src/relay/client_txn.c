/*
 * client_txn: one mail transaction of the SMTP client engine (client.h):
 * the checks made before anything is sent, MAIL/RCPT/DATA with their
 * ESMTP parameters, pipelined (RFC 2920) or one by one, the replies, the
 * end of data, and RSET where a transaction was left open.
 *
 * Decisions:
 * - SIZE over the peer's limit: 5.3.4, SMTPUTF8 needed and not offered:
 *   5.6.7 (RFC 6531 §3.2), for every recipient, nothing sent.
 * - 8-bit content to a peer without 8BITMIME is sent as it is, without
 *   BODY= (unless strict_8bitmime: 5.6.3). RFC 6152 wants a conversion to
 *   7 bit or a bounce, but a conversion breaks DKIM signatures and every
 *   server we meet in practice takes 8-bit data; Postfix sends such mail
 *   unconverted whenever it does not (or cannot) convert, Exim always.
 * - RSET only where a transaction is still open: after MAIL was accepted
 *   and DATA did not run to its end. A completed end of data resets the
 *   transaction (RFC 5321 §4.1.1.4); an RSET there would only cost a round
 *   trip without PIPELINING.
 * - ORCPT goes out when the peer offers DSN: the envelope's, re-encoded,
 *   or else "rfc822;" and the recipient (RFC 3461 §4.2 allows adding it, as
 *   Postfix does) when that address is ASCII.
 * - LMTP (RFC 2033 §4.2): after the final dot, one reply per recipient
 *   whose RCPT was accepted, in the order of the RCPTs; each decides that
 *   recipient alone. No DSN parameter goes out (the notices are ours).
 * - The end-of-data reply is the dangerous window (RFC 1047): a connection
 *   lost after the final dot defers recipients the peer may have taken, and
 *   the retry may duplicate. Nothing in the protocol avoids it.
 */
#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "xtext.h"

/* Octets of an address we put between <>; the canonical text may quote. */
#define TXN_ADDR_MAX  (2 * 256 + 2)
#define TXN_ENVID_MAX 100 /* RFC 3461 §4.4 */
#define TXN_ORCPT_MAX 500 /* decoded address in ORCPT */

void txn_clear(struct txn *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->rcpts[i].addr);
		free(t->rcpts[i].orcpt);
		free(t->res[i].text);
	}
	free(t->rcpts);
	free(t->res);
	free(t->send);
	free(t->sender);
	free(t->envid);
	memset(t, 0, sizeof(*t));
}

const struct client_result *client_results(const struct client *c, size_t *n)
{
	*n = c->txn.n;
	return c->txn.res;
}

enum client_stage txn_stage(const struct client *c)
{
	const struct txn *t = &c->txn;
	if (t->answered == 0)
		return CLIENT_STAGE_MAIL;
	if (t->answered <= t->nsend)
		return CLIENT_STAGE_RCPT;
	return CLIENT_STAGE_DATA;
}

static int has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s > 127)
			return 1;
	return 0;
}

/* An address we can put into a command line: no control octet (no CRLF
 * injection), bounded. Its syntax is the peer's to judge. */
static int txn_addr_ok(const char *a, int allow_empty)
{
	size_t n = strlen(a);
	if ((n == 0 && !allow_empty) || n > TXN_ADDR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f)
			return 0;
	return 1;
}

static char *buf_take_str(struct buf *b)
{
	char *s = buf_strdup(b);
	buf_free(b);
	return s;
}

/* The ORCPT value to send ("type;xtext"), or NULL for none (see above). */
static char *txn_orcpt(const char *orcpt, const char *addr)
{
	char dec[TXN_ORCPT_MAX + 1];
	size_t declen = 0;
	struct buf enc;
	buf_init(&enc, 0);
	if (orcpt != NULL) {
		const char *semi = strchr(orcpt, ';');
		if (semi == NULL || semi == orcpt || semi - orcpt > 32)
			goto none;
		for (const char *q = orcpt; q < semi; q++) {
			int alnum =
			    (*q >= '0' && *q <= '9') || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z');
			if (!alnum && *q != '-')
				goto none;
		}
		if (xtext_decode(semi + 1, strlen(semi + 1), dec, sizeof(dec), &declen) == -1 ||
		    declen == 0)
			goto none;
		buf_append(&enc, orcpt, (size_t)(semi + 1 - orcpt));
	} else {
		if (has_8bit(addr) ||
		    strlen(addr) > TXN_ORCPT_MAX) /* would need RFC 6533's utf-8 type */
			goto none;
		declen = strlen(addr);
		memcpy(dec, addr, declen + 1);
		buf_append_str(&enc, "rfc822;");
	}
	xtext_encode(dec, declen, &enc);
	return buf_take_str(&enc);
none:
	buf_free(&enc);
	return NULL;
}

static void txn_final(struct client *c, size_t i, enum client_status st, enum client_stage stage,
                      int code, const char *enh, const char *text)
{
	if (c->txn.res[i].status == CLIENT_PENDING)
		client_result_set(&c->txn.res[i], st, stage, code, enh, text);
}

static void txn_final_reply(struct client *c, size_t i, enum client_stage stage,
                            const struct reply *r)
{
	txn_final(c, i, client_status_of(r->code), stage, r->code, r->enh, r->text);
}

void txn_fail_unfinished(struct client *c, enum client_stage stage, int code, const char *enh,
                         const char *text)
{
	for (size_t i = 0; i < c->txn.n; i++)
		txn_final(c, i, CLIENT_TEMP, stage, code, enh, text);
	c->txn.active = 0;
}

/* Every recipient is final: the connection is free for the next message. */
static void txn_finish(struct client *c)
{
	c->txn.active = 0;
	c->state = CS_READY;
}

static void txn_rset(struct client *c)
{
	c->txn.active = 0;
	client_send(c, "RSET\r\n");
	c->state = CS_RSET;
}

/* DSN parameters go to an SMTP peer that offers DSN; never over LMTP. */
static int txn_dsn(const struct client *c)
{
	return (c->caps.flags & CAPS_DSN) && !c->cfg.lmtp;
}

static void txn_send_mail(struct client *c)
{
	const struct txn *t = &c->txn;
	unsigned f = c->caps.flags;
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "MAIL FROM:<%s>", t->sender);
	if ((f & CAPS_SIZE) && t->size > 0)
		buf_printf(&b, " SIZE=%llu", (unsigned long long)t->size);
	if ((t->eightbit || t->smtputf8) && (f & CAPS_8BITMIME))
		buf_append_str(&b, " BODY=8BITMIME");
	if (t->smtputf8)
		buf_append_str(&b, " SMTPUTF8");
	if (txn_dsn(c)) {
		if (t->ret == CLIENT_RET_FULL)
			buf_append_str(&b, " RET=FULL");
		else if (t->ret == CLIENT_RET_HDRS)
			buf_append_str(&b, " RET=HDRS");
		if (t->envid != NULL) {
			buf_append_str(&b, " ENVID=");
			xtext_encode(t->envid, strlen(t->envid), &b);
		}
	}
	buf_append_str(&b, "\r\n");
	buf_append(&c->out, b.data, b.len);
	buf_free(&b);
}

static void txn_send_rcpt(struct client *c, size_t i)
{
	const struct txn_rcpt *r = &c->txn.rcpts[i];
	struct buf b;
	buf_init(&b, 0);
	buf_printf(&b, "RCPT TO:<%s>", r->addr);
	if (txn_dsn(c) && r->notify != 0) {
		if (r->notify & CLIENT_NOTIFY_NEVER) {
			buf_append_str(&b, " NOTIFY=NEVER");
		} else {
			static const struct {
				unsigned bit;
				const char *name;
			} kw[] = {{CLIENT_NOTIFY_SUCCESS, "SUCCESS"},
			          {CLIENT_NOTIFY_FAILURE, "FAILURE"},
			          {CLIENT_NOTIFY_DELAY, "DELAY"}};
			const char *sep = " NOTIFY=";
			for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++) {
				if (r->notify & kw[k].bit) {
					buf_printf(&b, "%s%s", sep, kw[k].name);
					sep = ",";
				}
			}
		}
	}
	if (txn_dsn(c) && r->orcpt != NULL)
		buf_printf(&b, " ORCPT=%s", r->orcpt);
	buf_append_str(&b, "\r\n");
	buf_append(&c->out, b.data, b.len);
	buf_free(&b);
}

/* Send command number t->sent of the sequence (MAIL, RCPT..., DATA). */
static void txn_send_next(struct client *c)
{
	struct txn *t = &c->txn;
	size_t k = t->sent++;
	if (k == 0)
		txn_send_mail(c);
	else if (k <= t->nsend)
		txn_send_rcpt(c, t->send[k - 1]);
	else
		client_send(c, "DATA\r\n");
}

/* Message-wide refusals made before anything is sent; NULL: none. */
static const char *txn_precheck(struct client *c, int sender_ok, char *why, size_t whylen)
{
	const struct txn *t = &c->txn;
	if (!sender_ok) {
		snprintf(why, whylen, "malformed sender address");
		return "5.1.7";
	}
	if ((c->caps.flags & CAPS_SIZE) && c->caps.size_max != 0 && t->size > c->caps.size_max) {
		snprintf(why, whylen,
		         "message size %llu exceeds the limit of %llu octets of the remote server",
		         (unsigned long long)t->size, (unsigned long long)c->caps.size_max);
		return "5.3.4";
	}
	if (t->smtputf8 && !(c->caps.flags & CAPS_SMTPUTF8)) {
		snprintf(why, whylen,
		         "the message needs SMTPUTF8, which the remote server does not offer");
		return "5.6.7";
	}
	if (t->eightbit && !(c->caps.flags & CAPS_8BITMIME) && c->cfg.strict_8bitmime) {
		snprintf(why, whylen,
		         "8-bit message, and the remote server does not offer 8BITMIME");
		return "5.6.3";
	}
	return NULL;
}

int client_message(struct client *c, const struct client_msg *m, char *err, size_t errlen)
{
	struct txn *t = &c->txn;
	if (c->state != CS_READY) {
		snprintf(err, errlen, "no message expected now");
		return -1;
	}
	if (m->n_rcpts == 0 || m->n_rcpts > CLIENT_MAX_RCPTS || m->sender == NULL) {
		snprintf(err, errlen, "a message needs a sender and 1 to %d recipients",
		         CLIENT_MAX_RCPTS);
		return -1;
	}
	txn_clear(t);
	t->n = m->n_rcpts;
	t->rcpts = xcalloc(t->n, sizeof(*t->rcpts));
	t->res = xcalloc(t->n, sizeof(*t->res));
	t->send = xcalloc(t->n, sizeof(*t->send));
	t->sender = xstrdup(m->sender);
	t->size = m->size;
	t->eightbit = m->eightbit;
	t->ret = m->ret;
	t->envid = m->envid != NULL && *m->envid && strlen(m->envid) <= TXN_ENVID_MAX
	               ? xstrdup(m->envid)
	               : NULL;
	t->smtputf8 = m->smtputf8 || has_8bit(m->sender);
	for (size_t i = 0; i < t->n; i++) {
		const char *a = m->rcpts[i].addr != NULL ? m->rcpts[i].addr : "";
		t->rcpts[i].addr = xstrdup(a);
		t->rcpts[i].notify = m->rcpts[i].notify;
		t->res[i].text = xstrdup("");
		if (has_8bit(a))
			t->smtputf8 = 1;
	}
	t->active = 1;

	char why[200];
	const char *enh = txn_precheck(c, txn_addr_ok(t->sender, 1), why, sizeof(why));
	for (size_t i = 0; i < t->n; i++) {
		struct txn_rcpt *r = &t->rcpts[i];
		if (enh != NULL)
			txn_final(c, i, CLIENT_PERM, CLIENT_STAGE_NONE, 0, enh, why);
		else if (!txn_addr_ok(r->addr, 0))
			txn_final(c, i, CLIENT_PERM, CLIENT_STAGE_NONE, 0, "5.1.3",
			          "malformed recipient address");
		else
			t->send[t->nsend++] = i;
		r->orcpt = txn_orcpt(m->rcpts[i].orcpt, r->addr);
	}
	if (t->nsend == 0) {
		txn_finish(c);
		return 0;
	}
	c->state = CS_TXN;
	if ((c->caps.flags & CAPS_PIPELINING) && !c->cfg.no_pipelining) {
		/* RFC 2920: MAIL, every RCPT and DATA in one write. */
		while (t->sent < t->nsend + 2)
			txn_send_next(c);
	} else {
		txn_send_next(c);
	}
	return 0;
}

/* Every command sent so far has its reply: send the next one, or end. */
static void txn_step(struct client *c)
{
	struct txn *t = &c->txn;
	if (t->mail_failed)
		txn_finish(c); /* no transaction is open */
	else if (t->sent <= t->nsend)
		txn_send_next(c); /* the next RCPT */
	else if (t->accepted == 0)
		txn_rset(c); /* no DATA for nobody */
	else
		txn_send_next(c); /* DATA */
}

static void txn_on_data(struct client *c, const struct reply *r)
{
	struct txn *t = &c->txn;
	int cls = r->code / 100;
	if (r->code == 354) {
		if (t->accepted > 0) {
			c->state = CS_BODY;
		} else {
			/* A pipelined DATA the server took although it refused
			 * every recipient: end it empty, then RSET. */
			client_send(c, ".\r\n");
			c->state = CS_DOT;
		}
		return;
	}
	if (cls != 4 && cls != 5) {
		client_protocol_error(c, CLIENT_STAGE_DATA, "unexpected reply to DATA");
		return;
	}
	for (size_t k = 0; k < t->nsend; k++)
		if (t->rcpts[t->send[k]].accepted)
			txn_final_reply(c, t->send[k], CLIENT_STAGE_DATA, r);
	if (t->mail_failed)
		txn_finish(c);
	else
		txn_rset(c);
}

void txn_on_reply(struct client *c, const struct reply *r)
{
	struct txn *t = &c->txn;
	size_t k = t->answered++;
	int cls = r->code / 100;
	if (k == t->nsend + 1) {
		txn_on_data(c, r);
		return;
	}
	if (cls == 3) {
		client_protocol_error(c, k == 0 ? CLIENT_STAGE_MAIL : CLIENT_STAGE_RCPT,
		                      "unexpected 3xx reply");
		return;
	}
	if (k == 0) {
		if (cls != 2) {
			t->mail_failed = 1;
			for (size_t j = 0; j < t->nsend; j++)
				txn_final_reply(c, t->send[j], CLIENT_STAGE_MAIL, r);
		}
	} else if (!t->mail_failed) {
		/* After a refused MAIL the RCPT replies are 503s (or a broken
		 * server's 250s): the MAIL reply stands for every recipient. */
		size_t i = t->send[k - 1];
		if (cls == 2) {
			t->rcpts[i].accepted = 1;
			t->accepted++;
		} else {
			txn_final_reply(c, i, CLIENT_STAGE_RCPT, r);
		}
	}
	if (t->answered == t->sent)
		txn_step(c);
}

void client_rset(struct client *c)
{
	if (c->state == CS_READY)
		txn_rset(c);
}

void client_body_done(struct client *c)
{
	if (c->state == CS_BODY)
		c->state = CS_EOD;
}

/* The next accepted recipient an LMTP end-of-data reply is for, from
 * t->eod_next on; t->nsend when none is left. */
static size_t txn_lmtp_next(struct txn *t)
{
	while (t->eod_next < t->nsend && !t->rcpts[t->send[t->eod_next]].accepted)
		t->eod_next++;
	return t->eod_next;
}

void txn_on_eod(struct client *c, const struct reply *r)
{
	struct txn *t = &c->txn;
	int cls = r->code / 100;
	if (cls == 3) {
		client_protocol_error(c, CLIENT_STAGE_EOD, "unexpected 3xx reply");
		return;
	}
	if (c->cfg.lmtp) {
		/* DATA went out only with an accepted recipient: one is due. */
		size_t k = txn_lmtp_next(t);
		if (k < t->nsend) {
			txn_final_reply(c, t->send[k], CLIENT_STAGE_EOD, r);
			t->eod_next++;
		}
		if (txn_lmtp_next(t) >= t->nsend)
			txn_finish(c);
		return;
	}
	for (size_t k = 0; k < t->nsend; k++) {
		size_t i = t->send[k];
		if (!t->rcpts[i].accepted)
			continue;
		txn_final_reply(c, i, CLIENT_STAGE_EOD, r);
		if (cls == 2 && (t->rcpts[i].notify & CLIENT_NOTIFY_SUCCESS) &&
		    !(c->caps.flags & CAPS_DSN))
			t->res[i].relayed = 1;
	}
	txn_finish(c);
}

void txn_on_dot(struct client *c, const struct reply *r)
{
	(void)r; /* whatever it says, nobody was accepted for this data */
	txn_rset(c);
}

void txn_on_rset(struct client *c, const struct reply *r)
{
	if (r->code / 100 == 2) {
		txn_finish(c);
		return;
	}
	if (r->code / 100 == 3) {
		client_protocol_error(c, CLIENT_STAGE_RSET, "unexpected 3xx reply");
		return;
	}
	/* The connection is in an unknown state: not reused. */
	client_fail_reply(c, CLIENT_TEMP, CLIENT_STAGE_RSET, r);
	client_send_quit(c);
}
