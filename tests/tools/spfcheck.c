/*
 * spfcheck: run SPF checks through the real dns module and SPF engine
 * (spf_check_start), as the daemon will. Built only with the tests; the
 * RFC 7208 suite driver (tests/integ/test_spf_suite.py) feeds it a batch
 * per zone of the fake DNS server.
 *
 *   spfcheck [options] IP SENDER HELO      one check: RESULT<TAB>EXPLANATION<TAB>REASON
 *   spfcheck [options] -b                  stdin lines ID<TAB>IP<TAB>SENDER<TAB>HELO,
 *                                          out ID<TAB>RESULT<TAB>EXPLANATION<TAB>REASON
 *
 * -s ADDR -p PORT the resolver (default: resolv.conf); -t MS per-query
 * timeout; -T MS the check's time limit; -e TEXT default explanation; -r
 * NAME receiver (%{r}); -n SECONDS the time (%{t}); -H check the HELO
 * identity instead of MAIL FROM; -j N checks at once in a batch; -c MS
 * cancel the (single) check after MS milliseconds, print "cancelled", and
 * keep the loop running for another -w MS (default 1000) to show that no
 * result follows.
 *
 * Every check has a resolver of its own, so no answer is cached from one
 * check into the next (the suite reuses names across scenarios).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "spf.h"
#include "xmalloc.h"

struct job {
	struct run *run;
	char *id;
	struct spf_request req;
	struct dns_resolver *r;
	struct spf_check *check;
	char *line;
};

struct run {
	struct event_base *base;
	struct dns_options dns;
	struct spf_request proto;
	enum spf_identity id;
	int batch;
	unsigned cancel_ms, linger_ms;
	struct job *jobs;
	size_t njobs, next, active, parallel;
	int failed;
};

static void start_next(struct run *run);

static void on_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct run *run = j->run;
	struct timeval tv = {run->linger_ms / 1000, (run->linger_ms % 1000) * 1000};
	(void)fd;
	(void)what;
	if (j->check == NULL)
		return; /* the result came first */
	spf_check_cancel(j->check);
	j->check = NULL;
	dns_free(j->r);
	j->r = NULL;
	printf("cancelled\n");
	fflush(stdout);
	run->active--;
	event_base_loopexit(run->base, &tv);
}

static void on_result(enum spf_result res, const char *explanation, const char *reason, void *arg)
{
	struct job *j = arg;
	struct run *run = j->run;
	if (run->batch)
		printf("%s\t", j->id);
	printf("%s\t%s\t%s\n", spf_result_name(res), explanation ? explanation : "", reason);
	fflush(stdout);
	dns_free(j->r); /* from inside the callback: allowed by dns.h */
	j->r = NULL;
	j->check = NULL;
	run->active--;
	start_next(run);
}

static void start_next(struct run *run)
{
	char err[256];
	while (run->active < run->parallel && run->next < run->njobs) {
		struct job *j = &run->jobs[run->next++];
		j->r = dns_new(run->base, &run->dns, err, sizeof(err));
		if (j->r == NULL) {
			fprintf(stderr, "spfcheck: %s\n", err);
			run->failed = 1;
			continue;
		}
		j->check = spf_check_start(j->r, &j->req, run->id, on_result, j);
		if (j->check == NULL) {
			fprintf(stderr, "spfcheck: %s: not an IP address\n", j->req.ip);
			dns_free(j->r);
			j->r = NULL;
			run->failed = 1;
			continue;
		}
		run->active++;
	}
	if (run->active == 0 && run->next == run->njobs && run->cancel_ms == 0)
		event_base_loopbreak(run->base);
}

/* ID TAB IP TAB SENDER TAB HELO; the fields point into line. */
static int parse_line(struct run *run, struct job *j, char *line)
{
	char *f[4];
	size_t n = 0;
	line[strcspn(line, "\r\n")] = 0;
	for (char *p = line; n < 4; n++) {
		f[n] = p;
		char *tab = strchr(p, '\t');
		if (tab == NULL) {
			n++;
			break;
		}
		*tab = 0;
		p = tab + 1;
	}
	if (n != 4)
		return -1;
	j->run = run;
	j->id = f[0];
	j->req = run->proto;
	j->req.ip = f[1];
	j->req.sender = f[2];
	j->req.helo = f[3];
	j->line = line;
	return 0;
}

int main(int argc, char **argv)
{
	struct run run = {0};
	int c;
	run.parallel = 1;
	while ((c = getopt(argc, argv, "s:p:t:T:e:r:n:Hbj:c:w:")) != -1) {
		switch (c) {
		case 's':
			run.dns.forwarder = optarg;
			break;
		case 'p':
			run.dns.port = (uint16_t)atoi(optarg);
			break;
		case 't':
			run.dns.timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'T':
			run.proto.time_limit_ms = (unsigned)atoi(optarg);
			break;
		case 'e':
			run.proto.default_explanation = optarg;
			break;
		case 'r':
			run.proto.receiver = optarg;
			break;
		case 'n':
			run.proto.now = (time_t)atoll(optarg);
			break;
		case 'H':
			run.id = SPF_ID_HELO;
			break;
		case 'b':
			run.batch = 1;
			break;
		case 'c':
			run.cancel_ms = (unsigned)atoi(optarg);
			break;
		case 'w':
			run.linger_ms = (unsigned)atoi(optarg);
			break;
		case 'j':
			run.parallel = (size_t)atoi(optarg) > 0 ? (size_t)atoi(optarg) : 1;
			break;
		default:
			goto usage;
		}
	}
	run.base = event_base_new();
	if (run.batch) {
		char *line = NULL;
		size_t cap = 0;
		while (getline(&line, &cap, stdin) > 0) {
			run.jobs = xreallocarray(run.jobs, run.njobs + 1, sizeof(*run.jobs));
			memset(&run.jobs[run.njobs], 0, sizeof(run.jobs[0]));
			char *copy = xstrdup(line);
			if (parse_line(&run, &run.jobs[run.njobs], copy) == -1) {
				fprintf(stderr, "spfcheck: bad batch line: %s", line);
				free(copy);
				continue;
			}
			run.njobs++;
		}
		free(line);
	} else {
		if (argc - optind != 3)
			goto usage;
		run.jobs = xcalloc(1, sizeof(*run.jobs));
		run.njobs = 1;
		run.jobs[0].run = &run;
		run.jobs[0].id = "";
		run.jobs[0].req = run.proto;
		run.jobs[0].req.ip = argv[optind];
		run.jobs[0].req.sender = argv[optind + 1];
		run.jobs[0].req.helo = argv[optind + 2];
	}
	if (run.linger_ms == 0)
		run.linger_ms = 1000;
	start_next(&run);
	struct event *cancel = NULL;
	if (run.cancel_ms && !run.batch && run.active > 0) {
		struct timeval tv = {run.cancel_ms / 1000, (run.cancel_ms % 1000) * 1000};
		cancel = evtimer_new(run.base, on_cancel, &run.jobs[0]);
		evtimer_add(cancel, &tv);
	}
	if (run.active > 0)
		event_base_dispatch(run.base);
	if (cancel)
		event_free(cancel);
	for (size_t i = 0; i < run.njobs; i++)
		free(run.jobs[i].line);
	free(run.jobs);
	event_base_free(run.base);
	return run.failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: spfcheck [-s ADDR] [-p PORT] [-t MS] [-T MS] [-e TEXT] [-r NAME] "
	                "[-n SECONDS] [-H] [-c MS [-w MS]] (IP SENDER HELO | -b [-j N])\n");
	return 2;
}
