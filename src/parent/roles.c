/* roles: fork, restart and stop the role processes (see roles.h). */
#include "roles.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "local_role.h"
#include "log.h"
#include "proto.h"
#include "queue_role.h"
#include "xmalloc.h"

/* A role that dies this soon after its start is restarted after a pause,
 * so a role that cannot start does not spin. */
#define ROLE_QUICK_DEATH   2
#define ROLE_RESTART_PAUSE 1

static const char *const role_names[ROLE_COUNT] = {"queue", "local", "smtp"};

struct role {
	pid_t pid;
	time_t started;
	struct event *restart;
};

struct supervisor {
	struct parent *p;
	struct role roles[ROLE_COUNT];
	struct ipc *queue; /* parent's channel to the queue role */
	struct event *sigchld, *sigterm, *sigint, *sighup;
	int stopping;
};

static void start_role(struct supervisor *sv, enum role_kind kind);

static void queue_channel_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	log_warn("event=unexpected-message from=queue type=%u", m->type);
	if (m->fd != -1)
		close(m->fd);
}

static void queue_channel_closed(struct ipc *ch, void *arg)
{
	(void)ch;
	(void)arg;
	/* SIGCHLD follows; the restart happens there. */
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/*
 * Close every descriptor but stdio and keep[]: a role must not inherit
 * the parent's other channels (a frame the parent has not written yet may
 * hold another role's socket) nor its event loop's internals.
 */
static void close_other_fds(int *keep, size_t n)
{
	qsort(keep, n, sizeof(*keep), cmp_int);
	unsigned lo = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)lo)
			continue;
		if ((unsigned)keep[i] > lo)
			close_range(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	close_range(lo, ~0U, 0);
}

/* Runs in the child: become the role and never return. */
static void role_child(struct supervisor *sv, enum role_kind kind, int sock)
{
	struct parent *p = sv->p;
	int *keep = xcalloc(p->n_listen + 2, sizeof(*keep));
	size_t n_keep = 0;
	keep[n_keep++] = sock;
	if (log_target_fd() != -1)
		keep[n_keep++] = log_target_fd(); /* a log file or syslog socket */
	if (kind == ROLE_SMTP)
		for (size_t i = 0; i < p->n_listen; i++)
			keep[n_keep++] = p->listen[i].fd;
	close_other_fds(keep, n_keep);
	free(keep);
	char name[16];
	snprintf(name, sizeof(name), "raven-%s", role_names[kind]);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	log_init(role_names[kind], p->verbose);
	/* The network-facing role needs no file at all once started: jail it
	 * in an empty directory (root-owned, so it cannot fill it either). */
	if (kind == ROLE_SMTP && p->priv.root) {
		char *empty = xasprintf("%s/empty", p->conf->data_dir);
		if (chroot(empty) == -1 || chdir("/") == -1)
			fatalx("cannot chroot to %s", empty);
		free(empty);
	}
	if (kind != ROLE_LOCAL)
		privsep_drop(&p->priv);
	struct event_base *base = event_base_new();
	if (base == NULL)
		fatal("event_base_new failed");
	switch (kind) {
	case ROLE_QUEUE:
		queue_role_main(p->conf, base, sock);
		break;
	case ROLE_LOCAL:
		local_role_main(p->conf, base, sock);
		break;
	case ROLE_SMTP:
		smtp_role_main(p->conf, base, sock, p->listen, p->n_listen);
		break;
	default:
		break;
	}
	exit(1);
}

static void hand_to_queue(struct supervisor *sv, enum role_kind kind, int fd)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_peer(&b, kind == ROLE_SMTP ? PEER_SMTP : PEER_LOCAL);
	ipc_send(sv->queue, PROTO_NEW_PEER, b.data, b.len, fd);
	buf_free(&b);
}

static void start_role(struct supervisor *sv, enum role_kind kind)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		fatalx("socketpair");
	/* Whatever the parent still holds of the old queue channel goes. */
	if (kind == ROLE_QUEUE && sv->queue) {
		ipc_free(sv->queue);
		sv->queue = NULL;
	}
	pid_t pid = fork();
	if (pid == -1)
		fatalx("fork");
	if (pid == 0) {
		/* Everything inherited but the role's own socket is closed there
		 * (close_other_fds) — without event_del(), which would edit the
		 * parent's epoll set, shared across fork. */
		role_child(sv, kind, sp[1]);
	}
	close(sp[1]);
	sv->roles[kind].pid = pid;
	sv->roles[kind].started = time(NULL);
	log_info("event=role-started role=%s pid=%d", role_names[kind], (int)pid);
	if (kind == ROLE_QUEUE) {
		struct ipc_handlers h = {queue_channel_msg, queue_channel_closed, sv};
		sv->queue = ipc_new(sv->p->base, sp[0], &h);
	} else {
		hand_to_queue(sv, kind, sp[0]);
		close(sp[0]);
	}
}

static void restart_due(struct supervisor *sv)
{
	/* Queue first: the others need it to be handed their channels. */
	for (int k = 0; k < ROLE_COUNT; k++) {
		struct role *r = &sv->roles[k];
		if (r->pid == 0 && !evtimer_pending(r->restart, NULL))
			start_role(sv, (enum role_kind)k);
	}
}

static void restart_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	restart_due(arg);
}

static void stop_all(struct supervisor *sv)
{
	sv->stopping = 1;
	for (int k = ROLE_COUNT - 1; k >= 0; k--)
		if (sv->roles[k].pid > 0)
			kill(sv->roles[k].pid, SIGTERM);
	/* Bounded wait, then force. */
	for (int tries = 0; tries < 50; tries++) {
		int alive = 0;
		for (int k = 0; k < ROLE_COUNT; k++) {
			if (sv->roles[k].pid > 0 && waitpid(sv->roles[k].pid, NULL, WNOHANG) == 0)
				alive = 1;
			else
				sv->roles[k].pid = 0;
		}
		if (!alive)
			return;
		usleep(100 * 1000);
	}
	for (int k = 0; k < ROLE_COUNT; k++)
		if (sv->roles[k].pid > 0) {
			kill(sv->roles[k].pid, SIGKILL);
			waitpid(sv->roles[k].pid, NULL, 0);
		}
}

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sv = arg;
	(void)sig;
	(void)what;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int k = 0; k < ROLE_COUNT; k++) {
			struct role *r = &sv->roles[k];
			if (r->pid != pid)
				continue;
			r->pid = 0;
			if (WIFSIGNALED(status))
				log_warn("event=role-died role=%s pid=%d signal=%d", role_names[k],
				         (int)pid, WTERMSIG(status));
			else
				log_warn("event=role-exited role=%s pid=%d status=%d",
				         role_names[k], (int)pid, WEXITSTATUS(status));
			if (sv->stopping)
				continue;
			if (time(NULL) - r->started < ROLE_QUICK_DEATH) {
				struct timeval tv = {ROLE_RESTART_PAUSE, 0};
				evtimer_add(r->restart, &tv);
			}
		}
	}
	if (!sv->stopping)
		restart_due(sv);
}

static void sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sv = arg;
	(void)what;
	log_info("event=shutdown signal=%d", (int)sig);
	stop_all(sv);
	event_base_loopbreak(sv->p->base);
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_info("event=sighup action=ignored reason=\"reload is not supported yet\"");
}

int roles_run(struct parent *p)
{
	struct supervisor sv;
	memset(&sv, 0, sizeof(sv));
	sv.p = p;
	signal(SIGPIPE, SIG_IGN);
	for (int k = 0; k < ROLE_COUNT; k++)
		sv.roles[k].restart = evtimer_new(p->base, restart_timer_cb, &sv);
	sv.sigchld = evsignal_new(p->base, SIGCHLD, sigchld_cb, &sv);
	sv.sigterm = evsignal_new(p->base, SIGTERM, sigterm_cb, &sv);
	sv.sigint = evsignal_new(p->base, SIGINT, sigterm_cb, &sv);
	sv.sighup = evsignal_new(p->base, SIGHUP, sighup_cb, &sv);
	event_add(sv.sigchld, NULL);
	event_add(sv.sigterm, NULL);
	event_add(sv.sigint, NULL);
	event_add(sv.sighup, NULL);
	restart_due(&sv);
	event_base_dispatch(p->base);
	if (sv.queue)
		ipc_free(sv.queue);
	return 0;
}
