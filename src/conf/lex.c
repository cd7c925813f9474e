/*
 * lex: the hand-written lexer of raven.conf. Reads from memory only, never
 * past len, and caps every token, so any input gives tokens or an error.
 *
 * Newlines end statements, except inside { } where lists may span lines.
 * A word right after "table" is a name even if it is a keyword, so that
 * "table users file ..." works.
 */
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "parse.h"
#include "xmalloc.h"

static const struct {
	const char *word;
	int tok;
} keywords[] = {
    {"action", ACTION},
    {"alias", ALIAS},
    {"allow-remote", ALLOW_REMOTE},
    {"allow", ALLOW},
    {"any", ANY},
    {"auth", AUTH},
    {"auth-failures", AUTH_FAILURES},
    {"auth-lockout", AUTH_LOCKOUT},
    {"block", BLOCK},
    {"bounce-size", BOUNCE_SIZE},
    {"certificate", CERTIFICATE},
    {"codes", CODES},
    {"command", COMMAND},
    {"command-line", COMMAND_LINE},
    {"concurrency", CONCURRENCY},
    {"connect", CONNECT},
    {"connections", CONNECTIONS},
    {"data", DATA},
    {"data-rate", DATA_RATE},
    {"delay-warning", DELAY_WARNING},
    {"dkim", DKIM},
    {"dmarc", DMARC},
    {"dnsbl", DNSBL},
    {"domain", DOMAIN},
    {"dot", DOT},
    {"errors", ERRORS},
    {"file", FILE_},
    {"for", FOR},
    {"from", FROM},
    {"greeting", GREETING},
    {"hops", HOPS},
    {"host", HOST},
    {"hostname", HOSTNAME},
    {"idle", IDLE},
    {"key", KEY},
    {"lifetime", LIFETIME},
    {"limits", LIMITS},
    {"listen", LISTEN},
    {"lmtp", LMTP},
    {"local", LOCAL},
    {"log", LOG},
    {"maildir", MAILDIR},
    {"match", MATCH},
    {"message-size", MESSAGE_SIZE},
    {"min-free", MIN_FREE},
    {"min-free-inodes", MIN_FREE_INODES},
    {"metrics", METRICS},
    {"network", NETWORK},
    {"networks", NETWORKS},
    {"off", OFF},
    {"on", ON},
    {"owner", OWNER},
    {"per-destination", PER_DESTINATION},
    {"per-ip", PER_IP},
    {"plaintext-auth", PLAINTEXT_AUTH},
    {"port", PORT},
    {"quarantine", QUARANTINE},
    {"postgresql", POSTGRESQL},
    {"query", QUERY},
    {"queue", QUEUE},
    {"rcpt-to", RCPT_TO},
    {"recipients", RECIPIENTS},
    {"reject", REJECT},
    {"relay", RELAY},
    {"resolver", RESOLVER},
    {"retry-max", RETRY_MAX},
    {"retry-min", RETRY_MIN},
    {"selector", SELECTOR},
    {"senders", SENDERS},
    {"session", SESSION},
    {"sign", SIGN},
    {"smtp-processes", SMTP_PROCESSES},
    {"spf", SPF},
    {"sqlite", SQLITE},
    {"submission", SUBMISSION},
    {"sync", SYNC},
    {"table", TABLE},
    {"tag", TAG},
    {"text-line", TEXT_LINE},
    {"timeout", TIMEOUT},
    {"tls", TLS},
    {"user", USER},
    {"users", USERS},
    {"verify", VERIFY},
};

void conf_lex_init(struct conf_parser *p, const char *text, size_t len)
{
	p->text = text;
	p->len = len;
	p->pos = 0;
	p->line = 1;
	p->brace_depth = 0;
	p->last_tok = 0;
	p->prev_tok = 0;
	p->tok_start = 0;
	p->eof_lines = 0;
}

static int is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '+' || c == '@' ||
	       c == '[' || c == ']';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int lex_string(struct conf_parser *p, CONF_YYSTYPE *lval)
{
	char *s = xmalloc(CONF_MAX_STRING + 1);
	size_t n = 0;
	p->pos++; /* opening quote */
	for (;;) {
		if (p->pos >= p->len || p->text[p->pos] == '\n') {
			free(s);
			conf_error(p, p->line, "unterminated string");
			return CONF_YYerror;
		}
		unsigned char c = (unsigned char)p->text[p->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (p->pos >= p->len ||
			    (p->text[p->pos] != '"' && p->text[p->pos] != '\\')) {
				free(s);
				conf_error(p, p->line,
				           "invalid escape in string (only \\\" and \\\\)");
				return CONF_YYerror;
			}
			c = (unsigned char)p->text[p->pos++];
		} else if (c < 0x20 && c != '\t') {
			free(s);
			conf_error(p, p->line, "control character in string");
			return CONF_YYerror;
		} else if (c == 0x7f) {
			free(s);
			conf_error(p, p->line, "control character in string");
			return CONF_YYerror;
		}
		if (n == CONF_MAX_STRING) {
			free(s);
			conf_error(p, p->line, "string too long (more than %d bytes)",
			           CONF_MAX_STRING);
			return CONF_YYerror;
		}
		s[n++] = (char)c;
	}
	s[n] = '\0';
	lval->str = s;
	return STRING;
}

static int lex_tableref(struct conf_parser *p, CONF_YYSTYPE *lval)
{
	size_t start = ++p->pos;
	while (p->pos < p->len && p->pos - start <= CONF_MAX_NAME &&
	       is_word_char((unsigned char)p->text[p->pos]))
		p->pos++;
	size_t n = p->pos - start;
	if (n == 0 || n > CONF_MAX_NAME || p->pos >= p->len || p->text[p->pos] != '>') {
		conf_error(p, p->line, "invalid table reference (expected <name>)");
		return CONF_YYerror;
	}
	p->pos++;
	lval->str = xstrndup(p->text + start, n);
	return TABLEREF;
}

static int lex_word(struct conf_parser *p, CONF_YYSTYPE *lval)
{
	size_t start = p->pos;
	while (p->pos < p->len && p->pos - start <= CONF_MAX_WORD &&
	       is_word_char((unsigned char)p->text[p->pos]))
		p->pos++;
	size_t n = p->pos - start;
	if (n > CONF_MAX_WORD) {
		conf_error(p, p->line, "word too long (more than %d bytes)", CONF_MAX_WORD);
		return CONF_YYerror;
	}
	const char *w = p->text + start;

	/* digits with at most one trailing letter: a number with a unit */
	size_t digits = 0;
	while (digits < n && is_digit((unsigned char)w[digits]))
		digits++;
	int unit = digits + 1 == n && ((w[digits] >= 'a' && w[digits] <= 'z') ||
	                               (w[digits] >= 'A' && w[digits] <= 'Z'));
	if (digits > 0 && (digits == n || unit)) {
		uint64_t v = 0;
		for (size_t i = 0; i < digits; i++) {
			unsigned d = (unsigned)(w[i] - '0');
			if (v > (UINT64_MAX - d) / 10) {
				conf_error(p, p->line, "number too large");
				return CONF_YYerror;
			}
			v = v * 10 + d;
		}
		lval->num.n = v;
		lval->num.unit = digits < n ? w[digits] : '\0';
		return NUMBER;
	}
	if (p->last_tok != TABLE) {
		for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
			if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, w, n) == 0)
				return keywords[i].tok;
		}
	}
	lval->str = xstrndup(w, n);
	return WORD;
}

static int lex_next(struct conf_parser *p, CONF_YYSTYPE *lval, int *line)
{
	for (;;) {
		*line = p->line;
		if (p->pos >= p->len) {
			/* A last line without its newline still ends a statement. */
			if (p->last_tok != 0 && p->last_tok != NEWLINE && p->eof_lines++ == 0)
				return NEWLINE;
			return CONF_YYEOF;
		}
		unsigned char c = (unsigned char)p->text[p->pos];
		p->tok_start = p->pos;
		switch (c) {
		case ' ':
		case '\t':
		case '\r':
		case '\f':
		case '\v':
			p->pos++;
			continue;
		case '\\':
			if (p->pos + 1 < p->len && p->text[p->pos + 1] == '\n') {
				p->pos += 2;
				p->line++;
				continue;
			}
			if (p->pos + 2 < p->len && p->text[p->pos + 1] == '\r' &&
			    p->text[p->pos + 2] == '\n') {
				p->pos += 3;
				p->line++;
				continue;
			}
			break;
		case '#':
			while (p->pos < p->len && p->text[p->pos] != '\n')
				p->pos++;
			continue;
		case '\n':
			p->pos++;
			p->line++;
			if (p->brace_depth > 0)
				continue;
			return NEWLINE;
		case '{':
			p->pos++;
			p->brace_depth++;
			return '{';
		case '}':
			p->pos++;
			if (p->brace_depth > 0)
				p->brace_depth--;
			return '}';
		case ',':
		case '=':
			p->pos++;
			return c;
		case '"':
			return lex_string(p, lval);
		case '<':
			return lex_tableref(p, lval);
		default:
			if (is_word_char(c))
				return lex_word(p, lval);
			break;
		}
		if (c >= 0x21 && c < 0x7f)
			conf_error(p, p->line, "unexpected character '%c'", c);
		else
			conf_error(p, p->line, "unexpected byte 0x%02x", c);
		return CONF_YYerror;
	}
}

size_t conf_lex_token_text(const struct conf_parser *p, const char **text)
{
	*text = p->text + p->tok_start;
	if (p->last_tok == 0 || p->last_tok == NEWLINE || p->last_tok == CONF_YYEOF ||
	    p->tok_start > p->pos)
		return 0;
	return p->pos - p->tok_start;
}

int conf_yylex(CONF_YYSTYPE *lval, CONF_YYLTYPE *lloc, struct conf_parser *p)
{
	int line;
	int tok = lex_next(p, lval, &line);
	lloc->first_line = lloc->last_line = line;
	lloc->first_column = lloc->last_column = 0;
	p->prev_tok = p->last_tok;
	p->last_tok = tok;
	return tok;
}
