/*
 * ravenctl: the administrator's view of the queue (docs/ravenctl.8.md). It
 * finds the control socket under the configured data directory, sends one
 * request line, and prints the answer's body. Exit status: 0 ok, 1 the
 * request failed (reason on stderr), 2 usage error.
 *
 * The request is checked with the server's own parser before it is sent, so
 * a typo is a usage error here rather than a round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "control_req.h"
#include "ctl_keygen.h"
#include "version.h"
#include "xmalloc.h"

#define EXIT_USAGE     2
#define STATUS_MAX     4096 /* octets of the status line */
#define ANSWER_TIMEOUT 60   /* seconds without a byte from the server */

static void usage(FILE *f)
{
	fprintf(f, "usage: ravenctl [-c FILE] [--json] COMMAND [ID]\n"
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
	char *path = xasprintf("%s/run/ravenctl.sock", c->data_dir);
	conf_free(c);
	return path;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ravenctl: %s: path too long for a unix socket\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		fprintf(stderr, "ravenctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			fprintf(stderr, "ravenctl: %s: permission denied\n", path);
		else
			fprintf(stderr, "ravenctl: cannot connect to %s: %s (is ravend running?)\n",
			        path, strerror(e));
		close(fd);
		return -1;
	}
	struct timeval tv = {ANSWER_TIMEOUT, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read the status line, then copy the body to stdout if it says ok. */
static int exchange(int fd, const char *line)
{
	if (send_all(fd, line, strlen(line)) == -1) {
		fprintf(stderr, "ravenctl: sending the request: %s\n", strerror(errno));
		return 1;
	}
	char chunk[65536], status[STATUS_MAX];
	size_t slen = 0;
	int have_status = 0, ok = 0;
	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, "ravenctl: reading the answer: %s\n",
			        errno == EAGAIN ? "timeout" : strerror(errno));
			return 1;
		}
		if (n == 0)
			break;
		size_t off = 0;
		while (!have_status && off < (size_t)n) {
			char ch = chunk[off++];
			if (ch == '\n') {
				have_status = 1;
				status[slen] = '\0';
				ok = strcmp(status, "ok") == 0;
			} else if (slen + 1 < sizeof(status)) {
				status[slen++] = ch;
			} else {
				fprintf(stderr, "ravenctl: malformed answer from the server\n");
				return 1;
			}
		}
		if (have_status && !ok)
			break; /* an error has no body worth reading */
		if (ok && off < (size_t)n &&
		    fwrite(chunk + off, 1, (size_t)n - off, stdout) != (size_t)n - off) {
			fprintf(stderr, "ravenctl: writing the answer: %s\n", strerror(errno));
			return 1;
		}
	}
	if (!have_status) {
		fprintf(stderr, "ravenctl: the server closed the connection without an answer\n");
		return 1;
	}
	if (!ok) {
		const char *reason = strncmp(status, "error: ", 7) == 0 ? status + 7 : status;
		struct buf b;
		buf_init(&b, 0);
		control_text(&b, reason, strlen(reason), 0);
		buf_append_byte(&b, 0);
		fprintf(stderr, "ravenctl: %s\n", (const char *)b.data);
		buf_free(&b);
		return 1;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "ravenctl: writing the answer: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = NULL, *words[4] = {NULL, NULL, NULL, NULL};
	size_t nwords = 0;
	int json = 0, opts = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (opts && strcmp(a, "--") == 0) {
			opts = 0;
		} else if (opts && strcmp(a, "--json") == 0) {
			json = 1;
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
	snprintf(line, sizeof(line), "%s%s%s%s", words[0], nwords > 1 ? " " : "",
	         nwords > 1 ? words[1] : "", json ? " --json" : "");
	struct control_req req;
	if (control_req_parse(line, strlen(line), &req, err, sizeof(err)) == -1)
		return usage_error(err);
	if (req.verb == CTL_RELOAD) {
		fprintf(stderr, "ravenctl: reload is not supported yet\n");
		return 1;
	}
	char *path = socket_path(file);
	if (path == NULL)
		return 1;
	int fd = connect_to(path);
	free(path);
	if (fd == -1)
		return 1;
	size_t len = strlen(line);
	line[len] = '\n';
	line[len + 1] = '\0';
	int rc = exchange(fd, line);
	close(fd);
	return rc;
}
