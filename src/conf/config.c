/*
 * config: the life of a struct config — defaults, loading (the grammar is in
 * parse.y, the builders in conf_build.c), the built-in default of DESIGN.md
 * §6, conf_finish() and the small read-only helpers the roles use.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf_int.h"
#include "parse.h"
#include "route.h"
#include "util.h"
#include "xmalloc.h"

int conf_valid_hostname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
		if (label == 0 && c == '-')
			return 0;
		label++;
	}
	return 1;
}

int conf_valid_username(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '-')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

int conf_parse_netmask(const char *s, struct netmask *m, const char **why)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	memset(m, 0, sizeof(*m));
	if (alen >= sizeof(addr)) {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	unsigned max;
	if (inet_pton(AF_INET, addr, m->addr) == 1) {
		m->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, m->addr) == 1) {
		m->family = AF_INET6;
		max = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	m->prefix = max;
	if (slash != NULL) {
		const char *d = slash + 1;
		unsigned v = 0;
		if (*d == '\0' || strlen(d) > 3) {
			*why = "invalid prefix length";
			return -1;
		}
		for (; *d != '\0'; d++) {
			if (*d < '0' || *d > '9') {
				*why = "invalid prefix length";
				return -1;
			}
			v = v * 10 + (unsigned)(*d - '0');
		}
		if (v > max) {
			*why = "prefix length too large";
			return -1;
		}
		m->prefix = v;
	}
	for (unsigned bit = m->prefix; bit < max; bit++) {
		if (m->addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "address has bits set beyond the prefix length";
			return -1;
		}
	}
	return 0;
}

static char *default_hostname(void)
{
	char name[256];
	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		if (conf_valid_hostname(name))
			return xstrdup(name);
	}
	return xstrdup("localhost");
}

struct config *conf_new(void)
{
	struct config *c = xcalloc(1, sizeof(*c));
	c->hostname = default_hostname();
	c->hostname_auto = 1;
	c->data_dir = xstrdup("./var");
	c->user = xstrdup("raven");
	c->net_user = xstrdup("raven-net");
	c->limits.message_size = (size_t)35 << 20;
	c->limits.recipients = 100;
	c->limits.connections = 1000;
	c->limits.per_ip = 20;
	c->limits.smtp_processes = 1;
	c->limits.command_line = 2048;
	c->limits.text_line = 1000;
	c->limits.errors = 10;
	c->limits.hops = 100;
	c->limits.timeout_command = 300;
	c->limits.timeout_data = 180;
	c->limits.timeout_greeting = 300;
	c->limits.timeout_session = 1800;
	c->limits.data_rate = 500;
	c->limits.timeout_tls = 60;
	c->limits.auth_failures = 5;
	c->limits.auth_lockout = 900;
	c->retry_min = 60;
	c->retry_max = 3600;
	c->max_lifetime = 5 * 86400;
	c->delay_warning = 4 * 3600;
	c->queue_concurrency = 100;
	c->queue_per_destination = 20;
	c->bounce_size = 10u * 1024 * 1024;
	c->relay_timeout = (struct relay_timeouts){.connect = 30,
	                                           .greeting = 300,
	                                           .command = 300,
	                                           .data = 120,
	                                           .block = 180,
	                                           .dot = 600,
	                                           .idle = 5};
	/* Room for the deliveries of what is queued, and for a few messages
	 * in flight at the default message size: new mail waits below it. */
	c->queue_min_free = 100u * 1024 * 1024;
	c->queue_min_free_inodes = 1000;
	c->local_nets = xcalloc(2, sizeof(*c->local_nets));
	c->n_local_nets = 2;
	c->local_nets[0].family = AF_INET;
	c->local_nets[0].addr[0] = 127;
	c->local_nets[0].prefix = 8;
	c->local_nets[1].family = AF_INET6;
	c->local_nets[1].addr[15] = 1;
	c->local_nets[1].prefix = 128;
	return c;
}

void conf_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->file);
	free(c->hostname);
	free(c->data_dir);
	free(c->user);
	free(c->net_user);
	free(c->log_path);
	free(c->resolver);
	for (size_t i = 0; i < c->n_listeners; i++)
		free(c->listeners[i].addr);
	free(c->listeners);
	for (size_t i = 0; i < c->n_metrics_listeners; i++)
		free(c->metrics_listeners[i].addr);
	free(c->metrics_listeners);
	free(c->local_nets);
	for (size_t i = 0; i < c->n_tables; i++)
		table_free(c->tables[i]);
	free(c->tables);
	for (size_t i = 0; i < c->n_actions; i++) {
		free(c->actions[i]->name);
		free(c->actions[i]->path);
		free(c->actions[i]->owner);
		free(c->actions[i]->relay_host);
		free(c->actions[i]->lmtp_target);
		free(c->actions[i]->lmtp_host);
		free(c->actions[i]);
	}
	free(c->actions);
	free(c->rules);
	for (size_t i = 0; i < c->n_certs; i++) {
		free(c->certs[i].cert);
		free(c->certs[i].key);
	}
	free(c->certs);
	conf_checks_free(c);
	free(c);
}

static int is_relay_login_table(const struct config *c, const struct table *t)
{
	for (size_t i = 0; i < c->n_actions; i++)
		if (c->actions[i]->relay_auth == t)
			return 1;
	return 0;
}

void conf_wipe_secrets(struct config *c, int keep)
{
	for (size_t i = 0; i < c->n_tables; i++) {
		if (c->tables[i] == c->auth_users ||
		    (!(keep & CONF_KEEP_RELAY_LOGINS) && is_relay_login_table(c, c->tables[i])))
			table_wipe_values(c->tables[i]);
		if (!(keep & CONF_KEEP_SQL_SOURCES))
			table_wipe_source(c->tables[i]);
	}
}

int conf_auth_enabled(const struct config *c)
{
	return c->auth_users != NULL;
}

/* Checks that need the whole file. */
static void conf_validate(struct conf_parser *p)
{
	int last = p->line;
	if (p->len > 0 && p->text[p->len - 1] == '\n')
		last--;
	if (last < 1)
		last = 1;
	if (p->c->retry_min > p->c->retry_max)
		conf_error(p, p->queue_line, "queue: retry-min (%u) is larger than retry-max (%u)",
		           p->c->retry_min, p->c->retry_max);
	if (p->c->n_listeners == 0)
		conf_error(p, last, "no listen statement (at least one listener is required)");
	conf_check_metrics_listen(p);
	if (p->c->n_rules == 0)
		conf_error(p, last, "no match rule (no mail would be accepted)");
}

struct config *conf_parse_with(struct conf_parser *p, const char *text, size_t len, char *err,
                               size_t errlen)
{
	if (len > CONF_MAX_TEXT) {
		err_set(err, errlen, "%s: too large (more than %zu bytes)", p->name, CONF_MAX_TEXT);
		return NULL;
	}
	p->c = conf_new();
	p->c->file = xstrdup(p->name);
	conf_lex_init(p, text, len);
	int rc = conf_yyparse(p);
	if (rc != 0 && !p->has_err)
		conf_error(p, p->line, "cannot parse (out of memory?)");
	if (!p->has_err)
		conf_validate(p);
	conf_scratch_clear(&p->s);
	if (p->has_err) {
		err_set(err, errlen, "%s", p->err);
		conf_free(p->c);
		return NULL;
	}
	return p->c;
}

struct config *conf_parse_string(const char *name, const char *text, size_t len, char *err,
                                 size_t errlen)
{
	struct conf_parser p;
	memset(&p, 0, sizeof(p));
	p.name = name;
	return conf_parse_with(&p, text, len, err, errlen);
}

struct config *conf_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = file_read_bounded(path, CONF_MAX_TEXT, &len, err, errlen);
	if (text == NULL)
		return NULL;
	struct config *c = conf_parse_string(path, text, len, err, errlen);
	free(text);
	return c;
}

struct config *conf_default(void)
{
	struct config *c = conf_new();
	static const struct {
		const char *addr;
		uint16_t port;
		int submission;
	} listen[] = {{"127.0.0.1", 2525, 0}, {"::1", 2525, 0}, {"127.0.0.1", 2587, 1}};
	c->n_listeners = sizeof(listen) / sizeof(listen[0]);
	c->listeners = xcalloc(c->n_listeners, sizeof(*c->listeners));
	for (size_t i = 0; i < c->n_listeners; i++) {
		c->listeners[i].addr = xstrdup(listen[i].addr);
		c->listeners[i].port = listen[i].port;
		c->listeners[i].submission = listen[i].submission;
	}
	struct table *domains = table_new("domains");
	table_put(domains, "localhost", NULL);
	c->tables = xcalloc(1, sizeof(*c->tables));
	c->tables[0] = domains;
	c->n_tables = 1;
	struct action *a = xcalloc(1, sizeof(*a));
	a->name = xstrdup("local");
	a->kind = ACTION_MAILDIR;
	a->path = xasprintf("%s/mail/%%{user}", c->data_dir);
	/* DESIGN §6: mail from local clients to other domains goes out by MX. */
	struct action *out = xcalloc(1, sizeof(*out));
	out->name = xstrdup("outbound");
	out->kind = ACTION_RELAY;
	c->actions = xcalloc(2, sizeof(*c->actions));
	c->actions[0] = a;
	c->actions[1] = out;
	c->n_actions = 2;
	c->rules = xcalloc(2, sizeof(*c->rules));
	c->rules[0].from = FROM_ANY;
	c->rules[0].for_ = FOR_DOMAIN;
	c->rules[0].domains = domains;
	c->rules[0].action = a;
	c->rules[1].from = FROM_LOCAL;
	c->rules[1].for_ = FOR_ANY;
	c->rules[1].action = out;
	c->n_rules = 2;
	return c;
}

/* path relative to cwd, without leading "./" components. */
static char *absolute(const char *cwd, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return xstrdup(cwd);
	return xasprintf("%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path);
}

/* "mx" -> "mx.example.org" through the resolver (usually /etc/hosts). */
static void qualify_hostname(struct config *c)
{
	if (!c->hostname_auto || strchr(c->hostname, '.') != NULL)
		return;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(c->hostname, NULL, &hints, &res) != 0)
		return;
	if (res != NULL && res->ai_canonname != NULL && strchr(res->ai_canonname, '.') != NULL &&
	    conf_valid_hostname(res->ai_canonname)) {
		free(c->hostname);
		c->hostname = xstrdup(res->ai_canonname);
	}
	freeaddrinfo(res);
}

int conf_finish(struct config *c, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		err_set(err, errlen, "cannot get the current directory: %s", strerror(errno));
		return -1;
	}
	return conf_finish_in(c, cwd, err, errlen);
}

int conf_finish_in(struct config *c, const char *cwd, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	char *d = absolute(cwd, c->data_dir);
	free(c->data_dir);
	c->data_dir = d;
	if (c->log_to == LOG_TO_FILE) {
		char *l = absolute(cwd, c->log_path);
		free(c->log_path);
		c->log_path = l;
	}
	for (size_t i = 0; i < c->n_actions; i++) {
		struct action *a = c->actions[i];
		if (a->kind != ACTION_MAILDIR || a->path == NULL ||
		    strncmp(a->path, "%{home}", 7) == 0)
			continue; /* a home directory is absolute */
		char *pth = absolute(cwd, a->path);
		free(a->path);
		a->path = pth;
	}
	for (size_t i = 0; i < c->n_certs; i++) {
		char *cert = absolute(cwd, c->certs[i].cert);
		char *key = absolute(cwd, c->certs[i].key);
		free(c->certs[i].cert);
		free(c->certs[i].key);
		c->certs[i].cert = cert;
		c->certs[i].key = key;
	}
	for (size_t i = 0; i < c->n_dkim_sign; i++) {
		char *key = absolute(cwd, c->dkim_sign[i].key);
		free(c->dkim_sign[i].key);
		c->dkim_sign[i].key = key;
	}
	qualify_hostname(c);
	c->hostname_auto = 0;
	return 0;
}

const struct action *conf_action(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_actions; i++)
		if (strcmp(c->actions[i]->name, name) == 0)
			return c->actions[i];
	return NULL;
}

static int prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;
	if (memcmp(a, net, bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (net[bytes] & mask);
}

int conf_netmask_match(const struct netmask *masks, size_t n, const struct sockaddr *sa)
{
	uint8_t v4[4], v6[16];
	int have4 = 0, have6 = 0;
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		have4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		memcpy(v6, in6, 16);
		have6 = 1;
		/* ::ffff:a.b.c.d from a dual-stack socket is the IPv4 client a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(v4, v6 + 12, 4);
			have4 = 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct netmask *m = &masks[i];
		if (m->family == AF_INET && have4 && prefix_match(v4, m->addr, m->prefix))
			return 1;
		if (m->family == AF_INET6 && have6 && prefix_match(v6, m->addr, m->prefix))
			return 1;
	}
	return 0;
}

size_t conf_connections_each(const struct config *c)
{
	size_t n = c->limits.smtp_processes ? c->limits.smtp_processes : 1;
	return (c->limits.connections + n - 1) / n;
}

int conf_is_local_net(const struct config *c, const struct sockaddr *sa)
{
	return conf_netmask_match(c->local_nets, c->n_local_nets, sa);
}

int conf_is_local_addr(const struct config *c, const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (ip != NULL && inet_pton(AF_INET, ip, &in4->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (ip != NULL && inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return 0;
	return conf_is_local_net(c, (const struct sockaddr *)&ss);
}

char *conf_maildir_path(const struct config *c, const struct action *a, const char *user,
                        const char *home)
{
	(void)c;
	if (a == NULL || a->kind != ACTION_MAILDIR || a->path == NULL || !route_safe_mailbox(user))
		return NULL;
	struct buf b;
	buf_init(&b, 65536);
	const char *s = a->path;
	for (;;) {
		/* the templates hold no other %-sequence (conf_build.c) */
		const char *pct = strchr(s, '%');
		size_t n = pct ? (size_t)(pct - s) : strlen(s);
		const char *value = NULL;
		if (pct && strncmp(pct, "%{home}", 7) == 0)
			value = home != NULL && home[0] == '/' ? home : NULL;
		else if (pct)
			value = user;
		if (buf_append(&b, s, n) == -1 || (pct && value == NULL) ||
		    (pct && buf_append_str(&b, value) == -1)) {
			buf_free(&b);
			return NULL;
		}
		if (pct == NULL)
			break;
		s = pct + 7; /* "%{user}" and "%{home}" alike */
	}
	char *out = buf_strdup(&b);
	buf_free(&b);
	return out;
}
