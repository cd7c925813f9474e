/*
 * libFuzzer target for the EHLO capability parser (src/relay/caps.c): the
 * input is a server's EHLO reply, parsed by the reply parser whole and
 * one byte at a time (the capabilities must agree), and also handed to
 * caps_parse_line() as one raw line. Only known bits may ever be set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALL_CAPS  ((CAPS_CHUNKING << 1) - 1)
#define ALL_MECHS ((CAPS_MECH_EXTERNAL << 1) - 1)

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_caps(const struct caps *c)
{
	check((c->flags & ~(unsigned)ALL_CAPS) == 0);
	check((c->mechs & ~(unsigned)ALL_MECHS) == 0);
	if (!(c->flags & CAPS_SIZE))
		check(c->size_max == 0);
	if (c->mechs)
		check(c->flags & CAPS_AUTH);
	char s[200], tiny[7];
	caps_mechs_str(c->mechs, s, sizeof(s));
	caps_mechs_str(c->mechs, tiny, sizeof(tiny));
	check(strlen(tiny) < sizeof(tiny) && strncmp(s, tiny, strlen(tiny)) == 0);
}

/* 1 and the capabilities when the input holds a complete reply first. */
static int caps_of(const uint8_t *in, size_t n, int bytewise, struct caps *c)
{
	struct reply_parser rp;
	size_t off = 0;
	int done = 0;
	memset(c, 0, sizeof(*c));
	reply_parser_init(&rp, 0, 0);
	while (off < n) {
		size_t used = 0, want = bytewise ? 1 : n - off;
		enum reply_result r = reply_parser_feed(&rp, in + off, want, &used);
		off += used;
		if (r == REPLY_ERROR)
			break;
		if (r == REPLY_DONE) {
			caps_parse(&rp.reply, c);
			done = 1;
			break;
		}
	}
	reply_parser_free(&rp);
	return done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct caps a, b;
	int da = caps_of(data, size, 0, &a), db = caps_of(data, size, 1, &b);
	check(da == db);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	check_caps(&a);
	struct caps l;
	memset(&l, 0, sizeof(l));
	caps_parse_line(&l, (const char *)data, size);
	check_caps(&l);
	return 0;
}
