/* hmap: put, get, replace, delete, growth, and keys of different lengths. */
#include <stdint.h>
#include <string.h>

#include "hmap.h"
#include "unit_util.h"

static void test_basic(void **state)
{
	(void)state;
	struct hmap *m = hmap_new();
	int a = 1, b = 2;
	assert_null(hmap_get(m, "k", 1));
	hmap_put(m, "k", 1, &a);
	assert_ptr_equal(hmap_get(m, "k", 1), &a);
	assert_null(hmap_get(m, "k\0", 2)); /* a longer key is another key */
	hmap_put(m, "k", 1, &b);            /* replace */
	assert_ptr_equal(hmap_get(m, "k", 1), &b);
	assert_int_equal(hmap_count(m), 1);
	assert_ptr_equal(hmap_del(m, "k", 1), &b);
	assert_null(hmap_del(m, "k", 1));
	assert_int_equal(hmap_count(m), 0);
	uint8_t big[HMAP_KEY_MAX + 1] = {0};
	assert_null(hmap_get(m, big, sizeof(big)));
	hmap_free(m);
}

/* Many numeric keys across several doublings, then half deleted. */
static void test_many(void **state)
{
	(void)state;
	struct hmap *m = hmap_new();
	enum { N = 100000 };
	for (uint64_t i = 0; i < N; i++)
		hmap_put_u64(m, i * 7919, (void *)(uintptr_t)(i + 1));
	assert_int_equal(hmap_count(m), N);
	for (uint64_t i = 0; i < N; i++)
		assert_int_equal((uintptr_t)hmap_get_u64(m, i * 7919), i + 1);
	assert_null(hmap_get_u64(m, 1));
	for (uint64_t i = 0; i < N; i += 2)
		assert_int_equal((uintptr_t)hmap_del_u64(m, i * 7919), i + 1);
	assert_int_equal(hmap_count(m), N / 2);
	for (uint64_t i = 0; i < N; i++)
		assert_true((hmap_get_u64(m, i * 7919) != NULL) == (i % 2 == 1));
	hmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
