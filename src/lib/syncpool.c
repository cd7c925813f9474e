/*
 * syncpool: threads for blocking syncs (see syncpool.h). One lock guards
 * the queue of groups with tasks left to start and the list of finished
 * groups waiting for syncpool_reap(); an eventfd tells the owner's loop
 * that the list is not empty.
 */
#include "syncpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xmalloc.h"

/* Tasks only make system calls; a small stack is plenty. */
#define SYNCPOOL_STACK (256 * 1024)

struct group {
	syncpool_fn fn;
	void *arg;
	void (*done)(void *arg);
	size_t n;
	size_t next; /* next task to start */
	size_t left; /* tasks not finished */
	int waited;  /* syncpool_run's: signalled, not listed for reaping */
	struct group *link;
};

struct syncpool {
	pthread_mutex_t mu;
	pthread_cond_t work;     /* a group was queued, or stop */
	pthread_cond_t finished; /* a waited-for group is done */
	struct group *head, *tail;
	struct group *done_head, *done_tail;
	pthread_t *threads;
	unsigned n_threads;
	int stop;
	int efd;
};

/* Take g off the queue of groups with tasks to start (lock held). */
static void unqueue(struct syncpool *p, struct group *g)
{
	struct group *prev = NULL;
	for (struct group *q = p->head; q; prev = q, q = q->link) {
		if (q != g)
			continue;
		if (prev)
			prev->link = g->link;
		else
			p->head = g->link;
		if (p->tail == g)
			p->tail = prev;
		return;
	}
}

/* Take the next task of g (lock held); 1 if there was one. A group whose
 * last task is taken leaves the queue at once, so the queue never holds
 * one with nothing to start. */
static int take(struct syncpool *p, struct group *g, size_t *i)
{
	if (g->next == g->n)
		return 0;
	*i = g->next++;
	if (g->next == g->n)
		unqueue(p, g);
	return 1;
}

/* A task of g returned (with the lock held). */
static void task_done(struct syncpool *p, struct group *g)
{
	if (--g->left > 0)
		return;
	if (g->waited) {
		pthread_cond_broadcast(&p->finished);
		return;
	}
	g->link = NULL;
	if (p->done_tail)
		p->done_tail->link = g;
	else
		p->done_head = g;
	p->done_tail = g;
	uint64_t one = 1;
	/* Cannot fail short of a counter overflow: the owner reads it back. */
	(void)!write(p->efd, &one, sizeof(one));
}

static void *worker(void *arg)
{
	struct syncpool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->head == NULL)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		struct group *g = p->head;
		size_t i = 0;
		take(p, g, &i); /* the queue holds only groups with a task left */
		pthread_mutex_unlock(&p->mu);
		g->fn(g->arg, i);
		pthread_mutex_lock(&p->mu);
		task_done(p, g);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct syncpool *syncpool_new(unsigned threads, char *err, size_t errlen)
{
	struct syncpool *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->finished, NULL);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		syncpool_free(p);
		return NULL;
	}
	if (threads == 0)
		threads = 1;
	p->threads = xcalloc(threads, sizeof(*p->threads));
	/* The threads never take a signal: the loop's handlers stay on the
	 * owner's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SYNCPOOL_STACK);
	int rc = 0;
	for (unsigned i = 0; i < threads && rc == 0; i++) {
		rc = pthread_create(&p->threads[i], &attr, worker, p);
		if (rc == 0)
			p->n_threads++;
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start sync threads: %s", strerror(rc));
		syncpool_free(p);
		return NULL;
	}
	return p;
}

void syncpool_free(struct syncpool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (struct group *g = p->head, *next; g; g = next) {
		next = g->link;
		if (!g->waited)
			free(g);
	}
	for (struct group *g = p->done_head, *next; g; g = next) {
		next = g->link;
		free(g);
	}
	if (p->efd != -1)
		close(p->efd);
	free(p->threads);
	pthread_cond_destroy(&p->finished);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int syncpool_fd(const struct syncpool *p)
{
	return p->efd;
}

/* Queue g (with the lock held), waking as many threads as it has tasks:
 * a broadcast for a group of two would wake every idle thread for nothing. */
static void enqueue(struct syncpool *p, struct group *g)
{
	g->link = NULL;
	if (p->tail)
		p->tail->link = g;
	else
		p->head = g;
	p->tail = g;
	if (g->n >= p->n_threads) {
		pthread_cond_broadcast(&p->work);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		pthread_cond_signal(&p->work);
}

void syncpool_submit(struct syncpool *p, size_t n, syncpool_fn fn, void (*done)(void *arg),
                     void *arg)
{
	struct group *g = xcalloc(1, sizeof(*g));
	g->fn = fn;
	g->arg = arg;
	g->done = done;
	g->n = n;
	g->left = n + 1; /* held until queued, so n == 0 finishes below */
	pthread_mutex_lock(&p->mu);
	if (n > 0)
		enqueue(p, g);
	task_done(p, g);
	pthread_mutex_unlock(&p->mu);
}

size_t syncpool_reap(struct syncpool *p)
{
	uint64_t count;
	(void)!read(p->efd, &count, sizeof(count)); /* EAGAIN: nothing new */
	pthread_mutex_lock(&p->mu);
	struct group *g = p->done_head;
	p->done_head = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	size_t n = 0;
	while (g) {
		struct group *next = g->link;
		g->done(g->arg);
		free(g);
		g = next;
		n++;
	}
	return n;
}

void syncpool_run(struct syncpool *p, size_t n, syncpool_fn fn, void *arg)
{
	if (n == 0)
		return;
	struct group g = {.fn = fn, .arg = arg, .n = n, .left = n, .waited = 1};
	pthread_mutex_lock(&p->mu);
	enqueue(p, &g);
	size_t i;
	while (take(p, &g, &i)) {
		pthread_mutex_unlock(&p->mu);
		fn(arg, i);
		pthread_mutex_lock(&p->mu);
		task_done(p, &g);
	}
	while (g.left > 0)
		pthread_cond_wait(&p->finished, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
