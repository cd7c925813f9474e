/*
 * spool: the queue role's on-disk store and its commit protocol
 * (docs/SPOOL.md). Only the queue process calls this.
 *
 *   <queue>/data/<id>     message octets (written by smtp through a passed fd)
 *   <queue>/tmp/<id>      envelope being written
 *   <queue>/env/<id>      committed envelope (+ appended STATE records)
 *   <queue>/corrupt/      damaged messages, moved aside, never delivered
 *
 * Commit: the envelope is written to tmp/<id> and renamed into env/<id>,
 * then one flush wave makes the batch durable — an fdatasync of each data
 * file and each envelope and an fsync of data/ and of env/, all in flight
 * together on the spool's sync threads (group commit). The commit point is
 * the end of the wave; recovery sets aside what an unfinished wave left
 * (docs/SPOOL.md §3, §5). spool_commit_start() does it in the background
 * for an event loop.
 */
#ifndef RAVEN_SPOOL_H
#define RAVEN_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

struct spool;

/* Open (creating the directories if needed). NULL with reason in err. */
struct spool *spool_open(const char *queue_dir, char *err, size_t errlen);
/* Waits for syncs in flight; a batch started and not reaped is dropped. */
void spool_close(struct spool *s);

/*
 * How a commit makes a batch durable: each file's own fdatasync (the
 * default: a batch waits only for its own files), or one syncfs(2) of the
 * spool's file system (fewer calls, but it also waits for every other
 * writer's dirty pages there: only for a file system Raven has to itself).
 */
enum spool_sync { SPOOL_SYNC_FILES = 0, SPOOL_SYNC_SYNCFS };
void spool_set_sync(struct spool *s, enum spool_sync mode);

/*
 * Message ids are chosen by the caller; every function that builds a path
 * rejects an id that is not envelope_id_valid() (errno EINVAL, or a no-op
 * for the void ones).
 */

/*
 * Create data/<id> for writing from offset 0; returns an O_RDWR fd or -1
 * (errno kept, e.g. ENOSPC). A recycled file may be longer than what is
 * written (its old octets read as zeros); the commit cuts it at the fd's
 * offset, so write sequentially through this fd (or one sharing its file).
 */
int spool_create_data(struct spool *s, const char *id);
/* Remove an uncommitted message's data file. */
void spool_discard(struct spool *s, const char *id);

struct spool_commit {
	const struct envelope *env; /* env->size: octets written through data_fd from 0 */
	int data_fd;                /* the fd spool_create_data returned */
	int result;                 /* out: 0 committed, -1 failed */
	int error;                  /* out: errno on failure */
	char reason[128];           /* out: on failure */
};
/*
 * Make every item durable, then committed. Items fail individually: a
 * failed item leaves nothing in tmp/ or env/; its data file and data_fd are
 * left alone (never closed here), and the caller decides: spool_discard()
 * it and answer 451/452, or retry. ENOSPC (and any other errno of the
 * failing step) is reported in error, so the smtp side can answer
 * 452 4.3.1. A committed item's data_fd is also still the caller's to close.
 */
void spool_commit_batch(struct spool *s, struct spool_commit *items, size_t n);
/*
 * The same without waiting: the envelopes are written before it returns,
 * the syncs run on the spool's threads, and done(arg) is called from a
 * later spool_reap() once every item has its result. items (and what they
 * point to) must stay untouched until then. synced(arg), if not NULL, is
 * called (also from spool_reap) just before done(arg), when the batch's
 * wave is over: a caller that starts one batch at a time may start the
 * next one then. Batches may overlap.
 */
void spool_commit_start(struct spool *s, struct spool_commit *items, size_t n,
                        void (*synced)(void *arg), void (*done)(void *arg), void *arg);
/* Readable when spool_reap() has something to finish. */
int spool_event_fd(const struct spool *s);
void spool_reap(struct spool *s);

/* Open data/<id> read-only; -1 if missing. */
int spool_open_data(struct spool *s, const char *id);
/*
 * Append a STATE record to env/<id> and fdatasync it. 0 or -1 (errno set;
 * the file is cut back, so the outcome is not saved). idx must be below the
 * envelope's recipient count: the decoder treats a STATE record for a
 * recipient that does not exist as corruption.
 */
/*
 * The same with the recipient's whole delivery state (notified, last
 * attempt); sync 0 skips the fdatasync — for outcomes whose loss in a power
 * cut only repeats an idempotent delivery (docs/SPOOL.md).
 */
int spool_append_rcpt_state(struct spool *s, const char *id, uint32_t idx,
                            const struct envelope_rcpt *r, int sync);
int spool_append_state(struct spool *s, const char *id, uint32_t idx, uint8_t state,
                       uint32_t attempts, int64_t next_try, const char *last_error);
/*
 * Every recipient final: remove env/<id> then data/<id>. Not synced: a
 * crash may bring the envelope back, and recovery then finishes the removal
 * (all recipients final, data missing) instead of quarantining it.
 */
void spool_remove(struct spool *s, const char *id);
/* Move env and data of <id> to corrupt/<id>.env and corrupt/<id>.data
 * (<id>.N.env/.data if taken), logged as event=spool-corrupt with reason. */
void spool_quarantine(struct spool *s, const char *id, const char *reason);

/*
 * Start-up recovery: delete everything in tmp/, delete data files without an envelope
 * (never acknowledged), quarantine undecodable envelopes or ones whose data
 * file is missing or of the wrong size, and call cb for every good one.
 * Returns the number recovered. The envelope passed to cb is freed when cb
 * returns (envelope_copy() it to keep it). Names in env/ and data/ that are
 * not message ids are skipped and logged, never deleted or quarantined; an
 * envelope that cannot be read (I/O error) is skipped for this run. A torn
 * trailing STATE record is cut off the file. Every action is logged.
 */
size_t spool_recover(struct spool *s, void (*cb)(const struct envelope *e, void *arg), void *arg);

/*
 * For tests: the system calls the spool syncs and renames with, so that a
 * test can make any one of them fail (a full disk, a failing device) and
 * check what each item reports and what is left on disk. Called from the
 * caller's thread or from the spool's sync threads, so they must be
 * thread-safe. NULL members keep the real system call.
 */
struct spool_ops {
	int (*fdatasync)(void *arg, int fd);
	int (*fsync)(void *arg, int fd);
	int (*syncfs)(void *arg, int fd);
	int (*renameat2)(void *arg, int olddir, const char *oldname, int newdir,
	                 const char *newname, unsigned flags);
	void *arg;
};
/* spool_open() with those system calls (tests only). */
struct spool *spool_open_ops(const char *queue_dir, const struct spool_ops *ops, char *err,
                             size_t errlen);

/*
 * Room on the spool's file system (shared, perhaps, with the Maildirs).
 * Deliveries of acknowledged mail must win over new mail when it is short:
 * the queue refuses new mail (452 4.3.1) while free space or free inodes
 * are below the thresholds — what is left is the deliveries' reserve —
 * and gives the recycled files' space back whenever anything hits ENOSPC.
 */
struct spool_space {
	uint64_t avail;        /* octets free for an unprivileged writer */
	uint64_t avail_inodes; /* inodes free, or UINT64_MAX if the file system has no limit */
	int short_space;       /* below a threshold */
};
void spool_set_min_free(struct spool *s, uint64_t bytes, uint64_t inodes);
/*
 * Whether the spool is short of room: statvfs(3) at most once a second
 * (force: now). When short, the free-file pool is released first and the
 * figures taken again; files given up while short are deleted, not pooled.
 * 1 short, 0 not, -1 if statvfs failed (then: not short); *out gets the
 * figures when not NULL.
 */
int spool_space_short(struct spool *s, int force, struct spool_space *out);
/* statvfs(3) now, nothing else: 0, or -1 with errno. */
int spool_space_figures(struct spool *s, struct spool_space *out);
/* Give every recycled file in free/ back to the file system (something hit
 * ENOSPC or EDQUOT); returns how many files were released. */
size_t spool_release(struct spool *s);

/* Read and decode env/<id> (which must name <id>). 0 or -1 with reason;
 * on success free e with envelope_free(). */
int spool_load(struct spool *s, const char *id, struct envelope *e, char *err, size_t errlen);

#endif
