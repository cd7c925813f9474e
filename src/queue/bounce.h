/*
 * bounce: builds delivery status notifications (RFC 3464 inside an RFC 6522
 * multipart/report) for the queue. The builder is pure apart from reading
 * the original message through pread: the caller passes the clock, the
 * hostname and the per-recipient results, so every DSN can be reproduced
 * byte for byte in tests. Everything that reaches a header or a DSN field
 * (remote replies above all) is cleaned of control characters and folded
 * or cut to stay within RFC 5322's 998-octet line limit.
 */
#ifndef RAVEN_BOUNCE_H
#define RAVEN_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mailparams.h"

enum dsn_kind { DSN_FAILURE = 1, DSN_DELAY, DSN_SUCCESS };

/* Headers-only attachments stop after this many octets of the original. */
#define BOUNCE_HDRS_MAX (64u * 1024u)
/* Diagnostics longer than this (after cleaning) are cut and marked "...". */
#define BOUNCE_DIAG_MAX 2000u

struct dsn_rcpt {
	const char *addr;   /* envelope recipient: Final-Recipient: rfc822; addr */
	const char *orcpt;  /* ORCPT as given at RCPT ("rfc822;xtext", "utf-8;..."), NULL if
	                       none; Original-Recipient shows it decoded when that gives UTF-8
	                       without controls, else as given */
	const char *action; /* "failed" | "delayed" | "delivered" | "relayed" | "expanded";
	                       NULL or anything else: the action that matches the kind */
	const char *status; /* "5.1.1", "4.4.1", "2.0.0"; NULL or malformed: the code the
	                       diagnostic starts with ("5.2.0 ...", "550 5.1.1 ...") if it
	                       is of the action's class, else a default of that class
	                       ("5.0.0", "4.0.0", "2.0.0") */
	const char
	    *remote_mta; /* NULL for local deliveries, else the host (Remote-MTA: dns; host) */
	const char
	    *diagnostic; /* text of the last error (remote SMTP reply or local reason), or NULL */
	int diagnostic_is_smtp; /* 1: "Diagnostic-Code: smtp; ..."; 0: "Diagnostic-Code: X-Raven;
	                           ..." */
	int64_t last_attempt;   /* unix time, 0 if never tried */
	int64_t retry_until;    /* delayed only: Will-Retry-Until, 0 if none */
};

struct dsn_request {
	enum dsn_kind kind;
	const char *reporting_mta; /* our hostname */
	const char *queue_id;      /* original queue id (X-Raven-Queue-ID, Message-ID, boundary) */
	const char *envid;         /* ENVID (xtext-decoded) or NULL -> Original-Envelope-Id */
	int ret;                   /* enum dsn_ret (mailparams.h) */
	const char *sender;        /* original envelope sender: the DSN's To:; never "" */
	int64_t arrival;           /* Arrival-Date; 0 leaves the field out */
	int64_t now;               /* Date:, Message-ID and boundary */
	const struct dsn_rcpt *rcpts;
	size_t n_rcpts;
};

/*
 * Build the whole DSN message (RFC 5322 header + multipart/report body) with
 * CRLF line ends, appended to out. The original message is read from data_fd
 * (spool data: an RFC 5322 message with CRLF line ends, possibly starting
 * with our Received: header) with pread, data_size octets from offset 0.
 *
 * What is attached: for a failure with RET=FULL, the whole message as
 * message/rfc822 if it is at most max_full octets and fit to be carried
 * unchanged (CRLF line ends only, no NUL, lines of at most 998 octets);
 * otherwise, and for RET=HDRS, no RET, delays and successes, its header
 * section only (text/rfc822-headers, at most BOUNCE_HDRS_MAX octets, cleaned
 * line by line), with a note in the human-readable part when FULL was asked
 * for but not honoured.
 *
 * When a recipient address, ORCPT or the sender is not ASCII (SMTPUTF8 mail),
 * the report is the RFC 6533 variant: message/global-delivery-status,
 * "utf-8" address types, message/global or message/global-headers.
 *
 * The sender must not be empty: a bounce is never bounced.
 * Returns 0, or -1 with a reason in err (out is then left as it was).
 */
int bounce_build(const struct dsn_request *rq, int data_fd, uint64_t data_size, uint64_t max_full,
                 struct buf *out, char *err, size_t errlen);

/* 1 if p[0..n) has any octet >= 0x80: the DSN then needs BODY=8BITMIME (or
 * SMTPUTF8) when it is sent. */
int bounce_is_8bit(const void *p, size_t n);

#endif
