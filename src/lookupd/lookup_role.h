/*
 * lookup_role: the raven-lookup process, which alone reaches the databases
 * of SQL tables and holds their connection strings. It takes LOOKUP_REQ
 * from the queue (questions the smtp role asked), runs them on a small pool
 * of worker threads (the database calls block; the event loop never does)
 * and sends each answer back as LOOKUP_RES. It runs only when the
 * configuration has SQL tables.
 */
#ifndef RAVEN_LOOKUP_ROLE_H
#define RAVEN_LOOKUP_ROLE_H

struct config;
struct event_base;

/* Worker threads, each with its own connection to every table's database. */
#define LOOKUP_WORKERS 4

void lookup_role_main(const struct config *conf, struct event_base *base, int queue_sock)
    __attribute__((noreturn));

#endif
