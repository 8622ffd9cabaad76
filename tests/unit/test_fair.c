/* The fair limiter (base/fair.h) with a fake clock: nobody waits while
 * the bucket has tokens, a flow that asks while others wait queues behind
 * them, dispatch serves round robin, deficits carry over for big asks,
 * backlogged flows get equal shares of the limit over every 5 s window
 * (the bound: within half and twice the fair share), a flow that
 * leaves gives its credit back, and unlimited means no queue. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "base/fair.h"

#define BLK SH_FAIR_QUANTUM

Test(fair, unlimited_never_waits)
{
  struct sh_fair f;
  struct sh_fair_flow a = {0};
  sh_fair_init(&f, 0, 0);
  for (int i = 0; i < 1000; i++)
    cr_assert(sh_fair_take(&f, &a, 0, BLK));
  cr_expect_eq(sh_fair_take_upto(&f, &a, 0, 1 << 20), 1 << 20);
  cr_expect_eq(sh_fair_wait_ms(&f, 0), UINT64_MAX);
  sh_fair_free(&f);
}

Test(fair, bucket_first_then_queue)
{
  struct sh_fair f;
  struct sh_fair_flow a = {0}, b = {0};
  sh_fair_init(&f, 100000, 0); /* burst 32 KiB: one block, almost two */
  cr_expect(sh_fair_take(&f, &a, 0, BLK), "a full bucket serves at once");
  cr_expect(!sh_fair_take(&f, &a, 0, BLK), "one block's worth is not left");
  cr_assert_eq(sh_fair_wait(&f, &a, BLK), 0);
  /* the bucket refills enough for b, but a waits: b must queue behind */
  cr_expect(!sh_fair_take(&f, &b, 1000, BLK), "no jumping the queue");
  cr_expect(!sh_fair_can(&f, &b, 1000, BLK));
  cr_assert_eq(sh_fair_wait(&f, &b, BLK), 0);
  struct sh_fair_flow *out[4];
  size_t n = sh_fair_dispatch(&f, 1000, out, 4);
  cr_assert_geq(n, 1);
  cr_expect_eq(out[0], &a, "the first to wait is served first");
  cr_expect(sh_fair_take(&f, &a, 1000, BLK), "a spends its credit");
  cr_expect_eq(a.credit, 0);
  sh_fair_free(&f);
}

Test(fair, wait_ms_and_dispatch_exact)
{
  struct sh_fair f;
  struct sh_fair_flow a = {0};
  sh_fair_init(&f, 1000000, 0); /* 1000 bytes per ms, burst 200 KB */
  cr_expect_eq(sh_fair_take_upto(&f, &a, 0, 1 << 30), 200000, "the whole burst");
  cr_assert_eq(sh_fair_wait(&f, &a, BLK), 0);
  cr_expect_eq(sh_fair_wait_ms(&f, 0), (BLK + 999) / 1000);
  struct sh_fair_flow *out[2];
  cr_expect_eq(sh_fair_dispatch(&f, 10, out, 2), 0, "10 ms is 10000 bytes: short");
  cr_expect_eq(sh_fair_dispatch(&f, 17, out, 2), 1);
  cr_expect(!a.queued);
  cr_expect_eq(a.credit, BLK);
  cr_expect_eq(sh_fair_wait_ms(&f, 17), UINT64_MAX, "nobody waits");
  sh_fair_free(&f);
}

Test(fair, round_robin_order)
{
  struct sh_fair f;
  struct sh_fair_flow fl[4] = {{0}};
  struct sh_fair_flow *out[8];
  /* the bucket is emptied, then refills: the four are served in order,
   * once each, as the time walks on in 1 ms steps */
  sh_fair_init(&f, 100000, 0);
  sh_fair_take_upto(&f, &fl[0], 0, 1 << 20);
  for (int i = 0; i < 4; i++) {
    fl[i].credit = 0;
    cr_assert_eq(sh_fair_wait(&f, &fl[i], BLK), 0);
  }
  int order[4], k = 0;
  for (uint64_t now = 1; k < 4 && now < 10000; now++) {
    size_t m = sh_fair_dispatch(&f, now, out, 8);
    for (size_t j = 0; j < m; j++)
      order[k++] = (int)(out[j] - fl);
  }
  cr_assert_eq(k, 4);
  for (int i = 0; i < 4; i++)
    cr_expect_eq(order[i], i, "served in the order they queued");
  sh_fair_free(&f);
}

Test(fair, deficit_carries_over)
{
  struct sh_fair f;
  struct sh_fair_flow big = {0}, small = {0};
  sh_fair_init(&f, 1000000, 0);
  sh_fair_take_upto(&f, &big, 0, 1 << 30);
  /* big asks for three quanta at once, small for one */
  cr_assert_eq(sh_fair_wait(&f, &big, 3 * BLK), 0);
  cr_assert_eq(sh_fair_wait(&f, &small, BLK), 0);
  struct sh_fair_flow *out[4];
  size_t n = sh_fair_dispatch(&f, 200, out, 4); /* 200 KB: plenty */
  cr_assert_eq(n, 2);
  cr_expect_eq(out[0], &small, "small is covered after one turn");
  cr_expect_eq(out[1], &big, "big after three turns, with its credit kept");
  cr_expect_eq(big.credit, 3 * BLK);
  sh_fair_free(&f);
}

Test(fair, leave_returns_credit)
{
  struct sh_fair f;
  struct sh_fair_flow a = {0}, b = {0}, c = {0};
  sh_fair_init(&f, 100000, 0);
  sh_fair_take_upto(&f, &a, 0, 1 << 20);
  a.credit = b.credit = c.credit = 0;
  cr_assert_eq(sh_fair_wait(&f, &a, BLK), 0);
  cr_assert_eq(sh_fair_wait(&f, &b, BLK), 0);
  cr_assert_eq(sh_fair_wait(&f, &c, BLK), 0);
  sh_fair_leave(&f, &b);
  cr_expect(!b.queued);
  cr_expect_eq(sh_fair_waiting(&f), 2);
  struct sh_fair_flow *out[4];
  size_t k = 0;
  for (uint64_t now = 1; k < 2 && now < 10000; now++)
    k += sh_fair_dispatch(&f, now, out + k, 4 - k);
  cr_assert_eq(k, 2);
  cr_expect_eq(out[0], &a);
  cr_expect_eq(out[1], &c);
  /* a's unused credit goes back when it leaves */
  uint64_t before = f.bucket.tokens;
  sh_fair_leave(&f, &a);
  cr_expect_eq(f.bucket.tokens, before + (uint64_t)BLK * 1000);
  sh_fair_free(&f);
}

Test(fair, refund_keeps_one_quantum)
{
  struct sh_fair f;
  struct sh_fair_flow a = {0};
  sh_fair_init(&f, 1000000, 0);
  uint64_t g = sh_fair_take_upto(&f, &a, 0, 100000);
  cr_assert_eq(g, 100000);
  sh_fair_refund(&f, &a, 90000);
  cr_expect_eq(a.credit, BLK, "a quantum stays with the flow");
  cr_expect_eq(f.bucket.tokens / 1000, 200000 - 100000 + 90000 - BLK);
  sh_fair_free(&f);
}

Test(fair, set_rate_zero_wakes_everyone)
{
  struct sh_fair f;
  struct sh_fair_flow fl[3] = {{0}};
  sh_fair_init(&f, 1000, 0);
  sh_fair_take_upto(&f, &fl[0], 0, 1 << 20);
  fl[0].credit = 0;
  for (int i = 0; i < 3; i++)
    cr_assert_eq(sh_fair_wait(&f, &fl[i], BLK), 0);
  sh_fair_set_rate(&f, 0, 5);
  struct sh_fair_flow *out[4];
  cr_expect_eq(sh_fair_dispatch(&f, 5, out, 4), 3);
  cr_expect_eq(sh_fair_wait_ms(&f, 5), UINT64_MAX);
  sh_fair_free(&f);
}

/* A simulated upload: n backlogged flows each take one block whenever they
 * hold credit or the bucket lets them, and wait otherwise; a dispatch runs
 * when wait_ms says (1 ms granularity, as a loop timer). Returns bytes per
 * flow over [from, to) ms. */
static void simulate(uint64_t rate, int n, const int *backlogged, uint64_t from, uint64_t to,
                     uint64_t *bytes)
{
  struct sh_fair f;
  struct sh_fair_flow *fl = calloc((size_t)n, sizeof *fl);
  sh_fair_init(&f, rate, 0);
  for (int i = 0; i < n; i++)
    bytes[i] = 0;
  uint64_t next = 0;
  struct sh_fair_flow **out = calloc((size_t)n, sizeof *out);
  for (uint64_t now = 0; now < to; now++) {
    if (now >= next) {
      size_t m = sh_fair_dispatch(&f, now, out, (size_t)n);
      (void)m;
    }
    /* each flow sends what it may this millisecond; the order the loop
     * happens to visit them in rotates, as epoll's would */
    for (int j = 0; j < n; j++) {
      int i = (int)((j + now) % (uint64_t)n);
      if (!backlogged[i] || fl[i].queued)
        continue;
      while (sh_fair_take(&f, &fl[i], now, BLK)) {
        if (now >= from)
          bytes[i] += BLK;
      }
      cr_assert_eq(sh_fair_wait(&f, &fl[i], BLK), 0);
    }
    uint64_t w = sh_fair_wait_ms(&f, now);
    next = w == UINT64_MAX ? now + 1 : now + (w ? w : 1);
  }
  sh_fair_free(&f);
  free(out);
  free(fl);
}

Test(fair, shares_within_half_and_twice_over_5s)
{
  /* 20 MiB/s among 8, then 4 MiB/s among 5: every 5 s window */
  uint64_t rates[2] = {20u << 20, 4u << 20};
  int ns[2] = {8, 5};
  for (int r = 0; r < 2; r++) {
    int n = ns[r], bl[8];
    for (int i = 0; i < n; i++)
      bl[i] = 1;
    for (uint64_t w = 0; w < 3; w++) {
      uint64_t bytes[8];
      simulate(rates[r], n, bl, 1000 + w * 5000, 6000 + w * 5000, bytes);
      uint64_t total = 0;
      for (int i = 0; i < n; i++)
        total += bytes[i];
      double fair = (double)total / n;
      for (int i = 0; i < n; i++) {
        cr_expect(bytes[i] >= fair / 2 && bytes[i] <= fair * 2,
                  "rate %d flow %d: %llu bytes, fair share %.0f", r, i,
                  (unsigned long long)bytes[i], fair);
        /* in fact much tighter: within one quantum per round */
        cr_expect(bytes[i] >= fair * 0.95 && bytes[i] <= fair * 1.05,
                  "flow %d: %llu of fair %.0f", i, (unsigned long long)bytes[i], fair);
      }
      /* and the limit holds: 5 s at the rate, plus at most one burst */
      cr_expect_leq(total, rates[r] * 5 + rates[r] / 5 + BLK);
      cr_expect_geq(total, rates[r] * 5 * 95 / 100);
    }
  }
}

Test(fair, idle_flows_leave_their_share_to_others)
{
  int bl[4] = {1, 1, 0, 0};
  uint64_t bytes[4];
  simulate(8u << 20, 4, bl, 1000, 6000, bytes);
  cr_expect_eq(bytes[2] + bytes[3], 0);
  /* the two that want data split the whole limit */
  cr_expect_geq(bytes[0] + bytes[1], (8ull << 20) * 5 * 95 / 100);
  cr_expect(bytes[0] > bytes[1] * 0.95 && bytes[0] < bytes[1] * 1.05);
}

Test(fair, held_limiter_makes_woken_flows_queue)
{
  struct sh_fair f;
  struct sh_fair_flow fl[3] = {{0}};
  sh_fair_init(&f, 1000000, 0); /* burst 200 KB: about 12 blocks */
  sh_fair_take_upto(&f, &fl[0], 0, 1 << 20); /* drain the bucket */
  fl[0].credit = 0;
  for (int i = 0; i < 3; i++)
    cr_assert_eq(sh_fair_wait(&f, &fl[i], BLK), 0);
  struct sh_fair_flow *out[3];
  /* 100 ms refill: a quantum each, nine left in the bucket */
  cr_assert_eq(sh_fair_dispatch(&f, 100, out, 3), 3);
  cr_assert_eq(f.n, 0);
  sh_fair_hold(&f, 1);
  cr_expect(sh_fair_take(&f, out[0], 100, BLK), "its credit is its own");
  cr_expect(!sh_fair_take(&f, out[0], 100, BLK), "the rest waits for the next round");
  cr_expect(!sh_fair_can(&f, out[0], 100, BLK));
  cr_expect_eq(sh_fair_take_upto(&f, out[0], 100, BLK), 0);
  sh_fair_hold(&f, 0);
  cr_expect(sh_fair_take(&f, out[1], 100, BLK), "unheld, an empty queue lets it through");
  sh_fair_free(&f);
}

/* As conn_limit.c runs it: a dispatch every `tick` ms; the woken flows, in
 * the order woken and with the limiter held, send a block on their credit
 * and ask for the next, so they queue again; then dispatch again until a
 * round wakes nobody. Returns bytes per flow over [from, to) ms. */
static void simulate_ticks(uint64_t rate, int n, uint64_t tick, int hold, uint64_t from,
                           uint64_t to, uint64_t *bytes)
{
  struct sh_fair f;
  struct sh_fair_flow *fl = calloc((size_t)n, sizeof *fl);
  struct sh_fair_flow **out = calloc((size_t)n, sizeof *out);
  sh_fair_init(&f, rate, 0);
  for (int i = 0; i < n; i++) {
    bytes[i] = 0;
    cr_assert_eq(sh_fair_wait(&f, &fl[i], BLK), 0);
  }
  for (uint64_t now = tick; now < to; now += tick) {
    size_t m;
    while ((m = sh_fair_dispatch(&f, now, out, (size_t)n))) {
      sh_fair_hold(&f, hold);
      for (size_t k = 0; k < m; k++) {
        int i = (int)(out[k] - fl);
        while (sh_fair_take(&f, &fl[i], now, BLK))
          if (now >= from)
            bytes[i] += BLK;
        cr_assert_eq(sh_fair_wait(&f, &fl[i], BLK), 0);
      }
      sh_fair_hold(&f, 0);
    }
  }
  sh_fair_free(&f);
  free(out);
  free(fl);
}

Test(fair, ticks_of_many_quanta_stay_fair)
{
  /* 20 MiB/s among 8 with a 10 ms timer: 12.8 quanta per tick */
  uint64_t bytes[8], total = 0;
  simulate_ticks(20u << 20, 8, 10, 1, 1000, 6000, bytes);
  for (int i = 0; i < 8; i++)
    total += bytes[i];
  cr_expect_geq(total, (20ull << 20) * 5 * 95 / 100);
  for (int i = 0; i < 8; i++)
    cr_expect(bytes[i] >= total / 8 * 0.95 && bytes[i] <= total / 8 * 1.05,
              "flow %d: %llu of fair %llu", i, (unsigned long long)bytes[i],
              (unsigned long long)(total / 8));
  /* unheld, the first flow woken takes each tick's leftovers */
  simulate_ticks(20u << 20, 8, 10, 0, 1000, 6000, bytes);
  uint64_t hi = 0, lo = UINT64_MAX;
  for (int i = 0; i < 8; i++) {
    hi = bytes[i] > hi ? bytes[i] : hi;
    lo = bytes[i] < lo ? bytes[i] : lo;
  }
  cr_expect_gt(hi, 2 * lo, "without the hold: %llu against %llu", (unsigned long long)hi,
               (unsigned long long)lo);
}
