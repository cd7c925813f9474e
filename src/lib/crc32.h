/*
 * crc32: the CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) that
 * makes every spool record self-validating. Same value as zlib's crc32():
 * start with 0 and chain calls; crc32_update(0, "123456789", 9) is
 * 0xCBF43926.
 */
#ifndef RAVEN_CRC32_H
#define RAVEN_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_update(uint32_t crc, const void *p, size_t n);

#endif
