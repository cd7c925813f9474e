/*
 * table: named key -> value lookup tables (see table.h). An open-addressing
 * hash map with lowercased keys; the file loader is bounded in line length,
 * file size and entry count so that a damaged or hostile file cannot make a
 * role run out of memory at start-up.
 */
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define TABLE_MAX_LINE    4096
#define TABLE_MAX_ENTRIES 1000000

struct table_entry {
	char *key; /* NULL: empty slot */
	char *value;
};

struct table {
	char *name;
	struct table_entry *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
	int from_file; /* loaded with table_load_file */
	enum table_kind kind;
	char *source; /* TABLE_SQLITE, TABLE_POSTGRESQL */
	char *query;
};

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the lowercased key, so lookups need not copy the key. */
static uint64_t table_hash(const char *key)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		h ^= ascii_lower(*p);
		h *= 1099511628211ULL;
	}
	return h;
}

static int key_equal(const char *stored, const char *key)
{
	const unsigned char *a = (const unsigned char *)stored;
	const unsigned char *b = (const unsigned char *)key;
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (*a != ascii_lower(*b))
			return 0;
	return *a == *b;
}

struct table *table_new(const char *name)
{
	struct table *t = xcalloc(1, sizeof(*t));
	t->name = xstrdup(name);
	return t;
}

/* Values may be password hashes: they never linger in freed memory. */
static void value_free(char *v)
{
	if (v != NULL) {
		explicit_bzero(v, strlen(v));
		free(v);
	}
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->cap; i++) {
		free(t->slots[i].key);
		value_free(t->slots[i].value);
	}
	free(t->slots);
	free(t->name);
	value_free(t->source);
	free(t->query);
	free(t);
}

struct table *table_new_sql(const char *name, enum table_kind kind, const char *source,
                            const char *query)
{
	struct table *t = table_new(name);
	t->kind = kind;
	t->source = xstrdup(source);
	t->query = xstrdup(query);
	return t;
}

enum table_kind table_kind(const struct table *t)
{
	return t->kind;
}

const char *table_source(const struct table *t)
{
	return t->source != NULL ? t->source : "";
}

const char *table_query(const struct table *t)
{
	return t->query != NULL ? t->query : "";
}

void table_wipe_source(struct table *t)
{
	if (t->source != NULL)
		explicit_bzero(t->source, strlen(t->source));
}

const char *table_name(const struct table *t)
{
	return t->name;
}

size_t table_size(const struct table *t)
{
	return t->n;
}

static struct table_entry *table_slot(const struct table *t, const char *key)
{
	size_t mask = t->cap - 1;
	size_t i = (size_t)table_hash(key) & mask;
	/* The load factor stays at most 1/2, so an empty slot always exists. */
	while (t->slots[i].key != NULL && !key_equal(t->slots[i].key, key))
		i = (i + 1) & mask;
	return &t->slots[i];
}

static void table_grow(struct table *t)
{
	size_t ncap = t->cap ? t->cap : 16;
	while (ncap / 2 <= t->n + 1) {
		if (ncap > SIZE_MAX / 2)
			fatal("table %s: too large", t->name);
		ncap *= 2;
	}
	if (ncap == t->cap)
		return;
	struct table old = *t;
	t->slots = xcalloc(ncap, sizeof(*t->slots));
	t->cap = ncap;
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].key != NULL)
			*table_slot(t, old.slots[i].key) = old.slots[i];
	}
	free(old.slots);
}

void table_put(struct table *t, const char *key, const char *value)
{
	if (t->cap == 0 || t->cap / 2 <= t->n + 1)
		table_grow(t);
	struct table_entry *e = table_slot(t, key);
	if (e->key != NULL) {
		value_free(e->value);
		e->value = value ? xstrdup(value) : NULL;
		return;
	}
	e->key = xstrdup(key);
	for (char *p = e->key; *p != '\0'; p++)
		*p = (char)ascii_lower((unsigned char)*p);
	e->value = value ? xstrdup(value) : NULL;
	t->n++;
}

int table_first(const struct table *t, const char **key, const char **value)
{
	for (size_t i = 0; t != NULL && i < t->cap; i++) {
		if (t->slots[i].key != NULL) {
			*key = t->slots[i].key;
			*value = t->slots[i].value;
			return 1;
		}
	}
	return 0;
}

void table_wipe_values(struct table *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		value_free(t->slots[i].value);
		t->slots[i].value = NULL;
	}
}

void table_foreach(const struct table *t, void (*fn)(const char *key, const char *value, void *arg),
                   void *arg)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].key != NULL)
			fn(t->slots[i].key, t->slots[i].value, arg);
}

int table_lookup(const struct table *t, const char *key, const char **value)
{
	if (t == NULL || t->cap == 0)
		return 0;
	const struct table_entry *e = table_slot(t, key);
	if (e->key == NULL)
		return 0;
	if (value != NULL)
		*value = e->value;
	return 1;
}

static int table_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int table_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * One line, NUL-terminated in place: "key", "key: value", "key value"
 * (or "key : value"). Blank lines and '#' comment lines are skipped.
 */
static int table_parse_line(struct table *t, const char *name, size_t lineno, char *s, char *err,
                            size_t errlen)
{
	while (is_space(*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && is_space(end[-1]))
		*--end = '\0';
	if (*s == '\0' || *s == '#')
		return 0;
	char *key = s;
	while (*s != '\0' && *s != ':' && !is_space(*s))
		s++;
	if (s == key)
		return table_err(err, errlen, "%s:%zu: empty key", name, lineno);
	char *value = NULL;
	if (*s != '\0') {
		int colon = *s == ':';
		*s++ = '\0';
		while (is_space(*s))
			s++;
		if (!colon && *s == ':') {
			s++;
			while (is_space(*s))
				s++;
		}
		if (*s != '\0')
			value = s;
	}
	if (table_lookup(t, key, NULL)) {
		char esc[128];
		log_escape(esc, sizeof(esc), key, strlen(key));
		return table_err(err, errlen, "%s:%zu: duplicate key \"%s\"", name, lineno, esc);
	}
	if (t->n >= TABLE_MAX_ENTRIES)
		return table_err(err, errlen, "%s:%zu: too many entries (at most %d)", name, lineno,
		                 TABLE_MAX_ENTRIES);
	table_put(t, key, value);
	return 0;
}

/* Blank, or a comment: such a line neither is an entry nor ends one. */
static int line_is_void(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && is_space(s[i]))
		i++;
	return i == n || s[i] == '#';
}

/*
 * Logical lines: a line that starts with a space or a tab continues the
 * entry before it (aliases(5): "team: alice,\n\tbob"); joined with one
 * space, at most TABLE_MAX_LINE octets in all.
 */
static int load_lines(struct table *t, const char *name, const char *text, size_t len, char *line,
                      char *err, size_t errlen)
{
	size_t used = 0, lineno = 0, first = 0; /* first: where the pending entry began */
	size_t pos = 0;
	while (pos < len) {
		lineno++;
		const char *p = text + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) : len - pos;
		pos += n + (nl != NULL);
		if (n > TABLE_MAX_LINE)
			return table_err(err, errlen, "%s:%zu: line too long (more than %d bytes)",
			                 name, lineno, TABLE_MAX_LINE);
		if (memchr(p, '\0', n) != NULL)
			return table_err(err, errlen, "%s:%zu: NUL byte", name, lineno);
		if (line_is_void(p, n))
			continue;
		if (p[0] == ' ' || p[0] == '\t') {
			if (first == 0)
				return table_err(
				    err, errlen,
				    "%s:%zu: continuation line without an entry before it", name,
				    lineno);
			if (used + 1 + n > TABLE_MAX_LINE)
				return table_err(err, errlen,
				                 "%s:%zu: entry too long (more than %d bytes)",
				                 name, first, TABLE_MAX_LINE);
			line[used++] = ' ';
			memcpy(line + used, p, n);
			used += n;
			continue;
		}
		if (first != 0) {
			line[used] = '\0';
			if (table_parse_line(t, name, first, line, err, errlen) == -1)
				return -1;
		}
		memcpy(line, p, n);
		used = n;
		first = lineno;
	}
	if (first != 0) {
		line[used] = '\0';
		return table_parse_line(t, name, first, line, err, errlen);
	}
	return 0;
}

int table_load_string(struct table *t, const char *name, const char *text, size_t len, char *err,
                      size_t errlen)
{
	char line[TABLE_MAX_LINE + 1];
	int rc = load_lines(t, name, text, len, line, err, errlen);
	explicit_bzero(line, sizeof(line)); /* it may have held a hash */
	return rc;
}

int table_load_file(struct table *t, const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = file_read_bounded(path, TABLE_MAX_FILE, &len, err, errlen);
	if (text == NULL)
		return -1;
	int rc = table_load_file_text(t, path, text, len, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

int table_load_file_text(struct table *t, const char *path, const char *text, size_t len, char *err,
                         size_t errlen)
{
	t->from_file = 1;
	return table_load_string(t, path, text, len, err, errlen);
}

int table_from_file(const struct table *t)
{
	return t->from_file;
}

int table_has_values(const struct table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].key != NULL && t->slots[i].value != NULL)
			return 1;
	return 0;
}
