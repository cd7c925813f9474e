/*
 * The commit protocol's error paths and its syncs, with the spool's system
 * calls replaced by a table that records every sync and rename and fails
 * the ones a test names (spool_fixture.c). Each failure must fail exactly
 * the messages it affects — nothing half-kept in tmp/ or env/, the error
 * reported per item — and commit the rest of the batch. And a commit syncs
 * only the batch's own files and directories, many at once, never the
 * whole file system.
 */
#include "unit_util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "spool.h"
#include "spool_fixture.h"
#include "xmalloc.h"

#define BATCH 3

struct batch {
	struct envelope e[16];
	struct spool_commit it[16];
	size_t n;
};

/* Messages M0..M<n-1>, written and ready to commit. */
static void batch_make(struct fixture *f, struct batch *b, size_t n)
{
	assert_true(n <= 16);
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		char id[8], body[64];
		snprintf(id, sizeof(id), "M%zu", i);
		snprintf(body, sizeof(body), "Subject: %zu\r\n\r\nbody of message %zu\r\n", i, i);
		fx_env_make(&b->e[i], id, strlen(body), 1);
		b->e[i].data_crc = crc32c_update(0, body, strlen(body));
		b->e[i].has_data_crc = 1;
		b->it[i].env = &b->e[i];
		b->it[i].data_fd = fx_data_make(f, id, body);
	}
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		close(b->it[i].data_fd);
		envelope_free(&b->e[i]);
	}
}

/* Item i committed: its envelope in env/, nothing in tmp/, loadable. */
static void assert_committed(struct fixture *f, struct batch *b, size_t i)
{
	const char *id = b->e[i].id;
	if (b->it[i].result != 0)
		fail_msg("%s not committed: %s", id, b->it[i].reason);
	assert_int_equal(b->it[i].error, 0);
	assert_true(fx_exists(f, "env", id));
	assert_false(fx_exists(f, "tmp", id));
	struct envelope d;
	char err[128];
	assert_int_equal(spool_load(f->s, id, &d, err, sizeof(err)), 0);
	envelope_free(&d);
}

/* Item i failed with err, saying what: nothing of it in tmp/ or env/, its
 * data file left to the caller. */
static void assert_failed(struct fixture *f, struct batch *b, size_t i, int err, const char *what)
{
	const char *id = b->e[i].id;
	assert_int_equal(b->it[i].result, -1);
	assert_int_equal(b->it[i].error, err);
	if (strstr(b->it[i].reason, what) == NULL)
		fail_msg("%s: reason \"%s\" does not name \"%s\"", id, b->it[i].reason, what);
	assert_false(fx_exists(f, "env", id));
	assert_false(fx_exists(f, "tmp", id));
	assert_true(fx_exists(f, "data", id));
}

static void test_data_fdatasync_fails(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_FDATASYNC, "data/M1", EIO);
	spool_commit_batch(f->s, b.it, b.n);
	assert_committed(f, &b, 0);
	assert_failed(f, &b, 1, EIO, "fdatasync data file");
	assert_committed(f, &b, 2);
	/* the wave's env/ sync, then the undo's: the failed item's envelope,
	 * renamed before the wave, is out of env/ for good before the 451 */
	assert_int_equal(fx_calls(f, OP_FSYNC, "env"), 2);
	batch_free(&b);
}

static void test_envelope_fdatasync_fails(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_FDATASYNC, "env/M2", ENOSPC);
	spool_commit_batch(f->s, b.it, b.n);
	assert_committed(f, &b, 0);
	assert_committed(f, &b, 1);
	assert_failed(f, &b, 2, ENOSPC, "fdatasync envelope");
	batch_free(&b);
}

static void test_rename_fails(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_RENAME, "tmp/M0", EIO);
	spool_commit_batch(f->s, b.it, b.n);
	assert_failed(f, &b, 0, EIO, "rename envelope");
	assert_committed(f, &b, 1);
	assert_committed(f, &b, 2);
	batch_free(&b);
}

/* The commit point itself fails: every renamed envelope is taken back (and
 * that undone state synced again), every item fails. */
static void test_env_dir_fsync_fails(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_FSYNC, "env", EIO);
	spool_commit_batch(f->s, b.it, b.n);
	for (size_t i = 0; i < b.n; i++)
		assert_failed(f, &b, i, EIO, "fsync env directory");
	assert_true(fx_calls(f, OP_FSYNC, "env") >= 2);
	/* the spool goes on: the next batch commits once the disk is back */
	f->faults->n_f = 0;
	fx_commit_msg(f, "After", "x", 1);
	batch_free(&b);
}

/* The data files' directory entries could not be made durable: no item
 * may become a message whose data file can vanish. */
static void test_data_dir_fsync_fails(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_FSYNC, "data", EIO);
	spool_commit_batch(f->s, b.it, b.n);
	for (size_t i = 0; i < b.n; i++)
		assert_failed(f, &b, i, EIO, "fsync data directory");
	batch_free(&b);
}

/* Two failures in one batch, of different kinds, with good items around
 * them: each reports its own error. */
static void test_failures_stay_apart(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, 6);
	fx_fail(f, OP_FDATASYNC, "data/M1", EIO);
	fx_fail(f, OP_FDATASYNC, "env/M3", ENOSPC);
	fx_fail(f, OP_RENAME, "tmp/M4", EXDEV);
	spool_commit_batch(f->s, b.it, b.n);
	assert_committed(f, &b, 0);
	assert_failed(f, &b, 1, EIO, "fdatasync data file");
	assert_committed(f, &b, 2);
	assert_failed(f, &b, 3, ENOSPC, "fdatasync envelope");
	assert_failed(f, &b, 4, EXDEV, "rename envelope");
	assert_committed(f, &b, 5);
	batch_free(&b);
}

/* A commit waits only for its own files: one fdatasync of each data file
 * and each envelope, fsyncs of the spool's own directories, no syncfs. */
static void test_syncs_only_own_files(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, 5);
	fx_calls_reset(f);
	spool_commit_batch(f->s, b.it, b.n);
	for (size_t i = 0; i < b.n; i++) {
		char p[32];
		assert_committed(f, &b, i);
		snprintf(p, sizeof(p), "data/%s", b.e[i].id);
		assert_int_equal(fx_calls(f, OP_FDATASYNC, p), 1);
		snprintf(p, sizeof(p), "env/%s", b.e[i].id);
		assert_int_equal(fx_calls(f, OP_FDATASYNC, p), 1);
	}
	assert_int_equal(fx_calls(f, OP_FDATASYNC, "*"), 2 * b.n);
	assert_int_equal(fx_calls(f, OP_SYNCFS, "*"), 0);
	assert_int_equal(fx_calls(f, OP_FSYNC, "data"), 1);
	assert_int_equal(fx_calls(f, OP_FSYNC, "env"), 1);
	assert_int_equal(fx_calls(f, OP_FSYNC, "*"), fx_calls(f, OP_FSYNC, "data") +
	                                                 fx_calls(f, OP_FSYNC, "env") +
	                                                 fx_calls(f, OP_FSYNC, "tmp"));
	batch_free(&b);
}

static void set_flag(void *arg);
static void release_and_reap(struct fixture *f, const int *done);

/* One flush wave: every rename into env/ comes before the first sync, and
 * each file and directory is synced once — no second wave after the
 * renames. */
static void test_one_wave(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, 4);
	fx_calls_reset(f);
	spool_commit_batch(f->s, b.it, b.n);
	size_t last_rename = 0, first_sync = SIZE_MAX, renames = 0;
	for (size_t k = 0; k < f->faults->n_calls; k++) {
		if (f->faults->calls[k].op == OP_RENAME) {
			last_rename = k;
			renames++;
		} else if (first_sync == SIZE_MAX) {
			first_sync = k;
		}
	}
	assert_int_equal(renames, b.n);
	assert_true(last_rename < first_sync);
	assert_int_equal(fx_calls(f, OP_FDATASYNC, "*"), 2 * b.n);
	assert_int_equal(fx_calls(f, OP_FSYNC, "data"), 1);
	assert_int_equal(fx_calls(f, OP_FSYNC, "env"), 1);
	for (size_t i = 0; i < b.n; i++)
		assert_committed(f, &b, i);
	batch_free(&b);
}

/* The directories are synced in the same wave as the files: the env/ sync
 * is in flight while every fdatasync is held. */
static void test_dirs_in_the_wave(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, 2);
	f->faults->hold = 1; /* fdatasyncs wait until released */
	f->faults->hold_until = 0;
	int done = 0;
	spool_commit_start(f->s, b.it, b.n, NULL, set_flag, &done);
	for (int i = 0; i < 500 && fx_calls(f, OP_FSYNC, "env") == 0; i++)
		usleep(10000);
	assert_int_equal(fx_calls(f, OP_FSYNC, "env"), 1);
	assert_int_equal(fx_calls(f, OP_FSYNC, "data"), 1);
	release_and_reap(f, &done);
	for (size_t i = 0; i < b.n; i++)
		assert_committed(f, &b, i);
	batch_free(&b);
}

/* The fdatasyncs of a batch are issued at once: each waits until eight are
 * in flight together (or two seconds pass), so a protocol that syncs one
 * file at a time is seen. */
static void test_syncs_concurrently(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, 8);
	f->faults->hold = 1;
	f->faults->hold_until = 8;
	spool_commit_batch(f->s, b.it, b.n);
	f->faults->hold = 0;
	for (size_t i = 0; i < b.n; i++)
		assert_committed(f, &b, i);
	assert_true(f->faults->max_in_fdatasync >= 8);
	batch_free(&b);
}

/* The data file is read back beside the syncs: one that does not match
 * the checksum its envelope carries is never acknowledged (it would be set
 * aside at delivery). With the syncfs option too. */
static void data_checksum_case(struct fixture *f, int syncfs)
{
	if (syncfs)
		spool_set_sync(f->s, SPOOL_SYNC_SYNCFS);
	struct batch b;
	batch_make(f, &b, BATCH);
	b.e[1].data_crc ^= 0x8000; /* what the writer summed is not what is there */
	spool_commit_batch(f->s, b.it, b.n);
	assert_committed(f, &b, 0);
	assert_failed(f, &b, 1, EBADMSG, "checksum");
	assert_committed(f, &b, 2);
	batch_free(&b);
}

static void test_data_checksum_checked(void **state)
{
	data_checksum_case(*state, 0);
}

static void test_data_checksum_checked_syncfs(void **state)
{
	data_checksum_case(*state, 1);
}

/* The option: one syncfs(2) instead of the per-file syncs. */
static void test_syncfs_option(void **state)
{
	struct fixture *f = *state;
	spool_set_sync(f->s, SPOOL_SYNC_SYNCFS);
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_calls_reset(f);
	spool_commit_batch(f->s, b.it, b.n);
	for (size_t i = 0; i < b.n; i++)
		assert_committed(f, &b, i);
	assert_int_equal(fx_calls(f, OP_SYNCFS, "*"), 1);
	assert_int_equal(fx_calls(f, OP_FDATASYNC, "*"), 0);
	/* the one wave: the renames were made before it, so the syncfs covers
	 * env/ as well */
	assert_int_equal(fx_calls(f, OP_FSYNC, "*"), 0);
	batch_free(&b);
}

static void test_syncfs_fails(void **state)
{
	struct fixture *f = *state;
	spool_set_sync(f->s, SPOOL_SYNC_SYNCFS);
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_SYNCFS, "*", EIO);
	spool_commit_batch(f->s, b.it, b.n);
	for (size_t i = 0; i < b.n; i++)
		assert_failed(f, &b, i, EIO, "syncfs spool");
	batch_free(&b);
}

/* Without syncfs (ENOSYS) the batch falls back to per-file syncs — where a
 * failure again fails only its own item — and later batches do not ask. */
static void test_syncfs_missing_falls_back(void **state)
{
	struct fixture *f = *state;
	spool_set_sync(f->s, SPOOL_SYNC_SYNCFS);
	struct batch b;
	batch_make(f, &b, BATCH);
	fx_fail(f, OP_SYNCFS, "*", ENOSYS);
	fx_fail(f, OP_FDATASYNC, "data/M1", EIO);
	spool_commit_batch(f->s, b.it, b.n);
	assert_committed(f, &b, 0);
	assert_failed(f, &b, 1, EIO, "fdatasync data file");
	assert_committed(f, &b, 2);
	assert_int_equal(fx_calls(f, OP_FDATASYNC, "env/M0"), 1);
	assert_int_equal(fx_calls(f, OP_FDATASYNC, "env/M2"), 1);
	assert_int_equal(fx_calls(f, OP_FSYNC, "data"), 1);
	fx_calls_reset(f);
	fx_commit_msg(f, "Next", "x", 1);
	assert_int_equal(fx_calls(f, OP_SYNCFS, "*"), 0);
	assert_int_equal(fx_calls(f, OP_FDATASYNC, "*"), 2);
	batch_free(&b);
}

static void set_flag(void *arg)
{
	(*(int *)arg)++;
}

/* Reap until *flag is set (at most five seconds). */
static void reap_until(struct fixture *f, const int *flag)
{
	for (int i = 0; i < 500 && !*flag; i++) {
		struct pollfd pfd = {.fd = spool_event_fd(f->s), .events = POLLIN};
		poll(&pfd, 1, 10);
		spool_reap(f->s);
	}
}

/* Let the held fdatasyncs go, and reap until the batch reported. */
static void release_and_reap(struct fixture *f, const int *done)
{
	pthread_mutex_lock(&f->faults->mu);
	f->faults->hold = 0;
	pthread_cond_broadcast(&f->faults->cv);
	pthread_mutex_unlock(&f->faults->mu);
	reap_until(f, done);
	assert_int_equal(*done, 1);
}

/* spool_commit_start returns while the syncs are still running — the
 * caller's loop may serve others meanwhile — and reports through
 * spool_reap once every item has its result. */
static void test_commit_in_background(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	batch_make(f, &b, 4);
	fx_fail(f, OP_FDATASYNC, "env/M3", EIO);
	f->faults->hold = 1; /* every fdatasync waits until released */
	f->faults->hold_until = 0;
	int done = 0;
	spool_commit_start(f->s, b.it, b.n, NULL, set_flag, &done);
	/* written and renamed into env/ before the wave, not yet committed
	 * (no result), and the spool still serves */
	for (size_t i = 0; i < b.n; i++) {
		assert_false(fx_exists(f, "tmp", b.e[i].id));
		assert_true(fx_exists(f, "env", b.e[i].id));
		assert_int_equal(b.it[i].result, -1);
	}
	int fd = spool_create_data(f->s, "Meanwhile");
	assert_true(fd >= 0);
	close(fd);
	spool_discard(f->s, "Meanwhile");
	spool_reap(f->s);
	assert_int_equal(done, 0);
	release_and_reap(f, &done);
	for (size_t i = 0; i < 3; i++)
		assert_committed(f, &b, i);
	assert_failed(f, &b, 3, EIO, "fdatasync envelope");
	batch_free(&b);

	/* an empty batch reports too, from a reap, never from inside start */
	done = 0;
	spool_commit_start(f->s, NULL, 0, NULL, set_flag, &done);
	assert_int_equal(done, 0);
	reap_until(f, &done);
	assert_int_equal(done, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_data_fdatasync_fails, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_envelope_fdatasync_fails, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rename_fails, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_env_dir_fsync_fails, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_data_dir_fsync_fails, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_failures_stay_apart, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_syncs_only_own_files, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_syncs_concurrently, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_one_wave, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_dirs_in_the_wave, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_data_checksum_checked, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_data_checksum_checked_syncfs, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_syncfs_option, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_syncfs_fails, fx_setup_faults, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_syncfs_missing_falls_back, fx_setup_faults,
	                                    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_commit_in_background, fx_setup_faults,
	                                    fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
