/* Fair shares under a limit, through the whole engine over the in-memory
 * transport: a seed whose upload is limited (the session's limit, or the
 * torrent's own) serves four leechers that all want data; over a 5 s
 * window each gets between half and twice its fair share (issue: the old
 * limiter gave one leecher 98 %), and the limit holds. */
#include "test_mem_peer.h"

#define PIECE 262144u
#define NLEECH 4
#define RATE (2u << 20)

struct swarm {
  uv_loop_t loop;
  struct th_torrent tt;
  char *sdir, *ldir[NLEECH];
  shoal_session *seed, *leech[NLEECH];
  shoal_id st, lt[NLEECH];
};

static void swarm_up(struct swarm *w, int64_t session_rate)
{
  /* 32 MiB: at 2 MiB/s nobody finishes within the test */
  static const struct th_file files[] = {{"fair.bin", 32u << 20, 0}};
  memset(w, 0, sizeof *w);
  th_nev = 0;
  uv_loop_init(&w->loop);
  th_torrent_build(&w->tt, "fair.bin", files, 1, 0, PIECE);
  w->sdir = th_tmpdir();
  th_write_content(&w->tt, w->sdir);
  struct shoal_settings set;
  th_settings_mem(&set);
  set.upload_rate = session_rate;
  w->seed = th_session(&w->loop, &set);
  w->st = th_add(w->seed, &w->tt, w->sdir, 1);
  cr_assert(th_wait_event(&w->loop, w->seed, w->st, SHOAL_EVENT_FINISHED, 20000));
  th_settings_mem(&set);
  for (int i = 0; i < NLEECH; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "192.0.2.%d", 20 + i);
    w->ldir[i] = th_tmpdir();
    w->leech[i] = th_session(&w->loop, &set);
    w->lt[i] = th_add(w->leech[i], &w->tt, w->ldir[i], 0);
    th_link(&w->loop, w->leech[i], w->lt[i], ip, w->seed, "192.0.2.1");
  }
}

static void swarm_down(struct swarm *w)
{
  shoal_session *all[NLEECH + 1] = {w->seed};
  for (int i = 0; i < NLEECH; i++)
    all[i + 1] = w->leech[i];
  th_close(&w->loop, all, NLEECH + 1);
  cr_expect_eq(uv_loop_close(&w->loop), 0);
  th_rmtree(w->sdir);
  for (int i = 0; i < NLEECH; i++)
    th_rmtree(w->ldir[i]);
  th_torrent_free(&w->tt);
}

static int never(void *ud)
{
  (void)ud;
  return 0;
}

/* What the seed has sent to each peer so far, by address. */
static void uploaded(struct swarm *w, uint64_t out[NLEECH])
{
  struct shoal_peer_info pi[16];
  size_t n = shoal_torrent_peers(w->seed, w->st, pi, 16);
  cr_assert_eq(n, NLEECH, "the seed has its %d leechers (%zu)", NLEECH, n);
  for (int i = 0; i < NLEECH; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "192.0.2.%d:", 20 + i);
    out[i] = 0;
    for (size_t k = 0; k < n; k++)
      if (!strncmp(pi[k].addr, ip, strlen(ip)))
        out[i] = pi[k].uploaded;
  }
}

static uint64_t sent_over(struct swarm *w, uint64_t ms, double *secs, uint64_t got[NLEECH]);

static void expect_fair(struct swarm *w)
{
  /* 1.5 s to get going (handshakes, unchokes), then a 5 s window */
  th_run_until(&w->loop, NULL, never, NULL, 1500);
  uint64_t got[NLEECH];
  double secs;
  uint64_t total = sent_over(w, 5000, &secs, got);
  double fair = (double)total / NLEECH;
  for (int i = 0; i < NLEECH; i++)
    cr_expect(got[i] >= fair / 2 && got[i] <= fair * 2,
              "leecher %d got %llu bytes in %.1f s; fair share %.0f", i,
              (unsigned long long)got[i], secs, fair);
  /* the limit holds (plus one burst of 200 ms), and is used */
  cr_expect_leq(total, (uint64_t)(RATE * (secs + 0.25)), "%llu bytes in %.1f s",
                (unsigned long long)total, secs);
  cr_expect_geq(total, (uint64_t)(RATE * secs * 0.8), "%llu bytes in %.1f s",
                (unsigned long long)total, secs);
}

Test(engine_fair, session_limit_is_shared_fairly, .timeout = 120)
{
  struct swarm w;
  swarm_up(&w, RATE);
  expect_fair(&w);
  swarm_down(&w);
}

Test(engine_fair, torrent_limit_is_shared_fairly, .timeout = 120)
{
  struct swarm w;
  swarm_up(&w, 0);
  cr_assert_eq(shoal_torrent_set_rates(w.seed, w.st, RATE, 0), 0);
  expect_fair(&w);
  cr_expect_eq(shoal_torrent_set_rates(w.seed, 9999, RATE, 0), -ENOENT);
  swarm_down(&w);
}

/* What the seed sends to each leecher (got) and to all over ms
 * milliseconds, which took secs by the loop's clock. */
static uint64_t sent_over(struct swarm *w, uint64_t ms, double *secs, uint64_t got[NLEECH])
{
  uint64_t a[NLEECH], b[NLEECH], total = 0;
  uploaded(w, a);
  uv_update_time(&w->loop);
  uint64_t t0 = uv_now(&w->loop);
  th_run_until(&w->loop, NULL, never, NULL, ms);
  uploaded(w, b);
  *secs = (double)(uv_now(&w->loop) - t0) / 1000.0;
  for (int i = 0; i < NLEECH; i++)
    total += got[i] = b[i] - a[i];
  return total;
}

/* Transmission's honorsSessionLimits: a torrent that does not honour the
 * session's limits answers to its own only, and goes back under both when
 * told to. Turned off while its peers wait in the session's queue, so
 * those have to leave it. */
Test(engine_fair, torrent_may_ignore_session_limits, .timeout = 120)
{
  const uint64_t slow = 128u << 10;
  struct swarm w;
  swarm_up(&w, (int64_t)slow);
  cr_assert_eq(shoal_torrent_set_rates(w.seed, w.st, RATE, 0), 0);
  th_run_until(&w.loop, NULL, never, NULL, 1500);
  cr_assert_eq(shoal_torrent_honor_session_limits(w.seed, w.st, 0), 0);
  expect_fair(&w);
  cr_assert_eq(shoal_torrent_honor_session_limits(w.seed, w.st, 1), 0);
  th_run_until(&w.loop, NULL, never, NULL, 1000);
  double secs;
  uint64_t got[NLEECH], total = sent_over(&w, 3000, &secs, got);
  /* the session's limit again, give or take a block each peer had leave for */
  cr_expect_leq(total, (uint64_t)(slow * (secs + 0.25)) + NLEECH * 16384u,
                "%llu bytes in %.1f s", (unsigned long long)total, secs);
  cr_expect_eq(shoal_torrent_honor_session_limits(w.seed, 9999, 0), -ENOENT);
  swarm_down(&w);
}
