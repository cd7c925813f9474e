/*
 * libFuzzer target for spf_record: SPF records as anyone may publish them
 * in a TXT record. Input: the record text ("v=spf1 " is put in front when
 * it is missing, so the fuzzer spends its time on terms). Besides "no
 * crash", it checks what a parsed record promises: every domain-spec is
 * valid on its own, CIDR lengths are in range, terms are within the caps,
 * and the first-octet-only record check agrees with parsing (abort()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf_macro.h"
#include "spf_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spec(const char *spec)
{
	if (spec && spf_domain_spec_check(spec, strlen(spec), NULL, NULL, 0) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "v=spf1 ";
	uint8_t *txt = malloc(size + sizeof(prefix));
	size_t len = 0;
	if (!spf_record_is_spf(data, size)) {
		memcpy(txt, prefix, sizeof(prefix) - 1);
		len = sizeof(prefix) - 1;
	}
	memcpy(txt + len, data, size);
	len += size;
	struct spf_record rec;
	char err[200];
	if (spf_record_parse((const char *)txt, len, &rec, err, sizeof(err)) == 0) {
		if (rec.nterm > SPF_TERMS_MAX || len > SPF_RECORD_MAX)
			abort();
		for (size_t i = 0; i < rec.nterm; i++) {
			const struct spf_term *t = &rec.term[i];
			check_spec(t->spec);
			if (t->cidr4 < 0 || t->cidr4 > 32 || t->cidr6 < 0 || t->cidr6 > 128)
				abort();
			if (t->qual != SPF_PASS && t->qual != SPF_FAIL && t->qual != SPF_SOFTFAIL &&
			    t->qual != SPF_NEUTRAL)
				abort();
			if (t->text == NULL || strchr(t->text, ' '))
				abort();
		}
		check_spec(rec.redirect);
		check_spec(rec.exp);
		spf_record_free(&rec);
	} else if (err[0] == 0) {
		abort();
	}
	free(txt);
	return 0;
}
