/* Node ids: the XOR metric (BEP 5) and node id security (BEP 42: an id's
 * first 21 bits follow from its node's external address, through CRC32C).
 *
 * Pure and stateless: randomness comes from the caller's generator
 * (sh_dht_rand), so a simulation replays exactly. */
#ifndef SHOAL_DHT_ID_H
#define SHOAL_DHT_ID_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "dht/krpc.h"

/* xorshift64*: the core's only source of randomness, seeded by its owner
 * (the session from the kernel, a simulation from its seed). */
static inline uint64_t sh_dht_rand(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}
void sh_dht_rand_bytes(uint64_t *s, uint8_t *out, size_t n);

/* Which of a and b is closer to target: <0 a, >0 b, 0 the same id. */
int sh_dht_id_closer(const uint8_t *target, const uint8_t *a, const uint8_t *b);
/* Bits a and b share from the top (0..160). */
int sh_dht_id_common_bits(const uint8_t *a, const uint8_t *b);

/* CRC32C (Castagnoli), as BEP 42 uses it. */
uint32_t sh_dht_crc32c(uint32_t crc, const uint8_t *p, size_t n);

/* Addresses exempt from BEP 42 (local networks and loopback): any id is
 * fine there. IPv6 link-local and unique-local count as local too. */
int sh_dht_addr_is_local(const struct sh_addr *a);
/* Does id follow from a's address (BEP 42)? Local addresses always do. */
int sh_dht_id_matches(const uint8_t id[SH_DHT_ID_LEN], const struct sh_addr *a);
/* A new id for external address a: the BEP 42 prefix for a random r, the
 * rest random, the last byte r. For a local address, an id at random. */
void sh_dht_id_for(const struct sh_addr *a, uint64_t *rng, uint8_t id[SH_DHT_ID_LEN]);
/* The BEP 42 prefix with a given r (0..7), for test vectors: the CRC32C
 * of the masked address. */
uint32_t sh_dht_id_prefix(const struct sh_addr *a, uint8_t r);

#endif
