/*
 * libFuzzer target for raven-sendmail's message preparation: the same
 * message and recipients whole and in pieces, only CRLF line ends out,
 * never a Bcc field in the result. The first octet chooses the options and
 * the piece size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "sm_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run(const struct sm_opts *o, const uint8_t *in, size_t n, size_t step, struct buf *out,
               struct buf *rcpts)
{
	struct sm_msg m;
	sm_msg_init(&m, o);
	int rc = 0;
	for (size_t off = 0; off < n && rc == 0;) {
		size_t k = step == 0 || n - off < step ? n - off : step;
		rc = sm_msg_feed(&m, in + off, k, out);
		off += k;
	}
	if (rc == 0)
		rc = sm_msg_end(&m, out);
	for (size_t i = 0; i < m.n_rcpts; i++)
		buf_printf(rcpts, "%s\n", m.rcpts[i]);
	if (m.header_done && rc == 0) {
		/* the header section that went out has no Bcc field */
		const uint8_t *p = out->data;
		for (size_t i = 0; i + 4 <= out->len; i++) {
			if ((i == 0 || p[i - 1] == '\n') &&
			    strncasecmp((const char *)p + i, "bcc:", 4) == 0)
				abort();
			if (i + 4 <= out->len && memcmp(p + i, "\r\n\r\n", 4) == 0)
				break;
			if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
				abort();
		}
	}
	sm_msg_free(&m);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct sm_opts o = {data[0] & 1, (data[0] >> 1) & 1, "D", "<M>", "F"};
	size_t step = (data[0] >> 2) % 13 + 1;
	struct buf a, b, ra, rb;
	buf_init(&a, 0);
	buf_init(&b, 0);
	buf_init(&ra, 0);
	buf_init(&rb, 0);
	int rc1 = run(&o, data + 1, size - 1, 0, &a, &ra);
	int rc2 = run(&o, data + 1, size - 1, step, &b, &rb);
	if (rc1 != rc2 || (rc1 == 0 && (a.len != b.len || ra.len != rb.len ||
	                                (a.len && memcmp(a.data, b.data, a.len) != 0) ||
	                                (ra.len && memcmp(ra.data, rb.data, ra.len) != 0))))
		abort();
	buf_free(&a);
	buf_free(&b);
	buf_free(&ra);
	buf_free(&rb);
	return 0;
}
