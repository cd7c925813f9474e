/*
 * envelope: encoder and decoder of the spool's envelope files (byte layout
 * in docs/SPOOL.md). The decoder treats its input as hostile: a file may
 * have been torn by a crash, damaged by the disk, or edited by hand, and the
 * one thing it must never do is hand back a half-valid envelope that the
 * scheduler would then half-deliver. So every record carries its own length
 * and CRC, records come in one fixed order, and any surprise is an error.
 */
#include "envelope.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "util.h"
#include "xmalloc.h"

static const uint8_t env_magic[8] = {'R', 'A', 'V', 'E', 'N', 'E', 'N', 'V'};
#define ENV_PREAMBLE 12u /* magic + u32 version */

enum rec_type {
	REC_HEADER = 1,
	REC_SENDER = 2,
	REC_PARAMS = 3,
	REC_RCPT = 4,
	REC_END = 5,
	REC_STATE = 6,
	REC_TRACE = 7, /* version 3 (only): right after PARAMS */
};

/* type u8 + length u32 before the payload, CRC u32 after it */
#define REC_HEAD     5u
#define REC_OVERHEAD 9u
/* The largest payload any record can legitimately have: RCPT with four
 * strings at their limit. Anything longer is corruption, not a big record. */
#define REC_MAX_PAYLOAD (4u * (4u + ENVELOPE_MAX_STR) + 16u)
/* STATE: idx u32, state u8, attempts u32, next_try u64, notified u32,
 * last_attempt u64, then the optional error text (flag u8 [+ string]). */
#define STATE_FIXED       29u
#define STATE_MAX_PAYLOAD (STATE_FIXED + 1u + 4u + ENVELOPE_MAX_STR)
/* TRACE: two optional strings, the login and the header fields. */
#define TRACE_MAX_PAYLOAD (2u * 5u + ENVELOPE_LOGIN_MAX + ENVELOPE_TRACE_MAX)

/*
 * Accepted ranges of the SMTP parameters, mirroring enum dsn_ret, enum
 * body_type and the NOTIFY_* bits of src/smtp/cmd_parse.h; the queue does
 * not link the smtp area, and a value outside them means a damaged file.
 */
#define ENV_RET_MAX    2u
#define ENV_BODY_MAX   3u
#define ENV_NOTIFY_ALL 0x0fu

int envelope_id_valid(const char *id)
{
	if (id == NULL)
		return 0;
	size_t i;
	for (i = 0; i <= ENVELOPE_ID_MAX && id[i] != '\0'; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return i >= 1 && i <= ENVELOPE_ID_MAX && id[i] == '\0';
}

static int64_t u64_to_i64(uint64_t v)
{
	/* Two's complement without relying on implementation-defined casts. */
	if (v <= (uint64_t)INT64_MAX)
		return (int64_t)v;
	return -(int64_t)(~v) - 1;
}

/* ---- encoding ---- */

static void put_le32_at(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Start a record: type and a length placeholder; returns its offset. */
static int rec_begin(struct buf *out, uint8_t type, size_t *off)
{
	*off = out->len;
	if (buf_put_u8(out, type) == -1 || buf_put_u32(out, 0) == -1)
		return -1;
	return 0;
}

static size_t rec_max_payload(uint8_t type)
{
	return type == REC_STATE   ? STATE_MAX_PAYLOAD
	       : type == REC_TRACE ? TRACE_MAX_PAYLOAD
	                           : REC_MAX_PAYLOAD;
}

/* Patch the length in and append the CRC of type, length and payload. */
static int rec_end(struct buf *out, size_t off)
{
	size_t plen = out->len - off - REC_HEAD;
	if (plen > rec_max_payload(out->data[off]))
		return -1;
	put_le32_at(out->data + off + 1, (uint32_t)plen);
	return buf_put_u32(out, crc32_update(0, out->data + off, out->len - off));
}

static int str_ok(const char *s)
{
	return s == NULL || strlen(s) <= ENVELOPE_MAX_STR;
}

static int put_opt_str(struct buf *out, const char *s)
{
	if (s == NULL)
		return buf_put_u8(out, 0);
	if (buf_put_u8(out, 1) == -1)
		return -1;
	return buf_put_str(out, s);
}

static int rcpt_has_state(const struct envelope_rcpt *r)
{
	return r->state != RCPT_PENDING || r->attempts != 0 || r->next_try != 0 ||
	       r->last_error != NULL || r->notified != 0 || r->last_attempt != 0;
}

static int time_ok(int64_t t)
{
	return t >= 0 && (uint64_t)t <= ENVELOPE_TIME_MAX;
}

int envelope_login_valid(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= ENVELOPE_LOGIN_MAX)
			return 0;
	return n > 0;
}

int envelope_trace_valid(const char *s, size_t len)
{
	if (len == 0 || len > ENVELOPE_TRACE_MAX)
		return 0;
	size_t line = 0; /* where the current line starts */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n' || i - line > 998)
				return 0;
			/* a field opens with its name and a colon; folding with WSP */
			if (s[line] != ' ' && s[line] != '\t') {
				size_t k = line;
				while (k < i && s[k] > ' ' && s[k] < 0x7f && s[k] != ':')
					k++;
				if (k == line || k == i || s[k] != ':')
					return 0;
			} else if (line == 0) {
				return 0;
			}
			line = ++i + 1;
		} else if (c == '\n' || c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f) {
			return 0;
		}
	}
	return line == len;
}

static int draft_check(const struct envelope_draft *e)
{
	if (!time_ok(e->arrival))
		return -1;
	if (!envelope_id_valid(e->id))
		return -1;
	if (!str_ok(e->sender) || !str_ok(e->helo) || !str_ok(e->client) || !str_ok(e->envid))
		return -1;
	if (e->ret > ENV_RET_MAX || e->body > ENV_BODY_MAX || e->smtputf8 > 1 ||
	    e->has_data_crc > 1)
		return -1;
	/* TRACE is version 3, which has the checksum */
	if ((e->auth != NULL || e->trace != NULL) &&
	    (!e->has_data_crc || (e->auth != NULL && !envelope_login_valid(e->auth)) ||
	     (e->trace != NULL && !envelope_trace_valid(e->trace, strlen(e->trace)))))
		return -1;
	if (e->n_rcpts == 0 || e->n_rcpts > ENVELOPE_MAX_RCPTS || e->rcpts == NULL)
		return -1;
	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct envelope_draft_rcpt *r = &e->rcpts[i];
		if (!str_ok(r->addr) || !str_ok(r->orcpt) || !str_ok(r->action) ||
		    !str_ok(r->user) || (r->notify & ~ENV_NOTIFY_ALL) != 0)
			return -1;
	}
	return 0;
}

/* The delivery state of an owned envelope's recipients. */
static int state_check(const struct envelope *e)
{
	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];
		if (!str_ok(r->last_error) || r->state > RCPT_FAILED || !time_ok(r->next_try) ||
		    !time_ok(r->last_attempt))
			return -1;
	}
	return 0;
}

static int encode_state(uint32_t idx, const struct envelope_rcpt *r, struct buf *out)
{
	size_t off;
	if (rec_begin(out, REC_STATE, &off) == -1 || buf_put_u32(out, idx) == -1 ||
	    buf_put_u8(out, r->state) == -1 || buf_put_u32(out, r->attempts) == -1 ||
	    buf_put_u64(out, (uint64_t)r->next_try) == -1 || buf_put_u32(out, r->notified) == -1 ||
	    buf_put_u64(out, (uint64_t)r->last_attempt) == -1 ||
	    put_opt_str(out, r->last_error) == -1)
		return -1;
	return rec_end(out, off);
}

/* The committed part: magic, version, HEADER, SENDER, PARAMS, RCPTs, END. */
static int encode_committed(const struct envelope_draft *e, struct buf *out)
{
	size_t off;
	int traced = e->auth != NULL || e->trace != NULL;
	uint32_t version = !e->has_data_crc ? ENVELOPE_VERSION_1
	                   : traced         ? ENVELOPE_VERSION_3
	                                    : ENVELOPE_VERSION;
	if (buf_append(out, env_magic, sizeof(env_magic)) == -1 || buf_put_u32(out, version) == -1)
		return -1;

	if (rec_begin(out, REC_HEADER, &off) == -1 || buf_put_str(out, e->id) == -1 ||
	    buf_put_u64(out, (uint64_t)e->arrival) == -1 || buf_put_u64(out, e->size) == -1 ||
	    (e->has_data_crc && buf_put_u32(out, e->data_crc) == -1) || rec_end(out, off) == -1)
		return -1;

	if (rec_begin(out, REC_SENDER, &off) == -1 || buf_put_str(out, e->sender) == -1 ||
	    buf_put_str(out, e->helo) == -1 || buf_put_str(out, e->client) == -1 ||
	    rec_end(out, off) == -1)
		return -1;

	if (rec_begin(out, REC_PARAMS, &off) == -1 || put_opt_str(out, e->envid) == -1 ||
	    buf_put_u8(out, e->ret) == -1 || buf_put_u8(out, e->body) == -1 ||
	    buf_put_u8(out, e->smtputf8) == -1 || rec_end(out, off) == -1)
		return -1;

	if (traced && (rec_begin(out, REC_TRACE, &off) == -1 || put_opt_str(out, e->auth) == -1 ||
	               put_opt_str(out, e->trace) == -1 || rec_end(out, off) == -1))
		return -1;

	for (size_t i = 0; i < e->n_rcpts; i++) {
		const struct envelope_draft_rcpt *r = &e->rcpts[i];
		if (rec_begin(out, REC_RCPT, &off) == -1 || buf_put_str(out, r->addr) == -1 ||
		    put_opt_str(out, r->orcpt) == -1 || buf_put_u32(out, r->notify) == -1 ||
		    buf_put_str(out, r->action) == -1 || put_opt_str(out, r->user) == -1 ||
		    rec_end(out, off) == -1)
			return -1;
	}

	if (rec_begin(out, REC_END, &off) == -1 || buf_put_u32(out, (uint32_t)e->n_rcpts) == -1 ||
	    rec_end(out, off) == -1)
		return -1;
	return 0;
}

int envelope_encode_draft(const struct envelope_draft *d, struct buf *out)
{
	if (draft_check(d) == -1)
		return -1;
	size_t start = out->len;
	if (encode_committed(d, out) == -1) {
		out->len = start;
		return -1;
	}
	return 0;
}

/* A draft that borrows an owned envelope's strings (rcpts allocated). */
static void draft_of(struct envelope_draft *d, const struct envelope *e)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->id, e->id, sizeof(d->id));
	d->arrival = e->arrival;
	d->size = e->size;
	d->data_crc = e->data_crc;
	d->has_data_crc = e->has_data_crc;
	d->sender = e->sender;
	d->helo = e->helo;
	d->client = e->client;
	d->envid = e->envid;
	d->ret = e->ret;
	d->body = e->body;
	d->smtputf8 = e->smtputf8;
	d->auth = e->auth;
	d->trace = e->trace;
	d->n_rcpts = e->n_rcpts;
	struct envelope_draft_rcpt *r = xcalloc(e->n_rcpts ? e->n_rcpts : 1, sizeof(*r));
	for (size_t i = 0; i < e->n_rcpts; i++) {
		r[i].addr = e->rcpts[i].addr;
		r[i].orcpt = e->rcpts[i].orcpt;
		r[i].notify = e->rcpts[i].notify;
		r[i].action = e->rcpts[i].action;
		r[i].user = e->rcpts[i].user;
	}
	d->rcpts = e->rcpts ? r : NULL;
	if (e->rcpts == NULL)
		free(r);
}

int envelope_encode(const struct envelope *e, struct buf *out)
{
	struct envelope_draft d;
	draft_of(&d, e);
	int rc = draft_check(&d) == -1 || state_check(e) == -1 ? -1 : 0;
	size_t start = out->len;
	if (rc == 0)
		rc = encode_committed(&d, out);
	for (size_t i = 0; rc == 0 && i < e->n_rcpts; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];
		if (rcpt_has_state(r))
			rc = encode_state((uint32_t)i, r, out);
	}
	if (rc == -1)
		out->len = start;
	free((void *)d.rcpts);
	return rc;
}

int envelope_encode_rcpt_state(uint32_t idx, const struct envelope_rcpt *r, struct buf *out)
{
	if (r->state > RCPT_FAILED || idx >= ENVELOPE_MAX_RCPTS || !str_ok(r->last_error) ||
	    !time_ok(r->next_try) || !time_ok(r->last_attempt))
		return -1;
	size_t start = out->len;
	if (encode_state(idx, r, out) == -1) {
		out->len = start;
		return -1;
	}
	return 0;
}

int envelope_encode_state(uint32_t idx, uint8_t state, uint32_t attempts, int64_t next_try,
                          const char *last_error, struct buf *out)
{
	struct envelope_rcpt r = {0};
	r.state = state;
	r.attempts = attempts;
	r.next_try = next_try;
	r.last_error = (char *)last_error;
	return envelope_encode_rcpt_state(idx, &r, out);
}

/* ---- decoding ---- */

static const char *rec_name(uint8_t type)
{
	switch (type) {
	case REC_HEADER:
		return "HEADER";
	case REC_SENDER:
		return "SENDER";
	case REC_PARAMS:
		return "PARAMS";
	case REC_RCPT:
		return "RCPT";
	case REC_END:
		return "END";
	case REC_STATE:
		return "STATE";
	case REC_TRACE:
		return "TRACE";
	default:
		return "?";
	}
}

static int get_opt_str_max(struct reader *r, char **s, size_t max)
{
	uint8_t present;
	*s = NULL;
	if (reader_u8(r, &present) == -1 || present > 1) {
		r->err = 1;
		return -1;
	}
	return present ? reader_str(r, s, max) : 0;
}

static int get_opt_str(struct reader *r, char **s)
{
	return get_opt_str_max(r, s, ENVELOPE_MAX_STR);
}

/* Version 2's HEADER ends with the data file's CRC-32C; version 1's does not. */
static int decode_header(struct reader *r, struct envelope *e, uint32_t version)
{
	const uint8_t *id;
	size_t idlen;
	uint64_t arrival;
	if (reader_bytes(r, &id, &idlen, ENVELOPE_ID_MAX) == -1 || reader_u64(r, &arrival) == -1 ||
	    reader_u64(r, &e->size) == -1)
		return -1;
	if (version >= ENVELOPE_VERSION) {
		if (reader_u32(r, &e->data_crc) == -1)
			return -1;
		e->has_data_crc = 1;
	}
	memcpy(e->id, id, idlen);
	e->id[idlen] = '\0';
	if (arrival > ENVELOPE_TIME_MAX)
		return -1;
	e->arrival = u64_to_i64(arrival);
	/* also catches an embedded NUL: the string would come out shorter */
	if (strlen(e->id) != idlen || !envelope_id_valid(e->id))
		return -1;
	return 0;
}

static int decode_sender(struct reader *r, struct envelope *e)
{
	if (reader_str(r, &e->sender, ENVELOPE_MAX_STR) == -1 ||
	    reader_str(r, &e->helo, ENVELOPE_MAX_STR) == -1 ||
	    reader_str(r, &e->client, ENVELOPE_MAX_STR) == -1)
		return -1;
	return 0;
}

static int decode_params(struct reader *r, struct envelope *e)
{
	if (get_opt_str(r, &e->envid) == -1 || reader_u8(r, &e->ret) == -1 ||
	    reader_u8(r, &e->body) == -1 || reader_u8(r, &e->smtputf8) == -1)
		return -1;
	if (e->ret > ENV_RET_MAX || e->body > ENV_BODY_MAX || e->smtputf8 > 1)
		return -1;
	return 0;
}

static int decode_trace(struct reader *r, struct envelope *e)
{
	if (get_opt_str_max(r, &e->auth, ENVELOPE_LOGIN_MAX) == -1 ||
	    get_opt_str_max(r, &e->trace, ENVELOPE_TRACE_MAX) == -1)
		return -1;
	if ((e->auth == NULL && e->trace == NULL) ||
	    (e->auth != NULL && !envelope_login_valid(e->auth)) ||
	    (e->trace != NULL && !envelope_trace_valid(e->trace, strlen(e->trace))))
		return -1;
	return 0;
}

static int decode_rcpt(struct reader *r, struct envelope *e, size_t *cap)
{
	if (e->n_rcpts >= ENVELOPE_MAX_RCPTS)
		return -1;
	if (e->n_rcpts == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		if (ncap > ENVELOPE_MAX_RCPTS)
			ncap = ENVELOPE_MAX_RCPTS;
		e->rcpts = xreallocarray(e->rcpts, ncap, sizeof(*e->rcpts));
		*cap = ncap;
	}
	struct envelope_rcpt *rc = &e->rcpts[e->n_rcpts];
	memset(rc, 0, sizeof(*rc));
	/* counted before parsing so envelope_free() releases a half-filled one */
	e->n_rcpts++;
	if (reader_str(r, &rc->addr, ENVELOPE_MAX_STR) == -1 || get_opt_str(r, &rc->orcpt) == -1 ||
	    reader_u32(r, &rc->notify) == -1 ||
	    reader_str(r, &rc->action, ENVELOPE_MAX_STR) == -1 || get_opt_str(r, &rc->user) == -1)
		return -1;
	if ((rc->notify & ~ENV_NOTIFY_ALL) != 0)
		return -1;
	return 0;
}

static int decode_state(struct reader *r, struct envelope *e, char *err, size_t errlen)
{
	uint32_t idx, attempts, notified;
	uint8_t state;
	uint64_t next_try, last_attempt;
	char *last_error = NULL;
	if (reader_u32(r, &idx) == -1 || reader_u8(r, &state) == -1 ||
	    reader_u32(r, &attempts) == -1 || reader_u64(r, &next_try) == -1 ||
	    reader_u32(r, &notified) == -1 || reader_u64(r, &last_attempt) == -1 ||
	    get_opt_str(r, &last_error) == -1 || reader_done(r) == -1) {
		free(last_error);
		err_set(err, errlen, "malformed STATE record");
		return -1;
	}
	if (next_try > ENVELOPE_TIME_MAX || last_attempt > ENVELOPE_TIME_MAX) {
		free(last_error);
		err_set(err, errlen, "STATE record with a time out of range");
		return -1;
	}
	if (idx >= e->n_rcpts || state > RCPT_FAILED) {
		free(last_error);
		if (idx >= e->n_rcpts)
			err_set(err, errlen, "STATE index %u out of range", idx);
		else
			err_set(err, errlen, "STATE record with bad state %u", state);
		return -1;
	}
	struct envelope_rcpt *rc = &e->rcpts[idx];
	free(rc->last_error);
	rc->last_error = last_error;
	rc->state = state;
	rc->attempts = attempts;
	rc->next_try = u64_to_i64(next_try);
	rc->notified = notified;
	rc->last_attempt = u64_to_i64(last_attempt);
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Whether a STATE record cut short by the end of the file can be a torn
 * append rather than damage. An append writes a whole record, so only the
 * last one can be torn, and what survived of it must agree with itself:
 * the STATE payload is STATE_FIXED + 1 octets, or STATE_FIXED + 5 plus the
 * error text, which lets a
 * corrupted length field (which would otherwise make a good record, or
 * several, look torn) be told apart from a genuine tear.
 */
static int torn_state_plausible(const uint8_t *rec, size_t left, size_t n_rcpts)
{
	if (left < REC_HEAD)
		return 1;
	uint32_t plen = le32(rec + 1);
	const uint8_t *pl = rec + REC_HEAD;
	size_t have = left - REC_HEAD;
	if (plen != STATE_FIXED + 1 && plen < STATE_FIXED + 5)
		return 0;
	if (have >= 4 && le32(pl) >= n_rcpts)
		return 0;
	if (have >= 5 && pl[4] > RCPT_FAILED)
		return 0;
	if (have >= STATE_FIXED + 1) {
		uint8_t flag = pl[STATE_FIXED];
		if (flag > 1 || (flag == 0) != (plen == STATE_FIXED + 1))
			return 0;
	}
	if (have >= STATE_FIXED + 5 && pl[STATE_FIXED] == 1 &&
	    (uint64_t)le32(pl + STATE_FIXED + 1) + STATE_FIXED + 5 != plen)
		return 0;
	return 1;
}

static int decode_all(const uint8_t *p, size_t n, struct envelope *e, size_t *used, char *err,
                      size_t errlen)
{
	if (n < ENV_PREAMBLE || memcmp(p, env_magic, sizeof(env_magic)) != 0) {
		err_set(err, errlen, "not an envelope file (bad magic)");
		return -1;
	}
	uint32_t version = le32(p + sizeof(env_magic));
	if (version != ENVELOPE_VERSION && version != ENVELOPE_VERSION_1 &&
	    version != ENVELOPE_VERSION_3) {
		err_set(err, errlen, "unsupported envelope version %u", version);
		return -1;
	}

	/* Records must come in exactly this order; "next" is the one expected. */
	uint8_t next = REC_HEADER;
	size_t cap = 0;
	size_t off = ENV_PREAMBLE;
	while (off < n) {
		size_t left = n - off;
		uint8_t type = p[off];
		if (type < REC_HEADER || type > REC_TRACE) {
			err_set(err, errlen, "unknown record type %u at offset %zu", type, off);
			return -1;
		}
		uint32_t plen = left >= REC_HEAD ? le32(p + off + 1) : 0;
		size_t maxlen = rec_max_payload(type);
		if (plen > maxlen) {
			err_set(err, errlen, "%s record length %u over limit at offset %zu",
			        rec_name(type), plen, off);
			return -1;
		}
		if (left < REC_HEAD || left - REC_HEAD < (size_t)plen + 4) {
			/*
			 * A crash in the middle of an append tears the last STATE
			 * record: that outcome was never saved, so it never happened.
			 * Any other record cut short means the file is incomplete.
			 */
			if (type == REC_STATE && next == REC_STATE &&
			    torn_state_plausible(p + off, left, e->n_rcpts))
				break;
			err_set(err, errlen, "truncated %s record at offset %zu", rec_name(type),
			        off);
			return -1;
		}
		const uint8_t *payload = p + off + REC_HEAD;
		uint32_t crc = le32(payload + plen);
		if (crc != crc32_update(0, p + off, REC_HEAD + (size_t)plen)) {
			err_set(err, errlen, "%s record at offset %zu: bad checksum",
			        rec_name(type), off);
			return -1;
		}

		if (type != next && !(type == REC_END && next == REC_RCPT)) {
			if (type == REC_TRACE || next == REC_TRACE)
				err_set(err, errlen,
				        "missing or misplaced TRACE record at offset %zu", off);
			else if (type < next)
				err_set(err, errlen,
				        "duplicate or misplaced %s record at offset %zu",
				        rec_name(type), off);
			else
				err_set(err, errlen, "missing %s record before %s at offset %zu",
				        next == REC_RCPT ? "END" : rec_name(next), rec_name(type),
				        off);
			return -1;
		}

		struct reader r;
		reader_init(&r, payload, plen);
		int rc = 0;
		switch (type) {
		case REC_HEADER:
			rc = decode_header(&r, e, version);
			next = REC_SENDER;
			break;
		case REC_SENDER:
			rc = decode_sender(&r, e);
			next = REC_PARAMS;
			break;
		case REC_PARAMS:
			rc = decode_params(&r, e);
			next = version >= ENVELOPE_VERSION_3 ? REC_TRACE : REC_RCPT;
			break;
		case REC_TRACE:
			rc = decode_trace(&r, e);
			next = REC_RCPT;
			break;
		case REC_RCPT:
			rc = decode_rcpt(&r, e, &cap);
			break;
		case REC_END: {
			uint32_t count;
			if (reader_u32(&r, &count) == -1 || reader_done(&r) == -1) {
				err_set(err, errlen, "malformed END record at offset %zu", off);
				return -1;
			}
			if (e->n_rcpts == 0) {
				err_set(err, errlen, "no RCPT records");
				return -1;
			}
			if (count != e->n_rcpts) {
				err_set(err, errlen, "END says %u recipients, file has %zu", count,
				        e->n_rcpts);
				return -1;
			}
			next = REC_STATE;
			break;
		}
		case REC_STATE:
			if (decode_state(&r, e, err, errlen) == -1)
				return -1;
			break;
		}
		if (rc == -1 || reader_done(&r) == -1) {
			err_set(err, errlen, "malformed %s record at offset %zu", rec_name(type),
			        off);
			return -1;
		}
		off += REC_OVERHEAD + (size_t)plen;
	}
	if (next != REC_STATE) {
		err_set(err, errlen, "incomplete envelope: no END record");
		return -1;
	}
	*used = off;
	return 0;
}

int envelope_decode_prefix(const uint8_t *p, size_t n, struct envelope *e, size_t *used, char *err,
                           size_t errlen)
{
	memset(e, 0, sizeof(*e));
	size_t u = 0;
	if (p == NULL && n != 0) {
		err_set(err, errlen, "no input");
		return -1;
	}
	if (decode_all(p, n, e, &u, err, errlen) == -1) {
		envelope_free(e);
		return -1;
	}
	if (used)
		*used = u;
	return 0;
}

int envelope_decode(const uint8_t *p, size_t n, struct envelope *e, char *err, size_t errlen)
{
	return envelope_decode_prefix(p, n, e, NULL, err, errlen);
}

void envelope_free(struct envelope *e)
{
	if (e == NULL)
		return;
	free(e->sender);
	free(e->helo);
	free(e->client);
	free(e->envid);
	free(e->auth);
	free(e->trace);
	for (size_t i = 0; i < e->n_rcpts && e->rcpts; i++) {
		struct envelope_rcpt *r = &e->rcpts[i];
		free(r->addr);
		free(r->orcpt);
		free(r->action);
		free(r->user);
		free(r->last_error);
	}
	free(e->rcpts);
	memset(e, 0, sizeof(*e));
}

static char *dup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void envelope_copy(struct envelope *dst, const struct envelope *src)
{
	*dst = *src;
	dst->sender = dup_opt(src->sender);
	dst->helo = dup_opt(src->helo);
	dst->client = dup_opt(src->client);
	dst->envid = dup_opt(src->envid);
	dst->auth = dup_opt(src->auth);
	dst->trace = dup_opt(src->trace);
	dst->rcpts = NULL;
	if (src->n_rcpts && src->rcpts) {
		dst->rcpts = xcalloc(src->n_rcpts, sizeof(*dst->rcpts));
		for (size_t i = 0; i < src->n_rcpts; i++) {
			const struct envelope_rcpt *s = &src->rcpts[i];
			struct envelope_rcpt *d = &dst->rcpts[i];
			*d = *s;
			d->addr = dup_opt(s->addr);
			d->orcpt = dup_opt(s->orcpt);
			d->action = dup_opt(s->action);
			d->user = dup_opt(s->user);
			d->last_error = dup_opt(s->last_error);
		}
	} else {
		dst->n_rcpts = 0;
	}
}

void envelope_from_draft(struct envelope *dst, const struct envelope_draft *d)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->id, d->id, sizeof(dst->id));
	dst->arrival = d->arrival;
	dst->size = d->size;
	dst->data_crc = d->data_crc;
	dst->has_data_crc = d->has_data_crc;
	dst->sender = dup_opt(d->sender);
	dst->helo = dup_opt(d->helo);
	dst->client = dup_opt(d->client);
	dst->envid = dup_opt(d->envid);
	dst->auth = dup_opt(d->auth);
	dst->trace = dup_opt(d->trace);
	dst->ret = d->ret;
	dst->body = d->body;
	dst->smtputf8 = d->smtputf8;
	dst->n_rcpts = d->n_rcpts;
	dst->rcpts = xcalloc(d->n_rcpts ? d->n_rcpts : 1, sizeof(*dst->rcpts));
	for (size_t i = 0; i < d->n_rcpts; i++) {
		dst->rcpts[i].addr = dup_opt(d->rcpts[i].addr);
		dst->rcpts[i].orcpt = dup_opt(d->rcpts[i].orcpt);
		dst->rcpts[i].notify = d->rcpts[i].notify;
		dst->rcpts[i].action = dup_opt(d->rcpts[i].action);
		dst->rcpts[i].user = dup_opt(d->rcpts[i].user);
	}
}
