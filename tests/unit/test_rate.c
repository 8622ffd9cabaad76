/* The smoothed rate: the 1/4-weight moving average the engine has used for
 * peers and torrents, tick by tick. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "base/rate.h"

Test(rate, first_tick_weighs_a_quarter)
{
  struct sh_rate r = {0};
  cr_expect_eq(sh_rate_get(&r), 0);
  sh_rate_add(&r, 600);
  sh_rate_add(&r, 400);
  cr_expect_eq(sh_rate_tick(&r, 1000), 250, "1000 B/s folded in at 1/4");
  cr_expect_eq(r.tick, 0, "the next tick starts empty");
  cr_expect_eq(sh_rate_get(&r), 250);
}

Test(rate, steady_input_settles_just_under)
{
  struct sh_rate r = {0};
  for (int i = 0; i < 100; i++) {
    sh_rate_add(&r, 1000000);
    sh_rate_tick(&r, 1000);
  }
  /* flooring leaves it at most 3 bytes/s low, never above */
  cr_expect_leq(sh_rate_get(&r), 1000000);
  cr_expect_geq(sh_rate_get(&r), 1000000 - 3);
}

Test(rate, silence_decays_by_three_quarters_a_tick)
{
  struct sh_rate r = {0, 1 << 20};
  uint64_t want = 1 << 20;
  for (int i = 1; i <= 8; i++) {
    want = want * 3 / 4;
    cr_expect_eq(sh_rate_tick(&r, 1000), want, "tick %d", i);
  }
  /* 8 s of silence: about a tenth left (0.75^8 = 0.100) */
  cr_expect_lt(sh_rate_get(&r), (1 << 20) / 9);
  cr_expect_gt(sh_rate_get(&r), (1 << 20) / 11);
}

Test(rate, bytes_per_second_whatever_the_tick)
{
  struct sh_rate a = {0}, b = {0};
  sh_rate_add(&a, 500);
  sh_rate_tick(&a, 500); /* 500 bytes in half a second */
  sh_rate_add(&b, 2000);
  sh_rate_tick(&b, 2000); /* 2000 bytes in two seconds */
  cr_expect_eq(sh_rate_get(&a), 250);
  cr_expect_eq(sh_rate_get(&b), 250);
  /* a zero-length tick counts as a millisecond, not a division by zero */
  struct sh_rate z = {0};
  sh_rate_add(&z, 4);
  cr_expect_eq(sh_rate_tick(&z, 0), 1000);
}

Test(rate, same_numbers_as_the_engine_formula)
{
  /* torrent_swarm.c and torrent_peer.c: rate = (rate*3 + tick*1000/dt)/4 */
  struct sh_rate r = {0};
  uint64_t old = 0;
  srand(3);
  for (int i = 0; i < 10000; i++) {
    uint64_t bytes = (uint64_t)rand() * (uint64_t)(rand() % 64);
    uint64_t dt = (uint64_t)(rand() % 3000);
    sh_rate_add(&r, bytes);
    uint64_t d = dt ? dt : 1;
    old = (old * 3 + bytes * 1000 / d) / 4;
    cr_assert_eq(sh_rate_tick(&r, dt), old, "step %d", i);
  }
}
