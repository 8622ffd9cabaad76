/* libFuzzer target: compact peer lists (BEP 23, BEP 7) as a tracker or a
 * PEX message (BEP 11) would send them.
 *
 * Input: one byte choosing the family (low bit set: 18-byte IPv6 entries,
 * else 6-byte IPv4), then the list. Every whole entry must decode, print,
 * survive a trip through struct sockaddr_storage and encode back to
 * exactly its bytes; the whole input at its own length must decode only
 * when that length is 6 or 18. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compact.h"

#define CHECK(c) \
  do {           \
    if (!(c))    \
      abort();   \
  } while (0)

static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void entry(const uint8_t *p, size_t len, int family)
{
  struct sh_addr a;
  CHECK(sh_compact_get(&a, p, len) == 0);
  CHECK(a.family == family);
  uint8_t out[SH_COMPACT6_LEN];
  CHECK(sh_compact_put(out, &a) == len);
  CHECK(memcmp(out, p, len) == 0);
  char s[64];
  sh_addr_str(&a, s, sizeof s);
  CHECK(memchr(s, 0, sizeof s) != NULL);
  /* through a sockaddr and back: the same peer, an IPv4-mapped address
   * coming back as the IPv4 one (sh_addr_from_sockaddr's rule) */
  struct sockaddr_storage ss;
  struct sh_addr back;
  sh_addr_to_sockaddr(&a, &ss);
  CHECK(sh_addr_from_sockaddr(&back, (struct sockaddr *)&ss) == 0);
  CHECK(back.port == a.port);
  if (family == 6 && !memcmp(a.ip, mapped, 12))
    CHECK(back.family == 4 && !memcmp(back.ip, a.ip + 12, 4));
  else
    CHECK(sh_addr_eq(&back, &a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sh_addr a;
  int rc = sh_compact_get(&a, data, size);
  CHECK(size == 6 || size == 18 ? rc == 0 : rc == -EINVAL);
  if (size == 0)
    return 0;
  int family = data[0] & 1 ? 6 : 4;
  const uint8_t *p = data + 1;
  size_t n = size - 1, rest, len = sh_compact_len(family);
  size_t count = sh_compact_count(n, family, &rest);
  CHECK(count * len + rest == n && rest < len);
  for (size_t i = 0; i < count; i++)
    entry(p + i * len, len, family);
  return 0;
}
