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

/* Look up conf->user when running as root. 0 or -1 with reason. */
int privsep_init(struct privsep *p, const char *user, char *err, size_t errlen);
/* Drop to the unprivileged user for good (no-op when not root); fatal on failure. */
void privsep_drop(const struct privsep *p);
/* mkdir -p style single directory with owner and mode; 0 or -1 (errno). */
int privsep_mkdir(const struct privsep *p, const char *path, mode_t mode);

#endif
