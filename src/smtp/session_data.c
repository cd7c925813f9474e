/*
 * session_data: the DATA command — ask the queue for a spool file, stream
 * the dot-unstuffed content into it with our Received: header first, and
 * reply 250 only after the queue has made message and envelope durable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "session_checks.h"
#include "util.h"
#include "xmalloc.h"

/* Spool writes are batched to this size: fewer syscalls per message. */
#define DATA_FLUSH_AT (64 * 1024)

void session_data_start(struct session *s)
{
	s->waiting = 1;
	smtp_server_request_new(s->srv, s);
}

/* final: the message ends with these octets. */
static int spool_write(struct session *s, int final)
{
	struct transaction *tx = &s->tx;
	session_checks_data(s, &tx->out, final); /* our A-R fields go; DKIM hashes */
	if (tx->out.len > 0 && !tx->write_error) {
		if (fd_write_all(tx->fd, tx->out.data, tx->out.len) == -1) {
			tx->write_error = errno;
		} else {
			tx->written += tx->out.len;
			/* summed as written: delivery checks the data against it */
			tx->data_crc = crc32c_update(tx->data_crc, tx->out.data, tx->out.len);
		}
	}
	buf_reset(&tx->out);
	return tx->write_error ? -1 : 0;
}

static void rfc5322_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static void received_header(struct session *s)
{
	struct transaction *tx = &s->tx;
	char date[64];
	rfc5322_date(date, sizeof(date));
	/* RFC 3848 (and RFC 6531 for UTF8SMTP) protocol names: S for TLS, A
	 * for an authenticated client. */
	char with[16];
	snprintf(with, sizeof(with), "%s%s%s",
	         tx->smtputf8 ? "UTF8SMTP"
	         : s->esmtp   ? "ESMTP"
	                      : "SMTP",
	         s->tls ? "S" : "", s->authenticated ? "A" : "");
	buf_printf(&tx->out, "Received: from %s ([%s])\r\n", s->helo, s->peer_text);
	if (s->tls)
		buf_printf(&tx->out, "\t(using %s)\r\n", s->tls_info);
	buf_printf(&tx->out, "\tby %s (Raven) with %s id %s", s->conf->hostname, with, tx->id);
	if (tx->n_rcpts == 1)
		buf_printf(&tx->out, "\r\n\tfor <%s>", tx->rcpts[0].addr.text);
	buf_printf(&tx->out, ";\r\n\t%s\r\n", date);
}

/*
 * Submission (RFC 6409 §8.2, §8.3): a message without Date: or Message-ID:
 * gets them, at the end of its header section — where the data reader
 * stopped, or at the end of a message that is all header.
 */
static void add_missing_headers(struct session *s)
{
	struct transaction *tx = &s->tx;
	char date[64];
	if (!(s->data.seen & DATA_SEEN_DATE)) {
		rfc5322_date(date, sizeof(date));
		buf_printf(&tx->out, "Date: %s\r\n", date);
	}
	if (!(s->data.seen & DATA_SEEN_MESSAGE_ID))
		buf_printf(&tx->out, "Message-ID: <%s.%s@%s>\r\n", tx->id, s->idtext,
		           s->conf->hostname);
	if ((s->data.seen & (DATA_SEEN_DATE | DATA_SEEN_MESSAGE_ID)) !=
	    (DATA_SEEN_DATE | DATA_SEEN_MESSAGE_ID))
		log_info("event=headers-added session=%s id=%s date=%d message-id=%d", s->idtext,
		         tx->id, !(s->data.seen & DATA_SEEN_DATE),
		         !(s->data.seen & DATA_SEEN_MESSAGE_ID));
}

void session_data_new_ok(struct session *s, const char *id, int fd)
{
	struct transaction *tx = &s->tx;
	s->waiting = 0;
	snprintf(tx->id, sizeof(tx->id), "%s", id);
	tx->fd = fd;
	tx->written = 0;
	tx->data_crc = 0;
	tx->write_error = 0;
	buf_reset(&tx->out);
	received_header(s);
	session_checks_data_start(s);
	data_reader_init(&s->data, s->conf->limits.message_size, s->conf->limits.text_line);
	s->data.stop_at_body = s->submission;
	s->state = S_DATA;
	session_watch_rate(s);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	session_resume(s);
}

static void reply_storage_error(struct session *s, uint32_t error)
{
	smtp_server_count(s->srv, MET_SMTP_MSG_REFUSED_TEMPFAIL);
	if (error == ENOSPC || error == EDQUOT)
		session_reply(s, "452 4.3.1 Insufficient system storage");
	else
		session_reply(s, "451 4.3.0 Local error in processing; try again later");
}

void session_data_new_fail(struct session *s, uint32_t error, const char *reason)
{
	s->waiting = 0;
	log_warn("event=spool-refused session=%s errno=%u reason=\"%s\"", s->idtext, error,
	         reason ? reason : "");
	reply_storage_error(s, error);
	session_resume(s);
}

void session_data_refuse(struct session *s, int code, const char *enh, const char *text)
{
	log_info("event=message-refused session=%s id=%s code=%d reason=\"%s\"", s->idtext,
	         s->tx.id, code, text);
	smtp_server_count(s->srv, strcmp(enh, "5.3.4") == 0   ? MET_SMTP_MSG_REFUSED_SIZE
	                          : strcmp(enh, "5.4.6") == 0 ? MET_SMTP_MSG_REFUSED_LOOP
	                                                      : MET_SMTP_MSG_REFUSED_CONTENT);
	smtp_server_abort(s->srv, s->tx.id);
	s->tx.id[0] = '\0';
	session_tx_reset(s);
	s->state = S_HELO;
	session_reply(s, "%d %s %s", code, enh, text);
}

/* The envelope as this session knows it; its strings stay the transaction's. */
static void fill_envelope(struct session *s, struct envelope_draft *e,
                          struct envelope_draft_rcpt *rcpts)
{
	struct transaction *tx = &s->tx;
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", tx->id);
	e->arrival = (int64_t)time(NULL);
	e->size = tx->written;
	e->data_crc = tx->data_crc;
	e->has_data_crc = 1;
	e->sender = session_sender(s);
	e->helo = s->helo;
	e->client = s->peer_text;
	e->envid = tx->envid[0] ? tx->envid : NULL;
	e->ret = (uint8_t)tx->ret;
	e->body = (uint8_t)tx->body;
	e->smtputf8 = (uint8_t)tx->smtputf8;
	e->auth = s->authenticated && s->login != NULL && s->login[0] ? s->login : NULL;
	e->trace = session_checks_trace(s);
	e->n_rcpts = tx->n_deliveries;
	e->rcpts = rcpts;
	size_t k = 0;
	for (size_t i = 0; i < tx->n_rcpts; i++) {
		const struct session_rcpt *r = &tx->rcpts[i];
		for (size_t j = 0; j < r->n_users; j++, k++) {
			rcpts[k].addr = r->addr.text;
			rcpts[k].orcpt = r->orcpt;
			rcpts[k].notify = r->notify;
			rcpts[k].action = r->action->name;
			rcpts[k].user = r->users[j];
		}
	}
}

static void data_finish(struct session *s)
{
	struct transaction *tx = &s->tx;
	struct smtp_reply r;
	session_unwatch_rate(s);
	if (s->submission && !s->data.stopped)
		add_missing_headers(s); /* the message never left its header section */
	spool_write(s, 1);
	close(tx->fd); /* the queue holds its own descriptor */
	tx->fd = -1;
	if (data_reader_verdict(&s->data, s->conf->limits.hops, &r) == -1) {
		session_data_refuse(s, r.code, r.enh, r.text);
		return;
	}
	if (tx->write_error) {
		int err = tx->write_error;
		log_warn("event=spool-write-failed session=%s id=%s errno=%d", s->idtext, tx->id,
		         err);
		smtp_server_abort(s->srv, tx->id);
		tx->id[0] = '\0';
		session_tx_reset(s);
		s->state = S_HELO;
		reply_storage_error(s, (uint32_t)err);
		return;
	}
	s->state = S_HELO;              /* input after the end marker is the next command */
	if (session_checks_dot(s) == 0) /* DMARC may refuse, or wait for lookups */
		session_data_commit(s);
}

void session_data_commit(struct session *s)
{
	struct transaction *tx = &s->tx;
	struct envelope_draft e;
	struct envelope_draft_rcpt *rcpts = xcalloc(tx->n_deliveries, sizeof(*rcpts));
	fill_envelope(s, &e, rcpts);
	s->waiting = 1;
	smtp_server_request_commit(s->srv, s, &e);
	free(rcpts);
}

size_t session_data_feed(struct session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;
	enum data_result r = data_reader_feed(&s->data, p, n, &used, &s->tx.out);
	if (r == DATA_HEADER_END) {
		size_t more = 0;
		add_missing_headers(s);
		r = data_reader_feed(&s->data, p + used, n - used, &more, &s->tx.out);
		used += more;
	}
	if (s->tx.out.len >= DATA_FLUSH_AT)
		spool_write(s, 0);
	if (r == DATA_DONE)
		data_finish(s);
	return used;
}

void session_data_commit_ok(struct session *s)
{
	struct transaction *tx = &s->tx;
	char esc[600];
	s->waiting = 0;
	log_escape(esc, sizeof(esc), session_sender(s), strlen(session_sender(s)));
	log_info("event=queued session=%s id=%s from=\"%s\" rcpts=%zu size=%llu", s->idtext, tx->id,
	         esc, tx->n_deliveries, (unsigned long long)tx->written);
	smtp_server_count(s->srv, MET_SMTP_MSG_ACCEPTED);
	metrics_add(smtp_server_metrics(s->srv), MET_SMTP_MSG_BYTES, tx->written);
	session_reply(s, "250 2.0.0 Ok: queued as %s", tx->id);
	tx->id[0] = '\0';
	session_tx_reset(s);
	session_resume(s);
}

void session_data_commit_fail(struct session *s, uint32_t error, const char *reason)
{
	s->waiting = 0;
	log_warn("event=commit-failed session=%s id=%s errno=%u reason=\"%s\"", s->idtext, s->tx.id,
	         error, reason ? reason : "");
	s->tx.id[0] = '\0'; /* the queue already discarded it */
	session_tx_reset(s);
	reply_storage_error(s, error);
	session_resume(s);
}
