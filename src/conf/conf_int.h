/*
 * conf_int: what the grammar (parse.y), the lexer (lex.c) and the statement
 * builders (conf_build.c) share while one configuration text is parsed.
 * Not part of the configuration's public interface (config.h).
 */
#ifndef RAVEN_CONF_INT_H
#define RAVEN_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONF_MAX_STRING 4096 /* a quoted string */
#define CONF_MAX_WORD   255  /* an unquoted word or number */
#define CONF_MAX_NAME   64   /* table and action names */
#define CONF_MAX_CERTS  100  /* tls certificate statements */

/* A number as written: digits and an optional one-letter unit. */
struct conf_num {
	uint64_t n;
	char unit; /* '\0' when none */
};

/* Items of a { ... } list: "key" or "key" = "value". */
struct conf_item {
	char *key;
	char *value; /* NULL when not given */
};

struct conf_list {
	struct conf_item *v;
	size_t n;
	int line; /* of the first item, for messages */
};

/* Options of the statement being parsed, consumed by its builder. */
struct conf_scratch {
	int port_set;
	uint16_t port;
	int submission;
	int tls;
	int plaintext_auth;
	int auth_set;
	int allow_remote; /* metrics listen ... allow-remote */
	char *auth_table; /* relay ... auth <TABLE> */
	char *users;      /* table names */
	int users_line;
	char *aliases;
	int aliases_line;
	char *owner;
	char *host;
	char *rcpt_to; /* lmtp ... rcpt-to WORD */
	int rcpt_to_line;
	enum match_for for_;
	char *for_table;            /* FOR_DOMAIN: a <table> ... */
	struct conf_list *for_list; /* ... or literal domains */
	/* dnsbl ... [reject | tag] [codes { ... }] */
	int dnsbl_reject, dnsbl_tag;
	struct conf_list *dnsbl_codes;
	/* dkim [sign] [verify] [domain "D"] [selector "S"] [key "FILE"] */
	int dkim_sign, dkim_verify;
	char *dkim_domain, *dkim_selector, *dkim_key;
};

struct conf_bundle;

struct conf_parser {
	const char *name; /* file name for messages */
	struct config *c;
	/* Table files: read and recorded into bundle (record), or taken from
	 * it (!record); NULL: read from the file system only. */
	struct conf_bundle *bundle;
	int record;

	/* lexer */
	const char *text;
	size_t len;
	size_t pos;
	int line;
	int brace_depth;
	int last_tok;     /* previous token, 0 at the start */
	int prev_tok;     /* the one before it, for error messages */
	size_t tok_start; /* where last_tok began in text */
	int eof_lines;    /* end-of-line tokens emitted at end of input */

	/* the first error, by line */
	int has_err;
	int err_line;
	char err[512];

	/* statements seen, for "duplicate" messages (0: not seen) */
	int hostname_line;
	int data_line;
	int user_line;
	int net_user_line;
	int log_line;
	int nets_line;
	int queue_line;
	int auth_users_line;
	int auth_senders_line;
	int metrics_line; /* the first metrics listen */
	int spf_line;
	int dmarc_line;
	int dkim_verify_line;
	int dnsbl_allow_line;

	struct conf_scratch s;
};

/* config.c: parse text with p's table-file source set by the caller. */
struct config *conf_parse_with(struct conf_parser *p, const char *text, size_t len, char *err,
                               size_t errlen);
/* conf_finish() with paths made absolute from cwd. */
int conf_finish_in(struct config *c, const char *cwd, char *err, size_t errlen);

/* lex.c */
void conf_lex_init(struct conf_parser *p, const char *text, size_t len);
/* The text of the token just read (none for an end of line or input). */
size_t conf_lex_token_text(const struct conf_parser *p, const char **text);

/* conf_build.c: errors, lists and the statement builders used by parse.y */
void conf_error(struct conf_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Quote untrusted text for a message into buf. */
const char *conf_quote(char *buf, size_t buflen, const char *s);

struct conf_list *conf_list_new(void);
void conf_list_add(struct conf_list *l, int line, char *key, char *value);
void conf_list_free(struct conf_list *l);
void conf_scratch_clear(struct conf_scratch *s);

enum conf_limit_kind {
	LIM_MESSAGE_SIZE,
	LIM_RECIPIENTS,
	LIM_CONNECTIONS,
	LIM_PER_IP,
	LIM_SMTP_PROCESSES,
	LIM_COMMAND_LINE,
	LIM_TEXT_LINE,
	LIM_ERRORS,
	LIM_HOPS,
	LIM_TIMEOUT_COMMAND,
	LIM_TIMEOUT_DATA,
	LIM_TIMEOUT_GREETING,
	LIM_TIMEOUT_SESSION,
	LIM_DATA_RATE,
	LIM_RETRY_MIN,
	LIM_RETRY_MAX,
	LIM_LIFETIME,
	LIM_DELAY_WARNING,
	LIM_CONCURRENCY,
	LIM_PER_DESTINATION,
	LIM_BOUNCE_SIZE,
	LIM_RELAY_CONNECT,
	LIM_RELAY_GREETING,
	LIM_RELAY_COMMAND,
	LIM_RELAY_DATA,
	LIM_RELAY_BLOCK,
	LIM_RELAY_DOT,
	LIM_RELAY_IDLE,
	LIM_MIN_FREE,
	LIM_MIN_FREE_INODES,
	LIM_TIMEOUT_TLS,
	LIM_AUTH_FAILURES,
	LIM_AUTH_LOCKOUT,
};

enum conf_auth_table { CONF_AUTH_USERS = 1, CONF_AUTH_SENDERS };

void conf_set_hostname(struct conf_parser *p, int line, char *s);
void conf_set_data(struct conf_parser *p, int line, char *s);
void conf_set_user(struct conf_parser *p, int line, char *s);
void conf_set_net_user(struct conf_parser *p, int line, char *s);
/* log stderr | log syslog ["SOCKET"] (kind a word); log file "PATH" (kind NULL) */
void conf_set_log(struct conf_parser *p, int line, char *kind, char *path);
void conf_listen_port(struct conf_parser *p, int line, struct conf_num n);
void conf_add_listen(struct conf_parser *p, int line, char *addr);
void conf_set_local_networks(struct conf_parser *p, int line, struct conf_list *l);
void conf_add_table_list(struct conf_parser *p, int line, char *name, struct conf_list *l);
void conf_add_table_file(struct conf_parser *p, int line, char *name, char *path);
/* Register a new table under its name; NULL (t freed) if the name is bad or taken. */
struct table *conf_table_add(struct conf_parser *p, int line, struct table *t);
/* conf_sql.c: table NAME sqlite|postgresql "SOURCE" query "SQL" */
void conf_add_table_sql(struct conf_parser *p, int line, char *name, enum table_kind kind,
                        char *source, char *query);
void conf_set_limit(struct conf_parser *p, int line, enum conf_limit_kind k, struct conf_num n);
void conf_delay_warning_off(struct conf_parser *p);
void conf_set_queue_sync(struct conf_parser *p, int line, char *how);
void conf_add_maildir(struct conf_parser *p, int line, char *name, char *path);
void conf_add_relay(struct conf_parser *p, int line, char *name);
/* conf_lmtp.c */
void conf_add_lmtp(struct conf_parser *p, int line, char *name, char *target);
/* users <T> and alias <T> of maildir and lmtp actions */
void conf_local_opt(struct conf_parser *p, int line, int users, char *table);
/* shared by the action builders */
struct action *conf_action_add(struct conf_parser *p, int line, char *name, enum action_kind kind);
void conf_set_resolver(struct conf_parser *p, int line, char *addr);
void conf_add_match(struct conf_parser *p, int line, enum match_from from, char *action);
void conf_unsupported(struct conf_parser *p, int line, const char *what);
void conf_add_certificate(struct conf_parser *p, int line, char *cert, char *key);
void conf_set_auth_table(struct conf_parser *p, int line, enum conf_auth_table which, char *name);
/* For builders in other files: "what already set on line N", and a table
 * by name (both report the error). */
int conf_once(struct conf_parser *p, int line, int *seen, const char *what);
const struct table *conf_table_ref(struct conf_parser *p, int line, const char *name);

/* conf_checks.c: spf, dmarc, dnsbl, dkim */
void conf_set_spf(struct conf_parser *p, int line, enum check_policy how);
void conf_set_dmarc(struct conf_parser *p, int line, enum check_policy how);
/* One zone (zone) or several (list); the options are in p->s. */
void conf_add_dnsbl(struct conf_parser *p, int line, char *zone, struct conf_list *list);
/* dnsbl allow { "NET", ... } or dnsbl allow <TABLE> of networks */
void conf_set_dnsbl_allow(struct conf_parser *p, int line, struct conf_list *list, char *table);
/* dkim verify | dkim sign domain ... (the options are in p->s) */
void conf_add_dkim(struct conf_parser *p, int line);
/* A dkim option's value into *slot (once). */
void conf_dkim_opt(struct conf_parser *p, int line, char **slot, char *value, const char *name);
void conf_checks_free(struct config *c);

/* conf_metrics.c: metrics listen ADDRESS [port N] [allow-remote] */
void conf_add_metrics_listen(struct conf_parser *p, int line, char *addr);
/* Once the whole file is read: no metrics listener is an SMTP listener too. */
void conf_check_metrics_listen(struct conf_parser *p);

/* config.c */
struct config *conf_new(void);
int conf_valid_hostname(const char *s);
int conf_valid_username(const char *s);
/* Parse "addr[/prefix]"; 0 or -1 with a reason. */
int conf_parse_netmask(const char *s, struct netmask *m, const char **why);

#endif
