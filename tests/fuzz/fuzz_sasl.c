/*
 * libFuzzer target for src/smtp/sasl.c, the AUTH decoders. The first byte
 * picks what is driven:
 *   0: base64 — decoded whole and in chunks (sizes from the second byte)
 *      with the same result; what decodes re-encodes to exactly the input
 *      (the decoder takes the canonical form only);
 *   1: a PLAIN message — what parses rebuilds to exactly the input, every
 *      field within bounds, UTF-8, without NUL;
 *   2: an exchange — lines (split at LF): the first "MECH [response]",
 *      the others the client's answers; every challenge is base64, every
 *      failure a 5xx reply with a wiped password, every success bounded.
 * Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void field_ok(const char *f, int may_be_empty)
{
	size_t n = strnlen(f, SASL_FIELD_MAX + 1);
	if (n > SASL_FIELD_MAX || (n == 0 && !may_be_empty) || !utf8_valid(f, n))
		abort();
}

static void fuzz_b64(const uint8_t *p, size_t n, uint8_t split)
{
	static uint8_t whole[1 << 16], chunked[1 << 16];
	static char back[(1 << 16) / 3 * 4 + 8];
	if (n > (1 << 16))
		return;
	size_t len = 0;
	int rc = b64_decode((const char *)p, n, whole, sizeof(whole), &len);
	struct b64_decoder d;
	b64_init(&d);
	size_t step = (size_t)(split % 7) + 1;
	int rc2 = 0;
	for (size_t off = 0; off < n && rc2 == 0; off += step)
		rc2 = b64_feed(&d, (const char *)p + off, n - off < step ? n - off : step, chunked,
		               sizeof(chunked));
	if (rc2 == 0)
		rc2 = b64_finish(&d);
	if (rc != rc2 || (rc == 0 && (d.outlen != len || memcmp(whole, chunked, len) != 0)))
		abort();
	if (rc == 0) {
		size_t k = b64_encode(whole, len, back, sizeof(back));
		if (k != n || memcmp(back, p, n) != 0)
			abort();
	}
}

static void fuzz_plain(const uint8_t *p, size_t n)
{
	struct sasl_server sv;
	struct smtp_reply err;
	memset(&sv, 0, sizeof(sv));
	if (sasl_plain_parse(&sv, p, n, &err) == -1) {
		if (err.code != 501 || sv.passwd[0] != '\0')
			abort();
		return;
	}
	field_ok(sv.authzid, 1);
	field_ok(sv.authcid, 0);
	field_ok(sv.passwd, 0);
	size_t z = strlen(sv.authzid), c = strlen(sv.authcid), w = strlen(sv.passwd);
	if (z + c + w + 2 != n || memcmp(p, sv.authzid, z) != 0 || p[z] != 0 ||
	    memcmp(p + z + 1, sv.authcid, c) != 0 || p[z + 1 + c] != 0 ||
	    memcmp(p + z + c + 2, sv.passwd, w) != 0)
		abort();
}

static void check(const struct sasl_server *sv, enum sasl_result r, const struct smtp_reply *err)
{
	uint8_t tmp[64];
	size_t len;
	if (r == SASL_CHALLENGE &&
	    b64_decode(sv->challenge, strlen(sv->challenge), tmp, sizeof(tmp), &len) != 0)
		abort();
	if (r == SASL_FAIL && (err->code < 500 || err->code > 599 || sv->passwd[0] != '\0'))
		abort();
	if (r == SASL_DONE) {
		field_ok(sv->authzid, 1);
		field_ok(sv->authcid, 0);
		field_ok(sv->passwd, 0);
	}
}

static void fuzz_exchange(const uint8_t *p, size_t n)
{
	const char *s = (const char *)p, *end = s + n;
	const char *nl = memchr(s, '\n', n);
	const char *first_end = nl ? nl : end;
	const char *sp = memchr(s, ' ', (size_t)(first_end - s));
	size_t mlen = sp ? (size_t)(sp - s) : (size_t)(first_end - s);
	struct sasl_server sv;
	struct smtp_reply err;
	enum sasl_result r = sasl_start(&sv, sasl_mech_parse(s, mlen), sp != NULL, sp ? sp + 1 : "",
	                                sp ? (size_t)(first_end - sp - 1) : 0, &err);
	check(&sv, r, &err);
	const char *line = nl ? nl + 1 : end;
	while (r == SASL_CHALLENGE && line < end) {
		const char *e = memchr(line, '\n', (size_t)(end - line));
		size_t ln = e ? (size_t)(e - line) : (size_t)(end - line);
		r = sasl_step(&sv, line, ln, &err);
		check(&sv, r, &err);
		line += ln + (e != NULL);
	}
	sasl_clear(&sv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_b64(data + 2, size - 2, data[1]);
		break;
	case 1:
		fuzz_plain(data + 1, size - 1);
		break;
	default:
		fuzz_exchange(data + 1, size - 1);
		break;
	}
	return 0;
}
