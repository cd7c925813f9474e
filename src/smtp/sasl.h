/*
 * sasl: the server side of SMTP AUTH's exchanges (RFC 4954), pure and
 * bounded: no I/O, no credentials — it turns the client's lines into an
 * authentication identity and a password, which the session sends to the
 * auth role to be checked.
 *
 * - base64 (RFC 4648 §4): a streaming decoder (the same result whether fed
 *   whole or a byte at a time), strict: the 64 letters only, padding only
 *   at the end of the last quantum, no non-zero bits in a padded one (the
 *   canonical form, RFC 4648 §3.5), no white space.
 * - PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd, each at most 255
 *   octets of UTF-8 without NUL, authcid and passwd not empty.
 * - LOGIN (draft-murchison-sasl-login): "Username:" and "Password:"
 *   challenges, the user name optionally as the initial response.
 *
 * SCRAM-SHA-256 (RFC 7677) is not offered: it needs a verifier derived
 * from the password per user (RFC 5803), which a table of crypt(3) hashes
 * cannot give.
 */
#ifndef RAVEN_SASL_H
#define RAVEN_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_reply.h"
#include "util.h"

#define SASL_FIELD_MAX 255 /* RFC 4616: authzid, authcid, passwd */

/* ---- base64 ---- */

struct b64_decoder {
	uint8_t q[4];  /* the quantum being read, as 6-bit values */
	size_t nq;     /* its letters so far */
	size_t npad;   /* '=' seen (the input has ended but for them) */
	int err;       /* sticky */
	size_t outlen; /* octets produced */
};

void b64_init(struct b64_decoder *d);
/*
 * Decode in[0..n), appending to out (outmax octets in all, counted by
 * d->outlen across calls). -1, sticky, on a character outside the alphabet,
 * misplaced padding, non-canonical bits, or output beyond outmax.
 */
int b64_feed(struct b64_decoder *d, const char *in, size_t n, uint8_t *out, size_t outmax);
/* The input has ended: 0 if it was whole quanta, -1 otherwise. */
int b64_finish(struct b64_decoder *d);
/* Whole input at once; 0 with *outlen, or -1. */
int b64_decode(const char *in, size_t n, uint8_t *out, size_t outmax, size_t *outlen);
/* b64_encode() is in util.h. */

/* ---- exchanges ---- */

enum sasl_mech { SASL_PLAIN = 1, SASL_LOGIN };

enum sasl_result {
	SASL_CHALLENGE = 1, /* send "334 " and sv->challenge, read the next line */
	SASL_DONE,          /* authcid and passwd are ready */
	SASL_FAIL,          /* the exchange is over: reply *err */
};

struct sasl_server {
	enum sasl_mech mech;
	int step;
	char challenge[16]; /* base64, "" for an empty challenge */
	char authzid[SASL_FIELD_MAX + 1];
	char authcid[SASL_FIELD_MAX + 1];
	char passwd[SASL_FIELD_MAX + 1];
};

/* The mechanism named by name[0..n) (case-insensitive), or 0 if unknown. */
enum sasl_mech sasl_mech_parse(const char *name, size_t n);
/*
 * Start an exchange. ir is the initial response from the AUTH command
 * (has_ir: one was given; "=" stands for an empty one).
 */
enum sasl_result sasl_start(struct sasl_server *sv, enum sasl_mech m, int has_ir, const char *ir,
                            size_t irlen, struct smtp_reply *err);
/* The client's next line (without CRLF); "*" cancels (RFC 4954: 501). */
enum sasl_result sasl_step(struct sasl_server *sv, const char *line, size_t n,
                           struct smtp_reply *err);
/* Wipe the exchange (the password above all). */
void sasl_clear(struct sasl_server *sv);
/*
 * The PLAIN message msg[0..n) into sv's authzid, authcid and passwd. 0, or
 * -1 with a reply (501 5.5.2 and what is wrong).
 */
int sasl_plain_parse(struct sasl_server *sv, const uint8_t *msg, size_t n, struct smtp_reply *err);

#endif
