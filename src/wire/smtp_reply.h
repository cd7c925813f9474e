/*
 * smtp_reply: the one shape in which every parser and check reports a
 * refusal — reply code, RFC 3463 enhanced status code and a human reason —
 * so the session can answer the client correctly without knowing who
 * refused.
 */
#ifndef RAVEN_SMTP_REPLY_H
#define RAVEN_SMTP_REPLY_H

#include <stdio.h>

struct smtp_reply {
	int code;       /* e.g. 501 */
	char enh[12];   /* e.g. "5.1.3" */
	char text[160]; /* e.g. "Bad recipient address syntax" */
};

static inline void smtp_reply_set(struct smtp_reply *r, int code, const char *enh, const char *text)
{
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	snprintf(r->text, sizeof(r->text), "%s", text);
}

#endif
