/*
 * raven-sendmail: the sendmail(8) interface local programs call
 * (docs/raven-sendmail.8.md). It reads the message on standard input,
 * prepares it (sm_msg.c: line ends, Bcc, the missing Date/Message-ID/From,
 * -t recipients), and hands it with its envelope to the setgid helper
 * raven-postdrop, which writes it into the maildrop; the daemon's pickup
 * role takes it from there. It needs neither the daemon running nor
 * access to the spool. As mailq, or with -bp, it lists the queue.
 *
 * Exit codes are sysexits(3): 0 once the message is safely in the
 * maildrop; EX_USAGE, EX_DATAERR (an address that does not parse, a
 * message too large), EX_NOUSER (no passwd entry for the caller),
 * EX_CONFIG, and the helper's EX_NOPERM, EX_UNAVAILABLE, EX_TEMPFAIL.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "ctl_client.h"
#include "drop.h"
#include "sm_addr.h"
#include "sm_msg.h"
#include "sm_post.h"
#include "version.h"
#include "xmalloc.h"

#define PROG "raven-sendmail"
/* sendmail's and Postfix's options; those with an argument take a ':'. */
#define OPTSTRING "+A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q:r:tvx"

struct opts {
	const char *conf_file, *sender, *fullname;
	int header_rcpts, dot_ends, list_queue;
};

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, PROG ": %s\n", why);
	fprintf(stderr, "usage: " PROG " [-C FILE] [-t] [-i] [-f SENDER] [-F NAME] [RCPT ...]\n"
	                "       " PROG " -bp        (or mailq): list the queue\n");
	return EX_USAGE;
}

/* 0, or the exit code of a usage error. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	int ch;
	o->dot_ends = 1;
	while ((ch = getopt(argc, argv, OPTSTRING)) != -1) {
		switch (ch) {
		case 'C':
			o->conf_file = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'f':
		case 'r':
			o->sender = optarg;
			break;
		case 't':
			o->header_rcpts = 1;
			break;
		case 'i':
			o->dot_ends = 0;
			break;
		case 'o': /* -oi as -i; the others (-odb, -oem, -oee, ...) ignored */
			if (strcmp(optarg, "i") == 0)
				o->dot_ends = 0;
			break;
		case 'b':
			if (strcmp(optarg, "p") == 0)
				o->list_queue = 1;
			else if (strcmp(optarg, "m") != 0)
				return usage(strcmp(optarg, "s") == 0
				                 ? "-bs (SMTP on standard input) is not supported: "
				                   "use SMTP on port 25 or 587"
				                 : "only -bm (the default) and -bp are supported");
			break;
		case 'q':
			return usage("-q is not supported: ravenctl flush retries the queue");
		case '?':
			return usage(NULL);
		default:
			/* -A -B -L -N -O -R -V -X -e -h -p with an argument; -G -I -U -c
			 * -m -n -v -x: accepted and ignored, as Postfix does */
			break;
		}
	}
	return 0;
}

static struct config *load_config(const char *file, int *rc)
{
	char err[512];
	struct config *c = file ? conf_load(file, err, sizeof(err)) : conf_default();
	if (c != NULL && conf_finish(c, err, sizeof(err)) == -1) {
		conf_free(c);
		c = NULL;
	}
	if (c == NULL) {
		fprintf(stderr, PROG ": %s\n", err);
		*rc = EX_CONFIG;
	}
	return c;
}

static int list_queue(const struct config *c)
{
	char *path = ctl_socket_path(c);
	int r = ctl_client_request(PROG, path, "queue");
	free(path);
	return r == CTL_OK            ? 0
	       : r == CTL_DENIED      ? EX_NOPERM
	       : r == CTL_UNREACHABLE ? EX_UNAVAILABLE
	                              : EX_SOFTWARE;
}

static void message_id(const char *hostname, time_t now, char *out, size_t outlen)
{
	unsigned char r[8] = {0};
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));
	struct tm tm;
	gmtime_r(&now, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
	snprintf(out, outlen, "<%s.%d.%02x%02x%02x%02x%02x%02x%02x%02x@%s>", when, (int)getpid(),
	         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], hostname);
}

/* Everything of the message that is ready in out goes to the helper. */
static int flush_data(struct sm_post *p, struct drop_writer *w, struct buf *out)
{
	struct buf rec;
	buf_init(&rec, 0);
	int rc = drop_write_data(w, &rec, out->data, out->len);
	if (rc == 0)
		rc = sm_post_write(p, rec.data, rec.len);
	buf_free(&rec);
	buf_reset(out);
	return rc;
}

struct submission {
	const struct config *conf;
	struct sm_msg msg;
	struct sm_rcpts rcpts;
	char sender[600];
};

/* Read standard input into m until the header section is whole. */
static int read_header(struct submission *s, struct buf *out, int *eof)
{
	uint8_t chunk[65536];
	while (!s->msg.header_done) {
		ssize_t n = read(0, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, PROG ": reading the message: %s\n", strerror(errno));
			return EX_IOERR;
		}
		int rc =
		    n == 0 ? sm_msg_end(&s->msg, out) : sm_msg_feed(&s->msg, chunk, (size_t)n, out);
		if (rc == -1) {
			fprintf(stderr, PROG ": %s\n", s->msg.why);
			return EX_DATAERR;
		}
		if (n == 0) {
			*eof = 1;
			break;
		}
	}
	return 0;
}

/* Envelope, then the message as it is read, then END. */
static int post(struct submission *s, struct buf *out, int eof)
{
	struct sm_post p;
	char *path = sm_post_path();
	if (sm_post_start(&p, path, s->conf->data_dir) == -1) {
		free(path);
		return EX_OSERR;
	}
	free(path);
	struct drop_writer w;
	struct buf rec;
	buf_init(&rec, 0);
	drop_write_start(&w, &rec);
	int over = drop_write_sender(&w, &rec, s->sender) == -1;
	for (size_t i = 0; i < s->rcpts.n && !over; i++)
		over = drop_write_rcpt(&w, &rec, s->rcpts.addr[i]) == -1;
	if (over) {
		fprintf(stderr, PROG ": more than %d recipients\n", DROP_MAX_RCPTS);
		buf_free(&rec);
		sm_post_finish(&p); /* without END: the helper keeps nothing */
		return EX_DATAERR;
	}
	int failed = sm_post_write(&p, rec.data, rec.len) == -1;
	buf_reset(&rec);
	uint64_t size = out->len, max = s->conf->limits.message_size;
	uint8_t chunk[65536];
	while (!failed && size <= max) {
		failed = flush_data(&p, &w, out) == -1;
		if (eof || failed)
			break;
		ssize_t n = read(0, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, PROG ": reading the message: %s\n", strerror(errno));
			buf_free(&rec);
			sm_post_finish(&p); /* without END: the helper keeps nothing */
			return EX_IOERR;
		}
		eof = n == 0;
		if (eof)
			sm_msg_end(&s->msg, out);
		else
			sm_msg_feed(&s->msg, chunk, (size_t)n, out);
		size += out->len;
	}
	if (size > max) {
		fprintf(stderr, PROG ": message too large (limit %llu octets)\n",
		        (unsigned long long)max);
		buf_free(&rec);
		sm_post_finish(&p);
		return EX_DATAERR;
	}
	if (!failed)
		failed =
		    drop_write_end(&w, &rec) == -1 || sm_post_write(&p, rec.data, rec.len) == -1;
	buf_free(&rec);
	int rc = sm_post_finish(&p);
	if (rc == 0 && failed)
		rc = EX_TEMPFAIL;
	return rc;
}

static int submit(const struct opts *o, char **args, size_t nargs, const struct config *conf)
{
	struct submission s = {.conf = conf};
	char err[600], date[64], msgid[300], name[256];
	const char *origin = sm_origin(conf);
	struct passwd *pw = getpwuid(getuid());
	if (pw == NULL) {
		fprintf(stderr, PROG ": uid %u has no passwd entry\n", (unsigned)getuid());
		return EX_NOUSER;
	}
	char *login = xasprintf("%s@%s", pw->pw_name, origin);
	int rc = sm_sender(o->sender ? o->sender : login, origin, s.sender, sizeof(s.sender), err,
	                   sizeof(err));
	for (size_t i = 0; rc == 0 && i < nargs; i++)
		rc = sm_rcpts_add_arg(&s.rcpts, args[i], origin, err, sizeof(err));
	if (rc == -1) {
		fprintf(stderr, PROG ": %s\n", err);
		free(login);
		sm_rcpts_free(&s.rcpts);
		return EX_DATAERR;
	}
	if (nargs == 0 && !o->header_rcpts) {
		free(login);
		return usage("no recipients (give them as arguments, or -t)");
	}
	time_t now = time(NULL);
	sm_date(now, date, sizeof(date));
	message_id(conf->hostname, now, msgid, sizeof(msgid));
	sm_gecos_name(pw->pw_gecos, pw->pw_name, name, sizeof(name));
	char *from = sm_from_field(o->fullname ? o->fullname : name,
	                           o->sender && s.sender[0] ? s.sender : login);
	struct sm_opts mo = {.dot_ends = o->dot_ends,
	                     .header_rcpts = o->header_rcpts,
	                     .date = date,
	                     .message_id = msgid,
	                     .from = from};
	sm_msg_init(&s.msg, &mo);
	struct buf out;
	buf_init(&out, 0);
	int eof = 0;
	int ex = read_header(&s, &out, &eof);
	for (size_t i = 0; ex == 0 && i < s.msg.n_rcpts; i++)
		if (sm_rcpts_add(&s.rcpts, s.msg.rcpts[i], origin, err, sizeof(err)) == -1) {
			fprintf(stderr, PROG ": %s\n", err);
			ex = EX_DATAERR;
		}
	if (ex == 0 && s.rcpts.n == 0) {
		fprintf(stderr, PROG ": no recipient addresses found in the message header\n");
		ex = EX_DATAERR;
	}
	if (ex == 0)
		ex = post(&s, &out, eof);
	buf_free(&out);
	sm_msg_free(&s.msg);
	sm_rcpts_free(&s.rcpts);
	free(from);
	free(login);
	return ex;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (argc == 2 && (strcmp(argv[1], "--version") == 0)) {
		version_print(stdout, PROG);
		return 0;
	}
	int rc = parse_opts(argc, argv, &o);
	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN); /* a helper that exits early: its status tells why */
	struct config *conf = load_config(o.conf_file, &rc);
	if (conf == NULL)
		return rc;
	if (o.list_queue || strcmp(base, "mailq") == 0)
		rc = list_queue(conf);
	else
		rc = submit(&o, argv + optind, (size_t)(argc - optind), conf);
	conf_free(conf);
	return rc;
}
