/*
 * spool: the queue's on-disk store. Its whole job is the promise behind
 * "250 queued": once spool_commit_batch() reports an item committed, that
 * message survives kill -9 and a power cut, and recovery finds it. The
 * commit protocol and what recovery does after a crash at each step are in
 * docs/SPOOL.md; the code below follows that state machine step by step.
 *
 * Every path is built from a directory fd kept open for the spool's life
 * plus a validated message id, so no id can name anything outside its
 * directory, and every syscall result is checked: a failed fsync is a
 * failed commit.
 */
#include "spool.h"

#include "spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "syncpool.h"
#include "util.h"
#include "xmalloc.h"

/* Envelopes past this size are treated as damaged rather than read. */
#define SPOOL_MAX_ENV_FILE ((size_t)256 * 1024 * 1024)
/* Name clashes in corrupt/ tried before giving up. */
#define SPOOL_QUARANTINE_TRIES 1000

void spool_set_err(char *err, size_t errlen, const char *what, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, strerror(e));
}

int spool_close_checked(int fd)
{
	if (close(fd) == -1 && errno != EINTR)
		return -1;
	return 0;
}

void spool_close_quiet(int fd)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
}

static int open_dir_at(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* fsync the directory holding path (its last component). */
static int fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *parent;
	if (slash == NULL)
		parent = xstrdup(".");
	else if (slash == path)
		parent = xstrdup("/");
	else
		parent = xstrndup(path, (size_t)(slash - path));
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (fd == -1)
		return -1;
	int rc = fsync(fd);
	spool_close_quiet(fd);
	return rc;
}

/* mkdir -p, making every directory it creates durable in its parent. */
static int mkdir_durable(const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || len >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	char *p = xstrdup(path);
	int rc = 0;
	for (size_t i = 1; i <= len && rc == 0; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char saved = p[i];
		p[i] = '\0';
		if (mkdir(p, 0700) == 0) {
			if (fsync_parent(p) == -1)
				rc = -1;
		} else if (errno != EEXIST) {
			rc = -1;
		}
		p[i] = saved;
	}
	free(p);
	return rc;
}

static int real_fdatasync(void *arg, int fd)
{
	(void)arg;
	return fdatasync(fd);
}

static int real_fsync(void *arg, int fd)
{
	(void)arg;
	return fsync(fd);
}

static int real_syncfs(void *arg, int fd)
{
	(void)arg;
	return syncfs(fd);
}

static int real_renameat2(void *arg, int olddir, const char *oldname, int newdir,
                          const char *newname, unsigned flags)
{
	(void)arg;
	return renameat2(olddir, oldname, newdir, newname, flags);
}

struct spool *spool_open(const char *queue_dir, char *err, size_t errlen)
{
	return spool_open_ops(queue_dir, NULL, err, errlen);
}

struct spool *spool_open_ops(const char *queue_dir, const struct spool_ops *ops, char *err,
                             size_t errlen)
{
	static const char *const subdirs[] = {"data", "tmp", "env", "corrupt", "free"};
	if (mkdir_durable(queue_dir) == -1) {
		spool_set_err(err, errlen, "cannot create spool directory", errno);
		return NULL;
	}
	struct spool *s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(queue_dir);
	s->root = s->data = s->tmp = s->env = s->corrupt = s->free = -1;
	s->ops.fdatasync = ops && ops->fdatasync ? ops->fdatasync : real_fdatasync;
	s->ops.fsync = ops && ops->fsync ? ops->fsync : real_fsync;
	s->ops.syncfs = ops && ops->syncfs ? ops->syncfs : real_syncfs;
	s->ops.renameat2 = ops && ops->renameat2 ? ops->renameat2 : real_renameat2;
	s->ops.arg = ops ? ops->arg : NULL;
	s->root = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root == -1) {
		spool_set_err(err, errlen, "cannot open spool directory", errno);
		spool_close(s);
		return NULL;
	}
	int *fds[] = {&s->data, &s->tmp, &s->env, &s->corrupt, &s->free};
	int created = 0;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if (mkdirat(s->root, subdirs[i], 0700) == 0)
			created = 1;
		else if (errno != EEXIST) {
			spool_set_err(err, errlen, "cannot create spool subdirectory", errno);
			spool_close(s);
			return NULL;
		}
		*fds[i] = open_dir_at(s->root, subdirs[i]);
		if (*fds[i] == -1) {
			spool_set_err(err, errlen, "cannot open spool subdirectory", errno);
			spool_close(s);
			return NULL;
		}
	}
	if (created && fsync(s->root) == -1) {
		spool_set_err(err, errlen, "cannot sync spool directory", errno);
		spool_close(s);
		return NULL;
	}
	s->syncer = syncpool_new(SPOOL_SYNC_THREADS, err, errlen);
	if (s->syncer == NULL) {
		spool_close(s);
		return NULL;
	}
	return s;
}

void spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	syncpool_free(s->syncer);
	int fds[] = {s->root, s->data, s->tmp, s->env, s->corrupt, s->free};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(s->pool);
	free(s->dir);
	free(s);
}

void spool_set_sync(struct spool *s, enum spool_sync mode)
{
	s->sync = mode;
}

/* Move a pooled file to dir/name. 0, or -1 when the pool has none. */
static int pool_take(struct spool *s, int dir, const char *name)
{
	while (s->n_pool > 0) {
		const struct pool_entry *f = &s->pool[--s->n_pool];
		s->pool_bytes -= f->bytes;
		if (s->ops.renameat2(s->ops.arg, s->free, f->name, dir, name, RENAME_NOREPLACE) ==
		    0)
			return 0;
		if (errno == EEXIST)
			return -1; /* name taken: let the caller's O_EXCL say so */
		                   /* vanished or unusable: drop it, try the next */
	}
	return -1;
}

/* The blocks dir/name may keep in the pool: its own, or 0 after it was
 * emptied because it is large or the pool holds enough blocks already. */
int64_t spool_pool_blocks_kept(struct spool *s, int dir, const char *name, const struct stat *st)
{
	int64_t bytes = (int64_t)st->st_blocks * 512;
	if (bytes == 0)
		return 0;
	if (bytes <= SPOOL_POOL_KEEP_SIZE && s->pool_bytes + bytes <= SPOOL_POOL_BYTES)
		return bytes;
	int fd = openat(dir, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1)
		close(fd);
	return 0;
}

void spool_pool_push(struct spool *s, const char *name, int64_t bytes)
{
	if (s->n_pool == s->cap_pool) {
		s->cap_pool = s->cap_pool ? s->cap_pool * 2 : 256;
		s->pool = xreallocarray(s->pool, s->cap_pool, sizeof(*s->pool));
	}
	struct pool_entry *f = &s->pool[s->n_pool++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->bytes = bytes;
	s->pool_bytes += bytes;
}

/* Retire dir/name into the pool (or delete it when the pool is full). */
static void pool_give(struct spool *s, int dir, const char *name, const char *what)
{
	struct stat st;
	/* Short of room, a finished message's space goes back to the file
	 * system at once: deliveries need it more than the next message. */
	if (s->n_pool == SPOOL_POOL_MAX || s->space.short_space ||
	    fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode)) {
		if (unlinkat(dir, name, 0) == -1 && errno != ENOENT)
			log_warn("event=spool-remove id=%s error=\"%s: %s\"", name, what,
			         strerror(errno));
		return;
	}
	int64_t bytes = spool_pool_blocks_kept(s, dir, name, &st);
	char f[SPOOL_POOL_NAMELEN];
	snprintf(f, sizeof(f), "f%016llx", (unsigned long long)++s->pool_seq);
	if (s->ops.renameat2(s->ops.arg, dir, name, s->free, f, RENAME_NOREPLACE) == 0)
		spool_pool_push(s, f, bytes);
	else if (unlinkat(dir, name, 0) == -1 && errno != ENOENT)
		log_warn("event=spool-remove id=%s error=\"%s: %s\"", name, what, strerror(errno));
}

size_t spool_release(struct spool *s)
{
	size_t n = s->n_pool;
	int64_t bytes = s->pool_bytes;
	while (s->n_pool > 0)
		unlinkat(s->free, s->pool[--s->n_pool].name, 0);
	s->pool_bytes = 0;
	if (n > 0)
		log_info("event=spool-pool-released files=%zu bytes=%lld", n, (long long)bytes);
	return n;
}

/*
 * Make a recycled file's old octets unreadable without giving its blocks
 * back: FALLOC_FL_ZERO_RANGE turns them into zeros in place. Truncating
 * would free the blocks only for the next message to allocate them again
 * — and with online discard every freed block is a synchronous discard
 * request (measured: 100 us per file with O_TRUNC, 10 us this way). Where
 * the file system cannot zero a range, truncation does the same job.
 */
static int erase_recycled(int fd)
{
	struct stat st;
	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_size == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, st.st_size) == 0)
		return 0;
	return ftruncate(fd, 0);
}

/*
 * A file dir/name to write from offset 0: from the pool when it has one.
 * A recycled file keeps its size, so the writer tells the length by where
 * it stopped and cuts the file there (spool_commit_batch, commit_write).
 * With erase, whatever the writer does not overwrite reads as zeros: the
 * smtp role, which writes the data files, never sees another message.
 */
int spool_new_file(struct spool *s, int dir, const char *name, int flags, int erase)
{
	if (pool_take(s, dir, name) == 0) {
		int fd = openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW);
		if (fd != -1 && (!erase || erase_recycled(fd) == 0))
			return fd;
		if (fd != -1)
			close(fd);
		unlinkat(dir, name, 0);
	}
	int fd = openat(dir, name, flags | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1 && (errno == ENOSPC || errno == EDQUOT) && s->n_pool > 0) {
		spool_release(s);
		fd = openat(dir, name, flags | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	return fd;
}

int spool_create_data(struct spool *s, const char *id)
{
	if (!envelope_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return spool_new_file(s, s->data, id, O_RDWR, 1);
}

void spool_discard(struct spool *s, const char *id)
{
	if (!envelope_id_valid(id))
		return;
	pool_give(s, s->data, id, "data");
}

/* rename(2) that never replaces a committed envelope. */
int spool_rename_noreplace(struct spool *s, int fromdir, const char *from, int todir,
                           const char *to)
{
	if (s->ops.renameat2(s->ops.arg, fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* Filesystem without RENAME_NOREPLACE: the queue is the spool's only
	 * writer, so checking first is not racy. */
	struct stat st;
	if (fstatat(todir, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	return s->ops.renameat2(s->ops.arg, fromdir, from, todir, to, 0);
}

/* ---- committed messages ---- */

int spool_open_data(struct spool *s, const char *id)
{
	if (!envelope_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return openat(s->data, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

int spool_append_state(struct spool *s, const char *id, uint32_t idx, uint8_t state,
                       uint32_t attempts, int64_t next_try, const char *last_error)
{
	struct envelope_rcpt r = {0};
	r.state = state;
	r.attempts = attempts;
	r.next_try = next_try;
	r.last_error = (char *)last_error;
	return spool_append_rcpt_state(s, id, idx, &r, 1);
}

static int append_once(struct spool *s, const char *id, uint32_t idx, const struct envelope_rcpt *r,
                       int sync)
{
	struct buf rec;
	buf_init(&rec, 0);
	if (envelope_encode_rcpt_state(idx, r, &rec) == -1) {
		buf_free(&rec);
		errno = EINVAL;
		return -1;
	}
	int fd = openat(s->env, id, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		buf_free(&rec);
		return -1;
	}
	struct stat st;
	int rc = -1, saved = 0;
	if (fstat(fd, &st) == -1) {
		saved = errno;
	} else if (fd_write_all(fd, rec.data, rec.len) == -1 ||
	           (sync && s->ops.fdatasync(s->ops.arg, fd) == -1)) {
		/* Cut a partial record off so the next append does not land behind
		 * garbage; the caller is told this outcome was not saved, and
		 * after the cut it is not. */
		saved = errno;
		if (ftruncate(fd, st.st_size) == 0)
			(void)s->ops.fdatasync(s->ops.arg, fd);
	} else {
		rc = 0;
	}
	buf_free(&rec);
	if (spool_close_checked(fd) == -1 && rc == 0) {
		saved = errno;
		rc = -1;
	}
	if (rc == -1)
		errno = saved ? saved : EIO;
	return rc;
}

int spool_append_rcpt_state(struct spool *s, const char *id, uint32_t idx,
                            const struct envelope_rcpt *r, int sync)
{
	if (!envelope_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	int rc = append_once(s, id, idx, r, sync);
	/* A full disk: the recycled files' space is what an outcome needs
	 * most (a lost deferral resets its retry schedule). */
	if (rc == -1 && (errno == ENOSPC || errno == EDQUOT) && spool_release(s) > 0)
		rc = append_once(s, id, idx, r, sync);
	if (rc == -1)
		log_warn("event=spool-state id=%s rcpt=%u error=\"%s\"", id, idx, strerror(errno));
	return rc;
}

void spool_remove(struct spool *s, const char *id)
{
	if (!envelope_id_valid(id))
		return;
	/* env first: a crash in between leaves a data file without envelope,
	 * which recovery deletes as never committed. */
	pool_give(s, s->env, id, "env");
	pool_give(s, s->data, id, "data");
}

int spool_exists_at(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

void spool_quarantine(struct spool *s, const char *id, const char *reason)
{
	char why[256];
	log_escape(why, sizeof(why), reason ? reason : "", reason ? strlen(reason) : 0);
	if (!envelope_id_valid(id)) {
		log_warn("event=spool-corrupt error=\"invalid message id\" reason=\"%s\"", why);
		return;
	}
	char envname[ENVELOPE_ID_MAX + 16], dataname[ENVELOPE_ID_MAX + 16];
	int found = 0;
	for (int k = 0; k < SPOOL_QUARANTINE_TRIES && !found; k++) {
		if (k == 0) {
			snprintf(envname, sizeof(envname), "%s.env", id);
			snprintf(dataname, sizeof(dataname), "%s.data", id);
		} else {
			snprintf(envname, sizeof(envname), "%s.%d.env", id, k);
			snprintf(dataname, sizeof(dataname), "%s.%d.data", id, k);
		}
		found =
		    !spool_exists_at(s->corrupt, envname) && !spool_exists_at(s->corrupt, dataname);
	}
	if (!found) {
		log_warn(
		    "event=spool-corrupt id=%s reason=\"%s\" error=\"no free name in corrupt/\"",
		    id, why);
		return;
	}
	if (spool_rename_noreplace(s, s->env, id, s->corrupt, envname) == -1 && errno != ENOENT) {
		log_warn("event=spool-corrupt id=%s reason=\"%s\" error=\"move env: %s\"", id, why,
		         strerror(errno));
		return;
	}
	if (spool_rename_noreplace(s, s->data, id, s->corrupt, dataname) == -1 && errno != ENOENT)
		log_warn("event=spool-corrupt id=%s error=\"move data: %s\"", id, strerror(errno));
	/* Make the move stick, so a restart does not find the envelope again. */
	if (s->ops.fsync(s->ops.arg, s->corrupt) == -1 || s->ops.fsync(s->ops.arg, s->env) == -1 ||
	    s->ops.fsync(s->ops.arg, s->data) == -1)
		log_warn("event=spool-corrupt id=%s error=\"sync: %s\"", id, strerror(errno));
	log_warn("event=spool-corrupt id=%s reason=\"%s\" moved=corrupt/%s", id, why, envname);
}

int spool_load_env(struct spool *s, const char *id, struct envelope *e, size_t *used,
                   size_t *filelen, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	if (!envelope_id_valid(id)) {
		spool_set_err(err, errlen, "invalid message id", EINVAL);
		return -1;
	}
	int fd = openat(s->env, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		spool_set_err(err, errlen, "open envelope", errno);
		return -2;
	}
	struct stat st;
	if (fstat(fd, &st) == -1) {
		spool_set_err(err, errlen, "stat envelope", errno);
		spool_close_quiet(fd);
		return -2;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > SPOOL_MAX_ENV_FILE) {
		spool_set_err(err, errlen, "envelope not a regular file or too large", EFBIG);
		spool_close_quiet(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	uint8_t *p = xmalloc(size ? size : 1);
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, p + got, size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			spool_set_err(err, errlen, "read envelope", errno);
			free(p);
			spool_close_quiet(fd);
			return -2;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	spool_close_quiet(fd);
	int rc = envelope_decode_prefix(p, got, e, used, err, errlen);
	free(p);
	if (rc == 0 && strcmp(e->id, id) != 0) {
		if (err && errlen)
			snprintf(err, errlen, "envelope names a different message id");
		envelope_free(e);
		return -1;
	}
	*filelen = got;
	return rc;
}

int spool_load(struct spool *s, const char *id, struct envelope *e, char *err, size_t errlen)
{
	size_t used, filelen;
	return spool_load_env(s, id, e, &used, &filelen, err, errlen) == 0 ? 0 : -1;
}
