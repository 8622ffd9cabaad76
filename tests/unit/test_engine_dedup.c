/* No redundant connections, over the in-memory transport: a peer that
 * dialled us and told us where it listens (BEP 10 `p`) is not dialled
 * again at that address; two sessions that dial each other at once keep
 * one connection, the same one on both sides; a leecher that completes
 * hangs up on the seeds at once. */
#include "test_mem_peer.h"

#define PIECE 65536u

struct duo {
  uv_loop_t loop;
  struct th_torrent tt;
  char *sdir, *ldir;
  shoal_session *seed, *leech;
  shoal_id st, lt;
};

static void duo_up(struct duo *d)
{
  static const struct th_file files[] = {{"d.bin", 20 * PIECE + 7, 0}};
  memset(d, 0, sizeof *d);
  th_nev = 0;
  uv_loop_init(&d->loop);
  th_torrent_build(&d->tt, "d.bin", files, 1, 0, PIECE);
  d->sdir = th_tmpdir();
  d->ldir = th_tmpdir();
  th_write_content(&d->tt, d->sdir);
  struct shoal_settings set;
  th_settings_mem(&set);
  d->seed = th_session(&d->loop, &set);
  d->leech = th_session(&d->loop, &set);
  d->st = th_add(d->seed, &d->tt, d->sdir, 1);
  cr_assert(th_wait_event(&d->loop, d->seed, d->st, SHOAL_EVENT_FINISHED, 20000));
}

static void duo_down(struct duo *d)
{
  shoal_session *all[2] = {d->seed, d->leech};
  th_close(&d->loop, all, 2);
  cr_expect_eq(uv_loop_close(&d->loop), 0);
  th_rmtree(d->sdir);
  th_rmtree(d->ldir);
  th_torrent_free(&d->tt);
}

static int never(void *ud)
{
  (void)ud;
  return 0;
}

Test(engine_dedup, an_incoming_peer_is_not_dialled_at_its_listen_address, .timeout = 60)
{
  struct duo d;
  duo_up(&d);
  struct shoal_status st = th_status(d.seed, d.st);
  /* a raw peer dials the seed from 127.0.0.5:40000 and says it listens
   * on port 6999 (handshake with the extension bit, then `p`) */
  struct th_mpeer m;
  th_mpeer_accept(&m, &d.loop, d.seed, "127.0.0.5", 40000);
  uint8_t hs[68];
  th_handshake(hs, st.info_hash, "-XX0000-listener0001", 0);
  hs[25] |= 0x10; /* BEP 10 */
  th_mpeer_send(&m, hs, 68);
  static const char eh[] = "d1:pi6999ee";
  uint8_t msg[64];
  uint32_t len = (uint32_t)(2 + strlen(eh));
  sh_wr32(msg, len);
  msg[4] = 20;
  msg[5] = 0;
  memcpy(msg + 6, eh, strlen(eh));
  th_mpeer_send(&m, msg, 4 + len);
  th_run_until(&d.loop, NULL, never, NULL, 300);
  cr_assert_eq(th_status(d.seed, d.st).peers, 1);
  struct shoal_torrent *t = sh_torrent_by_id(d.seed, d.st);
  struct sh_addr listen = th_addr("127.0.0.5", 6999);
  struct sh_peer_entry *e = sh_peers_find(&t->plist, &listen);
  cr_assert_not_null(e, "its listen address is known");
  cr_expect_eq(e->state, SH_PE_CONNECTED, "and counted as connected");
  /* a tracker (or the user) names that address: no second connection */
  struct sockaddr_in sin;
  uv_ip4_addr("127.0.0.5", 6999, &sin);
  shoal_torrent_add_peer(d.seed, d.st, (struct sockaddr *)&sin);
  cr_expect_eq(t->connecting, 0, "not dialled");
  /* once it hangs up, the address may be dialled again later */
  th_mpeer_close(&m, &d.loop);
  th_run_until(&d.loop, NULL, never, NULL, 300);
  e = sh_peers_find(&t->plist, &listen);
  cr_assert_not_null(e);
  cr_expect_neq(e->state, SH_PE_CONNECTED);
  duo_down(&d);
}

/* Links leech -> seed and seed -> leech in the same loop turn. */
static void cross_link(struct duo *d)
{
  struct sh_addr la = th_addr("192.0.2.2", 6881), sa = th_addr("192.0.2.1", 6881);
  struct sh_transport *a, *b, *c, *e;
  cr_assert_eq(sh_memio_pair(&d->loop, &la, &sa, &a, &b), 0);
  cr_assert_eq(sh_memio_pair(&d->loop, &sa, &la, &c, &e), 0);
  sh_session_accept(d->seed, b);
  sh_session_accept(d->leech, e);
  cr_assert_eq(sh_session_connect(d->leech, sh_torrent_by_id(d->leech, d->lt), a), 0);
  cr_assert_eq(sh_session_connect(d->seed, sh_torrent_by_id(d->seed, d->st), c), 0);
}

Test(engine_dedup, peers_dialling_each_other_keep_the_same_connection, .timeout = 60)
{
  struct duo d;
  duo_up(&d);
  /* a leecher, so the seed does not hang up on a seed */
  d.lt = th_add(d.leech, &d.tt, d.ldir, 0);
  shoal_torrent_set_rates(d.seed, d.st, 64 * 1024, 0); /* keep it downloading */
  cross_link(&d);
  th_run_until(&d.loop, NULL, never, NULL, 1000);
  struct shoal_peer_info a[4], b[4];
  size_t na = shoal_torrent_peers(d.seed, d.st, a, 4);
  size_t nb = shoal_torrent_peers(d.leech, d.lt, b, 4);
  cr_expect_eq(na, 1, "the seed kept one connection (%zu)", na);
  cr_expect_eq(nb, 1, "the leecher kept one connection (%zu)", nb);
  if (na == 1 && nb == 1)
    cr_expect_neq(a[0].incoming, b[0].incoming, "the same connection, seen from both ends");
  /* and the download goes on over it */
  shoal_torrent_set_rates(d.seed, d.st, 0, 0);
  cr_expect(th_wait_event(&d.loop, d.leech, d.lt, SHOAL_EVENT_FINISHED, 30000));
  duo_down(&d);
}

Test(engine_dedup, a_finished_leecher_hangs_up_on_seeds_at_once, .timeout = 60)
{
  struct duo d;
  duo_up(&d);
  d.lt = th_add(d.leech, &d.tt, d.ldir, 0);
  th_link(&d.loop, d.leech, d.lt, "192.0.2.2", d.seed, "192.0.2.1");
  cr_assert(th_wait_event(&d.loop, d.leech, d.lt, SHOAL_EVENT_FINISHED, 30000));
  /* the event is queued by the completion itself: the close came first */
  cr_expect_eq(th_status(d.leech, d.lt).peers, 0, "no seed left connected");
  cr_expect(th_content_equal(&d.tt, d.ldir));
  duo_down(&d);
}
