/*
 * raven-postdrop: writes one maildrop file (src/wire/drop.h) from its
 * standard input into DATADIR/maildrop. Installed setgid raven-drop, the
 * one group that may write there, so any local user can hand over mail
 * without access to the spool (Postfix's postdrop). It trusts nothing it
 * is given: the stream must be a whole, valid maildrop file, the
 * directory must be a maildrop (sticky, its group ours when setgid), and
 * the file is made durable before the exit code 0 promises it:
 *
 *   t.NAME (O_EXCL) <- every octet, checked by the pure reader as it passes
 *   fsync(t.NAME); rename(t.NAME, NAME); fsync(maildrop)        -> exit 0
 *
 * Anything else removes t.NAME and exits with a sysexits(3) code. A helper
 * killed midway leaves t.NAME, which the pickup role removes after a day.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include "drop.h"
#include "util.h"

#define PROG "raven-postdrop"

#if defined(__SANITIZE_ADDRESS__)
/* Run setgid, the helper is not dumpable, and LeakSanitizer's ptrace of
 * its own threads fails: the sanitizer build checks it without leaks. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

/* A setgid program must not write its messages into a file that happens
 * to be open as 1 or 2: the standard descriptors are opened if closed. */
static void standard_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", O_RDWR) != fd)
			_exit(EX_OSERR);
}

static int dir_error(const char *path, int e)
{
	fprintf(stderr, PROG ": %s: %s%s\n", path, strerror(e),
	        e == ENOENT ? " (ravend makes it when it starts)"
	        : e == EACCES
	            ? " (raven-postdrop must be setgid raven-drop: make install does that)"
	            : "");
	return e == ENOENT ? EX_UNAVAILABLE : e == EACCES ? EX_NOPERM : EX_TEMPFAIL;
}

static int open_maildrop(const char *data, const char *path, int *dfd)
{
	(void)data;
	*dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd == -1)
		return dir_error(path, errno);
	struct stat st;
	if (fstat(*dfd, &st) == -1)
		return dir_error(path, errno);
	/* Used setgid, it writes only where its group is meant to. */
	int setgid = getegid() != getgid();
	if (!(st.st_mode & S_ISVTX) || (st.st_mode & S_IWOTH) ||
	    (setgid && st.st_gid != getegid())) {
		fprintf(stderr, PROG ": %s: not a maildrop directory\n", path);
		return EX_NOPERM;
	}
	return 0;
}

/* Copy the stream into fd through the reader: 0, or an exit code. */
static int copy(int fd)
{
	struct drop_reader r;
	drop_reader_init(&r);
	uint8_t chunk[65536];
	int ended = 0;
	for (;;) {
		ssize_t n = read(0, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fprintf(stderr, PROG ": reading: %s\n", strerror(errno));
			return EX_IOERR;
		}
		if (n == 0)
			break;
		size_t off = 0;
		while (off < (size_t)n) {
			size_t used;
			struct drop_item it;
			enum drop_event ev =
			    drop_reader_next(&r, chunk + off, (size_t)n - off, &used, &it);
			if (ev == DROP_ERROR) {
				fprintf(stderr, PROG ": not a valid maildrop stream: %s\n", r.why);
				return EX_DATAERR;
			}
			ended |= ev == DROP_END;
			off += used;
		}
		if (fd_write_all(fd, chunk, (size_t)n) == -1) {
			fprintf(stderr, PROG ": writing: %s\n", strerror(errno));
			return EX_TEMPFAIL;
		}
	}
	if (!ended) {
		fprintf(stderr, PROG ": the stream ended before its END record: nothing kept\n");
		return EX_DATAERR;
	}
	return 0;
}

int main(int argc, char **argv)
{
	standard_fds();
	umask(022);
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: " PROG " DATADIR (absolute; the maildrop file on stdin)\n");
		return EX_USAGE;
	}
	char path[4096], name[80], tmp[96];
	if ((size_t)snprintf(path, sizeof(path), "%s/maildrop", argv[1]) >= sizeof(path)) {
		fprintf(stderr, PROG ": data directory path too long\n");
		return EX_USAGE;
	}
	int dfd;
	int rc = open_maildrop(argv[1], path, &dfd);
	if (rc != 0)
		return rc;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned)tv.tv_usec;
	/* names sort by submission time; the pickup role takes them in order */
	snprintf(name, sizeof(name), "%011llx%05lx.%d.%08x", (unsigned long long)tv.tv_sec,
	         (unsigned long)tv.tv_usec, (int)getpid(), r);
	snprintf(tmp, sizeof(tmp), "t.%s", name);
	/* readable by the pickup role (another user); nobody else can reach
	 * into the directory */
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1)
		return dir_error(path, errno);
	rc = copy(fd);
	if (rc == 0 && (fsync(fd) == -1 || close(fd) == -1)) {
		fprintf(stderr, PROG ": %s/%s: %s\n", path, tmp, strerror(errno));
		rc = EX_TEMPFAIL;
	} else if (rc != 0) {
		close(fd);
	}
	if (rc == 0 && renameat(dfd, tmp, dfd, name) == -1) {
		fprintf(stderr, PROG ": %s/%s: rename: %s\n", path, tmp, strerror(errno));
		rc = EX_TEMPFAIL;
	}
	if (rc != 0) {
		unlinkat(dfd, tmp, 0);
		return rc;
	}
	if (fsync(dfd) == -1) {
		/* In place but perhaps not durable: the caller may send it again. */
		fprintf(stderr, PROG ": %s: fsync: %s\n", path, strerror(errno));
		return EX_TEMPFAIL;
	}
	return 0;
}
