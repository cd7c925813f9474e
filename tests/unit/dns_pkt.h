/* Building DNS reply packets octet by octet, for the DNS unit tests. */
#ifndef RAVEN_TEST_DNS_PKT_H
#define RAVEN_TEST_DNS_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "unit_util.h"

struct pb {
	uint8_t p[8192];
	size_t n;
};

static inline void put(struct pb *b, const void *d, size_t n)
{
	assert_true(b->n + n <= sizeof(b->p));
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static inline void put16(struct pb *b, unsigned v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 2);
}

static inline void put32(struct pb *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b, v & 0xffff);
}

/* Labels are the literal octets between dots; "" is the root. */
static inline void put_name(struct pb *b, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);
		uint8_t l = (uint8_t)len;
		put(b, &l, 1);
		put(b, name, len);
		name += len + (dot ? 1 : 0);
	}
	put(b, "", 1);
}

#endif
