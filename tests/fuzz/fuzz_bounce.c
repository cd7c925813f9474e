/*
 * DSN builder fuzzer: arbitrary original message bytes and hostile
 * diagnostic/address text (they come from remote servers and clients).
 * Every DSN produced must have CRLF line ends only and lines of at most
 * 998 octets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint8_t sel = data[0], ret = data[1] % 3;
	size_t dlen = data[2] * 4u;
	data += 3;
	size -= 3;
	if (dlen > size)
		dlen = size;
	/* First dlen octets: diagnostic text; the rest: the original message. */
	char *diag = strndup((const char *)data, dlen);
	int fd = memfd_create("orig", MFD_CLOEXEC);
	if (fd == -1 || diag == NULL)
		abort();
	if (size > dlen && write(fd, data + dlen, size - dlen) != (ssize_t)(size - dlen))
		abort();
	struct dsn_rcpt r = {
	    .addr = (sel & 1) ? diag : "bob@example.org",
	    .orcpt = (sel & 2) ? diag : NULL,
	    .status = (sel & 4) ? diag : "5.1.1",
	    .remote_mta = (sel & 8) ? diag : NULL,
	    .diagnostic = diag,
	    .diagnostic_is_smtp = (sel & 16) != 0,
	    .last_attempt = 1800000000,
	    .retry_until = 1800400000,
	};
	struct dsn_request rq = {
	    .kind = (enum dsn_kind)(sel % 3 + 1),
	    .reporting_mta = "mx.example.org",
	    .queue_id = "000660F5B7D7877A",
	    .envid = (sel & 32) ? diag : NULL,
	    .ret = ret,
	    .sender = (sel & 64) ? diag : "alice@example.org",
	    .arrival = 1799990000,
	    .now = 1800000000,
	    .rcpts = &r,
	    .n_rcpts = 1,
	};
	struct buf out;
	char err[256];
	buf_init(&out, 0);
	if (bounce_build(&rq, fd, size - dlen, 512, &out, err, sizeof(err)) == 0) {
		size_t line = 0;
		for (size_t i = 0; i < out.len; i++) {
			uint8_t c = out.data[i];
			if (c == '\n' && (i == 0 || out.data[i - 1] != '\r'))
				abort(); /* bare LF */
			if (c == '\r' && (i + 1 >= out.len || out.data[i + 1] != '\n'))
				abort(); /* bare CR */
			line = c == '\n' ? 0 : line + 1;
			if (line > 999) /* 998 + the CR */
				abort();
		}
	}
	buf_free(&out);
	close(fd);
	free(diag);
	return 0;
}
