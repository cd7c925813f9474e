/*
 * Unit tests for src/smtp/sasl.c: base64 (RFC 4648 vectors, the strict
 * cases, every input fed whole, a byte at a time and split at every
 * point, round trips), the PLAIN message (RFC 4616) and the PLAIN and
 * LOGIN exchanges with their replies.
 */
#include "unit_util.h"

#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "xmalloc.h"

/* Decode s three ways (whole, a byte at a time, split at every point):
 * all must agree; returns the result of the whole decode. */
static int decode_all_ways(const char *s, uint8_t *out, size_t max, size_t *outlen)
{
	size_t n = strlen(s);
	int whole = b64_decode(s, n, out, max, outlen);
	uint8_t *tmp = xmalloc(max + 1);
	struct b64_decoder d;
	b64_init(&d);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = b64_feed(&d, s + i, 1, tmp, max);
	if (rc == 0)
		rc = b64_finish(&d);
	if (rc != whole || (rc == 0 && (d.outlen != *outlen || memcmp(tmp, out, d.outlen) != 0)))
		fail_msg("\"%s\": byte at a time gives %d, whole %d", s, rc, whole);
	for (size_t k = 0; k <= n; k++) {
		b64_init(&d);
		rc = b64_feed(&d, s, k, tmp, max);
		if (rc == 0)
			rc = b64_feed(&d, s + k, n - k, tmp, max);
		if (rc == 0)
			rc = b64_finish(&d);
		if (rc != whole ||
		    (rc == 0 && (d.outlen != *outlen || memcmp(tmp, out, d.outlen) != 0)))
			fail_msg("\"%s\" split at %zu: %d, whole %d", s, k, rc, whole);
	}
	free(tmp);
	return whole;
}

static void test_base64(void **state)
{
	(void)state;
	/* RFC 4648 §10 */
	static const struct {
		const char *plain, *enc;
	} vec[] = {{"", ""},
	           {"f", "Zg=="},
	           {"fo", "Zm8="},
	           {"foo", "Zm9v"},
	           {"foob", "Zm9vYg=="},
	           {"fooba", "Zm9vYmE="},
	           {"foobar", "Zm9vYmFy"}};
	uint8_t out[64];
	char enc[64];
	size_t n;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(decode_all_ways(vec[i].enc, out, sizeof(out), &n), 0);
		assert_int_equal(n, strlen(vec[i].plain));
		assert_memory_equal(out, vec[i].plain, n);
		assert_int_equal(b64_encode((const uint8_t *)vec[i].plain, strlen(vec[i].plain),
		                            enc, sizeof(enc)),
		                 strlen(vec[i].enc));
		assert_string_equal(enc, vec[i].enc);
	}
	/* every byte value survives a round trip, at every length */
	uint8_t all[256];
	char big[400];
	uint8_t back[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	for (size_t len = 0; len <= 256; len += 1 + len / 8) {
		assert_true(b64_encode(all, len, big, sizeof(big)) > 0 || len == 0);
		assert_int_equal(decode_all_ways(big, back, sizeof(back), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, all, len);
	}
	/* the encoder refuses a buffer too small, the decoder output too long */
	assert_int_equal(b64_encode(all, 3, big, 4), 0);
	assert_int_equal(b64_encode(all, 3, big, 5), 4);
	assert_int_equal(decode_all_ways("Zm9vYmFy", out, 5, &n), -1);
	assert_int_equal(decode_all_ways("Zm9vYmFy", out, 6, &n), 0);
	/* strict: the alphabet only, whole quanta, padding only at the end of
	 * the last one, canonical bits, no white space */
	static const char *const bad[] = {
	    "Zg",     "Zg=",   "Z===",  "=",      "====",     "Zm9",     "Zm9v=",   "Zg==Zg==",
	    "Zg==\n", " Zg==", "Zm 9v", "Zm9v\r", "Zm9v*",    "Zm-v",    "Zm_v",    "Zh==",
	    "Zm9=",   "Zg=a",  "Zm9vY", "Zm==Zg", "\xc3\xa9", "Zm9vYg=", "Zm9vYg=x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (decode_all_ways(bad[i], out, sizeof(out), &n) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
	/* an error is sticky */
	struct b64_decoder d;
	b64_init(&d);
	assert_int_equal(b64_feed(&d, "Z!", 2, out, sizeof(out)), -1);
	assert_int_equal(b64_feed(&d, "Zg==", 4, out, sizeof(out)), -1);
	assert_int_equal(b64_finish(&d), -1);
}

static void test_plain_message(void **state)
{
	(void)state;
	struct sasl_server sv;
	struct smtp_reply err;
	memset(&sv, 0, sizeof(sv));
	assert_int_equal(sasl_plain_parse(&sv, (const uint8_t *)"\0alice\0pw", 9, &err), 0);
	assert_string_equal(sv.authzid, "");
	assert_string_equal(sv.authcid, "alice");
	assert_string_equal(sv.passwd, "pw");
	assert_int_equal(sasl_plain_parse(&sv, (const uint8_t *)"zid\0c\0p w\xc3\xa9", 11, &err),
	                 0);
	assert_string_equal(sv.authzid, "zid");
	assert_string_equal(sv.passwd, "p w\xc3\xa9");
	static const struct {
		const char *msg;
		size_t len;
		const char *why;
	} bad[] = {
	    {"alice\0pw", 8, "not authzid NUL authcid NUL password"},
	    {"", 0, "not authzid NUL authcid NUL password"},
	    {"\0\0pw", 4, "user name empty"},
	    {"\0alice\0", 7, "password empty"},
	    {"\0alice\0p\0w", 10, "password not UTF-8 text"},
	    {"\0al\xffice\0pw", 10, "user name not UTF-8 text"},
	    {"z\xc0\x80\0a\0p", 7, "authorization identity not UTF-8 text"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    sasl_plain_parse(&sv, (const uint8_t *)bad[i].msg, bad[i].len, &err), -1);
		assert_int_equal(err.code, 501);
		assert_string_equal(err.enh, "5.5.2");
		char want[160];
		snprintf(want, sizeof(want), "Invalid PLAIN response: %s", bad[i].why);
		assert_string_equal(err.text, want);
		assert_string_equal(sv.passwd, ""); /* wiped */
	}
	/* 255 octets a field, not 256 */
	uint8_t msg[600];
	memset(msg, 'a', sizeof(msg));
	msg[0] = 0;
	msg[256] = 0;
	assert_int_equal(sasl_plain_parse(&sv, msg, 256 + 1 + 255, &err), 0);
	assert_int_equal(strlen(sv.authcid), 255);
	assert_int_equal(strlen(sv.passwd), 255);
	assert_int_equal(sasl_plain_parse(&sv, msg, 256 + 1 + 256, &err), -1);
	assert_string_equal(err.text, "Invalid PLAIN response: password longer than 255 octets");
}

/* A whole exchange: the AUTH line's mechanism and initial response, then
 * the client's lines; returns what came last and the challenges seen. */
static enum sasl_result exchange(struct sasl_server *sv, const char *mech, const char *ir,
                                 const char *const *lines, char *chal, size_t challen,
                                 struct smtp_reply *err)
{
	chal[0] = '\0';
	enum sasl_result r = sasl_start(sv, sasl_mech_parse(mech, strlen(mech)), ir != NULL, ir,
	                                ir ? strlen(ir) : 0, err);
	for (size_t i = 0; r == SASL_CHALLENGE; i++) {
		strncat(chal, "[", challen - strlen(chal) - 1);
		strncat(chal, sv->challenge, challen - strlen(chal) - 1);
		strncat(chal, "]", challen - strlen(chal) - 1);
		if (lines == NULL || lines[i] == NULL)
			break;
		r = sasl_step(sv, lines[i], strlen(lines[i]), err);
	}
	return r;
}

static void test_exchanges(void **state)
{
	(void)state;
	struct sasl_server sv;
	struct smtp_reply err;
	char chal[128];
	assert_int_equal(sasl_mech_parse("plain", 5), SASL_PLAIN);
	assert_int_equal(sasl_mech_parse("LoGiN", 5), SASL_LOGIN);
	assert_int_equal(sasl_mech_parse("CRAM-MD5", 8), 0);
	assert_int_equal(sasl_mech_parse("PLAINX", 6), 0);

	/* PLAIN with an initial response, and after an empty challenge */
	assert_int_equal(
	    exchange(&sv, "PLAIN", "AGFsaWNlAHNlY3JldA==", NULL, chal, sizeof(chal), &err),
	    SASL_DONE);
	assert_string_equal(chal, "");
	assert_string_equal(sv.authcid, "alice");
	assert_string_equal(sv.passwd, "secret");
	const char *plain[] = {"AGFsaWNlAHNlY3JldA==", NULL};
	assert_int_equal(exchange(&sv, "PLAIN", NULL, plain, chal, sizeof(chal), &err), SASL_DONE);
	assert_string_equal(chal, "[]");
	assert_string_equal(sv.passwd, "secret");
	sasl_clear(&sv);
	assert_string_equal(sv.passwd, "");

	/* LOGIN: Username:, Password:, or the user name as initial response */
	const char *login[] = {"YWxpY2U=", "c2VjcmV0", NULL};
	assert_int_equal(exchange(&sv, "LOGIN", NULL, login, chal, sizeof(chal), &err), SASL_DONE);
	assert_string_equal(chal, "[VXNlcm5hbWU6][UGFzc3dvcmQ6]");
	assert_string_equal(sv.authcid, "alice");
	assert_string_equal(sv.passwd, "secret");
	assert_int_equal(exchange(&sv, "LOGIN", "YWxpY2U=", login + 1, chal, sizeof(chal), &err),
	                 SASL_DONE);
	assert_string_equal(chal, "[UGFzc3dvcmQ6]");

	/* failures and their replies */
	static const struct {
		const char *mech, *ir, *line;
		int code;
		const char *enh, *text;
	} bad[] = {
	    {"CRAM-MD5", NULL, NULL, 504, "5.5.4", "Unrecognized authentication type"},
	    {"PLAIN", NULL, "*", 501, "5.7.0", "Authentication cancelled"},
	    {"LOGIN", NULL, "*", 501, "5.7.0", "Authentication cancelled"},
	    {"LOGIN", "YWxpY2U=", "*", 501, "5.7.0", "Authentication cancelled"},
	    {"PLAIN", "Zg", NULL, 501, "5.5.2", "Cannot decode the response (base64)"},
	    {"PLAIN", NULL, "=", 501, "5.5.2", "Cannot decode the response (base64)"},
	    {"PLAIN", NULL, "", 501, "5.5.2", "Invalid PLAIN response: not authzid NUL authcid"},
	    {"PLAIN", "=", NULL, 501, "5.5.2", "Invalid PLAIN response: not authzid NUL authcid"},
	    {"LOGIN", "=", NULL, 501, "5.5.2", "Invalid LOGIN user name: empty"},
	    {"LOGIN", NULL, "AA==", 501, "5.5.2", "Invalid LOGIN user name: not UTF-8 text"},
	    {"LOGIN", "YWxpY2U=", "", 501, "5.5.2", "Invalid LOGIN password: empty"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *lines[] = {bad[i].line, NULL};
		enum sasl_result r = exchange(&sv, bad[i].mech, bad[i].ir,
		                              bad[i].line ? lines : NULL, chal, sizeof(chal), &err);
		if (r != SASL_FAIL || err.code != bad[i].code || strcmp(err.enh, bad[i].enh) != 0 ||
		    strncmp(err.text, bad[i].text, strlen(bad[i].text)) != 0)
			fail_msg("case %zu: %d %d %s %s", i, r, err.code, err.enh, err.text);
		assert_string_equal(sv.passwd, "");
	}
	/* a line after the exchange ended is no response */
	memset(&sv, 0, sizeof(sv));
	assert_int_equal(sasl_step(&sv, "Zg==", 4, &err), SASL_FAIL);
	assert_int_equal(err.code, 503);
	/* a response too long to be any field: refused, not truncated */
	char *huge = xmalloc(2000);
	memset(huge, 'Q', 1200);
	huge[1200] = '\0';
	const char *one[] = {huge, NULL};
	assert_int_equal(exchange(&sv, "PLAIN", NULL, one, chal, sizeof(chal), &err), SASL_FAIL);
	assert_int_equal(err.code, 501);
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_plain_message),
	    cmocka_unit_test(test_exchanges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
