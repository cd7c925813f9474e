/*
 * conf_build: turns the statements the grammar recognised into the fields of
 * struct config, checking each value where it is written so that every
 * message names the line at fault. Only the first error (by line) is kept:
 * later ones are often consequences of it.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf_bundle.h"
#include "conf_int.h"
#include "log.h"
#include "xmalloc.h"

void conf_error(struct conf_parser *p, int line, const char *fmt, ...)
{
	if (p->has_err && p->err_line <= line)
		return;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->has_err = 1;
	p->err_line = line;
	snprintf(p->err, sizeof(p->err), "%s:%d: %s", p->name, line, msg);
}

void conf_unsupported(struct conf_parser *p, int line, const char *what)
{
	conf_error(p, line, "%s is not supported yet", what);
}

const char *conf_quote(char *buf, size_t buflen, const char *s)
{
	return log_escape(buf, buflen, s, strlen(s));
}

struct conf_list *conf_list_new(void)
{
	return xcalloc(1, sizeof(struct conf_list));
}

void conf_list_add(struct conf_list *l, int line, char *key, char *value)
{
	if (l->n == 0)
		l->line = line;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n].key = key;
	l->v[l->n].value = value;
	l->n++;
}

void conf_list_free(struct conf_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	free(l);
}

void conf_scratch_clear(struct conf_scratch *s)
{
	free(s->users);
	free(s->aliases);
	free(s->owner);
	free(s->host);
	free(s->rcpt_to);
	free(s->for_table);
	free(s->auth_table);
	conf_list_free(s->for_list);
	conf_list_free(s->dnsbl_codes);
	free(s->dkim_domain);
	free(s->dkim_selector);
	free(s->dkim_key);
	memset(s, 0, sizeof(*s));
}

/* Numbers: plain, sizes (K, M, G: powers of 1024) and durations (s, m, h, d). */
static int num_value(struct conf_parser *p, int line, const char *what, struct conf_num n, int kind,
                     uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t mult = 1;
	switch (kind == 0 ? (n.unit ? -1 : 0) : n.unit) {
	case 0:
		break;
	case 'K':
	case 'k':
		mult = kind == 's' ? 1024 : 0;
		break;
	case 'M':
	case 'G':
	case 'g':
		mult = kind == 's' ? (uint64_t)1 << (n.unit == 'M' ? 20 : 30) : 0;
		break;
	case 'm':
		mult = kind == 's' ? (uint64_t)1 << 20 : 60;
		break;
	case 's':
		mult = kind == 'd' ? 1 : 0;
		break;
	case 'h':
		mult = kind == 'd' ? 3600 : 0;
		break;
	case 'd':
		mult = kind == 'd' ? 86400 : 0;
		break;
	default:
		mult = 0;
		break;
	}
	if (mult == 0) {
		conf_error(p, line, "%s: invalid unit '%c'%s", what, n.unit,
		           kind == 's'   ? " (use K, M or G)"
		           : kind == 'd' ? " (use s, m, h or d)"
		                         : " (a plain number is expected)");
		return -1;
	}
	if (n.n > UINT64_MAX / mult || n.n * mult < min || n.n * mult > max) {
		conf_error(p, line, "%s: out of range (%llu to %llu%s)", what,
		           (unsigned long long)min, (unsigned long long)max,
		           kind == 'd' ? " seconds" : "");
		return -1;
	}
	*out = n.n * mult;
	return 0;
}

void conf_set_limit(struct conf_parser *p, int line, enum conf_limit_kind k, struct conf_num n)
{
	static const struct {
		const char *name;
		int kind; /* 0 plain, 's' size, 'd' duration */
		uint64_t min, max;
	} lim[] = {
	    [LIM_MESSAGE_SIZE] = {"message-size", 's', 1024, (uint64_t)1 << 40},
	    [LIM_RECIPIENTS] = {"recipients", 0, 1, 1000000},
	    [LIM_CONNECTIONS] = {"connections", 0, 1, 1000000},
	    [LIM_PER_IP] = {"per-ip", 0, 1, 1000000},
	    [LIM_SMTP_PROCESSES] = {"smtp-processes", 0, 1, 64},
	    /* RFC 5321 §4.5.3.1.4 and §4.5.3.1.6 minima; our parsers need a cap. */
	    [LIM_COMMAND_LINE] = {"command-line", 0, 512, 65536},
	    [LIM_TEXT_LINE] = {"text-line", 0, 1000, 65536},
	    [LIM_ERRORS] = {"errors", 0, 1, 1000000},
	    [LIM_HOPS] = {"hops", 0, 1, 1000},
	    [LIM_TIMEOUT_COMMAND] = {"timeout command", 'd', 1, 86400},
	    [LIM_TIMEOUT_DATA] = {"timeout data", 'd', 1, 86400},
	    [LIM_TIMEOUT_GREETING] = {"timeout greeting", 'd', 1, 86400},
	    [LIM_TIMEOUT_SESSION] = {"timeout session", 'd', 1, 86400 * 7},
	    [LIM_DATA_RATE] = {"data-rate", 's', 0, (uint64_t)1 << 30},
	    [LIM_RETRY_MIN] = {"retry-min", 'd', 1, 86400 * 30},
	    [LIM_RETRY_MAX] = {"retry-max", 'd', 1, 86400 * 30},
	    /* short lifetimes and retries exist for tests of expiry */
	    [LIM_LIFETIME] = {"lifetime", 'd', 1, 86400 * 365},
	    [LIM_DELAY_WARNING] = {"delay-warning", 'd', 1, 86400 * 365},
	    [LIM_CONCURRENCY] = {"concurrency", 0, 1, 10000},
	    [LIM_PER_DESTINATION] = {"per-destination", 0, 1, 10000},
	    [LIM_BOUNCE_SIZE] = {"bounce-size", 's', 0, (uint64_t)1 << 40},
	    [LIM_RELAY_CONNECT] = {"relay timeout connect", 'd', 1, 3600},
	    [LIM_RELAY_GREETING] = {"relay timeout greeting", 'd', 1, 86400},
	    [LIM_RELAY_COMMAND] = {"relay timeout command", 'd', 1, 86400},
	    [LIM_RELAY_DATA] = {"relay timeout data", 'd', 1, 86400},
	    [LIM_RELAY_BLOCK] = {"relay timeout block", 'd', 1, 86400},
	    [LIM_RELAY_DOT] = {"relay timeout dot", 'd', 1, 86400},
	    [LIM_RELAY_IDLE] = {"relay timeout idle", 'd', 1, 3600},
	    [LIM_MIN_FREE] = {"min-free", 's', 0, (uint64_t)1 << 50},
	    [LIM_MIN_FREE_INODES] = {"min-free-inodes", 0, 0, (uint64_t)1 << 40},
	    [LIM_TIMEOUT_TLS] = {"timeout tls", 'd', 1, 3600},
	    [LIM_AUTH_FAILURES] = {"auth-failures", 0, 1, 1000000},
	    [LIM_AUTH_LOCKOUT] = {"auth-lockout", 'd', 1, 86400 * 30},
	};
	uint64_t v;
	if (num_value(p, line, lim[k].name, n, lim[k].kind, lim[k].min, lim[k].max, &v) == -1)
		return;
	struct config *c = p->c;
	switch (k) {
	case LIM_MESSAGE_SIZE:
		c->limits.message_size = (size_t)v;
		break;
	case LIM_RECIPIENTS:
		c->limits.recipients = (size_t)v;
		break;
	case LIM_CONNECTIONS:
		c->limits.connections = (size_t)v;
		break;
	case LIM_PER_IP:
		c->limits.per_ip = (size_t)v;
		break;
	case LIM_SMTP_PROCESSES:
		c->limits.smtp_processes = (size_t)v;
		break;
	case LIM_COMMAND_LINE:
		c->limits.command_line = (size_t)v;
		break;
	case LIM_TEXT_LINE:
		c->limits.text_line = (size_t)v;
		break;
	case LIM_ERRORS:
		c->limits.errors = (size_t)v;
		break;
	case LIM_HOPS:
		c->limits.hops = (size_t)v;
		break;
	case LIM_TIMEOUT_COMMAND:
		c->limits.timeout_command = (unsigned)v;
		break;
	case LIM_TIMEOUT_DATA:
		c->limits.timeout_data = (unsigned)v;
		break;
	case LIM_TIMEOUT_GREETING:
		c->limits.timeout_greeting = (unsigned)v;
		break;
	case LIM_TIMEOUT_SESSION:
		c->limits.timeout_session = (unsigned)v;
		break;
	case LIM_DATA_RATE:
		c->limits.data_rate = (size_t)v;
		break;
	case LIM_RETRY_MIN:
		c->retry_min = (unsigned)v;
		p->queue_line = line;
		break;
	case LIM_RETRY_MAX:
		c->retry_max = (unsigned)v;
		p->queue_line = line;
		break;
	case LIM_LIFETIME:
		c->max_lifetime = (unsigned)v;
		break;
	case LIM_DELAY_WARNING:
		c->delay_warning = (unsigned)v;
		break;
	case LIM_CONCURRENCY:
		c->queue_concurrency = (size_t)v;
		break;
	case LIM_PER_DESTINATION:
		c->queue_per_destination = (size_t)v;
		break;
	case LIM_BOUNCE_SIZE:
		c->bounce_size = (uint64_t)v;
		break;
	case LIM_RELAY_CONNECT:
		c->relay_timeout.connect = (unsigned)v;
		break;
	case LIM_RELAY_GREETING:
		c->relay_timeout.greeting = (unsigned)v;
		break;
	case LIM_RELAY_COMMAND:
		c->relay_timeout.command = (unsigned)v;
		break;
	case LIM_RELAY_DATA:
		c->relay_timeout.data = (unsigned)v;
		break;
	case LIM_RELAY_BLOCK:
		c->relay_timeout.block = (unsigned)v;
		break;
	case LIM_RELAY_DOT:
		c->relay_timeout.dot = (unsigned)v;
		break;
	case LIM_RELAY_IDLE:
		c->relay_timeout.idle = (unsigned)v;
		break;
	case LIM_MIN_FREE:
		c->queue_min_free = v;
		break;
	case LIM_MIN_FREE_INODES:
		c->queue_min_free_inodes = v;
		break;
	case LIM_TIMEOUT_TLS:
		c->limits.timeout_tls = (unsigned)v;
		break;
	case LIM_AUTH_FAILURES:
		c->limits.auth_failures = (size_t)v;
		break;
	case LIM_AUTH_LOCKOUT:
		c->limits.auth_lockout = (unsigned)v;
		break;
	}
}

void conf_set_queue_sync(struct conf_parser *p, int line, char *how)
{
	char q[80];
	if (strcmp(how, "files") == 0)
		p->c->queue_syncfs = 0;
	else if (strcmp(how, "syncfs") == 0)
		p->c->queue_syncfs = 1;
	else
		conf_error(p, line, "queue sync: \"%s\" is not files or syncfs",
		           conf_quote(q, sizeof(q), how));
	free(how);
}

void conf_delay_warning_off(struct conf_parser *p)
{
	p->c->delay_warning = 0;
}

static int once(struct conf_parser *p, int line, int *seen, const char *what)
{
	if (*seen != 0) {
		conf_error(p, line, "%s already set on line %d", what, *seen);
		return -1;
	}
	*seen = line;
	return 0;
}

int conf_once(struct conf_parser *p, int line, int *seen, const char *what)
{
	return once(p, line, seen, what);
}

void conf_set_hostname(struct conf_parser *p, int line, char *s)
{
	char q[300];
	size_t n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		s[n - 1] = '\0';
	if (once(p, line, &p->hostname_line, "hostname") == 0) {
		if (!conf_valid_hostname(s)) {
			conf_error(p, line, "hostname \"%s\" is not a valid domain name",
			           conf_quote(q, sizeof(q), s));
		} else {
			free(p->c->hostname);
			p->c->hostname = s;
			p->c->hostname_auto = 0;
			return;
		}
	}
	free(s);
}

void conf_set_data(struct conf_parser *p, int line, char *s)
{
	if (once(p, line, &p->data_line, "data") == 0) {
		if (*s == '\0') {
			conf_error(p, line, "data: empty path");
		} else {
			free(p->c->data_dir);
			p->c->data_dir = s;
			return;
		}
	}
	free(s);
}

void conf_set_user(struct conf_parser *p, int line, char *s)
{
	char q[300];
	if (once(p, line, &p->user_line, "user") == 0) {
		if (!conf_valid_username(s)) {
			conf_error(p, line, "user \"%s\" is not a valid user name",
			           conf_quote(q, sizeof(q), s));
		} else {
			free(p->c->user);
			p->c->user = s;
			p->c->user_line = line;
			return;
		}
	}
	free(s);
}

void conf_set_net_user(struct conf_parser *p, int line, char *s)
{
	char q[300];
	if (once(p, line, &p->net_user_line, "user network") == 0) {
		if (!conf_valid_username(s)) {
			conf_error(p, line, "user network \"%s\" is not a valid user name",
			           conf_quote(q, sizeof(q), s));
		} else {
			free(p->c->net_user);
			p->c->net_user = s;
			p->c->net_user_line = line;
			return;
		}
	}
	free(s);
}

void conf_set_log(struct conf_parser *p, int line, char *kind, char *path)
{
	char q[300];
	struct config *c = p->c;
	if (once(p, line, &p->log_line, "log") == 0) {
		if (kind == NULL && path != NULL && path[0] != '\0') {
			c->log_to = LOG_TO_FILE;
			c->log_path = path;
			path = NULL;
		} else if (kind == NULL) {
			conf_error(p, line, "log file: empty path");
		} else if (strcmp(kind, "stderr") == 0 && path == NULL) {
			c->log_to = LOG_TO_STDERR;
		} else if (strcmp(kind, "syslog") == 0 && (path == NULL || path[0] == '/')) {
			c->log_to = LOG_TO_SYSLOG;
			c->log_path = path;
			path = NULL;
		} else if (strcmp(kind, "syslog") == 0) {
			conf_error(p, line, "log syslog: the socket must be an absolute path");
		} else {
			conf_error(
			    p, line,
			    "log \"%s\": expected stderr, syslog [\"SOCKET\"] or file \"PATH\"",
			    conf_quote(q, sizeof(q), kind));
		}
	}
	free(kind);
	free(path);
}

void conf_listen_port(struct conf_parser *p, int line, struct conf_num n)
{
	uint64_t v;
	if (p->s.port_set) {
		conf_error(p, line, "duplicate option \"port\"");
		return;
	}
	p->s.port_set = 1;
	if (num_value(p, line, "port", n, 0, 1, 65535, &v) == 0)
		p->s.port = (uint16_t)v;
}

static void listener_add(struct conf_parser *p, int line, const char *addr, uint16_t port)
{
	struct config *c = p->c;
	for (size_t i = 0; i < c->n_listeners; i++) {
		if (c->listeners[i].port == port && strcmp(c->listeners[i].addr, addr) == 0) {
			conf_error(p, line, "duplicate listener %s port %u", addr, port);
			return;
		}
	}
	c->listeners = xreallocarray(c->listeners, c->n_listeners + 1, sizeof(*c->listeners));
	struct listener *l = &c->listeners[c->n_listeners++];
	l->addr = xstrdup(addr);
	l->port = port;
	l->submission = p->s.submission > 0;
	l->tls = p->s.tls > 0;
	l->plaintext_auth = p->s.plaintext_auth > 0;
}

/* Passwords in clear text only where no network carries them: a loopback
 * address (a webmail or a local program on this host). */
static int is_loopback(const char *addr)
{
	unsigned char bin[16];
	if (inet_pton(AF_INET, addr, bin) == 1)
		return bin[0] == 127;
	return inet_pton(AF_INET6, addr, bin) == 1 && memcmp(bin, &in6addr_loopback, 16) == 0;
}

void conf_add_listen(struct conf_parser *p, int line, char *addr)
{
	char q[300];
	if (p->s.submission > 1)
		conf_error(p, line, "duplicate option \"submission\"");
	if (p->s.tls > 1)
		conf_error(p, line, "duplicate option \"tls\"");
	if (p->s.plaintext_auth > 1)
		conf_error(p, line, "duplicate option \"plaintext-auth\"");
	if (p->s.plaintext_auth && strcmp(addr, "localhost") != 0) {
		char a[64];
		size_t n = strlen(addr);
		if (n >= 2 && n < sizeof(a) && addr[0] == '[' && addr[n - 1] == ']')
			snprintf(a, sizeof(a), "%.*s", (int)(n - 2), addr + 1);
		else
			snprintf(a, sizeof(a), "%s", addr);
		if (!is_loopback(a))
			conf_error(p, line,
			           "plaintext-auth is only allowed on a loopback address "
			           "(passwords would cross the network in clear)");
	}
	uint16_t port = p->s.port_set ? p->s.port : p->s.tls ? 465 : p->s.submission ? 587 : 25;
	if (p->s.port_set && p->s.port == 0) {
		/* out of range, already reported */
	} else if (strcmp(addr, "localhost") == 0) {
		listener_add(p, line, "127.0.0.1", port);
		listener_add(p, line, "::1", port);
	} else {
		/* store the canonical form so that duplicates are found */
		char tmp[64];
		char canon[INET6_ADDRSTRLEN];
		size_t n = strlen(addr);
		const char *a = addr;
		if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
			a = tmp;
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(n - 2 < 63 ? n - 2 : 63),
			         addr + 1);
		}
		unsigned char bin[16];
		if (n < sizeof(tmp) && inet_pton(AF_INET, a, bin) == 1) {
			inet_ntop(AF_INET, bin, canon, sizeof(canon));
			listener_add(p, line, canon, port);
		} else if (n < sizeof(tmp) && inet_pton(AF_INET6, a, bin) == 1) {
			inet_ntop(AF_INET6, bin, canon, sizeof(canon));
			listener_add(p, line, canon, port);
		} else {
			conf_error(p, line,
			           "listen on \"%s\": not a numeric IPv4 or IPv6 address "
			           "(or localhost)",
			           conf_quote(q, sizeof(q), addr));
		}
	}
	free(addr);
	conf_scratch_clear(&p->s);
}

void conf_set_local_networks(struct conf_parser *p, int line, struct conf_list *l)
{
	char q[300];
	struct config *c = p->c;
	if (once(p, line, &p->nets_line, "local networks") == -1)
		goto out;
	if (l->n == 0) {
		conf_error(p, line, "local networks: empty list");
		goto out;
	}
	struct netmask *m = xcalloc(l->n, sizeof(*m));
	for (size_t i = 0; i < l->n; i++) {
		const char *why;
		if (l->v[i].value != NULL) {
			conf_error(p, line, "local networks: unexpected \"= value\"");
		} else if (conf_parse_netmask(l->v[i].key, &m[i], &why) == -1) {
			conf_error(p, line, "local networks: \"%s\": %s",
			           conf_quote(q, sizeof(q), l->v[i].key), why);
		}
	}
	free(c->local_nets);
	c->local_nets = m;
	c->n_local_nets = l->n;
out:
	conf_list_free(l);
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CONF_MAX_NAME)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

static struct table *find_table(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_tables; i++)
		if (strcmp(table_name(c->tables[i]), name) == 0)
			return c->tables[i];
	return NULL;
}

struct table *conf_table_add(struct conf_parser *p, int line, struct table *t)
{
	char q[300];
	struct config *c = p->c;
	const char *name = table_name(t);
	if (!valid_name(name)) {
		conf_error(p, line, "invalid table name \"%s\" (letters, digits, '_', '-', '.')",
		           conf_quote(q, sizeof(q), name));
		table_free(t);
		return NULL;
	}
	if (find_table(c, name) != NULL) {
		conf_error(p, line, "duplicate table \"%s\"", name);
		table_free(t);
		return NULL;
	}
	c->tables = xreallocarray(c->tables, c->n_tables + 1, sizeof(*c->tables));
	c->tables[c->n_tables++] = t;
	return t;
}

static void table_fill(struct conf_parser *p, int line, struct table *t, struct conf_list *l,
                       int values)
{
	char q[300];
	for (size_t i = 0; i < l->n; i++) {
		const char *k = l->v[i].key;
		if (*k == '\0') {
			conf_error(p, line, "table %s: empty key", table_name(t));
			return;
		}
		if (!values && l->v[i].value != NULL) {
			conf_error(p, line, "table %s: unexpected \"= value\"", table_name(t));
			return;
		}
		if (table_lookup(t, k, NULL)) {
			conf_error(p, line, "table %s: duplicate key \"%s\"", table_name(t),
			           conf_quote(q, sizeof(q), k));
			return;
		}
		table_put(t, k, l->v[i].value);
	}
}

void conf_add_table_list(struct conf_parser *p, int line, char *name, struct conf_list *l)
{
	struct table *t = conf_table_add(p, line, table_new(name));
	if (t != NULL)
		table_fill(p, line, t, l, 1);
	free(name);
	conf_list_free(l);
}

void conf_add_table_file(struct conf_parser *p, int line, char *name, char *path)
{
	struct table *t = conf_table_add(p, line, table_new(name));
	char err[300];
	if (t != NULL &&
	    conf_bundle_load_table(p->bundle, p->record, t, path, err, sizeof(err)) == -1)
		conf_error(p, line, "table %s: %s", name, err);
	free(name);
	free(path);
}

const struct table *conf_table_ref(struct conf_parser *p, int line, const char *name)
{
	char q[300];
	const struct table *t = find_table(p->c, name);
	if (t == NULL)
		conf_error(p, line, "unknown table <%s> (tables must be defined before use)",
		           conf_quote(q, sizeof(q), name));
	return t;
}

struct action *conf_action_add(struct conf_parser *p, int line, char *name, enum action_kind kind)
{
	char q[300];
	struct config *c = p->c;
	if (*name == '\0' || strlen(name) > CONF_MAX_NAME) {
		conf_error(p, line, "action name must have 1 to %d characters", CONF_MAX_NAME);
		free(name);
		return NULL;
	}
	if (strchr(name, ':') != NULL) {
		/* "relay:DOMAIN" is the queue's name for a remote destination */
		conf_error(p, line, "action name \"%s\" may not contain ':'",
		           conf_quote(q, sizeof(q), name));
		free(name);
		return NULL;
	}
	if (conf_action(c, name) != NULL) {
		conf_error(p, line, "duplicate action \"%s\"", conf_quote(q, sizeof(q), name));
		free(name);
		return NULL;
	}
	struct action *a = xcalloc(1, sizeof(*a));
	a->name = name;
	a->kind = kind;
	a->line = line;
	c->actions = xreallocarray(c->actions, c->n_actions + 1, sizeof(*c->actions));
	c->actions[c->n_actions++] = a;
	return a;
}

/* Only %{user} and %{home} are known; anything else with '%' is a typo
 * worth reporting. */
static int valid_template(const char *s)
{
	if (*s == '\0')
		return 0;
	for (const char *pc = strchr(s, '%'); pc != NULL; pc = strchr(pc + 1, '%')) {
		if (strncmp(pc, "%{user}", 7) != 0 && strncmp(pc, "%{home}", 7) != 0)
			return 0;
	}
	return 1;
}

void conf_add_maildir(struct conf_parser *p, int line, char *name, char *path)
{
	char q[300];
	struct action *a = conf_action_add(p, line, name, ACTION_MAILDIR);
	if (a != NULL) {
		if (!valid_template(path))
			conf_error(p, line,
			           "maildir \"%s\": empty path or unknown %%-sequence "
			           "(only %%{user} and %%{home} are known)",
			           conf_quote(q, sizeof(q), path));
		a->path = path;
		path = NULL;
		if (p->s.users != NULL)
			a->users = conf_table_ref(p, p->s.users_line, p->s.users);
		if (p->s.aliases != NULL)
			a->aliases = conf_table_ref(p, p->s.aliases_line, p->s.aliases);
		if (p->s.owner != NULL) {
			a->owner_is_user = strcmp(p->s.owner, "%{user}") == 0;
			if (!a->owner_is_user && !conf_valid_username(p->s.owner))
				conf_error(p, line, "owner \"%s\" is not a valid user name",
				           conf_quote(q, sizeof(q), p->s.owner));
			a->owner = p->s.owner;
			p->s.owner = NULL;
		}
		/* Each mailbox a system account: which ones exist is checked at
		 * RCPT time by the users table, never by a bounce afterwards. */
		if (a->owner_is_user && a->users == NULL)
			conf_error(p, line,
			           "owner \"%%{user}\" needs a users table (recipients are checked "
			           "at RCPT time)");
		if (!a->owner_is_user && a->path != NULL && strstr(a->path, "%{home}") != NULL)
			conf_error(p, line, "%%{home} needs owner \"%%{user}\"");
	}
	free(path);
	conf_scratch_clear(&p->s);
}

/* A relay host given as an address: "192.0.2.1" or "[192.0.2.1]", "[IPv6:…]". */
static int valid_literal(const char *h)
{
	char buf[64];
	struct in6_addr a6;
	struct in_addr a4;
	size_t n = strlen(h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, h + 1, n - 2);
		buf[n - 2] = '\0';
		if (strncasecmp(buf, "IPv6:", 5) == 0)
			return inet_pton(AF_INET6, buf + 5, &a6) == 1;
		return inet_pton(AF_INET, buf, &a4) == 1;
	}
	return inet_pton(AF_INET, h, &a4) == 1 || inet_pton(AF_INET6, h, &a6) == 1;
}

/*
 * Passwords and hashes live in a table file, never inline: the
 * configuration text is handed to every process (the network-facing ones
 * included), and parsing leaves copies of it in memory that no wipe can
 * find, where a file is read by the parent and the roles that need it only.
 */
static void credentials_in_file(struct conf_parser *p, int line, const struct table *t,
                                const char *what)
{
	char q[128];
	if (t != NULL && !table_from_file(t) && table_has_values(t))
		conf_error(p, line,
		           "%s <%s>: credentials must be in a table file (table %s file \"PATH\", "
		           "readable by root only), not written in the configuration",
		           what, conf_quote(q, sizeof(q), table_name(t)),
		           conf_quote(q, sizeof(q), table_name(t)));
}

void conf_add_relay(struct conf_parser *p, int line, char *name)
{
	char q[300];
	struct action *a = conf_action_add(p, line, name, ACTION_RELAY);
	if (a != NULL) {
		a->relay_host = p->s.host;
		p->s.host = NULL;
		a->relay_port = p->s.port_set ? p->s.port : 0;
		a->relay_tls = p->s.tls > 0;
		if (p->s.tls > 1)
			conf_error(p, line, "duplicate option \"tls\"");
		if (p->s.auth_set > 1)
			conf_error(p, line, "duplicate option \"auth\"");
		if (a->relay_host != NULL && !conf_valid_hostname(a->relay_host) &&
		    !valid_literal(a->relay_host))
			conf_error(p, line, "relay host \"%s\" is not a host name or address",
			           conf_quote(q, sizeof(q), a->relay_host));
		if (p->s.auth_table != NULL) {
			a->relay_auth = conf_table_ref(p, line, p->s.auth_table);
			/* A smarthost password is a password, not a hash: from SQL it
			 * would cross the queue and the lookup role in clear, for a
			 * single login a file holds as well. */
			if (a->relay_auth != NULL && table_kind(a->relay_auth) != TABLE_MEMORY)
				conf_error(
				    p, line,
				    "relay auth: table <%s> is kept in a database; a smarthost's "
				    "password must be in a table file (table %s file \"PATH\", "
				    "readable by root only): only raven-relay may hold it",
				    conf_quote(q, sizeof(q), table_name(a->relay_auth)),
				    conf_quote(q, sizeof(q), table_name(a->relay_auth)));
			credentials_in_file(p, line, a->relay_auth, "relay auth");
			const char *user, *pass;
			if (a->relay_auth != NULL &&
			    (table_size(a->relay_auth) != 1 ||
			     !table_first(a->relay_auth, &user, &pass) || pass == NULL))
				conf_error(p, line,
				           "relay auth <%s> must hold one entry, login = password",
				           conf_quote(q, sizeof(q), p->s.auth_table));
			if (a->relay_host == NULL)
				conf_error(
				    p, line,
				    "relay auth needs a host: credentials go to a smarthost, "
				    "never to whichever MX a recipient names");
		}
	}
	conf_scratch_clear(&p->s);
}

void conf_set_resolver(struct conf_parser *p, int line, char *addr)
{
	char q[300];
	struct config *c = p->c;
	struct in6_addr a6;
	struct in_addr a4;
	if (c->resolver != NULL) {
		conf_error(p, line, "resolver already set");
	} else if (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1) {
		conf_error(p, line, "resolver \"%s\" is not a numeric IPv4 or IPv6 address",
		           conf_quote(q, sizeof(q), addr));
	} else {
		c->resolver = addr;
		c->resolver_port = p->s.port_set ? p->s.port : 0;
		addr = NULL;
	}
	free(addr);
	conf_scratch_clear(&p->s);
}

void conf_add_match(struct conf_parser *p, int line, enum match_from from, char *action)
{
	char q[300];
	struct config *c = p->c;
	const struct action *a = conf_action(c, action);
	const struct table *domains = NULL;
	/* Never an open relay: relaying for anyone is refused, whatever else
	 * the file says. */
	if (a != NULL && a->kind == ACTION_RELAY && from == FROM_ANY && p->s.for_ == FOR_ANY)
		conf_error(p, line,
		           "match from any for any with relay action \"%s\" would make an open "
		           "relay (relay from local or auth clients, or for listed domains)",
		           conf_quote(q, sizeof(q), action));
	if (a == NULL) {
		conf_error(p, line, "unknown action \"%s\" (actions must be defined before use)",
		           conf_quote(q, sizeof(q), action));
	}
	if (p->s.for_ == FOR_DOMAIN && p->s.for_table != NULL) {
		domains = conf_table_ref(p, line, p->s.for_table);
	} else if (p->s.for_ == FOR_DOMAIN && p->s.for_list != NULL) {
		/* A literal list becomes a table no statement can name (a space). */
		char name[32];
		snprintf(name, sizeof(name), "match line %d", line);
		struct table *t = table_new(name);
		c->tables = xreallocarray(c->tables, c->n_tables + 1, sizeof(*c->tables));
		c->tables[c->n_tables++] = t;
		table_fill(p, line, t, p->s.for_list, 0);
		if (p->s.for_list->n == 0)
			conf_error(p, line, "match: empty domain list");
		domains = t;
	}
	c->rules = xreallocarray(c->rules, c->n_rules + 1, sizeof(*c->rules));
	struct match_rule *r = &c->rules[c->n_rules++];
	r->from = from;
	r->for_ = p->s.for_;
	r->domains = domains;
	r->action = a;
	r->line = line;
	free(action);
	conf_scratch_clear(&p->s);
}

/* Certificates are loaded by the smtp role before it confines itself;
 * here only the statement is recorded (ravend -n loads them too). */
void conf_add_certificate(struct conf_parser *p, int line, char *cert, char *key)
{
	struct config *c = p->c;
	if (*cert == '\0' || *key == '\0') {
		conf_error(p, line, "tls certificate: empty path");
	} else if (c->n_certs >= CONF_MAX_CERTS) {
		conf_error(p, line, "tls certificate: more than %d certificates", CONF_MAX_CERTS);
	} else {
		c->certs = xreallocarray(c->certs, c->n_certs + 1, sizeof(*c->certs));
		struct tls_cert *t = &c->certs[c->n_certs++];
		t->cert = cert;
		t->key = key;
		t->line = line;
		return;
	}
	free(cert);
	free(key);
}

void conf_set_auth_table(struct conf_parser *p, int line, enum conf_auth_table which, char *name)
{
	int users = which == CONF_AUTH_USERS;
	if (once(p, line, users ? &p->auth_users_line : &p->auth_senders_line,
	         users ? "auth users" : "auth senders") == 0) {
		const struct table *t = conf_table_ref(p, line, name);
		/* SQL tables serve both: "auth users" asked by the auth role
		 * (auth_sql.h), "auth senders" by the smtp role at MAIL. */
		if (users)
			credentials_in_file(p, line, t, "auth users");
		if (users)
			p->c->auth_users = t;
		else
			p->c->auth_senders = t;
	}
	free(name);
}
