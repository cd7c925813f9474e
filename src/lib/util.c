/* util: error strings and a complete write (see util.h). */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

void err_set(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int fd_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

char *fd_read_bounded(int fd, const char *name, size_t max, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) == -1)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((uintmax_t)st.st_size > max)
		why = "too large";
	if (why != NULL) {
		err_set(err, errlen, "%s: %s", name, why);
		return NULL;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *text = xmalloc(size + 1);
	/* The file may change under us: read at most what was stat'ed. */
	while (got < size) {
		ssize_t r = pread(fd, text + got, size - got, (off_t)got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			err_set(err, errlen, "%s: %s", name, strerror(errno));
			free(text);
			return NULL;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	text[got] = '\0';
	*len = got;
	return text;
}

char *file_read_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	/* O_NONBLOCK and the S_ISREG check: a FIFO or device must not hang us. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		err_set(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *text = fd_read_bounded(fd, path, max, len, err, errlen);
	close(fd);
	return text;
}

char *ascii_lower_str(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

void sock_drain_close(int fd, size_t max)
{
	char junk[512];
	for (size_t n = 0; n < max; n += sizeof(junk))
		if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
			break;
	close(fd);
}

uint32_t util_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (uint32_t)((x * 2685821657736338717ull) >> 32);
}

int b64_digit(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t b64_encode(const uint8_t *in, size_t n, char *out, size_t outmax)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t need = (n + 2) / 3 * 4 + 1;
	if (n > (SIZE_MAX - 1) / 4 * 3 - 2 || need > outmax)
		return 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[k++] = abc[v >> 18 & 63];
		out[k++] = abc[v >> 12 & 63];
		out[k++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[k++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[k] = '\0';
	return k;
}
