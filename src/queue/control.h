/*
 * control: the queue role's control socket, <data_dir>/run/ravenctl.sock,
 * served to ravenctl(8). One request line per connection (control_req.h),
 * answered with a status line ("ok" or "error: <reason>") and a body, then
 * the connection closes. Only uid 0 and allowed_uid (the queue role's own
 * euid) may talk to it: the peer's credentials are checked at accept.
 *
 * Everything is non-blocking on the queue's event loop, with a read timeout,
 * a write timeout and a cap on concurrent connections, so a slow or hostile
 * client never holds up deliveries or commits.
 */
#ifndef RAVEN_CONTROL_H
#define RAVEN_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct queue_role;
struct control;

#define CONTROL_MAX_CONNS    16
#define CONTROL_TIMEOUT      10                   /* seconds to send the request; idle writing */
#define CONTROL_MAX_RESPONSE (256u * 1024 * 1024) /* octets */

/*
 * Bind and listen on path (a stale socket there is removed; anything else
 * that is not a socket is an error), mode 0660: the listening descriptor,
 * or -1 with a reason in err. The parent does this before the queue role
 * starts, so the queue needs no path (it runs chrooted into the spool).
 */
int control_listen(const char *path, char *err, size_t errlen);
/* Serve the listening socket fd (taken over). q is handed to the
 * queue_admin_* functions. */
struct control *control_new_fd(struct event_base *base, int fd, uid_t allowed_uid,
                               struct queue_role *q);
/* control_listen + control_new_fd; the socket file is unlinked by
 * control_free. NULL with a reason in err. */
struct control *control_new(struct event_base *base, const char *path, uid_t allowed_uid,
                            struct queue_role *q, char *err, size_t errlen);
/* The parent's answer to the reload request numbered req (error 0: done,
 * else reason says why): the ravenctl connection that asked gets it. */
void control_reload_done(struct control *c, uint64_t req, uint32_t error, const char *reason);
/* Change the read/write timeout (default CONTROL_TIMEOUT); for tests. */
void control_set_timeout(struct control *c, unsigned seconds);
/* Close the listener and every connection (and unlink the socket that
 * control_new made). */
void control_free(struct control *c);

#endif
