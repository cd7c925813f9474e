/*
 * spool_fixture: what the spool's unit tests share — a spool in a fresh
 * temporary directory, envelopes and data files to commit, checks of what
 * is on disk, and a system-call table (struct spool_ops) that records
 * every sync and rename the spool makes and fails the ones a test names.
 */
#ifndef RAVEN_SPOOL_FIXTURE_H
#define RAVEN_SPOOL_FIXTURE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "spool.h"

enum fault_op { OP_FDATASYNC, OP_FSYNC, OP_SYNCFS, OP_RENAME, OP_COUNT };

#define FAULTS_MAX   16
#define FAULTS_CALLS 4096

/* One injected failure: calls of op on the spool path `path` ("data/A",
 * "tmp/A", "env", or "*" for any) fail with err. A rename matches on its
 * source. */
struct fault {
	enum fault_op op;
	char path[64];
	int err;
};

/* One recorded call: the operation and the spool-relative path. */
struct fault_call {
	enum fault_op op;
	char path[64];
};

struct faults {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char queue[4096]; /* absolute path of the spool, to make paths relative */
	struct fault f[FAULTS_MAX];
	size_t n_f;
	struct fault_call calls[FAULTS_CALLS];
	size_t n_calls;
	int in_fdatasync, max_in_fdatasync; /* concurrency seen */
	int hold;                           /* fdatasync waits while set ... */
	int hold_until;                     /* ... or until this many are inside */
};

struct fixture {
	char *dir;
	char *queue;
	struct spool *s;
	struct faults *faults; /* NULL: real system calls */
};

/* A spool at <tmp>/var/queue with real system calls (fx_setup) or with
 * the recording, failing table (fx_setup_faults). */
int fx_setup(void **state);
int fx_setup_faults(void **state);
int fx_teardown(void **state);
/* Reopen the spool (same table), as after a restart. */
void fx_reopen(struct fixture *f);

char *fx_path(const struct fixture *f, const char *sub, const char *name);
int fx_exists(const struct fixture *f, const char *sub, const char *name);
void fx_put_file(const struct fixture *f, const char *sub, const char *name, const void *data,
                 size_t n);
/* An envelope for a message of `size` octets with n recipients. */
void fx_env_make(struct envelope *e, const char *id, uint64_t size, size_t n);
/* data/<id> with body written, left open for the commit. */
int fx_data_make(struct fixture *f, const char *id, const char *body);
/* Create, write and commit one message with n recipients (must succeed). */
void fx_commit_msg(struct fixture *f, const char *id, const char *body, size_t n);

/* Make calls of op on path fail with err from now on. */
void fx_fail(struct fixture *f, enum fault_op op, const char *path, int err);
/* Calls of op on path recorded so far (path "*": all of op). */
size_t fx_calls(struct fixture *f, enum fault_op op, const char *path);
/* Forget the recorded calls. */
void fx_calls_reset(struct fixture *f);

#endif
