/* privsep: privilege drop and owned directories (see privsep.h). */
#include "privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xmalloc.h"

int privsep_init(struct privsep *p, const char *user, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->root = geteuid() == 0;
	p->user = xstrdup(user);
	if (!p->root) {
		p->uid = geteuid();
		p->gid = getegid();
		return 0;
	}
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen,
		         "user \"%s\" does not exist: create it (scripts/deps.sh does) or set "
		         "`user` in the configuration",
		         user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root: the roles must run unprivileged", user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	return 0;
}

void privsep_drop(const struct privsep *p)
{
	if (!p->root)
		return;
	if (setgroups(1, &p->gid) == -1 || setresgid(p->gid, p->gid, p->gid) == -1 ||
	    setresuid(p->uid, p->uid, p->uid) == -1)
		fatalx("cannot drop privileges to %s", p->user);
	if (setuid(0) != -1)
		fatal("privileges were not dropped: setuid(0) succeeded");
}

int privsep_mkdir_at(const struct privsep *p, int dirfd, const char *name, mode_t mode,
                     int for_user)
{
	if (mkdirat(dirfd, name, mode) == -1 && errno != EEXIST)
		return -1;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	struct stat st;
	uid_t uid = for_user ? p->uid : 0;
	gid_t gid = for_user ? p->gid : 0;
	if (fstat(fd, &st) == -1 ||
	    (p->root && (st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) == -1) ||
	    ((st.st_mode & 07777) != mode && fchmod(fd, mode) == -1)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
