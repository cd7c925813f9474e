/* ctl_client: one request on the control socket (see ctl_client.h). */
#include "ctl_client.h"

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
#include "xmalloc.h"

#define STATUS_MAX     4096 /* octets of the status line */
#define ANSWER_TIMEOUT 60   /* seconds without a byte from the server */

char *ctl_socket_path(const struct config *c)
{
	return xasprintf("%s/run/ravenctl.sock", c->data_dir);
}

static int connect_to(const char *prog, const char *path, int *why)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: %s: path too long for a unix socket\n", prog, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		*why = e == EACCES || e == EPERM ? CTL_DENIED : CTL_UNREACHABLE;
		if (*why == CTL_DENIED)
			fprintf(stderr, "%s: %s: permission denied\n", prog, path);
		else
			fprintf(stderr, "%s: cannot connect to %s: %s (is ravend running?)\n", prog,
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
static int exchange(const char *prog, int fd, const char *line)
{
	if (send_all(fd, line, strlen(line)) == -1) {
		fprintf(stderr, "%s: sending the request: %s\n", prog, strerror(errno));
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
			fprintf(stderr, "%s: reading the answer: %s\n", prog,
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
				fprintf(stderr, "%s: malformed answer from the server\n", prog);
				return 1;
			}
		}
		if (have_status && !ok)
			break; /* an error has no body worth reading */
		if (ok && off < (size_t)n &&
		    fwrite(chunk + off, 1, (size_t)n - off, stdout) != (size_t)n - off) {
			fprintf(stderr, "%s: writing the answer: %s\n", prog, strerror(errno));
			return 1;
		}
	}
	if (!have_status) {
		fprintf(stderr, "%s: the server closed the connection without an answer\n", prog);
		return 1;
	}
	if (!ok) {
		const char *reason = strncmp(status, "error: ", 7) == 0 ? status + 7 : status;
		struct buf b;
		buf_init(&b, 0);
		control_text(&b, reason, strlen(reason), 0);
		buf_append_byte(&b, 0);
		fprintf(stderr, "%s: %s\n", prog, (const char *)b.data);
		if (strcmp((const char *)b.data, "permission denied") == 0) {
			buf_free(&b);
			return CTL_DENIED;
		}
		buf_free(&b);
		return 1;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: writing the answer: %s\n", prog, strerror(errno));
		return 1;
	}
	return 0;
}

int ctl_client_request(const char *prog, const char *path, const char *line)
{
	int why = CTL_FAILED;
	int fd = connect_to(prog, path, &why);
	if (fd == -1)
		return why;
	char *l = xasprintf("%s\n", line);
	int rc = exchange(prog, fd, l);
	free(l);
	close(fd);
	return rc;
}
