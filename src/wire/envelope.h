/*
 * envelope: the spool's envelope record codec (docs/SPOOL.md). Pure: bytes
 * in, struct out, bounded, and every record self-validating.
 *
 * File layout: magic "RAVENENV" + u32 version (3 or 2; version 1, without
 * the data checksum, is still read), then records. A record is
 *   u8 type, u32 payload length, payload, u32 CRC-32 of (type, length, payload).
 * The committed part is HEADER, SENDER, PARAMS, in version 3 an optional
 * TRACE (the authenticated login and the header fields our checks made),
 * one RCPT per recipient and END (carrying the recipient count). A file without a valid END is
 * incomplete by definition: envelope_decode() fails and the message is
 * never delivered. After END, STATE records may be appended (one per
 * delivery outcome); a torn final STATE record (short read) is ignored — it
 * never happened — but a complete record with a bad CRC is corruption.
 */
#ifndef RAVEN_ENVELOPE_H
#define RAVEN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mailparams.h"

/* Version 2 adds the data file's CRC-32C to HEADER; version 3 the TRACE
 * record. An envelope is written in the lowest version that holds it (1
 * without a checksum, 2 without TRACE), and all three are read. */
#define ENVELOPE_VERSION   2
#define ENVELOPE_VERSION_1 1
#define ENVELOPE_VERSION_3 3
/* TRACE: header fields delivery puts at the top of the message (our
 * Authentication-Results, a quarantine mark), and the SMTP AUTH login. */
#define ENVELOPE_TRACE_MAX 16384
#define ENVELOPE_LOGIN_MAX 255
#define ENVELOPE_MAX_RCPTS 100000
#define ENVELOPE_MAX_STR   4096
#define ENVELOPE_ID_MAX    32
/* Times (unix seconds) are 0 .. 2^40: arithmetic on them cannot overflow. */
#define ENVELOPE_TIME_MAX ((uint64_t)1 << 40)

enum rcpt_state {
	RCPT_PENDING = 0,
	RCPT_DEFERRED, /* temporary failure, retried at next_try */
	RCPT_HELD,
	RCPT_DELIVERED,
	RCPT_FAILED, /* permanent failure or expired */
};

struct envelope_rcpt {
	char *addr;      /* envelope recipient as given at RCPT (canonical text) */
	char *orcpt;     /* DSN ORCPT or NULL */
	uint32_t notify; /* DSN NOTIFY bits (mailparams.h), 0 if absent */
	char *action;    /* name of the config action */
	char *user;      /* final mailbox for local actions, NULL for relay */
	/* delivery state, from the last STATE record (PENDING if none) */
	uint8_t state;
	uint32_t attempts;
	int64_t next_try;  /* unix seconds */
	char *last_error;  /* NULL if none */
	uint32_t notified; /* DSNs already sent for it (ENVELOPE_NOTIFIED_* bits + delay count) */
	int64_t last_attempt; /* unix seconds, 0 if never tried */
};

/* envelope_rcpt.notified: what was already reported to the sender. */
#define ENVELOPE_NOTIFIED_FINAL       1u /* failure or success DSN sent */
#define ENVELOPE_NOTIFIED_DELAY_SHIFT 8u /* delay warnings sent, in the bits above */

struct envelope {
	char id[ENVELOPE_ID_MAX + 1];
	int64_t arrival;      /* unix seconds */
	uint64_t size;        /* octets in the data file */
	uint32_t data_crc;    /* CRC-32C of those octets (crc32c.h) ... */
	uint8_t has_data_crc; /* ... when set (0: a version 1 envelope) */
	char *sender;         /* "" for <> */
	char *helo;
	char *client; /* client address text */
	char *envid;  /* DSN ENVID or NULL */
	uint8_t ret;  /* DSN RET (enum dsn_ret values), 0 if absent */
	uint8_t body; /* BODY= (enum body_type values) */
	uint8_t smtputf8;
	char *auth;  /* the SMTP AUTH login the message was submitted under, or NULL */
	char *trace; /* header fields to put at the top on delivery, or NULL */
	size_t n_rcpts;
	struct envelope_rcpt *rcpts;
};

/*
 * A new message's envelope as its author builds it (the smtp session at
 * the end of DATA, the queue for a notice): every string is borrowed from
 * the builder, so a draft is encoded or copied, never freed. Decoding and
 * envelope_from_draft() give the owned `struct envelope` (free it with
 * envelope_free); the two cannot be mistaken for each other.
 */
struct envelope_draft_rcpt {
	const char *addr;
	const char *orcpt; /* or NULL */
	uint32_t notify;
	const char *action;
	const char *user; /* or NULL */
};

struct envelope_draft {
	char id[ENVELOPE_ID_MAX + 1];
	int64_t arrival;
	uint64_t size;
	uint32_t data_crc; /* of the data file, when has_data_crc */
	uint8_t has_data_crc;
	const char *sender; /* "" for <> */
	const char *helo;
	const char *client;
	const char *envid; /* or NULL */
	uint8_t ret, body, smtputf8;
	const char *auth;  /* or NULL */
	const char *trace; /* or NULL; envelope_trace_valid() */
	size_t n_rcpts;
	const struct envelope_draft_rcpt *rcpts;
};

/* Encode a draft (header .. END, every recipient pending), appended to out;
 * 0, or -1 (out unchanged) as envelope_encode(). */
int envelope_encode_draft(const struct envelope_draft *d, struct buf *out);
/* An owned copy of a draft (dst overwritten, not freed first). */
void envelope_from_draft(struct envelope *dst, const struct envelope_draft *d);

/*
 * Encode the committed part (header .. END), appended to out. A recipient
 * whose delivery state is not the initial one (PENDING, 0 attempts, no
 * next_try, no error) is followed after END by one STATE record, so that
 * encode(decode(x)) is a faithful, compacted copy of x. 0, or -1 (out
 * unchanged) if a field is over a limit or invalid (bad id, bad enum value,
 * no recipients) or out's maximum is reached.
 */
int envelope_encode(const struct envelope *e, struct buf *out);
/* Encode one STATE record with recipient idx's whole delivery state. */
int envelope_encode_rcpt_state(uint32_t idx, const struct envelope_rcpt *r, struct buf *out);
/* The same from loose fields (notified and last_attempt 0). */
int envelope_encode_state(uint32_t idx, uint8_t state, uint32_t attempts, int64_t next_try,
                          const char *last_error, struct buf *out);
/*
 * Decode a whole file image. 0 ok, or -1 with a reason in err. Applies the
 * STATE records in order. On failure e is left empty (nothing to free); on
 * success the caller releases it with envelope_free().
 */
int envelope_decode(const uint8_t *p, size_t n, struct envelope *e, char *err, size_t errlen);
/*
 * As envelope_decode(), and *used gets the number of octets that decoded:
 * less than n exactly when a torn trailing STATE record was ignored. The
 * spool cuts the file back to *used before appending after it.
 */
int envelope_decode_prefix(const uint8_t *p, size_t n, struct envelope *e, size_t *used, char *err,
                           size_t errlen);
void envelope_free(struct envelope *e);
/* Deep copy; dst is overwritten, not freed first. */
void envelope_copy(struct envelope *dst, const struct envelope *src);

/*
 * 1 if s (len octets) is header fields fit to put at the top of a message:
 * 1..ENVELOPE_TRACE_MAX octets of whole CRLF-ended lines of at most 998
 * octets, each field opening with a name and a colon, continuation lines
 * with a space or tab, no control character but tab and no lone CR or LF.
 */
int envelope_trace_valid(const char *s, size_t len);
/* 1 if s is a login fit for TRACE: 1..ENVELOPE_LOGIN_MAX octets, none a
 * control character. */
int envelope_login_valid(const char *s);

/* A message id: 1..ENVELOPE_ID_MAX characters, each [0-9A-Za-z]. 1 if valid. */
int envelope_id_valid(const char *id);

#endif
