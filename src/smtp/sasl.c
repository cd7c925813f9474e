/*
 * sasl: base64 and the PLAIN and LOGIN exchanges of SMTP AUTH (see sasl.h).
 * Every field has a fixed bound; the password never leaves this struct
 * except into the session's request to the auth role, and is wiped by
 * sasl_clear().
 */
#include "sasl.h"

#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "util.h"

/* ---- base64 ---- */

void b64_init(struct b64_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

static int b64_emit(struct b64_decoder *d, const uint8_t *p, size_t k, uint8_t *out, size_t outmax)
{
	if (k > outmax || d->outlen > outmax - k) {
		d->err = 1;
		return -1;
	}
	memcpy(out + d->outlen, p, k);
	d->outlen += k;
	return 0;
}

int b64_feed(struct b64_decoder *d, const char *in, size_t n, uint8_t *out, size_t outmax)
{
	for (size_t i = 0; i < n && !d->err; i++) {
		unsigned char c = (unsigned char)in[i];
		if (d->npad > 0 && d->nq + d->npad == 4) {
			d->err = 1; /* anything after the padded quantum */
			break;
		}
		if (c == '=') {
			/* "xx==" or "xxx=": padding only after two or three letters */
			if (d->nq < 2) {
				d->err = 1;
				break;
			}
			d->npad++;
			if (d->nq + d->npad < 4)
				continue;
			uint8_t o[2];
			o[0] = (uint8_t)(d->q[0] << 2 | d->q[1] >> 4);
			o[1] = (uint8_t)((d->q[1] & 0x0f) << 4 | d->q[2] >> 2);
			/* The bits past the last octet must be zero (one encoding). */
			if ((d->nq == 2 && (d->q[1] & 0x0f) != 0) ||
			    (d->nq == 3 && (d->q[2] & 0x03) != 0)) {
				d->err = 1;
				break;
			}
			b64_emit(d, o, d->nq - 1, out, outmax);
			continue;
		}
		int v = b64_digit(c);
		if (v < 0 || d->npad > 0) {
			d->err = 1;
			break;
		}
		d->q[d->nq++] = (uint8_t)v;
		if (d->nq == 4) {
			uint8_t o[3] = {(uint8_t)(d->q[0] << 2 | d->q[1] >> 4),
			                (uint8_t)((d->q[1] & 0x0f) << 4 | d->q[2] >> 2),
			                (uint8_t)((d->q[2] & 0x03) << 6 | d->q[3])};
			d->nq = 0;
			b64_emit(d, o, 3, out, outmax);
		}
	}
	return d->err ? -1 : 0;
}

int b64_finish(struct b64_decoder *d)
{
	if (d->err)
		return -1;
	if ((d->nq == 0 && d->npad == 0) || (d->npad > 0 && d->nq + d->npad == 4))
		return 0;
	d->err = 1;
	return -1;
}

int b64_decode(const char *in, size_t n, uint8_t *out, size_t outmax, size_t *outlen)
{
	struct b64_decoder d;
	b64_init(&d);
	if (b64_feed(&d, in, n, out, outmax) == -1 || b64_finish(&d) == -1)
		return -1;
	*outlen = d.outlen;
	return 0;
}

/* ---- exchanges ---- */

/* Decoded responses never exceed this: a PLAIN message of three maximal
 * fields and two NULs. */
#define SASL_DECODED_MAX (3 * SASL_FIELD_MAX + 2)

static enum sasl_result sasl_fail(struct sasl_server *sv, struct smtp_reply *err, int code,
                                  const char *enh, const char *text)
{
	sasl_clear(sv);
	smtp_reply_set(err, code, enh, text);
	return SASL_FAIL;
}

enum sasl_mech sasl_mech_parse(const char *name, size_t n)
{
	if (n == 5 && strncasecmp(name, "PLAIN", 5) == 0)
		return SASL_PLAIN;
	if (n == 5 && strncasecmp(name, "LOGIN", 5) == 0)
		return SASL_LOGIN;
	return 0;
}

void sasl_clear(struct sasl_server *sv)
{
	explicit_bzero(sv, sizeof(*sv));
}

/* One field of at most SASL_FIELD_MAX octets of UTF-8 without NUL. */
static const char *field_copy(char *dst, const uint8_t *p, size_t n, int may_be_empty)
{
	if (n == 0 && !may_be_empty)
		return "empty";
	if (n > SASL_FIELD_MAX)
		return "longer than 255 octets";
	if (memchr(p, 0, n) != NULL || !utf8_valid(p, n))
		return "not UTF-8 text";
	memcpy(dst, p, n);
	dst[n] = '\0';
	return NULL;
}

int sasl_plain_parse(struct sasl_server *sv, const uint8_t *msg, size_t n, struct smtp_reply *err)
{
	const uint8_t *nul1 = memchr(msg, 0, n);
	const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - msg)) : NULL;
	const char *why = NULL, *what = NULL;
	if (nul2 == NULL) {
		why = "not authzid NUL authcid NUL password";
	} else {
		size_t zl = (size_t)(nul1 - msg), cl = (size_t)(nul2 - nul1 - 1);
		size_t pl = n - (size_t)(nul2 + 1 - msg);
		if ((why = field_copy(sv->authzid, msg, zl, 1)) != NULL)
			what = "authorization identity";
		else if ((why = field_copy(sv->authcid, nul1 + 1, cl, 0)) != NULL)
			what = "user name";
		else if ((why = field_copy(sv->passwd, nul2 + 1, pl, 0)) != NULL)
			what = "password";
	}
	if (why == NULL)
		return 0;
	char text[sizeof(err->text)];
	snprintf(text, sizeof(text), "Invalid PLAIN response: %s%s%s", what ? what : "",
	         what ? " " : "", why);
	sasl_fail(sv, err, 501, "5.5.2", text);
	return -1;
}

/* Decode one response line; -1 (reply set) when it is not base64. */
static int decode(struct sasl_server *sv, const char *s, size_t n, uint8_t *out, size_t *outlen,
                  struct smtp_reply *err)
{
	/* RFC 4954 §4: "=" is an empty initial response. */
	if (n == 1 && s[0] == '=') {
		*outlen = 0;
		return 0;
	}
	if (b64_decode(s, n, out, SASL_DECODED_MAX, outlen) == -1) {
		sasl_fail(sv, err, 501, "5.5.2", "Cannot decode the response (base64)");
		return -1;
	}
	return 0;
}

enum { STEP_PLAIN = 1, STEP_LOGIN_USER, STEP_LOGIN_PASS };

static void challenge(struct sasl_server *sv, int step)
{
	sv->step = step;
	/* "" for PLAIN; "Username:" and "Password:" for LOGIN */
	const char *c = step == STEP_LOGIN_USER   ? "VXNlcm5hbWU6"
	                : step == STEP_LOGIN_PASS ? "UGFzc3dvcmQ6"
	                                          : "";
	snprintf(sv->challenge, sizeof(sv->challenge), "%s", c);
}

/* A decoded response for the step we are at. */
static enum sasl_result respond(struct sasl_server *sv, const uint8_t *p, size_t n,
                                struct smtp_reply *err)
{
	const char *why;
	switch (sv->step) {
	case STEP_PLAIN:
		return sasl_plain_parse(sv, p, n, err) == 0 ? SASL_DONE : SASL_FAIL;
	case STEP_LOGIN_USER:
		if ((why = field_copy(sv->authcid, p, n, 0)) != NULL) {
			char text[sizeof(err->text)];
			snprintf(text, sizeof(text), "Invalid LOGIN user name: %s", why);
			return sasl_fail(sv, err, 501, "5.5.2", text);
		}
		challenge(sv, STEP_LOGIN_PASS);
		return SASL_CHALLENGE;
	case STEP_LOGIN_PASS:
		if ((why = field_copy(sv->passwd, p, n, 0)) != NULL) {
			char text[sizeof(err->text)];
			snprintf(text, sizeof(text), "Invalid LOGIN password: %s", why);
			return sasl_fail(sv, err, 501, "5.5.2", text);
		}
		return SASL_DONE;
	}
	return sasl_fail(sv, err, 503, "5.5.1", "No authentication exchange in progress");
}

enum sasl_result sasl_start(struct sasl_server *sv, enum sasl_mech m, int has_ir, const char *ir,
                            size_t irlen, struct smtp_reply *err)
{
	sasl_clear(sv);
	sv->mech = m;
	if (m != SASL_PLAIN && m != SASL_LOGIN)
		return sasl_fail(sv, err, 504, "5.5.4", "Unrecognized authentication type");
	int first = m == SASL_PLAIN ? STEP_PLAIN : STEP_LOGIN_USER;
	if (!has_ir) {
		challenge(sv, first);
		return SASL_CHALLENGE;
	}
	sv->step = first;
	uint8_t buf[SASL_DECODED_MAX];
	size_t n;
	if (decode(sv, ir, irlen, buf, &n, err) == -1)
		return SASL_FAIL;
	enum sasl_result r = respond(sv, buf, n, err);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

enum sasl_result sasl_step(struct sasl_server *sv, const char *line, size_t n,
                           struct smtp_reply *err)
{
	if (n == 1 && line[0] == '*')
		return sasl_fail(sv, err, 501, "5.7.0", "Authentication cancelled");
	if (sv->step == 0)
		return sasl_fail(sv, err, 503, "5.5.1", "No authentication exchange in progress");
	uint8_t buf[SASL_DECODED_MAX];
	size_t len;
	if (n == 1 && line[0] == '=') /* only an initial response may be "=" */
		return sasl_fail(sv, err, 501, "5.5.2", "Cannot decode the response (base64)");
	if (decode(sv, line, n, buf, &len, err) == -1)
		return SASL_FAIL;
	enum sasl_result r = respond(sv, buf, len, err);
	explicit_bzero(buf, sizeof(buf));
	return r;
}
