/* The DHT routing table (BEP 5): buckets of 8 that split only around our
 * id, liveness (good, questionable, bad), candidates waiting for a bad
 * node's slot, BEP 42's preference, closest-node queries against a brute
 * force; and node ids: BEP 42's test vectors, CRC32C, the XOR order. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/sha1.h"
#include "dht/id.h"
#include "dht/rtable.h"
#include "dht_net.h"

/* Every bucket covers [first, next first), holds at most K nodes, each
 * inside its range; only the bucket holding our id ever split, so every
 * other bucket's depth is one more than the previous split's. */
static void check_invariants(const struct sh_dht_table *t)
{
  cr_assert_geq(t->nb, 1);
  uint8_t zero[20] = {0};
  cr_expect(!memcmp(t->b[0].first, zero, 20));
  for (size_t i = 0; i < t->nb; i++) {
    const struct sh_dht_bucket *b = &t->b[i];
    cr_expect_leq(b->n, SH_DHT_K);
    if (i + 1 < t->nb)
      cr_expect_lt(memcmp(b->first, t->b[i + 1].first, 20), 0, "sorted");
    for (int k = 0; k < b->n; k++) {
      cr_expect_geq(sh_dht_id_common_bits(b->nodes[k].id, b->first), b->depth,
                    "node %d of bucket %zu is inside it", k, i);
      cr_expect_eq(sh_dht_table_bucket_of(t, b->nodes[k].id), i);
    }
  }
  /* the bucket of our id is the deepest one */
  size_t mine = sh_dht_table_bucket_of(t, t->self);
  for (size_t i = 0; i < t->nb; i++)
    cr_expect_leq(t->b[i].depth, t->b[mine].depth);
}

static void id_with_prefix(uint64_t *rng, const uint8_t *self, int common, uint8_t out[20])
{
  /* an id sharing exactly `common` top bits with self */
  sh_dht_rand_bytes(rng, out, 20);
  for (int k = 0; k < common; k++) {
    uint8_t m = (uint8_t)(0x80 >> (k % 8));
    out[k / 8] = (uint8_t)((out[k / 8] & ~m) | (self[k / 8] & m));
  }
  uint8_t m = (uint8_t)(0x80 >> (common % 8));
  out[common / 8] = (uint8_t)((out[common / 8] & ~m) | (~self[common / 8] & m));
}

Test(dht_rtable, splits_only_around_our_id)
{
  uint64_t rng = 1;
  uint8_t self[20];
  sh_dht_rand_bytes(&rng, self, 20);
  struct sh_dht_table t;
  cr_assert_eq(sh_dht_table_init(&t, 4, self, 0), 0);
  struct sh_dht_node *ping;
  for (int i = 0; i < 2000; i++) {
    uint8_t id[20];
    sh_dht_rand_bytes(&rng, id, 20);
    struct sh_addr a = dnet_v4(10, (uint8_t)(i >> 8), (uint8_t)i, 1, 6881);
    cr_assert_geq(sh_dht_table_seen(&t, id, &a, SH_DHT_REPLIED, 1000, &ping), 0);
  }
  check_invariants(&t);
  /* 2000 random nodes: the top ~8 levels fill (2000 / 2^8 = 8) */
  cr_expect_geq(t.nb, 7);
  cr_expect_leq(t.nb, 12);
  size_t nodes, good;
  sh_dht_table_count(&t, 1000, &nodes, &good);
  cr_expect_eq(nodes, good);
  cr_expect_leq(nodes, t.nb * SH_DHT_K);
  /* our own id is never inserted */
  struct sh_addr a = dnet_v4(10, 9, 9, 9, 1);
  cr_expect_eq(sh_dht_table_seen(&t, self, &a, SH_DHT_REPLIED, 1000, &ping), 0);
  /* nor another family's node */
  uint8_t id[20];
  sh_dht_rand_bytes(&rng, id, 20);
  struct sh_addr six = {.family = 6, .port = 1};
  cr_expect_eq(sh_dht_table_seen(&t, id, &six, SH_DHT_REPLIED, 1000, &ping), 0);
  sh_dht_table_free(&t);
}

Test(dht_rtable, liveness)
{
  uint8_t self[20] = {0}, id[20] = {0};
  id[0] = 0x80;
  struct sh_dht_table t;
  sh_dht_table_init(&t, 4, self, 0);
  struct sh_dht_node *ping;
  struct sh_addr a = dnet_v4(10, 0, 0, 1, 1);
  sh_dht_table_seen(&t, id, &a, SH_DHT_LEARNT, 1000, &ping);
  struct sh_dht_node *n = sh_dht_table_find(&t, id);
  cr_assert(n);
  cr_expect(!sh_dht_node_good(n, 1000), "learnt of: questionable");
  sh_dht_table_seen(&t, id, &a, SH_DHT_QUERIED, 2000, &ping);
  cr_expect(!sh_dht_node_good(n, 2000), "a query alone does not prove it answers");
  sh_dht_table_seen(&t, id, &a, SH_DHT_REPLIED, 3000, &ping);
  cr_expect(sh_dht_node_good(n, 3000), "answered: good");
  cr_expect(sh_dht_node_good(n, 3000 + SH_DHT_GOOD_MS - 1));
  cr_expect(!sh_dht_node_good(n, 3000 + SH_DHT_GOOD_MS), "15 minutes of silence");
  /* a query within the 15 minutes keeps a node that once answered good */
  sh_dht_table_seen(&t, id, &a, SH_DHT_QUERIED, 3000 + SH_DHT_GOOD_MS - 10, &ping);
  cr_expect(sh_dht_node_good(n, 3000 + SH_DHT_GOOD_MS + 10));
  for (int i = 0; i < SH_DHT_BAD_PINGS; i++) {
    cr_expect(!sh_dht_node_bad(n));
    sh_dht_table_failed(&t, id, &a);
  }
  cr_expect(sh_dht_node_bad(n), "3 unanswered queries in a row");
  sh_dht_table_seen(&t, id, &a, SH_DHT_REPLIED, 5000, &ping);
  cr_expect(!sh_dht_node_bad(n) && sh_dht_node_good(n, 5000), "a reply redeems it");
  /* a query from another address does not move a good node; a reply does */
  struct sh_addr b = dnet_v4(10, 0, 0, 2, 2);
  sh_dht_table_seen(&t, id, &b, SH_DHT_QUERIED, 6000, &ping);
  cr_expect(sh_addr_eq(&n->addr, &a));
  sh_dht_table_seen(&t, id, &b, SH_DHT_REPLIED, 7000, &ping);
  cr_expect(sh_addr_eq(&n->addr, &b));
  sh_dht_table_free(&t);
}

Test(dht_rtable, full_far_bucket_keeps_a_candidate)
{
  uint64_t rng = 5;
  uint8_t self[20] = {0};
  struct sh_dht_table t;
  sh_dht_table_init(&t, 4, self, 0);
  struct sh_dht_node *ping;
  /* fill the far half (first bit 1) with 8 nodes, and our half too, so
   * the far bucket can no longer split */
  uint8_t far[9][20];
  for (int i = 0; i < 9; i++) {
    id_with_prefix(&rng, self, 0, far[i]);
    struct sh_addr a = dnet_v4(10, 1, 0, (uint8_t)i, 1);
    if (i < 8)
      cr_assert_eq(sh_dht_table_seen(&t, far[i], &a, SH_DHT_REPLIED, 1000 + i, &ping), 2);
  }
  uint8_t near[20];
  id_with_prefix(&rng, self, 5, near);
  struct sh_addr na = dnet_v4(10, 2, 0, 1, 1);
  sh_dht_table_seen(&t, near, &na, SH_DHT_REPLIED, 1000, &ping);
  cr_expect_geq(t.nb, 2);
  /* all good: the newcomer is dropped */
  struct sh_addr a9 = dnet_v4(10, 1, 0, 9, 1);
  cr_expect_eq(sh_dht_table_seen(&t, far[8], &a9, SH_DHT_REPLIED, 2000, &ping), 0);
  cr_expect_null(ping);
  cr_expect_null(sh_dht_table_find(&t, far[8]));
  /* 20 minutes later all are questionable: the newcomer waits, and the
   * least recently seen node is to be pinged */
  uint64_t later = 1000 + SH_DHT_GOOD_MS + 60000;
  cr_expect_eq(sh_dht_table_seen(&t, far[8], &a9, SH_DHT_REPLIED, later, &ping), 0);
  cr_assert_not_null(ping);
  cr_expect(!memcmp(ping->id, far[0], 20), "the oldest one");
  size_t fb = sh_dht_table_bucket_of(&t, far[0]);
  cr_expect(t.b[fb].has_cand);
  struct sh_addr a0 = dnet_v4(10, 1, 0, 0, 1);
  for (int i = 0; i < SH_DHT_BAD_PINGS; i++)
    sh_dht_table_failed(&t, far[0], &a0);
  cr_expect_null(sh_dht_table_find(&t, far[0]), "the failed node gave way");
  cr_expect_not_null(sh_dht_table_find(&t, far[8]), "to the candidate");
  cr_expect(!t.b[fb].has_cand);
  check_invariants(&t);
  sh_dht_table_free(&t);
}

Test(dht_rtable, bep42_compliant_nodes_preferred)
{
  uint64_t rng = 9;
  uint8_t self[20] = {0};
  struct sh_dht_table t;
  sh_dht_table_init(&t, 4, self, 0);
  struct sh_dht_node *ping;
  uint8_t near[20];
  id_with_prefix(&rng, self, 3, near);
  struct sh_addr na = dnet_v4(10, 2, 0, 1, 1);
  sh_dht_table_seen(&t, near, &na, SH_DHT_REPLIED, 1000, &ping);
  /* 8 public nodes with random ids (not compliant) in the far half */
  for (int i = 0; i < 8; i++) {
    uint8_t id[20];
    id_with_prefix(&rng, self, 0, id);
    struct sh_addr a = dnet_v4(80, 1, 0, (uint8_t)i, 1);
    sh_dht_table_seen(&t, id, &a, SH_DHT_REPLIED, 1000, &ping);
  }
  /* a compliant one that answered takes a non-compliant one's slot */
  struct sh_addr pub = dnet_v4(124, 31, 75, 21, 1);
  uint8_t id[20];
  do
    sh_dht_id_for(&pub, &rng, id);
  while (!(id[0] & 0x80));
  cr_expect_eq(sh_dht_table_seen(&t, id, &pub, SH_DHT_REPLIED, 2000, &ping), 2);
  struct sh_dht_node *n = sh_dht_table_find(&t, id);
  cr_assert(n);
  cr_expect(n->compliant);
  sh_dht_table_free(&t);
}

Test(dht_rtable, closest_matches_brute_force)
{
  uint64_t rng = 77;
  uint8_t self[20];
  sh_dht_rand_bytes(&rng, self, 20);
  struct sh_dht_table t;
  sh_dht_table_init(&t, 4, self, 0);
  struct sh_dht_node *ping;
  for (int i = 0; i < 500; i++) {
    uint8_t id[20];
    sh_dht_rand_bytes(&rng, id, 20);
    struct sh_addr a = dnet_v4(10, 3, (uint8_t)(i >> 8), (uint8_t)i, 1);
    sh_dht_table_seen(&t, id, &a, SH_DHT_REPLIED, 1000, &ping);
  }
  for (int round = 0; round < 20; round++) {
    uint8_t target[20];
    sh_dht_rand_bytes(&rng, target, 20);
    struct sh_dht_node out[8];
    size_t n = sh_dht_table_closest(&t, target, out, 8, 0, 1000);
    cr_assert_eq(n, 8);
    for (size_t i = 1; i < n; i++)
      cr_expect_lt(sh_dht_id_closer(target, out[i - 1].id, out[i].id), 0, "sorted");
    /* nothing in the table is closer than the 8th unless it is listed */
    for (size_t i = 0; i < t.nb; i++)
      for (int k = 0; k < t.b[i].n; k++) {
        const uint8_t *x = t.b[i].nodes[k].id;
        if (sh_dht_id_closer(target, x, out[7].id) >= 0)
          continue;
        int listed = 0;
        for (size_t j = 0; j < n; j++)
          listed |= !memcmp(out[j].id, x, 20);
        cr_expect(listed);
      }
  }
  /* good_only skips what is not good */
  struct sh_dht_node out[8];
  cr_expect_eq(sh_dht_table_closest(&t, self, out, 8, 1, 1000 + SH_DHT_GOOD_MS), 0);
  sh_dht_table_free(&t);
}

Test(dht_rtable, random_id_in_bucket_and_rebuild)
{
  uint64_t rng = 3;
  uint8_t self[20];
  sh_dht_rand_bytes(&rng, self, 20);
  struct sh_dht_table t;
  sh_dht_table_init(&t, 4, self, 0);
  struct sh_dht_node *ping;
  for (int i = 0; i < 300; i++) {
    uint8_t id[20];
    sh_dht_rand_bytes(&rng, id, 20);
    struct sh_addr a = dnet_v4(10, 4, (uint8_t)(i >> 8), (uint8_t)i, 1);
    sh_dht_table_seen(&t, id, &a, SH_DHT_REPLIED, 1000, &ping);
  }
  for (size_t i = 0; i < t.nb; i++)
    for (int k = 0; k < 10; k++) {
      uint8_t id[20];
      sh_dht_bucket_random_id(&t, i, &rng, id);
      cr_expect_eq(sh_dht_table_bucket_of(&t, id), i);
    }
  size_t before, good;
  sh_dht_table_count(&t, 1000, &before, &good);
  uint8_t other[20];
  sh_dht_rand_bytes(&rng, other, 20);
  cr_assert_eq(sh_dht_table_rebuild(&t, other, 2000), 0);
  cr_expect(!memcmp(t.self, other, 20));
  check_invariants(&t);
  size_t after;
  sh_dht_table_count(&t, 1000, &after, &good);
  cr_expect_gt(after, 0);
  cr_expect_eq(good, after, "liveness kept");
  sh_dht_table_free(&t);
}

/* BEP 42's table: IP, rand, and the id whose first 21 bits and last byte
 * follow from them. */
Test(dht_id, bep42_test_vectors)
{
  static const struct {
    uint8_t ip[4];
    uint8_t rand;
    const char *id;
  } v[] = {
      {{124, 31, 75, 21}, 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
      {{21, 75, 31, 124}, 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
      {{65, 23, 51, 170}, 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
      {{84, 124, 73, 14}, 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
      {{43, 213, 53, 83}, 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    struct sh_addr a = dnet_v4(v[i].ip[0], v[i].ip[1], v[i].ip[2], v[i].ip[3], 0);
    uint8_t id[20];
    cr_assert_eq(sh_unhex(v[i].id, id, 20), 0);
    uint32_t crc = sh_dht_id_prefix(&a, v[i].rand & 7);
    cr_expect_eq(id[0], (uint8_t)(crc >> 24), "vector %zu", i);
    cr_expect_eq(id[1], (uint8_t)(crc >> 16), "vector %zu", i);
    cr_expect_eq(id[2] & 0xf8, (crc >> 8) & 0xf8, "vector %zu", i);
    cr_expect(sh_dht_id_matches(id, &a), "vector %zu matches", i);
    id[0] ^= 0x80;
    cr_expect(!sh_dht_id_matches(id, &a), "vector %zu with a flipped bit", i);
  }
  /* a generated id matches its address; any id matches a local one */
  uint64_t rng = 99;
  struct sh_addr pub = dnet_v4(124, 31, 75, 21, 0), lan = dnet_v4(192, 168, 1, 2, 0);
  uint8_t id[20];
  for (int i = 0; i < 50; i++) {
    sh_dht_id_for(&pub, &rng, id);
    cr_expect(sh_dht_id_matches(id, &pub));
  }
  memset(id, 0, sizeof id);
  cr_expect(sh_dht_id_matches(id, &lan));
  cr_expect(sh_dht_addr_is_local(&lan));
  cr_expect(!sh_dht_addr_is_local(&pub));
}

Test(dht_id, crc32c_check_value)
{
  /* the standard check: CRC32C("123456789") = e3069283 */
  cr_expect_eq(sh_dht_crc32c(0, (const uint8_t *)"123456789", 9), 0xe3069283u);
}

Test(dht_id, xor_order)
{
  uint8_t t[20] = {0}, a[20] = {0}, b[20] = {0};
  a[19] = 1;
  b[0] = 0x80;
  cr_expect_lt(sh_dht_id_closer(t, a, b), 0);
  cr_expect_gt(sh_dht_id_closer(t, b, a), 0);
  cr_expect_eq(sh_dht_id_closer(t, a, a), 0);
  cr_expect_eq(sh_dht_id_common_bits(a, b), 0);
  cr_expect_eq(sh_dht_id_common_bits(t, a), 159);
  cr_expect_eq(sh_dht_id_common_bits(t, t), 160);
}
