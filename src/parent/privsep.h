/*
 * privsep: who the processes run as. Started as root, the parent keeps
 * root (to start roles), the queue and local roles become `user` (local
 * keeping only the capabilities to switch its file-system identity), and
 * the network-facing roles become `user network`, a second unprivileged
 * account, so that they cannot touch what the queue owns. Started as
 * anyone else, nothing changes.
 */
#ifndef RAVEN_PRIVSEP_H
#define RAVEN_PRIVSEP_H

#include <sys/types.h>

struct privsep_id {
	uid_t uid;
	gid_t gid;
	const char *name; /* the configuration's string */
};

struct privsep {
	int root;               /* started as root */
	struct privsep_id user; /* queue and local (when root) */
	struct privsep_id net;  /* the network-facing roles (when root) */
};

struct config;

/*
 * Started as root, look up both users (they must exist, differ, and not be
 * root) and check that every maildir action's owner exists, so that a typo
 * is reported by `ravend -n` and at start, not by every delivery. 0, or -1
 * with "file:line: reason" in err. Not root: both are the current ids, 0.
 */
int privsep_init(struct privsep *p, const struct config *conf, char *err, size_t errlen);
/* Become id for good (no-op when not root): groups, gid, uid, checked. */
void privsep_drop(const struct privsep *p, const struct privsep_id *id);
/*
 * Create directory name under dirfd (AT_FDCWD for a path) if missing, and
 * give it mode and an owner: the queue's user when for_user is set, else
 * root (when started as root; otherwise nothing changes hands). The last
 * component is never followed if it is a symlink — a role that owns the
 * parent cannot redirect root's chown and chmod. Returns an open
 * O_DIRECTORY descriptor of it, or -1 with errno.
 */
int privsep_mkdir_at(const struct privsep *p, int dirfd, const char *name, mode_t mode,
                     int for_user);

#endif
