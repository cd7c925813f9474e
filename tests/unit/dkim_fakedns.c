/* dkim_fakedns: a DNS stand-in for the tests (see dkim_fakedns.h). */
#include "dkim_fakedns.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "xmalloc.h"

#define FAKEDNS_FILE_MAX (4 * 1024 * 1024)

void fakedns_init(struct fakedns *d)
{
	memset(d, 0, sizeof(*d));
}

void fakedns_free(struct fakedns *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->recs[i].name);
		free(d->recs[i].txt);
	}
	for (size_t i = 0; i < d->nasked; i++)
		free(d->asked[i]);
	free(d->recs);
	free(d->asked);
	fakedns_init(d);
}

void fakedns_add(struct fakedns *d, const char *name, enum dkim_dns_status st, const char *txt)
{
	d->recs = xreallocarray(d->recs, d->n + 1, sizeof(*d->recs));
	d->recs[d->n].name = xstrdup(name);
	d->recs[d->n].status = st;
	d->recs[d->n].txt = txt ? xstrdup(txt) : NULL;
	d->n++;
}

size_t fakedns_load_text(struct fakedns *d, const char *text, size_t len, int stop_at_blank)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len, next = nl ? end + 1 : len;
		size_t e = end;
		while (e > i && (text[e - 1] == '\r' || text[e - 1] == ' ' || text[e - 1] == '\t'))
			e--;
		if (e == i) {
			i = next;
			if (stop_at_blank)
				return i;
			continue;
		}
		if (text[i] == '#') {
			i = next;
			continue;
		}
		size_t a = i;
		while (a < e && text[a] != ' ' && text[a] != '\t')
			a++;
		char *name = xstrndup(text + i, a - i);
		while (a < e && (text[a] == ' ' || text[a] == '\t'))
			a++;
		char *val = xstrndup(text + a, e - a);
		if (strcmp(val, "NXDOMAIN") == 0)
			fakedns_add(d, name, DKIM_DNS_NXDOMAIN, NULL);
		else if (strncmp(val, "~~", 2) == 0)
			fakedns_add(d, name, DKIM_DNS_TEMPFAIL, NULL);
		else if (strcmp(val, "\"\"") == 0)
			fakedns_add(d, name, DKIM_DNS_OK, "");
		else
			fakedns_add(d, name, DKIM_DNS_OK, val);
		free(name);
		free(val);
		i = next;
	}
	return i;
}

int fakedns_load_file(struct fakedns *d, const char *path)
{
	size_t len;
	char *text = file_read_bounded(path, FAKEDNS_FILE_MAX, &len, NULL, 0);
	if (text == NULL)
		return -1;
	fakedns_load_text(d, text, len, 0);
	free(text);
	return 0;
}

enum dkim_dns_status fakedns_lookup(struct fakedns *d, const char *name, const char **txt,
                                    size_t *len, size_t max, size_t *n)
{
	d->asked = xreallocarray(d->asked, d->nasked + 1, sizeof(*d->asked));
	d->asked[d->nasked++] = xstrdup(name);
	*n = 0;
	enum dkim_dns_status st = DKIM_DNS_NXDOMAIN;
	for (size_t i = 0; i < d->n; i++) {
		if (strcasecmp(d->recs[i].name, name) != 0)
			continue;
		st = d->recs[i].status;
		if (st == DKIM_DNS_OK && *n < max) {
			txt[*n] = d->recs[i].txt;
			len[*n] = strlen(d->recs[i].txt);
			(*n)++;
		}
	}
	return st;
}

void fakedns_answer_keys(struct fakedns *d, struct dkim_verify *v)
{
	const char *names[16];
	size_t n;
	while ((n = dkim_verify_keys_needed(v, names, 16)) > 0) {
		/* Answering may finish signatures and change the list: one at a time. */
		char *name = xstrdup(names[0]);
		const char *txt[8];
		size_t len[8], ntxt;
		enum dkim_dns_status st = fakedns_lookup(d, name, txt, len, 8, &ntxt);
		if (dkim_verify_key_answer(v, name, st, txt, len, ntxt) != 0)
			abort();
		free(name);
	}
}

int fakedns_was_asked(const struct fakedns *d, const char *name)
{
	for (size_t i = 0; i < d->nasked; i++)
		if (strcasecmp(d->asked[i], name) == 0)
			return 1;
	return 0;
}

char *fakedns_crlf(const char *s, size_t len, size_t *outlen)
{
	char *out = xreallocarray(NULL, len + 1, 2);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = s[i];
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}
