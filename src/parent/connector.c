/* connector: unix-domain LMTP connections for the relay role (see connector.h). */
#include "connector.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "proto.h"

#define CONNECTOR_MAX_GROUPS 256

int connector_connect(const struct privsep *priv, const struct privsep_id *id, const char *path)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* The socket's permissions are checked against the file-system ids and
	 * the groups: for this one call they are the relay account's (a
	 * non-zero fsuid also leaves root's file capabilities aside). The
	 * parent is single-threaded: nothing else runs meanwhile. */
	gid_t saved[CONNECTOR_MAX_GROUPS];
	int nsaved = 0, switched = 0;
	if (priv->root) {
		nsaved = getgroups(CONNECTOR_MAX_GROUPS, saved);
		if (nsaved == -1 || setgroups(1, &id->gid) == -1) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		setfsgid(id->gid);
		setfsuid(id->uid);
		switched = 1;
	}
	/* A unix-domain connect completes at once or fails (EAGAIN: the
	 * server's backlog is full): the parent never waits here. */
	int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int e = errno;
	if (switched) {
		setfsuid(0);
		setfsgid(0);
		if (setgroups((size_t)nsaved, saved) == -1)
			fatal("cannot restore the parent's groups: %s", strerror(errno));
	}
	if (rc == -1) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int connector_msg(const struct config *conf, const struct privsep *priv, struct ipc *ch,
                  const struct ipc_msg *m)
{
	uint64_t req;
	char *name = NULL;
	if (m->type != PROTO_CONNECT_REQ || m->fd != -1 || m->fd_lost ||
	    proto_decode_connect(m->data, m->len, &req, &name) == -1) {
		log_warn("event=bad-frame from=relay type=%u len=%zu", m->type, m->len);
		return -1;
	}
	/* What is connected comes from our configuration; the relay only
	 * names an action, and only an lmtp action with a socket will do. */
	const struct action *a = conf_action(conf, name);
	if (a == NULL || a->kind != ACTION_LMTP || a->lmtp_port != 0) {
		char esc[300];
		log_escape(esc, sizeof(esc), name, strlen(name));
		log_warn(
		    "event=bad-connect-request action=\"%s\" reason=\"not an lmtp action with a "
		    "socket\"",
		    esc);
		free(name);
		return -1;
	}
	free(name);
	int fd = connector_connect(priv, &priv->net, a->lmtp_host);
	int e = fd == -1 ? errno : 0;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_fail(&b, req, (uint32_t)e, e ? strerror(e) : "");
	if (ipc_send(ch, PROTO_CONNECT_RES, b.data, b.len, fd) == -1) {
		/* No descriptor to pass it with: say why instead. */
		e = errno;
		buf_reset(&b);
		proto_encode_fail(&b, req, (uint32_t)e, strerror(e));
		ipc_send(ch, PROTO_CONNECT_RES, b.data, b.len, -1);
	}
	buf_free(&b);
	if (fd != -1)
		close(fd);
	return 0;
}
