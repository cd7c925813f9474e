/*
 * xmalloc: allocation that never returns NULL. Out of memory is fatal:
 * a mail server that continues with a half-built structure is worse than
 * one that restarts. Every size computation goes through the overflow-checked
 * helpers here.
 */
#ifndef RAVEN_XMALLOC_H
#define RAVEN_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
