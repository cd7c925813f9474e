/* parent_fds: listening sockets and configuration memfds (parent_fds.h). */
#include "parent_fds.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* The socket address of a listener; 0, or -1 if the address is not numeric. */
static int endpoint(const struct listener *l, struct sockaddr_storage *ss, socklen_t *sl)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, l->addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(l->port);
		*sl = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, l->addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(l->port);
		*sl = sizeof(*in6);
		return 0;
	}
	return -1;
}

int parent_same_endpoint(const struct listener *a, const struct listener *b)
{
	struct sockaddr_storage sa, sb;
	socklen_t la, lb;
	if (endpoint(a, &sa, &la) == -1 || endpoint(b, &sb, &lb) == -1)
		return 0;
	return la == lb && memcmp(&sa, &sb, la) == 0;
}

/* The group's choice: the client's address modulo n, read from the IP
 * header — IPv4's source address, or the XOR of IPv6's /64 prefix words
 * (the unit of the AUTH lockout, and a prefix holds one address's
 * connections too). */
static int steer_by_address(int fd, unsigned n)
{
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (__u32)SKF_NET_OFF), /* version, header length */
	    BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 5),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (__u32)SKF_NET_OFF + 8), /* IPv6 source */
	    BPF_STMT(BPF_MISC | BPF_TAX, 0),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (__u32)SKF_NET_OFF + 12),
	    BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
	    BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (__u32)SKF_NET_OFF + 12), /* IPv4 source */
	    BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
	    BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

/* One socket of a group of n (n == 1: a plain listener); first: the one
 * that carries the group's program. */
static int listen_one(const struct listener *l, unsigned n, int first)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (endpoint(l, &ss, &sl) == -1) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((n > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) ||
	    (n > 1 && first && steer_by_address(fd, n) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int parent_listen_on(const struct listener *l)
{
	return listen_one(l, 1, 1);
}

int parent_listen_group(const struct listener *l, unsigned n, int *fds)
{
	/* The group's order is the order of listen(): fds[i] is its i-th. */
	for (unsigned i = 0; i < n; i++) {
		fds[i] = listen_one(l, n, i == 0);
		if (fds[i] != -1)
			continue;
		int e = errno;
		while (i-- > 0)
			close(fds[i]);
		errno = e;
		return -1;
	}
	return 0;
}

int parent_memfd(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fd_write_all(fd, data, len) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
