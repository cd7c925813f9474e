/*
 * fuzz_table: the table file format (aliases(5), users, plain lists) on
 * arbitrary bytes, then lookups of a few keys in whatever was loaded.
 */
#include <stddef.h>
#include <stdint.h>

#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct table *t = table_new("fuzz");
	(void)table_load_string(t, "fuzz", (const char *)data, size, err, sizeof(err));
	static const char *const keys[] = {"root", "ALICE", "", "postmaster", "a:b"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v;
		(void)table_lookup(t, keys[i], &v);
	}
	(void)table_size(t);
	table_free(t);
	return 0;
}
