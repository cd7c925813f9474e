/*
 * crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as iSCSI,
 * ext4 and SSE4.2's crc32 instruction compute it) — the checksum of a
 * message's data file, recorded in its envelope at commit and checked as
 * the message is read for delivery (docs/SPOOL.md). Start with 0 and chain
 * calls; crc32c_update(0, "123456789", 9) is 0xE3069283.
 */
#ifndef RAVEN_CRC32C_H
#define RAVEN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_update(uint32_t crc, const void *p, size_t n);
/* The same without the CPU instruction (tests compare the two). */
uint32_t crc32c_update_soft(uint32_t crc, const void *p, size_t n);

#endif
