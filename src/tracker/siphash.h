/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash that is
 * fast on short inputs (about 20 ns for 16 bytes) and, with a secret key,
 * unforgeable in practice. The tracker uses it for BEP 15 connection IDs. */
#ifndef SHOAL_TRACKER_SIPHASH_H
#define SHOAL_TRACKER_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint8_t key[16], const void *msg, size_t len);

#endif
