/*
 * smtpload: a bounded SMTP load generator that records, for every message,
 * the time from the end of DATA (the client's "CRLF.CRLF" sent) to the
 * server's 250 — the wait a durable commit puts on every client, which
 * smtp-source does not report. Like smtp-source without -d: SESSIONS
 * concurrent sessions, a new connection per message (EHLO, MAIL, RCPT,
 * DATA, QUIT), MESSAGES messages in all, one thread on epoll so that the
 * client costs little CPU next to the servers it measures.
 *
 *   smtpload -s SESSIONS -m MESSAGES [-l BODYLEN] [-f FROM] [-t TO] [-F FILE] PORT
 *
 * -F: send the message in FILE (CRLF lines, no line starting with '.',
 * e.g. one signed with DKIM) instead of the generated one.
 *
 * Prints one line: messages, errors, seconds, msg/s, and the end-of-DATA
 * to 250 latency in ms (p50 p90 p99 max). Exit 1 on any non-2xx/3xx reply
 * or connection error (they are counted and the run goes on). Bench tool,
 * built by bench/run.sh; not part of Raven.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum step { ST_GREETING, ST_EHLO, ST_MAIL, ST_RCPT, ST_DATA, ST_BODY, ST_QUIT };

struct session {
	int fd;
	enum step step;
	char in[4096];
	size_t in_len;
	uint64_t t_end; /* when the end of data was sent, ns */
};

struct load {
	int ep;
	struct sockaddr_in addr;
	const char *from, *to;
	char *body; /* the message with its final CRLF.CRLF */
	size_t body_len;
	long started, done, errors, total;
	uint64_t *lat; /* ns, one per message done */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

/* Write all of p (loopback, small: a blocking retry loop is enough). */
static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			usleep(50);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void start_one(struct load *L, struct session *s)
{
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket");
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s->fd, (struct sockaddr *)&L->addr, sizeof(L->addr)) < 0 &&
	    errno != EINPROGRESS)
		die("connect");
	s->step = ST_GREETING;
	s->in_len = 0;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	if (epoll_ctl(L->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		die("epoll_ctl");
	L->started++;
}

static void finish_one(struct load *L, struct session *s)
{
	epoll_ctl(L->ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
	if (L->started < L->total)
		start_one(L, s);
}

/* A whole reply is in s->in: its code, or -1 if not complete yet. */
static int reply_code(struct session *s)
{
	size_t start = 0;
	for (size_t i = 0; i < s->in_len; i++) {
		if (s->in[i] != '\n')
			continue;
		if (i - start >= 3 &&
		    (i - start == 3 || s->in[start + 3] == ' ' || s->in[start + 3] == '\r')) {
			int code = atoi(s->in + start);
			s->in_len = 0;
			return code;
		}
		start = i + 1;
	}
	return -1;
}

static int step_on(struct load *L, struct session *s, int code)
{
	char line[512];
	int ok = code >= 200 && code < 400;
	if (!ok) {
		fprintf(stderr, "smtpload: reply %d at step %d\n", code, (int)s->step);
		L->errors++;
		return -1;
	}
	switch (s->step) {
	case ST_GREETING:
		s->step = ST_EHLO;
		return send_all(s->fd, "EHLO client.test\r\n", 18);
	case ST_EHLO:
		s->step = ST_MAIL;
		snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", L->from);
		return send_all(s->fd, line, strlen(line));
	case ST_MAIL:
		s->step = ST_RCPT;
		snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", L->to);
		return send_all(s->fd, line, strlen(line));
	case ST_RCPT:
		s->step = ST_DATA;
		return send_all(s->fd, "DATA\r\n", 6);
	case ST_DATA:
		s->step = ST_BODY;
		if (send_all(s->fd, L->body, L->body_len) == -1)
			return -1;
		s->t_end = now_ns();
		return 0;
	case ST_BODY:
		L->lat[L->done++] = now_ns() - s->t_end;
		s->step = ST_QUIT;
		return send_all(s->fd, "QUIT\r\n", 6);
	case ST_QUIT:
		return -1; /* done: close */
	}
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, long n, double p)
{
	if (n == 0)
		return 0;
	long i = (long)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

int main(int argc, char **argv)
{
	struct load L = {.from = "sender@client.test", .to = "user@bench.test"};
	long sessions = 1, body = 1024;
	const char *file = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "s:m:l:f:t:F:")) != -1) {
		switch (opt) {
		case 's':
			sessions = atol(optarg);
			break;
		case 'm':
			L.total = atol(optarg);
			break;
		case 'l':
			body = atol(optarg);
			break;
		case 'f':
			L.from = optarg;
			break;
		case 't':
			L.to = optarg;
			break;
		case 'F':
			file = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || sessions < 1 || L.total < 1 || body < 0 || body > 10000000)
		goto usage;
	L.addr.sin_family = AF_INET;
	L.addr.sin_port = htons((uint16_t)atoi(argv[optind]));
	L.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* headers, then body lines of 78 'x' octets, then the end of data */
	if (file != NULL) {
		FILE *f = fopen(file, "rb");
		if (f == NULL || fseek(f, 0, SEEK_END) != 0)
			die(file);
		body = ftell(f);
		fclose(f);
		if (body < 0 || body > 10000000)
			goto usage;
	}
	L.body = malloc((size_t)body + 512);
	L.lat = calloc((size_t)L.total, sizeof(*L.lat));
	if (L.body == NULL || L.lat == NULL)
		die("malloc");
	size_t n = 0;
	if (file != NULL) {
		FILE *f = fopen(file, "rb");
		if (f == NULL || fread(L.body, 1, (size_t)body, f) != (size_t)body)
			die(file);
		fclose(f);
		n = (size_t)body;
	} else {
		n = (size_t)snprintf(L.body, 512, "From: <%s>\r\nTo: <%s>\r\nSubject: load\r\n\r\n",
		                     L.from, L.to);
		for (long i = 0; i < body; i++)
			L.body[n++] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'x';
	}
	if (n < 2 || L.body[n - 1] != '\n') {
		L.body[n++] = '\r';
		L.body[n++] = '\n';
	}
	memcpy(L.body + n, ".\r\n", 3);
	L.body_len = n + 3;

	L.ep = epoll_create1(EPOLL_CLOEXEC);
	if (L.ep < 0)
		die("epoll_create1");
	if (sessions > L.total)
		sessions = L.total;
	struct session *ss = calloc((size_t)sessions, sizeof(*ss));
	if (ss == NULL)
		die("calloc");
	uint64_t t0 = now_ns();
	for (long i = 0; i < sessions; i++)
		start_one(&L, &ss[i]);
	long open_sessions = sessions;
	struct epoll_event evs[256];
	while (open_sessions > 0) {
		int k = epoll_wait(L.ep, evs, 256, 30000);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fprintf(stderr, "smtpload: no progress for 30 s\n");
			return 2;
		}
		for (int e = 0; e < k; e++) {
			struct session *s = evs[e].data.ptr;
			ssize_t r =
			    recv(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len - 1, 0);
			int code = -1, bad = 0;
			if (r > 0) {
				s->in_len += (size_t)r;
				code = reply_code(s);
				if (code == -1 && s->in_len >= sizeof(s->in) - 1)
					bad = 1;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				bad = s->step != ST_QUIT;
			} else {
				continue;
			}
			if (bad)
				L.errors++;
			if (bad || r == 0 || (code != -1 && step_on(&L, s, code) == -1)) {
				finish_one(&L, s);
				if (s->fd == -1)
					open_sessions--;
			}
		}
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	qsort(L.lat, (size_t)L.done, sizeof(*L.lat), cmp_u64);
	printf("messages %ld errors %ld seconds %.3f rate %.1f p50_ms %.3f p90_ms %.3f p99_ms %.3f "
	       "max_ms %.3f\n",
	       L.done, L.errors, secs, (double)L.done / secs, pct(L.lat, L.done, 0.50),
	       pct(L.lat, L.done, 0.90), pct(L.lat, L.done, 0.99),
	       L.done ? (double)L.lat[L.done - 1] / 1e6 : 0.0);
	return L.errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: smtpload -s SESSIONS -m MESSAGES [-l BODYLEN] [-f FROM] [-t TO] "
	                "PORT\n");
	return 2;
}
