/*
 * libFuzzer target for the SPF evaluator as a whole (spf.c with the record
 * and macro parsers): the input is a set of SPF records, one a line; a
 * made-up DNS derived from the input answers every lookup (TXT of the
 * checked domain: the first line; other TXT, A/AAAA, MX and PTR answers
 * chosen by a hash of the name, including timeouts, NXDOMAIN and long MX
 * and PTR lists). Besides "no crash", it checks that every evaluation ends
 * within a bounded number of lookups, with a valid result and an
 * explanation exactly for "fail" (abort() otherwise). First octet: client
 * address and identity.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_rdata.h"
#include "dns_util.h"
#include "spf.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct lines {
	const uint8_t *p[32];
	size_t len[32], n;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static void add_name(struct dns_answer *a, uint16_t type, const char *fmt, unsigned i)
{
	struct dns_rr *rr = &a->rr[a->nrr++];
	char buf[64];
	rr->type = type;
	snprintf(buf, sizeof(buf), fmt, i);
	if (type == DNS_T_MX) {
		rr->u.mx.pref = (uint16_t)i;
		rr->u.mx.exchange = xstrdup(buf);
	} else {
		rr->u.name = xstrdup(buf);
	}
}

static void answer(const struct lines *l, const char *name, uint16_t type, struct dns_answer *a)
{
	uint32_t h = hash(name);
	memset(a, 0, sizeof(*a));
	a->rr = xcalloc(16, sizeof(*a->rr));
	a->qtype = type;
	switch (h % 11) {
	case 0:
		a->status = DNS_TIMEOUT;
		return;
	case 1:
		a->status = DNS_NXDOMAIN;
		return;
	case 2:
		a->status = DNS_NODATA;
		return;
	default:
		break;
	}
	a->status = DNS_OK;
	if (type == DNS_T_TXT) {
		size_t k = strcmp(name, "example.org") == 0 ? 0 : (h >> 8) % l->n;
		for (int r = 0; r < 1 + (int)((h >> 4) % 2); r++, k = (k + 1) % l->n) {
			struct dns_rr *rr = &a->rr[a->nrr++];
			rr->type = DNS_T_TXT;
			rr->u.txt.nstr = 1;
			rr->u.txt.str = xcalloc(1, sizeof(*rr->u.txt.str));
			rr->u.txt.joined = xmalloc(l->len[k] + 1);
			memcpy(rr->u.txt.joined, l->p[k], l->len[k]);
			rr->u.txt.joined[l->len[k]] = 0;
			rr->u.txt.joined_len = l->len[k];
			rr->u.txt.str[0].p = rr->u.txt.joined;
			rr->u.txt.str[0].len = l->len[k];
		}
	} else if (type == DNS_T_A || type == DNS_T_AAAA) {
		struct dns_rr *rr = &a->rr[a->nrr++];
		rr->type = type;
		if (type == DNS_T_A)
			inet_pton(AF_INET, h & 16 ? "192.0.2.1" : "198.51.100.1", rr->u.a);
		else
			inet_pton(AF_INET6, h & 16 ? "2001:db8::1" : "2001:db8::2", rr->u.aaaa);
	} else if (type == DNS_T_MX || type == DNS_T_PTR) {
		unsigned n = (h >> 12) % 14;
		for (unsigned i = 0; i < n; i++)
			add_name(a, type, type == DNS_T_MX ? "mx%u.example.org" : "p%u.example.org",
			         i);
	}
	if (a->nrr == 0)
		a->status = DNS_NODATA;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 16384)
		return 0;
	static const char *ips[] = {"192.0.2.1", "2001:db8::1", "::ffff:198.51.100.1", "192.0.2.9"};
	struct lines l = {.n = 0};
	const uint8_t *p = data + 1, *end = data + size;
	while (p <= end && l.n < 32) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		l.p[l.n] = p;
		l.len[l.n++] = (size_t)((nl ? nl : end) - p);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	struct spf_request req = {
	    .ip = ips[data[0] % 4],
	    .sender = data[0] & 4 ? "" : "user@example.org",
	    .helo = "example.org",
	    .receiver = "mx.example",
	    .now = 1,
	};
	struct spf *s = spf_new(&req, data[0] & 8 ? SPF_ID_HELO : SPF_ID_MAILFROM);
	if (s == NULL)
		abort();
	const char *name;
	uint16_t type;
	int steps = 0;
	while (spf_step(s, &name, &type) == SPF_STEP_DNS) {
		struct dns_answer a;
		if (++steps > 300 || !dns_name_valid(name))
			abort();
		answer(&l, name, type, &a);
		spf_answer(s, &a);
		dns_answer_free(&a);
	}
	enum spf_result r = spf_result(s);
	if (r > SPF_PERMERROR || (spf_explanation(s) != NULL) != (r == SPF_FAIL))
		abort();
	spf_free(s);
	return 0;
}
