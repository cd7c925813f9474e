/*
 * version: what this build is and what it was built with, for ravend -V,
 * ravenctl -V and ravenctl status. The version is the project's (meson.build)
 * with, in a git checkout, the commit it was built from; the libraries are
 * the versions the build found (pkg-config), plus the running version where
 * the library can tell (libevent, OpenSSL), since a shared library may be
 * upgraded under a binary.
 */
#ifndef RAVEN_VERSION_H
#define RAVEN_VERSION_H

#include <stdio.h>

/* "0.1.0", or "0.1.0 (git 6bf69f4)" when built from a git checkout. */
const char *version_string(void);

/* "PROG VERSION" and one line per library, to f. */
void version_print(FILE *f, const char *prog);

#endif
