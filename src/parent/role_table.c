/* role_table: the role processes (see role_table.h). */
#include "role_table.h"

#include <string.h>

#include <stdio.h>
#include <sysexits.h>

#include "auth_role.h"
#include "config.h"
#include "dkim_role.h"
#include "dns_role.h"
#include "local_role.h"
#include "log.h"
#include "lookup_role.h"
#include "pickup.h"
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
	smtp_role_main(env->conf, env->base, env->channel, env->listen, env->n_listen, env->state);
}

/* The TLS certificates and keys, and the Public Suffix List (DMARC): read
 * while the files can be reached. */
static void *prepare_smtp(const struct role_env *env)
{
	return smtp_prepare(env->conf);
}

/* The password hashes, copied out of the configuration before every role
 * (this one included) wipes them from it. */
static void *prepare_auth(const struct role_env *env)
{
	return auth_role_prepare(env->conf);
}

static void run_auth(const struct role_env *env)
{
	auth_role_main(env->conf, env->base, env->channel, env->state);
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
	relay_run(env->state, env->channel, env->parent_fd);
}

/* The maildrop and its inotify watch, opened before the chroot. */
static void *prepare_pickup(const struct role_env *env)
{
	char err[512];
	struct pickup *p = pickup_prepare(env->conf, env->base, err, sizeof(err));
	if (p == NULL)
		fatal_status(EX_CONFIG, "event=pickup-prepare-failed reason=\"%s\"", err);
	return p;
}

static void run_pickup(const struct role_env *env)
{
	pickup_run(env->state, env->channel);
}

static void run_lookup(const struct role_env *env)
{
	lookup_role_main(env->conf, env->base, env->channel);
}

static void run_metrics(const struct role_env *env)
{
	metrics_role_main(env->base, env->channel, env->metrics_fds, env->n_metrics);
}

/* The resolver of the smtp role's checks: resolv.conf read before the chroot. */
static void *prepare_dns(const struct role_env *env)
{
	return dns_role_prepare(env->conf, env->base);
}

static void run_dns(const struct role_env *env)
{
	dns_role_main(env->conf, env->base, env->channel, env->state);
}

/* The DKIM signing keys: read before the chroot, by this role only. */
static void *prepare_dkim(const struct role_env *env)
{
	return dkim_role_prepare(env->conf);
}

static void run_dkim(const struct role_env *env)
{
	dkim_role_main(env->conf, env->base, env->channel, env->state);
}

const struct role_desc role_table[] = {
    {"queue", 0, ACCOUNT_USER, ROOT_SPOOL, 0, FILTER_NONE, ROLE_CONTROL, NULL, run_queue, 0},
    {"local", PEER_LOCAL, ACCOUNT_USER, ROOT_NONE, 1, FILTER_DELIVERY, 0, NULL, run_local, 1},
    {"smtp", PEER_SMTP, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_NETWORK, ROLE_LISTENERS, prepare_smtp,
     run_smtp, 1},
    {"relay", PEER_RELAY, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_RELAY, ROLE_PARENT, prepare_relay,
     run_relay, 1},
    {"auth", PEER_AUTH, ACCOUNT_USER, ROOT_EMPTY, 0, FILTER_NETWORK, 0, prepare_auth, run_auth, 1},
    {"pickup", PEER_PICKUP, ACCOUNT_USER, ROOT_MAILDROP, 0, FILTER_PICKUP, 0, prepare_pickup,
     run_pickup, 0},
    {"metrics", PEER_METRICS, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_NETWORK, ROLE_METRICS, NULL,
     run_metrics, 1},
    {"dns", PEER_DNS, ACCOUNT_NET, ROOT_EMPTY, 0, FILTER_RESOLVER, ROLE_DNS_CHECKS, prepare_dns,
     run_dns, 1},
    {"dkim", PEER_DKIM, ACCOUNT_USER, ROOT_EMPTY, 0, FILTER_SIGNER, ROLE_DKIM_SIGN, prepare_dkim,
     run_dkim, 1},
    {"lookup", PEER_LOOKUP, ACCOUNT_USER, ROOT_NONE, 0, FILTER_LOOKUP, ROLE_SQL, NULL, run_lookup,
     1},
};
const size_t role_count = sizeof(role_table) / sizeof(role_table[0]);

const struct role_desc *role_find(const char *name)
{
	for (size_t i = 0; i < role_count; i++)
		if (strcmp(role_table[i].name, name) == 0)
			return &role_table[i];
	return NULL;
}

int role_wanted(const struct role_desc *d, const struct config *conf, size_t n_metrics)
{
	if ((d->sockets & ROLE_METRICS) && n_metrics == 0)
		return 0;
	if ((d->sockets & ROLE_SQL) && !conf_has_sql_tables(conf))
		return 0;
	if ((d->sockets & ROLE_DNS_CHECKS) && !conf_checks_on(conf))
		return 0;
	if ((d->sockets & ROLE_DKIM_SIGN) && !conf_has_dkim_sign(conf))
		return 0;
	return 1;
}
