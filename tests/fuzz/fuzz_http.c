/*
 * libFuzzer target for http_req, the metrics endpoint's request-head
 * parser (anyone who can reach the listener controls these octets). The
 * input is parsed whole, then in two pieces cut where its first octet
 * says, then one octet at a time: the three must agree on the result, the
 * status, the octets consumed and the request. Any violation abort()s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	enum http_result res;
	size_t used;
	struct http_req r;
};

static void parse(struct run *o, const uint8_t *p, size_t n, size_t cut)
{
	http_req_init(&o->r);
	o->used = 0;
	o->res = HTTP_MORE;
	size_t off = 0;
	while (off < n && o->res == HTTP_MORE) {
		size_t k = cut == 0 ? n - off : (n - off < cut ? n - off : cut), used;
		o->res = http_req_feed(&o->r, p + off, k, &used);
		if (used > k || (o->res == HTTP_MORE && used != k))
			abort();
		off += used;
	}
	o->used = off;
}

static void same(const struct run *a, const struct run *b)
{
	if (a->res != b->res || a->used != b->used)
		abort();
	if (a->res == HTTP_ERROR && (a->r.status != b->r.status || a->r.status < 400))
		abort();
	if (a->res == HTTP_DONE &&
	    (a->r.method != b->r.method || strcmp(a->r.target, b->r.target) != 0 ||
	     http_req_route(&a->r, "/metrics") != http_req_route(&b->r, "/metrics")))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 3 * HTTP_REQ_MAX)
		return 0;
	static struct run whole, split, bytes;
	size_t cut = (size_t)data[0] % 13 + 2;
	parse(&whole, data + 1, size - 1, 0);
	parse(&split, data + 1, size - 1, cut);
	parse(&bytes, data + 1, size - 1, 1);
	same(&whole, &split);
	same(&whole, &bytes);
	if (whole.used > HTTP_REQ_MAX + 1)
		abort();
	if (whole.res == HTTP_DONE) {
		char path[HTTP_REQ_TARGET_MAX + 1];
		http_req_path(&whole.r, path, sizeof(path));
		if (path[0] != '/' || strlen(whole.r.target) > HTTP_REQ_TARGET_MAX)
			abort();
	}
	return 0;
}
