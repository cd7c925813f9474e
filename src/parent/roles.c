/* roles: fork, restart and stop the role processes (see roles.h). */
#include "roles.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "connector.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "reload.h"
#include "role_table.h"
#include "xmalloc.h"

/* A role that dies this soon after its start is restarted after a pause,
 * so a role that cannot start does not spin. */
#define ROLE_QUICK_DEATH   2
#define ROLE_RESTART_PAUSE 1

struct role {
	const struct role_desc *desc;
	unsigned instance; /* which of the row's processes (smtp: limits smtp-processes) */
	pid_t pid;
	time_t started;
	uint64_t starts; /* for the queue's metrics (ROLE_STARTS) */
	struct event *restart;
	struct ipc *svc; /* ROLE_PARENT: the role's service channel */
	struct supervisor *sv;
};

/* A role instance replaced by a reload, finishing its work before it exits:
 * reaped without being restarted. */
struct retired {
	pid_t pid;
	const struct role_desc *desc;
	struct ipc *svc; /* its service channel, if it has one */
};

struct supervisor {
	struct parent *p;
	struct retired *retired;
	size_t n_retired;
	unsigned reloads;   /* reloads applied so far */
	struct role *roles; /* one per process: the rows of role_table in order, with
	                     * smtp's processes side by side */
	size_t n_roles;
	struct ipc *queue; /* parent's channel to the queue role */
	struct event *sigchld, *sigterm, *sigint, *sighup;
	int stopping;
	int failed;     /* a role could not start: ravend exits 1 */
	time_t started; /* ravend's start, for the metrics */
};

static int roles_reload(struct supervisor *sv, char *err, size_t errlen);
static int retired_reaped(struct supervisor *sv, pid_t pid, int status);

/* ravenctl reload, relayed by the queue (which serves the control socket):
 * the answer goes back with the queue's request number. */
static void reload_requested(struct supervisor *sv, const struct ipc_msg *m)
{
	uint64_t req;
	if (proto_decode_req(m->data, m->len, &req) == -1) {
		log_warn("event=bad-frame from=queue type=%u len=%zu", m->type, m->len);
		return;
	}
	char err[512] = "";
	int rc = roles_reload(sv, err, sizeof(err));
	struct buf b;
	buf_init(&b, 0);
	proto_encode_fail(&b, req, rc == 0 ? 0 : EINVAL, rc == 0 ? "" : err);
	if (sv->queue)
		ipc_send(sv->queue, PROTO_RELOAD_RES, b.data, b.len, -1);
	buf_free(&b);
}

static void queue_channel_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	(void)ch;
	if (m->type == PROTO_RELOAD_REQ && m->fd == -1)
		reload_requested(arg, m);
	else
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

/*
 * In the child, before the exec: put each descriptor the role needs at
 * the number its arguments name — 3 the channel, then the others in turn
 * — and close every other one, so no role holds another's channel or the
 * parent's event loop. Sources are first moved above every target so that
 * placing one never overwrites another.
 */
struct fd_plan {
	int src[8 + 256];
	size_t n;
};

static int plan_add(struct fd_plan *pl, int fd)
{
	if (pl->n == sizeof(pl->src) / sizeof(pl->src[0]))
		fatal("role: too many descriptors to hand over");
	pl->src[pl->n] = fd;
	return 3 + (int)pl->n++;
}

/* Returns where the program to execute now is (close-on-exec). */
static int plan_apply(struct fd_plan *pl, int exe_fd)
{
	int floor = 3 + (int)pl->n;
	for (size_t i = 0; i < pl->n; i++) {
		pl->src[i] = fcntl(pl->src[i], F_DUPFD, floor + 1);
		if (pl->src[i] == -1)
			_exit(111);
	}
	int exe = dup3(exe_fd, floor, O_CLOEXEC);
	if (exe == -1)
		_exit(111);
	for (size_t i = 0; i < pl->n; i++)
		if (dup2(pl->src[i], 3 + (int)i) == -1)
			_exit(111);
	close_range((unsigned)floor + 1, ~0U, 0);
	return exe;
}

/* Runs in the forked child: execute ravend afresh as the role. */
static void role_child(struct supervisor *sv, const struct role *r, int sock, int svc, pid_t parent)
{
	struct parent *p = sv->p;
	const struct role_desc *d = r->desc;
	struct fd_plan pl = {.n = 0};
	char *argv[16 + 2 * 8 + 2 * 256];
	size_t n = 0;
	char buf[64][24];
	size_t nb = 0;
#define NUM(v) (snprintf(buf[nb], sizeof(buf[nb]), "%d", (int)(v)), buf[nb++])
	char name[32];
	snprintf(name, sizeof(name), "raven-%s", d->name);
	argv[n++] = name;
	argv[n++] = "-R";
	argv[n++] = (char *)d->name;
	argv[n++] = "-P";
	argv[n++] = NUM(parent);
	plan_add(&pl, sock);
	if (p->conf_fd != -1) {
		argv[n++] = "-C";
		argv[n++] = NUM(plan_add(&pl, p->conf_fd));
		argv[n++] = "-N";
		argv[n++] = p->conf->file;
	}
	if (log_target_fd() != -1) {
		argv[n++] = "-l";
		argv[n++] = NUM(plan_add(&pl, log_target_fd()));
		if (log_target_is_syslog())
			argv[n++] = "-s";
	}
	if (d->sockets & ROLE_CONTROL) {
		argv[n++] = "-K";
		argv[n++] = NUM(plan_add(&pl, p->control_fd));
	}
	if (d->sockets & ROLE_METRICS) {
		for (size_t i = 0; i < p->n_metrics && i < 8; i++) {
			argv[n++] = "-M";
			argv[n++] = NUM(plan_add(&pl, p->metrics_fd[i]));
		}
	}
	char(*lbuf)[24] = xcalloc(p->n_listen + 1, sizeof(*lbuf));
	if (d->sockets & ROLE_LISTENERS) {
		for (size_t i = 0; i < p->n_listen && i < 256; i++) {
			if (p->listen[i].worker != r->instance)
				continue; /* another smtp process's socket of the group */
			int fd = plan_add(&pl, p->listen[i].fd);
			size_t idx = (size_t)(p->listen[i].l - p->conf->listeners);
			snprintf(lbuf[i], sizeof(lbuf[i]), "%d:%zu", fd, idx);
			argv[n++] = "-L";
			argv[n++] = lbuf[i];
		}
	}
	if (svc != -1) {
		argv[n++] = "-S";
		argv[n++] = NUM(plan_add(&pl, svc));
	}
	if (p->verbose)
		argv[n++] = "-v";
	argv[n] = NULL;
#undef NUM
	int exe = plan_apply(&pl, p->exe_fd);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fexecve(exe, argv, environ);
	_exit(111);
}

static void hand_to_queue(struct supervisor *sv, const struct role_desc *d, int fd)
{
	struct buf b;
	buf_init(&b, 0);
	proto_encode_peer(&b, d->peer);
	if (ipc_send(sv->queue, PROTO_NEW_PEER, b.data, b.len, fd) == -1)
		log_warn("event=peer-handover-failed role=%s errno=%d", d->name, errno);
	buf_free(&b);
}

/* A channel closed on a bad frame is freed once its callbacks are over. */
static void svc_free_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ipc_free(arg);
}

static void svc_drop(struct role *r)
{
	if (r->svc == NULL)
		return;
	event_base_once(r->sv->p->base, -1, EV_TIMEOUT, svc_free_later, r->svc, NULL);
	r->svc = NULL;
}

static void svc_msg(struct ipc *ch, const struct ipc_msg *m, void *arg)
{
	struct role *r = arg;
	if (connector_msg(r->sv->p->conf, &r->sv->p->priv, ch, m) == -1) {
		/* That role alone is cut off: seeing its channel close, it
		 * exits and is started again. */
		log_warn("event=role-channel-dropped role=%s", r->desc->name);
		ipc_shutdown(ch);
	}
	if (m->fd != -1)
		close(m->fd);
}

static void svc_closed(struct ipc *ch, void *arg)
{
	struct role *r = arg;
	if (r->svc == ch)
		svc_drop(r);
}

/* How often each role was started, for the queue's metrics: sent after
 * every start, so a restarted queue learns the history too. */
static void send_starts(struct supervisor *sv)
{
	struct role_starts rs = {.started = (int64_t)sv->started};
	for (size_t k = 0; k < role_count && rs.n < METRICS_ROLES_MAX; k++) {
		uint64_t starts = 0; /* of all the row's processes */
		for (size_t i = 0; i < sv->n_roles; i++)
			if (sv->roles[i].desc == &role_table[k])
				starts += sv->roles[i].starts;
		if (starts == 0)
			continue;
		snprintf(rs.role[rs.n].name, sizeof(rs.role[rs.n].name), "%s", role_table[k].name);
		rs.role[rs.n++].starts = starts;
	}
	struct buf b;
	buf_init(&b, 0);
	metrics_encode_starts(&b, &rs);
	if (sv->queue)
		ipc_send(sv->queue, PROTO_ROLE_STARTS, b.data, b.len, -1);
	buf_free(&b);
}

static void start_role(struct supervisor *sv, struct role *r)
{
	const struct role_desc *d = r->desc;
	int sp[2], svc[2] = {-1, -1};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("event=role-start-failed role=%s errno=%d", d->name, errno);
		return;
	}
	if ((d->sockets & ROLE_PARENT) &&
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, svc) == -1) {
		log_warn("event=role-start-failed role=%s errno=%d", d->name, errno);
		close(sp[0]);
		close(sp[1]);
		return;
	}
	svc_drop(r); /* the old role's, if it is still there */
	/* Whatever the parent still holds of the old queue channel goes. */
	if (d->peer == 0 && sv->queue) {
		ipc_free(sv->queue);
		sv->queue = NULL;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == -1) {
		log_warn("event=role-start-failed role=%s errno=%d", d->name, errno);
		close(sp[0]);
		close(sp[1]);
		if (svc[0] != -1) {
			close(svc[0]);
			close(svc[1]);
		}
		return;
	}
	if (pid == 0) {
		/* Everything inherited but what the role needs is closed there
		 * (plan_apply) — without event_del(), which would edit the
		 * parent's epoll set, shared across fork. */
		role_child(sv, r, sp[1], svc[1], parent);
	}
	close(sp[1]);
	if (svc[0] != -1) {
		close(svc[1]);
		struct ipc_handlers sh = {svc_msg, svc_closed, r};
		r->svc = ipc_new(sv->p->base, svc[0], &sh);
	}
	r->pid = pid;
	r->started = time(NULL);
	r->starts++;
	log_info("event=role-started role=%s pid=%d", d->name, (int)pid);
	if (d->peer == 0) {
		struct ipc_handlers h = {queue_channel_msg, queue_channel_closed, sv};
		sv->queue = ipc_new(sv->p->base, sp[0], &h);
	} else {
		hand_to_queue(sv, d, sp[0]);
		close(sp[0]);
	}
	send_starts(sv);
}

static void restart_due(struct supervisor *sv)
{
	/* Queue first: the others need it to be handed their channels. */
	for (size_t k = 0; k < sv->n_roles; k++) {
		struct role *r = &sv->roles[k];
		if (r->pid == 0 && role_wanted(r->desc, sv->p->conf, sv->p->n_metrics) &&
		    !evtimer_pending(r->restart, NULL))
			start_role(sv, r);
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
	/* Retired instances finishing their sessions are stopped too; they
	 * are not waited for: their parent's exit ends them (PDEATHSIG). */
	for (size_t i = 0; i < sv->n_retired; i++)
		kill(sv->retired[i].pid, SIGTERM);
	for (size_t k = sv->n_roles; k-- > 0;)
		if (sv->roles[k].pid > 0)
			kill(sv->roles[k].pid, SIGTERM);
	/* Bounded wait, then force. */
	for (int tries = 0; tries < 50; tries++) {
		int alive = 0;
		for (size_t k = 0; k < sv->n_roles; k++) {
			if (sv->roles[k].pid > 0 && waitpid(sv->roles[k].pid, NULL, WNOHANG) == 0)
				alive = 1;
			else
				sv->roles[k].pid = 0;
		}
		if (!alive)
			return;
		usleep(100 * 1000);
	}
	for (size_t k = 0; k < sv->n_roles; k++)
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
		if (retired_reaped(sv, pid, status))
			continue;
		for (size_t k = 0; k < sv->n_roles; k++) {
			struct role *r = &sv->roles[k];
			if (r->pid != pid)
				continue;
			r->pid = 0;
			svc_drop(r);
			if (WIFSIGNALED(status))
				log_warn("event=role-died role=%s pid=%d signal=%d", r->desc->name,
				         (int)pid, WTERMSIG(status));
			else
				log_warn("event=role-exited role=%s pid=%d status=%d",
				         r->desc->name, (int)pid, WEXITSTATUS(status));
			if (sv->stopping)
				continue;
			/* After a reload the daemon keeps going: the old
			 * configuration's processes may still be serving. */
			if (WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG &&
			    sv->reloads == 0) {
				/* It said why (logged above) and it will not fix itself:
				 * restarting it twice a second for ever serves nobody. */
				log_warn("event=role-cannot-start role=%s reason=\"see its fatal "
				         "line above\"",
				         r->desc->name);
				sv->failed = 1;
				stop_all(sv);
				event_base_loopbreak(sv->p->base);
				return;
			}
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

/* A retired instance ended: forget it (no restart). 1 if pid was one. */
static int retired_reaped(struct supervisor *sv, pid_t pid, int status)
{
	for (size_t i = 0; i < sv->n_retired; i++) {
		struct retired *t = &sv->retired[i];
		if (t->pid != pid)
			continue;
		log_info("event=role-retired role=%s pid=%d status=%d", t->desc->name, (int)pid,
		         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		if (t->svc)
			ipc_free(t->svc);
		sv->retired[i] = sv->retired[--sv->n_retired];
		return 1;
	}
	return 0;
}

/* r's instance finishes its work beside the one about to start. */
static void retire(struct supervisor *sv, struct role *r)
{
	sv->retired = xreallocarray(sv->retired, sv->n_retired + 1, sizeof(*sv->retired));
	sv->retired[sv->n_retired++] = (struct retired){r->pid, r->desc, r->svc};
	log_info("event=role-retiring role=%s pid=%d", r->desc->name, (int)r->pid);
	r->svc = NULL;
	r->pid = 0;
}

/*
 * Apply a new configuration (docs/ARCHITECTURE.md, "Reload"). Everything
 * that can fail is done by reload_prepare() before anything changes. Then
 * the queue is handed the new configuration first, so that every peer it
 * hears of after it is of the new generation, and retires the ones it has:
 * smtp stops accepting and finishes its sessions, the others get no new
 * work and are closed once idle. Roles that may run beside their
 * successor start again at once; the others (pickup, which must not take
 * the same maildrop file twice) are started again when they exit.
 */
static int roles_reload(struct supervisor *sv, char *err, size_t errlen)
{
	struct reload_next nx;
	if (sv->stopping) {
		snprintf(err, errlen, "ravend is stopping");
		return -1;
	}
	if (reload_prepare(sv->p, &nx, err, errlen) == -1)
		return -1;
	struct buf b;
	buf_init(&b, 0);
	proto_encode_req(&b, sv->reloads + 1);
	int sent = sv->queue ? ipc_send(sv->queue, PROTO_CONFIG, b.data, b.len, nx.bundle_fd) : -1;
	buf_free(&b);
	if (sent == -1) {
		reload_abort(&nx);
		snprintf(err, errlen, "the queue is not running; try again shortly");
		return -1;
	}
	reload_commit(sv->p, &nx);
	sv->reloads++;
	for (size_t k = 0; k < sv->n_roles; k++) {
		struct role *r = &sv->roles[k];
		if (r->desc->peer != 0 && r->pid > 0 && r->desc->overlap)
			retire(sv, r);
	}
	restart_due(sv);
	log_info("event=reloaded config=%s generation=%u", sv->p->conf->file, sv->reloads);
	return 0;
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	char err[512], esc[1024];
	if (roles_reload(arg, err, sizeof(err)) == -1)
		log_warn("event=reload-refused reason=\"%s\"",
		         log_escape(esc, sizeof(esc), err, strlen(err)));
}

int roles_run(struct parent *p)
{
	struct supervisor sv;
	memset(&sv, 0, sizeof(sv));
	sv.p = p;
	sv.started = time(NULL);
	signal(SIGPIPE, SIG_IGN);
	size_t max = role_count + p->conf->limits.smtp_processes;
	sv.roles = xcalloc(max, sizeof(*sv.roles));
	for (size_t k = 0; k < role_count; k++) {
		unsigned n = role_table[k].sockets & ROLE_LISTENERS
		                 ? (unsigned)p->conf->limits.smtp_processes
		                 : 1;
		for (unsigned i = 0; i < n && sv.n_roles < max; i++) {
			struct role *r = &sv.roles[sv.n_roles++];
			r->desc = &role_table[k];
			r->instance = i;
			r->sv = &sv;
			r->restart = evtimer_new(p->base, restart_timer_cb, &sv);
		}
	}
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
	for (size_t k = 0; k < sv.n_roles; k++) {
		event_free(sv.roles[k].restart);
		if (sv.roles[k].svc)
			ipc_free(sv.roles[k].svc);
	}
	for (size_t i = 0; i < sv.n_retired; i++)
		if (sv.retired[i].svc)
			ipc_free(sv.retired[i].svc);
	free(sv.retired);
	free(sv.roles);
	return sv.failed ? 1 : 0;
}
