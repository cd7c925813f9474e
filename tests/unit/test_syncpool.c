/*
 * Unit tests for src/lib/syncpool.c: every task runs exactly once, tasks of
 * a group really run at the same time (a barrier that only opens when
 * several are inside), a submitted group's done() comes from reap once all
 * its tasks returned and the fd says so, and waited-for and submitted
 * groups do not get in each other's way.
 */
#include "unit_util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "syncpool.h"
#include "xmalloc.h"

struct counts {
	atomic_int ran[512];
	atomic_int total;
};

static void count_task(void *arg, size_t i)
{
	struct counts *c = arg;
	atomic_fetch_add(&c->ran[i], 1);
	atomic_fetch_add(&c->total, 1);
}

static void test_run_every_task_once(void **state)
{
	(void)state;
	char err[128];
	struct syncpool *p = syncpool_new(4, err, sizeof(err));
	assert_non_null(p);
	struct counts *c = xcalloc(1, sizeof(*c));
	syncpool_run(p, 500, count_task, c);
	assert_int_equal(atomic_load(&c->total), 500);
	for (size_t i = 0; i < 500; i++)
		assert_int_equal(atomic_load(&c->ran[i]), 1);
	syncpool_run(p, 0, count_task, c); /* nothing to do */
	assert_int_equal(atomic_load(&c->total), 500);
	free(c);
	syncpool_free(p);
}

/* A barrier that opens when `want` tasks are inside at once, or gives up
 * after two seconds (then `opened` stays 0). */
struct barrier {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inside, want, opened;
};

static void barrier_task(void *arg, size_t i)
{
	struct barrier *b = arg;
	(void)i;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&b->mu);
	if (++b->inside >= b->want) {
		b->opened = 1;
		pthread_cond_broadcast(&b->cv);
	}
	while (!b->opened && pthread_cond_timedwait(&b->cv, &b->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&b->mu);
}

static void test_tasks_run_concurrently(void **state)
{
	(void)state;
	char err[128];
	struct syncpool *p = syncpool_new(8, err, sizeof(err));
	assert_non_null(p);
	/* eight threads and the caller: nine may be inside at once */
	struct barrier b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 9, 0};
	syncpool_run(p, 9, barrier_task, &b);
	assert_int_equal(b.opened, 1);
	syncpool_free(p);
}

struct done_rec {
	struct counts *c;
	int done_calls;
	int total_at_done;
};

/* A submitted group's tasks and done() share one argument. */
static void rec_task(void *arg, size_t i)
{
	struct done_rec *d = arg;
	count_task(d->c, i);
}

static void done_cb(void *arg)
{
	struct done_rec *d = arg;
	d->done_calls++;
	d->total_at_done = atomic_load(&d->c->total);
}

static int wait_readable(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, ms);
}

static void test_submit_and_reap(void **state)
{
	(void)state;
	char err[128];
	struct syncpool *p = syncpool_new(3, err, sizeof(err));
	assert_non_null(p);
	struct counts *c = xcalloc(1, sizeof(*c));
	struct done_rec d = {c, 0, 0};
	syncpool_submit(p, 200, rec_task, done_cb, &d);
	size_t reaped = 0;
	for (int tries = 0; tries < 200 && reaped == 0; tries++) {
		assert_true(wait_readable(syncpool_fd(p), 100) >= 0);
		reaped = syncpool_reap(p);
	}
	assert_int_equal(reaped, 1);
	assert_int_equal(d.done_calls, 1);
	/* done() came after every task had returned */
	assert_int_equal(d.total_at_done, 200);
	/* nothing more to reap, and the fd is quiet again */
	assert_int_equal(syncpool_reap(p), 0);
	assert_int_equal(wait_readable(syncpool_fd(p), 0), 0);

	/* an empty group is done at the next reap, not inside submit */
	struct done_rec e = {c, 0, 0};
	syncpool_submit(p, 0, rec_task, done_cb, &e);
	assert_int_equal(e.done_calls, 0);
	assert_int_equal(wait_readable(syncpool_fd(p), 1000), 1);
	assert_int_equal(syncpool_reap(p), 1);
	assert_int_equal(e.done_calls, 1);
	free(c);
	syncpool_free(p);
}

/* A waited-for group behind submitted ones, and submitted groups left
 * unreaped at free time. */
static void test_mixed_groups(void **state)
{
	(void)state;
	char err[128];
	struct syncpool *p = syncpool_new(2, err, sizeof(err));
	assert_non_null(p);
	struct counts *a = xcalloc(1, sizeof(*a)), *b = xcalloc(1, sizeof(*b));
	struct done_rec da = {a, 0, 0};
	for (int k = 0; k < 5; k++)
		syncpool_submit(p, 100, rec_task, done_cb, &da);
	syncpool_run(p, 300, count_task, b);
	assert_int_equal(atomic_load(&b->total), 300);
	size_t reaped = 0;
	for (int tries = 0; tries < 100 && reaped < 5; tries++) {
		wait_readable(syncpool_fd(p), 100);
		reaped += syncpool_reap(p);
	}
	assert_int_equal(reaped, 5);
	assert_int_equal(da.done_calls, 5);
	assert_int_equal(atomic_load(&a->total), 500);
	/* freed with work queued: what runs finishes, the rest is dropped */
	syncpool_submit(p, 100, rec_task, done_cb, &da);
	syncpool_free(p);
	assert_int_equal(da.done_calls, 5);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_every_task_once),
	    cmocka_unit_test(test_tasks_run_concurrently),
	    cmocka_unit_test(test_submit_and_reap),
	    cmocka_unit_test(test_mixed_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
