/* libFuzzer target: local service discovery announces (BEP 14), as they
 * come from anyone on the local network. Whatever parses must hold a port
 * and 1..SH_LSD_MAX_HASHES distinct hashes and a cut cookie; written again
 * with those hashes, it must read back the same port and hashes. */
#include <stdlib.h>
#include <string.h>

#include "lsd/lsd_msg.h"

#define CHECK(c) \
  do {           \
    if (!(c))    \
      abort();   \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct sh_lsd_msg m;
  const char *why = NULL;
  if (sh_lsd_msg_parse(data, size, &m, &why) < 0) {
    CHECK(why != NULL);
    return 0;
  }
  CHECK(m.port > 0 && m.nih >= 1 && m.nih <= SH_LSD_MAX_HASHES);
  CHECK(strlen(m.cookie) <= SH_LSD_COOKIE_MAX);
  for (int i = 0; i < m.nih; i++)
    for (int k = 0; k < i; k++)
      CHECK(memcmp(m.ih[i], m.ih[k], 20));
  uint8_t out[SH_LSD_MAX_PACKET];
  size_t used;
  size_t n = sh_lsd_msg_format(out, sizeof out, data[0] & 1, m.port, (const uint8_t(*)[20])m.ih,
                               (size_t)m.nih, "fuzz", &used);
  CHECK(n <= SH_LSD_MAX_PACKET && used == (size_t)m.nih);
  struct sh_lsd_msg back;
  CHECK(sh_lsd_msg_parse(out, n, &back, &why) == 0);
  CHECK(back.port == m.port && back.nih == m.nih && !memcmp(back.ih, m.ih, 20 * (size_t)m.nih));
  CHECK(!strcmp(back.cookie, "fuzz"));
  return 0;
}
