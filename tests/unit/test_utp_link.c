/* The uTP core over simulated links (test_utp_sim.h): transfers both ways
 * complete with every byte right over clean, lossy, reordering and
 * duplicating links, the same way every time for a seed; sequence numbers
 * wrap; and over a bottleneck with a deep queue, LEDBAT keeps its queueing
 * delay near the 100 ms target, and gives way to a loss-driven flow. */
#include "test_utp_sim.h"

static void expect_transfer(struct sim *s, uint64_t until)
{
  sim_run(s, until, sim_both_done);
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(s->app[i].got, s->app[i].expect, "side %d got %llu of %llu", i,
                 (unsigned long long)s->app[i].got, (unsigned long long)s->app[i].expect);
    cr_assert(!s->app[i].verify_failed, "side %d read wrong bytes", i);
    cr_assert(!s->app[i].got_err, "side %d error %d", i, s->app[i].err);
  }
}

static void set_links(struct sim *s, double rate, uint64_t delay, double loss, double dup,
                      double reorder)
{
  for (int i = 0; i < 2; i++) {
    s->link[i].rate = rate;
    s->link[i].delay_us = delay;
    s->link[i].loss = loss;
    s->link[i].dup = dup;
    s->link[i].reorder = reorder;
    s->link[i].reorder_us = 30000;
    s->link[i].qlimit = rate > 0 ? (uint64_t)(rate * 500000) : 0;
  }
}

Test(utp_link, clean_both_ways)
{
  struct sim s;
  sim_init(&s, 1, NULL);
  set_links(&s, 10.0, 10000, 0, 0, 0); /* 10 MB/s, 10 ms each way */
  sim_connect(&s, 2 << 20, 1 << 20);
  expect_transfer(&s, 60000000);
  struct sh_utp_stats st;
  sh_utp_stats(s.ep[0], &st);
  cr_expect_eq(st.timeouts, 0);
  /* 3 MiB over 10 MB/s links in well under the 60 s allowed */
  cr_expect_lt(s.now, 1000000 + 5000000, "took %llu us", (unsigned long long)s.now);
  sim_free(&s);
}

struct run_result {
  uint64_t now, sent0, sent1, dropped0, dropped1;
};

static struct run_result lossy_run(uint64_t seed)
{
  struct sim s;
  sim_init(&s, seed, NULL);
  /* 5 % loss, 5 % reordered by up to 30 ms, 2 % duplicated, both ways */
  set_links(&s, 4.0, 20000, 0.05, 0.02, 0.05);
  sim_connect(&s, 3 << 20, 1 << 20);
  expect_transfer(&s, 600000000);
  struct sh_utp_stats st;
  sh_utp_stats(s.ep[0], &st);
  cr_expect_gt(st.resent, 0);
  struct run_result r = {s.now, s.link[0].sent, s.link[1].sent, s.link[0].dropped,
                         s.link[1].dropped};
  sim_free(&s);
  return r;
}

Test(utp_link, lossy_reordering_duplicating_deterministic)
{
  struct run_result a = lossy_run(42), b = lossy_run(42);
  cr_assert_eq(a.now, b.now, "the same seed ran differently");
  cr_assert_eq(a.sent0, b.sent0);
  cr_assert_eq(a.sent1, b.sent1);
  cr_assert_eq(a.dropped0, b.dropped0);
  struct run_result c = lossy_run(7);
  cr_expect(c.now != a.now || c.sent0 != a.sent0, "another seed should differ");
}

Test(utp_link, many_seeds_heavy_loss)
{
  for (uint64_t seed = 100; seed < 110; seed++) {
    struct sim s;
    sim_init(&s, seed, NULL);
    set_links(&s, 2.0, 5000, 0.10, 0.05, 0.10);
    sim_connect(&s, 512 << 10, 256 << 10);
    expect_transfer(&s, 900000000);
    sim_free(&s);
  }
}

static uint16_t first_seq;
static void note_syn(struct sim *s, int from, const uint8_t *p, size_t n)
{
  if (from == 0 && (p[0] >> 4) == SH_UTP_SYN)
    first_seq = sh_utp_rd16(p + 16);
}

/* A seed whose first sequence number lies just below 2^16: the transfer
 * crosses the wrap in both directions' sequence numbers and acks. */
Test(utp_link, sequence_numbers_wrap)
{
  struct sim s;
  uint64_t seed;
  for (seed = 1; seed < 100000; seed++) {
    sim_init(&s, seed, NULL);
    s.capture = note_syn;
    sim_connect(&s, 4 << 20, 1 << 20);
    if (first_seq >= 0xffff - 400)
      break;
    sim_free(&s);
  }
  cr_assert_lt(seed, 100000);
  set_links(&s, 10.0, 2000, 0.03, 0.01, 0.03);
  expect_transfer(&s, 600000000);
  cr_assert_gt(s.link[0].sent, 3000u, "thousands of packets, past the wrap");
  sim_free(&s);
}

Test(utp_link, close_after_transfer)
{
  struct sim s;
  sim_init(&s, 5, NULL);
  set_links(&s, 10.0, 5000, 0.02, 0, 0);
  sim_connect(&s, 1 << 20, 0);
  expect_transfer(&s, 60000000);
  /* the writer closes: the reader hears of the end after all the data */
  sh_utp_close(s.app[0].c, 0, s.now);
  s.app[0].c = NULL;
  sim_run(&s, s.now + 10000000, NULL);
  cr_assert(s.app[1].got_err);
  cr_assert_eq(s.app[1].err, SH_ECLOSED);
  sh_utp_close(s.app[1].c, 0, s.now);
  sim_run(&s, s.now + 60000000, NULL);
  struct sh_utp_stats a, b;
  sh_utp_stats(s.ep[0], &a);
  sh_utp_stats(s.ep[1], &b);
  cr_assert_eq(a.conns, 0);
  cr_assert_eq(b.conns, 0);
  sim_free(&s);
}

/* A 1 MB/s link with a 1 s drop-tail queue, like a modem's: uTP alone
 * keeps the queue near its 100 ms target and uses the link; once a Reno
 * flow joins, uTP backs off to a small share. */
Test(utp_link, ledbat_bottleneck_yields)
{
  struct sim s;
  sim_init(&s, 11, NULL);
  set_links(&s, 1.0, 25000, 0, 0, 0);
  s.link[0].qlimit = 1000000;
  s.link[1].rate = 0; /* acks do not queue */
  sim_connect(&s, 1ull << 40, 0);
  s.app[1].expect = 0;
  uint64_t t0 = s.now;
  sim_run(&s, t0 + 10000000, NULL);
  /* measure the next 20 s of uTP alone */
  uint64_t got0 = s.app[1].got;
  s.link[0].qdelay_sum = 0;
  s.link[0].qdelay_n = 0;
  sim_run(&s, t0 + 30000000, NULL);
  double rate_alone = (double)(s.app[1].got - got0) / 20.0;
  double qdelay_alone = s.link[0].qdelay_sum / (double)s.link[0].qdelay_n / 1000.0;
  cr_log_info("uTP alone: %.0f kB/s, mean queueing delay %.1f ms", rate_alone / 1000,
              qdelay_alone);
  cr_expect_gt(rate_alone, 0.85e6, "uTP alone uses the link: %.0f B/s", rate_alone);
  cr_expect(qdelay_alone > 60 && qdelay_alone < 140, "queueing delay %.1f ms", qdelay_alone);
  /* a loss-driven flow joins */
  s.reno_on = s.reno_ss = 1;
  s.reno_cwnd = 2;
  reno_fill(&s);
  sim_run(&s, t0 + 40000000, NULL);
  uint64_t got1 = s.app[1].got, reno1 = s.reno_sent_bytes;
  sim_run(&s, t0 + 60000000, NULL);
  double utp_share = (double)(s.app[1].got - got1);
  double reno_share = (double)(s.reno_sent_bytes - reno1);
  cr_log_info("with Reno: uTP %.0f kB/s, Reno %.0f kB/s", utp_share / 20000,
              reno_share / 20000);
  cr_expect_lt(utp_share, 0.2 * (utp_share + reno_share), "uTP took %.0f of %.0f bytes",
               utp_share, utp_share + reno_share);
  sim_free(&s);
}
