/*
 * Unit tests for the configuration language (src/conf/config.c, parse.y,
 * lex.c, conf_build.c): every statement, every error message with its
 * file:line, the built-in default, conf_finish() and the helpers.
 */
#include "unit_util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"
#include "config.h"
#include "xmalloc.h"

static struct config *parse(const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return conf_parse_string("t.conf", text, strlen(text), err, errlen);
}

static struct config *parse_ok(const char *text)
{
	char err[512];
	struct config *c = parse(text, err, sizeof(err));
	if (c == NULL)
		fail_msg("unexpected error: %s\n--- text:\n%s", err, text);
	return c;
}

/* A table file in a fresh directory holding text; the directory goes to *dir. */
static char *table_file(const char *text, char **dir)
{
	*dir = unit_tmpdir();
	char *path = xasprintf("%s/table", *dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* limits smtp-processes: limits connections is shared out, rounded up. */
static void test_smtp_processes(void **state)
{
	(void)state;
	struct config *c = parse_ok("limits connections 100000 smtp-processes 7\n"
	                            "listen on 127.0.0.1 port 2525\n"
	                            "table domains { \"example.org\" }\n"
	                            "action \"local\" maildir \"/m/%{user}\"\n"
	                            "match from any for domain <domains> action \"local\"\n");
	assert_int_equal(c->limits.smtp_processes, 7);
	assert_int_equal(conf_connections_each(c), 14286);
	conf_free(c);
	c = parse_ok("limits connections 10 smtp-processes 5\n"
	             "listen on 127.0.0.1 port 2525\n"
	             "table domains { \"example.org\" }\n"
	             "action \"local\" maildir \"/m/%{user}\"\n"
	             "match from any for domain <domains> action \"local\"\n");
	assert_int_equal(conf_connections_each(c), 2);
	conf_free(c);
}

static void expect_err(const char *text, const char *want)
{
	char err[512];
	struct config *c = parse(text, err, sizeof(err));
	if (c != NULL) {
		conf_free(c);
		fail_msg("expected error \"%s\", got success\n--- text:\n%s", want, text);
	}
	if (strcmp(err, want) != 0)
		fail_msg("expected error \"%s\"\n             got \"%s\"\n--- text:\n%s", want, err,
		         text);
}

#define MIN_TAIL                                                                                   \
	"listen on 127.0.0.1 port 2525\n"                                                          \
	"table domains { \"example.org\" }\n"                                                      \
	"action \"local\" maildir \"/m/%{user}\"\n"                                                \
	"match from any for domain <domains> action \"local\"\n"

static void test_queue_options(void **state)
{
	(void)state;
	char err[512];
	struct config *c = parse(
	    "queue retry-min 1s retry-max 2m lifetime 30s\n"
	    "queue delay-warning 1h concurrency 7 per-destination 3 bounce-size 1M\n" MIN_TAIL,
	    err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->retry_min, 1);
	assert_int_equal(c->retry_max, 120);
	assert_int_equal(c->max_lifetime, 30);
	assert_int_equal(c->delay_warning, 3600);
	assert_int_equal(c->queue_concurrency, 7);
	assert_int_equal(c->queue_per_destination, 3);
	assert_int_equal(c->bounce_size, 1024 * 1024);
	conf_free(c);
	c = parse("queue delay-warning off\n" MIN_TAIL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->delay_warning, 0);
	conf_free(c);
	c = parse(MIN_TAIL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->delay_warning, 4 * 3600);
	assert_int_equal(c->queue_concurrency, 100);
	assert_int_equal(c->queue_per_destination, 20);
	assert_int_equal(c->relay_timeout.connect, 30);
	assert_int_equal(c->relay_timeout.greeting, 300);
	assert_int_equal(c->relay_timeout.command, 300);
	assert_int_equal(c->relay_timeout.data, 120);
	assert_int_equal(c->relay_timeout.block, 180);
	assert_int_equal(c->relay_timeout.dot, 600);
	assert_int_equal(c->relay_timeout.idle, 5);
	/* commits sync their own files; 100 MB and 1,000 inodes kept free */
	assert_int_equal(c->queue_syncfs, 0);
	assert_true(c->queue_min_free == 100u * 1024 * 1024);
	assert_true(c->queue_min_free_inodes == 1000);
	conf_free(c);
	c = parse("queue sync syncfs min-free 5M min-free-inodes 20\n" MIN_TAIL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->queue_syncfs, 1);
	assert_true(c->queue_min_free == 5u * 1024 * 1024);
	assert_true(c->queue_min_free_inodes == 20);
	conf_free(c);
	c = parse("queue sync files min-free 0 min-free-inodes 0\n" MIN_TAIL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->queue_syncfs, 0);
	assert_true(c->queue_min_free == 0);
	assert_true(c->queue_min_free_inodes == 0);
	conf_free(c);
	c = parse("relay timeout connect 10s greeting 1m command 2m\n"
	          "relay timeout data 3m block 4m dot 20m idle 1\n" MIN_TAIL,
	          err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->relay_timeout.connect, 10);
	assert_int_equal(c->relay_timeout.greeting, 60);
	assert_int_equal(c->relay_timeout.command, 120);
	assert_int_equal(c->relay_timeout.data, 180);
	assert_int_equal(c->relay_timeout.block, 240);
	assert_int_equal(c->relay_timeout.dot, 1200);
	assert_int_equal(c->relay_timeout.idle, 1);
	conf_free(c);
	assert_null(parse("relay timeout idle 0\n" MIN_TAIL, err, sizeof(err)));
	assert_non_null(strstr(err, "relay timeout idle"));
}

static void test_design_example(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char *aliases = xasprintf("%s/aliases", dir);
	char *users = xasprintf("%s/users", dir);
	FILE *f = fopen(aliases, "w");
	assert_non_null(f);
	fputs("# aliases\npostmaster: root\nroot: alice\n", f);
	fclose(f);
	f = fopen(users, "w");
	assert_non_null(f);
	fputs("alice:$6$salt$hash\nbob:$6$x$y\n", f);
	fclose(f);
	char *text = xasprintf(
	    "hostname \"mx.example.org\"\n"
	    "data \"/var/lib/raven\"\n"
	    "listen on 127.0.0.1 port 25\n"
	    "listen on 0.0.0.0 port 587 submission            # AUTH required to relay\n"
	    "local networks { \"127.0.0.1/32\", \"::1/128\" }    # who \"from local\" is\n"
	    "table domains { \"example.org\", \"example.net\" }\n"
	    "table aliases file \"%s\"          # aliases(5) format\n"
	    "table users   file \"%s\"            # name:crypt-hash, one a line\n"
	    "limits message-size 35M recipients 100 connections 1000 per-ip 20\n"
	    "action \"mailbox\" maildir \"/var/mail/%%{user}\" users <users> alias <aliases>\n"
	    "match from any  for domain <domains> action \"mailbox\"\n"
	    "# anything not matched: 550 5.7.1 relaying denied\n",
	    aliases, users);
	struct config *c = parse_ok(text);
	assert_string_equal(c->file, "t.conf");
	assert_string_equal(c->hostname, "mx.example.org");
	assert_int_equal(c->hostname_auto, 0);
	assert_string_equal(c->data_dir, "/var/lib/raven");
	assert_string_equal(c->user, "raven");
	assert_int_equal(c->n_listeners, 2);
	assert_string_equal(c->listeners[0].addr, "127.0.0.1");
	assert_int_equal(c->listeners[0].port, 25);
	assert_int_equal(c->listeners[0].submission, 0);
	assert_string_equal(c->listeners[1].addr, "0.0.0.0");
	assert_int_equal(c->listeners[1].port, 587);
	assert_int_equal(c->listeners[1].submission, 1);
	assert_int_equal(c->listeners[1].tls, 0);
	assert_int_equal(c->n_local_nets, 2);
	assert_int_equal(c->local_nets[0].family, AF_INET);
	assert_int_equal(c->local_nets[0].prefix, 32);
	assert_int_equal(c->local_nets[1].family, AF_INET6);
	assert_int_equal(c->n_tables, 3);
	assert_int_equal(c->limits.message_size, 35u << 20);
	assert_int_equal(c->limits.recipients, 100);
	assert_int_equal(c->limits.connections, 1000);
	assert_int_equal(c->limits.per_ip, 20);
	const struct action *a = conf_action(c, "mailbox");
	assert_non_null(a);
	assert_int_equal(a->kind, ACTION_MAILDIR);
	assert_string_equal(a->path, "/var/mail/%{user}");
	assert_non_null(a->users);
	assert_string_equal(table_name(a->users), "users");
	assert_int_equal(table_size(a->users), 2);
	assert_non_null(a->aliases);
	const char *v = NULL;
	assert_true(table_lookup(a->aliases, "ROOT", &v));
	assert_string_equal(v, "alice");
	assert_null(a->owner);
	assert_int_equal(c->n_rules, 1);
	assert_int_equal(c->rules[0].from, FROM_ANY);
	assert_int_equal(c->rules[0].for_, FOR_DOMAIN);
	assert_ptr_equal(c->rules[0].action, a);
	assert_int_equal(c->rules[0].line, 11);
	assert_true(table_lookup(c->rules[0].domains, "Example.NET", NULL));
	assert_null(conf_action(c, "nope"));
	conf_free(c);

	/* the same file through conf_load */
	char *path = xasprintf("%s/raven.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	char err[512];
	c = conf_load(path, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->file, path);
	conf_free(c);

	/* errors carry the real path */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hostname \"a\"\nbogus\n", f);
	fclose(f);
	assert_null(conf_load(path, err, sizeof(err)));
	char *want = xasprintf("%s:2: unknown statement \"bogus\"", path);
	assert_string_equal(err, want);
	free(want);
	char *missing = xasprintf("%s/missing.conf", dir);
	assert_null(conf_load(missing, err, sizeof(err)));
	want = xasprintf("%s: No such file or directory", missing);
	assert_string_equal(err, want);
	free(want);
	free(missing);
	assert_null(conf_load(dir, err, sizeof(err)));

	free(path);
	free(text);
	free(aliases);
	free(users);
	unit_rmtree(dir);
	free(dir);
}

/* owner "%{user}": each mailbox a system account, listed in a users table;
 * %{home} its home directory, only with it. */
static void test_owner_is_user(void **state)
{
	(void)state;
	struct config *c = parse_ok("table sys { \"alice\", \"bob\" }\n"
	                            "action \"home\" maildir \"%{home}/Maildir\" users <sys> "
	                            "owner \"%{user}\"\n" MIN_TAIL);
	const struct action *a = conf_action(c, "home");
	assert_true(a->owner_is_user);
	char err[256];
	assert_int_equal(conf_finish(c, err, sizeof(err)), 0);
	assert_string_equal(a->path, "%{home}/Maildir"); /* not made relative to cwd */
	char *p = conf_maildir_path(c, a, "alice", "/home/alice");
	assert_string_equal(p, "/home/alice/Maildir");
	free(p);
	assert_null(conf_maildir_path(c, a, "alice", NULL));
	assert_null(conf_maildir_path(c, a, "alice", "relative/home"));
	conf_free(c);
	c = parse_ok("table sys { \"alice\" }\n"
	             "action \"both\" maildir \"/m/%{user}/x%{home}y\" users <sys> "
	             "owner \"%{user}\"\n" MIN_TAIL);
	p = conf_maildir_path(c, conf_action(c, "both"), "alice", "/h");
	assert_string_equal(p, "/m/alice/x/hy");
	free(p);
	conf_free(c);
	expect_err("action \"a\" maildir \"/m/%{user}\" owner \"%{user}\"\n" MIN_TAIL,
	           "t.conf:1: owner \"%{user}\" needs a users table (recipients are checked at "
	           "RCPT time)");
	expect_err("action \"a\" maildir \"%{home}/Maildir\"\n" MIN_TAIL,
	           "t.conf:1: %{home} needs owner \"%{user}\"");
	expect_err("action \"a\" maildir \"/m\" owner \"%{usr}\"\n" MIN_TAIL,
	           "t.conf:1: owner \"%{usr}\" is not a valid user name");
}

/* log stderr | syslog ["SOCKET"] | file "PATH"; default: none given. */
static void test_log_statement(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		enum log_target to;
		const char *path;
	} ok[] = {
	    {"", LOG_TO_DEFAULT, NULL},
	    {"log stderr\n", LOG_TO_STDERR, NULL},
	    {"log syslog\n", LOG_TO_SYSLOG, NULL},
	    {"log syslog \"/run/systemd/journal/dev-log\"\n", LOG_TO_SYSLOG,
	     "/run/systemd/journal/dev-log"},
	    {"log file \"/var/log/raven.log\"\n", LOG_TO_FILE, "/var/log/raven.log"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *text = xasprintf("%s%s", ok[i].line, MIN_TAIL);
		struct config *c = parse_ok(text);
		assert_int_equal(c->log_to, ok[i].to);
		if (ok[i].path)
			assert_string_equal(c->log_path, ok[i].path);
		else
			assert_null(c->log_path);
		conf_free(c);
		free(text);
	}
	/* a relative log file is taken from the start directory, like data */
	struct config *rel = parse_ok("log file \"logs/raven.log\"\n" MIN_TAIL);
	char err[256], cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(conf_finish(rel, err, sizeof(err)), 0);
	char *want = xasprintf("%s/logs/raven.log", cwd);
	assert_string_equal(rel->log_path, want);
	free(want);
	conf_free(rel);
	expect_err("log journal\n" MIN_TAIL,
	           "t.conf:1: log \"journal\": expected stderr, syslog [\"SOCKET\"] or file "
	           "\"PATH\"");
	expect_err("log stderr \"x\"\n" MIN_TAIL,
	           "t.conf:1: log \"stderr\": expected stderr, syslog [\"SOCKET\"] or file "
	           "\"PATH\"");
	expect_err("log syslog \"dev/log\"\n" MIN_TAIL,
	           "t.conf:1: log syslog: the socket must be an absolute path");
	expect_err("log file \"\"\n" MIN_TAIL, "t.conf:1: log file: empty path");
	expect_err("log\n" MIN_TAIL, "t.conf:1: syntax error, unexpected end of line, expecting "
	                             "file or quoted string or word");
	expect_err("log stderr\nlog syslog\n" MIN_TAIL, "t.conf:2: log already set on line 1");
}

static void test_statements(void **state)
{
	(void)state;
	struct config *c = parse_ok("hostname mx.example.org.\n"
	                            "data var/spool\n"
	                            "user _raven\n"
	                            "listen on localhost port 25\n"
	                            "listen on [::1] port 26 submission\n"
	                            "listen on \"2001:DB8::1\" submission\n"
	                            "listen on 192.0.2.1\n"
	                            "local networks {\n"
	                            "  \"10.0.0.0/8\",\n"
	                            "  \"fd00::/8\"   # comment in a list\n"
	                            "  \"192.0.2.7\"\n"
	                            "}\n"
	                            "limits command-line 1024 text-line 2000 errors 5 hops 50\n"
	                            "limits message-size 512K\n"
	                            "timeout command 5m data 2m greeting 30 session 1h\n"
	                            "limits data-rate 1K\n"
	                            "queue retry-min 30s retry-max 2h lifetime 3d\n"
	                            "table kv { \"A\" = \"1\", \"b\" = \"2\" \"c\" }\n"
	                            "table users { \"alice\" }\n"
	                            "action \"x\" maildir \"m/%{user}/Maildir\" owner \"vmail\" "
	                            "alias <kv>\n"
	                            "match from local for any action \"x\"\n"
	                            "match from auth for domain \"Example.COM\" action \"x\"\n"
	                            "match from any for domain { \"a.example\", \"b.example\" } "
	                            "action \"x\"\n"
	                            "\n\n# done\n");
	assert_string_equal(c->hostname, "mx.example.org");
	assert_string_equal(c->data_dir, "var/spool");
	assert_string_equal(c->user, "_raven");
	assert_int_equal(c->n_listeners, 5);
	assert_string_equal(c->listeners[0].addr, "127.0.0.1");
	assert_string_equal(c->listeners[1].addr, "::1");
	assert_int_equal(c->listeners[1].port, 25);
	assert_string_equal(c->listeners[2].addr, "::1");
	assert_int_equal(c->listeners[2].port, 26);
	assert_int_equal(c->listeners[2].submission, 1);
	assert_string_equal(c->listeners[3].addr, "2001:db8::1");
	assert_int_equal(c->listeners[3].port, 587);
	assert_string_equal(c->listeners[4].addr, "192.0.2.1");
	assert_int_equal(c->listeners[4].port, 25);
	assert_int_equal(c->n_local_nets, 3);
	assert_int_equal(c->local_nets[2].prefix, 32);
	assert_int_equal(c->limits.command_line, 1024);
	assert_int_equal(c->limits.text_line, 2000);
	assert_int_equal(c->limits.errors, 5);
	assert_int_equal(c->limits.hops, 50);
	assert_int_equal(c->limits.message_size, 512 * 1024);
	assert_int_equal(c->limits.recipients, 100);
	assert_int_equal(c->limits.timeout_command, 300);
	assert_int_equal(c->limits.timeout_data, 120);
	assert_int_equal(c->limits.timeout_greeting, 30);
	assert_int_equal(c->limits.timeout_session, 3600);
	assert_int_equal(c->limits.data_rate, 1024);
	assert_int_equal(c->retry_min, 30);
	assert_int_equal(c->retry_max, 7200);
	assert_int_equal(c->max_lifetime, 3 * 86400);
	const struct action *a = conf_action(c, "x");
	assert_non_null(a);
	assert_string_equal(a->owner, "vmail");
	assert_null(a->users);
	const char *v;
	assert_true(table_lookup(a->aliases, "a", &v));
	assert_string_equal(v, "1");
	assert_true(table_lookup(a->aliases, "c", &v));
	assert_null(v);
	assert_int_equal(c->n_rules, 3);
	assert_int_equal(c->rules[0].from, FROM_LOCAL);
	assert_int_equal(c->rules[0].for_, FOR_ANY);
	assert_null(c->rules[0].domains);
	assert_int_equal(c->rules[1].from, FROM_AUTH);
	assert_true(table_lookup(c->rules[1].domains, "example.com", NULL));
	assert_int_equal(c->rules[2].line, 23);
	assert_true(table_lookup(c->rules[2].domains, "B.example", NULL));
	assert_false(table_lookup(c->rules[2].domains, "c.example", NULL));

	/* conf_finish makes the paths absolute */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char err[256];
	assert_int_equal(conf_finish(c, err, sizeof(err)), 0);
	char *want = xasprintf("%s/var/spool", cwd);
	assert_string_equal(c->data_dir, want);
	free(want);
	want = xasprintf("%s/m/%%{user}/Maildir", cwd);
	assert_string_equal(a->path, want);
	free(want);
	char *p = conf_maildir_path(c, a, "bob", NULL);
	want = xasprintf("%s/m/bob/Maildir", cwd);
	assert_string_equal(p, want);
	free(want);
	free(p);
	assert_null(conf_maildir_path(c, a, "../etc", NULL));
	assert_null(conf_maildir_path(c, a, "", NULL));
	assert_null(conf_maildir_path(c, NULL, "bob", NULL));
	conf_free(c);

	/* a last line without newline; CRLF line ends; a continuation line */
	c = parse_ok("listen on 127.0.0.1\r\ntable d { \"x\" }\r\n"
	             "action \"l\" maildir \\\n \"/m\"\nmatch from any for any action \"l\"");
	assert_string_equal(conf_action(c, "l")->path, "/m");
	conf_free(c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config *c = parse_ok(MIN_TAIL);
	assert_non_null(c->hostname);
	assert_int_equal(c->hostname_auto, 1);
	assert_string_equal(c->data_dir, "./var");
	assert_string_equal(c->user, "raven");
	assert_int_equal(c->limits.message_size, 35 * 1024 * 1024);
	assert_int_equal(c->limits.recipients, 100);
	assert_int_equal(c->limits.connections, 1000);
	assert_int_equal(c->limits.per_ip, 20);
	assert_int_equal(c->limits.smtp_processes, 1);
	assert_int_equal(conf_connections_each(c), 1000);
	assert_int_equal(c->limits.command_line, 2048);
	assert_int_equal(c->limits.text_line, 1000);
	assert_int_equal(c->limits.errors, 10);
	assert_int_equal(c->limits.hops, 100);
	assert_int_equal(c->limits.timeout_command, 300);
	assert_int_equal(c->limits.timeout_data, 180);
	assert_int_equal(c->limits.timeout_greeting, 300);
	assert_int_equal(c->limits.timeout_session, 1800);
	assert_int_equal(c->limits.data_rate, 500);
	assert_string_equal(c->net_user, "raven-net");
	assert_int_equal(c->retry_min, 60);
	assert_int_equal(c->retry_max, 3600);
	assert_int_equal(c->max_lifetime, 5 * 86400);
	assert_int_equal(c->n_local_nets, 2);

	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET, "127.1.2.3", &sin.sin_addr);
	assert_true(conf_is_local_net(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "128.0.0.1", &sin.sin_addr);
	assert_false(conf_is_local_net(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	assert_true(conf_is_local_net(c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::2", &sin6.sin6_addr);
	assert_false(conf_is_local_net(c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::ffff:127.0.0.9", &sin6.sin6_addr);
	assert_true(conf_is_local_net(c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "::ffff:10.0.0.9", &sin6.sin6_addr);
	assert_false(conf_is_local_net(c, (struct sockaddr *)&sin6));
	assert_false(conf_is_local_net(c, NULL));
	conf_free(c);

	c = parse_ok(
	    "local networks { \"10.1.0.0/17\", \"2001:db8::/33\", \"::ffff:0:0/96\" }\n" MIN_TAIL);
	inet_pton(AF_INET, "10.1.127.255", &sin.sin_addr);
	assert_true(conf_is_local_net(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "10.1.128.0", &sin.sin_addr);
	assert_false(conf_is_local_net(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_false(conf_is_local_net(c, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "2001:db8:7fff::1", &sin6.sin6_addr);
	assert_true(conf_is_local_net(c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db8:8000::1", &sin6.sin6_addr);
	assert_false(conf_is_local_net(c, (struct sockaddr *)&sin6));
	/* a mapped address matches an IPv6 network written for it */
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr);
	assert_true(conf_is_local_net(c, (struct sockaddr *)&sin6));
	conf_free(c);
}

static void test_builtin_default(void **state)
{
	(void)state;
	struct config *c = conf_default();
	assert_null(c->file);
	assert_string_equal(c->data_dir, "./var");
	assert_int_equal(c->n_listeners, 3);
	assert_string_equal(c->listeners[0].addr, "127.0.0.1");
	assert_int_equal(c->listeners[0].port, 2525);
	assert_int_equal(c->listeners[0].submission, 0);
	assert_string_equal(c->listeners[1].addr, "::1");
	assert_int_equal(c->listeners[1].port, 2525);
	assert_string_equal(c->listeners[2].addr, "127.0.0.1");
	assert_int_equal(c->listeners[2].port, 2587);
	assert_int_equal(c->listeners[2].submission, 1);
	const struct action *a = conf_action(c, "local");
	assert_non_null(a);
	assert_int_equal(a->kind, ACTION_MAILDIR);
	assert_null(a->users);
	assert_null(a->aliases);
	assert_int_equal(c->n_rules, 2);
	assert_int_equal(c->rules[0].from, FROM_ANY);
	assert_int_equal(c->rules[0].for_, FOR_DOMAIN);
	assert_string_equal(table_name(c->rules[0].domains), "domains");
	assert_true(table_lookup(c->rules[0].domains, "LOCALHOST", NULL));
	assert_ptr_equal(c->rules[0].action, a);
	/* local clients' mail to other domains is relayed by MX */
	const struct action *out = conf_action(c, "outbound");
	assert_non_null(out);
	assert_int_equal(out->kind, ACTION_RELAY);
	assert_null(out->relay_host);
	assert_int_equal(c->rules[1].from, FROM_LOCAL);
	assert_int_equal(c->rules[1].for_, FOR_ANY);
	assert_ptr_equal(c->rules[1].action, out);
	assert_non_null(c->hostname);

	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char err[256];
	assert_int_equal(conf_finish(c, err, sizeof(err)), 0);
	assert_int_equal(c->hostname_auto, 0);
	char *want = xasprintf("%s/var", cwd);
	assert_string_equal(c->data_dir, want);
	free(want);
	want = xasprintf("%s/var/mail/%%{user}", cwd);
	assert_string_equal(a->path, want);
	free(want);
	/* idempotent */
	assert_int_equal(conf_finish(c, err, sizeof(err)), 0);
	want = xasprintf("%s/var/mail/alice", cwd);
	char *p = conf_maildir_path(c, a, "alice", NULL);
	assert_string_equal(p, want);
	free(p);
	free(want);
	conf_free(c);
}

static void test_unsupported(void **state)
{
	(void)state;
	/* dnsbl and dkim are statements of their own now: test_config_checks.c */
	/* plain submission is accepted */
	struct config *c = parse_ok("listen on 127.0.0.1 port 587 submission\n" MIN_TAIL);
	conf_free(c);
}

/* TLS and AUTH: certificates, implicit TLS, plaintext-auth on loopback
 * only, the auth tables, their timeouts and limits, and no open relay. */
static void test_tls_auth(void **state)
{
	(void)state;
	char *dir;
	char *passwd = table_file("alice: $y$j9T$salt$hash\nbob: $6$s$h\n", &dir);
	char *text = xasprintf("tls certificate \"/etc/raven/a.pem\" key \"/etc/raven/a.key\"\n"
	                       "tls certificate \"b.pem\" key \"keys/b.key\"\n"
	                       "listen on 127.0.0.1 port 465 tls submission\n"
	                       "listen on 0.0.0.0 tls\n"
	                       "listen on localhost port 2587 submission plaintext-auth\n"
	                       "listen on [::1] port 2588 plaintext-auth\n"
	                       "table passwd file \"%s\"\n"
	                       "table senders { \"alice\" = \"alice@example.org, @example.net\" }\n"
	                       "auth users <passwd>\n"
	                       "auth senders <senders>\n"
	                       "timeout tls 10s\n"
	                       "limits auth-failures 3 auth-lockout 2m\n%s",
	                       passwd, MIN_TAIL);
	struct config *c = parse_ok(text);
	free(text);
	unit_rmtree(dir);
	free(dir);
	free(passwd);
	assert_int_equal(c->n_certs, 2);
	assert_string_equal(c->certs[0].cert, "/etc/raven/a.pem");
	assert_string_equal(c->certs[0].key, "/etc/raven/a.key");
	assert_int_equal(c->certs[1].line, 2);
	assert_int_equal(c->n_listeners, 6);
	assert_int_equal(c->listeners[0].port, 465);
	assert_true(c->listeners[0].tls && c->listeners[0].submission);
	assert_int_equal(c->listeners[1].port, 465); /* tls alone: port 465 too */
	assert_true(c->listeners[1].tls && !c->listeners[1].submission);
	assert_true(c->listeners[2].plaintext_auth && c->listeners[3].plaintext_auth);
	assert_true(c->listeners[4].plaintext_auth && !c->listeners[4].tls);
	assert_false(c->listeners[5].plaintext_auth);
	assert_true(conf_auth_enabled(c));
	assert_string_equal(table_name(c->auth_users), "passwd");
	assert_string_equal(table_name(c->auth_senders), "senders");
	assert_int_equal(c->limits.timeout_tls, 10);
	assert_int_equal(c->limits.auth_failures, 3);
	assert_int_equal(c->limits.auth_lockout, 120);
	/* relative certificate paths are taken from the start directory */
	char err[512], cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(conf_finish(c, err, sizeof(err)), 0);
	char *want = xasprintf("%s/b.pem", cwd);
	assert_string_equal(c->certs[1].cert, want);
	free(want);
	want = xasprintf("%s/keys/b.key", cwd);
	assert_string_equal(c->certs[1].key, want);
	free(want);
	/* every process but the auth role forgets the hashes, not the logins */
	const char *v = NULL;
	assert_true(table_lookup(c->auth_users, "alice", &v));
	assert_string_equal(v, "$y$j9T$salt$hash");
	conf_wipe_secrets(c, 0);
	assert_true(table_lookup(c->auth_users, "ALICE", &v));
	assert_null(v);
	assert_true(table_lookup(c->auth_users, "bob", &v));
	assert_null(v);
	assert_true(table_lookup(c->auth_senders, "alice", &v)); /* not a secret */
	assert_string_equal(v, "alice@example.org, @example.net");
	conf_free(c);

	/* defaults */
	c = parse_ok(MIN_TAIL);
	assert_int_equal(c->n_certs, 0);
	assert_false(conf_auth_enabled(c));
	assert_null(c->auth_senders);
	assert_int_equal(c->limits.timeout_tls, 60);
	assert_int_equal(c->limits.auth_failures, 5);
	assert_int_equal(c->limits.auth_lockout, 900);
	assert_false(c->listeners[0].tls || c->listeners[0].plaintext_auth);
	conf_free(c);

	expect_err(MIN_TAIL "listen on 0.0.0.0 port 2587 submission plaintext-auth\n",
	           "t.conf:5: plaintext-auth is only allowed on a loopback address (passwords "
	           "would cross the network in clear)");
	expect_err(MIN_TAIL "listen on \"2001:db8::1\" plaintext-auth\n",
	           "t.conf:5: plaintext-auth is only allowed on a loopback address (passwords "
	           "would cross the network in clear)");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 26 tls tls\n",
	           "t.conf:5: duplicate option \"tls\"");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 26 plaintext-auth plaintext-auth\n",
	           "t.conf:5: duplicate option \"plaintext-auth\"");
	expect_err("tls certificate \"\" key \"/k.pem\"\n" MIN_TAIL,
	           "t.conf:1: tls certificate: empty path");
	expect_err("tls certificate \"/c.pem\"\n" MIN_TAIL,
	           "t.conf:1: syntax error, unexpected end of line, expecting key");
	expect_err(MIN_TAIL "auth users <nope>\n",
	           "t.conf:5: unknown table <nope> (tables must be defined before use)");
	expect_err("table p { \"a\" }\nauth users <p>\nauth users <p>\n" MIN_TAIL,
	           "t.conf:3: auth users already set on line 2");
	expect_err("table p { \"a\" }\nauth senders <p>\nauth senders <p>\n" MIN_TAIL,
	           "t.conf:3: auth senders already set on line 2");
	expect_err(MIN_TAIL "auth users \"passwd\"\n",
	           "t.conf:5: syntax error at \"\\\"passwd\\\"\": unexpected quoted string, "
	           "expecting <table>");
	expect_err(MIN_TAIL "timeout tls 0\n",
	           "t.conf:5: timeout tls: out of range (1 to 3600 seconds)");
	expect_err(MIN_TAIL "limits auth-failures 0\n",
	           "t.conf:5: auth-failures: out of range (1 to 1000000)");
	/*
	 * Never an open relay, whatever else the file says: "from any for any"
	 * with a relay action is refused; from local or auth clients, or for
	 * listed domains, it is not this refusal. The rule's builder is called
	 * directly, so the test does not depend on how relay actions are
	 * otherwise checked.
	 */
	static const char open_relay[] =
	    "t.conf:2: match from any for any with relay action \"out\" would make an open relay "
	    "(relay from local or auth clients, or for listed domains)";
	static const struct {
		enum match_from from;
		enum match_for for_;
		int open;
	} rules[] = {{FROM_ANY, FOR_ANY, 1},
	             {FROM_LOCAL, FOR_ANY, 0},
	             {FROM_AUTH, FOR_ANY, 0},
	             {FROM_ANY, FOR_DOMAIN, 0}};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct conf_parser p;
		memset(&p, 0, sizeof(p));
		p.name = "t.conf";
		p.c = conf_new();
		conf_add_relay(&p, 1, xstrdup("out"));
		p.has_err = 0;
		p.s.for_ = rules[i].for_;
		if (rules[i].for_ == FOR_DOMAIN) {
			p.s.for_list = conf_list_new();
			conf_list_add(p.s.for_list, 2, xstrdup("example.net"), NULL);
		}
		conf_add_match(&p, 2, rules[i].from, xstrdup("out"));
		if (rules[i].open) {
			assert_true(p.has_err);
			assert_string_equal(p.err, open_relay);
		} else {
			assert_true(!p.has_err || strcmp(p.err, open_relay) != 0);
		}
		conf_scratch_clear(&p.s);
		conf_free(p.c);
	}
}

static void test_errors(void **state)
{
	(void)state;
	/* syntax */
	expect_err("bogus\n", "t.conf:1: unknown statement \"bogus\"");
	expect_err(MIN_TAIL "limits foo 3\n", "t.conf:5: syntax error at \"foo\": unexpected word");
	expect_err(
	    MIN_TAIL "hostname \"a\" \"b\"\n",
	    "t.conf:5: syntax error at \"\\\"b\\\"\": unexpected quoted string, expecting end "
	    "of line");
	expect_err(MIN_TAIL "hostname\n",
	           "t.conf:5: syntax error, unexpected end of line, expecting quoted string or "
	           "word");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port\n",
	           "t.conf:5: syntax error, unexpected end of line, expecting number");
	expect_err(MIN_TAIL "limits\n", "t.conf:5: syntax error, unexpected end of line");
	expect_err(
	    "match from nowhere for any action \"x\"\n" MIN_TAIL,
	    "t.conf:1: syntax error at \"nowhere\": unexpected word, expecting any or auth or "
	    "local");
	expect_err(
	    "table x { \"a\" \n" MIN_TAIL,
	    "t.conf:2: syntax error at \"listen\": unexpected listen, expecting quoted string "
	    "or word or '}' or ','");
	expect_err("table x { \"a\" = }\n", "t.conf:1: syntax error at \"}\": unexpected '}', "
	                                    "expecting quoted string or word");
	/* lexical */
	expect_err(MIN_TAIL "hostname \"abc\n", "t.conf:5: unterminated string");
	expect_err(MIN_TAIL "hostname \"abc", "t.conf:5: unterminated string");
	expect_err("hostname \"a\\nb\"\n",
	           "t.conf:1: invalid escape in string (only \\\" and \\\\)");
	expect_err("hostname \"a\tb\x01\"\n", "t.conf:1: control character in string");
	expect_err("\n\nhostname $x\n", "t.conf:3: unexpected character '$'");
	expect_err("hostname \xc3\xa9\n", "t.conf:1: unexpected byte 0xc3");
	expect_err(MIN_TAIL "action \"a\" maildir \"/x\" users <>\n",
	           "t.conf:5: invalid table reference (expected <name>)");
	expect_err(MIN_TAIL "action \"a\" maildir \"/x\" users <u\n",
	           "t.conf:5: invalid table reference (expected <name>)");
	expect_err("limits recipients 99999999999999999999999\n", "t.conf:1: number too large");
	char longstr[4096 + 10];
	memset(longstr, 'a', sizeof(longstr));
	memcpy(longstr, "data \"", 6);
	longstr[sizeof(longstr) - 2] = '"';
	longstr[sizeof(longstr) - 1] = '\0';
	expect_err(longstr, "t.conf:1: string too long (more than 4096 bytes)");
	char longword[400];
	memset(longword, 'a', sizeof(longword));
	memcpy(longword, "data ", 5);
	longword[sizeof(longword) - 1] = '\0';
	expect_err(longword, "t.conf:1: word too long (more than 255 bytes)");
	/* values */
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 0\n",
	           "t.conf:5: port: out of range (1 to 65535)");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 65536\n",
	           "t.conf:5: port: out of range (1 to 65535)");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 25k\n",
	           "t.conf:5: port: invalid unit 'k' (a plain number is expected)");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 25 port 26\n",
	           "t.conf:5: duplicate option \"port\"");
	expect_err(MIN_TAIL "listen on 127.0.0.1 submission submission\n",
	           "t.conf:5: duplicate option \"submission\"");
	expect_err(MIN_TAIL "listen on mx.example.org port 25\n",
	           "t.conf:5: listen on \"mx.example.org\": not a numeric IPv4 or IPv6 address "
	           "(or localhost)");
	expect_err(MIN_TAIL "listen on 127.0.0.1 port 2525\n",
	           "t.conf:5: duplicate listener 127.0.0.1 port 2525");
	expect_err(MIN_TAIL "listen on ::1 port 25\nlisten on localhost port 25\n",
	           "t.conf:6: duplicate listener ::1 port 25");
	expect_err("hostname \"-bad.example\"\n" MIN_TAIL,
	           "t.conf:1: hostname \"-bad.example\" is not a valid domain name");
	expect_err("hostname \"a..b\"\n" MIN_TAIL,
	           "t.conf:1: hostname \"a..b\" is not a valid domain name");
	expect_err("hostname \"a_b.example\"\n" MIN_TAIL,
	           "t.conf:1: hostname \"a_b.example\" is not a valid domain name");
	expect_err("hostname \"a.example\"\nhostname \"b.example\"\n" MIN_TAIL,
	           "t.conf:2: hostname already set on line 1");
	expect_err("data \"\"\n" MIN_TAIL, "t.conf:1: data: empty path");
	expect_err("data \"/a\"\n\ndata \"/b\"\n" MIN_TAIL, "t.conf:3: data already set on line 1");
	expect_err("user \"ro ot\"\n" MIN_TAIL,
	           "t.conf:1: user \"ro ot\" is not a valid user name");
	expect_err("user \"-x\"\n" MIN_TAIL, "t.conf:1: user \"-x\" is not a valid user name");
	expect_err("user a\nuser b\n" MIN_TAIL, "t.conf:2: user already set on line 1");
	expect_err("local networks { }\n" MIN_TAIL, "t.conf:1: local networks: empty list");
	expect_err("local networks { \"10.0.0.1/8\" }\n" MIN_TAIL,
	           "t.conf:1: local networks: \"10.0.0.1/8\": address has bits set beyond the "
	           "prefix length");
	expect_err("local networks { \"10.0.0.0/33\" }\n" MIN_TAIL,
	           "t.conf:1: local networks: \"10.0.0.0/33\": prefix length too large");
	expect_err("local networks { \"10.0.0.0/\" }\n" MIN_TAIL,
	           "t.conf:1: local networks: \"10.0.0.0/\": invalid prefix length");
	expect_err("local networks { \"10.0.0.0/8x\" }\n" MIN_TAIL,
	           "t.conf:1: local networks: \"10.0.0.0/8x\": invalid prefix length");
	expect_err("local networks { \"localhost\" }\n" MIN_TAIL,
	           "t.conf:1: local networks: \"localhost\": not an IPv4 or IPv6 address");
	expect_err("local networks { \"::1\" = \"x\" }\n" MIN_TAIL,
	           "t.conf:1: local networks: unexpected \"= value\"");
	expect_err("local networks { \"::1\" }\nlocal networks { \"::1\" }\n" MIN_TAIL,
	           "t.conf:2: local networks already set on line 1");
	/* limits, timeouts, queue */
	expect_err("limits message-size 35X\n" MIN_TAIL,
	           "t.conf:1: message-size: invalid unit 'X' (use K, M or G)");
	expect_err("limits message-size 1\n" MIN_TAIL,
	           "t.conf:1: message-size: out of range (1024 to 1099511627776)");
	expect_err("limits message-size 17179869184G\n" MIN_TAIL,
	           "t.conf:1: message-size: out of range (1024 to 1099511627776)");
	expect_err("limits recipients 0\n" MIN_TAIL,
	           "t.conf:1: recipients: out of range (1 to 1000000)");
	expect_err("limits recipients 10M\n" MIN_TAIL,
	           "t.conf:1: recipients: invalid unit 'M' (a plain number is expected)");
	expect_err("limits smtp-processes 0\n" MIN_TAIL,
	           "t.conf:1: smtp-processes: out of range (1 to 64)");
	expect_err("limits smtp-processes 65\n" MIN_TAIL,
	           "t.conf:1: smtp-processes: out of range (1 to 64)");
	expect_err("limits command-line 511\n" MIN_TAIL,
	           "t.conf:1: command-line: out of range (512 to 65536)");
	expect_err("limits text-line 999\n" MIN_TAIL,
	           "t.conf:1: text-line: out of range (1000 to 65536)");
	expect_err("timeout command 0\n" MIN_TAIL,
	           "t.conf:1: timeout command: out of range (1 to 86400 seconds)");
	expect_err("timeout data 5y\n" MIN_TAIL,
	           "t.conf:1: timeout data: invalid unit 'y' (use s, m, h or d)");
	expect_err("timeout greeting 5M\n" MIN_TAIL,
	           "t.conf:1: timeout greeting: invalid unit 'M' (use s, m, h or d)");
	expect_err("queue retry-min 2h\nqueue retry-max 1h\n" MIN_TAIL,
	           "t.conf:2: queue: retry-min (7200) is larger than retry-max (3600)");
	expect_err("queue lifetime 0\n" MIN_TAIL,
	           "t.conf:1: lifetime: out of range (1 to 31536000 seconds)");
	expect_err("queue concurrency 0\n" MIN_TAIL,
	           "t.conf:1: concurrency: out of range (1 to 10000)");
	expect_err("queue sync always\n" MIN_TAIL,
	           "t.conf:1: queue sync: \"always\" is not files or syncfs");
	expect_err("queue min-free 5s\n" MIN_TAIL,
	           "t.conf:1: min-free: invalid unit 's' (use K, M or G)");

	/* tables */
	expect_err("table a { \"x\" }\ntable a { \"y\" }\n" MIN_TAIL,
	           "t.conf:2: duplicate table \"a\"");
	expect_err("table a:b { \"x\" }\n" MIN_TAIL,
	           "t.conf:1: invalid table name \"a:b\" (letters, digits, '_', '-', '.')");
	expect_err("table a { \"x\", \"X\" }\n" MIN_TAIL, "t.conf:1: table a: duplicate key \"X\"");
	expect_err("table a { \"\" }\n" MIN_TAIL, "t.conf:1: table a: empty key");
	expect_err("table a file \"/nonexistent/raven\"\n" MIN_TAIL,
	           "t.conf:1: table a: /nonexistent/raven: No such file or directory");
	expect_err("table a file \"/dev/null\"\n" MIN_TAIL,
	           "t.conf:1: table a: /dev/null: not a regular file");
	/* actions */
	expect_err(MIN_TAIL "action \"local\" maildir \"/y\"\n",
	           "t.conf:5: duplicate action \"local\"");
	expect_err(MIN_TAIL "action \"\" maildir \"/y\"\n",
	           "t.conf:5: action name must have 1 to 64 characters");
	expect_err(MIN_TAIL "action \"relay:x\" maildir \"/y\"\n",
	           "t.conf:5: action name \"relay:x\" may not contain ':'");
	expect_err(MIN_TAIL "action \"a\" maildir \"/y/%{usr}\"\n",
	           "t.conf:5: maildir \"/y/%{usr}\": empty path or unknown %-sequence (only "
	           "%{user} and %{home} are known)");
	expect_err(MIN_TAIL "action \"a\" maildir \"\"\n",
	           "t.conf:5: maildir \"\": empty path or unknown %-sequence (only %{user} and "
	           "%{home} are known)");
	expect_err(MIN_TAIL "action \"a\" maildir \"/y\" users <nope>\n",
	           "t.conf:5: unknown table <nope> (tables must be defined before use)");
	expect_err(MIN_TAIL "action \"a\" maildir \"/y\" alias <nope>\n",
	           "t.conf:5: unknown table <nope> (tables must be defined before use)");
	expect_err(MIN_TAIL "action \"a\" maildir \"/y\" alias <domains> alias <domains>\n",
	           "t.conf:5: duplicate option \"alias\"");
	expect_err(MIN_TAIL "action \"a\" maildir \"/y\" users <domains> users <domains>\n",
	           "t.conf:5: duplicate option \"users\"");
	expect_err(MIN_TAIL "action \"a\" maildir \"/y\" owner \"x y\"\n",
	           "t.conf:5: owner \"x y\" is not a valid user name");
	/* matches */
	expect_err(MIN_TAIL "match from any for any action \"nope\"\n",
	           "t.conf:5: unknown action \"nope\" (actions must be defined before use)");
	expect_err("match from any for any action \"local\"\n" MIN_TAIL,
	           "t.conf:1: unknown action \"local\" (actions must be defined before use)");
	expect_err(MIN_TAIL "match from any for domain <nope> action \"local\"\n",
	           "t.conf:5: unknown table <nope> (tables must be defined before use)");
	expect_err(MIN_TAIL "match from any for domain { } action \"local\"\n",
	           "t.conf:5: match: empty domain list");
	/* whole file */
	expect_err("", "t.conf:1: no listen statement (at least one listener is required)");
	expect_err("# nothing\n\n", "t.conf:2: no listen statement (at least one listener is "
	                            "required)");
	expect_err("listen on ::1\n", "t.conf:1: no match rule (no mail would be accepted)");
	/* the first error by line wins, whatever the order of discovery */
	expect_err("user \"bad user\"\nlisten on ::1 port 0\n", "t.conf:1: user \"bad user\" is "
	                                                        "not a valid user name");
	expect_err("hostname \"a\"\nhostname \"b\"\nfoo\n", "t.conf:2: hostname already set on "
	                                                    "line 1");
	/* error buffers: NULL and tiny are fine */
	assert_null(conf_parse_string("t.conf", "x", 1, NULL, 0));
	char tiny[8];
	assert_null(conf_parse_string("t.conf", "x", 1, tiny, sizeof(tiny)));
	assert_string_equal(tiny, "t.conf:");
	/* embedded NUL */
	assert_null(conf_parse_string("t.conf", "data \"a\0b\"\n", 11, tiny, sizeof(tiny)));
}

/*
 * Every prefix of a valid file must parse without crashing, and only the
 * whole text may succeed (the text is built so that no shorter prefix is a
 * complete configuration).
 */
static void test_prefixes(void **state)
{
	(void)state;
	const char *text = "# prefixes\n"
	                   "hostname \"mx.example.org\"\n"
	                   "limits message-size 10M recipients 50\n"
	                   "timeout command 5m\n"
	                   "local networks { \"10.0.0.0/8\", \"::1/128\" }\n"
	                   "listen on 127.0.0.1 port 2525 submission\n"
	                   "table t { \"k\" = \"v\", \"example.org\" }\n"
	                   "action \"local\" maildir \"/m/%{user}\" alias <t>\n"
	                   "match from any for domain <t> action \"local\"";
	size_t len = strlen(text);
	for (size_t i = 0; i <= len; i++) {
		char err[512];
		char *copy = xmemdup(text, i); /* exact length: ASan catches overreads */
		struct config *c = conf_parse_string("p.conf", copy, i, err, sizeof(err));
		if (i < len && c != NULL)
			fail_msg("prefix of %zu bytes parsed", i);
		if (i == len && c == NULL)
			fail_msg("full text failed: %s", err);
		if (c == NULL)
			assert_int_equal(strncmp(err, "p.conf:", 7), 0);
		conf_free(c);
		free(copy);
	}
}

/* Relay actions (MX or smarthost) and the resolver. */
static void test_relay(void **state)
{
	(void)state;
	char *dir;
	char *isp_file = table_file("me: secret\n", &dir);
	char *text =
	    xasprintf("table isp file \"%s\"\n"
	              "resolver \"127.0.0.1\" port 5353\n"
	              "action \"out\" relay port 2526\n"
	              "action \"isp\" relay host \"smtp.isp.net\" port 587 tls auth <isp>\n"
	              "action \"lit\" relay host \"[192.0.2.1]\"\n%s"
	              "match from local for any action \"out\"\n",
	              isp_file, MIN_TAIL);
	struct config *c = parse_ok(text);
	free(text);
	assert_string_equal(c->resolver, "127.0.0.1");
	assert_int_equal(c->resolver_port, 5353);
	const struct action *out = conf_action(c, "out"), *isp = conf_action(c, "isp");
	assert_int_equal(out->kind, ACTION_RELAY);
	assert_null(out->relay_host);
	assert_int_equal(out->relay_port, 2526);
	assert_int_equal(out->relay_tls, 0);
	assert_null(out->relay_auth);
	assert_string_equal(isp->relay_host, "smtp.isp.net");
	assert_int_equal(isp->relay_port, 587);
	assert_int_equal(isp->relay_tls, 1);
	const char *v;
	assert_true(table_lookup(isp->relay_auth, "me", &v));
	assert_string_equal(v, "secret");
	assert_string_equal(conf_action(c, "lit")->relay_host, "[192.0.2.1]");
	conf_wipe_secrets(c, 1); /* the relay role keeps what it sends */
	assert_true(table_lookup(isp->relay_auth, "me", &v));
	assert_string_equal(v, "secret");
	conf_wipe_secrets(c, 0); /* every other process forgets it */
	assert_true(table_lookup(isp->relay_auth, "me", &v));
	assert_null(v);
	conf_free(c);
	expect_err("action \"x\" relay auth <t>\ntable t { \"a\" = \"b\" }\n" MIN_TAIL,
	           "t.conf:1: unknown table <t> (tables must be defined before use)");
	text =
	    xasprintf("table t file \"%s\"\naction \"x\" relay auth <t>\n%s", isp_file, MIN_TAIL);
	expect_err(text,
	           "t.conf:2: relay auth needs a host: credentials go to a smarthost, never to "
	           "whichever MX a recipient names");
	free(text);
	/* secrets are never written in the configuration itself */
	expect_err(
	    "table t { \"a\" = \"b\" }\naction \"x\" relay host \"h.example\" auth <t>\n" MIN_TAIL,
	    "t.conf:2: relay auth <t>: credentials must be in a table file (table t file "
	    "\"PATH\", readable by root only), not written in the configuration");
	expect_err("table p { \"alice\" = \"$6$s$h\" }\nauth users <p>\n" MIN_TAIL,
	           "t.conf:2: auth users <p>: credentials must be in a table file (table p file "
	           "\"PATH\", readable by root only), not written in the configuration");
	expect_err("action \"x\" relay host \"bad host!\"\n" MIN_TAIL,
	           "t.conf:1: relay host \"bad host!\" is not a host name or address");
	expect_err("action \"x\" relay tls tls\n" MIN_TAIL, "t.conf:1: duplicate option \"tls\"");
	expect_err("resolver \"ns.example\"\n" MIN_TAIL,
	           "t.conf:1: resolver \"ns.example\" is not a numeric IPv4 or IPv6 address");
	expect_err("resolver \"::1\"\nresolver \"::1\"\n" MIN_TAIL,
	           "t.conf:2: resolver already set");
	unit_rmtree(dir);
	free(dir);
	free(isp_file);
}

/* LMTP targets: the pure parser, then the action with its options. */
static void test_lmtp(void **state)
{
	(void)state;
	static const struct {
		const char *in, *host;
		uint16_t port;
	} good[] = {
	    {"/run/dovecot/lmtp", "/run/dovecot/lmtp", 0},
	    {"127.0.0.1:2424", "127.0.0.1", 2424},
	    {"127.0.0.1", "127.0.0.1", 24},
	    {"lmtp.example.org:24", "lmtp.example.org", 24},
	    {"localhost", "localhost", 24},
	    {"[::1]:2424", "[::1]", 2424},
	    {"[IPv6:::1]", "[::1]", 24},
	    {"[2001:db8::1]:65535", "[2001:db8::1]", 65535},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *host;
		uint16_t port;
		const char *why = NULL;
		if (conf_lmtp_target(good[i].in, &host, &port, &why) != 0)
			fail_msg("%s: %s", good[i].in, why);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		free(host);
	}
	static const char *const bad[] = {
	    "",
	    ":24",
	    "host:",
	    "host:0",
	    "host:65536",
	    "host:24x",
	    "host:+24",
	    "::1",
	    "::1:24",
	    "[::1",
	    "[]:24",
	    "[127.0.0.1]:24",
	    "[::1]24",
	    "[::1]:",
	    "bad host!:24",
	    "/run/dir/",
	    "/"
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678",
	    "host:123456",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *host = (char *)1;
		uint16_t port;
		const char *why = NULL;
		if (conf_lmtp_target(bad[i], &host, &port, &why) != -1)
			fail_msg("%s: accepted", bad[i]);
		assert_null(host);
		assert_non_null(why);
	}

	struct config *c =
	    parse_ok("table users { \"alice\", \"bob\" }\n"
	             "table aliases { \"team\" = \"alice, bob\" }\n"
	             "action \"dovecot\" lmtp \"/run/dovecot/lmtp\" users <users> alias <aliases>\n"
	             "action \"tcp\" lmtp \"[::1]:2424\" rcpt-to user\n"
	             "action \"orig\" lmtp 127.0.0.1:24 rcpt-to original users <users>\n"
	             "action \"ud\" lmtp localhost rcpt-to user@domain\n" MIN_TAIL);
	const struct action *d = conf_action(c, "dovecot"), *t = conf_action(c, "tcp"),
	                    *o = conf_action(c, "orig"), *u = conf_action(c, "ud");
	assert_int_equal(d->kind, ACTION_LMTP);
	assert_true(conf_action_local(d));
	assert_false(conf_action_local(conf_action(c, "missing")));
	assert_string_equal(d->lmtp_target, "/run/dovecot/lmtp");
	assert_string_equal(d->lmtp_host, "/run/dovecot/lmtp");
	assert_int_equal(d->lmtp_port, 0);
	assert_non_null(d->users);
	assert_non_null(d->aliases);
	assert_int_equal(d->lmtp_rcpt_to, LMTP_RCPT_USER_DOMAIN);
	assert_string_equal(t->lmtp_host, "[::1]");
	assert_int_equal(t->lmtp_port, 2424);
	assert_int_equal(t->lmtp_rcpt_to, LMTP_RCPT_USER);
	assert_int_equal(o->lmtp_rcpt_to, LMTP_RCPT_ORIGINAL);
	assert_int_equal(o->lmtp_port, 24);
	assert_int_equal(u->lmtp_rcpt_to, LMTP_RCPT_USER_DOMAIN);
	assert_null(conf_maildir_path(c, d, "alice", NULL)); /* not a maildir */
	conf_free(c);

	expect_err("action \"x\" lmtp \"host:0\"\n" MIN_TAIL,
	           "t.conf:1: lmtp \"host:0\": bad port (1 to 65535)");
	expect_err("action \"x\" lmtp \"::1\"\n" MIN_TAIL,
	           "t.conf:1: lmtp \"::1\": an IPv6 address goes between [ ]");
	expect_err("action \"x\" lmtp \"/s\" rcpt-to mailbox\n" MIN_TAIL,
	           "t.conf:1: rcpt-to \"mailbox\": expected user@domain, user or original");
	expect_err("action \"x\" lmtp \"/s\" rcpt-to user rcpt-to original\n" MIN_TAIL,
	           "t.conf:1: duplicate option \"rcpt-to\"");
	expect_err("table a { \"x\" = \"y\" }\naction \"x\" lmtp \"/s\" alias <a> users <a> "
	           "alias <a>\n" MIN_TAIL,
	           "t.conf:2: duplicate option \"alias\"");
	expect_err("table a { \"x\" = \"y\" }\naction \"x\" lmtp \"/s\" alias <a> rcpt-to "
	           "original\n" MIN_TAIL,
	           "t.conf:2: rcpt-to original sends the address as received: an alias table has "
	           "no place there (use user@domain)");
	expect_err("action \"x\" lmtp \"/s\" users <nope>\n" MIN_TAIL,
	           "t.conf:1: unknown table <nope> (tables must be defined before use)");
	expect_err("action \"x\" lmtp \"/s\" owner \"vmail\"\n" MIN_TAIL,
	           "t.conf:1: syntax error at \"owner\": unexpected owner, expecting end of line");
	expect_err("action \"local\" lmtp \"/s\"\n" MIN_TAIL,
	           "t.conf:4: duplicate action \"local\"");
}

/* metrics listen: loopback unless allow-remote, canonical, no duplicates. */
static void test_metrics_listen(void **state)
{
	(void)state;
	struct config *c = parse_ok(MIN_TAIL "metrics listen on 127.0.0.1 port 9465\n"
	                                     "metrics listen on [::1]\n"
	                                     "metrics listen on \"::FFFF:127.0.0.2\" port 1\n"
	                                     "metrics listen on 192.0.2.7 allow-remote port 80\n"
	                                     "metrics listen on :: port 9466 allow-remote\n");
	assert_int_equal(c->n_metrics_listeners, 5);
	static const struct {
		const char *addr;
		unsigned port;
	} want[] = {{"127.0.0.1", 9465},
	            {"::1", 9465},
	            {"::ffff:127.0.0.2", 1},
	            {"192.0.2.7", 80},
	            {"::", 9466}};
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(c->metrics_listeners[i].addr, want[i].addr);
		assert_int_equal(c->metrics_listeners[i].port, want[i].port);
	}
	conf_free(c);
	c = parse_ok(MIN_TAIL "metrics listen on localhost port 9100\n");
	assert_int_equal(c->n_metrics_listeners, 2);
	assert_string_equal(c->metrics_listeners[1].addr, "::1");
	assert_int_equal(c->metrics_listeners[1].port, 9100);
	conf_free(c);
	c = parse_ok(MIN_TAIL);
	assert_int_equal(c->n_metrics_listeners, 0);
	conf_free(c);
	expect_err(MIN_TAIL "metrics listen on 0.0.0.0\n",
	           "t.conf:5: metrics listen on 0.0.0.0: not a loopback address; the endpoint "
	           "has no authentication: add allow-remote to serve other hosts");
	expect_err(MIN_TAIL "metrics listen on 2001:db8::1 port 9465\n",
	           "t.conf:5: metrics listen on 2001:db8::1: not a loopback address; the "
	           "endpoint has no authentication: add allow-remote to serve other hosts");
	expect_err(MIN_TAIL "metrics listen on metrics.example\n",
	           "t.conf:5: metrics listen on \"metrics.example\": not a numeric IPv4 or IPv6 "
	           "address (or localhost)");
	expect_err(MIN_TAIL "metrics listen on 127.0.0.1\nmetrics listen on 127.0.0.1 port 9465\n",
	           "t.conf:6: duplicate metrics listener 127.0.0.1 port 9465");
	expect_err(MIN_TAIL "metrics listen on 127.0.0.1 port 2525\n",
	           "t.conf:5: metrics listen on 127.0.0.1 port 2525: also an SMTP listener");
	expect_err("metrics listen on 127.0.0.1 port 2525\n" MIN_TAIL,
	           "t.conf:1: metrics listen on 127.0.0.1 port 2525: also an SMTP listener");
	expect_err(MIN_TAIL "metrics listen on 127.0.0.1 port 0\n",
	           "t.conf:5: port: out of range (1 to 65535)");
	expect_err(MIN_TAIL "metrics listen on ::1 port 1 port 2\n",
	           "t.conf:5: duplicate option \"port\"");
	expect_err(MIN_TAIL "metrics listen on 192.0.2.1 allow-remote allow-remote\n",
	           "t.conf:5: duplicate option \"allow-remote\"");
	expect_err(MIN_TAIL "metrics listen on 127.0.0.1 submission\n",
	           "t.conf:5: syntax error at \"submission\": unexpected submission, expecting "
	           "end of line");
	expect_err(MIN_TAIL "metrics on 127.0.0.1\n",
	           "t.conf:5: syntax error at \"on\": unexpected on, expecting listen");
	char *many = xstrdup(MIN_TAIL);
	for (int i = 1; i <= 9; i++) {
		char *next = xasprintf("%smetrics listen on 127.0.0.%d\n", many, i);
		free(many);
		many = next;
	}
	expect_err(many, "t.conf:13: more than 8 metrics listeners");
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_listen),
	    cmocka_unit_test(test_design_example),
	    cmocka_unit_test(test_smtp_processes),
	    cmocka_unit_test(test_queue_options),
	    cmocka_unit_test(test_statements),
	    cmocka_unit_test(test_log_statement),
	    cmocka_unit_test(test_owner_is_user),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_builtin_default),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_relay),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_tls_auth),
	    cmocka_unit_test(test_lmtp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
