/* spool_fixture: shared helpers of the spool's unit tests (see spool_fixture.h). */
#include "unit_util.h"

#include "spool_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "xmalloc.h"

/* The spool-relative path of fd ("data/A", "env"), or "?" . */
static void rel_of_fd(const struct faults *F, int fd, char *out, size_t len)
{
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(out, len, "?");
		return;
	}
	target[n] = '\0';
	size_t q = strlen(F->queue);
	if (strncmp(target, F->queue, q) == 0 && target[q] == '/')
		snprintf(out, len, "%s", target + q + 1);
	else
		snprintf(out, len, "%s", target);
}

/* Record the call and return the errno to fail it with, or 0 (lock held). */
static int note(struct faults *F, enum fault_op op, const char *rel)
{
	if (F->n_calls < FAULTS_CALLS) {
		F->calls[F->n_calls].op = op;
		snprintf(F->calls[F->n_calls].path, sizeof(F->calls[0].path), "%s", rel);
		F->n_calls++;
	}
	for (size_t i = 0; i < F->n_f; i++)
		if (F->f[i].op == op && (!strcmp(F->f[i].path, "*") || !strcmp(F->f[i].path, rel)))
			return F->f[i].err;
	return 0;
}

static int op_fdatasync(void *arg, int fd)
{
	struct faults *F = arg;
	char rel[64];
	rel_of_fd(F, fd, rel, sizeof(rel));
	pthread_mutex_lock(&F->mu);
	int err = note(F, OP_FDATASYNC, rel);
	if (++F->in_fdatasync > F->max_in_fdatasync)
		F->max_in_fdatasync = F->in_fdatasync;
	pthread_cond_broadcast(&F->cv);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5; /* a test that forgets to let go fails, never hangs */
	while (F->hold && (F->hold_until == 0 || F->in_fdatasync < F->hold_until) &&
	       pthread_cond_timedwait(&F->cv, &F->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&F->mu);
	int rc = 0;
	if (err) {
		rc = -1;
	} else if (fdatasync(fd) == -1) {
		rc = -1;
		err = errno;
	}
	pthread_mutex_lock(&F->mu);
	F->in_fdatasync--;
	pthread_mutex_unlock(&F->mu);
	errno = err;
	return rc;
}

static int op_simple(struct faults *F, enum fault_op op, int fd, int (*real)(int))
{
	char rel[64];
	rel_of_fd(F, fd, rel, sizeof(rel));
	pthread_mutex_lock(&F->mu);
	int err = note(F, op, rel);
	pthread_mutex_unlock(&F->mu);
	if (err) {
		errno = err;
		return -1;
	}
	return real(fd);
}

static int op_fsync(void *arg, int fd)
{
	return op_simple(arg, OP_FSYNC, fd, fsync);
}

static int op_syncfs(void *arg, int fd)
{
	return op_simple(arg, OP_SYNCFS, fd, syncfs);
}

static int op_renameat2(void *arg, int olddir, const char *oldname, int newdir, const char *newname,
                        unsigned flags)
{
	struct faults *F = arg;
	char dir[64], rel[160];
	rel_of_fd(F, olddir, dir, sizeof(dir));
	snprintf(rel, sizeof(rel), "%s/%s", dir, oldname);
	pthread_mutex_lock(&F->mu);
	int err = note(F, OP_RENAME, rel);
	pthread_mutex_unlock(&F->mu);
	if (err) {
		errno = err;
		return -1;
	}
	return renameat2(olddir, oldname, newdir, newname, flags);
}

static void open_spool(struct fixture *f)
{
	char err[128] = "";
	if (f->faults) {
		struct spool_ops ops = {op_fdatasync, op_fsync, op_syncfs, op_renameat2, f->faults};
		f->s = spool_open_ops(f->queue, &ops, err, sizeof(err));
		if (f->s && realpath(f->queue, f->faults->queue) == NULL)
			fail_msg("realpath %s", f->queue);
	} else {
		f->s = spool_open(f->queue, err, sizeof(err));
	}
	if (f->s == NULL)
		fail_msg("spool_open: %s", err);
}

static int setup(void **state, int faults)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->dir = unit_tmpdir();
	/* a nested path: spool_open creates the missing parents */
	f->queue = xasprintf("%s/var/queue", f->dir);
	if (faults) {
		f->faults = xcalloc(1, sizeof(*f->faults));
		pthread_mutex_init(&f->faults->mu, NULL);
		pthread_cond_init(&f->faults->cv, NULL);
	}
	open_spool(f);
	*state = f;
	return 0;
}

int fx_setup(void **state)
{
	return setup(state, 0);
}

int fx_setup_faults(void **state)
{
	return setup(state, 1);
}

int fx_teardown(void **state)
{
	struct fixture *f = *state;
	spool_close(f->s);
	unit_rmtree(f->dir);
	if (f->faults) {
		pthread_cond_destroy(&f->faults->cv);
		pthread_mutex_destroy(&f->faults->mu);
		free(f->faults);
	}
	free(f->queue);
	free(f->dir);
	free(f);
	return 0;
}

void fx_reopen(struct fixture *f)
{
	spool_close(f->s);
	open_spool(f);
}

char *fx_path(const struct fixture *f, const char *sub, const char *name)
{
	return xasprintf("%s/%s/%s", f->queue, sub, name);
}

int fx_exists(const struct fixture *f, const char *sub, const char *name)
{
	char *p = fx_path(f, sub, name);
	struct stat st;
	int rc = lstat(p, &st) == 0;
	free(p);
	return rc;
}

void fx_put_file(const struct fixture *f, const char *sub, const char *name, const void *data,
                 size_t n)
{
	char *p = fx_path(f, sub, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	free(p);
}

void fx_env_make(struct envelope *e, const char *id, uint64_t size, size_t n)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->arrival = 1700000000;
	e->size = size;
	e->sender = xstrdup("sender@example.org");
	e->helo = xstrdup("client.example.org");
	e->client = xstrdup("192.0.2.7");
	e->n_rcpts = n;
	e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	for (size_t i = 0; i < n; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "rcpt%zu@example.org", i);
		e->rcpts[i].addr = xstrdup(addr);
		e->rcpts[i].action = xstrdup("mailbox");
		e->rcpts[i].user = xstrdup("rcpt");
	}
}

int fx_data_make(struct fixture *f, const char *id, const char *body)
{
	int fd = spool_create_data(f->s, id);
	assert_true(fd >= 0);
	size_t n = strlen(body);
	assert_int_equal(write(fd, body, n), (ssize_t)n);
	return fd;
}

void fx_commit_msg(struct fixture *f, const char *id, const char *body, size_t n)
{
	struct envelope e;
	fx_env_make(&e, id, strlen(body), n);
	e.data_crc = crc32c_update(0, body, strlen(body));
	e.has_data_crc = 1;
	struct spool_commit it = {.env = &e, .data_fd = fx_data_make(f, id, body)};
	spool_commit_batch(f->s, &it, 1);
	if (it.result != 0)
		fail_msg("commit %s: %s", id, it.reason);
	close(it.data_fd);
	envelope_free(&e);
}

void fx_fail(struct fixture *f, enum fault_op op, const char *path, int err)
{
	struct faults *F = f->faults;
	assert_non_null(F);
	pthread_mutex_lock(&F->mu);
	assert_true(F->n_f < FAULTS_MAX);
	F->f[F->n_f].op = op;
	snprintf(F->f[F->n_f].path, sizeof(F->f[0].path), "%s", path);
	F->f[F->n_f].err = err;
	F->n_f++;
	pthread_mutex_unlock(&F->mu);
}

size_t fx_calls(struct fixture *f, enum fault_op op, const char *path)
{
	struct faults *F = f->faults;
	size_t n = 0;
	pthread_mutex_lock(&F->mu);
	for (size_t i = 0; i < F->n_calls; i++)
		if (F->calls[i].op == op && (!strcmp(path, "*") || !strcmp(F->calls[i].path, path)))
			n++;
	pthread_mutex_unlock(&F->mu);
	return n;
}

void fx_calls_reset(struct fixture *f)
{
	pthread_mutex_lock(&f->faults->mu);
	f->faults->n_calls = 0;
	f->faults->max_in_fdatasync = 0;
	pthread_mutex_unlock(&f->faults->mu);
}
