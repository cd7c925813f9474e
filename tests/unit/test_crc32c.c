/*
 * Unit tests for src/lib/crc32c.c: the check value and RFC 3720's iSCSI
 * vectors, chained calls equal one call, and the CPU-instruction path
 * agrees with the table at every length and alignment.
 */
#include "unit_util.h"

#include <string.h>

#include "crc32c.h"

static void test_vectors(void **state)
{
	(void)state;
	uint8_t b[32];
	assert_int_equal(crc32c_update(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_update(0, "", 0), 0);
	/* RFC 3720 B.4 */
	memset(b, 0, sizeof(b));
	assert_int_equal(crc32c_update(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(crc32c_update(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(crc32c_update(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c_update(0, b, 32), 0x113FDB5Cu);
	assert_int_equal(crc32c_update_soft(0, "123456789", 9), 0xE3069283u);
}

static void test_chained_and_paths_agree(void **state)
{
	(void)state;
	uint8_t data[4096 + 16];
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (uint8_t)x;
	}
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n < 300; n += 7) {
			uint32_t whole = crc32c_update(0, data + off, n);
			assert_int_equal(whole, crc32c_update_soft(0, data + off, n));
			for (size_t cut = 0; cut <= n; cut += 13) {
				uint32_t c = crc32c_update(0, data + off, cut);
				assert_int_equal(crc32c_update(c, data + off + cut, n - cut),
				                 whole);
			}
		}
	assert_int_equal(crc32c_update(0, data, 4096), crc32c_update_soft(0, data, 4096));
	/* a changed octet changes the sum */
	uint32_t before = crc32c_update(0, data, 1000);
	data[500] ^= 0x01;
	assert_true(crc32c_update(0, data, 1000) != before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_chained_and_paths_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
