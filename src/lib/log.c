/* log: key=value event lines on stderr, a file or syslog, with escaping of
 * untrusted text. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Set once by log_init() before any event; read-only afterwards. Each role
 * calls it after its fork, so the pid is its own (no getpid per line). */
static struct {
	char role[16];
	int verbose;
	int pid;
	int fd;     /* where lines go */
	int syslog; /* 1: fd is a datagram socket to syslogd */
} log_conf = {"raven", 0, 0, STDERR_FILENO, 0};

void log_set_target(int fd, int syslog)
{
	log_conf.fd = fd;
	log_conf.syslog = syslog;
}

int log_target_fd(void)
{
	return log_conf.fd == STDERR_FILENO ? -1 : log_conf.fd;
}

int log_target_is_syslog(void)
{
	return log_conf.syslog;
}

/* RFC 3164 priority: facility mail (2) * 8 + severity. */
static int syslog_pri(const char *level)
{
	int sev = strcmp(level, "fatal") == 0   ? 2  /* crit */
	          : strcmp(level, "warn") == 0  ? 4  /* warning */
	          : strcmp(level, "debug") == 0 ? 7  /* debug */
	                                        : 6; /* info */
	return 2 * 8 + sev;
}

void log_init(const char *role, int verbose)
{
	snprintf(log_conf.role, sizeof(log_conf.role), "%s", role);
	log_conf.verbose = verbose;
	log_conf.pid = (int)getpid();
}

int log_verbose_enabled(void)
{
	return log_conf.verbose;
}

static void log_line(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char line[4096];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	int pid = log_conf.pid ? log_conf.pid : (int)getpid();
	int n;
	if (log_conf.syslog) {
		/* What syslog(3) sends: "<PRI>Mmm dd hh:mm:ss TAG[PID]: text". */
		static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
		localtime_r(&tv.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
		             "<%d>%s %2d %02d:%02d:%02d raven/%s[%d]: %s: ", syslog_pri(level),
		             mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		             log_conf.role, pid, level);
	} else {
		gmtime_r(&tv.tv_sec, &tm);
		n = snprintf(line, sizeof(line),
		             "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %s: ", tm.tm_year + 1900,
		             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		             (int)(tv.tv_usec / 1000), log_conf.role, pid, level);
	}
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len = (m < 0) ? (size_t)n : (size_t)n + (size_t)m;
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	if (suffix) {
		int k = snprintf(line + len, sizeof(line) - len, "%s", suffix);
		if (k > 0)
			len += (size_t)k;
		if (len >= sizeof(line) - 1)
			len = sizeof(line) - 2;
	}
	/* One write per line so concurrent processes do not interleave (a
	 * file is opened O_APPEND; a datagram is one message, no newline). */
	if (!log_conf.syslog)
		line[len++] = '\n';
	ssize_t w = log_conf.syslog ? send(log_conf.fd, line, len, MSG_NOSIGNAL)
	                            : write(log_conf.fd, line, len);
	if (w == -1 && log_conf.fd != STDERR_FILENO) {
		/* syslogd gone (or the file unwritable): the line is not lost */
		if (log_conf.syslog)
			line[len++] = '\n';
		w = write(STDERR_FILENO, line, len);
	}
	(void)w;
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("info", fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("warn", fmt, ap, NULL);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	if (!log_conf.verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line("debug", fmt, ap, NULL);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void fatal_status(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(status);
}

void fatalx(const char *fmt, ...)
{
	char suffix[256];
	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_list ap;
	va_start(ap, fmt);
	log_line("fatal", fmt, ap, suffix);
	va_end(ap);
	exit(1);
}

char *log_escape(char *dst, size_t dstlen, const void *srcv, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *src = srcv;
	/* mark: the longest output so far that still leaves room for "...". */
	size_t o = 0, mark = 0;
	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char c = src[i];
		char tmp[4];
		size_t k;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			k = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[0] = (char)c;
			k = 1;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			k = 4;
		}
		if (o + k + 1 > dstlen) { /* does not fit: cut back to mark and say so */
			o = 0;
			if (dstlen >= 4) {
				memcpy(dst + mark, "...", 3);
				o = mark + 3;
			}
			break;
		}
		memcpy(dst + o, tmp, k);
		o += k;
		if (o + 4 <= dstlen)
			mark = o;
	}
	dst[o] = '\0';
	return dst;
}
