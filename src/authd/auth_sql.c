/* auth_sql: AUTH questions waiting for a hash from the lookup role (see auth_sql.h). */
#include "auth_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "lookup.h"
#include "xmalloc.h"

struct waiting {
	uint64_t id;
	struct proto_auth_req q;
	struct waiting *next;
};

struct auth_sql {
	uint64_t next_id;
	size_t n;
	struct waiting *list; /* few at once: a list is enough */
};

struct auth_sql *auth_sql_new(void)
{
	return xcalloc(1, sizeof(struct auth_sql));
}

void auth_sql_free(struct auth_sql *s)
{
	if (s == NULL)
		return;
	while (s->list != NULL) {
		struct waiting *w = s->list;
		s->list = w->next;
		proto_auth_req_free(&w->q); /* wipes the password */
		free(w);
	}
	free(s);
}

int auth_sql_ask(struct auth_sql *s, struct ipc *queue, const char *table, struct proto_auth_req *q)
{
	if (s->n >= AUTH_SQL_MAX_PENDING)
		return -1;
	/* Tables compare keys lowercased; so does the lookup role's query. */
	char key[LOOKUP_KEY_MAX + 1];
	snprintf(key, sizeof(key), "%s", q->login);
	for (char *p = key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	struct waiting *w = xcalloc(1, sizeof(*w));
	w->id = ++s->next_id;
	w->q = *q;
	memset(q, 0, sizeof(*q));
	w->next = s->list;
	s->list = w;
	s->n++;
	struct lookup_req r = {.req = w->id, .table = (char *)table, .key = key};
	struct buf b;
	buf_init(&b, 0);
	lookup_encode_req(&b, &r);
	ipc_send(queue, PROTO_CRED_REQ, b.data, b.len, -1);
	buf_free(&b);
	return 0;
}

int auth_sql_take(struct auth_sql *s, uint64_t id, struct proto_auth_req *q)
{
	for (struct waiting **pp = &s->list; *pp; pp = &(*pp)->next) {
		struct waiting *w = *pp;
		if (w->id != id)
			continue;
		*pp = w->next;
		s->n--;
		*q = w->q;
		free(w);
		return 0;
	}
	return -1;
}
