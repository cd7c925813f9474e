/*
 * libFuzzer target for the RFC 5322 address-list parser: every address it
 * hands out has its '@' where it says, fits the limits, and parses back to
 * itself alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addrlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int again(const struct addrlist_spec *a, void *arg, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (strcmp(a->text, arg) != 0)
		abort();
	return 0;
}

static int check(const struct addrlist_spec *a, void *arg, char *err, size_t errlen)
{
	(void)arg;
	size_t n = strlen(a->text);
	if (a->at == 0 || a->at > n || a->at > ADDRLIST_LOCAL_MAX)
		abort();
	if (a->at < n && (a->text[a->at] != '@' || n - a->at - 1 > ADDRLIST_DOMAIN_MAX))
		abort();
	char e[64];
	if (addrlist_parse(a->text, n, ADDRLIST_BARE, again, (void *)a->text, e, sizeof(e)) == -1)
		abort();
	(void)err;
	(void)errlen;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	if (size == 0)
		return 0;
	/* the first octet chooses the flags */
	(void)addrlist_parse((const char *)data + 1, size - 1, data[0] & ADDRLIST_BARE, check, NULL,
	                     err, sizeof(err));
	return 0;
}
