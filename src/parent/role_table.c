/* role_table: the role processes (see role_table.h). */
#include "role_table.h"

#include <string.h>

#include "local_role.h"
#include "queue_role.h"
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

const struct role_desc role_table[] = {
    {"queue", 0, ACCOUNT_USER, ROOT_SPOOL, 0, FILTER_NONE, ROLE_CONTROL, run_queue},
    {"local", PEER_LOCAL, ACCOUNT_USER, ROOT_NONE, 1, FILTER_DELIVERY, 0, run_local},
    {"smtp", PEER_SMTP, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_NETWORK, ROLE_LISTENERS, run_smtp},
};
const size_t role_count = sizeof(role_table) / sizeof(role_table[0]);

const struct role_desc *role_find(const char *name)
{
	for (size_t i = 0; i < role_count; i++)
		if (strcmp(role_table[i].name, name) == 0)
			return &role_table[i];
	return NULL;
}
