/*
 * libFuzzer target for spf_macro: macro strings from SPF records and
 * explanation TXT records. Input: one flags octet, then the text. Besides
 * "no crash", it checks that the syntax check and the expansion agree (a
 * string that checks expands, one that does not is refused), that an
 * expansion is printable ASCII within SPF_EXPAND_MAX, and that truncation
 * leaves at most 253 octets unless one label alone is longer (abort()).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf_macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct spf_macro_env env = {
    .s = "strong-bad@email.example.com",
    .l = "strong-bad",
    .o = "email.example.com",
    .d = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.example.com",
    .i = "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2",
    .p = "mx.example.org",
    .v = "ip6",
    .h = "helo with spaces & odd/chars=+,_",
    .c = "2001:db8::cb01",
    .r = "receiver.example",
    .t = "1700000000",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & SPF_MACRO_EXP;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	unsigned letters = 0;
	char err[200];
	int ok = spf_macro_check(s, len, flags, &letters, err, sizeof(err));
	struct buf b;
	buf_init(&b, 0);
	int rc = spf_macro_expand(s, len, flags, &env, &b, err, sizeof(err));
	if (ok == -1 && rc == 0)
		abort();
	if (rc == 0) {
		if (b.len > SPF_EXPAND_MAX)
			abort();
		for (size_t i = 0; i < b.len; i++)
			if (b.data[i] < 0x20 || b.data[i] > 0x7e)
				abort();
		if (!(flags & SPF_MACRO_EXP)) {
			char *name = buf_strdup(&b);
			spf_domain_truncate(name);
			if (strlen(name) > 253 && strchr(name, '.'))
				abort();
			free(name);
		}
	} else if (ok == 0 && strstr(err, "longer than") == NULL) {
		abort(); /* only the size cap may refuse a checked string */
	}
	buf_free(&b);
	unsigned dl = 0;
	if (spf_domain_spec_check(s, len, &dl, err, sizeof(err)) == 0 &&
	    (spf_macro_check(s, len, 0, NULL, NULL, 0) != 0 || (dl & SPF_LETTER('c'))))
		abort();
	return 0;
}
