/*
 * cmd_parse: pure SMTP command-line handling.
 *
 * 1. line_reader: resumable splitter of the client's byte stream into
 *    command lines. Feed any number of bytes; it reports a complete line,
 *    "need more", or a line over the limit (which it discards up to its end
 *    and reports once, so the session can answer 500 5.5.2 and go on).
 *    A line ends with CRLF; a bare LF is accepted as an end too (as Postfix
 *    does for commands; DATA content is strict — see data_reader.h).
 * 2. cmd_parse(): one line -> struct smtp_cmd, verb recognised
 *    case-insensitively, arguments validated (RFC 5321 §4.1.1, 1870, 6152,
 *    6531, 3461 parameters). Errors come back as a full smtp_reply
 *    (500 5.5.1 unknown command, 501 5.5.4 bad arguments, 501 5.1.3/5.1.7
 *    bad address, 555 5.5.4 unknown parameter, ...); a malformed ORCPT or
 *    ENVID is dropped, not refused (struct cmd_ignored).
 */
#ifndef RAVEN_CMD_PARSE_H
#define RAVEN_CMD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "mailparams.h"
#include "smtp_reply.h"

enum line_result { LINE_MORE = 0, LINE_DONE, LINE_TOO_LONG };

struct line_reader {
	size_t max; /* octets including CRLF */
	char *line; /* current line, NUL-terminated, without EOL; owned */
	size_t len; /* length of line */
	size_t cap;
	int overflow;  /* discarding the rest of an over-long line */
	int last_cr;   /* previous octet was CR (pending) */
	int have_line; /* line holds a finished line, dropped on the next feed */
};

void line_reader_init(struct line_reader *lr, size_t max);
void line_reader_free(struct line_reader *lr);
/*
 * Consume octets from in[0..n). Returns LINE_DONE with the line in lr->line
 * (valid until the next call), LINE_TOO_LONG once the end of an over-long
 * line has been consumed, or LINE_MORE when everything was consumed without
 * completing a line. *consumed is how many octets were used.
 */
enum line_result line_reader_feed(struct line_reader *lr, const uint8_t *in, size_t n,
                                  size_t *consumed);

enum smtp_verb {
	CMD_HELO = 1,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_BDAT,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_VRFY,
	CMD_EXPN,
	CMD_HELP,
	CMD_STARTTLS,
	CMD_AUTH,
};

/*
 * ORCPT and ENVID (RFC 3461) only decorate a DSN that may never be sent. A
 * value that is malformed — bad xtext, an address type we cannot show, too
 * long, empty, given twice — is therefore dropped instead of refused: a 501
 * would make the previous hop bounce the whole message (Postfix does). The
 * command goes on as if the parameter were absent, and the session logs
 * what was dropped from here. RFC 3461 §4.4 does say an ENVID MUST be
 * printable ASCII of at most 100 characters, but names no reply for one
 * that is not; the relay that hands it to us passes it on unchanged, so
 * refusing punishes the wrong party, and dropping it costs only the id in
 * a later report. Parameters that break the command grammar itself (an
 * unknown keyword, a bad NOTIFY, SIZE or RET) are still refused.
 */
struct cmd_ignored {
	const char *event; /* "orcpt-ignored" / "envid-ignored", NULL: nothing dropped */
	const char *why;   /* static text */
	size_t off, len;   /* the dropped value within the parsed line */
};

/* RFC 3461 §4.2: "The entire ORCPT parameter MAY be up to 500 characters". */
#define CMD_ORCPT_MAX 500
/* RFC 3461 §4.4: an ENVID of up to 100 characters (printable ASCII). */
#define CMD_ENVID_MAX 100

struct smtp_cmd {
	enum smtp_verb verb;
	char arg[512];        /* HELO/EHLO domain, VRFY/HELP/AUTH argument (raw), "" if none */
	struct mailaddr addr; /* MAIL/RCPT */
	/* MAIL parameters */
	uint64_t size; /* SIZE=, 0 if absent */
	int has_size;
	enum body_type body;
	int smtputf8;
	enum dsn_ret ret;
	char envid[CMD_ENVID_MAX + 1]; /* xtext-decoded ENVID, "" if absent or dropped */
	/* RCPT parameters */
	unsigned notify; /* 0 if absent */
	/* ORCPT as given ("rfc822;xtext" or RFC 6533 "utf-8;..."), checked but not
	 * decoded: a relay passes it on unchanged (RFC 3461 §5.2.1) and the DSN
	 * builder decodes it. "" if absent or dropped. */
	char orcpt[CMD_ORCPT_MAX + 1];
	struct cmd_ignored ignored;
	/* MAIL AUTH= (RFC 4954 §5), xtext-decoded: a mailbox or "<>" */
	int has_auth;
	char auth[ADDR_PATH_MAX + 1];
	/* AUTH (RFC 4954): the mechanism is in arg; the initial response, if
	 * any, is line[ir_off..ir_off+ir_len) of the parsed line (unchecked:
	 * the SASL decoder judges it) */
	int has_ir;
	size_t ir_off, ir_len;
	/* BDAT (RFC 3030): "BDAT" SP chunk-size [SP "LAST"] */
	uint64_t chunk_size;
	int last_chunk;
};

/*
 * Parse one command line (without EOL). UTF-8 in addresses is allowed only
 * within a transaction whose MAIL carried the SMTPUTF8 parameter (RFC 6531):
 * for MAIL that parameter on the same line decides; for RCPT the session
 * passes utf8_addrs = 1 when the current MAIL had it (ignored for other
 * verbs). The parser does not know what was advertised: the session must
 * still refuse SMTPUTF8, BODY=8BITMIME/BINARYMIME, SIZE, RET/ENVID/NOTIFY/
 * ORCPT, AUTH= and BDAT when the matching extension was not offered.
 * Returns 0 or -1 with *err filled.
 */
int cmd_parse(const char *line, size_t len, int utf8_addrs, struct smtp_cmd *cmd,
              struct smtp_reply *err);

#endif
