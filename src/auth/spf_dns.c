/*
 * spf_dns: drive the SPF evaluator with the dns module on the resolver's
 * event loop (see spf_check_start in spf.h). One lookup is outstanding at
 * a time, as the evaluator asks; the RFC 7208 §4.6.4 overall time limit is
 * a timer that cancels the lookup and ends the check with temperror.
 */
#include <event2/event.h>
#include <stdlib.h>

#include "dns.h"
#include "log.h"
#include "spf.h"
#include "xmalloc.h"

struct spf_check {
	struct dns_resolver *r;
	struct spf *spf;
	struct dns_query *q;
	struct event *limit; /* the overall time limit */
	struct event *now;   /* delivers a result found without any lookup */
	int delivering;
	void (*cb)(enum spf_result res, const char *explanation, const char *reason, void *arg);
	void *arg;
};

static void check_free(struct spf_check *c)
{
	if (c->q)
		dns_cancel(c->q);
	event_free(c->limit);
	event_free(c->now);
	spf_free(c->spf);
	free(c);
}

static void deliver(struct spf_check *c)
{
	c->delivering = 1;
	c->cb(spf_result(c->spf), spf_explanation(c->spf), spf_reason(c->spf), c->arg);
	check_free(c);
}

static void on_answer(const struct dns_answer *a, void *arg);

/* Step the evaluator; 1 when it is done. */
static int run(struct spf_check *c)
{
	const char *name;
	uint16_t type;
	while (spf_step(c->spf, &name, &type) == SPF_STEP_DNS) {
		c->q = dns_lookup(c->r, name, type, on_answer, c);
		if (c->q)
			return 0;
		/* the evaluator only asks for valid names; never trust it */
		struct dns_answer bad = {.status = DNS_TEMPFAIL};
		spf_answer(c->spf, &bad);
	}
	return 1;
}

static void on_answer(const struct dns_answer *a, void *arg)
{
	struct spf_check *c = arg;
	c->q = NULL;
	spf_answer(c->spf, a);
	if (run(c))
		deliver(c);
}

static void on_limit(evutil_socket_t fd, short what, void *arg)
{
	struct spf_check *c = arg;
	(void)fd;
	(void)what;
	if (c->q) {
		dns_cancel(c->q);
		c->q = NULL;
	}
	spf_abort(c->spf, "time limit for the SPF check reached");
	deliver(c);
}

static void on_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

struct spf_check *spf_check_start(struct dns_resolver *r, const struct spf_request *req,
                                  enum spf_identity id,
                                  void (*cb)(enum spf_result res, const char *explanation,
                                             const char *reason, void *arg),
                                  void *arg)
{
	struct spf *s = spf_new(req, id);
	if (s == NULL)
		return NULL;
	struct spf_check *c = xcalloc(1, sizeof(*c));
	unsigned ms = req->time_limit_ms ? req->time_limit_ms : SPF_TIME_LIMIT_MS;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	c->r = r;
	c->spf = s;
	c->cb = cb;
	c->arg = arg;
	c->limit = evtimer_new(dns_event_base(r), on_limit, c);
	c->now = evtimer_new(dns_event_base(r), on_now, c);
	if (c->limit == NULL || c->now == NULL)
		fatal("spf: evtimer_new failed");
	evtimer_add(c->limit, &tv);
	if (run(c)) {
		evtimer_del(c->limit);
		event_active(c->now, EV_TIMEOUT, 1);
	}
	return c;
}

void spf_check_cancel(struct spf_check *c)
{
	if (c == NULL || c->delivering)
		return;
	check_free(c);
}
