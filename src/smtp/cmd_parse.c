/*
 * cmd_parse: splitting the client's byte stream into command lines, and
 * turning one line into a struct smtp_cmd (RFC 5321 §4.1.1 and the ESMTP
 * parameters of RFC 1870, 6152, 6531, 3461, 4954, 3030). Pure: no I/O, no
 * policy beyond syntax — what was advertised and what the session state
 * allows is decided by the caller.
 */
#include "cmd_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"
#include "xtext.h"

void line_reader_init(struct line_reader *lr, size_t max)
{
	/* The smallest useful line is a bare CRLF. */
	lr->max = max < 2 ? 2 : max;
	lr->cap = 0;
	lr->line = NULL; /* grown as lines need it: an idle client costs nothing */
	lr->len = 0;
	lr->overflow = 0;
	lr->last_cr = 0;
	lr->have_line = 0;
}

void line_reader_free(struct line_reader *lr)
{
	free(lr->line);
	lr->line = NULL;
	lr->len = lr->cap = 0;
}

/* Room for need octets (with the NUL), never more than a whole line's. */
static void line_reader_reserve(struct line_reader *lr, size_t need)
{
	if (need <= lr->cap)
		return;
	size_t cap = lr->cap ? lr->cap : 128;
	while (cap < need)
		cap *= 2;
	if (cap > lr->max + 1)
		cap = lr->max + 1;
	lr->line = xreallocarray(lr->line, cap, 1);
	lr->cap = cap;
}

/* Content octets never exceed max - 1 (the shortest terminator is LF). */
static void line_reader_put(struct line_reader *lr, uint8_t c)
{
	if (lr->overflow)
		return;
	if (lr->len + 1 > lr->max - 1) {
		lr->overflow = 1;
		lr->len = 0;
		return;
	}
	line_reader_reserve(lr, lr->len + 2);
	lr->line[lr->len++] = (char)c;
}

enum line_result line_reader_feed(struct line_reader *lr, const uint8_t *in, size_t n,
                                  size_t *consumed)
{
	if (lr->have_line) {
		lr->have_line = 0;
		lr->len = 0;
		lr->line[0] = 0;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];
		if (c == '\n') {
			size_t eol = lr->last_cr ? 2 : 1;
			lr->last_cr = 0;
			*consumed = i + 1;
			line_reader_reserve(lr, lr->len + 1);
			if (lr->overflow || lr->len + eol > lr->max) {
				lr->overflow = 0;
				lr->len = 0;
				lr->line[0] = 0;
				return LINE_TOO_LONG;
			}
			lr->line[lr->len] = 0;
			lr->have_line = 1;
			return LINE_DONE;
		}
		/* A CR not followed by LF stays in the line; cmd_parse refuses it. */
		if (lr->last_cr) {
			lr->last_cr = 0;
			line_reader_put(lr, '\r');
		}
		if (c == '\r')
			lr->last_cr = 1;
		else
			line_reader_put(lr, c);
	}
	*consumed = n;
	return LINE_MORE;
}

/* ---- command lines ---- */

static int cmd_fail(struct smtp_reply *err, int code, const char *enh, const char *text)
{
	smtp_reply_set(err, code, enh, text);
	return -1;
}

static int cmd_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int cmd_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* s[0..n) equals the NUL-terminated word w, ignoring ASCII case. */
static int cmd_word_eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/*
 * xtext (RFC 3461 §4) that decodes to printable ASCII (32..126), into out
 * (outmax octets with the NUL): what ENVID and AUTH= may carry. NULL, or
 * what is wrong (too_long when it does not fit).
 */
static const char *cmd_xtext_printable(const char *s, size_t n, char *out, size_t outmax,
                                       const char *too_long)
{
	size_t len;
	if (xtext_decode(s, n, NULL, 0, &len) == -1)
		return "bad xtext";
	if (len >= outmax)
		return too_long;
	xtext_decode(s, n, out, outmax, &len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < 32 || (unsigned char)out[i] > 126) {
			out[0] = '\0';
			return "not printable ASCII";
		}
	return NULL;
}

/* SIZE / BDAT chunk size: 1*DIGIT; 1 on overflow, -1 on bad syntax. */
static int cmd_parse_u64(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return 1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/* Copy a raw argument into cmd->arg; refusing is better than truncating. */
static int cmd_copy_arg(struct smtp_cmd *cmd, const char *a, size_t n, struct smtp_reply *err)
{
	if (n >= sizeof(cmd->arg))
		return cmd_fail(err, 501, "5.5.4", "Syntax error: argument too long");
	memcpy(cmd->arg, a, n);
	cmd->arg[n] = 0;
	return 0;
}

/* The address reply from addr.c, told from the MAIL or the RCPT side. */
static int cmd_addr_fail(struct smtp_reply *err, int sender)
{
	if (err->code == 501) {
		char text[sizeof(err->text)];
		snprintf(text, sizeof(text), "Bad %s address syntax: %.120s",
		         sender ? "sender" : "recipient", err->text);
		smtp_reply_set(err, 501, sender ? "5.1.7" : "5.1.3", text);
	}
	return -1;
}

enum {
	P_SIZE = 1 << 0,
	P_BODY = 1 << 1,
	P_SMTPUTF8 = 1 << 2,
	P_RET = 1 << 3,
	P_ENVID = 1 << 4,
	P_AUTH = 1 << 5,
	P_NOTIFY = 1 << 6,
	P_ORCPT = 1 << 7,
};

/* Parameters that only decorate a future DSN: dropped when malformed (struct cmd_ignored). */
#define P_DECORATION (P_ENVID | P_ORCPT)

struct cmd_param_def {
	const char *name;
	unsigned bit;
	int mail; /* 1: MAIL parameter, 0: RCPT parameter */
};

static const struct cmd_param_def cmd_params[] = {
    {"SIZE", P_SIZE, 1},   {"BODY", P_BODY, 1}, {"SMTPUTF8", P_SMTPUTF8, 1}, {"RET", P_RET, 1},
    {"ENVID", P_ENVID, 1}, {"AUTH", P_AUTH, 1}, {"NOTIFY", P_NOTIFY, 0},     {"ORCPT", P_ORCPT, 0},
};

/* Drop a malformed ENVID or ORCPT (at line[off..off+len)); the command goes on. */
static int cmd_ignore(struct smtp_cmd *cmd, unsigned bit, const char *why, size_t off, size_t len)
{
	if (bit == P_ORCPT) {
		cmd->ignored.event = "orcpt-ignored";
		cmd->orcpt[0] = '\0';
	} else {
		cmd->ignored.event = "envid-ignored";
		cmd->envid[0] = '\0';
	}
	cmd->ignored.why = why;
	cmd->ignored.off = off;
	cmd->ignored.len = len;
	return 0;
}

static int cmd_param_notify(struct smtp_cmd *cmd, const char *v, size_t n, struct smtp_reply *err)
{
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && v[j] != ',')
			j++;
		unsigned bit;
		if (cmd_word_eq(v + i, j - i, "NEVER"))
			bit = NOTIFY_NEVER;
		else if (cmd_word_eq(v + i, j - i, "SUCCESS"))
			bit = NOTIFY_SUCCESS;
		else if (cmd_word_eq(v + i, j - i, "FAILURE"))
			bit = NOTIFY_FAILURE;
		else if (cmd_word_eq(v + i, j - i, "DELAY"))
			bit = NOTIFY_DELAY;
		else
			return cmd_fail(err, 501, "5.5.4", "Invalid NOTIFY value");
		cmd->notify |= bit;
		i = j + 1;
	}
	if ((cmd->notify & NOTIFY_NEVER) && cmd->notify != NOTIFY_NEVER)
		return cmd_fail(err, 501, "5.5.4",
		                "NOTIFY=NEVER cannot be combined with other values");
	return 0;
}

/*
 * ORCPT = addr-type ";" value (RFC 3461 §4.2): "rfc822" with xtext, or
 * "utf-8" with RFC 6533's forms, the two types a DSN can show (addr-type is
 * case-insensitive). NULL, or what is wrong.
 */
static const char *cmd_orcpt_check(const char *v, size_t n)
{
	if (n > CMD_ORCPT_MAX)
		return "longer than 500 characters";
	const char *semi = memchr(v, ';', n);
	if (semi == NULL || semi == v)
		return "not addr-type;address";
	size_t tlen = (size_t)(semi - v), alen = n - tlen - 1, len;
	if (alen == 0)
		return "no address";
	if (cmd_word_eq(v, tlen, "rfc822"))
		return xtext_decode(semi + 1, alen, NULL, 0, &len) == 0 ? NULL : "bad xtext";
	if (cmd_word_eq(v, tlen, "utf-8"))
		return xtext_decode_utf8(semi + 1, alen, NULL, 0, &len) == 0
		           ? NULL
		           : "bad utf-8 address (RFC 6533)";
	return "unknown address type";
}

/* One known parameter: its value (v may be NULL when there was no '='),
 * found at line[voff..voff+n). */
static int cmd_param_value(struct smtp_cmd *cmd, unsigned bit, const char *v, size_t n, size_t voff,
                           struct smtp_reply *err)
{
	if (bit == P_SMTPUTF8) {
		if (v != NULL)
			return cmd_fail(err, 501, "5.5.4", "SMTPUTF8 takes no value");
		cmd->smtputf8 = 1;
		return 0;
	}
	if (v == NULL)
		return cmd_fail(err, 501, "5.5.4", "Parameter requires a value");
	switch (bit) {
	case P_SIZE: {
		int rc = cmd_parse_u64(v, n, &cmd->size);
		if (rc == 1)
			return cmd_fail(err, 552, "5.3.4",
			                "Message size exceeds fixed maximum message size");
		if (rc == -1)
			return cmd_fail(err, 501, "5.5.4", "Invalid SIZE value");
		cmd->has_size = 1;
		return 0;
	}
	case P_BODY:
		if (cmd_word_eq(v, n, "7BIT"))
			cmd->body = BODY_7BIT;
		else if (cmd_word_eq(v, n, "8BITMIME"))
			cmd->body = BODY_8BITMIME;
		else if (cmd_word_eq(v, n, "BINARYMIME"))
			cmd->body = BODY_BINARYMIME;
		else
			return cmd_fail(err, 501, "5.5.4", "Invalid BODY value");
		return 0;
	case P_RET:
		if (cmd_word_eq(v, n, "FULL"))
			cmd->ret = RET_FULL;
		else if (cmd_word_eq(v, n, "HDRS"))
			cmd->ret = RET_HDRS;
		else
			return cmd_fail(err, 501, "5.5.4", "Invalid RET value");
		return 0;
	case P_ENVID: {
		const char *why = cmd_xtext_printable(v, n, cmd->envid, sizeof(cmd->envid),
		                                      "longer than 100 characters");
		if (why != NULL)
			return cmd_ignore(cmd, P_ENVID, why, voff, n);
		return 0;
	}
	case P_AUTH:
		if (cmd_xtext_printable(v, n, cmd->auth, sizeof(cmd->auth), "too long") != NULL)
			return cmd_fail(err, 501, "5.5.4", "Invalid AUTH value");
		cmd->has_auth = 1;
		return 0;
	case P_NOTIFY:
		return cmd_param_notify(cmd, v, n, err);
	case P_ORCPT: {
		const char *why = cmd_orcpt_check(v, n);
		if (why != NULL)
			return cmd_ignore(cmd, P_ORCPT, why, voff, n);
		memcpy(cmd->orcpt, v, n);
		cmd->orcpt[n] = '\0';
		return 0;
	}
	}
	return cmd_fail(err, 555, "5.5.4", "Unsupported parameter");
}

/*
 * esmtp-param *(SP esmtp-param) after the path, which starts at line[base].
 * More than one space is tolerated between parameters; nothing else is.
 * A decoration (ENVID, ORCPT) that is malformed in any way, the esmtp-value
 * grammar included, is dropped rather than refused.
 */
static int cmd_params_parse(struct smtp_cmd *cmd, int mail, const char *s, size_t n, size_t base,
                            struct smtp_reply *err)
{
	unsigned seen = 0;
	size_t i = 0;
	if (n > 0 && !cmd_is_wsp(s[0]))
		return cmd_fail(err, 501, "5.5.4", "Syntax error: a space must follow the address");
	while (i < n) {
		while (i < n && cmd_is_wsp(s[i]))
			i++;
		if (i == n)
			break;
		size_t k = i;
		while (k < n && (cmd_is_alnum(s[k]) || (k > i && s[k] == '-')))
			k++;
		if (k == i || (k < n && s[k] != '=' && !cmd_is_wsp(s[k])))
			return cmd_fail(err, 501, "5.5.4", "Syntax error in parameter keyword");
		const char *key = s + i, *v = NULL;
		size_t klen = k - i, vlen = 0, voff = base + k;
		int bad_value = 0;
		if (k < n && s[k] == '=') {
			v = s + k + 1;
			voff = base + k + 1;
			size_t e = k + 1;
			/* esmtp-value: %d33-60 / %d62-126 (and UTF-8, RFC 6531) */
			while (e < n && !cmd_is_wsp(s[e])) {
				unsigned char c = (unsigned char)s[e];
				if (c < 33 || c == '=' || c == 127)
					bad_value = 1;
				e++;
			}
			vlen = e - (k + 1);
			k = e;
		}
		const struct cmd_param_def *def = NULL;
		for (size_t d = 0; d < sizeof(cmd_params) / sizeof(cmd_params[0]); d++)
			if (cmd_params[d].mail == mail &&
			    cmd_word_eq(key, klen, cmd_params[d].name))
				def = &cmd_params[d];
		int decoration = def != NULL && (def->bit & P_DECORATION);
		if (bad_value && !decoration)
			return cmd_fail(err, 501, "5.5.4", "Syntax error in parameter value");
		if (v != NULL && vlen == 0 && !decoration)
			return cmd_fail(err, 501, "5.5.4", "Parameter value is empty");
		if (def == NULL) {
			char text[sizeof(err->text)];
			snprintf(text, sizeof(text), "Unsupported parameter: %.*s",
			         klen > 40 ? 40 : (int)klen, key);
			return cmd_fail(err, 555, "5.5.4", text);
		}
		i = k;
		if (decoration && (seen & def->bit)) {
			/* Neither value can be trusted to be the one meant. */
			cmd_ignore(cmd, def->bit, "given more than once", voff, vlen);
			continue;
		}
		if (seen & def->bit) {
			char text[sizeof(err->text)];
			snprintf(text, sizeof(text), "Duplicate %s parameter", def->name);
			return cmd_fail(err, 501, "5.5.4", text);
		}
		seen |= def->bit;
		if (decoration && (v == NULL || vlen == 0 || bad_value)) {
			cmd_ignore(cmd, def->bit,
			           v == NULL   ? "no value"
			           : vlen == 0 ? "empty"
			                       : "not an esmtp-value (control, space or '=')",
			           voff, vlen);
			continue;
		}
		if (cmd_param_value(cmd, def->bit, v, vlen, voff, err) == -1)
			return -1;
	}
	return 0;
}

/* MAIL FROM:<path> [params] / RCPT TO:<path> [params] */
static int cmd_parse_path_cmd(struct smtp_cmd *cmd, int mail, const char *a, size_t n, size_t base,
                              int utf8_addrs, struct smtp_reply *err)
{
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	if (n < kwlen || strncasecmp(a, kw, kwlen) != 0)
		return cmd_fail(err, 501, "5.5.4",
		                mail ? "Syntax: MAIL FROM:<address> [parameters]"
		                     : "Syntax: RCPT TO:<address> [parameters]");
	size_t i = kwlen;
	/* RFC 5321 has no space here, but many clients send one (as Postfix allows). */
	while (i < n && cmd_is_wsp(a[i]))
		i++;
	unsigned flags;
	if (mail)
		flags = ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8; /* UTF-8 checked below */
	else
		flags = ADDR_ALLOW_POSTMASTER | (utf8_addrs ? ADDR_ALLOW_UTF8 : 0);
	size_t used;
	if (addr_parse_path(a + i, n - i, flags, &cmd->addr, &used, err) == -1)
		return cmd_addr_fail(err, mail);
	i += used;
	if (cmd_params_parse(cmd, mail, a + i, n - i, base + i, err) == -1)
		return -1;
	if (mail && cmd->addr.has_utf8 && !cmd->smtputf8)
		return cmd_fail(err, 553, "5.6.7",
		                "Non-ASCII sender address requires the SMTPUTF8 parameter");
	return 0;
}

/* "BDAT" SP chunk-size [SP "LAST"] */
static int cmd_parse_bdat(struct smtp_cmd *cmd, const char *a, size_t n, struct smtp_reply *err)
{
	size_t i = 0;
	while (i < n && !cmd_is_wsp(a[i]))
		i++;
	int rc = cmd_parse_u64(a, i, &cmd->chunk_size);
	if (rc == 1)
		return cmd_fail(err, 552, "5.3.4",
		                "Message size exceeds fixed maximum message size");
	if (rc == -1)
		return cmd_fail(err, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
	while (i < n && cmd_is_wsp(a[i]))
		i++;
	if (i < n) {
		if (!cmd_word_eq(a + i, n - i, "LAST"))
			return cmd_fail(err, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
		cmd->last_chunk = 1;
	}
	return 0;
}

/*
 * "AUTH" SP sasl-mech [SP initial-response] (RFC 4954 §4): a mechanism of 1
 * to 20 letters, digits, '-' or '_' (RFC 4422 §3.1), then one token.
 */
static int cmd_parse_auth(struct smtp_cmd *cmd, const char *a, size_t n, size_t base,
                          struct smtp_reply *err)
{
	size_t i = 0;
	while (i < n && (cmd_is_alnum(a[i]) || a[i] == '-' || a[i] == '_'))
		i++;
	if (i == 0 || i > 20 || (i < n && !cmd_is_wsp(a[i])))
		return cmd_fail(err, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
	memcpy(cmd->arg, a, i);
	cmd->arg[i] = '\0';
	while (i < n && cmd_is_wsp(a[i]))
		i++;
	if (i == n)
		return 0;
	size_t j = i;
	while (j < n && !cmd_is_wsp(a[j]))
		j++;
	if (j != n)
		return cmd_fail(err, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
	cmd->has_ir = 1;
	cmd->ir_off = base + i;
	cmd->ir_len = j - i;
	return 0;
}

enum cmd_args { ARGS_NONE, ARGS_ANY, ARGS_REQUIRED, ARGS_HELO, ARGS_SPECIAL };

struct cmd_def {
	const char *name;
	enum smtp_verb verb;
	enum cmd_args args;
};

static const struct cmd_def cmd_defs[] = {
    {"HELO", CMD_HELO, ARGS_HELO},         {"EHLO", CMD_EHLO, ARGS_HELO},
    {"MAIL", CMD_MAIL, ARGS_SPECIAL},      {"RCPT", CMD_RCPT, ARGS_SPECIAL},
    {"DATA", CMD_DATA, ARGS_NONE},         {"BDAT", CMD_BDAT, ARGS_SPECIAL},
    {"RSET", CMD_RSET, ARGS_NONE},         {"NOOP", CMD_NOOP, ARGS_ANY},
    {"QUIT", CMD_QUIT, ARGS_NONE},         {"VRFY", CMD_VRFY, ARGS_REQUIRED},
    {"EXPN", CMD_EXPN, ARGS_REQUIRED},     {"HELP", CMD_HELP, ARGS_ANY},
    {"STARTTLS", CMD_STARTTLS, ARGS_NONE}, {"AUTH", CMD_AUTH, ARGS_SPECIAL},
};

int cmd_parse(const char *line, size_t len, int utf8_addrs, struct smtp_cmd *cmd,
              struct smtp_reply *err)
{
	memset(cmd, 0, sizeof(*cmd));
	if (memchr(line, 0, len) != NULL)
		return cmd_fail(err, 501, "5.5.2", "Syntax error: NUL character in command");
	if (memchr(line, '\r', len) != NULL)
		return cmd_fail(err, 501, "5.5.2", "Syntax error: bare CR in command");
	/* Trailing blanks are not an argument (clients do send "DATA "). */
	while (len > 0 && cmd_is_wsp(line[len - 1]))
		len--;
	if (len == 0)
		return cmd_fail(err, 500, "5.5.2", "Syntax error: empty command");
	size_t vlen = 0;
	while (vlen < len && !cmd_is_wsp(line[vlen]))
		vlen++;
	const struct cmd_def *def = NULL;
	for (size_t i = 0; i < sizeof(cmd_defs) / sizeof(cmd_defs[0]); i++)
		if (cmd_word_eq(line, vlen, cmd_defs[i].name))
			def = &cmd_defs[i];
	if (def == NULL)
		return cmd_fail(err, 500, "5.5.1", "Command unrecognized");
	cmd->verb = def->verb;
	size_t i = vlen;
	while (i < len && cmd_is_wsp(line[i]))
		i++;
	const char *a = line + i;
	size_t n = len - i;
	char text[sizeof(err->text)];
	switch (def->args) {
	case ARGS_NONE:
		if (n > 0) {
			snprintf(text, sizeof(text), "Syntax error: %s takes no arguments",
			         def->name);
			return cmd_fail(err, 501, "5.5.4", text);
		}
		return 0;
	case ARGS_ANY:
		return cmd_copy_arg(cmd, a, n, err);
	case ARGS_REQUIRED:
		if (n == 0) {
			snprintf(text, sizeof(text), "Syntax error: %s requires an argument",
			         def->name);
			return cmd_fail(err, 501, "5.5.4", text);
		}
		return cmd_copy_arg(cmd, a, n, err);
	case ARGS_HELO:
		if (n == 0 || !addr_valid_helo(a, n)) {
			snprintf(text, sizeof(text), "%s requires a domain or address literal",
			         def->name);
			return cmd_fail(err, 501, "5.5.4", text);
		}
		return cmd_copy_arg(cmd, a, n, err);
	case ARGS_SPECIAL:
		break;
	}
	if (def->verb == CMD_AUTH)
		return cmd_parse_auth(cmd, a, n, i, err);
	if (n == 0 && def->verb == CMD_BDAT)
		return cmd_fail(err, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
	if (def->verb == CMD_BDAT)
		return cmd_parse_bdat(cmd, a, n, err);
	return cmd_parse_path_cmd(cmd, def->verb == CMD_MAIL, a, n, i, utf8_addrs, err);
}
