/* Bitfields as bytes, most significant bit first, as on the wire (BEP 3):
 * piece 0 is the high bit of byte 0. Callers allocate SH_BF_BYTES(n) bytes. */
#ifndef SHOAL_BITFIELD_H
#define SHOAL_BITFIELD_H

#include <stddef.h>
#include <stdint.h>

#define SH_BF_BYTES(n) (((size_t)(n) + 7) / 8)

static inline int sh_bf_get(const uint8_t *bf, uint32_t i) { return bf[i >> 3] >> (7 - (i & 7)) & 1; }
static inline void sh_bf_set(uint8_t *bf, uint32_t i) { bf[i >> 3] |= (uint8_t)(0x80 >> (i & 7)); }
static inline void sh_bf_clear(uint8_t *bf, uint32_t i) { bf[i >> 3] &= (uint8_t)~(0x80 >> (i & 7)); }

/* Number of set bits among the first n. */
static inline uint32_t sh_bf_count(const uint8_t *bf, uint32_t n)
{
  uint32_t c = 0;
  for (size_t i = 0; i < n / 8; i++)
    c += (uint32_t)__builtin_popcount(bf[i]);
  for (uint32_t i = n & ~7u; i < n; i++)
    c += (uint32_t)sh_bf_get(bf, i);
  return c;
}

/* True when the bits past n in the last byte are all zero (BEP 3: spare bits
 * must be cleared; a peer that sets them is broken). */
static inline int sh_bf_spare_clear(const uint8_t *bf, uint32_t n)
{
  if (!(n & 7))
    return 1;
  return (bf[n >> 3] & (uint8_t)(0xff >> (n & 7))) == 0;
}

#endif
