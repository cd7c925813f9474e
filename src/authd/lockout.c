/*
 * lockout: per-address failure counts (see lockout.h). A hash map finds
 * an address's entry; a list ordered by the last failure gives the entry
 * to forget when the table is full. A success does not reset the count:
 * an attacker holding one good password could otherwise interleave it
 * with guesses at others.
 */
#include "lockout.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "xmalloc.h"

struct entry {
	uint8_t key[HMAP_KEY_MAX];
	size_t klen;
	size_t failures;
	int64_t first;        /* the first failure of the current window */
	int64_t locked_until; /* 0: not locked */
	struct entry *prev, *next;
};

struct lockout {
	size_t max_failures;
	unsigned window;
	struct hmap *map;
	struct entry *newest, *oldest;
	size_t n;
};

struct lockout *lockout_new(size_t max_failures, unsigned window)
{
	struct lockout *l = xcalloc(1, sizeof(*l));
	l->max_failures = max_failures ? max_failures : 1;
	l->window = window;
	l->map = hmap_new();
	return l;
}

void lockout_free(struct lockout *l)
{
	if (l == NULL)
		return;
	while (l->newest) {
		struct entry *e = l->newest;
		l->newest = e->next;
		free(e);
	}
	hmap_free(l->map);
	free(l);
}

size_t lockout_count(const struct lockout *l)
{
	return l->n;
}

/* An IPv4 address, an IPv6 /64, or (anything else) the text itself. */
static size_t client_key(const char *client, uint8_t key[HMAP_KEY_MAX])
{
	uint8_t a[16];
	if (inet_pton(AF_INET, client, a) == 1) {
		key[0] = 4;
		memcpy(key + 1, a, 4);
		return 5;
	}
	if (inet_pton(AF_INET6, client, a) == 1) {
		key[0] = 6;
		memcpy(key + 1, a, 8);
		return 9;
	}
	size_t n = strnlen(client, HMAP_KEY_MAX - 1);
	key[0] = 0;
	memcpy(key + 1, client, n);
	return n + 1;
}

static void unlink_entry(struct lockout *l, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->newest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->oldest = e->prev;
	e->prev = e->next = NULL;
}

static void push_newest(struct lockout *l, struct entry *e)
{
	e->next = l->newest;
	if (l->newest)
		l->newest->prev = e;
	l->newest = e;
	if (l->oldest == NULL)
		l->oldest = e;
}

static void forget(struct lockout *l, struct entry *e)
{
	unlink_entry(l, e);
	hmap_del(l->map, e->key, e->klen);
	l->n--;
	free(e);
}

static struct entry *find(struct lockout *l, const char *client, int64_t now)
{
	uint8_t key[HMAP_KEY_MAX];
	size_t klen = client_key(client, key);
	struct entry *e = hmap_get(l->map, key, klen);
	/* Expired: as if never seen. */
	if (e != NULL && e->locked_until <= now && now - e->first >= (int64_t)l->window) {
		forget(l, e);
		e = NULL;
	}
	return e;
}

int lockout_locked(struct lockout *l, const char *client, int64_t now)
{
	struct entry *e = find(l, client, now);
	return e != NULL && e->locked_until > now;
}

int lockout_fail(struct lockout *l, const char *client, int64_t now)
{
	struct entry *e = find(l, client, now);
	if (e == NULL) {
		if (l->n >= LOCKOUT_MAX_ENTRIES)
			forget(l, l->oldest);
		e = xcalloc(1, sizeof(*e));
		e->klen = client_key(client, e->key);
		e->first = now;
		hmap_put(l->map, e->key, e->klen, e);
		l->n++;
	} else {
		unlink_entry(l, e);
	}
	push_newest(l, e);
	if (e->locked_until > now)
		return 0;
	if (now - e->first >= (int64_t)l->window) {
		e->failures = 0;
		e->first = now;
	}
	e->failures++;
	if (e->failures < l->max_failures)
		return 0;
	e->locked_until = now + (int64_t)l->window;
	e->failures = 0;
	e->first = e->locked_until; /* counting starts afresh after the lockout */
	return 1;
}
