/* version: this build's version and libraries (see version.h). */
#include "version.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <string.h>

#include "version_git.h"  /* RAVEN_GIT: `git describe`, or the project version */
#include "version_info.h" /* RAVEN_VERSION and the RAVEN_LIB_* versions */

const char *version_string(void)
{
	/* Outside a checkout vcs_tag falls back to the bare project version. */
	if (strcmp(RAVEN_GIT, RAVEN_VERSION) == 0 || RAVEN_GIT[0] == '\0')
		return RAVEN_VERSION;
	return RAVEN_VERSION " (git " RAVEN_GIT ")";
}

static void lib_line(FILE *f, const char *name, const char *built, const char *running)
{
	if (built[0] == '\0') {
		fprintf(f, "  %-11s not used by this build\n", name);
		return;
	}
	if (running != NULL && strcmp(running, built) != 0)
		fprintf(f, "  %-11s %s (running %s)\n", name, built, running);
	else
		fprintf(f, "  %-11s %s\n", name, built);
}

void version_print(FILE *f, const char *prog)
{
	fprintf(f, "%s %s\n", prog, version_string());
	fprintf(f, "built with:\n");
	lib_line(f, "libevent", RAVEN_LIB_LIBEVENT, event_get_version());
	lib_line(f, "OpenSSL", RAVEN_LIB_OPENSSL, OpenSSL_version(OPENSSL_VERSION_STRING));
	lib_line(f, "libunbound", RAVEN_LIB_LIBUNBOUND, NULL);
	lib_line(f, "libpsl", RAVEN_LIB_LIBPSL, NULL);
	lib_line(f, "libcrypt", RAVEN_LIB_LIBCRYPT, NULL);
	lib_line(f, "libseccomp", RAVEN_LIB_LIBSECCOMP, NULL);
	lib_line(f, "libcap", RAVEN_LIB_LIBCAP, NULL);
	lib_line(f, "libsystemd", RAVEN_LIB_LIBSYSTEMD, NULL);
}
