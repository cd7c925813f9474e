/*
 * dns_rdata: the parsed form of a DNS answer, and the pure parser that makes
 * it from the wire-format reply libunbound hands us. The packet comes from
 * the network through a resolver we do not control, so the parser trusts
 * nothing: every length is checked against the packet, compression pointers
 * may only point backwards, names are limited to 255 octets on the wire.
 *
 * Names are given in presentation form (RFC 1035 §5.1): labels separated by
 * ".", no trailing dot; the octets ".", "\" and anything outside 0x21-0x7e
 * inside a label are written "\." "\\" "\DDD". dns_lookup() takes the same
 * form, so a name read from an answer can be looked up again as it is.
 */
#ifndef RAVEN_DNS_RDATA_H
#define RAVEN_DNS_RDATA_H

#include <stddef.h>
#include <stdint.h>

#define DNS_T_A     1
#define DNS_T_NS    2
#define DNS_T_CNAME 5
#define DNS_T_SOA   6
#define DNS_T_PTR   12
#define DNS_T_MX    15
#define DNS_T_TXT   16
#define DNS_T_AAAA  28
#define DNS_T_TLSA  52

/* Longest name in presentation form: 255 wire octets, every one escaped. */
#define DNS_NAME_TEXT_MAX 1024
/* More records than this in one answer is treated as a broken answer. */
#define DNS_MAX_RR 1024
/* CNAMEs followed inside one answer. */
#define DNS_MAX_CNAME 16

enum dns_status {
	DNS_OK,       /* records of the asked type (nrr >= 1) */
	DNS_NXDOMAIN, /* the name does not exist (RCODE 3) */
	DNS_NODATA,   /* the name exists, no record of that type */
	DNS_TEMPFAIL, /* SERVFAIL, other RCODEs, a broken or bogus answer */
	DNS_TIMEOUT,  /* no answer within the resolver's timeout */
};

/* One character-string of a TXT record; points into its record's joined. */
struct dns_txt_str {
	const uint8_t *p;
	size_t len;
};

struct dns_rr {
	uint16_t type;
	uint32_t ttl;
	union {
		uint8_t a[4];
		uint8_t aaaa[16];
		struct {
			uint16_t pref;
			char *exchange; /* "" for the root (a null MX, RFC 7505) */
		} mx;
		char *name; /* PTR, CNAME, NS target */
		struct {
			size_t nstr; /* 0 for an empty record */
			struct dns_txt_str *str;
			/* every string concatenated, NUL-terminated (may also hold
			 * NULs of its own: use joined_len) */
			uint8_t *joined;
			size_t joined_len;
		} txt;
		struct {
			uint8_t usage, selector, mtype;
			uint8_t *data;
			size_t len;
		} tlsa;
	} u;
};

struct dns_answer {
	enum dns_status status;
	int secure;      /* DNSSEC-validated (only with validation enabled) */
	int bogus;       /* validation failed: status is DNS_TEMPFAIL, no records */
	uint32_t ttl;    /* min TTL of the records, or the negative TTL */
	char *qname;     /* as asked */
	uint16_t qtype;  /* as asked */
	char *canonical; /* qname after the CNAMEs of the answer */
	size_t nrr;
	struct dns_rr *rr; /* records of type qtype, in packet order */
	char *why;         /* for DNS_TEMPFAIL: what went wrong, or NULL */
};

/*
 * Parse a whole reply to a question for qtype: its RCODE, and the records of
 * qtype found by following the CNAMEs of the answer section from the
 * question's name. ans is overwritten (free it with dns_answer_free). -1 and
 * a reason when the packet is malformed or answers another question.
 */
int dns_packet_parse(const uint8_t *pkt, size_t len, uint16_t qtype, struct dns_answer *ans,
                     char *err, size_t errlen);
/*
 * A reply as a resolver got it, before it is parsed: what libunbound hands
 * its callback, and what a resolver role passes to another process (the
 * DNS_RES frame), so that the receiver parses the packet itself with
 * dns_packet_parse instead of trusting a summary.
 */
struct dns_raw {
	int answered;           /* 0: no reply at all (status says why) */
	enum dns_status status; /* when !answered: DNS_TIMEOUT or DNS_TEMPFAIL */
	int rcode;              /* when answered: the RCODE */
	int sec;                /* libunbound's verdict: 0 unsigned, 1 bogus, 2 secure */
	const uint8_t *pkt;     /* the reply packet, or NULL */
	size_t len;
	const char *why; /* a failure's or a bogus answer's reason, or NULL */
};

/*
 * The answer a raw reply makes for a question of qtype (always filled in;
 * free it with dns_answer_free): NXDOMAIN for RCODE 3, TEMPFAIL for other
 * RCODEs, a packet that does not parse or a bogus one (bogus set), else
 * the parsed records (secure when sec is 2).
 */
void dns_answer_from_raw(const struct dns_raw *raw, uint16_t qtype, struct dns_answer *ans);
/* Free what ans holds (not ans itself) and zero it. */
void dns_answer_free(struct dns_answer *ans);
/* "A", "MX", ... or "TYPE123" in buf. */
const char *dns_type_name(uint16_t type, char *buf, size_t len);
/* 1..65535 from "A", "mx", "TYPE99", "99"; 0 if unknown. */
uint16_t dns_type_from_name(const char *s);
const char *dns_status_name(enum dns_status s);

#endif
