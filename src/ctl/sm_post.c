/* sm_post: running raven-postdrop (see sm_post.h). */
#include "sm_post.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "xmalloc.h"

#ifndef RAVEN_SBINDIR
#define RAVEN_SBINDIR "/usr/local/sbin"
#endif

char *sm_post_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			char *p = xasprintf("%s/raven-postdrop", self);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(RAVEN_SBINDIR "/raven-postdrop");
}

int sm_post_start(struct sm_post *p, const char *path, const char *data_dir)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		fprintf(stderr, "raven-sendmail: pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid == -1) {
		fprintf(stderr, "raven-sendmail: fork: %s\n", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (p->pid == 0) {
		char *const argv[] = {"raven-postdrop", (char *)data_dir, NULL};
		char *const envp[] = {NULL};
		if (dup2(pfd[0], 0) == -1)
			_exit(EX_OSERR);
		execve(path, argv, envp);
		fprintf(stderr, "raven-sendmail: cannot run %s: %s\n", path, strerror(errno));
		_exit(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR);
	}
	close(pfd[0]);
	p->fd = pfd[1];
	return 0;
}

int sm_post_write(struct sm_post *p, const void *data, size_t n)
{
	return p->fd == -1 || fd_write_all(p->fd, data, n) == -1 ? -1 : 0;
}

int sm_post_finish(struct sm_post *p)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	int st;
	while (waitpid(p->pid, &st, 0) == -1)
		if (errno != EINTR)
			return EX_OSERR;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "raven-sendmail: raven-postdrop was killed by signal %d\n", WTERMSIG(st));
	return EX_TEMPFAIL;
}
