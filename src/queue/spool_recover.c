/*
 * spool_recover: start-up recovery (docs/SPOOL.md §5). Runs once before
 * anything else touches the spool: whatever a crash left between the
 * commit protocol's steps is finished, deleted or set aside, and every
 * committed message is handed to the caller.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool_int.h"
#include "xmalloc.h"

/* ---- start-up recovery ---- */

static DIR *dir_iter(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	DIR *d = fdopendir(fd);
	if (d == NULL)
		spool_close_quiet(fd);
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

/*
 * The inodes of every name in env/ and data/. On a file system without a
 * journal a rename is not atomic on disk: after a crash a renamed file's
 * old name in tmp/ or free/ can come back beside its new one, and fsck
 * (or nothing) counts the links. Deleting or recycling that old name would
 * free or overwrite a committed message, so recovery leaves any name whose
 * inode is a message's alone.
 */
struct ino_set {
	ino_t *v;
	size_t n, cap;
};

static int ino_cmp(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;
	return x < y ? -1 : x > y;
}

static void ino_collect(struct ino_set *set, int dirfd)
{
	DIR *d = dir_iter(dirfd);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 256;
			set->v = xreallocarray(set->v, set->cap, sizeof(*set->v));
		}
		set->v[set->n++] = de->d_ino;
	}
	closedir(d);
}

static int ino_member(const struct ino_set *set, ino_t ino)
{
	return set->n > 0 && bsearch(&ino, set->v, set->n, sizeof(*set->v), ino_cmp) != NULL;
}

/* A tmp/ or free/ name that is also a message's: logged, left alone. */
static int second_name(const struct ino_set *set, const char *dir, const struct dirent *de)
{
	if (!ino_member(set, de->d_ino))
		return 0;
	char name[128];
	log_warn("event=spool-recover action=keep dir=%s name=\"%s\" reason=\"another name of a "
	         "message's file (a rename torn by a crash)\"",
	         dir, esc_name(name, sizeof(name), de->d_name));
	return 1;
}

static void recover_tmp(struct spool *s, const struct ino_set *msgs)
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
		if (is_dot(de->d_name) || second_name(msgs, "tmp", de))
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
	if (removed && s->ops.fsync(s->ops.arg, s->tmp) == -1)
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
	if (ftruncate(fd, (off_t)used) == -1 || s->ops.fdatasync(s->ops.arg, fd) == -1) {
		spool_close_quiet(fd);
		return -1;
	}
	return spool_close_checked(fd);
}

/*
 * Whether the message has a delivery history: a STATE record is appended
 * only to a committed message (after its wave, after the 250), so such a
 * message was certainly acknowledged. One without may be the remains of a
 * commit a crash interrupted (docs/SPOOL.md §4).
 */
static int has_history(const struct envelope *e)
{
	for (size_t i = 0; i < e->n_rcpts; i++)
		if (e->rcpts[i].state != RCPT_PENDING || e->rcpts[i].attempts > 0)
			return 1;
	return 0;
}

/*
 * A message recovery cannot deliver whole is set aside in corrupt/, never
 * deleted: the spool cannot tell a commit interrupted by a crash (never
 * acknowledged) from an acknowledged message damaged on disk afterwards,
 * and deleting would lose the second kind's remains. Logged with which of
 * the two it may be.
 */
static void set_aside(struct spool *s, const char *id, const char *why, int committed)
{
	char reason[256];
	snprintf(reason, sizeof(reason), "%s (%s)", why,
	         committed ? "damaged on disk after its commit"
	                   : "an unfinished commit, never acknowledged, if a crash interrupted it; "
	                     "else damaged on disk");
	log_warn("event=spool-recover action=set-aside id=%s committed=%s reason=\"%s\"", id,
	         committed ? "yes" : "unknown", why);
	spool_quarantine(s, id, reason);
}

/* The data file matches its checksum: 0, -1 if not (or unreadable:
 * *io set, the message is skipped for this run). */
static int data_whole(struct spool *s, const char *id, const struct envelope *e, int *io)
{
	*io = 0;
	int fd = openat(s->data, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		*io = 1;
		return -1;
	}
	int rc = spool_check_data(fd, e->size, e->data_crc);
	int saved = errno;
	if (rc == -1 && saved != EBADMSG)
		*io = 1;
	spool_close_quiet(fd);
	errno = saved;
	return rc;
}

/* One env/ entry: 1 if handed to cb, 0 otherwise. */
static int recover_one(struct spool *s, const char *id,
                       void (*cb)(const struct envelope *e, void *arg), void *arg)
{
	struct envelope e;
	size_t used, filelen;
	char err[160];
	int rc = spool_load_env(s, id, &e, &used, &filelen, err, sizeof(err));
	if (rc == -2) {
		log_warn("event=spool-recover id=%s action=skip error=\"%s\"", id, err);
		return 0;
	}
	if (rc == -1) {
		/* A torn envelope: its committed part is written once, so it
		 * was never whole on disk, or was damaged there. */
		set_aside(s, id, err, 0);
		return 0;
	}
	int committed = has_history(&e);
	struct stat st;
	if (fstatat(s->data, id, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT && all_final(&e)) {
			/* spool_remove() was interrupted between its two unlinks
			 * (or their order did not reach the disk): finish it. */
			spool_remove(s, id);
			log_info("event=spool-recover action=finish-remove id=%s", id);
		} else if (errno == ENOENT) {
			set_aside(s, id, "data file missing", committed);
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
		set_aside(s, id, why, committed);
		envelope_free(&e);
		return 0;
	}
	/* Not yet tried, so perhaps from the wave a crash interrupted: its
	 * data is read and checked now, so that such a message is set aside
	 * here rather than at its first delivery. (A message with a history
	 * is checked as it is delivered, §7: recovery does not read the whole
	 * queue.) */
	int io = 0;
	if (!committed && e.has_data_crc && data_whole(s, id, &e, &io) == -1) {
		if (io)
			log_warn("event=spool-recover id=%s action=skip error=\"read data: %s\"",
			         id, strerror(errno));
		else
			set_aside(s, id, "data file fails its checksum", 0);
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
		if (spool_exists_at(s->env, de->d_name))
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
	if (removed && s->ops.fsync(s->ops.arg, s->data) == -1)
		log_warn("event=spool-recover dir=data error=\"sync: %s\"", strerror(errno));
}

/* free/ holds only retired files: take them back into the pool. */
static void recover_free(struct spool *s, const struct ino_set *msgs)
{
	DIR *d = dir_iter(s->free);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name) || second_name(msgs, "free", de))
			continue;
		unsigned long long seq;
		char tail;
		struct stat st;
		if (s->n_pool < SPOOL_POOL_MAX && strlen(de->d_name) == 17 &&
		    sscanf(de->d_name, "f%16llx%c", &seq, &tail) == 1 &&
		    fstatat(s->free, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			spool_pool_push(s, de->d_name,
			                spool_pool_blocks_kept(s, s->free, de->d_name, &st));
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
	struct ino_set msgs = {0};
	ino_collect(&msgs, s->env);
	ino_collect(&msgs, s->data);
	if (msgs.n > 0)
		qsort(msgs.v, msgs.n, sizeof(*msgs.v), ino_cmp);
	recover_free(s, &msgs);
	recover_tmp(s, &msgs);
	free(msgs.v);
	size_t n = recover_env(s, cb, arg);
	recover_data(s);
	log_info("event=spool-recover action=done recovered=%zu", n);
	return n;
}
