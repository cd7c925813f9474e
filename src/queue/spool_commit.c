/*
 * spool_commit: the commit protocol (docs/SPOOL.md §3, §6) — the steps
 * between "smtp wrote the data file" and "the 250 may be sent" — for a
 * whole batch of messages at once (group commit).
 *
 * A batch waits only for its own files. Step 1 writes every envelope to
 * tmp/ on the caller's thread; step 2 makes every data file and envelope
 * durable with one fdatasync each plus one fsync of data/, all issued at
 * once on the spool's sync threads, so that the file system and the
 * device merge their flushes; step 3 renames the envelopes into env/ (on
 * the caller's thread, quick); step 4, the commit point, fsyncs env/.
 * syncfs(2) instead of the per-file syncs of step 2 is an option
 * (SPOOL_SYNC_SYNCFS): one call, but it also waits for every other
 * writer's dirty pages on the file system.
 *
 * spool_commit_batch() runs the steps and returns; spool_commit_start()
 * runs the syncs in the background and reports through spool_reap(), so
 * that the caller's event loop keeps serving while a batch syncs. Both use
 * the same step functions below. Every result is checked: a failed fsync
 * is a failed commit, of exactly the items it concerns.
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
	STAGE_WRITTEN, /* tmp/<id> written and closed, nothing synced yet */
	STAGE_SYNCED,  /* data file and tmp/<id> durable */
	STAGE_RENAMED, /* env/<id> exists, not yet durable */
};

struct commit_slot {
	uint8_t stage;
	int data_err;          /* from the sync tasks: errno of the data file's, */
	int env_err;           /* and of the envelope's, 0 if none, */
	const char *data_what; /* and what failed */
	const char *env_what;
};

/* The directory syncs: data/ in step 2, env/ in step 4. */
enum { DIR_DATA = 0, DIR_ENV = 1, DIR_MAX = 2 };

struct spool_batch {
	struct spool *s;
	struct spool_commit *items;
	size_t n;
	struct commit_slot *slot;
	size_t *live; /* the items this step's tasks sync */
	size_t n_live;
	int syncfs; /* step 2 is one syncfs(2) (the option, until ENOSYS) */
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

/* An item that failed after its envelope was written: take it back. */
static void slot_fail(struct spool_batch *b, size_t i, int e, const char *what)
{
	unlinkat(b->s->tmp, b->items[i].env->id, 0);
	item_fail(&b->items[i], e, what);
	b->slot[i].stage = STAGE_FAILED;
}

/*
 * Step 1 for one item: the data file is data/<id> and has the envelope's
 * size; the envelope is written to tmp/<id> and closed (a sync task opens
 * it again: at most one descriptor per sync thread, however large the
 * batch). 0, or -1 with nothing of this item left in tmp/.
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

/* Step 1 for every item; returns the number of step-2 tasks. */
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
			b->slot[i].stage = STAGE_WRITTEN;
			b->live[b->n_live++] = i;
		}
	}
	buf_free(&enc);
	return b->n_live ? 2 * b->n_live + 1 : 0;
}

/* Read back what the writer wrote, 64 KiB at a time. */
#define SPOOL_CHECK_CHUNK (64 * 1024)

/*
 * The data file holds what the envelope says: env->size octets whose
 * CRC-32C is env->data_crc (the smtp role summed them as it wrote them).
 * Read back from the page cache on a sync thread, beside the syncs: cheap,
 * and a message whose checksum would fail at delivery is never
 * acknowledged. 0, or -1 with errno (EBADMSG: it does not match).
 */
static int check_data(const struct spool_commit *it)
{
	uint8_t *p = xmalloc(SPOOL_CHECK_CHUNK);
	uint32_t crc = 0;
	uint64_t off = 0, size = it->env->size;
	int rc = 0;
	while (off < size) {
		size_t want =
		    size - off < SPOOL_CHECK_CHUNK ? (size_t)(size - off) : SPOOL_CHECK_CHUNK;
		ssize_t r = pread(it->data_fd, p, want, (off_t)off);
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
	if (rc == 0 && crc != it->env->data_crc) {
		errno = EBADMSG;
		rc = -1;
	}
	return rc;
}

/*
 * Step 2, one task: an item's data file, an item's envelope, or (the last
 * task) the data/ directory — or, with the syncfs option, the whole file
 * system in that one task. The data file and the envelope are separate
 * tasks so that every flush of the batch can be in flight at once (the
 * block layer merges the flushes that wait together). Runs on a sync
 * thread: it touches only its own slot's field.
 */
static void sync_task(void *arg, size_t t)
{
	struct spool_batch *b = arg;
	struct spool *s = b->s;
	if (t == 2 * b->n_live) {
		int rc = b->syncfs ? s->ops.syncfs(s->ops.arg, s->data)
		                   : s->ops.fsync(s->ops.arg, s->data);
		b->dir_err[DIR_DATA] = rc == -1 ? (errno ? errno : EIO) : 0;
		return;
	}
	size_t i = b->live[t % b->n_live];
	struct commit_slot *sl = &b->slot[i];
	const struct spool_commit *it = &b->items[i];
	if (t < b->n_live) {
		if (it->env->has_data_crc && check_data(it) == -1) {
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
	int fd = openat(s->tmp, it->env->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
 * After step 2: the items whose files are durable — and whose data/ entry
 * is, with the directory — are renamed into env/ (step 3). Returns the
 * number of step-4 tasks, 0 when nothing was renamed, or -1 when step 2
 * must run again without syncfs (ENOSYS).
 */
static int step_rename(struct spool_batch *b)
{
	struct spool *s = b->s;
	int e = b->dir_err[DIR_DATA];
	if (b->syncfs && e == ENOSYS) {
		log_warn("event=spool-sync error=\"syncfs: %s\" action=\"sync each file\"",
		         strerror(e));
		s->sync = SPOOL_SYNC_FILES;
		b->syncfs = 0;
		return -1;
	}
	size_t renamed = 0;
	for (size_t k = 0; k < b->n_live; k++) {
		size_t i = b->live[k];
		struct commit_slot *sl = &b->slot[i];
		if (sl->data_err) {
			slot_fail(b, i, sl->data_err, sl->data_what);
			continue;
		}
		if (sl->env_err) {
			slot_fail(b, i, sl->env_err, sl->env_what);
			continue;
		}
		if (e) {
			slot_fail(b, i, e, b->syncfs ? "syncfs spool" : "fsync data directory");
			continue;
		}
		sl->stage = STAGE_SYNCED;
		const char *id = b->items[i].env->id;
		if (spool_rename_noreplace(s, s->tmp, id, s->env, id) == -1) {
			slot_fail(b, i, errno, "rename envelope into env/");
			continue;
		}
		sl->stage = STAGE_RENAMED;
		b->live[renamed++] = i;
	}
	b->n_live = renamed;
	return renamed ? 1 : 0;
}

/*
 * Step 4: fsync(env/), the commit point. tmp/ is not synced: on a
 * journalled file system the renames reach the disk whole; without a
 * journal a renamed envelope's tmp/ name may come back after a crash, and
 * recovery leaves such a second name of a committed envelope alone
 * (spool_recover.c).
 */
static void dir_task(void *arg, size_t t)
{
	struct spool_batch *b = arg;
	struct spool *s = b->s;
	(void)t;
	int rc = s->ops.fsync(s->ops.arg, s->env);
	b->dir_err[DIR_ENV] = rc == -1 ? (errno ? errno : EIO) : 0;
}

/* After step 4: report. */
static void step_finish(struct spool_batch *b)
{
	struct spool *s = b->s;
	int e = b->dir_err[DIR_ENV];
	if (b->n_live > 0 && e) {
		/* We are about to report failure (451), so take the envelopes back:
		 * if the unlinks do not reach the disk either, recovery finds an
		 * envelope whose data file the caller discarded and quarantines it,
		 * rather than delivering a message the client was told failed. */
		for (size_t k = 0; k < b->n_live; k++) {
			size_t i = b->live[k];
			if (unlinkat(s->env, b->items[i].env->id, 0) == -1)
				log_warn("event=spool-commit id=%s error=\"unlink after failed "
				         "sync: %s\"",
				         b->items[i].env->id, strerror(errno));
			item_fail(&b->items[i], e, "fsync env directory");
			b->slot[i].stage = STAGE_FAILED;
		}
		if (s->ops.fsync(s->ops.arg, s->env) == -1)
			log_warn("event=spool-commit error=\"env directory sync failed twice: %s\"",
			         strerror(errno));
	}
	for (size_t i = 0; i < b->n; i++) {
		if (b->slot[i].stage == STAGE_RENAMED) {
			b->items[i].result = 0;
			b->items[i].error = 0;
		}
	}
}

void spool_commit_batch(struct spool *s, struct spool_commit *items, size_t n)
{
	if (n == 0)
		return;
	struct spool_batch *b = batch_new(s, items, n);
	size_t tasks = step_write(b);
	int dirs;
	do {
		syncpool_run(s->syncer, tasks, sync_task, b);
		dirs = step_rename(b);
		tasks = 2 * b->n_live + 1;
	} while (dirs == -1);
	if (dirs > 0)
		syncpool_run(s->syncer, (size_t)dirs, dir_task, b);
	step_finish(b);
	batch_free(b);
}

/* ---- the same in the background: each step's tasks are submitted, and
 * the next step runs from spool_reap() when they are done ---- */

static void async_synced(void *arg);

static void async_done(void *arg)
{
	struct spool_batch *b = arg;
	step_finish(b);
	b->done(b->arg);
	batch_free(b);
}

static void async_synced(void *arg)
{
	struct spool_batch *b = arg;
	int dirs = step_rename(b);
	if (dirs == -1) {
		syncpool_submit(b->s->syncer, 2 * b->n_live + 1, sync_task, async_synced, b);
		return;
	}
	syncpool_submit(b->s->syncer, (size_t)dirs, dir_task, async_done, b);
	if (b->synced)
		b->synced(b->arg);
}

void spool_commit_start(struct spool *s, struct spool_commit *items, size_t n,
                        void (*synced)(void *arg), void (*done)(void *arg), void *arg)
{
	struct spool_batch *b = batch_new(s, items, n);
	b->synced = synced;
	b->done = done;
	b->arg = arg;
	size_t tasks = step_write(b);
	syncpool_submit(s->syncer, tasks, sync_task, async_synced, b);
}

int spool_event_fd(const struct spool *s)
{
	return syncpool_fd(s->syncer);
}

void spool_reap(struct spool *s)
{
	syncpool_reap(s->syncer);
}
