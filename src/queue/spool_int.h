/*
 * spool_int: what the spool's files share — the struct behind the opaque
 * struct spool, the free-file pool, and small helpers. spool.c opens the
 * spool and handles committed messages, spool_commit.c is the commit
 * protocol, spool_recover.c start-up recovery. Nothing outside src/queue/
 * includes this.
 */
#ifndef RAVEN_SPOOL_INT_H
#define RAVEN_SPOOL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "envelope.h"
#include "spool.h"

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
	struct spool_ops ops; /* every member set: the real calls or a test's */
	enum spool_sync sync;
	struct syncpool *syncer; /* threads for the commit's syncs */
	/* Room kept free on the spool's file system (spool_space.c). */
	uint64_t min_free, min_free_inodes;
	int64_t space_checked_ms; /* monotonic; 0: never */
	struct spool_space space; /* the last figures */
};

/* fdatasyncs of one batch in flight at once, at most. The device and the
 * file system merge concurrent flushes; more threads than this buy little
 * and cost a stack each. */
#define SPOOL_SYNC_THREADS 16

/* "what: strerror(e)" into err. */
void spool_set_err(char *err, size_t errlen, const char *what, int e);
/* close() that reports failure, keeping errno from close itself. */
int spool_close_checked(int fd);
/* close() that keeps errno (and ignores -1). */
void spool_close_quiet(int fd);
/* 1 if dirfd/name exists (or cannot be checked), 0 if it does not. */
int spool_exists_at(int dirfd, const char *name);
/* rename(2) that never replaces: EEXIST if the target exists. */
int spool_rename_noreplace(struct spool *s, int fromdir, const char *from, int todir,
                           const char *to);

/* A file dir/name to write from offset 0, from the pool when it has one
 * (erase: its old octets read as zeros). -1 with errno. */
int spool_new_file(struct spool *s, int dir, const char *name, int flags, int erase);
/* The pool (spool.c): push a file already in free/, with the blocks it keeps. */
void spool_pool_push(struct spool *s, const char *name, int64_t bytes);
int64_t spool_pool_blocks_kept(struct spool *s, int dir, const char *name, const struct stat *st);

/*
 * Read env/<id>; *filelen gets its size, *used how much of it decoded.
 * -1 means the file is bad, -2 that it could not be read (which says
 * nothing about the message, so recovery must not quarantine it).
 */
/* Whether fd's first size octets have the CRC-32C want_crc (read with
 * pread, 64 KiB at a time): 0, or -1 with errno (EBADMSG: they do not, or
 * the file is shorter). */
int spool_check_data(int fd, uint64_t size, uint32_t want_crc);
int spool_load_env(struct spool *s, const char *id, struct envelope *e, size_t *used,
                   size_t *filelen, char *err, size_t errlen);

#endif
