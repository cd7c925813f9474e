/* ipc: framed messages with fd passing over a socketpair (see ipc.h). */
#include "ipc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

#define IPC_FLAG_FD 1u
/* In the queue of received fds: one that was sent but never arrived. */
#define IPC_FD_LOST (-2)

struct fd_slot {
	int fd;
	uint64_t offset; /* absolute stream offset of its frame */
};

struct ipc {
	int sock;
	struct event *rev, *wev;
	struct ipc_handlers h;
	struct buf in, out;
	/* fds waiting to go, in order, each with the absolute stream offset of
	 * the frame it travels with; [out_head, n_out_fds) are live */
	struct fd_slot *out_fds;
	size_t out_head, n_out_fds, cap_out_fds;
	uint64_t out_base; /* absolute stream offset of out.data[0] */
	int in_fds[IPC_MAX_FDS];
	size_t n_in_fds;
	int dead;
};

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void ipc_fail(struct ipc *ch)
{
	if (ch->dead)
		return;
	ch->dead = 1;
	event_del(ch->rev);
	event_del(ch->wev);
	if (ch->h.on_close)
		ch->h.on_close(ch, ch->h.arg);
}

void ipc_shutdown(struct ipc *ch)
{
	ipc_fail(ch);
}

/* Receive bytes and any fds; returns bytes read, 0 on EOF, -1 on error/EAGAIN. */
static ssize_t recv_with_fds(int sock, void *p, size_t n, int *fds, size_t *nfds, size_t maxfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cm;
	struct iovec iov = {p, n};
	struct msghdr mh = {0};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (r <= 0)
		return r;
	size_t got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *in = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < k; i++, got++) {
			if (*nfds < maxfds)
				fds[(*nfds)++] = in[i];
			else
				close(in[i]);
		}
	}
	/* The sender attaches one fd to the first byte of a frame, and a read
	 * never spans two such frames; a truncated control message means the
	 * kernel had no descriptor for ours (EMFILE): its frame learns so. */
	if ((mh.msg_flags & MSG_CTRUNC) && got == 0 && *nfds < maxfds)
		fds[(*nfds)++] = IPC_FD_LOST;
	return r;
}

static void ipc_dispatch(struct ipc *ch)
{
	size_t off = 0;
	while (!ch->dead && ch->in.len - off >= IPC_HDR_LEN) {
		const uint8_t *h = ch->in.data + off;
		uint32_t type = get_u32(h), len = get_u32(h + 4), flags = get_u32(h + 8);
		if (len > IPC_MAX_PAYLOAD || (flags & ~IPC_FLAG_FD)) {
			log_warn("event=ipc-error reason=\"bad frame header\" type=%u len=%u", type,
			         len);
			ipc_fail(ch);
			return;
		}
		if (ch->in.len - off - IPC_HDR_LEN < len)
			break;
		struct ipc_msg m = {type, h + IPC_HDR_LEN, len, -1, 0};
		if (flags & IPC_FLAG_FD) {
			if (ch->n_in_fds == 0) {
				log_warn(
				    "event=ipc-error reason=\"fd announced but none received\"");
				ipc_fail(ch);
				return;
			}
			m.fd = ch->in_fds[0];
			if (m.fd == IPC_FD_LOST) {
				m.fd = -1;
				m.fd_lost = 1;
				log_warn("event=ipc-fd-lost type=%u reason=\"no descriptor left\"",
				         type);
			}
			memmove(ch->in_fds, ch->in_fds + 1, (ch->n_in_fds - 1) * sizeof(int));
			ch->n_in_fds--;
		}
		off += IPC_HDR_LEN + len;
		ch->h.on_msg(ch, &m, ch->h.arg);
	}
	if (!ch->dead)
		buf_consume(&ch->in, off);
}

static void ipc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc *ch = arg;
	(void)fd;
	(void)what;
	uint8_t tmp[65536];
	/* Dispatch after every read, and give the loop back after a few: a
	 * busy peer can neither starve others nor grow our input buffer. */
	for (int rounds = 0; rounds < 16 && !ch->dead; rounds++) {
		ssize_t r = recv_with_fds(ch->sock, tmp, sizeof(tmp), ch->in_fds, &ch->n_in_fds,
		                          IPC_MAX_FDS);
		if (r == 0) {
			ipc_dispatch(ch); /* frames that arrived just before the end */
			ipc_fail(ch);
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ipc_fail(ch);
			return;
		}
		int full = buf_append(&ch->in, tmp, (size_t)r) == -1;
		/* Frames may hold a password or a hash: no copy left on the stack. */
		explicit_bzero(tmp, (size_t)r);
		if (full) {
			ipc_fail(ch);
			return;
		}
		ipc_dispatch(ch);
		/* A short read is not the end: a frame that carries an fd ends
		 * recvmsg(), so the frames queued behind it need another read.
		 * Reading until EAGAIN lets a receiver see a burst as one batch. */
	}
}

union fd_cmsg {
	struct cmsghdr h;
	char buf[CMSG_SPACE(sizeof(int))];
};

/* Attach fd (if not -1) to mh as SCM_RIGHTS, using cm as the control buffer. */
static void msg_attach_fd(struct msghdr *mh, union fd_cmsg *cm, int fd)
{
	if (fd == -1)
		return;
	memset(cm, 0, sizeof(*cm));
	mh->msg_control = cm->buf;
	mh->msg_controllen = sizeof(cm->buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

/* Write queued bytes; the frame carrying an fd goes with sendmsg. 0 done, 1 more, -1 err. */
static int ipc_write_some(struct ipc *ch)
{
	while (ch->out.len > 0) {
		size_t n = ch->out.len;
		int fd = -1;
		if (ch->out_head < ch->n_out_fds) {
			size_t at = (size_t)(ch->out_fds[ch->out_head].offset - ch->out_base);
			if (at == 0) {
				fd = ch->out_fds[ch->out_head].fd;
				if (ch->out_head + 1 < ch->n_out_fds)
					n = (size_t)(ch->out_fds[ch->out_head + 1].offset -
					             ch->out_base);
			} else {
				n = at;
			}
		}
		struct iovec iov = {ch->out.data, n};
		struct msghdr mh = {0};
		union fd_cmsg cm;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		msg_attach_fd(&mh, &cm, fd);
		ssize_t w = sendmsg(ch->sock, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -1;
		}
		if (fd != -1) {
			close(fd);
			if (++ch->out_head == ch->n_out_fds)
				ch->out_head = ch->n_out_fds = 0;
		}
		buf_consume(&ch->out, (size_t)w);
		ch->out_base += (uint64_t)w;
	}
	return 0;
}

static void ipc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc *ch = arg;
	(void)fd;
	(void)what;
	int rc = ipc_write_some(ch);
	if (rc == -1)
		ipc_fail(ch);
	else if (rc == 1)
		event_add(ch->wev, NULL);
}

struct ipc *ipc_new(struct event_base *base, int sock, const struct ipc_handlers *h)
{
	struct ipc *ch = xcalloc(1, sizeof(*ch));
	ch->sock = sock;
	ch->h = *h;
	buf_init(&ch->in, IPC_MAX_PAYLOAD * 2 + IPC_HDR_LEN * 2);
	buf_init(&ch->out, 0);
	evutil_make_socket_nonblocking(sock);
	ch->rev = event_new(base, sock, EV_READ | EV_PERSIST, ipc_read_cb, ch);
	ch->wev = event_new(base, sock, EV_WRITE, ipc_write_cb, ch);
	event_add(ch->rev, NULL);
	return ch;
}

void ipc_free(struct ipc *ch)
{
	if (ch == NULL)
		return;
	event_free(ch->rev);
	event_free(ch->wev);
	for (size_t i = ch->out_head; i < ch->n_out_fds; i++)
		close(ch->out_fds[i].fd);
	free(ch->out_fds);
	for (size_t i = 0; i < ch->n_in_fds; i++)
		if (ch->in_fds[i] >= 0)
			close(ch->in_fds[i]);
	buf_free(&ch->in);
	buf_free(&ch->out);
	close(ch->sock);
	free(ch);
}

int ipc_fd(const struct ipc *ch)
{
	return ch->sock;
}

static void frame_header(uint8_t *h, uint32_t type, size_t len, int has_fd)
{
	put_u32(h, type);
	put_u32(h + 4, (uint32_t)len);
	put_u32(h + 8, has_fd ? IPC_FLAG_FD : 0);
}

int ipc_send(struct ipc *ch, uint32_t type, const void *payload, size_t len, int fd)
{
	if (ch->dead)
		return 0;
	if (len > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	if (fd != -1) {
		int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup == -1)
			return -1;
		if (ch->n_out_fds == ch->cap_out_fds) {
			ch->cap_out_fds = ch->cap_out_fds ? ch->cap_out_fds * 2 : 16;
			ch->out_fds =
			    xreallocarray(ch->out_fds, ch->cap_out_fds, sizeof(*ch->out_fds));
		}
		ch->out_fds[ch->n_out_fds].fd = dup;
		ch->out_fds[ch->n_out_fds].offset = ch->out_base + ch->out.len;
		ch->n_out_fds++;
	}
	uint8_t h[IPC_HDR_LEN];
	frame_header(h, type, len, fd != -1);
	buf_append(&ch->out, h, sizeof(h));
	buf_append(&ch->out, payload, len);
	/* Written later in this pass of the loop, so that the frames sent in
	 * one callback go out together; the socket is watched for room only
	 * once a write would block (watching it always costs two epoll_ctl
	 * calls a frame). */
	if (!event_pending(ch->wev, EV_WRITE, NULL))
		event_active(ch->wev, EV_WRITE, 1);
	return 0;
}

size_t ipc_pending(const struct ipc *ch)
{
	return ch->out.len;
}

int ipc_flush_blocking(struct ipc *ch)
{
	int fl = fcntl(ch->sock, F_GETFL);
	fcntl(ch->sock, F_SETFL, fl & ~O_NONBLOCK);
	int rc = ipc_write_some(ch);
	fcntl(ch->sock, F_SETFL, fl);
	return rc == 0 ? 0 : -1;
}

int ipc_write_frame(int sock, uint32_t type, const void *payload, size_t len, int fd)
{
	uint8_t h[IPC_HDR_LEN];
	if (len > IPC_MAX_PAYLOAD)
		return -1;
	frame_header(h, type, len, fd != -1);
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)payload, len}};
	struct msghdr mh = {0};
	union fd_cmsg cm;
	mh.msg_iov = iov;
	mh.msg_iovlen = len ? 2 : 1;
	msg_attach_fd(&mh, &cm, fd);
	size_t total = sizeof(h) + len, done = 0;
	while (done < total) {
		ssize_t w = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)w;
		if (done >= total)
			break;
		/* Partial write: send the rest plainly (the fd went with the first byte). */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		size_t skip = (size_t)w;
		while (mh.msg_iovlen > 0 && skip >= mh.msg_iov[0].iov_len) {
			skip -= mh.msg_iov[0].iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + skip;
			mh.msg_iov[0].iov_len -= skip;
		}
	}
	return 0;
}

static int read_full(int sock, uint8_t *p, size_t n, int *fds, size_t *nfds)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv_with_fds(sock, p + got, n - got, fds, nfds, 4);
		if (r == 0)
			return -1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

int ipc_read_frame(int sock, uint32_t *type, uint8_t **payload, size_t *len, int *fd)
{
	uint8_t h[IPC_HDR_LEN];
	int fds[4];
	size_t nfds = 0;
	*fd = -1;
	*payload = NULL;
	if (read_full(sock, h, sizeof(h), fds, &nfds) == -1)
		goto fail;
	*type = get_u32(h);
	*len = get_u32(h + 4);
	uint32_t flags = get_u32(h + 8);
	if (*len > IPC_MAX_PAYLOAD || (flags & ~IPC_FLAG_FD))
		goto fail;
	*payload = xmalloc(*len + 1);
	if (read_full(sock, *payload, *len, fds, &nfds) == -1)
		goto fail;
	(*payload)[*len] = 0;
	if (flags & IPC_FLAG_FD) {
		if (nfds == 0 || fds[0] == IPC_FD_LOST)
			goto fail;
		*fd = fds[0];
		fds[0] = -1;
	}
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
fail:
	for (size_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(*payload);
	*payload = NULL;
	return -1;
}
