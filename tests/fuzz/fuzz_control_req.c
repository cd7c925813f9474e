/*
 * libFuzzer target for control_req. The input is a client byte stream for
 * the control socket: the line reader must give the same result fed whole,
 * one byte at a time and in chunks; the line then goes through the parser,
 * whose accepted requests must be valid and survive a round trip through
 * their canonical text. The whole input also goes through both escapers,
 * whose output must be free of raw control characters and (for JSON) a
 * well-formed string. Any violation abort()s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "control_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	enum control_read r;
	size_t used; /* octets consumed in total */
	size_t len;
	char line[CONTROL_REQ_MAX];
};

static void feed(const uint8_t *in, size_t n, size_t step, struct result *res)
{
	struct control_reader rd;
	size_t off = 0;
	enum control_read r = CONTROL_READ_MORE;
	control_reader_init(&rd);
	while (off < n && r == CONTROL_READ_MORE) {
		size_t want = step == 0 || step > n - off ? n - off : step, used = 0;
		r = control_reader_feed(&rd, in + off, want, &used);
		if (used > want || (r == CONTROL_READ_MORE && used != want) ||
		    (r != CONTROL_READ_MORE && used == 0))
			abort();
		off += used;
	}
	if (rd.len >= CONTROL_REQ_MAX)
		abort();
	memset(res, 0, sizeof(*res));
	res->r = r;
	res->used = off;
	res->len = rd.len;
	memcpy(res->line, rd.line, rd.len);
}

static void check_parse(const char *line, size_t len)
{
	struct control_req req, again;
	char err[128], canon[CONTROL_REQ_MAX];
	if (control_req_parse(line, len, &req, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || req.verb != 0 || req.id[0] != '\0' || req.json != 0)
			abort();
		return;
	}
	if (req.verb < CTL_QUEUE || req.verb > CTL_STATUS)
		abort();
	if (req.id[0] && !envelope_id_valid(req.id))
		abort();
	int needs = req.verb == CTL_SHOW || req.verb == CTL_REMOVE || req.verb == CTL_HOLD ||
	            req.verb == CTL_RELEASE;
	int takes = needs || req.verb == CTL_FLUSH;
	if ((needs && !req.id[0]) || (!takes && req.id[0]))
		abort();
	int n = snprintf(canon, sizeof(canon), "%s%s%s%s", control_verb_name(req.verb),
	                 req.id[0] ? " " : "", req.id, req.json ? " --json" : "");
	if (n < 0 || (size_t)n >= sizeof(canon) || (size_t)n > len)
		abort();
	if (control_req_parse(canon, (size_t)n, &again, err, sizeof(err)) != 0 ||
	    memcmp(&req, &again, sizeof(req)) != 0)
		abort();
}

static void check_escapes(const uint8_t *in, size_t n)
{
	struct buf b;
	buf_init(&b, 0);
	if (control_json_string(&b, in, n) != 0 || b.len < 2 || b.data[0] != '"' ||
	    b.data[b.len - 1] != '"')
		abort();
	/* Inside the quotes: no raw control byte, every '"' escaped. */
	for (size_t i = 1; i + 1 < b.len; i++) {
		if (b.data[i] < 0x20 || b.data[i] == 0x7f || b.data[i] == '"')
			abort();
		if (b.data[i] == '\\') {
			i++;
			if (i + 1 >= b.len || !strchr("\"\\nrtu", b.data[i]) || b.data[i] == 0)
				abort();
		}
	}
	buf_reset(&b);
	for (int keep_lf = 0; keep_lf <= 1; keep_lf++) {
		if (control_text(&b, in, n, keep_lf) != 0)
			abort();
		for (size_t i = 0; i < b.len; i++) {
			uint8_t c = b.data[i];
			if ((c < 0x20 && !(keep_lf && (c == '\n' || c == '\t'))) || c == 0x7f)
				abort();
		}
		buf_reset(&b);
	}
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result whole, bytes, chunks;
	feed(data, size, 0, &whole);
	feed(data, size, 1, &bytes);
	feed(data, size, 7, &chunks);
	if (memcmp(&whole, &bytes, sizeof(whole)) != 0 || memcmp(&whole, &chunks, sizeof(whole)))
		abort();
	if (whole.r == CONTROL_READ_LINE)
		check_parse(whole.line, whole.len);
	/* the parser must cope with any bytes, not only what the reader allows */
	check_parse((const char *)data, size);
	check_escapes(data, size);
	return 0;
}
