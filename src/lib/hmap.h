/*
 * hmap: a hash map from short byte-string keys (an IP address, a request
 * or job number) to pointers — so that a per-connection or per-answer
 * lookup costs the same with ten thousand sessions as with ten, instead of
 * a scan of all of them. Chained, grows by doubling; the keys are copied.
 */
#ifndef RAVEN_HMAP_H
#define RAVEN_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define HMAP_KEY_MAX 32

struct hmap;

struct hmap *hmap_new(void);
void hmap_free(struct hmap *m);
/* The value stored under key, or NULL. */
void *hmap_get(const struct hmap *m, const void *key, size_t klen);
/* Store val under key (replacing any value there). klen <= HMAP_KEY_MAX. */
void hmap_put(struct hmap *m, const void *key, size_t klen, void *val);
/* Remove key; its value, or NULL if it was not there. */
void *hmap_del(struct hmap *m, const void *key, size_t klen);
size_t hmap_count(const struct hmap *m);

/* Keys that are 64-bit numbers. */
static inline void *hmap_get_u64(const struct hmap *m, uint64_t k)
{
	return hmap_get(m, &k, sizeof(k));
}
static inline void hmap_put_u64(struct hmap *m, uint64_t k, void *val)
{
	hmap_put(m, &k, sizeof(k), val);
}
static inline void *hmap_del_u64(struct hmap *m, uint64_t k)
{
	return hmap_del(m, &k, sizeof(k));
}

#endif
