/* Node ids: see id.h. */
#include "dht/id.h"

#include <string.h>

void sh_dht_rand_bytes(uint64_t *s, uint8_t *out, size_t n)
{
  while (n) {
    uint64_t r = sh_dht_rand(s);
    size_t k = n < 8 ? n : 8;
    memcpy(out, &r, k);
    out += k;
    n -= k;
  }
}

int sh_dht_id_closer(const uint8_t *target, const uint8_t *a, const uint8_t *b)
{
  for (int i = 0; i < SH_DHT_ID_LEN; i++) {
    if (a[i] == b[i])
      continue;
    return (a[i] ^ target[i]) < (b[i] ^ target[i]) ? -1 : 1;
  }
  return 0;
}

int sh_dht_id_common_bits(const uint8_t *a, const uint8_t *b)
{
  for (int i = 0; i < SH_DHT_ID_LEN; i++) {
    uint8_t x = a[i] ^ b[i];
    if (!x)
      continue;
    int n = 0;
    while (!(x & 0x80)) {
      x <<= 1;
      n++;
    }
    return i * 8 + n;
  }
  return 8 * SH_DHT_ID_LEN;
}

/* The reflected Castagnoli polynomial. A table of 256 entries built on
 * first use would be a global; 8 shifts per byte cost nothing at the rate
 * ids are checked (once per node inserted, once per external address). */
#define CRC32C_POLY 0x82f63b78u

uint32_t sh_dht_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = crc & 1 ? (crc >> 1) ^ CRC32C_POLY : crc >> 1;
  }
  return ~crc;
}

int sh_dht_addr_is_local(const struct sh_addr *a)
{
  const uint8_t *ip = a->ip;
  if (a->family == 4)
    return ip[0] == 10 || ip[0] == 127 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
           (ip[0] == 192 && ip[1] == 168) || (ip[0] == 169 && ip[1] == 254);
  static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return !memcmp(ip, lo6, 16) || (ip[0] & 0xfe) == 0xfc /* fc00::/7 */ ||
         (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) /* fe80::/10 */;
}

uint32_t sh_dht_id_prefix(const struct sh_addr *a, uint8_t r)
{
  /* BEP 42: (ip & 0x030f3fff) | (r << 29) for IPv4; for IPv6 the high 64
   * bits & 0x0103070f1f3f7fff | (r << 61); big-endian, then CRC32C */
  static const uint8_t m4[4] = {0x03, 0x0f, 0x3f, 0xff};
  static const uint8_t m6[8] = {0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff};
  uint8_t b[8];
  int n = a->family == 4 ? 4 : 8;
  const uint8_t *m = n == 4 ? m4 : m6;
  for (int i = 0; i < n; i++)
    b[i] = a->ip[i] & m[i];
  b[0] |= (uint8_t)((r & 7) << 5);
  return sh_dht_crc32c(0, b, (size_t)n);
}

int sh_dht_id_matches(const uint8_t id[SH_DHT_ID_LEN], const struct sh_addr *a)
{
  if (sh_dht_addr_is_local(a))
    return 1;
  uint32_t crc = sh_dht_id_prefix(a, id[19] & 7);
  /* the first 21 bits must match */
  return id[0] == (uint8_t)(crc >> 24) && id[1] == (uint8_t)(crc >> 16) &&
         (id[2] & 0xf8) == ((uint8_t)(crc >> 8) & 0xf8);
}

void sh_dht_id_for(const struct sh_addr *a, uint64_t *rng, uint8_t id[SH_DHT_ID_LEN])
{
  sh_dht_rand_bytes(rng, id, SH_DHT_ID_LEN);
  if (sh_dht_addr_is_local(a))
    return;
  uint8_t r = id[19] & 7;
  uint32_t crc = sh_dht_id_prefix(a, r);
  id[0] = (uint8_t)(crc >> 24);
  id[1] = (uint8_t)(crc >> 16);
  id[2] = (uint8_t)(((crc >> 8) & 0xf8) | (id[2] & 7));
}
