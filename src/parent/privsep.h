/*
 * privsep: who the roles run as. Started as root, the parent keeps root
 * (to restart roles), smtp and queue become the configured unprivileged
 * user, and local keeps root only to switch its file-system identity per
 * delivery. Started as anyone else, nothing changes.
 */
#ifndef RAVEN_PRIVSEP_H
#define RAVEN_PRIVSEP_H

#include <sys/types.h>

struct privsep {
	int root;  /* started as root */
	uid_t uid; /* the unprivileged user (when root) */
	gid_t gid;
	char *user;
};

struct config;

/*
 * Started as root, look up conf->user (it must exist and not be root) and
 * check that every maildir action's owner exists, so that a typo is
 * reported by `ravend -n` and at start, not by every delivery. 0, or -1
 * with "file:line: reason" in err. Not root: neither is used, 0.
 */
int privsep_init(struct privsep *p, const struct config *conf, char *err, size_t errlen);
/* Drop to the unprivileged user for good (no-op when not root); fatal on failure. */
void privsep_drop(const struct privsep *p);
/*
 * Create directory name under dirfd (AT_FDCWD for a path) if missing, and
 * give it mode and an owner: the unprivileged user when for_user is set,
 * else root (when started as root; otherwise nothing changes hands). The
 * last component is never followed if it is a symlink — a role that owns
 * the parent cannot redirect root's chown and chmod. Returns an open
 * O_DIRECTORY descriptor of it, or -1 with errno.
 */
int privsep_mkdir_at(const struct privsep *p, int dirfd, const char *name, mode_t mode,
                     int for_user);

#endif
