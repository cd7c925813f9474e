/*
 * libFuzzer target for the maildrop file reader: the events are the same
 * whole and in pieces (the input's first octet chooses the piece size),
 * DATA events add up to END's count, and nothing follows END or an error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct summary {
	uint64_t data;
	uint32_t rcpts, senders, ends, errors;
	uint32_t hash;
};

static void sum(const uint8_t *in, size_t n, size_t step, struct summary *s)
{
	struct drop_reader r;
	drop_reader_init(&r);
	memset(s, 0, sizeof(*s));
	size_t off = 0;
	for (;;) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		size_t used;
		struct drop_item it;
		enum drop_event ev = drop_reader_next(&r, in + off, k, &used, &it);
		if (used > k)
			abort();
		off += used;
		if (ev == DROP_ERROR) {
			s->errors++;
			if (drop_reader_next(&r, in + off, n - off, &used, &it) != DROP_ERROR)
				abort(); /* sticky */
			return;
		}
		if (ev == DROP_DATA) {
			s->data += it.len;
			for (size_t i = 0; i < it.len; i++)
				s->hash = s->hash * 31 + it.data[i];
		}
		if (ev == DROP_RCPT || ev == DROP_SENDER) {
			if (strlen(it.str) > DROP_ADDR_MAX)
				abort();
			for (const char *c = it.str; *c; c++)
				s->hash = s->hash * 33 + (uint8_t)*c;
		}
		s->rcpts += ev == DROP_RCPT;
		s->senders += ev == DROP_SENDER;
		if (ev == DROP_END) {
			s->ends++;
			if (r.data != s->data || r.rcpts != s->rcpts || s->senders != 1 ||
			    s->rcpts == 0)
				abort();
		}
		if (ev == DROP_MORE && off == n)
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t step = data[0] % 17 + 1;
	struct summary whole, parts;
	sum(data + 1, size - 1, 0, &whole);
	sum(data + 1, size - 1, step, &parts);
	if (memcmp(&whole, &parts, sizeof(whole)) != 0 || whole.ends > 1)
		abort();
	return 0;
}
