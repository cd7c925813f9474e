/*
 * spool_commit: the commit protocol (docs/SPOOL.md §3, §6) — the steps
 * between "smtp wrote the data file" and "the 250 may be sent" — for a
 * whole batch of messages at once (group commit), in ONE flush wave.
 *
 * A batch waits only for its own files. Step 1, on the caller's thread,
 * writes every envelope to tmp/ and renames it into env/ at once, before
 * anything is synced; step 2 makes the whole batch durable in one wave on
 * the spool's sync threads: one fdatasync of each data file and of each
 * envelope, one fsync of data/ and one of env/, all issued together so
 * that the file system and the device merge their flushes. The commit
 * point is the end of the wave: the 250 comes after it. A crash before
 * that can leave an envelope in env/ whose files are not whole; recovery
 * (spool_recover.c) sets such a message aside, never delivers it (it was
 * never acknowledged, or if it was, it was damaged afterwards and cannot
 * be delivered whole either). syncfs(2) instead of the per-file syncs is
 * an option (SPOOL_SYNC_SYNCFS): one call for the wave, but it also waits
 * for every other writer's dirty pages on the file system.
 *
 * spool_commit_batch() runs the steps and returns; spool_commit_start()
 * runs the wave in the background and reports through spool_reap(), so
 * that the caller's event loop keeps serving while a batch syncs. Both use
 * the same step functions below. Every result is checked: a failed sync is
 * a failed commit, of exactly the items it concerns, whose env/ entries are
 * then taken back (and that undo synced, on a sync thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crc32c.h"
#include "log.h"
#include "spool_int.h"
#include "syncpool.h"
#include "util.h"
#include "xmalloc.h"

enum commit_stage {
	STAGE_FAILED = 0,
	STAGE_RENAMED, /* env/<id> exists, nothing synced yet */
	STAGE_DURABLE, /* the wave made it durable: committed */
};

struct commit_slot {
	uint8_t stage;
	int data_err;          /* from the sync tasks: errno of the data file's, */
	int env_err;           /* and of the envelope's, 0 if none, */
	const char *data_what; /* and what failed */
	const char *env_what;
};

/* The directory syncs of the wave: data/ and env/. */
enum { DIR_DATA = 0, DIR_ENV = 1, DIR_MAX = 2 };

struct spool_batch {
	struct spool *s;
	struct spool_commit *items;
	size_t n;
	struct commit_slot *slot;
	size_t *live; /* the items the wave syncs */
	size_t n_live;
	int syncfs; /* the wave is one syncfs(2) (the option, until ENOSYS) */
	int dir_err[DIR_MAX];
	void (*synced)(void *arg);
	void (*done)(void *arg);
	void *arg;
};

static void item_fail(struct spool_commit *it, int e, const char *what)
{
	it->result = -1;
	it->error = e ? e : EIO;
	snprintf(it->reason, sizeof(it->reason), "%s: %s", what, strerror(it->error));
}

/*
 * Step 1 for one item: the data file is data/<id> and has the envelope's
 * size; the envelope is written to tmp/<id>, closed (a sync task opens it
 * again: at most one descriptor per sync thread, however large the batch)
 * and renamed into env/<id>, never replacing. 0, or -1 with nothing of
 * this item left in tmp/ or env/.
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
	/* Erased, a recycled envelope's blocks read as zeros without I/O: a
	 * partial overwrite of a block that left the page cache would read
	 * it from disk first, on this loop, behind every other writer. */
	int fd = spool_new_file(s, s->tmp, e->id, O_WRONLY, 1);
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
		if (saved == ENOSPC || saved == EDQUOT)
			spool_release(s); /* for the next one, and for deliveries */
		return -1;
	}
	/* close() can report a deferred write error (NFS). */
	if (spool_close_checked(fd) == -1) {
		int saved = errno;
		unlinkat(s->tmp, e->id, 0);
		item_fail(it, saved, "close envelope");
		return -1;
	}
	/* Into env/ before anything is synced: the wave then makes the
	 * envelope, its name and the data durable together (§3). */
	if (spool_rename_noreplace(s, s->tmp, e->id, s->env, e->id) == -1) {
		int saved = errno;
		unlinkat(s->tmp, e->id, 0);
		item_fail(it, saved, "rename envelope into env/");
		return -1;
	}
	return 0;
}

static struct spool_batch *batch_new(struct spool *s, struct spool_commit *items, size_t n)
{
	struct spool_batch *b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->items = items;
	b->n = n;
	b->slot = xcalloc(n ? n : 1, sizeof(*b->slot));
	b->live = xcalloc(n ? n : 1, sizeof(*b->live));
	b->syncfs = s->sync == SPOOL_SYNC_SYNCFS;
	return b;
}

static void batch_free(struct spool_batch *b)
{
	free(b->slot);
	free(b->live);
	free(b);
}

/* The wave's tasks: each item's data file and envelope, then data/ and
 * env/ (with syncfs, the data/ task is the one syncfs). */
static size_t wave_tasks(const struct spool_batch *b)
{
	return b->n_live ? 2 * b->n_live + DIR_MAX : 0;
}

/* Step 1 for every item; returns the number of wave tasks. */
static size_t step_write(struct spool_batch *b)
{
	struct buf enc;
	buf_init(&enc, 0);
	for (size_t i = 0; i < b->n; i++) {
		struct spool_commit *it = &b->items[i];
		it->result = -1;
		it->error = 0;
		it->reason[0] = '\0';
		if (commit_write(b->s, it, &enc) == 0) {
			b->slot[i].stage = STAGE_RENAMED;
			b->live[b->n_live++] = i;
		}
	}
	buf_free(&enc);
	return wave_tasks(b);
}

/* Read back what the writer wrote, 64 KiB at a time. */
#define SPOOL_CHECK_CHUNK (64 * 1024)

int spool_check_data(int fd, uint64_t size, uint32_t want_crc)
{
	uint8_t *p = xmalloc(SPOOL_CHECK_CHUNK);
	uint32_t crc = 0;
	uint64_t off = 0;
	int rc = 0;
	while (off < size) {
		size_t want =
		    size - off < SPOOL_CHECK_CHUNK ? (size_t)(size - off) : SPOOL_CHECK_CHUNK;
		ssize_t r = pread(fd, p, want, (off_t)off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = -1;
			errno = r == 0 ? EBADMSG : errno;
			break;
		}
		crc = crc32c_update(crc, p, (size_t)r);
		off += (uint64_t)r;
	}
	free(p);
	if (rc == 0 && crc != want_crc) {
		errno = EBADMSG;
		rc = -1;
	}
	return rc;
}

/* One directory task: 0 or the errno. */
static int dir_sync(struct spool_batch *b, int which)
{
	struct spool *s = b->s;
	int rc;
	if (which == DIR_DATA)
		rc = b->syncfs ? s->ops.syncfs(s->ops.arg, s->data)
		               : s->ops.fsync(s->ops.arg, s->data);
	else if (b->syncfs)
		return 0; /* the syncfs covered env/ */
	else
		rc = s->ops.fsync(s->ops.arg, s->env);
	return rc == -1 ? (errno ? errno : EIO) : 0;
}

/*
 * The wave, one task: an item's data file (read back and checked against
 * the envelope's checksum, §7, then fdatasync'ed), an item's envelope, or
 * (the last two tasks) the data/ and env/ directories — or, with the
 * syncfs option, the whole file system in the data/ task. Every flush of
 * the batch is in flight at once (the block layer merges the flushes that
 * wait together). Runs on a sync thread: it touches only its own slot's
 * field.
 */
static void sync_task(void *arg, size_t t)
{
	struct spool_batch *b = arg;
	struct spool *s = b->s;
	if (t >= 2 * b->n_live) {
		int which = (int)(t - 2 * b->n_live);
		b->dir_err[which] = dir_sync(b, which);
		return;
	}
	size_t i = b->live[t % b->n_live];
	struct commit_slot *sl = &b->slot[i];
	const struct spool_commit *it = &b->items[i];
	if (t < b->n_live) {
		if (it->env->has_data_crc &&
		    spool_check_data(it->data_fd, it->env->size, it->env->data_crc) == -1) {
			sl->data_err = errno ? errno : EIO;
			sl->data_what = sl->data_err == EBADMSG
			                    ? "data file differs from its checksum"
			                    : "read back data file";
		} else if (!b->syncfs && s->ops.fdatasync(s->ops.arg, it->data_fd) == -1) {
			sl->data_err = errno ? errno : EIO;
			sl->data_what = "fdatasync data file";
		}
		return;
	}
	if (b->syncfs)
		return;
	int fd = openat(s->env, it->env->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		sl->env_err = errno;
		sl->env_what = "open envelope";
		return;
	}
	if (s->ops.fdatasync(s->ops.arg, fd) == -1) {
		sl->env_err = errno ? errno : EIO;
		sl->env_what = "fdatasync envelope";
	}
	close(fd);
}

/*
 * After the wave: the items whose files and directories all synced are
 * committed; the others fail and their envelopes are taken out of env/
 * again. Returns the number of undo tasks (one fsync of env/, so that the
 * undo is durable before the 451), 0 when nothing failed, or -1 when the
 * wave must run again without syncfs (ENOSYS).
 */
static int step_settle(struct spool_batch *b)
{
	struct spool *s = b->s;
	int e = b->dir_err[DIR_DATA];
	if (b->syncfs && e == ENOSYS) {
		log_warn("event=spool-sync error=\"syncfs: %s\" action=\"sync each file\"",
		         strerror(e));
		s->sync = SPOOL_SYNC_FILES;
		b->syncfs = 0;
		b->dir_err[DIR_DATA] = b->dir_err[DIR_ENV] = 0;
		return -1;
	}
	const char *dir_what = b->syncfs ? "syncfs spool" : "fsync data directory";
	if (e == 0 && b->dir_err[DIR_ENV]) {
		e = b->dir_err[DIR_ENV];
		dir_what = "fsync env directory";
	}
	size_t undone = 0;
	for (size_t k = 0; k < b->n_live; k++) {
		size_t i = b->live[k];
		struct commit_slot *sl = &b->slot[i];
		int err = sl->data_err ? sl->data_err : sl->env_err ? sl->env_err : e;
		const char *what = sl->data_err  ? sl->data_what
		                   : sl->env_err ? sl->env_what
		                                 : dir_what;
		if (err == 0) {
			sl->stage = STAGE_DURABLE;
			b->items[i].result = 0;
			b->items[i].error = 0;
			continue;
		}
		/* About to report failure (451): take the envelope back. If the
		 * unlink does not reach the disk, recovery finds the envelope:
		 * with its data whole, the message is delivered (a duplicate of
		 * one the client will send again, never a loss); otherwise it is
		 * set aside, never delivered half. */
		const char *id = b->items[i].env->id;
		if (unlinkat(s->env, id, 0) == -1)
			log_warn("event=spool-commit id=%s error=\"unlink after failed sync: %s\"",
			         id, strerror(errno));
		item_fail(&b->items[i], err, what);
		sl->stage = STAGE_FAILED;
		undone++;
	}
	return undone ? 1 : 0;
}

/* The undo of failed items, on a sync thread: env/ synced once more. */
static void undo_task(void *arg, size_t t)
{
	struct spool_batch *b = arg;
	struct spool *s = b->s;
	(void)t;
	if (s->ops.fsync(s->ops.arg, s->env) == -1)
		log_warn("event=spool-commit error=\"env directory sync after a failed wave: %s\"",
		         strerror(errno));
}

void spool_commit_batch(struct spool *s, struct spool_commit *items, size_t n)
{
	if (n == 0)
		return;
	struct spool_batch *b = batch_new(s, items, n);
	size_t tasks = step_write(b);
	int undo;
	do {
		syncpool_run(s->syncer, tasks, sync_task, b);
		undo = step_settle(b);
		tasks = wave_tasks(b);
	} while (undo == -1);
	if (undo > 0)
		syncpool_run(s->syncer, (size_t)undo, undo_task, b);
	batch_free(b);
}

/* ---- the same in the background: the wave's tasks are submitted, and
 * the rest runs from spool_reap() when they are done ---- */

static void async_done(void *arg)
{
	struct spool_batch *b = arg;
	if (b->synced)
		b->synced(b->arg);
	b->done(b->arg);
	batch_free(b);
}

static void async_waved(void *arg)
{
	struct spool_batch *b = arg;
	int undo = step_settle(b);
	if (undo == -1) {
		syncpool_submit(b->s->syncer, wave_tasks(b), sync_task, async_waved, b);
		return;
	}
	if (undo == 0) {
		async_done(b); /* no extra round through the pool (a wake-up) */
		return;
	}
	syncpool_submit(b->s->syncer, (size_t)undo, undo_task, async_done, b);
}

void spool_commit_start(struct spool *s, struct spool_commit *items, size_t n,
                        void (*synced)(void *arg), void (*done)(void *arg), void *arg)
{
	struct spool_batch *b = batch_new(s, items, n);
	b->synced = synced;
	b->done = done;
	b->arg = arg;
	size_t tasks = step_write(b);
	syncpool_submit(s->syncer, tasks, sync_task, async_waved, b);
}

int spool_event_fd(const struct spool *s)
{
	return syncpool_fd(s->syncer);
}

void spool_reap(struct spool *s)
{
	syncpool_reap(s->syncer);
}
