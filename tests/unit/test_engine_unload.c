/* shoal_torrent_unload and settings.on_unknown_torrent: a seed taken out
 * of its session is brought back by the app when a peer's handshake names
 * it, by info-hash in plaintext and by HASH('req2', info-hash) when
 * encrypted, and the peer downloads the same bytes; an app that does not
 * bring it back leaves the peer refused. */
#include "test_engine_harness.h"

#define PIECE 16384

static struct {
  shoal_session *seed;
  const struct th_torrent *tt;
  const char *dir;
  int calls, by_ih, by_req2, bring_back;
  shoal_id id;
} app;

static int on_unknown(void *ud, const uint8_t *ih, const uint8_t *req2)
{
  (void)ud;
  app.calls++;
  app.by_ih += ih != NULL;
  app.by_req2 += req2 != NULL;
  if (!app.bring_back)
    return -1;
  app.id = th_add(app.seed, app.tt, app.dir, 1); /* checks, then seeds */
  return 0;
}

static int never(void *ud)
{
  (void)ud;
  return 0;
}

static void unload_then_serve(int encryption, int bring_back)
{
  static const struct th_file f[] = {{"u.bin", 9 * PIECE + 777, 0}};
  struct th_torrent tt;
  uv_loop_t loop;
  uv_loop_init(&loop);
  th_torrent_build(&tt, "u.bin", f, 1, 0, PIECE);
  char *sdir = th_tmpdir(), *ldir = th_tmpdir();
  th_write_content(&tt, sdir);
  th_nev = 0;
  memset(&app, 0, sizeof app);
  app.tt = &tt;
  app.dir = sdir;
  app.bring_back = bring_back;
  struct shoal_settings set;
  th_settings(&set);
  set.encryption = encryption;
  set.on_unknown_torrent = on_unknown;
  shoal_session *seed = app.seed = th_session(&loop, &set);
  set.on_unknown_torrent = NULL;
  shoal_session *leech = th_session(&loop, &set);
  shoal_id sid = th_add(seed, &tt, sdir, 1);
  cr_assert(th_wait_event(&loop, seed, sid, SHOAL_EVENT_FINISHED, 20000));
  cr_assert_eq(shoal_torrent_unload(seed, sid), 0);
  cr_assert_eq(shoal_torrent_status(seed, sid, &(struct shoal_status){0}), -ENOENT,
               "the id is gone at once");
  cr_assert(th_wait_event(&loop, seed, sid, SHOAL_EVENT_REMOVED, 20000), "unloaded");
  shoal_id lid = th_add(leech, &tt, ldir, 0);
  th_add_peer(leech, lid, shoal_session_port(seed));
  if (bring_back) {
    cr_assert(th_wait_event(&loop, leech, lid, SHOAL_EVENT_FINISHED, 30000), "downloaded");
    cr_expect(th_content_equal(&tt, ldir), "the same bytes");
    cr_expect_eq(app.calls, 1, "asked once: the torrent is in the session after");
    cr_expect_eq(encryption == SHOAL_ENC_OFF ? app.by_ih : app.by_req2, 1,
                 "named by %s", encryption == SHOAL_ENC_OFF ? "info-hash" : "req2 hash");
  } else {
    th_run_until(&loop, NULL, never, NULL, 1500);
    cr_expect_geq(app.calls, 1, "the app was asked");
    cr_expect_eq(th_status(leech, lid).have_bytes, 0, "refused: nothing came");
  }
  shoal_session *all[2] = {seed, leech};
  th_close(&loop, all, 2);
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(sdir);
  th_rmtree(ldir);
  th_torrent_free(&tt);
}

Test(engine_unload, plaintext_handshake_brings_it_back_by_info_hash, .timeout = 60)
{
  unload_then_serve(SHOAL_ENC_OFF, 1);
}

Test(engine_unload, encrypted_handshake_brings_it_back_by_req2, .timeout = 60)
{
  unload_then_serve(SHOAL_ENC_REQUIRE, 1);
}

Test(engine_unload, an_app_that_declines_leaves_the_peer_refused, .timeout = 60)
{
  unload_then_serve(SHOAL_ENC_PREFER, 0);
}
