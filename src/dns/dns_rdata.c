/*
 * dns_rdata: the bounded parser of DNS reply packets (see dns_rdata.h).
 * It reads the header and the question, collects the answer section's
 * records, follows the CNAME chain from the question's name and keeps the
 * records of the asked type at its end; a negative answer's TTL comes from
 * the SOA in the authority section (RFC 2308 §5).
 */
#include "dns_rdata.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "xmalloc.h"

#define RCODE_NOERROR  0
#define RCODE_NXDOMAIN 3
#define MAX_POINTERS   128

struct pkt {
	const uint8_t *p;
	size_t len;
};

/* A record of the answer or authority section, rdata not yet decoded. */
struct raw_rr {
	char *owner;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdoff, rdlen;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Append one label octet to out in presentation form; -1 if out is full. */
static int put_octet(char *out, size_t outlen, size_t *o, uint8_t c)
{
	char tmp[5];
	size_t n;
	if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
		tmp[0] = (char)c;
		n = 1;
	} else if (c == '.' || c == '\\') {
		tmp[0] = '\\';
		tmp[1] = (char)c;
		n = 2;
	} else {
		snprintf(tmp, sizeof(tmp), "\\%03u", c);
		n = 4;
	}
	if (*o + n >= outlen)
		return -1;
	memcpy(out + *o, tmp, n);
	*o += n;
	return 0;
}

/*
 * Read the name at *off into out (presentation form, "" for the root) and
 * move *off past it. A compression pointer must point before the labels
 * that contain it, so every name read ends.
 */
static int read_name(const struct pkt *k, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, after = 0, floor = *off, o = 0, wire = 1;
	int jumped = 0, hops = 0;
	for (;;) {
		if (pos >= k->len)
			return -1;
		uint8_t c = k->p[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= k->len)
				return -1;
			size_t ptr = (size_t)(c & 0x3f) << 8 | k->p[pos + 1];
			if (!jumped)
				after = pos + 2;
			jumped = 1;
			if (ptr >= floor || ++hops > MAX_POINTERS)
				return -1;
			floor = pos = ptr;
			continue;
		}
		if (c & 0xc0) /* extended label types (RFC 6891 §5) */
			return -1;
		pos++;
		if (c == 0)
			break;
		if (c > k->len - pos)
			return -1;
		wire += (size_t)c + 1;
		if (wire > 255)
			return -1;
		if (o > 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (size_t i = 0; i < c; i++)
			if (put_octet(out, outlen, &o, k->p[pos + i]) == -1)
				return -1;
		pos += c;
	}
	out[o] = 0;
	*off = jumped ? after : pos;
	return 0;
}

/* A name that must fill rdata[off, end) exactly. */
static char *rdata_name(const struct pkt *k, size_t off, size_t end)
{
	char name[DNS_NAME_TEXT_MAX];
	struct pkt sub = {k->p, end}; /* the name may not run past its rdata */
	if (read_name(&sub, &off, name, sizeof(name)) == -1 || off != end)
		return NULL;
	return xstrdup(name);
}

static int read_rr(const struct pkt *k, size_t *off, struct raw_rr *rr)
{
	char name[DNS_NAME_TEXT_MAX];
	if (read_name(k, off, name, sizeof(name)) == -1)
		return -1;
	if (k->len - *off < 10)
		return -1;
	const uint8_t *h = k->p + *off;
	rr->type = get16(h);
	rr->class = get16(h + 2);
	rr->ttl = get32(h + 4);
	if (rr->ttl > 0x7fffffff) /* RFC 2181 §8: treat as zero */
		rr->ttl = 0;
	rr->rdlen = get16(h + 8);
	rr->rdoff = *off + 10;
	if (rr->rdlen > k->len - rr->rdoff)
		return -1;
	*off = rr->rdoff + rr->rdlen;
	rr->owner = xstrdup(name);
	return 0;
}

static int decode_txt(const struct pkt *k, const struct raw_rr *raw, struct dns_rr *rr)
{
	const uint8_t *p = k->p + raw->rdoff;
	size_t n = 0, total = 0;
	for (size_t i = 0; i < raw->rdlen; i += (size_t)p[i] + 1) {
		if ((size_t)p[i] + 1 > raw->rdlen - i)
			return -1;
		n++;
		total += p[i];
	}
	rr->u.txt.nstr = n;
	rr->u.txt.str = xcalloc(n ? n : 1, sizeof(*rr->u.txt.str));
	rr->u.txt.joined = xmalloc(total + 1);
	rr->u.txt.joined_len = total;
	size_t o = 0, s = 0;
	for (size_t i = 0; i < raw->rdlen; i += (size_t)p[i] + 1) {
		memcpy(rr->u.txt.joined + o, p + i + 1, p[i]);
		rr->u.txt.str[s].p = rr->u.txt.joined + o;
		rr->u.txt.str[s].len = p[i];
		o += p[i];
		s++;
	}
	rr->u.txt.joined[total] = 0;
	return 0;
}

/* Decode raw's rdata into rr (type and TTL already set). */
static int decode_rdata(const struct pkt *k, const struct raw_rr *raw, struct dns_rr *rr)
{
	const uint8_t *p = k->p + raw->rdoff;
	size_t end = raw->rdoff + raw->rdlen;
	switch (raw->type) {
	case DNS_T_A:
		if (raw->rdlen != 4)
			return -1;
		memcpy(rr->u.a, p, 4);
		return 0;
	case DNS_T_AAAA:
		if (raw->rdlen != 16)
			return -1;
		memcpy(rr->u.aaaa, p, 16);
		return 0;
	case DNS_T_MX:
		if (raw->rdlen < 3)
			return -1;
		rr->u.mx.pref = get16(p);
		rr->u.mx.exchange = rdata_name(k, raw->rdoff + 2, end);
		return rr->u.mx.exchange ? 0 : -1;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		rr->u.name = rdata_name(k, raw->rdoff, end);
		return rr->u.name ? 0 : -1;
	case DNS_T_TXT:
		return decode_txt(k, raw, rr);
	case DNS_T_TLSA:
		if (raw->rdlen < 3)
			return -1;
		rr->u.tlsa.usage = p[0];
		rr->u.tlsa.selector = p[1];
		rr->u.tlsa.mtype = p[2];
		rr->u.tlsa.len = raw->rdlen - 3; /* may be 0: DANE code judges */
		rr->u.tlsa.data = xmalloc(rr->u.tlsa.len ? rr->u.tlsa.len : 1);
		memcpy(rr->u.tlsa.data, p + 3, rr->u.tlsa.len);
		return 0;
	default: /* kept as type and TTL only */
		return 0;
	}
}

static void rr_free(struct dns_rr *rr)
{
	switch (rr->type) {
	case DNS_T_MX:
		free(rr->u.mx.exchange);
		break;
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		free(rr->u.name);
		break;
	case DNS_T_TXT:
		free(rr->u.txt.str);
		free(rr->u.txt.joined);
		break;
	case DNS_T_TLSA:
		free(rr->u.tlsa.data);
		break;
	default:
		break;
	}
}

void dns_answer_free(struct dns_answer *ans)
{
	for (size_t i = 0; i < ans->nrr; i++)
		rr_free(&ans->rr[i]);
	free(ans->rr);
	free(ans->qname);
	free(ans->canonical);
	free(ans->why);
	memset(ans, 0, sizeof(*ans));
}

/* The negative-caching TTL: min(SOA TTL, SOA MINIMUM) of the authority's SOA. */
static uint32_t negative_ttl(const struct pkt *k, const struct raw_rr *auth, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (auth[i].type != DNS_T_SOA || auth[i].rdlen < 22)
			continue;
		uint32_t min = get32(k->p + auth[i].rdoff + auth[i].rdlen - 4);
		return min < auth[i].ttl ? min : auth[i].ttl;
	}
	return 0;
}

static void raw_free(struct raw_rr *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].owner);
	free(r);
}

static int fail(struct dns_answer *ans, struct raw_rr *raw, size_t n, char *err, size_t errlen,
                const char *why)
{
	raw_free(raw, n);
	dns_answer_free(ans);
	err_set(err, errlen, "malformed DNS reply: %s", why);
	return -1;
}

int dns_packet_parse(const uint8_t *p, size_t len, uint16_t qtype, struct dns_answer *ans,
                     char *err, size_t errlen)
{
	struct pkt k = {p, len};
	struct raw_rr *raw = NULL;
	size_t nraw = 0;
	char name[DNS_NAME_TEXT_MAX];

	memset(ans, 0, sizeof(*ans));
	if (len < 12)
		return fail(ans, raw, nraw, err, errlen, "short header");
	unsigned rcode = p[3] & 0x0f;
	size_t qd = get16(p + 4), an = get16(p + 6), ns = get16(p + 8);
	if (!(p[2] & 0x80) || qd != 1)
		return fail(ans, raw, nraw, err, errlen, "not a reply to one question");
	size_t off = 12;
	if (read_name(&k, &off, name, sizeof(name)) == -1 || len - off < 4)
		return fail(ans, raw, nraw, err, errlen, "bad question");
	if (get16(p + off) != qtype)
		return fail(ans, raw, nraw, err, errlen, "reply to another type");
	off += 4;
	ans->qname = xstrdup(name);
	ans->qtype = qtype;
	if (an + ns > DNS_MAX_RR)
		return fail(ans, raw, nraw, err, errlen, "too many records");
	raw = xcalloc(an + ns ? an + ns : 1, sizeof(*raw));
	for (; nraw < an + ns; nraw++)
		if (read_rr(&k, &off, &raw[nraw]) == -1)
			return fail(ans, raw, nraw, err, errlen, "bad record");

	/* Follow the CNAMEs from the question's name, then keep qtype's records. */
	const char *cur = ans->qname;
	uint32_t ttl = UINT32_MAX;
	for (int hops = 0; qtype != DNS_T_CNAME; hops++) {
		size_t i;
		for (i = 0; i < an; i++)
			if (raw[i].type == DNS_T_CNAME && raw[i].class == 1 &&
			    strcasecmp(raw[i].owner, cur) == 0)
				break;
		if (i == an)
			break;
		if (hops == DNS_MAX_CNAME)
			return fail(ans, raw, nraw, err, errlen, "CNAME chain too long");
		char *target = rdata_name(&k, raw[i].rdoff, raw[i].rdoff + raw[i].rdlen);
		if (target == NULL)
			return fail(ans, raw, nraw, err, errlen, "bad CNAME");
		free(ans->canonical);
		ans->canonical = target;
		cur = target;
		ttl = raw[i].ttl < ttl ? raw[i].ttl : ttl;
	}
	if (ans->canonical == NULL)
		ans->canonical = xstrdup(ans->qname);
	cur = ans->canonical;

	ans->rr = xcalloc(an ? an : 1, sizeof(*ans->rr));
	for (size_t i = 0; i < an; i++) {
		if (raw[i].type != qtype || raw[i].class != 1 || strcasecmp(raw[i].owner, cur) != 0)
			continue;
		struct dns_rr *rr = &ans->rr[ans->nrr];
		rr->type = raw[i].type;
		rr->ttl = raw[i].ttl;
		if (decode_rdata(&k, &raw[i], rr) == -1) {
			rr_free(rr);
			memset(rr, 0, sizeof(*rr));
			return fail(ans, raw, nraw, err, errlen, "bad rdata");
		}
		ans->nrr++;
		ttl = rr->ttl < ttl ? rr->ttl : ttl;
	}

	if (rcode == RCODE_NOERROR && ans->nrr > 0) {
		ans->status = DNS_OK;
		ans->ttl = ttl;
	} else if (rcode == RCODE_NOERROR || rcode == RCODE_NXDOMAIN) {
		for (size_t i = 0; i < ans->nrr; i++)
			rr_free(&ans->rr[i]);
		ans->nrr = 0;
		ans->status = rcode == RCODE_NOERROR ? DNS_NODATA : DNS_NXDOMAIN;
		ans->ttl = negative_ttl(&k, raw + an, ns);
	} else {
		for (size_t i = 0; i < ans->nrr; i++)
			rr_free(&ans->rr[i]);
		ans->nrr = 0;
		ans->status = DNS_TEMPFAIL;
		ans->why = xasprintf("RCODE %u", rcode);
	}
	raw_free(raw, nraw);
	return 0;
}

/* The reply's RCODE decides before its records are looked at; an NXDOMAIN
 * is parsed too, for its negative TTL, and stays NXDOMAIN if it is broken. */
void dns_answer_from_raw(const struct dns_raw *raw, uint16_t qtype, struct dns_answer *ans)
{
	char err[128];
	memset(ans, 0, sizeof(*ans));
	if (!raw->answered) {
		ans->status = raw->status == DNS_TIMEOUT ? DNS_TIMEOUT : DNS_TEMPFAIL;
		ans->why = xstrdup(raw->why                     ? raw->why
		                   : ans->status == DNS_TIMEOUT ? "no answer in time"
		                                                : "lookup failed");
		return;
	}
	if (raw->rcode != RCODE_NOERROR && raw->rcode != RCODE_NXDOMAIN) {
		ans->status = DNS_TEMPFAIL;
		ans->why = xasprintf("RCODE %d", raw->rcode);
		return;
	}
	if (raw->pkt == NULL ||
	    dns_packet_parse(raw->pkt, raw->len, qtype, ans, err, sizeof(err)) == -1) {
		dns_answer_free(ans);
		ans->status = raw->rcode == RCODE_NXDOMAIN ? DNS_NXDOMAIN : DNS_TEMPFAIL;
		if (ans->status == DNS_TEMPFAIL)
			ans->why = xstrdup(raw->pkt == NULL ? "no reply packet" : err);
		return;
	}
	if (raw->rcode == RCODE_NXDOMAIN && ans->status != DNS_NXDOMAIN) {
		/* the header said so; the parser agrees unless the packet lies */
		dns_answer_free(ans);
		ans->status = DNS_NXDOMAIN;
		return;
	}
	if (raw->sec == 1) {
		/* A validating stub must not use what failed validation. */
		dns_answer_free(ans);
		ans->status = DNS_TEMPFAIL;
		ans->bogus = 1;
		ans->why = xstrdup(raw->why ? raw->why : "DNSSEC validation failed");
		return;
	}
	ans->secure = raw->sec == 2;
}

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
    {DNS_T_A, "A"},       {DNS_T_NS, "NS"}, {DNS_T_CNAME, "CNAME"}, {DNS_T_SOA, "SOA"},
    {DNS_T_PTR, "PTR"},   {DNS_T_MX, "MX"}, {DNS_T_TXT, "TXT"},     {DNS_T_AAAA, "AAAA"},
    {DNS_T_TLSA, "TLSA"}, {99, "SPF"},
};

const char *dns_type_name(uint16_t type, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

uint16_t dns_type_from_name(const char *s)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcasecmp(type_names[i].name, s) == 0)
			return type_names[i].type;
	if (strncasecmp(s, "TYPE", 4) == 0)
		s += 4;
	if (*s == 0 || strlen(s) > 5)
		return 0;
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	unsigned long v = strtoul(s, NULL, 10);
	return v >= 1 && v <= 65535 ? (uint16_t)v : 0;
}

const char *dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_NODATA:
		return "nodata";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_TIMEOUT:
		return "timeout";
	}
	return "?";
}
