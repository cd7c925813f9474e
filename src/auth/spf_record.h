/*
 * spf_record: the SPF record parser (RFC 7208 §4.5, §4.6, §5, §6): record
 * selection among a name's TXT strings, and the syntax of a whole record
 * into terms, checked completely before anything is evaluated ("if there
 * are any syntax errors anywhere in the record, check_host() returns
 * permerror"). Pure and bounded: the text is anyone's DNS record.
 */
#ifndef RAVEN_SPF_RECORD_H
#define RAVEN_SPF_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "spf.h"

/* Longest record we parse (a TXT answer is at most 64 KiB anyway). */
#define SPF_RECORD_MAX 8192
/* Most terms in one record. */
#define SPF_TERMS_MAX 512

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

struct spf_term {
	enum spf_mech mech;
	enum spf_result qual; /* PASS, FAIL, SOFTFAIL or NEUTRAL */
	char *spec;           /* domain-spec; NULL: <domain> (a, mx, ptr) */
	unsigned letters;     /* macro letters spec uses (SPF_LETTER) */
	int cidr4, cidr6;     /* prefix lengths (a, mx: both; ip4/ip6: one) */
	uint8_t net[16];      /* ip4: 4 octets, ip6: 16 */
	char *text;           /* the term as written, for diagnostics */
};

struct spf_record {
	struct spf_term *term;
	size_t nterm;
	char *redirect; /* domain-spec or NULL */
	unsigned redirect_letters;
	char *exp; /* domain-spec or NULL */
	unsigned exp_letters;
};

/* 1 if a TXT record's text is an SPF record: "v=spf1" (any case), then a
 * space or the end (§4.5). */
int spf_record_is_spf(const uint8_t *txt, size_t len);
/* Parse a whole record (starting "v=spf1"). 0, or -1 with the reason. */
int spf_record_parse(const char *txt, size_t len, struct spf_record *rec, char *err, size_t errlen);
void spf_record_free(struct spf_record *rec);
/* "include", "a", ... */
const char *spf_mech_name(enum spf_mech m);

#endif
