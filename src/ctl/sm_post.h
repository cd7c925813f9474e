/*
 * sm_post: raven-sendmail's side of raven-postdrop — run the helper (no
 * shell, an empty environment) with the maildrop file on a pipe, and turn
 * how it ended into a sysexits(3) code.
 */
#ifndef RAVEN_SM_POST_H
#define RAVEN_SM_POST_H

#include <stddef.h>
#include <sys/types.h>

struct sm_post {
	pid_t pid;
	int fd; /* the helper's standard input */
};

/* The helper beside this program (through /proc/self/exe, so a sendmail
 * symlink finds it too), else the installed one. A fresh string. */
char *sm_post_path(void);
/* Start it for the data directory; 0, or -1 after a message on stderr. */
int sm_post_start(struct sm_post *p, const char *path, const char *data_dir);
/* Write n octets to it; -1 when it stopped reading (it has exited). */
int sm_post_write(struct sm_post *p, const void *data, size_t n);
/* Close its input (abandon: no END was written) and wait; its exit code
 * (EX_TEMPFAIL if it was killed). */
int sm_post_finish(struct sm_post *p);

#endif
