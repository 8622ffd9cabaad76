/* Peers that a downloading engine dials and that misbehave while looking
 * legitimate: one serves wrong bytes (it must be banned after its pieces
 * fail the hash check), one claims every piece and never sends (it must be
 * snubbed, then dropped). The raw peers listen on ::1 so that banning them
 * (bans are per IP) leaves the real seed on 127.0.0.1 alone. */
/* Peers that a downloading engine dials and that misbehave while looking
 * legitimate: one serves wrong bytes (it must be banned after its pieces
 * fail the hash check), one claims every piece and never sends (it must be
 * snubbed, then dropped). They are raw peers on the in-memory transport
 * (test_mem_peer.h) at an address of their own, so that banning them (bans
 * are per IP) leaves the real seed alone. */
#include "test_mem_peer.h"

#define PIECE (64u * 1024)
#define RAW_IP "2001:db8::66"

enum raw_mode { RAW_CORRUPT, RAW_SILENT };

struct raw_peer {
  struct th_mpeer m;
  uint8_t ih[20];
  uint32_t npieces;
  enum raw_mode mode;
  int requests;
};

/* What the raw peer says to the engine's messages: after the engine's
 * handshake (no fast extension: a plain BEP 3 peer) a full bitfield and an
 * unchoke; each request gets wrong bytes of the right size, or nothing. */
static void raw_msg(struct th_mpeer *m, int id, const uint8_t *p, uint32_t len)
{
  struct raw_peer *r = m->ud;
  if (id != 6 || len != 12)
    return;
  r->requests++;
  uint32_t blen = sh_rd32(p + 8);
  if (r->mode == RAW_SILENT || blen > (1 << 17))
    return;
  uint8_t hdr[13];
  sh_wr32(hdr, 9 + blen);
  hdr[4] = 7;
  memcpy(hdr + 5, p, 8);
  uint8_t *junk = malloc(blen);
  memset(junk, 0xa5, blen);
  th_mpeer_send(m, hdr, 13);
  th_mpeer_send(m, junk, blen);
  free(junk);
}

static void raw_start(struct raw_peer *r, uv_loop_t *loop, shoal_session *s, shoal_id t)
{
  th_mpeer_dialled(&r->m, loop, s, t, RAW_IP, 6881);
  r->m.on_msg = raw_msg;
  r->m.ud = r;
  uint8_t hs[68];
  th_handshake(hs, r->ih, "-XX0000-badpeer00001", 0);
  uint8_t bf[64] = {0};
  uint32_t bfl = (r->npieces + 7) / 8;
  sh_wr32(bf, 1 + bfl);
  bf[4] = 5;
  for (uint32_t i = 0; i < r->npieces; i++)
    bf[5 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
  uint8_t unchoke[5] = {0, 0, 0, 1, 1};
  th_mpeer_send(&r->m, hs, 68);
  th_mpeer_send(&r->m, bf, 5 + bfl);
  th_mpeer_send(&r->m, unchoke, 5);
}

struct world {
  uv_loop_t loop;
  struct th_torrent tt;
  char *seed_dir, *leech_dir;
  shoal_session *seed, *leech;
  shoal_id lt;
  struct raw_peer raw;
};

static void world_up(struct world *w, enum raw_mode mode, const struct shoal_settings *lset)
{
  static const struct th_file files[] = {{"bad.bin", 40 * PIECE + 123, 0}};
  memset(w, 0, sizeof *w);
  uv_loop_init(&w->loop);
  th_torrent_build(&w->tt, "bad.bin", files, 1, 0, PIECE);
  w->seed_dir = th_tmpdir();
  w->leech_dir = th_tmpdir();
  th_write_content(&w->tt, w->seed_dir);
  struct shoal_settings set;
  th_settings_mem(&set);
  w->seed = th_session(&w->loop, &set);
  shoal_id st = th_add(w->seed, &w->tt, w->seed_dir, 1);
  cr_assert(th_wait_event(&w->loop, w->seed, st, SHOAL_EVENT_FINISHED, 20000));
  /* the leech dials the raw peer (test_mem_peer.h), which speaks
   * plaintext only: an encrypted dial would never reach it */
  struct shoal_settings plain = *lset;
  plain.encryption = SHOAL_ENC_OFF;
  w->leech = th_session(&w->loop, &plain);
  w->lt = th_add(w->leech, &w->tt, w->leech_dir, 0);
  struct shoal_status ls = th_status(w->leech, w->lt);
  memcpy(w->raw.ih, ls.info_hash, 20);
  w->raw.npieces = ls.num_pieces;
  w->raw.mode = mode;
  raw_start(&w->raw, &w->loop, w->leech, w->lt);
}

static void world_down(struct world *w)
{
  th_mpeer_close(&w->raw.m, &w->loop);
  shoal_session *all[2] = {w->seed, w->leech};
  th_close(&w->loop, all, 2);
  cr_expect_eq(uv_loop_close(&w->loop), 0);
}

static void world_free(struct world *w)
{
  th_torrent_free(&w->tt);
  th_rmtree(w->seed_dir);
  th_rmtree(w->leech_dir);
}

static int banned(void *ud)
{
  struct world *w = ud;
  struct shoal_status st = th_status(w->leech, w->lt);
  return st.banned_peers > 0 && w->raw.m.closed;
}

static int raw_closed(void *ud) { return ((struct world *)ud)->raw.m.closed; }

/* The real seed joins the download. */
static void link_seed(struct world *w)
{
  th_link(&w->loop, w->leech, w->lt, "192.0.2.20", w->seed, "192.0.2.10");
}

Test(conn_bad_peers, corrupt_data_peer_is_banned, .timeout = 120)
{
  struct world w;
  struct shoal_settings set;
  th_settings_mem(&set);
  world_up(&w, RAW_CORRUPT, &set);
  /* The liar alone first: every piece it completes fails, so it collects
   * sole-sender strikes and is banned after the second (SH_BAN_SOLE_STRIKES). */
  cr_assert(th_run_until(&w.loop, NULL, banned, &w, 30000), "the corrupt peer was banned");
  struct shoal_status st = th_status(w.leech, w.lt);
  cr_expect_geq(st.hash_failures, 2);
  cr_expect_gt(th_seen(w.leech, w.lt, SHOAL_EVENT_PEER_BANNED), 0, "the ban was reported");
  cr_expect_eq(st.pieces_have, 0, "no bad piece was accepted");
  /* a banned address is not connected again */
  struct sh_addr bad = th_addr(RAW_IP, 6881);
  struct sh_transport *a, *b;
  cr_assert_eq(sh_memio_pair(&w.loop, NULL, &bad, &a, &b), 0);
  cr_expect_eq(sh_session_connect(w.leech, sh_torrent_by_id(w.leech, w.lt), a), SH_EBANNED);
  sh_memio_close(b);
  /* then the real seed: the download completes with the right bytes */
  link_seed(&w);
  cr_assert(th_wait_event(&w.loop, w.leech, w.lt, SHOAL_EVENT_FINISHED, 60000),
            "download completed");
  st = th_status(w.leech, w.lt);
  cr_expect_eq(st.banned_peers, 1);
  world_down(&w);
  cr_expect(th_content_equal(&w.tt, w.leech_dir), "byte-identical after the liar");
  world_free(&w);
}

Test(conn_bad_peers, corrupt_peer_alongside_real_seed, .timeout = 120)
{
  struct world w;
  struct shoal_settings set;
  th_settings_mem(&set);
  world_up(&w, RAW_CORRUPT, &set);
  link_seed(&w);
  cr_assert(th_wait_event(&w.loop, w.leech, w.lt, SHOAL_EVENT_FINISHED, 60000),
            "download completed");
  struct shoal_status st = th_status(w.leech, w.lt);
  cr_expect_eq(st.pieces_have, st.num_pieces);
  /* whatever the liar sent was caught by the hash check: every piece it
   * completed alone failed, none was accepted (the content check below) */
  world_down(&w);
  cr_expect(th_content_equal(&w.tt, w.leech_dir), "byte-identical despite the liar");
  world_free(&w);
}

Test(conn_bad_peers, silent_peer_is_snubbed_then_dropped, .timeout = 120)
{
  struct world w;
  struct shoal_settings set;
  th_settings(&set);
  set.request_timeout_ms = 300;
  set.stall_timeout_ms = 700;
  world_up(&w, RAW_SILENT, &set);
  cr_assert(th_run_until(&w.loop, NULL, raw_closed, &w, 30000),
            "the peer that never sends was dropped");
  cr_expect_gt(w.raw.requests, 0);
  link_seed(&w);
  cr_assert(th_wait_event(&w.loop, w.leech, w.lt, SHOAL_EVENT_FINISHED, 60000),
            "download completed");
  world_down(&w);
  cr_expect(th_content_equal(&w.tt, w.leech_dir));
  world_free(&w);
}
