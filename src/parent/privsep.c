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

#include "config.h"
#include "log.h"
#include "xmalloc.h"

/* "file:line: " of a statement, or "" for the built-in default. */
static const char *where(char *dst, size_t len, const struct config *conf, int line)
{
	if (conf->file == NULL || line <= 0)
		return "";
	snprintf(dst, len, "%s:%d: ", conf->file, line);
	return dst;
}

static int check_owners(const struct config *conf, char *err, size_t errlen)
{
	char at[300];
	for (size_t i = 0; i < conf->n_actions; i++) {
		const struct action *a = conf->actions[i];
		if (a->kind == ACTION_MAILDIR && a->owner != NULL && !a->owner_is_user &&
		    getpwnam(a->owner) == NULL) {
			snprintf(err, errlen, "%saction \"%s\": owner \"%s\" does not exist",
			         where(at, sizeof(at), conf, a->line), a->name, a->owner);
			return -1;
		}
	}
	return 0;
}

int privsep_init(struct privsep *p, const struct config *conf, char *err, size_t errlen)
{
	char at[300];
	const char *user = conf->user;
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
		         "%suser \"%s\" does not exist: create it (scripts/deps.sh does) or set "
		         "`user` in the configuration",
		         where(at, sizeof(at), conf, conf->user_line), user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "%suser \"%s\" is root: the roles must run unprivileged",
		         where(at, sizeof(at), conf, conf->user_line), user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	return check_owners(conf, err, errlen);
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
