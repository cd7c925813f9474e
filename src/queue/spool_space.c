/*
 * spool_space: how much room the spool's file system has left, and what
 * the spool does when it runs short (see spool.h). The file system may be
 * shared with the Maildirs: then a delivery of acknowledged mail and a new
 * message compete for the same blocks and inodes, and deliveries must win.
 * So the queue refuses new mail below the thresholds (the room left is the
 * deliveries' reserve), and the free-file pool — recycled files that keep
 * their inodes and, on some file systems, their blocks — is given back as
 * soon as the spool is short or anything hits ENOSPC.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log.h"
#include "spool_int.h"

/* statvfs at most this often (a check per NEW and per batch otherwise). */
#define SPOOL_SPACE_EVERY_MS 1000

void spool_set_min_free(struct spool *s, uint64_t bytes, uint64_t inodes)
{
	s->min_free = bytes;
	s->min_free_inodes = inodes;
	s->space_checked_ms = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int measure(const struct spool *s, struct spool_space *out)
{
	struct statvfs v;
	if (fstatvfs(s->root, &v) == -1)
		return -1;
	uint64_t unit = v.f_frsize ? v.f_frsize : v.f_bsize;
	out->avail = (uint64_t)v.f_bavail * unit;
	/* Some file systems (btrfs) report no inode limit at all. */
	out->avail_inodes = v.f_files == 0 ? UINT64_MAX : (uint64_t)v.f_favail;
	out->short_space = out->avail < s->min_free || out->avail_inodes < s->min_free_inodes;
	return 0;
}

int spool_space_figures(struct spool *s, struct spool_space *out)
{
	return measure(s, out);
}

int spool_space_short(struct spool *s, int force, struct spool_space *out)
{
	int64_t now = now_ms();
	int rc = 0;
	if (force || s->space_checked_ms == 0 ||
	    now - s->space_checked_ms >= SPOOL_SPACE_EVERY_MS) {
		int was = s->space.short_space;
		s->space_checked_ms = now;
		if (measure(s, &s->space) == -1) {
			rc = -1;
			s->space.short_space = 0;
		} else if (s->space.short_space && spool_release(s) > 0) {
			rc = measure(s, &s->space);
		}
		if (rc == 0 && s->space.short_space != was)
			log_warn("event=spool-space state=%s avail=%llu avail_inodes=%llu "
			         "min_free=%llu min_free_inodes=%llu",
			         s->space.short_space ? "short" : "ok",
			         (unsigned long long)s->space.avail,
			         (unsigned long long)s->space.avail_inodes,
			         (unsigned long long)s->min_free,
			         (unsigned long long)s->min_free_inodes);
		else if (rc == -1)
			log_warn("event=spool-space error=\"statvfs: %s\"", strerror(errno));
	}
	if (out)
		*out = s->space;
	return rc == -1 ? -1 : s->space.short_space;
}
