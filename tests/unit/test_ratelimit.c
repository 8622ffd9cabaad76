/* Token-bucket rate limiter with a fake clock: bursts, waits, long-run
 * averages within 2 % of the limit at low and high rates, refunds, two
 * limits combined, clock oddities. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdlib.h>

#include "base/ratelimit.h"

Test(ratelimit, unlimited)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, 0, 0, 1000);
  cr_expect_eq(sh_ratelimit_take(&rl, 1000, 1ull << 40), 1ull << 40);
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 1000, 1ull << 40), 0);
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 5), 5, "time is irrelevant");
}

Test(ratelimit, burst_then_rate)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, 100000, 50000, 0);
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 1000000), 50000, "a full bucket to start");
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 1000000), 0);
  cr_expect_eq(sh_ratelimit_take(&rl, 10, 1000000), 1000, "100 kB/s = 1000 bytes per 10 ms");
  cr_expect_eq(sh_ratelimit_take(&rl, 10, 1), 0);
  /* a long pause refills only up to the burst */
  cr_expect_eq(sh_ratelimit_take(&rl, 3600000, 1000000), 50000);
  /* partial grants */
  cr_expect_eq(sh_ratelimit_take(&rl, 3600100, 3000), 3000);
  cr_expect_eq(sh_ratelimit_take(&rl, 3600100, 10000), 7000);
}

Test(ratelimit, default_burst)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, 10 * 1000 * 1000, 0, 0);
  cr_expect_eq(rl.burst, 2 * 1000 * 1000, "200 ms worth");
  sh_ratelimit_init(&rl, 1000, 0, 0);
  cr_expect_eq(rl.burst, SH_RATELIMIT_MIN_BURST, "at least two blocks");
}

Test(ratelimit, wait_ms_is_exact)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, 1000, 2000, 0); /* 1 byte per ms */
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 5000), 2000);
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 0, 500), 500);
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 200, 500), 300);
  cr_expect_eq(sh_ratelimit_take(&rl, 499, 500), 499, "one ms early: one byte short");
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 499, 500), 500);
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 499, 1 << 20), 2000, "capped to the burst");
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 499, 0), 0);
  /* wait_ms does not change the bucket */
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 499, 500), 500);
  /* fractional rates: 3 bytes/s needs 334 ms for one byte */
  sh_ratelimit_init(&rl, 3, 100, 0);
  sh_ratelimit_take(&rl, 0, 100);
  cr_expect_eq(sh_ratelimit_wait_ms(&rl, 0, 1), 334);
  cr_expect_eq(sh_ratelimit_take(&rl, 333, 1), 0);
  cr_expect_eq(sh_ratelimit_take(&rl, 334, 1), 1);
}

/* A sender that always has data: asks for `chunk` bytes, and when refused
 * sleeps for wait_ms (at least `tick`), for `seconds` of fake time. Returns
 * the average rate after the initial burst. */
static double run(uint64_t rate, uint64_t burst, uint64_t chunk, uint64_t tick, uint64_t seconds,
                  unsigned seed)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, rate, burst, 0);
  uint64_t now = 0, total = 0, end = seconds * 1000;
  srand(seed);
  while (now < end) {
    uint64_t want = chunk / 2 + (uint64_t)rand() % chunk; /* uneven writes */
    uint64_t g = sh_ratelimit_take(&rl, now, want);
    total += g;
    if (g < want) {
      uint64_t w = sh_ratelimit_wait_ms(&rl, now, want - g);
      now += w > tick ? w : tick;
    }
  }
  return (double)(total - rl.burst) / (double)seconds;
}

static void expect_within_2pct(double got, uint64_t rate, const char *what)
{
  double err = got / (double)rate - 1;
  cr_log_info("%s: %.4f %% off", what, err * 100);
  cr_expect(err > -0.02 && err < 0.02, "%s: %.0f B/s for a %llu B/s limit (%.2f %%)", what, got,
            (unsigned long long)rate, err * 100);
}

Test(ratelimit, long_run_average_within_2_percent)
{
  expect_within_2pct(run(1000000, 0, 16397, 1, 120, 1), 1000000, "1 MB/s, 16 KiB messages");
  expect_within_2pct(run(50000, 0, 16397, 10, 600, 2), 50000, "50 kB/s, 10 ms timer");
  expect_within_2pct(run(1000, 0, 16397, 5, 3600, 3), 1000, "1 kB/s, partial grants");
  expect_within_2pct(run(1000000000, 0, 1 << 20, 1, 30, 4), 1000000000, "1 GB/s, 1 MiB writes");
  expect_within_2pct(run(123457, 20000, 4000, 3, 600, 5), 123457, "odd rate, small burst");
}

Test(ratelimit, refund_and_set)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, 1000, 10000, 0);
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 8000), 8000);
  sh_ratelimit_refund(&rl, 3000); /* the socket took only 5000 */
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 100000), 5000);
  sh_ratelimit_refund(&rl, 1ull << 60);
  cr_expect_eq(sh_ratelimit_take(&rl, 0, 100000), 10000, "never past the burst");
  /* raising the rate applies from now on; earned tokens are kept */
  sh_ratelimit_set(&rl, 10000, 10000, 500); /* earned 500 bytes at the old rate */
  cr_expect_eq(sh_ratelimit_take(&rl, 600, 100000), 500 + 1000);
  /* lowering the burst caps the bucket */
  sh_ratelimit_take(&rl, 10000, 0);
  sh_ratelimit_set(&rl, 10000, 100, 10000);
  cr_expect_eq(sh_ratelimit_take(&rl, 10000, 100000), 100);
  /* switching to unlimited and back */
  sh_ratelimit_set(&rl, 0, 0, 11000);
  cr_expect_eq(sh_ratelimit_take(&rl, 11000, 999999), 999999);
  sh_ratelimit_set(&rl, 1000, 1000, 12000);
  cr_expect_leq(sh_ratelimit_take(&rl, 12000, 999999), 1000);
}

Test(ratelimit, two_limits_combined)
{
  struct sh_ratelimit torrent, session;
  sh_ratelimit_init(&torrent, 10000, 10000, 0);
  sh_ratelimit_init(&session, 4000, 4000, 0);
  cr_expect_eq(sh_ratelimit_take2(&torrent, &session, 0, 100000), 4000, "the tighter one");
  /* the torrent got back what the session refused */
  cr_expect_eq(sh_ratelimit_take(&torrent, 0, 100000), 6000);
  cr_expect_eq(sh_ratelimit_wait2_ms(&torrent, &session, 0, 1000), 250,
               "torrent 100 ms, session 250 ms");
  cr_expect_eq(sh_ratelimit_take2(NULL, &session, 250, 5000), 1000);
  cr_expect_eq(sh_ratelimit_take2(NULL, NULL, 250, 5000), 5000);
  cr_expect_eq(sh_ratelimit_wait2_ms(NULL, NULL, 0, 5000), 0);
}

Test(ratelimit, clock_oddities_and_extremes)
{
  struct sh_ratelimit rl;
  sh_ratelimit_init(&rl, 1000, 1000, 5000);
  sh_ratelimit_take(&rl, 5000, 1000);
  /* the clock steps back: no credit, and no wrap-around into a huge grant */
  cr_expect_eq(sh_ratelimit_take(&rl, 1000, 1000), 0);
  cr_expect_eq(sh_ratelimit_take(&rl, 5100, 1000), 100);
  /* an enormous pause and enormous rates stay in range */
  cr_expect_eq(sh_ratelimit_take(&rl, UINT64_MAX, UINT64_MAX), 1000);
  sh_ratelimit_init(&rl, UINT64_MAX, UINT64_MAX, 0);
  cr_expect_eq(rl.rate, SH_RATELIMIT_MAX_RATE);
  cr_expect_eq(rl.burst, SH_RATELIMIT_MAX_BURST);
  cr_expect_eq(sh_ratelimit_take(&rl, 0, UINT64_MAX), SH_RATELIMIT_MAX_BURST);
  cr_expect_eq(sh_ratelimit_take(&rl, UINT64_MAX / 2, UINT64_MAX), SH_RATELIMIT_MAX_BURST);
}
