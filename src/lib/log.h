/*
 * log: one line per event, "key=value" pairs, to stderr (and so to whatever
 * the parent's stderr is), a file or syslog (the "log" statement). Untrusted
 * text must go through log_escape() before it reaches a log line: a client
 * controls what it sends, it must not control our logs.
 *
 * The only process-wide state is the role name, verbosity and target, set
 * once at start-up (log_init, log_set_target) before any event is logged.
 */
#ifndef RAVEN_LOG_H
#define RAVEN_LOG_H

#include <stddef.h>

void log_init(const char *role, int verbose);
/*
 * Send lines to fd instead of stderr, as syslog datagrams ("<PRI>... raven/
 * ROLE[PID]: level: text", facility mail) when syslog is set. Called once
 * by the parent before the roles start; they inherit it. A line that
 * cannot be written there goes to stderr.
 */
void log_set_target(int fd, int syslog);
/* The fd set by log_set_target (a role keeps it open), or -1 for stderr. */
int log_target_fd(void);
/* 1 if that fd is a syslog socket (handed to a role with the fd). */
int log_target_is_syslog(void);
/* 1 when -v was given: lets callers skip building debug-only text. */
int log_verbose_enabled(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* As fatal, exiting with status (sysexits(3): a role that cannot start
 * says EX_CONFIG, one that should be tried again EX_TEMPFAIL). */
void fatal_status(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* As fatal, with ": strerror(errno)" appended. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Escape untrusted bytes into dst (always NUL-terminated, truncated with
 * "..." if too long): printable ASCII stays, '"', '\\' and everything else
 * become \" \\ \xHH. Returns dst. The result is safe inside a quoted value.
 */
char *log_escape(char *dst, size_t dstlen, const void *src, size_t srclen);

#endif
