/*
 * tls_source: a small SMTP load generator over STARTTLS, for bench/tls.py
 * (Postfix's smtp-source has no TLS). SESSIONS threads share a budget of
 * MESSAGES messages; each thread connects, reads the greeting, says EHLO,
 * STARTTLS, does a full handshake (no session resumption: every
 * connection pays for one), EHLO again, then sends up to PER_CONN messages
 * of LEN octets (MAIL, RCPT, DATA — no pipelining, as smtp-source) before
 * QUIT, and starts over until the budget is spent. It prints what it did
 * and how long it took; any reply it did not expect stops it (exit 1).
 *
 *   tls_source -s SESSIONS -m MESSAGES -n PER_CONN [-l LEN] [-f FROM] [-t TO]
 *              [-M HELO] HOST:PORT
 *
 * Bounded: replies of at most 64 KiB, a 30 s timeout on every socket.
 * Built by bench/tls.py (cc -O2 ... -lssl -lcrypto -lpthread).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct opts {
	int sessions;
	long messages;
	long per_conn;
	size_t len;
	const char *from, *to, *helo;
	struct sockaddr_in addr;
	SSL_CTX *ctx;
	char *body; /* the message, dot-stuffed, ending with CRLF.CRLF */
	size_t body_len;
};

struct shared {
	const struct opts *o;
	atomic_long left;       /* messages not yet claimed */
	atomic_long sent;       /* messages that got their 250 */
	atomic_long handshakes; /* TLS handshakes done */
	atomic_int failed;
};

/* One connection: a socket, then TLS on it. */
struct link {
	int fd;
	SSL *ssl;
	char buf[65536];
	size_t have;
};

static int link_read(struct link *l, char *p, size_t n)
{
	if (l->ssl) {
		int r = SSL_read(l->ssl, p, (int)n);
		return r > 0 ? r : -1;
	}
	ssize_t r = recv(l->fd, p, n, 0);
	return r > 0 ? (int)r : -1;
}

static int link_write(struct link *l, const char *p, size_t n)
{
	while (n > 0) {
		int w;
		if (l->ssl) {
			w = SSL_write(l->ssl, p, (int)n);
		} else {
			ssize_t k = send(l->fd, p, n, MSG_NOSIGNAL);
			w = k > 0 ? (int)k : -1;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The reply code of the next complete reply, or -1. */
static int reply(struct link *l)
{
	for (;;) {
		/* A complete last line: "NNN " ... CRLF. */
		size_t start = 0;
		for (size_t i = 0; i < l->have; i++) {
			if (l->buf[i] != '\n')
				continue;
			if (i - start >= 3 && (i - start == 3 || l->buf[start + 3] == ' ')) {
				int code = atoi(l->buf + start);
				memmove(l->buf, l->buf + i + 1, l->have - i - 1);
				l->have -= i + 1;
				return code;
			}
			start = i + 1;
		}
		if (l->have == sizeof(l->buf))
			return -1;
		int r = link_read(l, l->buf + l->have, sizeof(l->buf) - l->have);
		if (r <= 0)
			return -1;
		l->have += (size_t)r;
	}
}

static int cmd(struct link *l, const char *line, int want)
{
	char out[1024];
	int n = snprintf(out, sizeof(out), "%s\r\n", line);
	if (link_write(l, out, (size_t)n) == -1)
		return -1;
	int code = reply(l);
	if (code != want) {
		fprintf(stderr, "tls_source: \"%s\": got %d, expected %d\n", line, code, want);
		return -1;
	}
	return 0;
}

static int one_connection(struct shared *sh)
{
	const struct opts *o = sh->o;
	/* The first message is claimed before connecting: no handshake is
	 * made for a budget already spent. */
	if (atomic_fetch_sub(&sh->left, 1) <= 0)
		return 0;
	struct link l = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
	char line[512];
	int rc = -1;
	if (l.fd == -1)
		return -1;
	struct timeval tv = {30, 0};
	int one = 1;
	setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(l.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(l.fd, (const struct sockaddr *)&o->addr, sizeof(o->addr)) == -1 ||
	    reply(&l) != 220)
		goto out;
	snprintf(line, sizeof(line), "EHLO %s", o->helo);
	if (cmd(&l, line, 250) == -1 || cmd(&l, "STARTTLS", 220) == -1)
		goto out;
	l.ssl = SSL_new(o->ctx);
	if (l.ssl == NULL || SSL_set_fd(l.ssl, l.fd) != 1 || SSL_connect(l.ssl) != 1) {
		fprintf(stderr, "tls_source: handshake failed\n");
		goto out;
	}
	atomic_fetch_add(&sh->handshakes, 1);
	if (cmd(&l, line, 250) == -1)
		goto out;
	for (long k = 0; k < o->per_conn; k++) {
		if (k > 0 && atomic_fetch_sub(&sh->left, 1) <= 0)
			break;
		char mail[300], rcpt[300];
		snprintf(mail, sizeof(mail), "MAIL FROM:<%s>", o->from);
		snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s>", o->to);
		if (cmd(&l, mail, 250) == -1 || cmd(&l, rcpt, 250) == -1 ||
		    cmd(&l, "DATA", 354) == -1 || link_write(&l, o->body, o->body_len) == -1 ||
		    reply(&l) != 250)
			goto out;
		atomic_fetch_add(&sh->sent, 1);
	}
	cmd(&l, "QUIT", 221);
	rc = 0;
out:
	if (l.ssl) {
		SSL_shutdown(l.ssl);
		SSL_free(l.ssl);
	}
	close(l.fd);
	return rc;
}

static void *worker(void *arg)
{
	struct shared *sh = arg;
	while (atomic_load(&sh->left) > 0 && !atomic_load(&sh->failed))
		if (one_connection(sh) == -1)
			atomic_store(&sh->failed, 1);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: tls_source -s SESSIONS -m MESSAGES -n PER_CONN [-l LEN] [-f FROM] "
	                "[-t TO] [-M HELO] HOST:PORT\n");
	exit(2);
}

static void make_body(struct opts *o)
{
	/* Header, then lines of 'X' up to len octets, then the end marker. */
	size_t cap = o->len + 512;
	o->body = malloc(cap);
	if (o->body == NULL)
		exit(1);
	int n = snprintf(o->body, cap, "From: <%s>\r\nTo: <%s>\r\nSubject: tls bench\r\n\r\n",
	                 o->from, o->to);
	size_t k = (size_t)n;
	while (k + 80 < o->len) {
		memset(o->body + k, 'X', 78);
		memcpy(o->body + k + 78, "\r\n", 2);
		k += 80;
	}
	memcpy(o->body + k, ".\r\n", 3);
	o->body_len = k + 3;
}

int main(int argc, char **argv)
{
	struct opts o = {.sessions = 1,
	                 .messages = 100,
	                 .per_conn = 1,
	                 .len = 1024,
	                 .from = "sender@client.test",
	                 .to = "user@bench.test",
	                 .helo = "client.test"};
	int ch;
	while ((ch = getopt(argc, argv, "s:m:n:l:f:t:M:")) != -1) {
		switch (ch) {
		case 's':
			o.sessions = atoi(optarg);
			break;
		case 'm':
			o.messages = atol(optarg);
			break;
		case 'n':
			o.per_conn = atol(optarg);
			break;
		case 'l':
			o.len = (size_t)atol(optarg);
			break;
		case 'f':
			o.from = optarg;
			break;
		case 't':
			o.to = optarg;
			break;
		case 'M':
			o.helo = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || o.sessions < 1 || o.sessions > 1000 || o.messages < 1 ||
	    o.per_conn < 1 || o.len > (1 << 24))
		usage();
	char host[64];
	const char *colon = strrchr(argv[optind], ':');
	if (colon == NULL || (size_t)(colon - argv[optind]) >= sizeof(host))
		usage();
	memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
	host[colon - argv[optind]] = '\0';
	o.addr.sin_family = AF_INET;
	o.addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &o.addr.sin_addr) != 1)
		usage();
	make_body(&o);
	o.ctx = SSL_CTX_new(TLS_client_method());
	/* Every connection a full handshake: no tickets, no session cache. */
	SSL_CTX_set_options(o.ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(o.ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(o.ctx, SSL_VERIFY_NONE, NULL);

	struct shared sh = {.o = &o};
	atomic_init(&sh.left, o.messages);
	pthread_t *t = calloc((size_t)o.sessions, sizeof(*t));
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < o.sessions; i++)
		pthread_create(&t[i], NULL, worker, &sh);
	for (int i = 0; i < o.sessions; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	long sent = atomic_load(&sh.sent), hs = atomic_load(&sh.handshakes);
	printf("messages %ld handshakes %ld seconds %.3f msg/s %.1f handshakes/s %.1f\n", sent, hs,
	       secs, (double)sent / secs, (double)hs / secs);
	free(t);
	free(o.body);
	SSL_CTX_free(o.ctx);
	return atomic_load(&sh.failed) || sent != o.messages ? 1 : 0;
}
