/*
 * ravend: the parent process. Reads the configuration (or the built-in
 * default), prepares the data directory, binds the listening sockets while
 * it may still be root, then forks and supervises the roles (roles.c).
 *
 *   ravend [-c FILE] [-d] [-n] [-v] | -h | -V
 *
 * Under systemd (Type=notify) it reports readiness once its listening
 * sockets are open (sd_notify, when built with libsystemd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "confine.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "parent_fds.h"
#include "role_exec.h"
#include "roles.h"
#include "server.h"
#include "lookup_db.h"
#include "startup_check.h"
#include "util.h"
#include "version.h"
#include "xmalloc.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ravend [-c FILE] [-d] [-n] [-v]\n"
	           "       ravend -h | -V\n");
	if (f == stdout) {
		fprintf(f,
		        "  -c FILE  configuration file (raven.conf(5)); without it, the built-in "
		        "default\n"
		        "  -d       stay in the foreground, log to standard error\n"
		        "  -n       check the configuration and exit\n"
		        "  -v       verbose: log every command and reply\n"
		        "  -h       this help\n"
		        "  -V       version and the libraries of this build\n");
		exit(0);
	}
	exit(2);
}

static void bind_listeners(struct parent *p)
{
	const struct config *c = p->conf;
	unsigned w = (unsigned)c->limits.smtp_processes;
	p->listen = xcalloc(c->n_listeners * w + 1, sizeof(*p->listen));
	int *fds = xcalloc(w, sizeof(*fds));
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct listener *l = &c->listeners[i];
		if (parent_listen_group(l, w, fds) == -1) {
			/* A host without IPv6 still serves the built-in default on IPv4. */
			if ((errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT) && c->file == NULL) {
				log_warn("event=listen-skipped addr=%s port=%u error=\"%s\"",
				         l->addr, l->port, strerror(errno));
				continue;
			}
			fatalx("cannot listen on [%s]:%u", l->addr, l->port);
		}
		log_info("event=listening addr=%s port=%u submission=%d processes=%u", l->addr,
		         l->port, l->submission, w);
		for (unsigned k = 0; k < w; k++)
			p->listen[p->n_listen++] = (struct listen_fd){fds[k], l, k};
	}
	free(fds);
	if (p->n_listen == 0)
		fatal("no listening socket could be opened");
}

/* The metrics endpoint's listeners (raven.conf(5) "metrics listen"), for
 * the raven-metrics role; none, and that role does not run. */
static void bind_metrics(struct parent *p)
{
	const struct config *c = p->conf;
	p->metrics_fd = xcalloc(c->n_metrics_listeners + 1, sizeof(*p->metrics_fd));
	for (size_t i = 0; i < c->n_metrics_listeners; i++) {
		const struct listener *l = &c->metrics_listeners[i];
		int fd = parent_listen_on(l);
		if (fd == -1)
			fatalx("cannot listen on [%s]:%u (metrics)", l->addr, l->port);
		log_info("event=listening addr=%s port=%u metrics=1", l->addr, l->port);
		p->metrics_fd[p->n_metrics++] = fd;
	}
}

/*
 * The maildrop: where raven-postdrop (setgid DROP_GROUP) leaves what local
 * users submit and the pickup role (user) takes it. Sticky, so a submitter
 * cannot remove another's file; nothing for others. Without the group
 * (scripts/deps.sh makes it), only root and user can submit.
 */
#define DROP_GROUP "raven-drop"

static void make_maildrop(struct parent *p, int dfd)
{
	const char *d = p->conf->data_dir;
	int fd = privsep_mkdir_at(&p->priv, dfd, "maildrop", 01770, 1);
	if (fd == -1)
		fatalx("cannot create %s/maildrop", d);
	if (p->priv.root) {
		struct group *g = getgrnam(DROP_GROUP);
		if (g == NULL)
			log_warn("event=no-drop-group group=" DROP_GROUP
			         " reason=\"only root and %s can submit with raven-sendmail\"",
			         p->priv.user.name);
		else if (fchown(fd, (uid_t)-1, g->gr_gid) == -1 || fchmod(fd, 01770) == -1)
			fatalx("cannot give %s/maildrop to group " DROP_GROUP, d);
	}
	int cfd = privsep_mkdir_at(&p->priv, fd, "corrupt", 0700, 1);
	if (cfd == -1)
		fatalx("cannot create %s/maildrop/corrupt", d);
	close(cfd);
	close(fd);
}

/*
 * The data directory belongs to root (when started as root), its queue/,
 * mail/, run/ and maildrop/ to the unprivileged user: a role can change what is inside
 * its own directories, never swap one of them for a symlink. empty/ stays
 * root's and empty: the smtp role's root directory.
 */
static void make_dirs(struct parent *p)
{
	static const struct {
		const char *name;
		mode_t mode;
		int for_user;
	} subdirs[] = {{"queue", 0700, 1}, {"mail", 0755, 1}, {"run", 0755, 1}, {"empty", 0755, 0}};
	const char *d = p->conf->data_dir;
	int dfd = privsep_mkdir_at(&p->priv, AT_FDCWD, d, 0755, 0);
	if (dfd == -1)
		fatalx("cannot create data directory %s", d);
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		int fd = privsep_mkdir_at(&p->priv, dfd, subdirs[i].name, subdirs[i].mode,
		                          subdirs[i].for_user);
		if (fd == -1)
			fatalx("cannot create %s/%s", d, subdirs[i].name);
		if (strcmp(subdirs[i].name, "run") == 0)
			p->run_fd = fd;
		else
			close(fd);
	}
	make_maildrop(p, dfd);
	close(dfd);
}

/*
 * One instance per data directory, for the daemon's whole life: a second
 * one would recover (delete) the first one's uncommitted files under it
 * and take over its pid file and control socket. The lock file is in the
 * root-owned data directory, where no role can swap it; the kernel drops
 * the lock when the holder dies, however it dies.
 */
static void lock_data_dir(struct parent *p)
{
	char *path = xasprintf("%s/ravend.lock", p->conf->data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1)
		fatalx("cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			fatalx("cannot lock %s", path);
		char pid[32] = "?";
		int pf = openat(p->run_fd, "ravend.pid", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (pf != -1) {
			ssize_t n = read(pf, pid, sizeof(pid) - 1);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			close(pf);
		}
		fprintf(stderr,
		        "ravend: data directory %s is in use by another ravend (pid %s); one "
		        "instance per data directory\n",
		        p->conf->data_dir, pid[0] ? pid : "?");
		exit(1);
	}
	p->lock_fd = fd;
	free(path);
}

static void write_pidfile(struct parent *p)
{
	p->pidfile = xasprintf("%s/run/ravend.pid", p->conf->data_dir);
	/* run/ belongs to the unprivileged user: never follow a link there. */
	int fd = openat(p->run_fd, "ravend.pid",
	                O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1)
		fatalx("cannot write %s", p->pidfile);
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (fd_write_all(fd, line, (size_t)n) == -1)
		fatalx("cannot write %s", p->pidfile);
	close(fd);
}

/*
 * Open where the log goes (raven.conf(5) "log"). Without the statement:
 * stderr in the foreground; detached, syslog when /dev/log answers (else
 * stderr, as before). An explicit target that cannot be opened is an error.
 * Opened before privileges are dropped and the smtp role is jailed; every
 * role inherits the descriptor.
 */
static int open_log(const struct config *c, int foreground, char *err, size_t errlen)
{
	enum log_target t = c->log_to;
	int soft = t == LOG_TO_DEFAULT;
	if (soft)
		t = foreground ? LOG_TO_STDERR : LOG_TO_SYSLOG;
	if (t == LOG_TO_STDERR)
		return 0;
	if (t == LOG_TO_FILE) {
		int fd = open(c->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1) {
			snprintf(err, errlen, "log file %s: %s", c->log_path, strerror(errno));
			return -1;
		}
		log_set_target(fd, 0);
		return 0;
	}
	const char *path = c->log_path ? c->log_path : "/dev/log";
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = -1;
	if (strlen(path) < sizeof(addr.sun_path)) {
		memcpy(addr.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1) {
			int e = errno;
			close(fd);
			fd = -1;
			errno = e;
		}
	} else {
		errno = ENAMETOOLONG;
	}
	if (fd == -1) {
		if (soft)
			return 0;
		snprintf(err, errlen, "log syslog %s: %s", path, strerror(errno));
		return -1;
	}
	/* A syslogd that stops reading must not stall every session: a line
	 * waits for room at most this long, then goes to stderr. */
	struct timeval tv = {0, 100000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	log_set_target(fd, 1);
	return 0;
}

static void daemonize(void)
{
	pid_t pid = fork();
	if (pid == -1)
		fatalx("fork");
	if (pid > 0)
		exit(0);
	setsid();
	int fd = open("/dev/null", O_RDWR);
	if (fd != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/*
 * The ravenctl socket, made by the parent so that the queue role needs no
 * path to it (it runs chrooted into the spool): owned by the queue's user,
 * mode 0660, in run/ (which the parent opened without following links).
 */
static void open_control(struct parent *p)
{
	char err[256];
	char *path = xasprintf("%s/run/ravenctl.sock", p->conf->data_dir);
	p->control_fd = control_listen(path, err, sizeof(err));
	if (p->control_fd == -1)
		fatal("cannot open the control socket: %s", err);
	if (p->priv.root && fchownat(p->run_fd, "ravenctl.sock", p->priv.user.uid, p->priv.user.gid,
	                             AT_SYMLINK_NOFOLLOW) == -1)
		fatalx("cannot give %s to %s", path, p->conf->user);
	free(path);
}

static void warn_stderr(const char *text, void *arg)
{
	(void)arg;
	fprintf(stderr, "ravend: warning: %s\n", text);
}

static void warn_log(const char *text, void *arg)
{
	(void)arg;
	char esc[1024];
	log_warn("event=config-warning text=\"%s\"",
	         log_escape(esc, sizeof(esc), text, strlen(text)));
}

/*
 * Tell systemd (Type=notify) that the service is up: the listening sockets
 * are open, so a client that connects from now on is queued by the kernel
 * and served as soon as the smtp role runs. NOTIFY_SOCKET is removed from the
 * environment so that the roles, executed afresh, do not inherit it. A
 * no-op outside systemd and in a build without libsystemd.
 */
static void notify_ready(const struct parent *p)
{
#ifdef HAVE_LIBSYSTEMD
	int rc = sd_notifyf(1, "READY=1\nSTATUS=listening on %zu socket(s)", p->n_listen);
	if (rc < 0)
		log_warn("event=notify-failed error=\"%s\"", strerror(-rc));
	else if (rc > 0)
		log_info("event=ready notified=systemd");
#else
	(void)p;
#endif
}

/* ravend -n: each SQL table's query asked of its database (prepared, not
 * run). A query the database refuses is an error; a database that cannot
 * be reached now, a warning (mail gets 451 until it is back). */
static int check_sql_tables(const struct config *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->n_tables; i++) {
		const struct table *t = c->tables[i];
		char err[512];
		if (table_kind(t) == TABLE_MEMORY)
			continue;
		int r = lookup_db_check(t, err, sizeof(err));
		if (r == -1) {
			fprintf(stderr, "ravend: table %s: the query is refused: %s\n",
			        table_name(t), err);
			rc = -1;
		} else if (r == 1) {
			fprintf(
			    stderr,
			    "ravend: warning: table %s: the database cannot be reached now (%s); "
			    "its lookups will answer 451 4.3.0 until it can\n",
			    table_name(t), err);
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-R") == 0)
		role_exec_main(argc, argv); /* a role the parent started */
	const char *file = NULL;
	int foreground = 0, check = 0, verbose = 0, ch;
	while ((ch = getopt(argc, argv, "c:dhnvV")) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'V':
			version_print(stdout, "ravend");
			return 0;
		default:
			usage(stderr);
		}
	}
	if (optind != argc)
		usage(stderr);
	log_init("parent", verbose);

	char err[512];
	size_t conf_len = 0;
	char *conf_text =
	    file ? file_read_bounded(file, CONF_MAX_TEXT, &conf_len, err, sizeof(err)) : NULL;
	struct config *conf = NULL;
	if (file == NULL)
		conf = conf_default();
	else if (conf_text != NULL)
		conf = conf_parse_string(file, conf_text, conf_len, err, sizeof(err));
	if (conf == NULL || conf_finish(conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "ravend: %s\n", err);
		return 1;
	}
	if (check && check_sql_tables(conf) == -1)
		return 1;
	conf_wipe_secrets(conf, 0); /* only the auth role keeps password hashes */
	struct parent p;
	memset(&p, 0, sizeof(p));
	p.conf = conf;
	p.verbose = verbose;
	p.conf_fd = p.control_fd = -1;
	if (privsep_init(&p.priv, conf, err, sizeof(err)) == -1 ||
	    startup_check_data_dir(&p.priv, conf, err, sizeof(err)) == -1 ||
	    startup_check_fd_limit(conf, err, sizeof(err)) == -1 ||
	    smtp_tls_check(conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "ravend: %s\n", err);
		return 1;
	}
	startup_warn_mailboxes(&p.priv, conf, check ? warn_stderr : warn_log, NULL);
	if (check) {
		fprintf(stderr, "ravend: configuration %s is valid\n", file ? file : "(built-in)");
		return 0;
	}
	if (open_log(conf, foreground, err, sizeof(err)) == -1) {
		fprintf(stderr, "ravend: %s\n", err);
		return 1;
	}
	/* Every session, spool file in flight and queued fd needs a descriptor:
	 * take what the connection limit needs (roles inherit it). */
	if (startup_raise_fd_limit(conf) == -1)
		log_warn("event=fd-limit-not-raised errno=%d", errno);
	umask(077);
	/* Each role is this program executed afresh (an address-space layout
	 * of its own); the descriptor keeps it reachable whatever happens to
	 * the path. */
	p.exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (p.exe_fd == -1)
		fatalx("cannot open /proc/self/exe to start the roles");
	/* The configuration text, for the roles to parse exactly what we did. */
	if (conf_text != NULL &&
	    (p.conf_fd = parent_memfd("raven.conf", conf_text, conf_len)) == -1)
		fatalx("cannot hand the configuration to the roles");
	free(conf_text);
	confine_undumpable();
	make_dirs(&p);
	lock_data_dir(&p);
	open_control(&p);
	bind_listeners(&p);
	bind_metrics(&p);
	if (!foreground) {
		daemonize();
		log_init("parent", verbose); /* a new pid */
	}
	write_pidfile(&p);
	log_info("event=start version=\"%s\" config=%s data=%s user=%s hostname=%s",
	         version_string(), file ? file : "(built-in)", conf->data_dir,
	         p.priv.root ? conf->user : "(unchanged)", conf->hostname);
	p.base = event_base_new();
	if (p.base == NULL)
		fatal("event_base_new failed");
	notify_ready(&p);
	int rc = roles_run(&p);
	unlinkat(p.run_fd, "ravenctl.sock", 0);
	unlink(p.pidfile);
	log_info("event=stopped");
	return rc;
}
