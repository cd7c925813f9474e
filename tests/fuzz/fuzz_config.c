/*
 * fuzz_config: the configuration parser (lexer, grammar, builders) on
 * arbitrary text; a configuration that parses is then exercised through
 * routing and the helpers, so that whatever the parser accepts is safe to use.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct config *c =
	    conf_parse_string("fuzz.conf", (const char *)data, size, err, sizeof(err));
	if (c == NULL)
		return 0;
	static const char *const locals[] = {"postmaster", "alice", "Root+tag", "a"};
	static const char *const domains[] = {"example.org", "localhost", "", "x"};
	for (size_t i = 0; i < 4; i++) {
		struct route_request rq = {.local = locals[i],
		                           .domain = domains[i],
		                           .from = i % 2 ? FROM_LOCAL : FROM_ANY,
		                           .authenticated = (int)(i / 2)};
		struct route_result r;
		route_resolve(c, &rq, &r);
		if (r.verdict == ROUTE_LOCAL) {
			for (size_t j = 0; j < r.n_users; j++)
				free(conf_maildir_path(c, r.action, r.users[j], "/home/x"));
		}
		route_result_free(&r);
	}
	conf_free(c);
	return 0;
}
