/* The DHT's peer store: see store.h. */
#include "dht/store.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/sha1.h"
#include "base/vec.h"
#include "dht/id.h"

void sh_dht_store_init(struct sh_dht_store *s, size_t max_hashes, size_t max_peers,
                       size_t max_total)
{
  memset(s, 0, sizeof *s);
  s->max_hashes = max_hashes;
  s->max_peers = max_peers;
  s->max_total = max_total;
}

static void hash_free(struct sh_dht_hash *h)
{
  free(h->p);
  free(h);
}

void sh_dht_store_free(struct sh_dht_store *s)
{
  for (size_t i = 0; i < s->n; i++)
    hash_free(s->all[i]);
  free(s->all);
  sh_tab_free(&s->tab);
  memset(s, 0, sizeof *s);
}

static int same_hash(const void *val, const void *ctx)
{
  return !memcmp(((const struct sh_dht_hash *)val)->ih, ctx, SH_DHT_ID_LEN);
}

const struct sh_dht_hash *sh_dht_store_get(const struct sh_dht_store *s,
                                           const uint8_t ih[SH_DHT_ID_LEN])
{
  return sh_tab_get(&s->tab, sh_tab_hash_key(ih), same_hash, ih);
}

static struct sh_dht_hash *hash_new(struct sh_dht_store *s, const uint8_t ih[SH_DHT_ID_LEN])
{
  struct sh_dht_hash *h = calloc(1, sizeof *h);
  if (!h || sh_vec_reserve(s->all, s->cap, s->n + 1, 64, s->max_hashes) < 0 ||
      sh_tab_put(&s->tab, sh_tab_hash_key(ih), h) < 0) {
    free(h);
    return NULL;
  }
  memcpy(h->ih, ih, SH_DHT_ID_LEN);
  h->idx = (uint32_t)s->n;
  s->all[s->n++] = h;
  s->sampled = 0; /* a new hash may join the next sample at once */
  return h;
}

static void hash_remove(struct sh_dht_store *s, struct sh_dht_hash *h)
{
  sh_tab_del(&s->tab, sh_tab_hash_key(h->ih), h);
  struct sh_dht_hash *last = s->all[--s->n];
  s->all[h->idx] = last;
  last->idx = h->idx;
  s->npeers -= h->n;
  hash_free(h);
  s->sampled = 0;
}

/* One record per IP (BEP 33); per IP and port on loopback. */
static int same_peer(const struct sh_dht_peer *p, const struct sh_addr *a)
{
  if (p->family != a->family || memcmp(p->ip, a->ip, a->family == 4 ? 4 : 16))
    return 0;
  return !sh_addr_is_loopback(a) || p->port == a->port;
}

int sh_dht_store_announce(struct sh_dht_store *s, const uint8_t ih[SH_DHT_ID_LEN],
                          const struct sh_addr *a, int seed, uint64_t now_ms)
{
  struct sh_dht_hash *h = (struct sh_dht_hash *)sh_dht_store_get(s, ih);
  uint32_t now_s = (uint32_t)(now_ms / 1000);
  if (h)
    for (uint32_t i = 0; i < h->n; i++)
      if (same_peer(&h->p[i], a)) {
        h->p[i].port = a->port;
        h->p[i].seed = (uint8_t)!!seed;
        h->p[i].time_s = now_s;
        return 0;
      }
  if ((!h && s->n >= s->max_hashes) || (h && h->n >= s->max_peers) ||
      s->npeers >= s->max_total) {
    s->refused++;
    return SH_ELIMIT;
  }
  if (!h && !(h = hash_new(s, ih)))
    return -ENOMEM;
  if (sh_vec_reserve(h->p, h->cap, (size_t)h->n + 1, 2, s->max_peers) < 0) {
    if (!h->n)
      hash_remove(s, h);
    return -ENOMEM;
  }
  struct sh_dht_peer *p = &h->p[h->n++];
  memset(p, 0, sizeof *p);
  memcpy(p->ip, a->ip, 16);
  p->port = a->port;
  p->family = a->family;
  p->seed = (uint8_t)!!seed;
  p->time_s = now_s;
  s->npeers++;
  return 1;
}

size_t sh_dht_store_values(const struct sh_dht_hash *h, int family, int noseed, uint64_t *rng,
                           struct sh_addr *out, size_t max)
{
  size_t n = 0;
  if (!h->n)
    return 0;
  uint32_t start = (uint32_t)(sh_dht_rand(rng) % h->n);
  /* with noseed, a first pass takes leechers only, a second the seeds */
  for (int pass = noseed ? 0 : 1; pass < 2; pass++)
    for (uint32_t k = 0; k < h->n && n < max; k++) {
      const struct sh_dht_peer *p = &h->p[(start + k) % h->n];
      if (p->family != family || (pass == 0 && p->seed) || (pass == 1 && noseed && !p->seed))
        continue;
      memset(&out[n], 0, sizeof out[n]);
      out[n].family = p->family;
      memcpy(out[n].ip, p->ip, 16);
      out[n].port = p->port;
      n++;
    }
  return n;
}

void sh_dht_bloom_add(uint8_t bf[SH_KRPC_BLOOM_LEN], const uint8_t *ip, size_t len)
{
  uint8_t h[SH_SHA1_LEN];
  sh_sha1(ip, len, h);
  unsigned i1 = (unsigned)(h[0] | h[1] << 8) % (SH_KRPC_BLOOM_LEN * 8);
  unsigned i2 = (unsigned)(h[2] | h[3] << 8) % (SH_KRPC_BLOOM_LEN * 8);
  bf[i1 / 8] |= (uint8_t)(1u << (i1 % 8));
  bf[i2 / 8] |= (uint8_t)(1u << (i2 % 8));
}

double sh_dht_bloom_estimate(const uint8_t bf[SH_KRPC_BLOOM_LEN])
{
  const double m = SH_KRPC_BLOOM_LEN * 8, k = 2;
  int zeros = 0;
  for (int i = 0; i < SH_KRPC_BLOOM_LEN; i++)
    zeros += 8 - __builtin_popcount(bf[i]);
  double c = zeros < m - 1 ? zeros : m - 1;
  return log(c / m) / (k * log(1 - 1 / m));
}

void sh_dht_store_blooms(const struct sh_dht_hash *h, uint8_t seeds[SH_KRPC_BLOOM_LEN],
                         uint8_t peers[SH_KRPC_BLOOM_LEN])
{
  memset(seeds, 0, SH_KRPC_BLOOM_LEN);
  memset(peers, 0, SH_KRPC_BLOOM_LEN);
  for (uint32_t i = 0; i < h->n; i++)
    sh_dht_bloom_add(h->p[i].seed ? seeds : peers, h->p[i].ip, h->p[i].family == 4 ? 4 : 16);
}

void sh_dht_store_expire(struct sh_dht_store *s, uint64_t now_ms)
{
  uint32_t now_s = (uint32_t)(now_ms / 1000);
  uint32_t ttl_s = SH_DHT_PEER_TTL_MS / 1000;
  for (size_t i = s->n; i-- > 0;) {
    struct sh_dht_hash *h = s->all[i];
    uint32_t k = 0;
    for (uint32_t j = 0; j < h->n; j++)
      if (now_s - h->p[j].time_s < ttl_s)
        h->p[k++] = h->p[j];
    s->npeers -= h->n - k;
    h->n = k;
    if (!k)
      hash_remove(s, h); /* swaps the last one in: already visited */
  }
}

const uint8_t *sh_dht_store_sample(struct sh_dht_store *s, uint64_t now_ms, uint64_t *rng,
                                   size_t *n)
{
  if (s->sampled && now_ms - s->sample_ms < SH_DHT_SAMPLE_MS) {
    *n = s->nsample;
    return s->sample;
  }
  size_t pick[SH_DHT_SAMPLE_MAX];
  size_t k = 0;
  if (s->n <= SH_DHT_SAMPLE_MAX) {
    for (; k < s->n; k++)
      pick[k] = k;
  } else {
    while (k < SH_DHT_SAMPLE_MAX) {
      size_t r = (size_t)(sh_dht_rand(rng) % s->n);
      int dup = 0;
      for (size_t j = 0; j < k; j++)
        dup |= pick[j] == r;
      if (!dup)
        pick[k++] = r;
    }
  }
  for (size_t j = 0; j < k; j++)
    memcpy(s->sample + j * SH_DHT_ID_LEN, s->all[pick[j]]->ih, SH_DHT_ID_LEN);
  s->nsample = k;
  s->sample_ms = now_ms;
  s->sampled = 1;
  *n = k;
  return s->sample;
}
