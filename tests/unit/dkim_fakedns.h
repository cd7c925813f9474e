/*
 * dkim_fakedns: a DNS stand-in for the DKIM and DMARC tests and dkimtool.
 * Records come from the vector files' formats ("name<space or tab>TXT",
 * '#' comments; NXDOMAIN, ~~Query timed out~~ and ~~SERVFAIL~~ as special
 * values, "" for an empty record); a name it does not hold is NXDOMAIN.
 * It also records every name it was asked, so tests can prove that a bad
 * name is never looked up.
 */
#ifndef RAVEN_DKIM_FAKEDNS_H
#define RAVEN_DKIM_FAKEDNS_H

#include <stddef.h>

#include "dkim.h"

struct fakedns_rec {
	char *name;
	enum dkim_dns_status status;
	char *txt;
};

struct fakedns {
	size_t n;
	struct fakedns_rec *recs;
	size_t nasked;
	char **asked;
};

void fakedns_init(struct fakedns *d);
void fakedns_free(struct fakedns *d);
void fakedns_add(struct fakedns *d, const char *name, enum dkim_dns_status st, const char *txt);
/* Lines of records from text (up to a blank line if stop_at_blank); returns
 * the offset after the last line read. */
size_t fakedns_load_text(struct fakedns *d, const char *text, size_t len, int stop_at_blank);
/* -1 if the file cannot be read. */
int fakedns_load_file(struct fakedns *d, const char *path);
/* Look name up: its status and records (pointers into d). */
enum dkim_dns_status fakedns_lookup(struct fakedns *d, const char *name, const char **txt,
                                    size_t *len, size_t max, size_t *n);
/* Answer whatever the verifier needs until it needs nothing. */
void fakedns_answer_keys(struct fakedns *d, struct dkim_verify *v);
/* 1 if name was asked (case-insensitive). */
int fakedns_was_asked(const struct fakedns *d, const char *name);
/* The text with every bare LF made CRLF (the vectors' LF files). */
char *fakedns_crlf(const char *s, size_t len, size_t *outlen);

#endif
