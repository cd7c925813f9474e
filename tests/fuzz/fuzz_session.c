/*
 * Whole-session fuzzer: arbitrary client bytes into the real smtp server
 * code (session state machine, command table, parsers, DATA reader) with a
 * fake queue behind it. The first input byte picks how the stream is cut
 * into writes, so resumption at every boundary gets exercised.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "session_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_init("fuzz", 0);
		quiet = 1;
	}
	if (size == 0)
		return 0;
	size_t chunk = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	struct harness *h = harness_new(NULL);
	for (size_t off = 0; off < size && !harness_closed(h); off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		harness_send(h, data + off, n);
	}
	/* Every reply line the server wrote must be a complete, coded line. */
	for (size_t i = 0, start = 0; i < h->replies.len; i++) {
		if (h->replies.data[i] != '\n')
			continue;
		if (i - start < 5 || h->replies.data[i - 1] != '\r' ||
		    h->replies.data[start] < '2' || h->replies.data[start] > '5')
			abort();
		start = i + 1;
	}
	harness_free(h);
	return 0;
}
