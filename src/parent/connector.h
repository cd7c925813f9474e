/*
 * connector: the one thing the parent does on a role's request — connect
 * the unix-domain socket of an LMTP action for the relay role, which runs
 * chrooted into an empty directory where no socket path outside could be
 * reached (and cannot make AF_UNIX sockets at all). The relay names the
 * action; the parent reads the path from its own configuration, connects
 * with the relay account's file-system identity (the socket's permissions
 * decide as they would for the relay itself), and passes the connected
 * descriptor back. A compromised relay reaches exactly the sockets the
 * configuration names, nothing else on the file system.
 */
#ifndef RAVEN_CONNECTOR_H
#define RAVEN_CONNECTOR_H

#include "config.h"
#include "ipc.h"
#include "privsep.h"

/*
 * Serve one frame from a role's service channel: CONNECT_REQ for an lmtp
 * action with a socket path, answered by CONNECT_RES (+ fd). Anything else
 * is a broken peer: -1, and the caller shuts the channel (the role exits
 * and is restarted); the parent goes on.
 */
int connector_msg(const struct config *conf, const struct privsep *priv, struct ipc *ch,
                  const struct ipc_msg *m);

/* Connect path as id when started as root (otherwise as ourselves); a
 * connected, non-blocking, close-on-exec descriptor, or -1 with errno. */
int connector_connect(const struct privsep *priv, const struct privsep_id *id, const char *path);

#endif
