/*
 * syncpool: a few threads that run blocking calls — fdatasync(2), fsync(2)
 * — for a process built around one event loop, many at once.
 *
 * Why: making a batch of files durable one fdatasync at a time costs one
 * device round trip per file, and syncfs(2) makes every writer of the file
 * system wait for every other one. Issued concurrently, the file system and
 * the block layer merge the flushes of a batch's fdatasyncs, so the batch
 * costs about one round trip and waits only for its own files. Threads
 * rather than io_uring: they work wherever the process may create threads
 * (io_uring is often disabled in containers), and a task may do a little
 * work of its own around the call (reading a file back to check it).
 *
 * A group is n tasks fn(arg, 0..n-1). syncpool_run() runs one and waits for
 * it; syncpool_submit() returns at once, and the group's done(arg) is
 * called later by syncpool_reap() on the owner's thread, which calls it
 * when syncpool_fd() becomes readable (an event on the loop). Tasks run on
 * the pool's threads with every signal blocked; they must not touch what
 * the owner's thread changes until the group is done (the pool's lock
 * orders a task's writes before done() and before syncpool_run returns).
 */
#ifndef RAVEN_SYNCPOOL_H
#define RAVEN_SYNCPOOL_H

#include <stddef.h>

struct syncpool;

typedef void (*syncpool_fn)(void *arg, size_t i);

/* threads: tasks run at once (at least 1). NULL with a reason in err. */
struct syncpool *syncpool_new(unsigned threads, char *err, size_t errlen);
/* Waits for the tasks running now; groups not started are dropped. */
void syncpool_free(struct syncpool *p);

/* Readable when a submitted group is done: then call syncpool_reap(). */
int syncpool_fd(const struct syncpool *p);
/* Queue n tasks (n may be 0); done(arg) is called by a later syncpool_reap(). */
void syncpool_submit(struct syncpool *p, size_t n, syncpool_fn fn, void (*done)(void *arg),
                     void *arg);
/* Call done() of every submitted group that has finished, in the order
 * they finished; returns how many. Never blocks. */
size_t syncpool_reap(struct syncpool *p);
/* Run n tasks — the calling thread takes part — and return when all have
 * returned. Independent of submitted groups (their done() is not called). */
void syncpool_run(struct syncpool *p, size_t n, syncpool_fn fn, void *arg);

#endif
