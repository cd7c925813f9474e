/*
 * role_exec: a role process, executed afresh by the parent (so it has an
 * address-space layout of its own, not a copy of the parent's), given its
 * descriptors at known numbers and told which role it is:
 *
 *   ravend -R NAME -P PARENT_PID [-C FD -N CONFNAME] [-l FD [-s]] [-K FD]
 *          [-L FD:INDEX]... [-M FD]... [-S FD] [-v]
 *
 * fd 3 is its channel (to the queue; the queue's to the parent). -C is a
 * memfd holding the very configuration text the parent parsed (without
 * it, the built-in default), -l the log target (-s: a syslog socket), -K
 * the ravenctl socket, -L each SMTP listener with its index among the
 * configuration's listeners, -M each metrics listener, -S its service
 * channel to the parent (the relay: unix-domain LMTP connections). The role
 * loads the configuration, confines itself as its row of role_table says,
 * and runs.
 */
#include "role_exec.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "privsep.h"
#include "role_table.h"
#include "server.h"
#include "util.h"
#include "xmalloc.h"

#define ROLE_MAX_LISTENERS 256

struct role_args {
	const char *name;
	pid_t parent;
	int conf_fd;
	const char *conf_name;
	int log_fd, log_syslog;
	int control_fd;
	int parent_fd;
	int verbose;
	int listen_fd[ROLE_MAX_LISTENERS];
	unsigned listen_idx[ROLE_MAX_LISTENERS];
	size_t n_listen;
	int metrics_fd[ROLE_MAX_LISTENERS];
	size_t n_metrics;
};

static int parse_fd(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 1 << 20)
		fatal_status(EX_CONFIG, "role: bad descriptor number \"%s\"", s);
	return (int)v;
}

static void parse_args(int argc, char **argv, struct role_args *a)
{
	memset(a, 0, sizeof(*a));
	a->conf_fd = a->log_fd = a->control_fd = a->parent_fd = -1;
	int ch;
	optind = 1;
	while ((ch = getopt(argc, argv, "R:P:C:N:l:sK:L:M:S:v")) != -1) {
		switch (ch) {
		case 'R':
			a->name = optarg;
			break;
		case 'P':
			a->parent = (pid_t)parse_fd(optarg);
			break;
		case 'C':
			a->conf_fd = parse_fd(optarg);
			break;
		case 'N':
			a->conf_name = optarg;
			break;
		case 'l':
			a->log_fd = parse_fd(optarg);
			break;
		case 's':
			a->log_syslog = 1;
			break;
		case 'K':
			a->control_fd = parse_fd(optarg);
			break;
		case 'L': {
			char fd[16];
			const char *colon = strchr(optarg, ':');
			size_t n = colon ? (size_t)(colon - optarg) : 0;
			if (colon == NULL || n == 0 || n >= sizeof(fd) ||
			    a->n_listen == ROLE_MAX_LISTENERS)
				fatal_status(EX_CONFIG, "role: bad listener \"%s\"", optarg);
			memcpy(fd, optarg, n);
			fd[n] = '\0';
			a->listen_fd[a->n_listen] = parse_fd(fd);
			a->listen_idx[a->n_listen] = (unsigned)parse_fd(colon + 1);
			a->n_listen++;
			break;
		}
		case 'S':
			a->parent_fd = parse_fd(optarg);
			break;
		case 'M':
			if (a->n_metrics == ROLE_MAX_LISTENERS)
				fatal_status(EX_CONFIG, "role: too many metrics listeners");
			a->metrics_fd[a->n_metrics++] = parse_fd(optarg);
			break;
		case 'v':
			a->verbose = 1;
			break;
		default:
			fatal_status(EX_CONFIG, "role: unknown option");
		}
	}
	if (a->name == NULL || optind != argc)
		fatal_status(EX_CONFIG, "role: usage: ravend -R NAME ...");
}

/* The configuration the parent parsed: the same text, parsed again here. */
static struct config *load_config(const struct role_args *a)
{
	char err[512];
	struct config *conf;
	if (a->conf_fd == -1) {
		conf = conf_default();
	} else {
		size_t len;
		const char *name = a->conf_name ? a->conf_name : "raven.conf";
		char *text =
		    fd_read_bounded(a->conf_fd, name, CONF_MAX_TEXT, &len, err, sizeof(err));
		conf = text ? conf_parse_string(name, text, len, err, sizeof(err)) : NULL;
		free(text);
		close(a->conf_fd);
	}
	if (conf == NULL || conf_finish(conf, err, sizeof(err)) == -1)
		fatal_status(EX_CONFIG, "event=role-config-failed reason=\"%s\"", err);
	return conf;
}

void role_exec_main(int argc, char **argv)
{
	struct role_args a;
	parse_args(argc, argv, &a);
	const struct role_desc *d = role_find(a.name);
	if (d == NULL)
		fatal_status(EX_CONFIG, "role: no role \"%s\"", a.name);
	log_init(d->name, a.verbose);
	if (a.log_fd != -1)
		log_set_target(a.log_fd, a.log_syslog);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	confine_undumpable();
	struct config *conf = load_config(&a);
	char err[512];
	struct privsep priv;
	if (privsep_init(&priv, conf, err, sizeof(err)) == -1)
		fatal_status(EX_CONFIG, "%s", err);

	struct listen_fd *listen = xcalloc(a.n_listen + 1, sizeof(*listen));
	for (size_t i = 0; i < a.n_listen; i++) {
		if (a.listen_idx[i] >= conf->n_listeners)
			fatal_status(EX_CONFIG, "role: listener %u is not in the configuration",
			             a.listen_idx[i]);
		listen[i].fd = a.listen_fd[i];
		listen[i].l = &conf->listeners[a.listen_idx[i]];
	}
	struct role_env env = {
	    .conf = conf,
	    .channel = 3,
	    .listen = listen,
	    .n_listen = a.n_listen,
	    .control_fd = a.control_fd,
	    .parent_fd = a.parent_fd,
	    .metrics_fds = a.metrics_fd,
	    .n_metrics = a.n_metrics,
	};

	/* What must be read before the root directory changes. */
	tzset();
	env.base = event_base_new();
	if (env.base == NULL)
		fatal_status(EX_CONFIG, "event_base_new failed");
	if (d->prepare)
		env.state = d->prepare(&env);
	char *spool = xasprintf("%s/queue", conf->data_dir);
	env.spool_dir = spool;
	if (priv.root && d->root != ROOT_NONE) {
		char *dir = d->root == ROOT_SPOOL      ? spool
		            : d->root == ROOT_MAILDROP ? xasprintf("%s/maildrop", conf->data_dir)
		                                       : xasprintf("%s/empty", conf->data_dir);
		confine_root(dir);
		if (d->root == ROOT_SPOOL)
			env.spool_dir = "/";
		else
			free(dir);
	}
	const struct privsep_id *id = d->account == ACCOUNT_NET ? &priv.net : &priv.user;
	if (d->setid_caps)
		confine_setid_only(&priv, id);
	else
		privsep_drop(&priv, id);
	/* Only the auth role needs password hashes, and it copied them in its
	 * prepare step: no role runs with them in its configuration. Smarthost
	 * passwords stay with the relay role, which sends them. */
	conf_wipe_secrets(conf, d->peer == PEER_RELAY    ? CONF_KEEP_RELAY_LOGINS
	                        : d->peer == PEER_LOOKUP ? CONF_KEEP_SQL_SOURCES
	                                                 : 0);
	/* A change of credentials resets both; set them for the new ones. */
	confine_undumpable();
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (a.parent != 0 && getppid() != a.parent)
		exit(0); /* the parent died before we asked to be told */
	confine_filter(d->filter);
	/* Named only now: a process called raven-NAME is a confined one. */
	char comm[16];
	snprintf(comm, sizeof(comm), "raven-%s", d->name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
	d->run(&env);
	exit(1);
}
