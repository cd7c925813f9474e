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
#include "util.h"
#include "xmalloc.h"

/* Envelopes past this size are treated as damaged rather than read. */
#define SPOOL_MAX_ENV_FILE ((size_t)256 * 1024 * 1024)
/* Envelopes written before their syncs, at most: bounds open descriptors. */
#define SPOOL_SYNC_CHUNK 128
/* Name clashes in corrupt/ tried before giving up. */
#define SPOOL_QUARANTINE_TRIES 1000

/*
 * Spool files are recycled instead of deleted: a finished message's files
 * go to free/ and the next message takes one from there. Allocating an
 * inode is the costliest thing the spool does on some file systems (ext4
 * without a journal scans past every recently freed inode), and a busy
 * spool would free two per message.
 */
#define SPOOL_POOL_MAX     65536
#define SPOOL_POOL_NAMELEN 24
/* A recycled file larger than this gives its blocks back when it is freed,
 * and so does one that would take the pool's blocks past SPOOL_POOL_BYTES:
 * the pool keeps inodes for a burst's worth of messages, not its disk. */
#define SPOOL_POOL_KEEP_SIZE (1024 * 1024)
#define SPOOL_POOL_BYTES     ((int64_t)64 * 1024 * 1024)

struct pool_entry {
	char name[SPOOL_POOL_NAMELEN];
	int64_t bytes; /* allocated on disk */
};

struct spool {
	char *dir;
	int root;
	int data;
	int tmp;
	int env;
	int corrupt;
	int free;
	struct pool_entry *pool; /* files in free/, a stack */
	size_t n_pool, cap_pool;
	int64_t pool_bytes;
	uint64_t pool_seq;
};

static void set_err(char *err, size_t errlen, const char *what, int e)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, strerror(e));
}

/* close() that reports failure, keeping errno from close itself. */
static int close_checked(int fd)
{
	if (close(fd) == -1 && errno != EINTR)
		return -1;
	return 0;
}

static void close_quiet(int fd)
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
	close_quiet(fd);
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

struct spool *spool_open(const char *queue_dir, char *err, size_t errlen)
{
	static const char *const subdirs[] = {"data", "tmp", "env", "corrupt", "free"};
	if (mkdir_durable(queue_dir) == -1) {
		set_err(err, errlen, "cannot create spool directory", errno);
		return NULL;
	}
	struct spool *s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(queue_dir);
	s->root = s->data = s->tmp = s->env = s->corrupt = s->free = -1;
	s->root = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root == -1) {
		set_err(err, errlen, "cannot open spool directory", errno);
		spool_close(s);
		return NULL;
	}
	int *fds[] = {&s->data, &s->tmp, &s->env, &s->corrupt, &s->free};
	int created = 0;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if (mkdirat(s->root, subdirs[i], 0700) == 0)
			created = 1;
		else if (errno != EEXIST) {
			set_err(err, errlen, "cannot create spool subdirectory", errno);
			spool_close(s);
			return NULL;
		}
		*fds[i] = open_dir_at(s->root, subdirs[i]);
		if (*fds[i] == -1) {
			set_err(err, errlen, "cannot open spool subdirectory", errno);
			spool_close(s);
			return NULL;
		}
	}
	if (created && fsync(s->root) == -1) {
		set_err(err, errlen, "cannot sync spool directory", errno);
		spool_close(s);
		return NULL;
	}
	return s;
}

void spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	int fds[] = {s->root, s->data, s->tmp, s->env, s->corrupt, s->free};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(s->pool);
	free(s->dir);
	free(s);
}

/* Move a pooled file to dir/name. 0, or -1 when the pool has none. */
static int pool_take(struct spool *s, int dir, const char *name)
{
	while (s->n_pool > 0) {
		const struct pool_entry *f = &s->pool[--s->n_pool];
		s->pool_bytes -= f->bytes;
		if (renameat2(s->free, f->name, dir, name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			return -1; /* name taken: let the caller's O_EXCL say so */
		                   /* vanished or unusable: drop it, try the next */
	}
	return -1;
}

/* The blocks dir/name may keep in the pool: its own, or 0 after it was
 * emptied because it is large or the pool holds enough blocks already. */
static int64_t pool_blocks_kept(struct spool *s, int dir, const char *name, const struct stat *st)
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

static void pool_push(struct spool *s, const char *name, int64_t bytes)
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
	if (s->n_pool == SPOOL_POOL_MAX || fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode)) {
		if (unlinkat(dir, name, 0) == -1 && errno != ENOENT)
			log_warn("event=spool-remove id=%s error=\"%s: %s\"", name, what,
			         strerror(errno));
		return;
	}
	int64_t bytes = pool_blocks_kept(s, dir, name, &st);
	char f[SPOOL_POOL_NAMELEN];
	snprintf(f, sizeof(f), "f%016llx", (unsigned long long)++s->pool_seq);
	if (renameat2(dir, name, s->free, f, RENAME_NOREPLACE) == 0)
		pool_push(s, f, bytes);
	else if (unlinkat(dir, name, 0) == -1 && errno != ENOENT)
		log_warn("event=spool-remove id=%s error=\"%s: %s\"", name, what, strerror(errno));
}

/* Give every pooled file's space back (the disk is full). */
static void pool_drain(struct spool *s)
{
	while (s->n_pool > 0)
		unlinkat(s->free, s->pool[--s->n_pool].name, 0);
	s->pool_bytes = 0;
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
static int spool_new_file(struct spool *s, int dir, const char *name, int flags, int erase)
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
		pool_drain(s);
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

/* ---- group commit ---- */

enum commit_stage {
	STAGE_FAILED = 0,
	STAGE_WRITTEN, /* tmp/<id> written, fd open, nothing synced yet */
	STAGE_SYNCED,  /* data file and tmp/<id> durable */
	STAGE_RENAMED, /* env/<id> exists, not yet durable */
};

struct commit_slot {
	uint8_t stage;
	int tmp_fd;
};

static void item_fail(struct spool_commit *it, int e, const char *what)
{
	it->result = -1;
	it->error = e ? e : EIO;
	snprintf(it->reason, sizeof(it->reason), "%s: %s", what, strerror(it->error));
}

/*
 * Step 1 for one item: the data file is data/<id> and has the envelope's
 * size; the envelope is written to tmp/<id>, whose fd is returned for the
 * sync step. On failure nothing of this item is left in tmp/.
 */
static int commit_write(struct spool *s, struct spool_commit *it, struct buf *enc)
{
	const struct envelope *e = it->env;
	if (e == NULL || !envelope_id_valid(e->id)) {
		item_fail(it, EINVAL, "invalid message id");
		return -1;
	}
	struct stat st, named;
	if (it->data_fd < 0 || fstat(it->data_fd, &st) == -1) {
		item_fail(it, it->data_fd < 0 ? EBADF : errno, "data file");
		return -1;
	}
	if (fstatat(s->data, e->id, &named, AT_SYMLINK_NOFOLLOW) == -1) {
		item_fail(it, errno, "data file not in spool");
		return -1;
	}
	if (st.st_dev != named.st_dev || st.st_ino != named.st_ino) {
		item_fail(it, EINVAL, "data fd is not data/<id>");
		return -1;
	}
	/* The writer's file offset (shared with the fd it was passed) is how
	 * much it wrote; a recycled file is cut there. */
	off_t written = lseek(it->data_fd, 0, SEEK_CUR);
	if (!S_ISREG(st.st_mode) || written < 0 || (uint64_t)written != e->size) {
		item_fail(it, EINVAL, "data file size differs from envelope");
		return -1;
	}
	if (st.st_size != written && ftruncate(it->data_fd, written) == -1) {
		item_fail(it, errno, "cut data file");
		return -1;
	}
	buf_reset(enc);
	if (envelope_encode(e, enc) == -1) {
		item_fail(it, EINVAL, "envelope over a limit or invalid");
		return -1;
	}
	int fd = spool_new_file(s, s->tmp, e->id, O_WRONLY, 0);
	if (fd == -1) {
		item_fail(it, errno, "create tmp envelope");
		return -1;
	}
	/* A recycled file may be longer than this envelope: cut it after. */
	if (fd_write_all(fd, enc->data, enc->len) == -1 || ftruncate(fd, (off_t)enc->len) == -1) {
		int saved = errno;
		close(fd);
		unlinkat(s->tmp, e->id, 0);
		item_fail(it, saved, "write envelope");
		return -1;
	}
	return fd;
}

/* Step 2 for one item, without syncfs(2): make the data file and tmp/<id> durable. */
static int commit_sync(struct spool *s, struct spool_commit *it, int tmp_fd)
{
	const char *what = NULL;
	if (fdatasync(it->data_fd) == -1)
		what = "fdatasync data file";
	else if (fdatasync(tmp_fd) == -1)
		what = "fdatasync envelope";
	int saved = errno;
	if (close_checked(tmp_fd) == -1 && what == NULL) {
		what = "close envelope";
		saved = errno;
	}
	if (what == NULL)
		return 0;
	unlinkat(s->tmp, it->env->id, 0);
	item_fail(it, saved, what);
	return -1;
}

/*
 * Step 2 for a whole batch: one syncfs(2) makes every data file, every
 * tmp/ envelope and the data/ and tmp/ directory entries durable at once —
 * the group commit. One flush of the file system costs about what one
 * fdatasync does, however many messages the batch holds. Returns -1 with
 * errno ENOSYS where syncfs is unavailable (the caller syncs per file).
 */
static int commit_sync_all(struct spool *s, struct spool_commit *items, struct commit_slot *slot,
                           size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (slot[i].stage != STAGE_WRITTEN)
			continue;
		if (close_checked(slot[i].tmp_fd) == -1) {
			unlinkat(s->tmp, items[i].env->id, 0);
			item_fail(&items[i], errno, "close envelope");
			slot[i].stage = STAGE_FAILED;
		}
		slot[i].tmp_fd = -1;
	}
	if (syncfs(s->data) == 0)
		return 0;
	int e = errno;
	if (e == ENOSYS)
		return -1; /* nothing failed yet: sync file by file */
	for (size_t i = 0; i < n; i++) {
		if (slot[i].stage != STAGE_WRITTEN)
			continue;
		unlinkat(s->tmp, items[i].env->id, 0);
		item_fail(&items[i], e, "syncfs spool");
		slot[i].stage = STAGE_FAILED;
	}
	errno = e;
	return -1;
}

/* rename(2) that never replaces a committed envelope. */
static int rename_noreplace(int fromdir, const char *from, int todir, const char *to)
{
	if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
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
	return renameat(fromdir, from, todir, to);
}

void spool_commit_batch(struct spool *s, struct spool_commit *items, size_t n)
{
	if (n == 0)
		return;
	struct commit_slot *slot = xcalloc(n, sizeof(*slot));
	struct buf enc;
	buf_init(&enc, 0);
	size_t live = 0;

	/* Write every envelope, then make the whole batch durable at once.
	 * Chunks only bound how many tmp/ descriptors are open at once. */
	for (size_t base = 0; base < n; base += SPOOL_SYNC_CHUNK) {
		size_t end = n - base > SPOOL_SYNC_CHUNK ? base + SPOOL_SYNC_CHUNK : n;
		for (size_t i = base; i < end; i++) {
			items[i].result = -1;
			items[i].error = 0;
			items[i].reason[0] = '\0';
			slot[i].tmp_fd = commit_write(s, &items[i], &enc);
			if (slot[i].tmp_fd >= 0)
				slot[i].stage = STAGE_WRITTEN;
		}
		/* Once every data file and envelope of the chunk is durable, and
		 * with them the data/ directory entries, envelopes may point at
		 * the data (syncfs covers it all; the fallback syncs per file and
		 * then the directory). */
		if (commit_sync_all(s, items + base, slot + base, end - base) == 0) {
			for (size_t i = base; i < end; i++)
				if (slot[i].stage == STAGE_WRITTEN) {
					slot[i].stage = STAGE_SYNCED;
					live++;
				}
			continue;
		}
		if (errno != ENOSYS)
			continue;
		for (size_t i = base; i < end; i++) {
			if (slot[i].stage != STAGE_WRITTEN)
				continue;
			int fd =
			    openat(s->tmp, items[i].env->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd != -1 && commit_sync(s, &items[i], fd) == 0) {
				slot[i].stage = STAGE_SYNCED;
				live++;
			} else {
				slot[i].stage = STAGE_FAILED;
			}
		}
		if (live > 0 && fsync(s->data) == -1) {
			int e = errno;
			for (size_t i = base; i < end; i++) {
				if (slot[i].stage != STAGE_SYNCED)
					continue;
				unlinkat(s->tmp, items[i].env->id, 0);
				item_fail(&items[i], e, "fsync data directory");
				slot[i].stage = STAGE_FAILED;
				live--;
			}
		}
	}
	buf_free(&enc);

	size_t renamed = 0;
	for (size_t i = 0; i < n && live > 0; i++) {
		if (slot[i].stage != STAGE_SYNCED)
			continue;
		const char *id = items[i].env->id;
		if (rename_noreplace(s->tmp, id, s->env, id) == -1) {
			int e = errno;
			unlinkat(s->tmp, id, 0);
			item_fail(&items[i], e, "rename envelope into env/");
			slot[i].stage = STAGE_FAILED;
			continue;
		}
		slot[i].stage = STAGE_RENAMED;
		renamed++;
	}

	/* The commit point: after this fsync the renames are durable. */
	if (renamed > 0 && fsync(s->env) == -1) {
		int e = errno;
		/* We are about to report failure (451), so take the envelopes back:
		 * if the unlinks do not reach the disk either, recovery finds an
		 * envelope whose data file the caller discarded and quarantines it,
		 * rather than delivering a message the client was told failed. */
		for (size_t i = 0; i < n; i++) {
			if (slot[i].stage != STAGE_RENAMED)
				continue;
			if (unlinkat(s->env, items[i].env->id, 0) == -1)
				log_warn("event=spool-commit id=%s error=\"unlink after failed "
				         "sync: %s\"",
				         items[i].env->id, strerror(errno));
			item_fail(&items[i], e, "fsync env directory");
			slot[i].stage = STAGE_FAILED;
		}
		if (fsync(s->env) == -1)
			log_warn("event=spool-commit error=\"env directory sync failed twice: %s\"",
			         strerror(errno));
	}

	for (size_t i = 0; i < n; i++) {
		if (slot[i].stage == STAGE_RENAMED) {
			items[i].result = 0;
			items[i].error = 0;
		}
	}
	free(slot);
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

int spool_append_rcpt_state(struct spool *s, const char *id, uint32_t idx,
                            const struct envelope_rcpt *r, int sync)
{
	if (!envelope_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
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
	} else if (fd_write_all(fd, rec.data, rec.len) == -1 || (sync && fdatasync(fd) == -1)) {
		/* Cut a partial record off so the next append does not land behind
		 * garbage; the caller is told this outcome was not saved, and
		 * after the cut it is not. */
		saved = errno;
		if (ftruncate(fd, st.st_size) == 0)
			(void)fdatasync(fd);
	} else {
		rc = 0;
	}
	buf_free(&rec);
	if (close_checked(fd) == -1 && rc == 0) {
		saved = errno;
		rc = -1;
	}
	if (rc == -1)
		errno = saved ? saved : EIO;
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

static int exists_at(int dirfd, const char *name)
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
		found = !exists_at(s->corrupt, envname) && !exists_at(s->corrupt, dataname);
	}
	if (!found) {
		log_warn(
		    "event=spool-corrupt id=%s reason=\"%s\" error=\"no free name in corrupt/\"",
		    id, why);
		return;
	}
	if (rename_noreplace(s->env, id, s->corrupt, envname) == -1 && errno != ENOENT) {
		log_warn("event=spool-corrupt id=%s reason=\"%s\" error=\"move env: %s\"", id, why,
		         strerror(errno));
		return;
	}
	if (rename_noreplace(s->data, id, s->corrupt, dataname) == -1 && errno != ENOENT)
		log_warn("event=spool-corrupt id=%s error=\"move data: %s\"", id, strerror(errno));
	/* Make the move stick, so a restart does not find the envelope again. */
	if (fsync(s->corrupt) == -1 || fsync(s->env) == -1 || fsync(s->data) == -1)
		log_warn("event=spool-corrupt id=%s error=\"sync: %s\"", id, strerror(errno));
	log_warn("event=spool-corrupt id=%s reason=\"%s\" moved=corrupt/%s", id, why, envname);
}

/*
 * Read env/<id>; *filelen gets its size, *used how much of it decoded.
 * -1 means the file is bad, -2 that it could not be read (which says
 * nothing about the message, so recovery must not quarantine it).
 */
static int load_env(struct spool *s, const char *id, struct envelope *e, size_t *used,
                    size_t *filelen, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	if (!envelope_id_valid(id)) {
		set_err(err, errlen, "invalid message id", EINVAL);
		return -1;
	}
	int fd = openat(s->env, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		set_err(err, errlen, "open envelope", errno);
		return -2;
	}
	struct stat st;
	if (fstat(fd, &st) == -1) {
		set_err(err, errlen, "stat envelope", errno);
		close_quiet(fd);
		return -2;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > SPOOL_MAX_ENV_FILE) {
		set_err(err, errlen, "envelope not a regular file or too large", EFBIG);
		close_quiet(fd);
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
			set_err(err, errlen, "read envelope", errno);
			free(p);
			close_quiet(fd);
			return -2;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close_quiet(fd);
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
	return load_env(s, id, e, &used, &filelen, err, errlen) == 0 ? 0 : -1;
}

/* ---- start-up recovery ---- */

static DIR *dir_iter(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	DIR *d = fdopendir(fd);
	if (d == NULL)
		close_quiet(fd);
	return d;
}

static int is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

static const char *esc_name(char *dst, size_t dstlen, const char *name)
{
	return log_escape(dst, dstlen, name, strlen(name));
}

static void recover_tmp(struct spool *s)
{
	DIR *d = dir_iter(s->tmp);
	if (d == NULL) {
		log_warn("event=spool-recover dir=tmp error=\"%s\"", strerror(errno));
		return;
	}
	struct dirent *de;
	char name[128];
	int removed = 0;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		esc_name(name, sizeof(name), de->d_name);
		if (unlinkat(s->tmp, de->d_name, 0) == -1) {
			log_warn("event=spool-recover action=delete-tmp name=\"%s\" error=\"%s\"",
			         name, strerror(errno));
			continue;
		}
		removed = 1;
		log_info("event=spool-recover action=delete-tmp name=\"%s\"", name);
	}
	closedir(d);
	if (removed && fsync(s->tmp) == -1)
		log_warn("event=spool-recover dir=tmp error=\"sync: %s\"", strerror(errno));
}

static int all_final(const struct envelope *e)
{
	for (size_t i = 0; i < e->n_rcpts; i++)
		if (e->rcpts[i].state != RCPT_DELIVERED && e->rcpts[i].state != RCPT_FAILED)
			return 0;
	return 1;
}

/* Cut a torn STATE record off so later appends follow whole records. */
static int truncate_env(struct spool *s, const char *id, size_t used)
{
	int fd = openat(s->env, id, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	if (ftruncate(fd, (off_t)used) == -1 || fdatasync(fd) == -1) {
		close_quiet(fd);
		return -1;
	}
	return close_checked(fd);
}

/* One env/ entry: 1 if handed to cb, 0 otherwise. */
static int recover_one(struct spool *s, const char *id,
                       void (*cb)(const struct envelope *e, void *arg), void *arg)
{
	struct envelope e;
	size_t used, filelen;
	char err[160];
	int rc = load_env(s, id, &e, &used, &filelen, err, sizeof(err));
	if (rc == -2) {
		log_warn("event=spool-recover id=%s action=skip error=\"%s\"", id, err);
		return 0;
	}
	if (rc == -1) {
		spool_quarantine(s, id, err);
		return 0;
	}
	struct stat st;
	if (fstatat(s->data, id, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT && all_final(&e)) {
			/* spool_remove() was interrupted between its two unlinks
			 * (or their order did not reach the disk): finish it. */
			spool_remove(s, id);
			log_info("event=spool-recover action=finish-remove id=%s", id);
		} else if (errno == ENOENT) {
			spool_quarantine(s, id, "data file missing");
		} else {
			log_warn("event=spool-recover id=%s error=\"stat data: %s\" action=skip",
			         id, strerror(errno));
		}
		envelope_free(&e);
		return 0;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e.size) {
		char why[96];
		snprintf(why, sizeof(why), "data file size %lld, envelope says %llu",
		         (long long)st.st_size, (unsigned long long)e.size);
		spool_quarantine(s, id, why);
		envelope_free(&e);
		return 0;
	}
	if (used < filelen) {
		if (truncate_env(s, id, used) == -1) {
			log_warn(
			    "event=spool-recover id=%s action=skip error=\"cut torn record: %s\"",
			    id, strerror(errno));
			envelope_free(&e);
			return 0;
		}
		log_info("event=spool-recover action=cut-torn-state id=%s bytes=%zu", id,
		         filelen - used);
	}
	log_info("event=spool-recover action=recover id=%s rcpts=%zu", id, e.n_rcpts);
	if (cb)
		cb(&e, arg);
	envelope_free(&e);
	return 1;
}

static size_t recover_env(struct spool *s, void (*cb)(const struct envelope *e, void *arg),
                          void *arg)
{
	DIR *d = dir_iter(s->env);
	if (d == NULL) {
		log_warn("event=spool-recover dir=env error=\"%s\"", strerror(errno));
		return 0;
	}
	size_t count = 0;
	struct dirent *de;
	char name[128];
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (!envelope_id_valid(de->d_name)) {
			log_warn("event=spool-recover action=skip dir=env name=\"%s\" "
			         "reason=not-a-message-id",
			         esc_name(name, sizeof(name), de->d_name));
			continue;
		}
		count += (size_t)recover_one(s, de->d_name, cb, arg);
	}
	closedir(d);
	return count;
}

static void recover_data(struct spool *s)
{
	DIR *d = dir_iter(s->data);
	if (d == NULL) {
		log_warn("event=spool-recover dir=data error=\"%s\"", strerror(errno));
		return;
	}
	struct dirent *de;
	char name[128];
	int removed = 0;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (!envelope_id_valid(de->d_name)) {
			log_warn("event=spool-recover action=skip dir=data name=\"%s\" "
			         "reason=not-a-message-id",
			         esc_name(name, sizeof(name), de->d_name));
			continue;
		}
		if (exists_at(s->env, de->d_name))
			continue;
		/* Never committed, so never acknowledged: nobody is owed it. */
		if (unlinkat(s->data, de->d_name, 0) == -1) {
			log_warn("event=spool-recover action=delete-uncommitted id=%s error=\"%s\"",
			         de->d_name, strerror(errno));
			continue;
		}
		removed = 1;
		log_info("event=spool-recover action=delete-uncommitted id=%s", de->d_name);
	}
	closedir(d);
	if (removed && fsync(s->data) == -1)
		log_warn("event=spool-recover dir=data error=\"sync: %s\"", strerror(errno));
}

/* free/ holds only retired files: take them back into the pool. */
static void recover_free(struct spool *s)
{
	DIR *d = dir_iter(s->free);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		unsigned long long seq;
		char tail;
		struct stat st;
		if (s->n_pool < SPOOL_POOL_MAX && strlen(de->d_name) == 17 &&
		    sscanf(de->d_name, "f%16llx%c", &seq, &tail) == 1 &&
		    fstatat(s->free, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			pool_push(s, de->d_name, pool_blocks_kept(s, s->free, de->d_name, &st));
			if (seq > s->pool_seq)
				s->pool_seq = seq;
		} else {
			unlinkat(s->free, de->d_name, 0);
		}
	}
	closedir(d);
}

size_t spool_recover(struct spool *s, void (*cb)(const struct envelope *e, void *arg), void *arg)
{
	recover_free(s);
	recover_tmp(s);
	size_t n = recover_env(s, cb, arg);
	recover_data(s);
	log_info("event=spool-recover action=done recovered=%zu", n);
	return n;
}
