/*
 * spool_commit: the commit protocol (docs/SPOOL.md §3, §6) — the steps
 * between "smtp wrote the data file" and "the 250 may be sent". Every
 * syscall result is checked: a failed fsync is a failed commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "spool_int.h"
#include "util.h"
#include "xmalloc.h"

/* Envelopes written before their syncs, at most: bounds open descriptors. */
#define SPOOL_SYNC_CHUNK 128

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
	if (s->ops.fdatasync(s->ops.arg, it->data_fd) == -1)
		what = "fdatasync data file";
	else if (s->ops.fdatasync(s->ops.arg, tmp_fd) == -1)
		what = "fdatasync envelope";
	int saved = errno;
	if (spool_close_checked(tmp_fd) == -1 && what == NULL) {
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
		if (spool_close_checked(slot[i].tmp_fd) == -1) {
			unlinkat(s->tmp, items[i].env->id, 0);
			item_fail(&items[i], errno, "close envelope");
			slot[i].stage = STAGE_FAILED;
		}
		slot[i].tmp_fd = -1;
	}
	if (s->ops.syncfs(s->ops.arg, s->data) == 0)
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
		if (live > 0 && s->ops.fsync(s->ops.arg, s->data) == -1) {
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
		if (spool_rename_noreplace(s, s->tmp, id, s->env, id) == -1) {
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
	if (renamed > 0 && s->ops.fsync(s->ops.arg, s->env) == -1) {
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
		if (s->ops.fsync(s->ops.arg, s->env) == -1)
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
