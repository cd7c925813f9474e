/*
 * libFuzzer target for the whole DKIM verifier: the input is a message.
 * Keys come from a fixed table (RFC 8463's football.example.com keys), so
 * seeds with real signatures reach the signature checks; any other name
 * gets an answer chosen by its length (nothing, NXDOMAIN, TEMPFAIL, or a
 * garbage record). The message is verified whole and one byte at a time:
 * the results must be the same, and every result must be final.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ed_key[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rsa_key[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6"
    "wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5Qjv"
    "HO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

static void answer(struct dkim_verify *v)
{
	const char *names[8];
	size_t n;
	while ((n = dkim_verify_keys_needed(v, names, 8)) > 0) {
		const char *name = names[0];
		const char *txt[2];
		size_t len[2], ntxt = 1;
		enum dkim_dns_status st = DKIM_DNS_OK;
		if (strcmp(name, "brisbane._domainkey.football.example.com") == 0) {
			txt[0] = ed_key;
		} else if (strcmp(name, "test._domainkey.football.example.com") == 0) {
			txt[0] = rsa_key;
		} else {
			static const enum dkim_dns_status by_len[] = {
			    DKIM_DNS_OK, DKIM_DNS_NXDOMAIN, DKIM_DNS_TEMPFAIL, DKIM_DNS_NODATA};
			st = by_len[strlen(name) % 4];
			txt[0] = "k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAN";
			ntxt = st == DKIM_DNS_OK ? strlen(name) % 3 : 0;
			txt[1] = txt[0];
		}
		len[0] = strlen(txt[0]);
		len[1] = len[0];
		if (dkim_verify_key_answer(v, name, st, txt, len, ntxt) != 0)
			abort();
	}
}

static struct dkim_verify *run(const uint8_t *p, size_t n, size_t chunk)
{
	struct dkim_verify_opts o = {.now = 1700000000, .max_header = 8192, .max_sigs = 4};
	struct dkim_verify *v = dkim_verify_new(&o);
	for (size_t i = 0; i < n; i += chunk)
		dkim_verify_update(v, p + i, n - i < chunk ? n - i : chunk);
	dkim_verify_end(v);
	answer(v);
	if (!dkim_verify_done(v))
		abort();
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_verify *a = run(data, size, size ? size : 1);
	struct dkim_verify *b = run(data, size, 1);
	size_t n = dkim_verify_result_count(a);
	if (n != dkim_verify_result_count(b))
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct dkim_result *x = dkim_verify_result(a, i),
		                         *y = dkim_verify_result(b, i);
		if (x->status != y->status || strcmp(x->reason, y->reason) != 0 ||
		    strcmp(x->domain, y->domain) != 0 || strcmp(x->identity, y->identity) != 0)
			abort();
	}
	if (dkim_verify_header_count(a) != dkim_verify_header_count(b))
		abort();
	dkim_verify_free(a);
	dkim_verify_free(b);
	return 0;
}
