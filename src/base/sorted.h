/* Binary search over an array of fixed-size records kept sorted by a byte
 * key (memcmp order) at a fixed offset in each record: the tracker's
 * torrents and peers, its hosted .torrent files and its hash sets all find
 * an info-hash (or a compact address) this way.
 *
 * Header-only and static inline: the swarm store searches twice per
 * announce, and inlined with a constant key length (20 for an info-hash)
 * the compiler keeps the loop as tight as a hand-written one. Pure; the
 * caller holds whatever lock guards the array. */
#ifndef SHOAL_SORTED_H
#define SHOAL_SORTED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An info-hash key: SHA-1 of the info dictionary (BEP 3). */
#define SH_IHASH_LEN 20

/* Finds key (klen bytes) among the n records of `stride` bytes at base,
 * comparing the klen bytes at offset `off` of each. Returns the index of
 * the match, or -(insertion point) - 1 when there is none, so that
 * `i = -r - 1` is where to insert to keep the array sorted. */
static inline long sh_sorted_find(const void *base, size_t n, size_t stride, size_t off,
                                  const void *key, size_t klen)
{
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    /* base is only touched here: an empty array may be NULL */
    int c = memcmp((const uint8_t *)base + mid * stride + off, key, klen);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(long)lo - 1;
}

#endif
