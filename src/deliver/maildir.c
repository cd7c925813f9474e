/*
 * maildir: one message into one Maildir, durably and idempotently (see
 * maildir.h and https://cr.yp.to/proto/maildir.html).
 *
 * The commit point is link(tmp/<name>, new/<name>) followed by an fsync of
 * new/: before it the message does not exist for the mail reader, after it
 * it does, whole. Everything else (tmp/ leftovers, directories created on
 * the way) is either harmless or cleaned up by the next attempt.
 *
 * "Already delivered" check. The name is deterministic per (message,
 * recipient), so a retry after a crash in the window between our link and
 * the queue recording success must not make a second copy. The copy may
 * still be in new/<name>, or the mail reader may have moved it to
 * cur/<name> or cur/<name>:2,<flags>. The first two are one stat each.
 * The flags are any subset of the letters DFPRST, so the last form is only
 * found for sure by reading cur/. We read cur/ only while it is small
 * (MAILDIR_SCAN_MAX bytes of directory, a few thousand entries on ext4):
 * that costs a few microseconds next to the two fsyncs every delivery pays
 * anyway. For a larger cur/ we stat the two forms readers leave most often,
 * ":2," and ":2,S", and accept the (crash + reader-moved-it + exotic flags)
 * duplicate as the price of not reading a huge directory on every delivery.
 */
#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "util.h"
#include "xmalloc.h"

#define MAILDIR_CHUNK       (64 * 1024)
#define MAILDIR_SCAN_MAX    (256 * 1024)
#define MAILDIR_SCAN_LIMIT  1000000 /* entries; a bound, not a policy */
#define MAILDIR_MKDIR_DEPTH 64
#define MAILDIR_SUBPATH     (NAME_MAX + 16)

/*
 * The spec's escapes for the characters that cannot appear in the name.
 * Returns the bytes written; *cut is set when s did not fit whole.
 */
static size_t name_escape(char *dst, size_t room, const char *s, int *cut)
{
	*cut = 0;
	size_t o = 0;
	for (; s && *s; s++) {
		const char *rep = NULL;
		if (*s == '/')
			rep = "\\057";
		else if (*s == ':')
			rep = "\\072";
		size_t k = rep ? 4 : 1;
		/* Never cut an escape in half: a partial one would still be unique
		 * but would read as garbage. */
		if (o + k >= room) {
			*cut = 1;
			break;
		}
		if (rep)
			memcpy(dst + o, rep, 4);
		else
			dst[o] = *s;
		o += k;
	}
	return o;
}

void maildir_name(char *dst, size_t dstlen, int64_t arrival, const char *msgid, uint32_t idx,
                  const char *host)
{
	if (dstlen == 0)
		return;
	int n = snprintf(dst, dstlen, "%" PRId64 ".R", arrival);
	if (n < 0 || (size_t)n >= dstlen) {
		dst[dstlen - 1] = '\0';
		return;
	}
	size_t o = (size_t)n;
	/* The id is ours, but escaping it too means no '/' can ever turn the
	 * name into a path. */
	int cut;
	o += name_escape(dst + o, dstlen - o, msgid, &cut);
	if (cut) {
		dst[o] = '\0';
		return;
	}
	n = snprintf(dst + o, dstlen - o, "_%" PRIu32 ".", idx);
	if (n < 0 || (size_t)n >= dstlen - o) {
		dst[dstlen - 1] = '\0';
		return;
	}
	o += (size_t)n;
	o += name_escape(dst + o, dstlen - o, host, &cut);
	dst[o] = '\0';
}

/*
 * The header lines final delivery adds (RFC 5321 4.4: the envelope sender
 * as Return-Path; Delivered-To: the mailbox address, as Postfix and
 * Dovecot write it, so that mail clients and filters can tell which of
 * several addresses a copy was delivered to).
 */
int maildir_delivery_head(char *dst, size_t len, const char *sender, const char *user,
                          const char *rcpt, const char *hostname)
{
	const char *at = strrchr(rcpt, '@');
	int n = snprintf(dst, len, "Return-Path: <%s>\nDelivered-To: %s@%s\n", sender, user,
	                 at ? at + 1 : hostname);
	/* Cut short, or a line end inside: the smtp role's address parser lets
	 * neither through, but only this keeps the lines from running into the
	 * message whatever a peer sends. */
	if (n < 0 || (size_t)n >= len)
		return -1;
	for (int i = 0, lines = 0; i < n; i++)
		if (dst[i] == '\r' || (dst[i] == '\n' && ++lines > 2))
			return -1;
	return 0;
}

/*
 * The reason opens with its RFC 3463 code, which a DSN reports as Status.
 * ENOTDIR will not fix itself (a file sits where the mailbox should be),
 * nor will a path too long; everything else may (permissions, quota, space).
 */
static enum maildir_result fail(char *err, size_t errlen, int e, const char *what, const char *dir,
                                const char *sub)
{
	int perm = e == ENOTDIR || e == ENAMETOOLONG;
	const char *code = perm          ? "5.2.0"
	                   : e == EDQUOT ? "4.2.2" /* mailbox full */
	                   : e == ENOSPC ? "4.3.1" /* mail system full */
	                   : e == EIO    ? "4.3.0"
	                                 : "4.2.0";
	snprintf(err, errlen, "%s maildir: %s %s%s%s: %s", code, what, dir, sub ? "/" : "",
	         sub ? sub : "", strerror(e));
	return perm ? MAILDIR_PERM : MAILDIR_TEMP;
}

/* Make a new directory entry durable. */
static int fsync_dir_at(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/*
 * mkdir -p for path (modified in place, restored on return). Ancestors get
 * 0755 so that one user's delivery does not lock others out of a shared
 * parent such as var/mail; ravend normally creates those at start-up. The
 * leaf gets mode. Each directory made is fsynced into its parent.
 */
static int mkdir_p(char *path, mode_t mode, int depth)
{
	if (mkdir(path, mode) == 0)
		goto made;
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT || depth >= MAILDIR_MKDIR_DEPTH)
		return -1;
	char *slash = strrchr(path, '/');
	while (slash && slash > path && slash[-1] == '/')
		slash--;
	if (slash == NULL || slash == path)
		return -1; /* "x" or "/x" with ENOENT: nothing above to create */
	*slash = '\0';
	int rc = mkdir_p(path, 0755, depth + 1);
	*slash = '/';
	if (rc == -1)
		return -1;
	if (mkdir(path, mode) == -1)
		return errno == EEXIST ? 0 : -1;
made:;
	char *last = strrchr(path, '/');
	if (last == NULL)
		return fsync_dir_at(AT_FDCWD, ".");
	if (last == path)
		return fsync_dir_at(AT_FDCWD, "/");
	*last = '\0';
	int r = fsync_dir_at(AT_FDCWD, path);
	int e = errno;
	*last = '/';
	errno = e;
	return r;
}

/* Open the maildir, creating it and tmp/, new/, cur/ as needed. */
static enum maildir_result maildir_open(const char *dir, int *dfd, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		size_t len = strlen(dir);
		if (len == 0 || len >= PATH_MAX)
			return fail(err, errlen, len ? ENAMETOOLONG : ENOENT, "open", dir, NULL);
		char path[PATH_MAX];
		memcpy(path, dir, len + 1);
		while (len > 1 && path[len - 1] == '/')
			path[--len] = '\0';
		if (mkdir_p(path, 0700, 0) == -1)
			return fail(err, errlen, errno, "mkdir", dir, NULL);
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd == -1)
		return fail(err, errlen, errno, "open", dir, NULL);
	static const char *const subs[] = {"tmp", "new", "cur"};
	int made = 0;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (mkdirat(fd, subs[i], 0700) == 0)
			made = 1;
		else if (errno != EEXIST) {
			enum maildir_result r = fail(err, errlen, errno, "mkdir", dir, subs[i]);
			close(fd);
			return r;
		}
	}
	if (made && fsync(fd) == -1) {
		enum maildir_result r = fail(err, errlen, errno, "fsync", dir, NULL);
		close(fd);
		return r;
	}
	*dfd = fd;
	return MAILDIR_OK;
}

/* 1 if path exists under dfd, 0 if not, -1 on error (errno set). */
static int exists_at(int dfd, const char *path)
{
	struct stat st;
	if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* Does cur/ hold "<name>:2,<anything>"? 1, 0, or -1 (errno set). */
static int cur_has_flagged(int dfd, const char *name)
{
	char p[MAILDIR_SUBPATH];
	int fd = openat(dfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (st.st_size > MAILDIR_SCAN_MAX) {
		close(fd);
		static const char *const common[] = {":2,", ":2,S"};
		for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
			snprintf(p, sizeof(p), "cur/%s%s", name, common[i]);
			int r = exists_at(dfd, p);
			if (r != 0)
				return r;
		}
		return 0;
	}
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	size_t nlen = strlen(name);
	int found = 0;
	struct dirent *de;
	for (long n = 0; n < MAILDIR_SCAN_LIMIT && (de = readdir(d)) != NULL; n++) {
		if (strncmp(de->d_name, name, nlen) == 0 &&
		    strncmp(de->d_name + nlen, ":2,", 3) == 0) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

/* 1 if the message is already in the maildir, 0 if not, -1 on error. */
static int already_delivered(int dfd, const char *name)
{
	char p[MAILDIR_SUBPATH];
	snprintf(p, sizeof(p), "new/%s", name);
	int r = exists_at(dfd, p);
	if (r != 0)
		return r;
	snprintf(p, sizeof(p), "cur/%s", name);
	r = exists_at(dfd, p);
	if (r != 0)
		return r;
	return cur_has_flagged(dfd, name);
}

/*
 * Write head (or nothing if NULL), then data_fd with CRLF turned into LF,
 * to out. The head goes out with the first chunk: one write for a small
 * message. A CR at the end of a chunk is held back until the next byte
 * shows whether it starts a CRLF. The output of one chunk is never longer
 * than the chunk plus that held CR (plus the head, for the first).
 * With chk, the octets read are summed on the way (CRC-32C) and must be
 * chk->size octets with chk->crc. Returns 0, -1 with errno and *what set,
 * or -2 when the data is not what chk says (*got_size, *got_crc).
 */
static int copy_lf(int data_fd, int out, const char *head, const struct maildir_check *chk,
                   uint64_t *got_size, uint32_t *got_crc, const char **what)
{
	size_t pre = head ? strlen(head) : 0; /* octets already in ob */
	uint8_t *in = xmalloc(MAILDIR_CHUNK);
	uint8_t *ob = xmalloc(MAILDIR_CHUNK + pre + 1);
	if (pre)
		memcpy(ob, head, pre);
	off_t off = 0;
	int held_cr = 0, rc = -1;
	uint32_t crc = 0;
	for (;;) {
		ssize_t r = pread(data_fd, in, MAILDIR_CHUNK, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*what = "read spool data for";
			goto out;
		}
		if (r == 0)
			break;
		off += r;
		if (chk)
			crc = crc32c_update(crc, in, (size_t)r);
		size_t o = pre;
		pre = 0;
		for (size_t i = 0; i < (size_t)r; i++) {
			if (held_cr) {
				held_cr = 0;
				if (in[i] != '\n')
					ob[o++] = '\r';
			}
			if (in[i] == '\r')
				held_cr = 1;
			else
				ob[o++] = in[i];
		}
		if (fd_write_all(out, ob, o) == -1) {
			*what = "write";
			goto out;
		}
	}
	if (pre && fd_write_all(out, ob, pre) == -1) { /* no data: the head alone */
		*what = "write";
		goto out;
	}
	if (held_cr && fd_write_all(out, (const uint8_t *)"\r", 1) == -1) {
		*what = "write";
		goto out;
	}
	*got_size = (uint64_t)off;
	*got_crc = crc;
	rc = chk && (chk->size != (uint64_t)off || chk->crc != crc) ? -2 : 0;
out:;
	int e = errno;
	free(in);
	free(ob);
	errno = e;
	return rc;
}

/* Create tmp/<name>; a leftover from a crashed attempt is replaced once. */
static int create_tmp(int dfd, const char *tmp)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = openat(dfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST || attempt == 1)
			return fd;
		if (unlinkat(dfd, tmp, 0) == -1 && errno != ENOENT)
			return -1;
	}
	return -1;
}

/* Room is left for the ":2,<flags>" a reader appends when it moves the
 * file to cur/. */
static int name_ok(const char *name)
{
	size_t n = strlen(name);
	return n > 0 && n <= NAME_MAX - 16 && strchr(name, '/') == NULL && strcmp(name, ".") &&
	       strcmp(name, "..");
}

enum maildir_result maildir_prepare(const char *dir, const char *name, const char *head,
                                    int data_fd, int sync, struct maildir_prep *p, char *err,
                                    size_t errlen)
{
	return maildir_prepare_checked(dir, name, head, data_fd, NULL, sync, p, err, errlen);
}

enum maildir_result maildir_prepare_checked(const char *dir, const char *name, const char *head,
                                            int data_fd, const struct maildir_check *chk, int sync,
                                            struct maildir_prep *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->dfd = p->fd = p->newfd = -1;
	if (errlen)
		err[0] = '\0';
	if (!name_ok(name)) {
		snprintf(err, errlen, "5.3.0 maildir: invalid file name for %s", dir);
		return MAILDIR_PERM;
	}
	p->dir = dir;
	snprintf(p->name, sizeof(p->name), "%s", name);
	enum maildir_result res = maildir_open(dir, &p->dfd, err, errlen);
	if (res != MAILDIR_OK)
		return res;

	char tmp[MAILDIR_SUBPATH];
	snprintf(tmp, sizeof(tmp), "tmp/%s", name);
	int r = already_delivered(p->dfd, name);
	if (r == -1) {
		res = fail(err, errlen, errno, "check", dir, name);
		maildir_prep_close(p);
		return res;
	}
	if (r == 1) {
		/* An earlier attempt linked it; publishing only makes new/ durable. */
		p->done = 1;
		return MAILDIR_OK;
	}
	int fd = create_tmp(p->dfd, tmp);
	if (fd == -1) {
		res = fail(err, errlen, errno, "create", dir, tmp);
		maildir_prep_close(p);
		return res;
	}
	const char *what = NULL;
	uint64_t got_size = 0;
	uint32_t got_crc = 0;
	int c = copy_lf(data_fd, fd, head, chk, &got_size, &got_crc, &what);
	if (c == -2) {
		/* Damaged on disk since it was committed: never half-deliver it. */
		snprintf(err, errlen,
		         "4.3.0 spool data damaged: %llu octets with CRC-32C %08x, the envelope "
		         "says %llu octets with %08x",
		         (unsigned long long)got_size, got_crc, (unsigned long long)chk->size,
		         chk->crc);
		res = MAILDIR_CORRUPT;
		goto drop;
	}
	if (c == -1) {
		res = fail(err, errlen, errno, what, dir, tmp);
		goto drop;
	}
	if (!sync) {
		p->fd = fd; /* the caller makes it durable: maildir_sync_file() */
		return MAILDIR_OK;
	}
	if (fsync(fd) == -1) {
		res = fail(err, errlen, errno, "fsync", dir, tmp);
		goto drop;
	}
	/* close() can report a deferred write error (NFS): then the copy is bad. */
	c = close(fd);
	fd = -1;
	if (c == -1) {
		res = fail(err, errlen, errno, "close", dir, tmp);
		goto drop;
	}
	return MAILDIR_OK;
drop:
	if (fd != -1)
		close(fd);
	maildir_abandon(p);
	return res;
}

enum maildir_result maildir_publish(struct maildir_prep *p, int sync, char *err, size_t errlen)
{
	if (p->dfd == -1) {
		snprintf(err, errlen, "4.3.0 maildir: nothing prepared");
		return MAILDIR_TEMP;
	}
	enum maildir_result res = MAILDIR_OK;
	if (!p->done) {
		char tmp[MAILDIR_SUBPATH], new[MAILDIR_SUBPATH];
		snprintf(tmp, sizeof(tmp), "tmp/%s", p->name);
		snprintf(new, sizeof(new), "new/%s", p->name);
		/* The commit point: one rename that never replaces (one directory
		 * operation instead of link + unlink). EEXIST: a racing or earlier
		 * attempt got there first with the same message, which is what we
		 * wanted. Without RENAME_NOREPLACE, the spec's link + unlink. */
		int rc = renameat2(p->dfd, tmp, p->dfd, new, RENAME_NOREPLACE);
		int e = rc == -1 ? errno : 0;
		if (e == EINVAL || e == ENOSYS) {
			rc = linkat(p->dfd, tmp, p->dfd, new, 0);
			e = rc == -1 ? errno : 0;
			if (e == 0)
				unlinkat(p->dfd, tmp, 0);
		}
		if (e == EEXIST)
			unlinkat(p->dfd, tmp, 0); /* already there: ours is a spare copy */
		else if (e != 0) {
			res = fail(err, errlen, e, "rename", p->dir, new);
			maildir_abandon(p);
			return res;
		}
		p->done = 1;
	}
	/* The file is in new/ but survives a crash only once new/ is synced;
	 * a retry finds new/<name> and repeats only this step. */
	if (sync && fsync_dir_at(p->dfd, "new") == -1)
		res = fail(err, errlen, errno, "fsync", p->dir, "new");
	if (!sync && p->newfd == -1) {
		/* Opened here, as the mailbox owner: the caller syncs it later. */
		p->newfd = openat(p->dfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (p->newfd == -1)
			res = fail(err, errlen, errno, "open", p->dir, "new");
	}
	return res;
}

int maildir_sync_file(struct maildir_prep *p, int nosync)
{
	if (p->fd == -1)
		return 0;
	int e = !nosync && fdatasync(p->fd) == -1 ? errno : 0;
	/* close() can report a deferred write error (NFS): then the copy is bad. */
	if (close(p->fd) == -1 && e == 0 && errno != EINTR)
		e = errno;
	p->fd = -1;
	return e;
}

void maildir_sync_error(char *err, size_t errlen, int e, const struct maildir_prep *p,
                        const char *sub)
{
	char tmp[MAILDIR_SUBPATH];
	if (sub == NULL) {
		snprintf(tmp, sizeof(tmp), "tmp/%s", p->name);
		sub = tmp;
	}
	fail(err, errlen, e, "fsync", p->dir, sub);
}

void maildir_abandon(struct maildir_prep *p)
{
	if (p->dfd != -1 && !p->done) {
		char tmp[MAILDIR_SUBPATH];
		snprintf(tmp, sizeof(tmp), "tmp/%s", p->name);
		unlinkat(p->dfd, tmp, 0);
	}
	maildir_prep_close(p);
}

void maildir_prep_close(struct maildir_prep *p)
{
	if (p->fd != -1)
		close(p->fd);
	if (p->newfd != -1)
		close(p->newfd);
	if (p->dfd != -1)
		close(p->dfd);
	p->dfd = p->fd = p->newfd = -1;
}

enum maildir_result maildir_deliver(const char *dir, const char *name, const char *head,
                                    int data_fd, char *err, size_t errlen)
{
	struct maildir_prep p;
	enum maildir_result res = maildir_prepare(dir, name, head, data_fd, 1, &p, err, errlen);
	if (res != MAILDIR_OK)
		return res;
	res = maildir_publish(&p, 1, err, errlen);
	maildir_prep_close(&p);
	return res;
}
