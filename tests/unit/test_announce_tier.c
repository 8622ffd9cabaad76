/* Pure scheduling: the BEP 12 tier walk, the back-off after failed rounds,
 * the BEP 15 retransmission timeouts and the interval clamp. */
#include <criterion/criterion.h>
#include <string.h>

#include "announce/ann_tier.h"
#include "base/error.h"
#include "meta/metainfo.h"

/* "random" numbers that keep the input order: r % k == k - 1 puts the last
 * element in place at every Fisher-Yates step */
static uint32_t no_shuffle(void *ctx) { return UINT32_MAX; }

static struct ann_tiers make(void)
{
  static char *t0[] = {"http://a/announce", "udp://b:1", "wss://ignored"};
  static char *t1[] = {"http://c/announce", "http://d/announce"};
  static char *t2[] = {"udp://e:2"};
  struct sh_tier tiers[3] = {{t0, 3}, {t1, 2}, {t2, 1}};
  struct ann_tiers t;
  size_t skipped = 99;
  cr_assert_eq(ann_tiers_init(&t, tiers, 3, no_shuffle, NULL, &skipped), 0);
  cr_expect_eq(skipped, 1);
  cr_assert_eq(t.n, 5);
  return t;
}

static const char *cur(const struct ann_tiers *t) { return t->url[ann_tiers_current(t)]; }

Test(announce_tier, walk_in_order_until_a_tracker_answers)
{
  struct ann_tiers t = make();
  cr_expect_str_eq(cur(&t), "http://a/announce");
  cr_expect_eq(ann_tiers_failure(&t, 0), 1);
  cr_expect_str_eq(cur(&t), "udp://b:1");
  cr_expect_eq(ann_tiers_failure(&t, 1), 1);
  /* the whole first tier failed: only now the second tier */
  cr_expect_str_eq(cur(&t), "http://c/announce");
  cr_expect_eq(ann_tiers_failure(&t, 2), 1);
  cr_expect_str_eq(cur(&t), "http://d/announce");
  /* d answers: it moves to the front of its tier and stays current */
  cr_expect_eq(ann_tiers_success(&t, 3), 2);
  cr_expect_str_eq(t.url[2], "http://d/announce");
  cr_expect_str_eq(t.url[3], "http://c/announce");
  cr_expect_str_eq(cur(&t), "http://d/announce");
  /* tier 0 keeps its order; tier 2 untouched */
  cr_expect_str_eq(t.url[0], "http://a/announce");
  cr_expect_str_eq(t.url[4], "udp://e:2");
  ann_tiers_free(&t);
}

Test(announce_tier, round_ends_after_every_tracker_failed_once)
{
  struct ann_tiers t = make();
  for (size_t i = 0; i < 4; i++)
    cr_expect_eq(ann_tiers_failure(&t, i), 1, "after %zu", i);
  cr_expect_eq(ann_tiers_failure(&t, 4), 0);
  cr_expect_str_eq(cur(&t), "http://a/announce"); /* the next round starts at the top */
  ann_tiers_free(&t);
}

Test(announce_tier, round_started_mid_walk_wraps_to_the_first_tier)
{
  struct ann_tiers t = make();
  ann_tiers_success(&t, 4); /* e (tier 2) worked last time */
  cr_expect_str_eq(cur(&t), "udp://e:2");
  cr_expect_eq(ann_tiers_failure(&t, 4), 1);
  cr_expect_str_eq(cur(&t), "http://a/announce");
  for (size_t i = 0; i < 3; i++)
    cr_expect_eq(ann_tiers_failure(&t, i), 1);
  cr_expect_eq(ann_tiers_failure(&t, 3), 0);
  ann_tiers_free(&t);
}

Test(announce_tier, success_within_first_tier_moves_to_front)
{
  struct ann_tiers t = make();
  ann_tiers_failure(&t, 0);
  cr_expect_eq(ann_tiers_success(&t, 1), 0);
  cr_expect_str_eq(t.url[0], "udp://b:1");
  cr_expect_str_eq(t.url[1], "http://a/announce");
  cr_expect_eq(t.tried, 0);
  ann_tiers_free(&t);
}

static uint32_t seq_state;
static uint32_t seq(void *ctx) { return seq_state++; }

Test(announce_tier, shuffle_stays_within_each_tier)
{
  static char *t0[] = {"http://1/a", "http://2/a", "http://3/a", "http://4/a"};
  static char *t1[] = {"http://5/a", "http://6/a"};
  struct sh_tier tiers[2] = {{t0, 4}, {t1, 2}};
  int moved = 0;
  for (seq_state = 0; seq_state < 40;) {
    struct ann_tiers t;
    cr_assert_eq(ann_tiers_init(&t, tiers, 2, seq, NULL, NULL), 0);
    for (size_t i = 0; i < 4; i++) {
      cr_expect(t.url[i][7] >= '1' && t.url[i][7] <= '4', "%s in tier 0", t.url[i]);
      moved += t.url[i][7] != "1234"[i];
    }
    for (size_t i = 4; i < 6; i++)
      cr_expect(t.url[i][7] == '5' || t.url[i][7] == '6');
    ann_tiers_free(&t);
  }
  cr_expect(moved > 0, "the shuffle never changed the order");
}

Test(announce_tier, empty_and_unsupported_only)
{
  static char *t0[] = {"ftp://x", "wss://y"};
  struct sh_tier tiers[1] = {{t0, 2}};
  struct ann_tiers t;
  size_t skipped;
  cr_assert_eq(ann_tiers_init(&t, tiers, 1, no_shuffle, NULL, &skipped), 0);
  cr_expect_eq(skipped, 2);
  cr_expect_eq(ann_tiers_current(&t), -1);
  ann_tiers_free(&t);
  cr_assert_eq(ann_tiers_init(&t, NULL, 0, no_shuffle, NULL, NULL), 0);
  cr_expect_eq(ann_tiers_current(&t), -1);
  ann_tiers_free(&t);
}

Test(announce_tier, retry_backoff_doubles_up_to_the_interval)
{
  uint64_t want[] = {15000, 30000, 60000, 120000, 240000, 480000, 960000, 1800000, 1800000};
  for (uint32_t k = 1; k <= 9; k++)
    cr_expect_eq(ann_retry_delay_ms(k, 15000, 1800000), want[k - 1], "round %u", k);
  cr_expect_eq(ann_retry_delay_ms(1000000, 15000, 1800000), 1800000);
  cr_expect_eq(ann_retry_delay_ms(1, 15000, 10000), 10000);
}

Test(announce_tier, udp_timeouts_follow_bep15)
{
  /* 15 * 2^n seconds, n = 0..8: 15 s up to 3840 s */
  uint64_t t = 0;
  for (uint32_t n = 0; n <= 8; n++) {
    cr_expect_eq(ann_udp_timeout_ms(n, 15000), 15000ull << n);
    t += ann_udp_timeout_ms(n, 15000);
  }
  cr_expect_eq(ann_udp_timeout_ms(8, 15000), 3840000);
  cr_expect_eq(ann_udp_timeout_ms(20, 15000), 3840000);
  cr_expect_eq(t, 7665000); /* the whole schedule: 2 h 7 min 45 s */
  cr_expect_eq(ann_udp_timeout_ms(3, 100), 800);
}

Test(announce_tier, interval_clamp)
{
  cr_expect_eq(ann_interval_clamp(0, 30, 7200), 1800);
  cr_expect_eq(ann_interval_clamp(1, 30, 7200), 30);
  cr_expect_eq(ann_interval_clamp(900, 30, 7200), 900);
  cr_expect_eq(ann_interval_clamp(UINT32_MAX, 30, 7200), 7200);
}
