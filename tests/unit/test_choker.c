/* Choker on synthetic swarms with a fake clock: tit-for-tat slots, snubbing,
 * the optimistic slot's 30 s rotation and 3x weight for new peers, seeding
 * rotation, determinism. */
#include <criterion/criterion.h>
#include <string.h>

#include "swarm/choker.h"

#define MAXN 64

struct swarm {
  struct sh_choke_peer p[MAXN];
  int ids[MAXN];
  size_t n;
};

/* n interested peers, connected long ago (at t = 1000), ids 0..n-1 */
static void swarm_init(struct swarm *s, size_t n)
{
  memset(s, 0, sizeof *s);
  s->n = n;
  for (size_t i = 0; i < n; i++) {
    s->ids[i] = (int)i;
    s->p[i].id = &s->ids[i];
    s->p[i].interested = 1;
    s->p[i].connected_ms = 1000;
  }
}

static int idx(const struct swarm *s, const void *id)
{
  return id ? *(const int *)id : -1;
}

static int count_unchoked(const struct swarm *s)
{
  int k = 0;
  for (size_t i = 0; i < s->n; i++)
    k += s->p[i].unchoked;
  return k;
}

static int the_optimistic(const struct swarm *s)
{
  int who = -1, k = 0;
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i].optimistic) {
      who = (int)i;
      k++;
    }
  cr_assert_leq(k, 1, "one optimistic slot");
  if (who >= 0)
    cr_assert(s->p[who].unchoked, "the optimistic peer is unchoked");
  return who;
}

static void fastest_uploaders(uint64_t seed)
{
  struct swarm s;
  swarm_init(&s, 10);
  for (size_t i = 0; i < 10; i++)
    s.p[i].down_rate = (i + 1) * 1000; /* peer 9 fastest */
  struct sh_choker c;
  sh_choker_init(&c, 4, seed);
  sh_choker_round(&c, s.p, s.n, 0, 100000);
  for (size_t i = 6; i < 10; i++) {
    cr_expect(s.p[i].unchoked, "peer %zu is among the 4 fastest", i);
    cr_expect(!s.p[i].optimistic);
  }
  int o = the_optimistic(&s);
  cr_expect(o >= 0 && o < 6, "optimistic slot goes to a choked peer, got %d", o);
  cr_expect_eq(count_unchoked(&s), 5, "4 regular + 1 optimistic");
  cr_expect_eq(idx(&s, c.optimistic), o);
  /* unchoked_ms set for everybody just unchoked */
  for (size_t i = 0; i < 10; i++)
    if (s.p[i].unchoked)
      cr_expect_eq(s.p[i].unchoked_ms, 100000);
  /* rates change: peer 0 becomes the fastest and takes a slot */
  s.p[0].down_rate = 50000;
  sh_choker_round(&c, s.p, s.n, 0, 110000);
  cr_expect(s.p[0].unchoked && !s.p[0].optimistic, "peer 0 earned a regular slot");
  cr_expect(!s.p[6].unchoked || s.p[6].optimistic, "the slowest of the four lost its slot");
  cr_expect_eq(count_unchoked(&s), 5);
  if (o == 0)
    cr_expect_neq(the_optimistic(&s), 0, "promoted: the optimistic slot moved on");
}

/* over several seeds, so the optimistic peer is sometimes the one that
 * becomes fastest (and is promoted) and sometimes not */
Test(choker, fastest_uploaders_get_the_slots)
{
  for (uint64_t seed = 1; seed <= 30; seed++)
    fastest_uploaders(seed);
}

Test(choker, only_interested_peers_and_no_snubbed_ones)
{
  struct swarm s;
  swarm_init(&s, 6);
  for (size_t i = 0; i < 6; i++)
    s.p[i].down_rate = (i + 1) * 1000;
  s.p[5].interested = 0;   /* fastest, but wants nothing */
  s.p[4].snubbed = 1;      /* second fastest, but stopped sending */
  struct sh_choker c;
  sh_choker_init(&c, 2, 1);
  for (uint64_t t = 10000; t < 200000; t += 10000) {
    sh_choker_round(&c, s.p, s.n, 0, t);
    cr_expect(!s.p[5].unchoked, "uninterested peer choked at %llu", (unsigned long long)t);
    cr_expect(!s.p[4].unchoked, "snubbed peer choked at %llu", (unsigned long long)t);
    cr_expect(s.p[3].unchoked && s.p[2].unchoked);
  }
  /* when seeding, snubbing does not apply (we ask nobody for anything) */
  sh_choker_round(&c, s.p, s.n, 1, 300000);
  cr_expect(s.p[4].unchoked);
  /* it recovers: no longer snubbed, it takes its slot back */
  s.p[4].snubbed = 0;
  sh_choker_round(&c, s.p, s.n, 0, 310000);
  cr_expect(s.p[4].unchoked && !s.p[4].optimistic);
}

Test(choker, optimistic_rotates_every_30s)
{
  struct swarm s;
  swarm_init(&s, 12);
  for (size_t i = 0; i < 12; i++)
    s.p[i].down_rate = i < 4 ? 100000 : 10; /* 0..3 hold the regular slots */
  struct sh_choker c;
  sh_choker_init(&c, 4, 7);
  int prev = -1, changes = 0, seen[12] = {0};
  uint64_t since = 0;
  for (uint64_t t = 60000; t <= 60000 + 600000; t += 10000) {
    sh_choker_round(&c, s.p, s.n, 0, t);
    int o = the_optimistic(&s);
    cr_assert_geq(o, 4, "the optimistic peer is not a regular slot holder");
    seen[o]++;
    if (o != prev) {
      if (prev >= 0) {
        cr_expect_eq(t - since, 30000, "rotated after %llu ms", (unsigned long long)(t - since));
        changes++;
      }
      since = t;
      prev = o;
    } else {
      cr_expect_lt(t - since, 30000, "held for %llu ms", (unsigned long long)(t - since));
    }
  }
  cr_expect_eq(changes, 20, "600 s / 30 s rotations");
  int distinct = 0;
  for (int i = 4; i < 12; i++)
    distinct += seen[i] > 0;
  cr_expect_geq(distinct, 5, "rotation reaches many peers, got %d", distinct);
}

Test(choker, optimistic_replaced_when_it_leaves_or_loses_interest)
{
  struct swarm s;
  swarm_init(&s, 8);
  struct sh_choker c;
  sh_choker_init(&c, 2, 3);
  sh_choker_round(&c, s.p, s.n, 0, 10000);
  int o = the_optimistic(&s);
  cr_assert_geq(o, 0);
  s.p[o].interested = 0;
  sh_choker_round(&c, s.p, s.n, 0, 15000);
  int o2 = the_optimistic(&s);
  cr_expect(o2 >= 0 && o2 != o, "a new optimistic peer at once");
  cr_expect(!s.p[o].unchoked);
  /* it disconnects: the engine drops it from the array and runs a round */
  const void *gone = s.p[o2].id;
  s.p[o2] = s.p[s.n - 1];
  s.n--;
  sh_choker_round(&c, s.p, s.n, 0, 16000);
  int o3 = the_optimistic(&s);
  cr_expect_geq(o3, 0, "the slot is handed on");
  cr_expect(c.optimistic != gone && c.optimistic == s.p[o3].id);
}

Test(choker, new_peers_weighted_3x)
{
  /* two candidates for the optimistic slot: one connected 10 s ago, one an
   * hour ago. Weighted 3:1, the new one wins 75 % of rotations. */
  int newwins = 0, rounds = 0;
  struct sh_choker c;
  sh_choker_init(&c, 1, 2024);
  for (int k = 0; k < 2000; k++) {
    struct swarm s;
    swarm_init(&s, 3);
    uint64_t now = 4000000 + (uint64_t)k * 40000;
    s.p[0].down_rate = 1000000; /* holds the one regular slot */
    s.p[1].connected_ms = now - 3600000;
    s.p[2].connected_ms = now - 10000;
    c.optimistic = NULL; /* a fresh draw each time, not a rotation */
    sh_choker_round(&c, s.p, s.n, 0, now);
    int o = the_optimistic(&s);
    cr_assert(o == 1 || o == 2);
    newwins += o == 2;
    rounds++;
  }
  double share = (double)newwins / rounds;
  cr_expect(share > 0.70 && share < 0.80, "new peer won %.3f of draws, expected 0.75", share);
}

Test(choker, seeding_serves_everybody_in_turn)
{
  struct swarm s;
  swarm_init(&s, 13);
  for (size_t i = 0; i < s.n; i++)
    s.p[i].up_rate = (i + 1) * 100000; /* faster peers would hog slots */
  struct sh_choker c;
  sh_choker_init(&c, 4, 5);
  uint64_t last_served[13] = {0};
  uint64_t worst_wait = 0;
  int served[13] = {0};
  for (uint64_t t = 10000; t <= 1200000; t += 10000) {
    sh_choker_round(&c, s.p, s.n, 1, t);
    cr_expect_leq(count_unchoked(&s), 5);
    for (size_t i = 0; i < s.n; i++) {
      if (s.p[i].unchoked) {
        served[i]++;
        last_served[i] = t;
      } else if (t - last_served[i] > worst_wait && last_served[i]) {
        worst_wait = t - last_served[i];
      }
    }
  }
  for (size_t i = 0; i < s.n; i++)
    cr_expect_gt(served[i], 10, "peer %zu unchoked in %d rounds of 120", i, served[i]);
  /* 13 peers, 4 regular slots of 30 s turns: a full cycle is ~100 s; the
   * optimistic slot only helps */
  cr_expect_leq(worst_wait, 120000, "a peer waited %llu ms", (unsigned long long)worst_wait);
}

Test(choker, seeding_few_peers_all_unchoked_fastest_first)
{
  struct swarm s;
  swarm_init(&s, 3);
  struct sh_choker c;
  sh_choker_init(&c, 4, 5);
  for (uint64_t t = 10000; t < 300000; t += 10000) {
    sh_choker_round(&c, s.p, s.n, 1, t);
    cr_expect_eq(count_unchoked(&s), 3, "nobody waits, so turns never end a slot");
  }
  /* more peers than slots, nobody unchoked yet: the fastest ones first */
  swarm_init(&s, 8);
  for (size_t i = 0; i < s.n; i++)
    s.p[i].up_rate = i * 1000;
  sh_choker_init(&c, 2, 5);
  sh_choker_round(&c, s.p, s.n, 1, 10000);
  cr_expect(s.p[7].unchoked && !s.p[7].optimistic);
  cr_expect(s.p[6].unchoked && !s.p[6].optimistic);
}

Test(choker, same_seed_same_decisions)
{
  struct swarm a, b;
  swarm_init(&a, 20);
  for (size_t i = 0; i < 20; i++)
    a.p[i].down_rate = (i * 7919) % 13;
  b = a;
  for (size_t i = 0; i < 20; i++)
    b.p[i].id = &b.ids[i];
  struct sh_choker ca, cb;
  sh_choker_init(&ca, 4, 77);
  sh_choker_init(&cb, 4, 77);
  for (uint64_t t = 10000; t < 500000; t += 10000) {
    sh_choker_round(&ca, a.p, a.n, t > 250000, t);
    sh_choker_round(&cb, b.p, b.n, t > 250000, t);
    for (size_t i = 0; i < 20; i++) {
      cr_assert_eq(a.p[i].unchoked, b.p[i].unchoked, "t %llu peer %zu", (unsigned long long)t, i);
      cr_assert_eq(a.p[i].optimistic, b.p[i].optimistic);
    }
  }
  /* and a different seed diverges somewhere */
  struct swarm d = a;
  swarm_init(&a, 20);
  swarm_init(&d, 20);
  struct sh_choker cd;
  sh_choker_init(&ca, 4, 77);
  sh_choker_init(&cd, 4, 78);
  int differ = 0;
  for (uint64_t t = 10000; t < 500000; t += 10000) {
    sh_choker_round(&ca, a.p, a.n, 0, t);
    sh_choker_round(&cd, d.p, d.n, 0, t);
    differ |= idx(&a, ca.optimistic) != idx(&d, cd.optimistic);
  }
  cr_expect(differ, "another seed, other optimistic picks");
}

Test(choker, empty_and_tiny_swarms)
{
  struct sh_choker c;
  sh_choker_init(&c, 0, 0);
  cr_expect_eq(c.slots, 4);
  sh_choker_round(&c, NULL, 0, 0, 1000);
  cr_expect_null(c.optimistic);
  struct swarm s;
  swarm_init(&s, 1);
  s.p[0].interested = 0;
  sh_choker_round(&c, s.p, s.n, 0, 2000);
  cr_expect(!s.p[0].unchoked);
  cr_expect_null(c.optimistic);
  s.p[0].interested = 1;
  sh_choker_round(&c, s.p, s.n, 0, 3000);
  cr_expect(s.p[0].unchoked && !s.p[0].optimistic, "a free regular slot, not the optimistic one");
}
