/* Shared helpers for the cmocka unit tests. */
#ifndef RAVEN_UNIT_UTIL_H
#define RAVEN_UNIT_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* A fresh empty directory under $TMPDIR (or /tmp); caller frees the string. */
char *unit_tmpdir(void);
/* rm -rf without a shell. */
void unit_rmtree(const char *path);
/* The third-party test vectors: $RAVEN_TESTDATA, else the copy of
 * ../shared/testdata kept in tests/vectors. */
const char *unit_testdata(void);
/* Read a whole file; NULL if missing. *len gets the size. Caller frees. */
char *unit_read_file(const char *path, size_t *len);

#endif
