/*
 * ravenctl: the administrator's view of the queue (docs/ravenctl.8.md). It
 * finds the control socket under the configured data directory, sends one
 * request line, and prints the answer's body. Exit status: 0 ok, 1 the
 * request failed (reason on stderr), 2 usage error.
 *
 * The request is checked with the server's own parser before it is sent, so
 * a typo is a usage error here rather than a round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "control_req.h"
#include "ctl_client.h"
#include "ctl_keygen.h"
#include "version.h"
#include "xmalloc.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f, "usage: ravenctl [-c FILE] [--json] COMMAND [ID]\n"
	           "       ravenctl [-c FILE] stats --prometheus\n"
	           "       ravenctl -h | -V\n"
	           "commands: status | queue | show ID | flush [ID] | remove ID | hold ID |\n"
	           "          release ID | stats | reload |\n"
	           "          dkim-keygen DOMAIN SELECTOR [rsa|ed25519]\n");
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "ravenctl: %s\n", msg);
	usage(stderr);
	return EXIT_USAGE;
}

/* The socket path from the configuration, or NULL after a message. */
static char *socket_path(const char *file)
{
	char err[512];
	struct config *c = file ? conf_load(file, err, sizeof(err)) : conf_default();
	if (c == NULL) {
		fprintf(stderr, "ravenctl: %s\n", err);
		return NULL;
	}
	if (conf_finish(c, err, sizeof(err)) == -1) {
		fprintf(stderr, "ravenctl: %s\n", err);
		conf_free(c);
		return NULL;
	}
	char *path = ctl_socket_path(c);
	conf_free(c);
	return path;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *words[4] = {NULL, NULL, NULL, NULL};
	size_t nwords = 0;
	int json = 0, prometheus = 0, opts = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && strcmp(a, "--json") == 0) {
			json = 1;
		} else if (opts && strcmp(a, "--prometheus") == 0) {
			prometheus = 1;
		} else if (opts && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			usage(stdout);
			return 0;
		} else if (opts && (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)) {
			version_print(stdout, "ravenctl");
			return 0;
		} else if (opts && strcmp(a, "-c") == 0) {
			if (i + 1 >= argc)
				return usage_error("-c needs a file");
			file = argv[++i];
		} else if (opts && strncmp(a, "-c", 2) == 0) {
			file = a + 2;
		} else if (opts && a[0] == '-' && a[1] != '\0') {
			return usage_error("unknown option");
		} else if (nwords < 4) {
			words[nwords++] = a;
		} else {
			return usage_error("too many arguments");
		}
	}
	if (nwords == 0)
		return usage_error("missing command");
	if (strcmp(words[0], "dkim-keygen") == 0) /* local: no daemon asked */
		return ctl_dkim_keygen(file, words + 1, (int)nwords - 1);
	if (nwords > 2)
		return usage_error("too many arguments");
	/* Refuse what the request line cannot carry before joining the words. */
	for (size_t i = 0; i < nwords; i++)
		if (words[i][0] == '\0' || strlen(words[i]) > 64 || strpbrk(words[i], " \r\n"))
			return usage_error(i == 0 ? "unknown command" : "invalid queue id");
	char line[CONTROL_REQ_MAX], err[256];
	snprintf(line, sizeof(line), "%s%s%s%s%s", words[0], nwords > 1 ? " " : "",
	         nwords > 1 ? words[1] : "", json ? " --json" : "",
	         prometheus ? " --prometheus" : "");
	struct control_req req;
	if (control_req_parse(line, strlen(line), &req, err, sizeof(err)) == -1)
		return usage_error(err);
	char *path = socket_path(file);
	if (path == NULL)
		return 1;
	int rc = ctl_client_request("ravenctl", path, line);
	free(path);
	return rc == CTL_OK ? 0 : 1;
}
