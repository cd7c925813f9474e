/*
 * parse.y: the grammar of raven.conf (docs/raven.conf.5.md). One statement
 * a line. The actions only collect values; checking and building happen in
 * conf_build.c so that this file stays a readable picture of the language.
 * Statements of features that are not implemented yet parse here and are
 * refused with "not supported yet", so that a configuration written for a
 * later version fails loudly instead of being half-understood (none, as of
 * the sender checks).
 */

%code requires {
#include "conf_int.h"
}

%code provides {
int conf_yylex(CONF_YYSTYPE *lval, CONF_YYLTYPE *lloc, struct conf_parser *p);
void conf_yyerror(CONF_YYLTYPE *lloc, struct conf_parser *p, const char *msg);
}

%code {
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"
}

%define api.prefix {conf_yy}
%define api.pure full
%define parse.error verbose
%locations
%expect 0
%parse-param {struct conf_parser *p}
%lex-param {struct conf_parser *p}

%union {
	char *str;
	struct conf_num num;
	struct conf_list *list;
	int i;
}

%token NEWLINE "end of line"
%token ACTION "action" ALIAS "alias" ANY "any" AUTH "auth" BLOCK "block" CERTIFICATE "certificate"
%token CONNECT "connect" DOT "dot" IDLE "idle"
%token AUTH_FAILURES "auth-failures" AUTH_LOCKOUT "auth-lockout" PLAINTEXT_AUTH "plaintext-auth"
%token SENDERS "senders"
%token SQLITE "sqlite" POSTGRESQL "postgresql" QUERY "query"
%token ALLOW_REMOTE "allow-remote" METRICS "metrics"
%token BOUNCE_SIZE "bounce-size" COMMAND "command" COMMAND_LINE "command-line"
%token CONCURRENCY "concurrency" CONNECTIONS "connections" DATA "data" DATA_RATE "data-rate"
%token DELAY_WARNING "delay-warning" SESSION "session"
%token DKIM "dkim" DNSBL "dnsbl" DOMAIN "domain" ERRORS "errors" FILE_ "file" FOR "for"
%token FROM "from" GREETING "greeting" HOPS "hops" HOST "host" HOSTNAME "hostname" KEY "key"
%token LIFETIME "lifetime" LIMITS "limits" LISTEN "listen" LOCAL "local" LOG "log" MAILDIR "maildir"
%token LMTP "lmtp" RCPT_TO "rcpt-to"
%token MATCH "match" MESSAGE_SIZE "message-size" MIN_FREE "min-free" MIN_FREE_INODES "min-free-inodes" NETWORK "network" NETWORKS "networks" OFF "off" ON "on" OWNER "owner"
%token PER_DESTINATION "per-destination" PER_IP "per-ip" PORT "port" QUEUE "queue" RECIPIENTS "recipients" RELAY "relay"
%token RESOLVER "resolver" RETRY_MAX "retry-max" RETRY_MIN "retry-min" SELECTOR "selector"
%token SIGN "sign" SMTP_PROCESSES "smtp-processes" SUBMISSION "submission" SYNC "sync" TABLE "table" TEXT_LINE "text-line"
%token TIMEOUT "timeout" TLS "tls" USER "user" USERS "users" VERIFY "verify"
%token ALLOW "allow" CODES "codes" DMARC "dmarc" QUARANTINE "quarantine" REJECT "reject"
%token SPF "spf" TAG "tag"
%token <str> STRING "quoted string" WORD "word" TABLEREF "<table>"
%token <num> NUMBER "number"

%type <str> str
%type <list> list items
%type <i> from policy

%destructor { free($$); } <str>
%destructor { conf_list_free($$); } <list>

%%

grammar	: %empty
	| grammar NEWLINE
	| grammar stmt NEWLINE
	;

str	: STRING
	| WORD
	;

stmt	: HOSTNAME str			{ conf_set_hostname(p, @1.first_line, $2); }
	| DATA str			{ conf_set_data(p, @1.first_line, $2); }
	| USER str			{ conf_set_user(p, @1.first_line, $2); }
	| USER NETWORK str		{ conf_set_net_user(p, @1.first_line, $3); }
	| LOG FILE_ str			{ conf_set_log(p, @1.first_line, NULL, $3); }
	| LOG str			{ conf_set_log(p, @1.first_line, $2, NULL); }
	| LOG str str			{ conf_set_log(p, @1.first_line, $2, $3); }
	| LISTEN ON str listen_opts	{ conf_add_listen(p, @1.first_line, $3); }
	| METRICS LISTEN ON str metrics_opts	{ conf_add_metrics_listen(p, @1.first_line, $4); }
	| LOCAL NETWORKS list		{ conf_set_local_networks(p, @1.first_line, $3); }
	| TABLE WORD list		{ conf_add_table_list(p, @1.first_line, $2, $3); }
	| TABLE WORD FILE_ str		{ conf_add_table_file(p, @1.first_line, $2, $4); }
	| TABLE WORD SQLITE str QUERY str	{ conf_add_table_sql(p, @1.first_line, $2, TABLE_SQLITE, $4, $6); }
	| TABLE WORD POSTGRESQL str QUERY str	{ conf_add_table_sql(p, @1.first_line, $2, TABLE_POSTGRESQL, $4, $6); }
	| LIMITS limit_opts
	| TIMEOUT timeout_opts
	| RELAY TIMEOUT relay_timeout_opts
	| QUEUE queue_opts
	| ACTION str MAILDIR str maildir_opts	{ conf_add_maildir(p, @1.first_line, $2, $4); }
	| ACTION str RELAY relay_opts	{ conf_add_relay(p, @1.first_line, $2); }
	| ACTION str LMTP str lmtp_opts	{ conf_add_lmtp(p, @1.first_line, $2, $4); }
	| MATCH FROM from FOR for_ ACTION str	{ conf_add_match(p, @1.first_line, $3, $7); }
	| TLS CERTIFICATE str KEY str	{ conf_add_certificate(p, @1.first_line, $3, $5); }
	| AUTH USERS TABLEREF		{ conf_set_auth_table(p, @1.first_line, CONF_AUTH_USERS, $3); }
	| AUTH SENDERS TABLEREF		{ conf_set_auth_table(p, @1.first_line, CONF_AUTH_SENDERS, $3); }
	| RESOLVER str resolver_opts	{ conf_set_resolver(p, @1.first_line, $2); }
	| DNSBL str dnsbl_opts		{ conf_add_dnsbl(p, @1.first_line, $2, NULL); }
	| DNSBL list dnsbl_opts		{ conf_add_dnsbl(p, @1.first_line, NULL, $2); }
	| DNSBL ALLOW list		{ conf_set_dnsbl_allow(p, @1.first_line, $3, NULL); }
	| DNSBL ALLOW TABLEREF		{ conf_set_dnsbl_allow(p, @1.first_line, NULL, $3); }
	| DKIM dkim_opts		{ conf_add_dkim(p, @1.first_line); }
	| SPF policy			{ conf_set_spf(p, @1.first_line, $2); }
	| DMARC policy			{ conf_set_dmarc(p, @1.first_line, $2); }
	;

list	: '{' items '}'			{ $$ = $2; }
	;

items	: %empty			{ $$ = conf_list_new(); }
	| items str			{ $$ = $1; conf_list_add($$, @2.first_line, $2, NULL); }
	| items str '=' str		{ $$ = $1; conf_list_add($$, @2.first_line, $2, $4); }
	| items ','			{ $$ = $1; }
	;

listen_opts : %empty
	| listen_opts PORT NUMBER	{ conf_listen_port(p, @2.first_line, $3); }
	| listen_opts SUBMISSION	{ p->s.submission++; }
	| listen_opts TLS		{ p->s.tls++; }
	| listen_opts PLAINTEXT_AUTH	{ p->s.plaintext_auth++; }
	;

metrics_opts : %empty
	| metrics_opts PORT NUMBER	{ conf_listen_port(p, @2.first_line, $3); }
	| metrics_opts ALLOW_REMOTE	{ p->s.allow_remote++; }
	;

limit_opts : limit_opt
	| limit_opts limit_opt
	;

limit_opt : MESSAGE_SIZE NUMBER	{ conf_set_limit(p, @1.first_line, LIM_MESSAGE_SIZE, $2); }
	| RECIPIENTS NUMBER		{ conf_set_limit(p, @1.first_line, LIM_RECIPIENTS, $2); }
	| CONNECTIONS NUMBER		{ conf_set_limit(p, @1.first_line, LIM_CONNECTIONS, $2); }
	| PER_IP NUMBER			{ conf_set_limit(p, @1.first_line, LIM_PER_IP, $2); }
	| SMTP_PROCESSES NUMBER		{ conf_set_limit(p, @1.first_line, LIM_SMTP_PROCESSES, $2); }
	| COMMAND_LINE NUMBER		{ conf_set_limit(p, @1.first_line, LIM_COMMAND_LINE, $2); }
	| TEXT_LINE NUMBER		{ conf_set_limit(p, @1.first_line, LIM_TEXT_LINE, $2); }
	| ERRORS NUMBER			{ conf_set_limit(p, @1.first_line, LIM_ERRORS, $2); }
	| HOPS NUMBER			{ conf_set_limit(p, @1.first_line, LIM_HOPS, $2); }
	| DATA_RATE NUMBER		{ conf_set_limit(p, @1.first_line, LIM_DATA_RATE, $2); }
	| AUTH_FAILURES NUMBER		{ conf_set_limit(p, @1.first_line, LIM_AUTH_FAILURES, $2); }
	| AUTH_LOCKOUT NUMBER		{ conf_set_limit(p, @1.first_line, LIM_AUTH_LOCKOUT, $2); }
	;

timeout_opts : timeout_opt
	| timeout_opts timeout_opt
	;

timeout_opt : COMMAND NUMBER	{ conf_set_limit(p, @1.first_line, LIM_TIMEOUT_COMMAND, $2); }
	| DATA NUMBER			{ conf_set_limit(p, @1.first_line, LIM_TIMEOUT_DATA, $2); }
	| GREETING NUMBER		{ conf_set_limit(p, @1.first_line, LIM_TIMEOUT_GREETING, $2); }
	| SESSION NUMBER		{ conf_set_limit(p, @1.first_line, LIM_TIMEOUT_SESSION, $2); }
	| TLS NUMBER			{ conf_set_limit(p, @1.first_line, LIM_TIMEOUT_TLS, $2); }
	;

relay_timeout_opts : relay_timeout_opt
	| relay_timeout_opts relay_timeout_opt
	;

relay_timeout_opt : CONNECT NUMBER	{ conf_set_limit(p, @1.first_line, LIM_RELAY_CONNECT, $2); }
	| GREETING NUMBER		{ conf_set_limit(p, @1.first_line, LIM_RELAY_GREETING, $2); }
	| COMMAND NUMBER		{ conf_set_limit(p, @1.first_line, LIM_RELAY_COMMAND, $2); }
	| DATA NUMBER			{ conf_set_limit(p, @1.first_line, LIM_RELAY_DATA, $2); }
	| BLOCK NUMBER			{ conf_set_limit(p, @1.first_line, LIM_RELAY_BLOCK, $2); }
	| DOT NUMBER			{ conf_set_limit(p, @1.first_line, LIM_RELAY_DOT, $2); }
	| IDLE NUMBER			{ conf_set_limit(p, @1.first_line, LIM_RELAY_IDLE, $2); }
	;

queue_opts : queue_opt
	| queue_opts queue_opt
	;

queue_opt : RETRY_MIN NUMBER	{ conf_set_limit(p, @1.first_line, LIM_RETRY_MIN, $2); }
	| RETRY_MAX NUMBER		{ conf_set_limit(p, @1.first_line, LIM_RETRY_MAX, $2); }
	| LIFETIME NUMBER		{ conf_set_limit(p, @1.first_line, LIM_LIFETIME, $2); }
	| DELAY_WARNING NUMBER		{ conf_set_limit(p, @1.first_line, LIM_DELAY_WARNING, $2); }
	| DELAY_WARNING OFF		{ conf_delay_warning_off(p); }
	| CONCURRENCY NUMBER		{ conf_set_limit(p, @1.first_line, LIM_CONCURRENCY, $2); }
	| PER_DESTINATION NUMBER	{ conf_set_limit(p, @1.first_line, LIM_PER_DESTINATION, $2); }
	| BOUNCE_SIZE NUMBER		{ conf_set_limit(p, @1.first_line, LIM_BOUNCE_SIZE, $2); }
	| SYNC str			{ conf_set_queue_sync(p, @1.first_line, $2); }
	| MIN_FREE NUMBER		{ conf_set_limit(p, @1.first_line, LIM_MIN_FREE, $2); }
	| MIN_FREE_INODES NUMBER	{ conf_set_limit(p, @1.first_line, LIM_MIN_FREE_INODES, $2); }
	;

/* What maildir and lmtp actions share: which mailboxes exist, aliases. */
local_opt : USERS TABLEREF		{ conf_local_opt(p, @1.first_line, 1, $2); }
	| ALIAS TABLEREF		{ conf_local_opt(p, @1.first_line, 0, $2); }
	;

maildir_opts : %empty
	| maildir_opts local_opt
	| maildir_opts OWNER str	{
		if (p->s.owner != NULL)
			conf_error(p, @2.first_line, "duplicate option \"owner\"");
		free(p->s.owner);
		p->s.owner = $3;
	}
	;

lmtp_opts : %empty
	| lmtp_opts local_opt
	| lmtp_opts RCPT_TO str		{
		if (p->s.rcpt_to != NULL)
			conf_error(p, @2.first_line, "duplicate option \"rcpt-to\"");
		free(p->s.rcpt_to);
		p->s.rcpt_to = $3;
		p->s.rcpt_to_line = @2.first_line;
	}
	| lmtp_opts RCPT_TO USER	{
		if (p->s.rcpt_to != NULL)
			conf_error(p, @2.first_line, "duplicate option \"rcpt-to\"");
		free(p->s.rcpt_to);
		p->s.rcpt_to = xstrdup("user");
		p->s.rcpt_to_line = @2.first_line;
	}
	;

relay_opts : %empty
	| relay_opts HOST str		{ free(p->s.host); p->s.host = $3; }
	| relay_opts PORT NUMBER	{ conf_listen_port(p, @2.first_line, $3); }
	| relay_opts TLS		{ p->s.tls++; }
	| relay_opts AUTH TABLEREF	{ free(p->s.auth_table); p->s.auth_table = $3; p->s.auth_set++; }
	;

from	: ANY				{ $$ = FROM_ANY; }
	| LOCAL				{ $$ = FROM_LOCAL; }
	| AUTH				{ $$ = FROM_AUTH; }
	;

for_	: ANY				{ p->s.for_ = FOR_ANY; }
	| DOMAIN TABLEREF		{ p->s.for_ = FOR_DOMAIN; p->s.for_table = $2; }
	| DOMAIN str			{
		p->s.for_ = FOR_DOMAIN;
		p->s.for_list = conf_list_new();
		conf_list_add(p->s.for_list, @2.first_line, $2, NULL);
	}
	| DOMAIN list			{ p->s.for_ = FOR_DOMAIN; p->s.for_list = $2; }
	;

resolver_opts : %empty
	| PORT NUMBER			{ conf_listen_port(p, @1.first_line, $2); }
	;

dkim_opts : dkim_opt
	| dkim_opts dkim_opt
	;

dkim_opt : SIGN			{ p->s.dkim_sign++; }
	| VERIFY			{ p->s.dkim_verify++; }
	| DOMAIN str			{ conf_dkim_opt(p, @1.first_line, &p->s.dkim_domain, $2, "domain"); }
	| SELECTOR str			{ conf_dkim_opt(p, @1.first_line, &p->s.dkim_selector, $2, "selector"); }
	| KEY str			{ conf_dkim_opt(p, @1.first_line, &p->s.dkim_key, $2, "key"); }
	;

dnsbl_opts : %empty
	| dnsbl_opts REJECT		{ p->s.dnsbl_reject++; }
	| dnsbl_opts TAG		{ p->s.dnsbl_tag++; }
	| dnsbl_opts CODES list		{
		if (p->s.dnsbl_codes != NULL)
			conf_error(p, @2.first_line, "dnsbl: duplicate option \"codes\"");
		conf_list_free(p->s.dnsbl_codes);
		p->s.dnsbl_codes = $3;
	}
	;

policy	: OFF				{ $$ = CHECK_OFF; }
	| TAG				{ $$ = CHECK_TAG; }
	| QUARANTINE			{ $$ = CHECK_QUARANTINE; }
	| REJECT			{ $$ = CHECK_REJECT; }
	;

%%

/*
 * Bison says what kind of token it did not expect; name the token too, and
 * call a word that opens a line what it is: a statement Raven does not know.
 */
void conf_yyerror(CONF_YYLTYPE *lloc, struct conf_parser *p, const char *msg)
{
	const char *t;
	size_t n = conf_lex_token_text(p, &t);
	char q[128];
	if (n == 0) {
		conf_error(p, lloc->first_line, "%s", msg);
		return;
	}
	log_escape(q, sizeof(q), t, n > 60 ? 60 : n);
	static const char lead[] = "syntax error, ";
	if (p->last_tok == WORD && (p->prev_tok == 0 || p->prev_tok == NEWLINE))
		conf_error(p, lloc->first_line, "unknown statement \"%s\"", q);
	else if (strncmp(msg, lead, sizeof(lead) - 1) == 0)
		conf_error(p, lloc->first_line, "syntax error at \"%s\": %s", q,
		           msg + sizeof(lead) - 1);
	else
		conf_error(p, lloc->first_line, "%s at \"%s\"", msg, q);
}
