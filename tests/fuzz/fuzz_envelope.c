/*
 * fuzz_envelope: envelope_decode() on arbitrary bytes must never crash,
 * and whatever it accepts must survive a round trip: encode(decode(x))
 * decodes to the same envelope and re-encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int env_eq(const struct envelope *a, const struct envelope *b)
{
	if (strcmp(a->id, b->id) || a->arrival != b->arrival || a->size != b->size ||
	    !str_eq(a->sender, b->sender) || !str_eq(a->helo, b->helo) ||
	    !str_eq(a->client, b->client) || !str_eq(a->envid, b->envid) || a->ret != b->ret ||
	    a->body != b->body || a->smtputf8 != b->smtputf8 || a->n_rcpts != b->n_rcpts)
		return 0;
	for (size_t i = 0; i < a->n_rcpts; i++) {
		const struct envelope_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		if (!str_eq(x->addr, y->addr) || !str_eq(x->orcpt, y->orcpt) ||
		    x->notify != y->notify || !str_eq(x->action, y->action) ||
		    !str_eq(x->user, y->user) || x->state != y->state ||
		    x->attempts != y->attempts || x->next_try != y->next_try ||
		    !str_eq(x->last_error, y->last_error))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e, d, c;
	char err[160];
	size_t used = 0;
	if (envelope_decode_prefix(data, size, &e, &used, err, sizeof(err)) == -1)
		return 0;
	if (used > size)
		abort();
	/* the decoded prefix alone decodes the same, with nothing torn */
	size_t used2 = 0;
	if (envelope_decode_prefix(data, used, &d, &used2, err, sizeof(err)) == -1 ||
	    used2 != used || !env_eq(&e, &d))
		abort();
	envelope_free(&d);

	struct buf b1, b2;
	buf_init(&b1, 0);
	buf_init(&b2, 0);
	if (envelope_encode(&e, &b1) == -1)
		abort(); /* anything the decoder accepts is encodable */
	if (envelope_decode(b1.data, b1.len, &d, err, sizeof(err)) == -1 || !env_eq(&e, &d))
		abort();
	if (envelope_encode(&d, &b2) == -1 || b1.len != b2.len ||
	    memcmp(b1.data, b2.data, b1.len) != 0)
		abort();
	envelope_copy(&c, &d);
	if (!env_eq(&c, &e))
		abort();
	envelope_free(&c);
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b1);
	buf_free(&b2);
	return 0;
}
