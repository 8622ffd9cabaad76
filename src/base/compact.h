/* Compact peer entries: an address in network byte order followed by its
 * port, big-endian. 6 bytes for IPv4 (BEP 23: a tracker's "peers" string),
 * 18 for IPv6 (BEP 7: "peers6"); the same records fill BEP 15's UDP
 * announce replies and BEP 11's PEX "added"/"added6" lists. A list is
 * entries back to back, so its length says how many there are.
 *
 * Pure, no allocation: entries go to and from struct sh_addr values the
 * caller owns. Decoding takes untrusted bytes (fuzzed: fuzz_compact.c). */
#ifndef SHOAL_COMPACT_H
#define SHOAL_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"

#define SH_COMPACT4_LEN 6  /* 4 address bytes + 2 port bytes */
#define SH_COMPACT6_LEN 18 /* 16 address bytes + 2 port bytes */

/* Bytes per entry for an address family (4 or 6). */
static inline size_t sh_compact_len(int family)
{
  return family == 6 ? SH_COMPACT6_LEN : SH_COMPACT4_LEN;
}

/* Decodes the entry of len bytes at p (6: IPv4, 18: IPv6) into *a, as it
 * is: port 0 and IPv4-mapped IPv6 addresses included, for the caller to
 * judge. Returns 0, or -EINVAL for any other length (*a untouched). */
int sh_compact_get(struct sh_addr *a, const uint8_t *p, size_t len);

/* Encodes *a (family 4 or 6) at out, which has room for SH_COMPACT6_LEN
 * bytes. Returns the bytes written, sh_compact_len(a->family). */
size_t sh_compact_put(uint8_t *out, const struct sh_addr *a);

/* How many whole entries of `family` a list of n bytes holds; *rest gets
 * the bytes left over (a truncated last entry when nonzero). */
static inline size_t sh_compact_count(size_t n, int family, size_t *rest)
{
  size_t len = sh_compact_len(family);
  *rest = n % len;
  return n / len;
}

#endif
