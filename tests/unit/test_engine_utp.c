/* Sessions over uTP on 127.0.0.1: a transfer with uTP only on both sides;
 * the dial race falling back to uTP when the peer takes TCP connections
 * and drops them (as libtorrent does with TCP turned off); what the peer
 * list remembers; and no uTP at all when it is off. */
#include "test_engine_harness.h"
#include "engine/torrent.h"
#include "peer/utp.h"

static const struct th_file one_file[] = {{"data.bin", 3 * 1024 * 1024 + 777, 0}};

struct run {
  uv_loop_t loop;
  struct th_torrent tt;
  char *seed_dir, *leech_dir;
  shoal_session *seed, *leech;
  shoal_id st, lt;
};

static void start(struct run *r, const struct shoal_settings *seed_set,
                  const struct shoal_settings *leech_set)
{
  uv_loop_init(&r->loop);
  th_torrent_build(&r->tt, "data.bin", one_file, 1, 0, 256 * 1024);
  r->seed_dir = th_tmpdir();
  r->leech_dir = th_tmpdir();
  th_write_content(&r->tt, r->seed_dir);
  r->seed = th_session(&r->loop, seed_set);
  r->st = th_add(r->seed, &r->tt, r->seed_dir, 1);
  cr_assert(th_wait_event(&r->loop, r->seed, r->st, SHOAL_EVENT_FINISHED, 20000));
  r->leech = th_session(&r->loop, leech_set);
  r->lt = th_add(r->leech, &r->tt, r->leech_dir, 0);
  th_add_peer(r->leech, r->lt, shoal_session_port(r->seed));
}

static void finish(struct run *r)
{
  cr_assert(th_wait_event(&r->loop, r->leech, r->lt, SHOAL_EVENT_FINISHED, 60000),
            "leecher completed (%s)", th_event_text(r->leech, r->lt, SHOAL_EVENT_ERROR));
  cr_expect_eq(th_status(r->leech, r->lt).hash_failures, 0);
}

static void stop(struct run *r)
{
  shoal_session *all[2] = {r->seed, r->leech};
  th_close(&r->loop, all, 2);
  cr_expect(th_content_equal(&r->tt, r->leech_dir), "identical content");
  th_rmtree(r->seed_dir);
  th_rmtree(r->leech_dir);
  th_torrent_free(&r->tt);
  cr_expect_eq(uv_loop_close(&r->loop), 0, "every handle was closed");
}

static struct sh_utp_stats utp_stats(shoal_session *s)
{
  struct sh_utp_stats st = {0};
  cr_assert_gt(s->nutp, 0, "a uTP endpoint");
  sh_utp_ep_stats(s->utp[0], &st);
  return st;
}

static int peer_over_utp(shoal_session *s, shoal_id id)
{
  struct shoal_peer_info pi[4];
  size_t n = shoal_torrent_peers(s, id, pi, 4);
  for (size_t i = 0; i < n && i < 4; i++)
    if (pi[i].utp)
      return 1;
  return 0;
}

static int leech_has_utp_peer(void *ud)
{
  struct run *r = ud;
  return peer_over_utp(r->leech, r->lt);
}

Test(engine_utp, utp_only_both_sides, .timeout = 120)
{
  struct shoal_settings set;
  th_settings(&set);
  set.utp_only = 1;
  struct run r;
  start(&r, &set, &set);
  cr_assert(th_run_until(&r.loop, NULL, leech_has_utp_peer, &r, 20000), "a uTP peer");
  finish(&r);
  struct sh_utp_stats ss = utp_stats(r.seed), ls = utp_stats(r.leech);
  /* 3 MiB in packets of about 1.4 kB */
  cr_expect_gt(ss.out, 2000);
  cr_expect_gt(ls.in, 2000);
  cr_expect_eq(ss.dropped_bad + ls.dropped_bad, 0);
  stop(&r);
}

/* The seed takes TCP connections and closes them at once (uTP only): the
 * leecher, dialling both at once, goes on over uTP, and remembers it. */
Test(engine_utp, tcp_dropped_falls_back_to_utp, .timeout = 120)
{
  struct shoal_settings seed_set, leech_set;
  th_settings(&seed_set);
  seed_set.utp_only = 1;
  th_settings(&leech_set);
  struct run r;
  start(&r, &seed_set, &leech_set);
  finish(&r);
  struct sh_utp_stats ss = utp_stats(r.seed);
  cr_expect_gt(ss.out, 2000, "the data came over uTP");
  const struct shoal_torrent *t = sh_torrent_by_id(r.leech, r.lt);
  struct sh_addr a = {.family = 4, .ip = {127, 0, 0, 1}, .port = shoal_session_port(r.seed)};
  const struct sh_peer_entry *e = sh_peers_find((struct sh_peers *)&t->plist, &a);
  cr_assert_not_null(e);
  cr_expect_eq(e->utp, SH_PE_UTP_YES);
  stop(&r);
}

Test(engine_utp, off_means_no_endpoint, .timeout = 60)
{
  struct shoal_settings set;
  th_settings(&set);
  set.utp = 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  shoal_session *s = th_session(&loop, &set);
  cr_expect_eq(s->nutp, 0);
  cr_expect_gt(s->nudp, 0, "the UDP socket is there all the same");
  th_close(&loop, &s, 1);
  cr_expect_eq(uv_loop_close(&loop), 0);
}
