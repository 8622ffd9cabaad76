/* What other peers announced to us (BEP 5 announce_peer): peers per
 * info-hash, each with its seed flag (BEP 33), forgotten 30 minutes after
 * its last announce. Answers get_peers (values, and the BEP 33 Bloom
 * filters for scrapes) and BEP 51 samples.
 *
 * Bounded: at most max_hashes info-hashes, max_peers per info-hash, and
 * max_total peers in all; what does not fit is refused and counted, never
 * grown. A peer is one per IP address for an info-hash (BEP 33: its port
 * and seed flag are updated), except on loopback, where one machine runs
 * many clients (tests) and the port tells them apart.
 *
 * Pure: the caller passes now_ms and the random generator. Owned by the
 * DHT node, which embeds it; sh_dht_store_free releases everything. */
#ifndef SHOAL_DHT_STORE_H
#define SHOAL_DHT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/tab.h"
#include "dht/krpc.h"

/* BEP 5 suggests no figure; 30 minutes is what libtorrent and Transmission
 * keep an announce, so a peer re-announcing every 15 minutes stays. */
#define SH_DHT_PEER_TTL_MS (30u * 60 * 1000)

struct sh_dht_peer {
  uint8_t ip[16];
  uint16_t port;
  uint8_t family;
  uint8_t seed;
  uint32_t time_s;             /* last announce, seconds of the caller's clock */
};

struct sh_dht_hash {
  uint8_t ih[SH_DHT_ID_LEN];
  uint32_t idx;                /* in the store's dense array */
  uint32_t n, cap;
  struct sh_dht_peer *p;
};

struct sh_dht_store {
  struct sh_tab tab;           /* first 8 bytes of the info-hash -> hash */
  struct sh_dht_hash **all;    /* dense, for sampling and expiry */
  size_t n, cap;
  size_t npeers;
  size_t max_hashes, max_peers, max_total;
  uint64_t refused;            /* announces that did not fit */
  /* BEP 51: one sample, redrawn at most every SH_DHT_SAMPLE_MS */
  uint8_t sample[20 * SH_DHT_ID_LEN];
  size_t nsample;
  uint64_t sample_ms;
  int sampled;
};

/* A BEP 51 sample holds up to 20 info-hashes (400 bytes: with the nodes
 * it stays under BEP 32's 1024-byte payload) and is redrawn at most once
 * a minute; the reply's `interval` says so. */
#define SH_DHT_SAMPLE_MAX 20
#define SH_DHT_SAMPLE_MS 60000u

void sh_dht_store_init(struct sh_dht_store *s, size_t max_hashes, size_t max_peers,
                       size_t max_total);
void sh_dht_store_free(struct sh_dht_store *s);

/* Records that peer a announced ih. Returns 1 (new), 0 (refreshed) or
 * SH_ELIMIT (did not fit: counted in refused), -ENOMEM. */
int sh_dht_store_announce(struct sh_dht_store *s, const uint8_t ih[SH_DHT_ID_LEN],
                          const struct sh_addr *a, int seed, uint64_t now_ms);
const struct sh_dht_hash *sh_dht_store_get(const struct sh_dht_store *s,
                                           const uint8_t ih[SH_DHT_ID_LEN]);
/* Up to max peers of family for get_peers into out, starting at a random
 * place so that every peer gets handed out; with noseed, leechers first
 * (BEP 33). Returns how many. */
size_t sh_dht_store_values(const struct sh_dht_hash *h, int family, int noseed, uint64_t *rng,
                           struct sh_addr *out, size_t max);
/* BEP 33: the Bloom filters of a hash's seeds and of its other peers. */
void sh_dht_store_blooms(const struct sh_dht_hash *h, uint8_t seeds[SH_KRPC_BLOOM_LEN],
                         uint8_t peers[SH_KRPC_BLOOM_LEN]);
/* Forgets peers older than SH_DHT_PEER_TTL_MS, and hashes left empty. */
void sh_dht_store_expire(struct sh_dht_store *s, uint64_t now_ms);
/* BEP 51: the current sample (*n info-hashes at the returned bytes). */
const uint8_t *sh_dht_store_sample(struct sh_dht_store *s, uint64_t now_ms, uint64_t *rng,
                                   size_t *n);

/* BEP 33 Bloom filters (k = 2, m = 2048 bits): add an address (4 or 16
 * bytes, no port), and estimate how many were added. */
void sh_dht_bloom_add(uint8_t bf[SH_KRPC_BLOOM_LEN], const uint8_t *ip, size_t len);
double sh_dht_bloom_estimate(const uint8_t bf[SH_KRPC_BLOOM_LEN]);

#endif
