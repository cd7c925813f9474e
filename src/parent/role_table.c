/* role_table: the role processes (see role_table.h). */
#include "role_table.h"

#include <string.h>

#include <stdio.h>
#include <sysexits.h>

#include "local_role.h"
#include "log.h"
#include "metrics_role.h"
#include "queue_role.h"
#include "relay.h"
#include "server.h"

static void run_queue(const struct role_env *env)
{
	queue_role_main(env->conf, env->base, env->channel, env->spool_dir, env->control_fd);
}

static void run_local(const struct role_env *env)
{
	local_role_main(env->conf, env->base, env->channel);
}

static void run_smtp(const struct role_env *env)
{
	smtp_role_main(env->conf, env->base, env->channel, env->listen, env->n_listen);
}

/* The resolver and the CA store, read before the chroot. */
static void *prepare_relay(const struct role_env *env)
{
	char err[512];
	struct relay *r = relay_prepare(env->conf, env->base, err, sizeof(err));
	if (r == NULL)
		fatal_status(EX_CONFIG, "event=relay-prepare-failed reason=\"%s\"", err);
	return r;
}

static void run_relay(const struct role_env *env)
{
	relay_run(env->state, env->channel);
}

static void run_metrics(const struct role_env *env)
{
	metrics_role_main(env->base, env->channel, env->metrics_fds, env->n_metrics);
}

const struct role_desc role_table[] = {
    {"queue", 0, ACCOUNT_USER, ROOT_SPOOL, 0, FILTER_NONE, ROLE_CONTROL, NULL, run_queue},
    {"local", PEER_LOCAL, ACCOUNT_USER, ROOT_NONE, 1, FILTER_DELIVERY, 0, NULL, run_local},
    {"smtp", PEER_SMTP, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_NETWORK, ROLE_LISTENERS, NULL, run_smtp},
    {"relay", PEER_RELAY, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_RELAY, 0, prepare_relay, run_relay},
    {"metrics", PEER_METRICS, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_NETWORK, ROLE_METRICS, NULL,
     run_metrics},
};
const size_t role_count = sizeof(role_table) / sizeof(role_table[0]);

const struct role_desc *role_find(const char *name)
{
	for (size_t i = 0; i < role_count; i++)
		if (strcmp(role_table[i].name, name) == 0)
			return &role_table[i];
	return NULL;
}
