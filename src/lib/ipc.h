/*
 * ipc: framed messages between Raven's processes over a socketpair, with
 * optional file-descriptor passing (SCM_RIGHTS).
 *
 * Frame: u32 type, u32 payload length, u32 flags (bit 0: an fd travels with
 * this frame), then the payload. All little-endian. Payloads are encoded
 * with buf_put_*() and decoded with the reader in buf.h, one decoder per
 * message type that fails on leftover bytes.
 *
 * The channel is driven by libevent: writes are queued and flushed when the
 * socket is writable; every complete frame received is handed to the
 * callback (which must not free the channel; on_close may). A peer that closes, sends a frame over
 * IPC_MAX_PAYLOAD, or an fd where none was announced makes the channel fail (on_close is called).
 *
 * Running out of descriptors fails one frame, never the channel: an fd the
 * kernel could not install in the receiver (EMFILE: the message arrives
 * with MSG_CTRUNC) reaches the callback as fd -1 with fd_lost set, and a
 * send whose fd cannot be duplicated returns -1 without queueing anything.
 */
#ifndef RAVEN_IPC_H
#define RAVEN_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define IPC_MAX_PAYLOAD (4u * 1024 * 1024)
#define IPC_HDR_LEN     12
/* Received fds held at once while their frames are incomplete. */
#define IPC_MAX_FDS 256

struct event_base;
struct ipc;

struct ipc_msg {
	uint32_t type;
	const uint8_t *data;
	size_t len;
	int fd;      /* -1 if none; the callback owns it */
	int fd_lost; /* an fd was sent with this frame but could not be received */
};

struct ipc_handlers {
	void (*on_msg)(struct ipc *ch, const struct ipc_msg *m, void *arg);
	void (*on_close)(struct ipc *ch, void *arg);
	void *arg;
};

/* Takes ownership of sock (made non-blocking). */
struct ipc *ipc_new(struct event_base *base, int sock, const struct ipc_handlers *h);
void ipc_free(struct ipc *ch);
/*
 * Stop the channel as if the peer had failed: no more reads or writes,
 * on_close is called (once). Safe inside on_msg: the frames after the
 * current one are not delivered. The channel is still the caller's to free
 * (later, not from inside its own callback).
 */
void ipc_shutdown(struct ipc *ch);
/* The socket, e.g. for a forked child to close without touching the
 * parent's event registrations (the epoll set is shared across fork). */
int ipc_fd(const struct ipc *ch);
/*
 * Queue a frame; fd (or -1) is dup'ed, so the caller keeps its own. 0, or
 * -1 with errno (EMFILE/ENFILE: no descriptor for the dup; EMSGSIZE: over
 * IPC_MAX_PAYLOAD) and nothing queued. A dead channel swallows frames (0).
 */
int ipc_send(struct ipc *ch, uint32_t type, const void *payload, size_t len, int fd);
/* Bytes queued and not yet written. */
size_t ipc_pending(const struct ipc *ch);
/* Write everything queued, blocking; used before exit. 0 or -1. */
int ipc_flush_blocking(struct ipc *ch);

/*
 * Blocking helpers for processes that do not run an event loop for this
 * channel (tests, the control client). 0 ok, -1 error/EOF.
 */
int ipc_write_frame(int sock, uint32_t type, const void *payload, size_t len, int fd);
/* *payload is malloc'ed (caller frees); *fd is -1 when none came. */
int ipc_read_frame(int sock, uint32_t *type, uint8_t **payload, size_t *len, int *fd);

#endif
