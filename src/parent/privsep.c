/* privsep: privilege drop and owned directories (see privsep.h). */
#include "privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
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

/* Look up one of the two users; -1 with a reason that says what to do. */
static int lookup(struct privsep_id *id, const char *name, const char *stmt, int line,
                  const struct config *conf, char *err, size_t errlen)
{
	char at[300];
	id->name = name;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		snprintf(
		    err, errlen,
		    "%s%s \"%s\" does not exist: create it (scripts/deps.sh does) or set `%s` in "
		    "the configuration",
		    where(at, sizeof(at), conf, line), stmt, name, stmt);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "%s%s \"%s\" is root: the roles must run unprivileged",
		         where(at, sizeof(at), conf, line), stmt, name);
		return -1;
	}
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	return 0;
}

int privsep_init(struct privsep *p, const struct config *conf, char *err, size_t errlen)
{
	char at[300];
	memset(p, 0, sizeof(*p));
	p->root = geteuid() == 0;
	if (!p->root) {
		p->user = (struct privsep_id){geteuid(), getegid(), conf->user};
		p->net = p->user;
		return 0;
	}
	if (lookup(&p->user, conf->user, "user", conf->user_line, conf, err, errlen) == -1 ||
	    lookup(&p->net, conf->net_user, "user network", conf->net_user_line, conf, err,
	           errlen) == -1)
		return -1;
	if (p->user.uid == p->net.uid) {
		snprintf(err, errlen,
		         "%suser network \"%s\" is the same account as user \"%s\": the network "
		         "roles must not be able to touch the queue's files",
		         where(at, sizeof(at), conf, conf->net_user_line), conf->net_user,
		         conf->user);
		return -1;
	}
	return check_owners(conf, err, errlen);
}

void privsep_drop(const struct privsep *p, const struct privsep_id *id)
{
	if (!p->root)
		return;
	if (setgroups(1, &id->gid) == -1 || setresgid(id->gid, id->gid, id->gid) == -1 ||
	    setresuid(id->uid, id->uid, id->uid) == -1)
		fatal_status(EX_CONFIG, "cannot drop privileges to %s: %s", id->name,
		             strerror(errno));
	if (setuid(0) != -1)
		fatal_status(EX_CONFIG, "privileges were not dropped: setuid(0) succeeded");
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
	uid_t uid = for_user ? p->user.uid : 0;
	gid_t gid = for_user ? p->user.gid : 0;
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
