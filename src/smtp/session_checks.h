/*
 * session_checks: the sender checks of one SMTP session — DNSBL at
 * connect, SPF at MAIL FROM, DKIM verification as the message streams,
 * DMARC at the final dot — and the Authentication-Results header they
 * make (RFC 8601), kept in the envelope for delivery to put at the top.
 * Our own Authentication-Results fields are removed from every message as
 * it streams, checked or not.
 *
 * The checks apply to clients outside the local networks that have not
 * authenticated; every DNS question goes to the resolver role through the
 * queue (smtp_server_dns), so nothing here blocks the loop. Where a reply
 * depends on a verdict (MAIL FROM with reject policies, the final dot),
 * the session stops reading (checks_wait) until the lookups are in or
 * their time is up, then replies; the message is still acknowledged only
 * after the queue has committed it.
 */
#ifndef RAVEN_SESSION_CHECKS_H
#define RAVEN_SESSION_CHECKS_H

#include "buf.h"

struct session;

/* The longest the final dot waits for DKIM keys and DMARC policies; what
 * has not come by then is a temporary error (recorded, never refused). */
#define CHECKS_DOT_WAIT_MS 10000

/* At connect: whether the checks apply, and the DNSBL lookups. */
void session_checks_connect(struct session *s);
void session_checks_free(struct session *s);
/* A new transaction (or none): the previous one's checks are dropped. */
void session_checks_tx_reset(struct session *s);
/*
 * MAIL FROM is accepted as far as the session goes (state S_MAIL, sender
 * set): 0 if the caller replies 250 now, 1 if the checks have replied (a
 * refusal) or will once their lookups are in.
 */
int session_checks_mail(struct session *s);
/* DATA: the message starts streaming. */
void session_checks_data_start(struct session *s);
/* The octets in out are about to be written to the spool: filtered in
 * place (our Authentication-Results go) and fed to the DKIM verifier.
 * final: nothing follows. */
void session_checks_data(struct session *s, struct buf *out, int final);
/*
 * The final dot of an acceptable message: 0 to commit now (the trace is
 * ready); 1 if the checks finish it — now with a refusal, or later with
 * session_data_commit() or a refusal.
 */
int session_checks_dot(struct session *s);
/* The header fields for the envelope's TRACE record, or NULL. */
const char *session_checks_trace(const struct session *s);

#endif
