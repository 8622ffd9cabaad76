/* Endgame over the in-memory transport: once every block is asked of some
 * peer, another peer gets duplicates only a few at a time (the pipeline of
 * a peer in endgame is SH_ENDGAME_DEPTH = 4 requests), and each one that
 * arrives cancels its twin. A leecher asks peer A for all 12 blocks of a
 * torrent; A never answers. Peer B then offers everything: it must never
 * hold more than 4 unanswered requests, and the download still completes
 * through B, A's requests cancelled as their twins arrive. */
#include "test_mem_peer.h"

#define PIECE 65536u /* 4 blocks of 16 KiB */
#define NBLOCKS 12

struct raw {
  struct th_mpeer m;
  const struct th_torrent *tt;
  struct {
    uint32_t piece, begin, len;
  } req[64];
  int n;       /* requests received and neither answered nor cancelled */
  int max_n;
  int total;   /* requests received */
};

static void on_msg(struct th_mpeer *m, int id, const uint8_t *pl, uint32_t len)
{
  struct raw *r = m->ud;
  if (len != 12 || (id != 6 && id != 8))
    return;
  uint32_t piece = sh_rd32(pl), begin = sh_rd32(pl + 4), blen = sh_rd32(pl + 8);
  if (id == 6) {
    cr_assert_lt(r->n, 64);
    r->req[r->n].piece = piece;
    r->req[r->n].begin = begin;
    r->req[r->n].len = blen;
    r->n++;
    r->total++;
    if (r->n > r->max_n)
      r->max_n = r->n;
    return;
  }
  for (int i = 0; i < r->n; i++)
    if (r->req[i].piece == piece && r->req[i].begin == begin) {
      r->req[i] = r->req[--r->n];
      return;
    }
}

/* Handshake, a full bitfield (3 pieces: 0xe0), unchoke. */
static void offer_all(struct raw *r, uv_loop_t *loop, shoal_session *s, shoal_id id,
                      const char *ip, const char *peer_id)
{
  memset(r, 0, sizeof *r);
  th_mpeer_accept(&r->m, loop, s, ip, 40000);
  r->m.on_msg = on_msg;
  r->m.ud = r;
  uint8_t hs[68];
  th_handshake(hs, th_status(s, id).info_hash, peer_id, 0);
  th_mpeer_send(&r->m, hs, 68);
  static const uint8_t bf[] = {0, 0, 0, 2, 5, 0xe0}, unchoke[] = {0, 0, 0, 1, 1};
  th_mpeer_send(&r->m, bf, sizeof bf);
  th_mpeer_send(&r->m, unchoke, sizeof unchoke);
}

/* Sends every block r was asked for and still owes. */
static void answer_all(struct raw *r)
{
  for (int i = 0; i < r->n; i++) {
    uint8_t hdr[13];
    sh_wr32(hdr, 9 + r->req[i].len);
    hdr[4] = 7;
    sh_wr32(hdr + 5, r->req[i].piece);
    sh_wr32(hdr + 9, r->req[i].begin);
    th_mpeer_send(&r->m, hdr, 13);
    th_mpeer_send(&r->m, r->tt->data + (uint64_t)r->req[i].piece * PIECE + r->req[i].begin,
                  r->req[i].len);
  }
  r->n = 0;
}

static int never(void *ud)
{
  (void)ud;
  return 0;
}

Test(engine_endgame, duplicates_go_out_a_few_at_a_time, .timeout = 60)
{
  static const struct th_file files[] = {{"e.bin", 3 * PIECE, 0}};
  uv_loop_t loop;
  uv_loop_init(&loop);
  th_nev = 0;
  struct th_torrent tt;
  th_torrent_build(&tt, "e.bin", files, 1, 0, PIECE);
  char *dir = th_tmpdir();
  struct shoal_settings set;
  th_settings_mem(&set);
  set.encryption = SHOAL_ENC_OFF; /* the raw peers speak plaintext */
  shoal_session *s = th_session(&loop, &set);
  shoal_id id = th_add(s, &tt, dir, 0);
  struct raw a, b;
  offer_all(&a, &loop, s, id, "192.0.2.5", "-XX0000-holdsitall01");
  a.tt = &tt;
  th_run_until(&loop, NULL, never, NULL, 500);
  cr_assert_eq(a.n, NBLOCKS, "peer A was asked for every block (%d)", a.n);
  offer_all(&b, &loop, s, id, "192.0.2.6", "-XX0000-answersall01");
  b.tt = &tt;
  for (int round = 0; round < 50 && !th_seen(s, id, SHOAL_EVENT_FINISHED); round++) {
    th_run_until(&loop, NULL, never, NULL, 150);
    cr_assert_leq(b.n, 4, "round %d: B holds %d duplicate requests", round, b.n);
    answer_all(&b);
  }
  cr_assert(th_wait_event(&loop, s, id, SHOAL_EVENT_FINISHED, 5000));
  cr_expect(th_content_equal(&tt, dir));
  cr_expect_gt(b.max_n, 0);
  cr_expect_leq(b.max_n, 4, "at most 4 duplicates at once (%d)", b.max_n);
  cr_expect_geq(b.total, NBLOCKS, "every block came from B");
  th_run_until(&loop, NULL, never, NULL, 300);
  /* the twins at A were cancelled as B's blocks arrived, all but the
   * last one's (once it arrives nothing is left to cancel for), and then
   * the finished leecher hung up on A, a seed */
  cr_expect_leq(a.n, 1, "%d requests to A were not cancelled", a.n);
  cr_expect(a.m.closed, "A was hung up on");
  th_mpeer_close(&a.m, &loop);
  th_mpeer_close(&b.m, &loop);
  shoal_session *all[1] = {s};
  th_close(&loop, all, 1);
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(dir);
  th_torrent_free(&tt);
}
