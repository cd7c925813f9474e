/*
 * config: the immutable configuration every role reads. Built once by
 * conf_load() (from a file) or conf_default() (the built-in default of
 * DESIGN.md §6), validated, then only ever read through a const pointer.
 */
#ifndef RAVEN_CONFIG_H
#define RAVEN_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "table.h"

#define CONF_MAX_TEXT ((size_t)1 << 20) /* a configuration file */

struct listener {
	char *addr; /* numeric IPv4/IPv6 address as written, e.g. "127.0.0.1", "::1" */
	uint16_t port;
	int submission;     /* "submission" flag: AUTH required before MAIL (RFC 6409) */
	int tls;            /* implicit TLS ("tls" flag, RFC 8314) */
	int plaintext_auth; /* "plaintext-auth": AUTH offered without TLS (loopback only) */
};

/* A "tls certificate" statement: a PEM chain and its private key. */
struct tls_cert {
	char *cert; /* absolute after conf_finish() */
	char *key;
	int line;
};

struct netmask {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

/*
 * The sender checks (statements spf, dmarc, dnsbl, dkim; docs/raven.conf.5.md).
 * CHECK_TAG records a verdict in Authentication-Results only; CHECK_REJECT
 * refuses what the policy says; CHECK_QUARANTINE (dmarc) marks instead.
 */
enum check_policy { CHECK_OFF = 0, CHECK_TAG, CHECK_QUARANTINE, CHECK_REJECT };

#define CONF_DNSBL_CODES_MAX 64
#define CONF_DNSBL_ZONES_MAX 32
#define CONF_DKIM_SIGN_MAX   256

/* A DNS block list: which A answers mean "listed" (IPv4, host order,
 * inclusive ranges); none given: 127.0.0.0/8 but 127.255.255.0/24. */
struct dnsbl_zone {
	char *zone;
	int reject; /* refuse a listed client (else tag) */
	uint32_t *lo, *hi;
	size_t n_codes;
	int line;
};

/* dkim sign domain "D" selector "S" key "FILE": mail whose From: domain is
 * D (or under it) leaving through a relay action is signed d=D, s=S. */
struct dkim_signing {
	char *domain; /* lowercased */
	char *selector;
	char *key; /* absolute after conf_finish() */
	int line;
};

struct limits {
	size_t message_size;       /* octets; default 35 MiB */
	size_t recipients;         /* per message; default 100 */
	size_t connections;        /* concurrent sessions; default 1000 */
	size_t per_ip;             /* concurrent sessions per client IP; default 20 */
	size_t smtp_processes;     /* smtp role processes sharing the listeners; default 1 */
	size_t command_line;       /* octets incl. CRLF; default 2048 */
	size_t text_line;          /* octets incl. CRLF; default 1000 */
	size_t errors;             /* protocol errors per session before 421; default 10 */
	size_t hops;               /* Received: headers before 554 5.4.6; default 100 */
	unsigned timeout_command;  /* seconds; RFC 5321 §4.5.3.2: 300 */
	unsigned timeout_data;     /* seconds between DATA chunks: 180 */
	unsigned timeout_greeting; /* time the whole session may idle before the first command;
	                            * default 300 */
	unsigned timeout_session;  /* seconds a whole session may last; default 1800 */
	size_t data_rate;          /* octets a second DATA must average once timeout_data has
	                            * passed; 0 off; default 500 */
	unsigned timeout_tls;      /* seconds a TLS handshake may take; default 60 */
	size_t auth_failures;      /* failed AUTHs from one client address before it is locked
	                            * out; default 5 */
	unsigned auth_lockout;     /* seconds a lockout lasts (and failures are remembered);
	                            * default 900 */
};

enum action_kind { ACTION_MAILDIR = 1, ACTION_RELAY, ACTION_LMTP };

/* LMTP: the address each RCPT TO names (action ... lmtp ... rcpt-to). */
enum lmtp_rcpt_to {
	LMTP_RCPT_USER_DOMAIN = 0, /* the mailbox name @ the recipient's domain */
	LMTP_RCPT_USER,            /* the mailbox name alone */
	LMTP_RCPT_ORIGINAL,        /* the envelope recipient as received */
};

#define LMTP_DEFAULT_PORT 24

/* Where the log goes (statement "log"); LOG_TO_DEFAULT: stderr in the
 * foreground (-d), syslog once detached if /dev/log answers, else stderr. */
enum log_target { LOG_TO_DEFAULT = 0, LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE };

struct action {
	char *name;
	enum action_kind kind;
	char *path;                  /* maildir template, "%{user}" expanded; absolute after
	                              * conf_finish() */
	const struct table *users;   /* NULL: every local part is a mailbox */
	const struct table *aliases; /* NULL: none */
	char *owner;                 /* user the deliveries run as; NULL: config->user */
	int owner_is_user;           /* owner "%{user}": the system user the mailbox names */
	/* ACTION_RELAY */
	char *relay_host;               /* a smarthost; NULL: the recipients' MX */
	uint16_t relay_port;            /* 0: 25 */
	int relay_tls;                  /* TLS required, and a certificate that verifies */
	const struct table *relay_auth; /* login = password, sent over TLS only; NULL: none */
	/* ACTION_LMTP (users and aliases as for maildir; no owner) */
	char *lmtp_target;  /* as written */
	char *lmtp_host;    /* host name, address ("[...]" for IPv6) or socket path */
	uint16_t lmtp_port; /* 0: lmtp_host is a unix-domain socket */
	enum lmtp_rcpt_to lmtp_rcpt_to;
	int line; /* of the action statement, for messages */
};

enum match_from { FROM_ANY = 1, FROM_LOCAL, FROM_AUTH };
enum match_for { FOR_ANY = 1, FOR_DOMAIN };

struct match_rule {
	enum match_from from;
	enum match_for for_;
	const struct table *domains; /* FOR_DOMAIN */
	const struct action *action;
	int line; /* in the config file, for logs */
};

struct config {
	char *file; /* NULL for the built-in default */
	char *hostname;
	int hostname_auto; /* 1: from gethostname(), qualified by conf_finish() */
	char *data_dir;    /* absolute after conf_finish() */
	char *user;        /* unprivileged user the queue and local roles run as (and
	                    * mailboxes are owned by unless an action says otherwise)
	                    * when started as root */
	int user_line;     /* of the user statement; 0: the default */
	char *net_user;    /* the network-facing roles' user ("user network") */
	int net_user_line;
	enum log_target log_to;
	char *log_path; /* LOG_TO_SYSLOG: the socket (NULL: /dev/log); LOG_TO_FILE: the file,
	                 * absolute after conf_finish() */
	struct listener *listeners;
	size_t n_listeners;
	/* The metrics endpoint (statement "metrics listen"): HTTP, GET /metrics;
	 * none without the statement. */
	struct listener *metrics_listeners;
	size_t n_metrics_listeners;
	struct netmask *local_nets;
	size_t n_local_nets;
	struct table **tables;
	size_t n_tables;
	struct action **actions;
	size_t n_actions;
	struct match_rule *rules;
	size_t n_rules;
	struct tls_cert *certs; /* the first is the default; others are chosen by SNI */
	size_t n_certs;
	/* SMTP AUTH: login -> crypt(3) hash (only the auth role keeps the values:
	 * conf_wipe_secrets), and login -> addresses it may send from */
	const struct table *auth_users;
	const struct table *auth_senders;
	struct limits limits;
	/* DNS (statement "resolver"): NULL: the system's resolv.conf. */
	char *resolver;
	uint16_t resolver_port; /* 0: 53 */
	/* The queue (statement "queue"). */
	unsigned retry_min;           /* seconds; default 60 */
	unsigned retry_max;           /* seconds; default 3600 */
	unsigned max_lifetime;        /* seconds; default 5 days */
	unsigned delay_warning;       /* seconds between delay DSNs; 0 off; default 4 h */
	size_t queue_concurrency;     /* deliveries in flight; default 100 */
	size_t queue_per_destination; /* deliveries in flight per destination; default 20 */
	uint64_t bounce_size;         /* largest original attached whole to a DSN; default 10 MiB */
	/* The outbound SMTP client (statement "relay timeout"), seconds. */
	struct relay_timeouts {
		unsigned connect;  /* TCP connection; default 30 */
		unsigned greeting; /* the 220 (RFC 5321 §4.5.3.2.1): 300 */
		unsigned command;  /* EHLO, MAIL, RCPT, RSET...: 300 */
		unsigned data;     /* the 354 to DATA: 120 */
		unsigned block;    /* each block of the message written: 180 */
		unsigned dot;      /* the reply to the final dot: 600 */
		unsigned idle;     /* an unused connection waits for more mail: 5 */
	} relay_timeout;
	int queue_syncfs;               /* "queue sync syncfs": one syncfs per batch; default 0 */
	uint64_t queue_min_free;        /* octets kept free on the spool's file system; 100 MiB */
	uint64_t queue_min_free_inodes; /* inodes kept free there; default 1,000 */
	/* Sender checks of mail from clients outside the local networks that
	 * did not authenticate (all off by default), and DKIM signing. */
	enum check_policy spf;   /* CHECK_OFF, CHECK_TAG or CHECK_REJECT */
	enum check_policy dmarc; /* any */
	int dkim_verify;
	struct dnsbl_zone *dnsbl;
	size_t n_dnsbl;
	struct netmask *dnsbl_allow; /* clients never looked up */
	size_t n_dnsbl_allow;
	struct dkim_signing *dkim_sign;
	size_t n_dkim_sign;
};

/*
 * Parse and validate a configuration file. On error returns NULL and puts
 * "file:line: message" in err (errlen bytes).
 */
struct config *conf_load(const char *path, char *err, size_t errlen);
/* Parse from memory (tests, fuzzing); name is used in error messages. */
struct config *conf_parse_string(const char *name, const char *text, size_t len, char *err,
                                 size_t errlen);
/* The built-in default of DESIGN.md §6. */
struct config *conf_default(void);
/*
 * Make data_dir and the maildir templates absolute (relative to the current
 * directory) and qualify a hostname taken from gethostname(). 0 or -1.
 */
int conf_finish(struct config *c, char *err, size_t errlen);
void conf_free(struct config *c);
/*
 * Wipe (zero, then free) the values of the credentials table, keeping its
 * keys: every process but the auth role calls this once the configuration
 * is loaded, so none of them holds a password hash while it runs. The
 * smarthost passwords of relay actions (auth <table>) go too unless
 * CONF_KEEP_RELAY_LOGINS (the relay role, which sends them), and the
 * sources of SQL tables (connection strings may hold passwords) unless
 * CONF_KEEP_SQL_SOURCES (the lookup role, which connects).
 */
enum { CONF_KEEP_RELAY_LOGINS = 1, CONF_KEEP_SQL_SOURCES = 2 };
void conf_wipe_secrets(struct config *c, int keep);
/* The sessions each smtp process may hold: limits connections shared out
 * over limits smtp-processes (rounded up). */
size_t conf_connections_each(const struct config *c);
/* 1 if some table is kept in a database (the lookup role is needed). */
int conf_has_sql_tables(const struct config *c);
/* 0 if an SQL table's query is acceptable (only the parameter $1), else -1
 * with the reason (conf_sql.c). */
int conf_sql_query_check(const char *q, char *err, size_t errlen);
/* 1 if AUTH is configured (an "auth users" table). */
int conf_auth_enabled(const struct config *c);

const struct action *conf_action(const struct config *c, const char *name);
/* 1 for the actions whose recipients are local mailboxes, expanded and
 * checked at RCPT time (maildir, lmtp); 0 for relaying. */
int conf_action_local(const struct action *a);
/*
 * Parse an LMTP target (pure): "/path" (a unix-domain socket, absolute,
 * shorter than sun_path), "HOST[:PORT]" (a host name or IPv4 address) or
 * "[IPV6][:PORT]"; the port defaults to LMTP_DEFAULT_PORT. *host gets a
 * fresh string: the path, the name, the IPv4 address or "[IPV6]"; *port 0
 * for a socket. 0, or -1 with a static reason in *why.
 */
int conf_lmtp_target(const char *s, char **host, uint16_t *port, const char **why);
/* 1 if the address is inside one of the local networks. */
int conf_is_local_net(const struct config *c, const struct sockaddr *sa);
/* 1 if the address is inside one of the n masks. */
int conf_netmask_match(const struct netmask *m, size_t n, const struct sockaddr *sa);
/* The same for an address written as text ("192.0.2.1", "2001:db8::1"). */
int conf_is_local_addr(const struct config *c, const char *ip);

/* conf_checks.c: what the sender checks do, all statements considered. */
/* SPF's policy: dmarc needs SPF's verdict, so it turns SPF on (CHECK_TAG). */
enum check_policy conf_spf_policy(const struct config *c);
/* DKIM signatures are verified (dkim verify, or dmarc, which needs them). */
int conf_dkim_verifying(const struct config *c);
/* Any check of incoming mail is on (the smtp role then needs DNS: the
 * resolver role runs only then). */
int conf_checks_on(const struct config *c);
/* Relayed mail is DKIM-signed (some `dkim sign`): the queue waits for the
 * signer role, which runs only then. */
int conf_has_dkim_sign(const struct config *c);
/* The signing entry for a From: domain: its own, else the nearest parent
 * domain's ("example.org" signs news.example.org); NULL if none. */
const struct dkim_signing *conf_dkim_signing_for(const struct config *c, const char *domain);
/*
 * Expand the maildir template for a user into a fresh string: %{user} is
 * the mailbox name, %{home} the home directory given (that of the system
 * user with owner "%{user}"). NULL if the action is not a maildir action,
 * the user is not route_safe_mailbox(), or %{home} is used and home is NULL
 * or not an absolute path.
 */
char *conf_maildir_path(const struct config *c, const struct action *a, const char *user,
                        const char *home);

#endif
