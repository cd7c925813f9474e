/*
 * spf: the check_host() evaluator of RFC 7208 as a state machine that asks
 * its caller for DNS lookups (see spf.h).
 *
 * State: a stack of frames, one per record being evaluated (the checked
 * domain's, then one per nested include:; redirect= replaces the top
 * frame's record); the term being evaluated; and what the one outstanding
 * lookup is for (enum want). advance() makes one transition; it either sets
 * a lookup (s->asking) or moves to another state; spf_answer() consumes
 * the answer and picks the next state. All limits of §4.6.4 are counted
 * here: DNS terms (10), void lookups (2), MX names (10, more is permerror),
 * PTR names (10, more are ignored).
 *
 * The validated names of the client's address (PTR, then each name's
 * addresses) are computed once, when a ptr mechanism or a %{p} macro first
 * needs them, and kept.
 */
#include "spf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "dns_rdata.h"
#include "dns_util.h"
#include "spf_macro.h"
#include "spf_record.h"
#include "util.h"
#include "xmalloc.h"

#define MAX_DEPTH   (SPF_MAX_DNS_TERMS + 2)
#define MAX_QUERIES 250 /* never reached within the limits above; a backstop */
#define PLAIN_MAX   256 /* a plain name: 253 octets and a NUL */
#define P_LETTER    SPF_LETTER('p')

enum state {
	ST_FETCH,       /* ask for the top frame's record */
	ST_EVAL,        /* evaluate the top frame's next term */
	ST_MX_ADDR,     /* look up the next MX name's addresses */
	ST_AFTER_TERMS, /* no term matched: redirect= or neutral */
	ST_PTR_ADDR,    /* validating PTR names: the next name's addresses */
	ST_EXP,         /* fail: look up the explanation */
	ST_EXP_TEXT,    /* fail: expand the explanation's text */
	ST_DONE,
};

enum want { W_RECORD, W_A, W_MX, W_MX_ADDR, W_EXISTS, W_PTR, W_PTR_ADDR, W_EXP };

struct frame {
	char *domain; /* <domain> */
	struct spf_record rec;
	size_t next; /* the term being evaluated */
	int redirected;
};

struct spf {
	enum spf_identity id;
	int af;
	uint8_t ip[16];
	char *sender, *local, *sender_domain, *helo, *receiver, *default_exp;
	char ip_i[80], ip_c[INET6_ADDRSTRLEN], now[24];

	struct frame stack[MAX_DEPTH];
	int depth;   /* frames in use */
	int decided; /* result known; only the explanation may be missing */
	enum state st;
	unsigned dns_terms, voids, queries;
	int term_counted; /* the current term was counted already */
	char target[PLAIN_MAX];

	/* the lookup asked for */
	int asking;
	enum want want;
	char qname[DNS_NAME_TEXT_MAX];
	uint16_t qtype;

	/* MX or PTR names being walked */
	char **names;
	size_t nnames, ni;

	/* validated PTR names, once computed */
	int ptrs_done, ptr_void;
	enum state after_ptrs;
	char **valid;
	size_t nvalid;
	char p[PLAIN_MAX];

	char *exp_text; /* an explanation waiting for %{p} */
	enum spf_result result;
	char reason[300];
	char *explanation;
	char *first_domain;
};

const char *spf_result_name(enum spf_result r)
{
	static const char *names[] = {"none",     "neutral",   "pass",     "fail",
	                              "softfail", "temperror", "permerror"};
	return r <= SPF_PERMERROR ? names[r] : "?";
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The end: result and reason (printf-style). */
static void finish(struct spf *s, enum spf_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finish(struct spf *s, enum spf_result r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	s->result = r;
	s->st = ST_DONE;
	s->asking = 0;
}

static void ask(struct spf *s, const char *plain, uint16_t type, enum want want)
{
	struct buf b;
	buf_init(&b, sizeof(s->qname) - 1);
	if (++s->queries > MAX_QUERIES) {
		finish(s, SPF_PERMERROR, "more than %d DNS lookups", MAX_QUERIES);
		return;
	}
	if (dns_name_quote(plain, strlen(plain), &b) == -1 || b.len == 0) {
		buf_free(&b); /* name_ok() was checked: cannot happen */
		finish(s, SPF_PERMERROR, "cannot look up \"%.64s\"", plain);
		return;
	}
	memcpy(s->qname, b.data, b.len);
	s->qname[b.len] = 0;
	buf_free(&b);
	s->qtype = type;
	s->want = want;
	s->asking = 1;
}

/* A name that can be looked up: what dns_lookup() takes once quoted
 * (labels of 1-63 octets, at most 255 on the wire). */
static int name_ok(const char *n)
{
	struct buf b;
	buf_init(&b, DNS_NAME_TEXT_MAX);
	int ok = n[0] != 0 && dns_name_quote(n, strlen(n), &b) == 0 &&
	         buf_append_byte(&b, 0) == 0 && dns_name_valid((const char *)b.data);
	buf_free(&b);
	return ok;
}

/* §4.3: a multi-label domain name, or the check's result is "none". */
static int domain_ok(const char *d)
{
	if (!name_ok(d) || strchr(d, '.') == NULL || d[0] == '[')
		return 0;
	for (const char *c = d; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return 0;
	return 1;
}

static struct frame *top(struct spf *s)
{
	return &s->stack[s->depth - 1];
}

static uint16_t addr_type(const struct spf *s)
{
	return s->af == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* Is the client within net/cidr (net of the client's family)? */
static int cidr_match(const struct spf *s, const uint8_t *net, int cidr)
{
	int bits = cidr;
	for (int i = 0; bits > 0; i++, bits -= 8) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		if ((net[i] & mask) != (s->ip[i] & mask))
			return 0;
	}
	return 1;
}

/* Is name v under (or at) domain d? */
static int name_under(const char *v, const char *d, int or_equal)
{
	size_t vl = strlen(v), dl = strlen(d);
	if (or_equal && strcasecmp(v, d) == 0)
		return 1;
	return vl > dl && v[vl - dl - 1] == '.' && strcasecmp(v + vl - dl, d) == 0;
}

/* %{p} (§7.3): a validated name equal to <domain>, else one under it,
 * else any, else "unknown". */
static const char *p_value(const struct spf *s, const char *domain)
{
	for (size_t i = 0; i < s->nvalid; i++)
		if (strcasecmp(s->valid[i], domain) == 0)
			return s->valid[i];
	for (size_t i = 0; i < s->nvalid; i++)
		if (name_under(s->valid[i], domain, 0))
			return s->valid[i];
	return s->nvalid ? s->valid[0] : "unknown";
}

static void macro_env(struct spf *s, const char *domain, struct spf_macro_env *env)
{
	env->s = s->sender;
	env->l = s->local;
	env->o = s->sender_domain;
	env->d = domain;
	env->i = s->ip_i;
	if (s->ptrs_done) {
		snprintf(s->p, sizeof(s->p), "%s", p_value(s, domain));
		env->p = s->p;
	} else {
		env->p = NULL;
	}
	env->v = s->af == AF_INET ? "in-addr" : "ip6";
	env->h = s->helo;
	env->c = s->ip_c;
	env->r = s->receiver;
	env->t = s->now;
}

/* Expand a domain-spec into s->target (a name to look up, maybe not valid:
 * check name_ok). -1 on a macro error. */
static int expand_target(struct spf *s, const char *spec, char *err, size_t errlen)
{
	struct frame *f = top(s);
	struct spf_macro_env env;
	struct buf b;
	if (spec == NULL) {
		snprintf(s->target, sizeof(s->target), "%s", f->domain);
		return 0;
	}
	macro_env(s, f->domain, &env);
	buf_init(&b, SPF_EXPAND_MAX);
	if (spf_macro_expand(spec, strlen(spec), 0, &env, &b, err, errlen) == -1) {
		buf_free(&b);
		return -1;
	}
	char *t = buf_strdup(&b);
	buf_free(&b);
	spf_domain_truncate(t);
	if (strlen(t) >= sizeof(s->target))
		t[0] = 0; /* one label longer than 253 octets: not a name */
	snprintf(s->target, sizeof(s->target), "%s", t);
	free(t);
	return 0;
}

/* Compute the validated PTR names, then go on at state next. */
static void start_ptrs(struct spf *s, enum state next)
{
	char rev[DNS_NAME_TEXT_MAX];
	s->after_ptrs = next;
	s->st = ST_PTR_ADDR; /* until the PTR answer says which names to walk */
	dns_reverse_name(s->af, s->ip, NULL, rev, sizeof(rev));
	ask(s, rev, DNS_T_PTR, W_PTR);
}

static int is_dns_term(enum spf_mech m)
{
	return m == SPF_MECH_INCLUDE || m == SPF_MECH_A || m == SPF_MECH_MX || m == SPF_MECH_PTR ||
	       m == SPF_MECH_EXISTS;
}

static int count_dns_term(struct spf *s)
{
	if (s->term_counted)
		return 0;
	s->term_counted = 1;
	if (++s->dns_terms > SPF_MAX_DNS_TERMS) {
		finish(s, SPF_PERMERROR, "more than %d DNS-querying terms (§4.6.4)",
		       SPF_MAX_DNS_TERMS);
		return -1;
	}
	return 0;
}

static int count_void(struct spf *s)
{
	if (++s->voids > SPF_MAX_VOID) {
		finish(s, SPF_PERMERROR, "more than %d void lookups (§4.6.4), the last for %s",
		       SPF_MAX_VOID, s->target);
		return -1;
	}
	return 0;
}

/* A record's result, decided by a term or by default; pops includes. */
static void frame_result(struct spf *s, enum spf_result r, const char *why);

static void term_done(struct spf *s, int matched)
{
	struct frame *f = top(s);
	struct spf_term *t = &f->rec.term[f->next];
	s->term_counted = 0;
	if (matched) {
		char why[200];
		snprintf(why, sizeof(why), "%s matched %.80s", f->domain, t->text);
		frame_result(s, t->qual, why);
		return;
	}
	f->next++;
	s->st = ST_EVAL;
}

static void push_frame(struct spf *s, const char *domain)
{
	struct frame *f = &s->stack[s->depth++];
	memset(f, 0, sizeof(*f));
	f->domain = xstrdup(domain);
	s->term_counted = 0; /* the include term was; its record's terms not yet */
	s->st = ST_FETCH;
}

static void pop_frame(struct spf *s)
{
	struct frame *f = top(s);
	free(f->domain);
	spf_record_free(&f->rec);
	s->depth--;
}

static void default_explanation(struct spf *s);

static void frame_result(struct spf *s, enum spf_result r, const char *why)
{
	if (s->depth > 1) {
		/* the record of an include: (§5.2) */
		pop_frame(s);
		term_done(s, r == SPF_PASS);
		return;
	}
	snprintf(s->reason, sizeof(s->reason), "%s", why);
	s->result = r;
	s->decided = 1;
	if (r != SPF_FAIL) {
		s->st = ST_DONE;
		return;
	}
	s->st = top(s)->rec.exp ? ST_EXP : ST_DONE;
	if (s->st == ST_DONE)
		default_explanation(s);
}

static void eval_term(struct spf *s)
{
	struct frame *f = top(s);
	char err[200];
	if (f->next == f->rec.nterm) {
		s->st = ST_AFTER_TERMS;
		return;
	}
	struct spf_term *t = &f->rec.term[f->next];
	if (is_dns_term(t->mech) && count_dns_term(s) == -1)
		return;
	switch (t->mech) {
	case SPF_MECH_ALL:
		term_done(s, 1);
		return;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		term_done(s,
		          (t->mech == SPF_MECH_IP4) == (s->af == AF_INET) &&
		              cidr_match(s, t->net, t->mech == SPF_MECH_IP4 ? t->cidr4 : t->cidr6));
		return;
	default:
		break;
	}
	if (((t->letters & P_LETTER) || t->mech == SPF_MECH_PTR) && !s->ptrs_done) {
		start_ptrs(s, ST_EVAL);
		return;
	}
	if (expand_target(s, t->spec, err, sizeof(err)) == -1) {
		finish(s, SPF_PERMERROR, "%s: %s", t->text, err);
		return;
	}
	if (!name_ok(s->target)) {
		/* not a name DNS could hold (empty or long label): §4.3 by
		 * analogy, nothing exists there */
		if (t->mech == SPF_MECH_INCLUDE)
			finish(s, SPF_PERMERROR, "%s: no SPF record at a malformed name", t->text);
		else
			term_done(s, 0);
		return;
	}
	switch (t->mech) {
	case SPF_MECH_A:
		ask(s, s->target, addr_type(s), W_A);
		return;
	case SPF_MECH_MX:
		ask(s, s->target, DNS_T_MX, W_MX);
		return;
	case SPF_MECH_EXISTS:
		ask(s, s->target, DNS_T_A, W_EXISTS); /* A even for IPv6 (§5.7) */
		return;
	case SPF_MECH_INCLUDE:
		if (s->depth == MAX_DEPTH) { /* the term limit ends it first */
			finish(s, SPF_PERMERROR, "includes nested too deep");
			return;
		}
		push_frame(s, s->target);
		return;
	case SPF_MECH_PTR: {
		if (s->ptr_void && count_void(s) == -1)
			return;
		for (size_t i = 0; i < s->nvalid; i++) {
			if (name_under(s->valid[i], s->target, 1)) {
				term_done(s, 1);
				return;
			}
		}
		term_done(s, 0);
		return;
	}
	default:
		return;
	}
}

static void after_terms(struct spf *s)
{
	struct frame *f = top(s);
	char err[200];
	if (f->rec.redirect == NULL) {
		char why[200];
		snprintf(why, sizeof(why), "%s: no term matched (default neutral)", f->domain);
		frame_result(s, SPF_NEUTRAL, why);
		return;
	}
	if (count_dns_term(s) == -1)
		return;
	if ((f->rec.redirect_letters & P_LETTER) && !s->ptrs_done) {
		start_ptrs(s, ST_AFTER_TERMS);
		return;
	}
	if (expand_target(s, f->rec.redirect, err, sizeof(err)) == -1) {
		finish(s, SPF_PERMERROR, "redirect=%s: %s", f->rec.redirect, err);
		return;
	}
	s->term_counted = 0;
	if (!domain_ok(s->target)) {
		finish(s, SPF_PERMERROR, "redirect=%s: malformed domain \"%.64s\"", f->rec.redirect,
		       s->target);
		return;
	}
	/* §6.1: the redirect's record replaces this one, its exp= too */
	free(f->domain);
	spf_record_free(&f->rec);
	f->domain = xstrdup(s->target);
	f->next = 0;
	f->redirected = 1;
	s->st = ST_FETCH;
}

static void set_explanation(struct spf *s, const char *text, size_t len)
{
	struct spf_macro_env env;
	struct buf b;
	char err[100];
	macro_env(s, top(s)->domain, &env);
	if (env.p == NULL)
		env.p = "unknown";
	buf_init(&b, SPF_EXPAND_MAX);
	free(s->explanation);
	if (spf_macro_expand(text, len, SPF_MACRO_EXP, &env, &b, err, sizeof(err)) == 0)
		s->explanation = buf_strdup(&b);
	else
		s->explanation = NULL;
	buf_free(&b);
}

static void default_explanation(struct spf *s)
{
	set_explanation(s, s->default_exp, strlen(s->default_exp));
	if (s->explanation == NULL) /* a default that is not a macro-string */
		s->explanation = xstrdup(s->default_exp);
}

static void exp_lookup(struct spf *s)
{
	struct frame *f = top(s);
	char err[100];
	if ((f->rec.exp_letters & P_LETTER) && !s->ptrs_done) {
		start_ptrs(s, ST_EXP);
		return;
	}
	/* §6.2: any trouble with exp= gives the default explanation */
	if (expand_target(s, f->rec.exp, err, sizeof(err)) == -1 || !name_ok(s->target)) {
		default_explanation(s);
		s->st = ST_DONE;
		return;
	}
	ask(s, s->target, DNS_T_TXT, W_EXP);
}

static void exp_answer(struct spf *s, const struct dns_answer *a)
{
	unsigned letters;
	s->st = ST_DONE;
	if (a->status != DNS_OK || a->nrr != 1 || a->rr[0].type != DNS_T_TXT) {
		default_explanation(s);
		return;
	}
	const struct dns_rr *rr = &a->rr[0];
	const char *text = (const char *)rr->u.txt.joined;
	size_t len = rr->u.txt.joined_len;
	if (spf_macro_check(text, len, SPF_MACRO_EXP, &letters, NULL, 0) == -1) {
		default_explanation(s);
		return;
	}
	if ((letters & P_LETTER) && !s->ptrs_done) {
		s->exp_text = xstrndup(text, len);
		start_ptrs(s, ST_EXP_TEXT);
		return;
	}
	set_explanation(s, text, len);
	if (s->explanation == NULL)
		default_explanation(s);
}

static void record_answer(struct spf *s, const struct dns_answer *a)
{
	struct frame *f = top(s);
	char err[200];
	const struct dns_rr *found = NULL;
	if (a->status == DNS_TEMPFAIL || a->status == DNS_TIMEOUT) {
		finish(s, SPF_TEMPERROR, "DNS %s looking up the SPF record of %s",
		       dns_status_name(a->status), f->domain);
		return;
	}
	for (size_t i = 0; a->status == DNS_OK && i < a->nrr; i++) {
		const struct dns_rr *rr = &a->rr[i];
		if (rr->type != DNS_T_TXT ||
		    !spf_record_is_spf(rr->u.txt.joined, rr->u.txt.joined_len))
			continue;
		if (found) {
			finish(s, SPF_PERMERROR, "%s has more than one SPF record (§4.5)",
			       f->domain);
			return;
		}
		found = rr;
	}
	if (found == NULL) {
		if (s->depth > 1)
			finish(s, SPF_PERMERROR, "include:%s has no SPF record", f->domain);
		else if (f->redirected)
			finish(s, SPF_PERMERROR, "redirect=%s has no SPF record", f->domain);
		else
			finish(s, SPF_NONE, "%s has no SPF record", f->domain);
		return;
	}
	if (spf_record_parse((const char *)found->u.txt.joined, found->u.txt.joined_len, &f->rec,
	                     err, sizeof(err)) == -1) {
		finish(s, SPF_PERMERROR, "SPF record of %s: %s", f->domain, err);
		return;
	}
	s->st = ST_EVAL;
}

/* The names an MX or PTR answer gives, as plain text, at most max. */
static void take_names(struct spf *s, const struct dns_answer *a, size_t max)
{
	free_names(s->names, s->nnames);
	s->names = xcalloc(a->nrr ? a->nrr : 1, sizeof(*s->names));
	s->nnames = s->ni = 0;
	for (size_t i = 0; i < a->nrr && s->nnames < max; i++) {
		const char *n = a->rr[i].type == DNS_T_MX    ? a->rr[i].u.mx.exchange
		                : a->rr[i].type == DNS_T_PTR ? a->rr[i].u.name
		                                             : NULL;
		char plain[DNS_NAME_TEXT_MAX];
		if (n == NULL)
			continue;
		if (dns_name_unquote(n, plain, sizeof(plain)) == -1)
			plain[0] = 0; /* counted, never matched */
		s->names[s->nnames++] = xstrdup(plain);
	}
}

static int any_addr_matches(const struct spf *s, const struct dns_answer *a, int cidr)
{
	for (size_t i = 0; i < a->nrr; i++) {
		const struct dns_rr *rr = &a->rr[i];
		if (rr->type == DNS_T_A && s->af == AF_INET && cidr_match(s, rr->u.a, cidr))
			return 1;
		if (rr->type == DNS_T_AAAA && s->af == AF_INET6 && cidr_match(s, rr->u.aaaa, cidr))
			return 1;
	}
	return 0;
}

static int dns_failed(struct spf *s, const struct dns_answer *a)
{
	if (a->status != DNS_TEMPFAIL && a->status != DNS_TIMEOUT)
		return 0;
	finish(s, SPF_TEMPERROR, "DNS %s looking up %s", dns_status_name(a->status), s->qname);
	return 1;
}

static int current_cidr(struct spf *s)
{
	struct spf_term *t = &top(s)->rec.term[top(s)->next];
	return s->af == AF_INET ? t->cidr4 : t->cidr6;
}

void spf_answer(struct spf *s, const struct dns_answer *a)
{
	if (!s->asking)
		return;
	s->asking = 0;
	int void_answer = a->status == DNS_NXDOMAIN || a->status == DNS_NODATA;
	switch (s->want) {
	case W_RECORD:
		record_answer(s, a);
		return;
	case W_A:
	case W_EXISTS:
		if (dns_failed(s, a) || (void_answer && count_void(s) == -1))
			return;
		term_done(s, s->want == W_EXISTS ? a->status == DNS_OK
		                                 : any_addr_matches(s, a, current_cidr(s)));
		return;
	case W_MX:
		if (dns_failed(s, a) || (void_answer && count_void(s) == -1))
			return;
		if (a->nrr > SPF_MAX_MX_NAMES) {
			finish(s, SPF_PERMERROR, "%s has more than %d MX records (§4.6.4)",
			       s->target, SPF_MAX_MX_NAMES);
			return;
		}
		take_names(s, a, SPF_MAX_MX_NAMES);
		s->st = ST_MX_ADDR;
		return;
	case W_MX_ADDR:
		if (dns_failed(s, a))
			return;
		if (any_addr_matches(s, a, current_cidr(s)))
			term_done(s, 1);
		else
			s->st = ST_MX_ADDR;
		return;
	case W_PTR:
		/* errors make the ptr mechanism not match (§5.5), p "unknown" */
		s->ptr_void = void_answer;
		take_names(s, a->status == DNS_OK ? a : &(struct dns_answer){0}, SPF_MAX_PTR_NAMES);
		s->st = ST_PTR_ADDR;
		return;
	case W_PTR_ADDR:
		/* a name whose lookup fails is skipped (§5.5) */
		if (a->status == DNS_OK && any_addr_matches(s, a, s->af == AF_INET ? 32 : 128)) {
			s->valid = xreallocarray(s->valid, s->nvalid + 1, sizeof(*s->valid));
			s->valid[s->nvalid++] = xstrdup(s->names[s->ni - 1]);
		}
		s->st = ST_PTR_ADDR;
		return;
	case W_EXP:
		exp_answer(s, a);
		return;
	}
}

static void next_name(struct spf *s, enum want want)
{
	while (s->ni < s->nnames) {
		const char *n = s->names[s->ni++];
		if (name_ok(n)) {
			ask(s, n, addr_type(s), want);
			return;
		}
	}
	if (want == W_MX_ADDR) {
		term_done(s, 0);
		return;
	}
	s->ptrs_done = 1;
	s->st = s->after_ptrs;
}

static void advance(struct spf *s)
{
	switch (s->st) {
	case ST_FETCH:
		ask(s, top(s)->domain, DNS_T_TXT, W_RECORD);
		return;
	case ST_EVAL:
		eval_term(s);
		return;
	case ST_MX_ADDR:
		next_name(s, W_MX_ADDR);
		return;
	case ST_PTR_ADDR:
		next_name(s, W_PTR_ADDR);
		return;
	case ST_AFTER_TERMS:
		after_terms(s);
		return;
	case ST_EXP:
		exp_lookup(s);
		return;
	case ST_EXP_TEXT:
		set_explanation(s, s->exp_text, strlen(s->exp_text));
		if (s->explanation == NULL)
			default_explanation(s);
		s->st = ST_DONE;
		return;
	case ST_DONE:
		return;
	}
}

enum spf_step spf_step(struct spf *s, const char **name, uint16_t *type)
{
	while (s->st != ST_DONE && !s->asking)
		advance(s);
	if (s->st == ST_DONE)
		return SPF_STEP_DONE;
	*name = s->qname;
	*type = s->qtype;
	return SPF_STEP_DNS;
}

void spf_abort(struct spf *s, const char *why)
{
	if (s->st == ST_DONE)
		return;
	if (s->decided) { /* only the explanation was missing */
		default_explanation(s);
		s->st = ST_DONE;
		s->asking = 0;
		return;
	}
	finish(s, SPF_TEMPERROR, "%s", why);
}

/* Split the identity into <sender>, local-part and domain (§4.3, §2.4). */
static void set_identity(struct spf *s, const struct spf_request *req)
{
	const char *helo = req->helo ? req->helo : "";
	const char *from = req->sender;
	if (s->id == SPF_ID_HELO || from == NULL || from[0] == 0) {
		s->local = xstrdup("postmaster");
		s->sender_domain = xstrdup(helo);
	} else {
		const char *at = strrchr(from, '@');
		if (at == NULL) {
			s->local = xstrdup("postmaster");
			s->sender_domain = xstrdup(from);
		} else {
			s->local = at == from ? xstrdup("postmaster")
			                      : xstrndup(from, (size_t)(at - from));
			s->sender_domain = xstrdup(at + 1);
		}
	}
	size_t dl = strlen(s->sender_domain);
	if (dl > 1 && s->sender_domain[dl - 1] == '.')
		s->sender_domain[dl - 1] = 0;
	s->sender = xasprintf("%s@%s", s->local, s->sender_domain);
	s->helo = xstrdup(helo);
}

static void set_ip_forms(struct spf *s)
{
	static const char hex[] = "0123456789ABCDEF";
	inet_ntop(s->af, s->ip, s->ip_c, sizeof(s->ip_c));
	if (s->af == AF_INET) {
		snprintf(s->ip_i, sizeof(s->ip_i), "%s", s->ip_c);
		return;
	}
	/* %{i} of IPv6: 32 nibbles with dots, in capitals as the RFC 7208
	 * test suite expects (DNS ignores the case) */
	char *o = s->ip_i;
	for (int i = 0; i < 16; i++) {
		*o++ = hex[s->ip[i] >> 4];
		*o++ = '.';
		*o++ = hex[s->ip[i] & 15];
		*o++ = i < 15 ? '.' : 0;
	}
}

struct spf *spf_new(const struct spf_request *req, enum spf_identity id)
{
	uint8_t v6[16];
	struct spf *s = xcalloc(1, sizeof(*s));
	if (req->ip && inet_pton(AF_INET, req->ip, s->ip) == 1) {
		s->af = AF_INET;
	} else if (req->ip && inet_pton(AF_INET6, req->ip, v6) == 1) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(v6, mapped, 12) == 0) { /* §5: IPv4-mapped is IPv4 */
			s->af = AF_INET;
			memcpy(s->ip, v6 + 12, 4);
		} else {
			s->af = AF_INET6;
			memcpy(s->ip, v6, 16);
		}
	} else {
		free(s);
		return NULL;
	}
	s->id = id;
	set_ip_forms(s);
	set_identity(s, req);
	s->receiver = xstrdup(req->receiver ? req->receiver : "unknown");
	s->default_exp =
	    xstrdup(req->default_explanation ? req->default_explanation : SPF_DEFAULT_EXPLAIN);
	snprintf(s->now, sizeof(s->now), "%lld", (long long)(req->now ? req->now : time(NULL)));
	s->first_domain = xstrdup(s->sender_domain);
	if (!domain_ok(s->sender_domain)) {
		finish(s, SPF_NONE, "\"%.64s\" is not a multi-label domain name (§4.3)",
		       s->sender_domain);
		return s;
	}
	push_frame(s, s->sender_domain);
	return s;
}

enum spf_result spf_result(const struct spf *s)
{
	return s->result;
}

const char *spf_explanation(const struct spf *s)
{
	return s->st == ST_DONE && s->result == SPF_FAIL ? s->explanation : NULL;
}

const char *spf_reason(const struct spf *s)
{
	return s->reason;
}

const char *spf_domain(const struct spf *s)
{
	return s->first_domain;
}

unsigned spf_lookups(const struct spf *s)
{
	return s->queries;
}

void spf_free(struct spf *s)
{
	if (s == NULL)
		return;
	while (s->depth > 0)
		pop_frame(s);
	free_names(s->names, s->nnames);
	free_names(s->valid, s->nvalid);
	free(s->sender);
	free(s->local);
	free(s->sender_domain);
	free(s->helo);
	free(s->receiver);
	free(s->default_exp);
	free(s->exp_text);
	free(s->explanation);
	free(s->first_domain);
	free(s);
}
