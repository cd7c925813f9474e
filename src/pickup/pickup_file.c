/*
 * pickup_file: one maildrop file — read and checked whole with the pure
 * reader (src/wire/drop.c), its recipients routed as for a local client,
 * then copied into a spool file and, for recipients that cannot be
 * delivered, a failure notice built (src/queue/bounce.c). The submitter
 * is the file's owner as fstat() reports it; nothing the file says about
 * who wrote it is believed.
 */
#include "pickup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "crc32c.h"
#include "drop.h"
#include "route.h"
#include "util.h"
#include "xmalloc.h"

/* Deliveries of one message after alias expansion; past it, recipients
 * are bounced. */
#define PICKUP_MAX_DELIVERIES 10000
#define WRITE_AT              (64 * 1024)

/* Room for one more element in an array of n (geometric growth). */
static void *room(void *arr, size_t n, size_t size)
{
	return n & (n - 1) ? arr : xreallocarray(arr, n ? n * 2 : 1, size);
}

static const char *keep(struct pickup_file *f, char *s)
{
	f->strings = room(f->strings, f->n_strings, sizeof(*f->strings));
	f->strings[f->n_strings++] = s;
	return s;
}

void pickup_file_free(struct pickup_file *f)
{
	if (f->fd != -1)
		close(f->fd);
	for (size_t i = 0; i < f->n_strings; i++)
		free(f->strings[i]);
	free(f->strings);
	free(f->ok);
	free(f->bad);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

static void bounce(struct pickup_file *f, const char *addr, const char *status, const char *text)
{
	f->bad = room(f->bad, f->n_bad, sizeof(*f->bad));
	f->bad[f->n_bad++] = (struct dsn_rcpt){
	    .addr = keep(f, xstrdup(addr)),
	    .status = status,
	    .diagnostic = keep(f, xasprintf("%s %s", status, text)),
	};
}

static void deliver(struct pickup_file *f, const char *addr, const char *action, const char *user)
{
	for (size_t i = 0; i < f->n_ok; i++) /* one copy per mailbox, one per relayed address */
		if (strcmp(f->ok[i].action, action) == 0 &&
		    (user ? f->ok[i].user && strcmp(f->ok[i].user, user) == 0
		          : strcasecmp(f->ok[i].addr, addr) == 0))
			return;
	if (f->n_ok == PICKUP_MAX_DELIVERIES) {
		bounce(f, addr, "5.5.3", "too many recipients after alias expansion");
		return;
	}
	f->ok = room(f->ok, f->n_ok, sizeof(*f->ok));
	f->ok[f->n_ok++] = (struct envelope_draft_rcpt){
	    .addr = keep(f, xstrdup(addr)),
	    .action = action,
	    .user = user ? keep(f, xstrdup(user)) : NULL,
	};
}

/* Route one recipient as a local client's; -1 on a temporary failure, -2
 * when an SQL table must be asked first (f->need_table, f->need_key). */
static int route_rcpt(const struct config *conf, const struct route_lookup *lookup,
                      struct pickup_file *f, const char *raw)
{
	struct mailaddr a;
	struct smtp_reply err;
	if (addr_parse_mailbox(raw, strlen(raw), ADDR_ALLOW_UTF8, &a, &err) == -1) {
		bounce(f, raw, "5.1.3", err.text);
		return 0;
	}
	f->smtputf8 |= a.has_utf8;
	struct route_request rq = {
	    .local = a.local, .domain = a.domain, .from = FROM_LOCAL, .lookup = lookup};
	struct route_result rr;
	route_resolve(conf, &rq, &rr);
	switch (rr.verdict) {
	case ROUTE_PENDING:
		snprintf(f->need_table, sizeof(f->need_table), "%s", rr.need_table);
		snprintf(f->need_key, sizeof(f->need_key), "%s", rr.need_key);
		route_result_free(&rr);
		return -2;
	case ROUTE_LOCAL:
		for (size_t i = 0; i < rr.n_users; i++)
			deliver(f, a.text, rr.action->name, rr.users[i]);
		break;
	case ROUTE_RELAY:
		deliver(f, a.text, rr.action->name, NULL);
		break;
	case ROUTE_UNKNOWN_USER:
		bounce(f, a.text, "5.1.1", rr.reason[0] ? rr.reason : "no such user here");
		break;
	case ROUTE_RELAY_DENIED:
		bounce(f, a.text, "5.7.1", "relaying denied");
		break;
	case ROUTE_TEMP_ERROR:
		route_result_free(&rr);
		return -1;
	default:
		bounce(f, a.text, "5.3.0", rr.reason);
		break;
	}
	route_result_free(&rr);
	return 0;
}

/* Each event of the file from its start goes to fn, which returns -1 (and
 * sets errno) to stop. LOAD_OK for a whole file, LOAD_CORRUPT for one the
 * reader refuses, LOAD_LATER for a read error or fn's -1; why says which. */
static enum pickup_load walk(int fd,
                             int (*fn)(const struct drop_item *it, enum drop_event ev, void *arg),
                             void *arg, uint64_t *octets, char *why, size_t whylen)
{
	struct drop_reader r;
	drop_reader_init(&r);
	uint8_t chunk[65536];
	int ended = 0;
	if (lseek(fd, 0, SEEK_SET) == -1) {
		err_set(why, whylen, "lseek: %s", strerror(errno));
		return LOAD_LATER;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(why, whylen, "read: %s", strerror(errno));
			return LOAD_LATER;
		}
		if (n == 0)
			break;
		for (size_t off = 0; off < (size_t)n;) {
			size_t used;
			struct drop_item it;
			enum drop_event ev =
			    drop_reader_next(&r, chunk + off, (size_t)n - off, &used, &it);
			off += used;
			if (ev == DROP_ERROR) {
				err_set(why, whylen, "%s", r.why);
				return LOAD_CORRUPT;
			}
			if (ev != DROP_MORE && fn(&it, ev, arg) == -1) {
				err_set(why, whylen, "%s", strerror(errno));
				return LOAD_LATER;
			}
			ended |= ev == DROP_END;
		}
	}
	if (!ended) {
		err_set(why, whylen, "incomplete: no END record");
		return LOAD_CORRUPT;
	}
	*octets = r.data;
	return LOAD_OK;
}

struct loading {
	struct pickup_file *f;
	char **rcpts;
	size_t n_rcpts;
};

/* The first pass: sender, raw recipients, 8-bit content. */
static int load_event(const struct drop_item *it, enum drop_event ev, void *arg)
{
	struct loading *l = arg;
	if (ev == DROP_SENDER) {
		l->f->sender = (char *)keep(l->f, xstrdup(it->str));
	} else if (ev == DROP_RCPT) {
		l->rcpts = room(l->rcpts, l->n_rcpts, sizeof(*l->rcpts));
		l->rcpts[l->n_rcpts++] = xstrdup(it->str);
	} else if (ev == DROP_DATA) {
		for (size_t i = 0; i < it->len && !l->f->eightbit; i++)
			l->f->eightbit = it->data[i] >= 0x80;
	}
	return 0;
}

enum pickup_load pickup_file_load(const struct config *conf, const struct route_lookup *lookup,
                                  int dirfd, const char *name, struct pickup_file *f, char *why,
                                  size_t whylen)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (f->fd == -1) {
		int e = errno;
		err_set(why, whylen, "open: %s", strerror(e));
		return e == ENOENT                 ? LOAD_GONE
		       : e == ELOOP || e == EACCES ? LOAD_CORRUPT
		                                   : LOAD_LATER;
	}
	struct stat st;
	if (fstat(f->fd, &st) == -1) {
		err_set(why, whylen, "fstat: %s", strerror(errno));
		return LOAD_LATER;
	}
	f->uid = st.st_uid;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		err_set(why, whylen, "%s", S_ISREG(st.st_mode) ? "linked elsewhere" : "not a file");
		return LOAD_CORRUPT;
	}
	struct loading l = {f, NULL, 0};
	enum pickup_load rc = walk(f->fd, load_event, &l, &f->data_octets, why, whylen);
	char **rcpts = l.rcpts;
	size_t n_rcpts = l.n_rcpts;
	struct mailaddr s;
	struct smtp_reply err;
	if (rc == LOAD_OK && f->sender[0] != '\0' &&
	    addr_parse_mailbox(f->sender, strlen(f->sender), ADDR_ALLOW_UTF8, &s, &err) == -1) {
		err_set(why, whylen, "bad sender: %s", err.text);
		rc = LOAD_CORRUPT;
	}
	if (rc == LOAD_OK && f->sender[0] != '\0') {
		f->sender = (char *)keep(f, xstrdup(s.text));
		f->smtputf8 |= s.has_utf8;
	}
	for (size_t i = 0; i < n_rcpts; i++) {
		int r = rc == LOAD_OK ? route_rcpt(conf, lookup, f, rcpts[i]) : 0;
		if (r == -1) {
			err_set(why, whylen, "temporary lookup failure for %s", rcpts[i]);
			rc = LOAD_LATER;
		} else if (r == -2) {
			err_set(why, whylen, "table %s must be asked for %s", f->need_table,
			        rcpts[i]);
			rc = LOAD_PENDING;
		}
		free(rcpts[i]);
	}
	free(rcpts);
	if (rc == LOAD_OK && f->data_octets > conf->limits.message_size) {
		for (size_t i = 0; i < f->n_ok; i++)
			bounce(f, f->ok[i].addr, "5.3.4", "message too large");
		f->n_ok = 0;
	}
	return rc;
}

/* Line ends made CRLF as the octets pass: *cr says a CR was the last. */
static void crlf(struct buf *b, const uint8_t *p, size_t n, int *cr)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && !*cr)
			buf_append_byte(b, '\r');
		else if (*cr && p[i] != '\n')
			buf_append_byte(b, '\n');
		buf_append_byte(b, p[i]);
		*cr = p[i] == '\r';
	}
}

struct writing {
	int fd;
	struct buf b;
	uint64_t written;
	uint32_t crc; /* of what was written */
	int cr, last_lf;
};

static int flush(struct writing *w)
{
	if (fd_write_all(w->fd, w->b.data, w->b.len) == -1)
		return -1;
	w->written += w->b.len;
	w->crc = crc32c_update(w->crc, w->b.data, w->b.len);
	buf_reset(&w->b);
	return 0;
}

/* The second pass: the DATA octets into the spool file. */
static int write_event(const struct drop_item *it, enum drop_event ev, void *arg)
{
	struct writing *w = arg;
	if (ev != DROP_DATA)
		return 0;
	crlf(&w->b, it->data, it->len, &w->cr);
	w->last_lf = it->data[it->len - 1] == '\n';
	return w->b.len >= WRITE_AT ? flush(w) : 0;
}

int pickup_file_write(const struct config *conf, const struct pickup_file *f, const char *id,
                      int fd, uint64_t *written, uint32_t *crc)
{
	struct writing w = {.fd = fd, .last_lf = 1};
	buf_init(&w.b, 0);
	char date[64], why[128];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(&w.b, "Received: by %s (Raven, from userid %u)\r\n\tid %s", conf->hostname,
	           (unsigned)f->uid, id);
	if (f->n_ok == 1)
		buf_printf(&w.b, "\r\n\tfor <%s>", f->ok[0].addr);
	buf_printf(&w.b, ";\r\n\t%s\r\n", date);
	uint64_t octets;
	int e = 0;
	enum pickup_load rc = walk(f->fd, write_event, &w, &octets, why, sizeof(why));
	if (rc != LOAD_OK)
		e = rc == LOAD_CORRUPT ? EIO : errno; /* EIO: it read differently the first time */
	if (rc == LOAD_OK && w.cr)
		buf_append_byte(&w.b, '\n');
	else if (rc == LOAD_OK && !w.last_lf)
		buf_append(&w.b, "\r\n", 2);
	if (rc == LOAD_OK && flush(&w) == -1)
		e = errno;
	buf_free(&w.b);
	*written = w.written;
	*crc = w.crc;
	errno = e;
	return e ? -1 : 0;
}

int pickup_file_dsn(const struct config *conf, const struct pickup_file *f, const char *id,
                    int data_fd, uint64_t size, struct buf *out, char *why, size_t whylen)
{
	int64_t now = (int64_t)time(NULL);
	struct dsn_request rq = {
	    .kind = DSN_FAILURE,
	    .reporting_mta = conf->hostname,
	    .queue_id = id,
	    .sender = f->sender,
	    .arrival = now,
	    .now = now,
	    .rcpts = f->bad,
	    .n_rcpts = f->n_bad,
	};
	return bounce_build(&rq, data_fd, size, 0, out, why, whylen);
}
