/* Compact peer entries; see compact.h. */
#include "base/compact.h"

#include <errno.h>
#include <string.h>

#include "base/buf.h"

int sh_compact_get(struct sh_addr *a, const uint8_t *p, size_t len)
{
  if (len != SH_COMPACT4_LEN && len != SH_COMPACT6_LEN)
    return -EINVAL;
  size_t iplen = len - 2;
  memset(a, 0, sizeof *a);
  a->family = iplen == 4 ? 4 : 6;
  memcpy(a->ip, p, iplen);
  a->port = sh_rd16(p + iplen);
  return 0;
}

size_t sh_compact_put(uint8_t *out, const struct sh_addr *a)
{
  size_t iplen = a->family == 6 ? 16 : 4;
  memcpy(out, a->ip, iplen);
  sh_wr16(out + iplen, a->port);
  return iplen + 2;
}
