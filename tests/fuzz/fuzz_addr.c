/*
 * libFuzzer target for addr: paths, bare mailboxes and EHLO arguments.
 * Input: one flags octet, then the text. Besides "no crash", it checks
 * that an accepted address keeps its limits and that the canonical text
 * parses back to the same address (abort() otherwise).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const struct smtp_reply *err)
{
	if (err->code != 501 && err->code != 553)
		abort();
	if (err->text[0] == 0 || strlen(err->enh) < 5)
		abort();
}

static void check_addr(const struct mailaddr *a, unsigned flags)
{
	if (strlen(a->local) > ADDR_LOCAL_MAX || strlen(a->domain) > ADDR_DOMAIN_MAX)
		abort();
	if (a->has_utf8 && !(flags & ADDR_ALLOW_UTF8))
		abort();
	if (a->is_null || a->domain[0] == 0)
		return;
	struct mailaddr b;
	struct smtp_reply err;
	if (addr_parse_mailbox(a->text, strlen(a->text), flags, &b, &err) != 0)
		abort();
	if (strcmp(a->local, b.local) != 0 || strcmp(a->domain, b.domain) != 0 ||
	    strcmp(a->text, b.text) != 0 || a->is_literal != b.is_literal)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & (ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8 | ADDR_ALLOW_POSTMASTER);
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	struct mailaddr a;
	struct smtp_reply err;
	size_t used = 0;

	if (addr_parse_path(s, len, flags, &a, &used, &err) == 0) {
		if (used < 2 || used > len || used > ADDR_PATH_MAX || s[used - 1] != '>')
			abort();
		check_addr(&a, flags);
		/* What follows the path cannot change it. */
		struct mailaddr b;
		size_t used2;
		if (addr_parse_path(s, used, flags, &b, &used2, &err) != 0 || used2 != used ||
		    strcmp(a.text, b.text) != 0)
			abort();
	} else {
		check_reply(&err);
	}
	if (addr_parse_mailbox(s, len, flags, &a, &err) == 0)
		check_addr(&a, flags);
	else
		check_reply(&err);
	(void)addr_valid_helo(s, len);
	return 0;
}
