/*
 * util: the small helpers every area needs and none should write again —
 * an error-string formatter for the "0/-1 with a reason" calling
 * convention, a write loop that does not lose short writes, a bounded file
 * reader, a socket close that does not reset, ASCII lowercasing
 * (domains and local parts; never locale's) and the base64 alphabet.
 */
#ifndef RAVEN_UTIL_H
#define RAVEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* printf into err (errlen bytes, always terminated); no-op if err is NULL. */
void err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Write all n bytes (retrying EINTR and short writes). 0, or -1 with errno
 * (EIO if the file stopped accepting bytes). */
int fd_write_all(int fd, const void *p, size_t n);
/*
 * Read a whole regular file of at most max octets into a fresh buffer
 * (NUL-terminated; *len without the NUL). A FIFO or device is refused
 * without blocking. NULL with "path: reason" in err.
 */
char *file_read_bounded(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* The same from an open regular file (read from offset 0 with pread; name
 * is for messages). */
char *fd_read_bounded(int fd, const char *name, size_t max, size_t *len, char *err, size_t errlen);
/* Close a socket after discarding up to max octets of unread input (never
 * blocking): closing with input unread resets the connection, which can
 * cut short the answer the peer has not read yet. */
void sock_drain_close(int fd, size_t max);
/* A fast pseudo-random number (xorshift64*, not for secrets) from *state,
 * which must not be 0 and is advanced. */
uint32_t util_rand(uint64_t *state);
/* Lowercase A-Z in s, in place; other octets (UTF-8 included) stay. Returns s. */
char *ascii_lower_str(char *s);
/* The value 0..63 of a base64 digit (RFC 4648 section 4 alphabet), or -1
 * for any other octet, '=' included: padding is the caller's to handle. */
int b64_digit(unsigned char c);
/* Encode in[0..n) in base64 (with padding) into out, NUL-terminated; the
 * length, or 0 when outmax is too small (4 * ceil(n / 3) + 1 is enough). */
size_t b64_encode(const uint8_t *in, size_t n, char *out, size_t outmax);

#endif
