/*
 * startup_check: what `ravend -n` and the start of the daemon check beyond
 * the configuration's syntax — things that would otherwise fail at run
 * time, over and over: a data directory the daemon's user cannot reach, a
 * connection limit the descriptor limit cannot serve, a Maildir base the
 * mailbox owner cannot write (a warning: it may be created later).
 */
#include "startup_check.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

/*
 * The first directory on path (each existing prefix, from "/") that the
 * current ids cannot search, into bad; "" if there is none. Components
 * that do not exist yet end the walk: the parent creates them.
 */
static void first_unsearchable(const char *path, int want_write, char *bad, size_t badlen)
{
	bad[0] = '\0';
	char *p = xstrdup(path);
	size_t n = strlen(p);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char c = p[i];
		p[i] = '\0';
		struct stat st;
		if (stat(p, &st) == -1) {
			p[i] = c;
			break; /* not there yet */
		}
		int last = c == '\0';
		if (S_ISDIR(st.st_mode) &&
		    access(p, X_OK | (last && want_write ? W_OK : 0)) == -1) {
			snprintf(bad, badlen, "%s", p);
			break;
		}
		p[i] = c;
	}
	free(p);
}

/* The same as uid/gid: in a child that takes on those ids (as root). */
static void unsearchable_as(const struct privsep *ps, uid_t uid, gid_t gid, const char *path,
                            int want_write, char *bad, size_t badlen)
{
	if (!ps->root) {
		first_unsearchable(path, want_write, bad, badlen);
		return;
	}
	int fds[2];
	bad[0] = '\0';
	if (pipe(fds) == -1)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		char out[512];
		if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			_exit(1);
		first_unsearchable(path, want_write, out, sizeof(out));
		ssize_t w = write(fds[1], out, strlen(out));
		_exit(w < 0 ? 1 : 0);
	}
	close(fds[1]);
	if (pid > 0) {
		ssize_t r = read(fds[0], bad, badlen - 1);
		bad[r > 0 ? r : 0] = '\0';
		waitpid(pid, NULL, 0);
	}
	close(fds[0]);
}

int startup_check_data_dir(const struct privsep *ps, const struct config *c, char *err,
                           size_t errlen)
{
	char bad[512];
	unsearchable_as(ps, ps->user.uid, ps->user.gid, c->data_dir, 0, bad, sizeof(bad));
	if (bad[0] == '\0')
		return 0;
	err_set(err, errlen,
	        "data directory %s cannot be reached by user %s: %s is not searchable (mailboxes "
	        "under it and the ravenctl socket would fail); choose another `data` or open "
	        "the way",
	        c->data_dir, ps->user.name, bad);
	return -1;
}

size_t startup_fds_needed(const struct config *c)
{
	/* A session holds its socket and, in DATA, a spool file (the queue
	 * holds one more for it, whichever smtp process has the session);
	 * spares, channels, the log, libraries. */
	return c->limits.connections + 2 * conf_connections_each(c) + 256;
}

int startup_check_fd_limit(const struct config *c, char *err, size_t errlen)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_max == RLIM_INFINITY)
		return 0;
	/* Holding the connections at all is the minimum; beyond it, a session
	 * in DATA that finds no descriptor for its spool file gets 451 and
	 * tries again, nobody else is hurt. */
	size_t need = conf_connections_each(c) + 256;
	if (rl.rlim_max >= need)
		return 0;
	char over[64] = "";
	if (c->limits.smtp_processes > 1)
		snprintf(over, sizeof(over), " over smtp-processes %zu", c->limits.smtp_processes);
	err_set(err, errlen,
	        "limits connections %zu%s needs at least %zu descriptors but the limit is %llu: "
	        "raise it (ulimit -Hn, or LimitNOFILE= in the service unit), lower connections "
	        "or raise smtp-processes",
	        c->limits.connections, over, need, (unsigned long long)rl.rlim_max);
	return -1;
}

int startup_raise_fd_limit(const struct config *c)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	rlim_t need = (rlim_t)startup_fds_needed(c);
	/* What the connection limit needs, or all that is allowed. */
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* The part of a Maildir template before its first %{...}, up to a '/'. */
static char *fixed_base(const char *tmpl)
{
	const char *pct = strstr(tmpl, "%{");
	size_t n = pct ? (size_t)(pct - tmpl) : strlen(tmpl);
	while (n > 1 && tmpl[n - 1] != '/')
		n--;
	if (n > 1 && tmpl[n - 1] == '/')
		n--;
	return xstrndup(tmpl, n);
}

void startup_warn_mailboxes(const struct privsep *ps, const struct config *c,
                            void (*warn)(const char *text, void *arg), void *arg)
{
	for (size_t i = 0; i < c->n_actions; i++) {
		const struct action *a = c->actions[i];
		if (a->kind != ACTION_MAILDIR || a->path == NULL || a->owner_is_user)
			continue;
		const char *owner = a->owner ? a->owner : ps->user.name;
		uid_t uid = ps->user.uid;
		gid_t gid = ps->user.gid;
		if (a->owner && ps->root) {
			struct passwd *pw = getpwnam(a->owner);
			if (pw == NULL)
				continue; /* privsep_init reports a missing owner */
			uid = pw->pw_uid;
			gid = pw->pw_gid;
		}
		char *base = fixed_base(a->path);
		char bad[512];
		unsearchable_as(ps, uid, gid, base, 1, bad, sizeof(bad));
		if (bad[0] != '\0') {
			char *text = xasprintf(
			    "action \"%s\": %s is not writable by its mailbox owner %s (%s is in "
			    "the "
			    "way): deliveries will be deferred with \"Permission denied\"; give %s "
			    "to %s or choose another base (e.g. /var/vmail/%%{user})",
			    a->name, base, owner, bad, base, owner);
			warn(text, arg);
			free(text);
		}
		free(base);
	}
}
