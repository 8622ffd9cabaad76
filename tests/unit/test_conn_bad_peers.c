/* Peers that a downloading engine dials and that misbehave while looking
 * legitimate: one serves wrong bytes (it must be banned after its pieces
 * fail the hash check), one claims every piece and never sends (it must be
 * snubbed, then dropped). The raw peers listen on ::1 so that banning them
 * (bans are per IP) leaves the real seed on 127.0.0.1 alone. */
#include <poll.h>

#include "test_engine_harness.h"

#define PIECE (64u * 1024)

enum raw_mode { RAW_CORRUPT, RAW_SILENT };

struct raw_server {
  int lfd;
  uint16_t port;
  uint8_t ih[20];
  uint32_t npieces;
  enum raw_mode mode;
  atomic_int closed;   /* the engine hung up */
  atomic_int requests; /* requests received */
  atomic_int stop;
};

static void *raw_server_main(void *arg)
{
  struct raw_server *r = arg;
  struct pollfd pfd = {r->lfd, POLLIN, 0};
  while (!atomic_load(&r->stop) && poll(&pfd, 1, 200) == 0) {
  }
  if (atomic_load(&r->stop))
    return NULL;
  int fd = accept(r->lfd, NULL, NULL);
  if (fd < 0)
    return NULL;
  struct timeval tv = {15, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  uint8_t hs[68];
  if (th_recv_all(fd, hs, 68) < 0)
    goto out;
  /* no fast extension: a plain BEP 3 peer */
  th_handshake(hs, r->ih, "-XX0000-badpeer00001", 0);
  uint8_t bf[64] = {0};
  uint32_t bfl = (r->npieces + 7) / 8;
  sh_wr32(bf, 1 + bfl);
  bf[4] = 5;
  for (uint32_t i = 0; i < r->npieces; i++)
    bf[5 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
  uint8_t unchoke[5] = {0, 0, 0, 1, 1};
  if (th_send_all(fd, hs, 68) < 0 || th_send_all(fd, bf, 5 + bfl) < 0 ||
      th_send_all(fd, unchoke, 5) < 0)
    goto out;
  uint8_t *buf = malloc(1 << 17);
  uint8_t *piece = malloc(13 + (1 << 17));
  for (;;) {
    struct pollfd cp = {fd, POLLIN, 0};
    int pr = poll(&cp, 1, 200);
    if (atomic_load(&r->stop))
      break;
    if (pr == 0)
      continue;
    uint32_t len = 0;
    int id = th_read_msg(fd, buf, 1 << 17, &len);
    if (id == -2) {
      atomic_store(&r->closed, 1);
      break;
    }
    if (id != 6 || len != 12)
      continue;
    atomic_fetch_add(&r->requests, 1);
    if (r->mode == RAW_SILENT)
      continue;
    uint32_t idx = sh_rd32(buf), begin = sh_rd32(buf + 4), blen = sh_rd32(buf + 8);
    if (blen > (1 << 17))
      continue;
    sh_wr32(piece, 9 + blen);
    piece[4] = 7;
    sh_wr32(piece + 5, idx);
    sh_wr32(piece + 9, begin);
    memset(piece + 13, 0xa5, blen); /* wrong bytes, right size */
    if (th_send_all(fd, piece, 13 + blen) < 0) {
      atomic_store(&r->closed, 1);
      break;
    }
  }
  free(buf);
  free(piece);
out:
  close(fd);
  return NULL;
}

struct world {
  uv_loop_t loop;
  struct th_torrent tt;
  char *seed_dir, *leech_dir;
  shoal_session *seed, *leech;
  shoal_torrent *lt;
  volatile int seed_ready, complete;
  struct raw_server raw;
  pthread_t th;
};

static void on_flag(shoal_torrent *t, void *ud)
{
  (void)t;
  *(volatile int *)ud = 1;
}

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
  th_settings(&set);
  w->seed = th_session(&w->loop, &set);
  struct shoal_add_opts so = {w->seed_dir, NULL, 1, {on_flag, NULL, NULL, (void *)&w->seed_ready}};
  cr_assert_eq(shoal_torrent_add(w->seed, th_metainfo(&w->tt), &so, NULL), 0);
  cr_assert(th_run_until(&w->loop, &w->seed_ready, NULL, NULL, 20000));
  w->leech = th_session(&w->loop, lset);
  struct sh_metainfo *m = th_metainfo(&w->tt);
  memcpy(w->raw.ih, m->info_hash, 20);
  w->raw.npieces = m->num_pieces;
  struct shoal_add_opts lo = {w->leech_dir, NULL, 0, {on_flag, NULL, NULL, (void *)&w->complete}};
  cr_assert_eq(shoal_torrent_add(w->leech, m, &lo, &w->lt), 0);
  w->raw.mode = mode;
  w->raw.lfd = th_listen6(&w->raw.port);
  cr_assert_eq(pthread_create(&w->th, NULL, raw_server_main, &w->raw), 0);
}

static void world_down(struct world *w)
{
  atomic_store(&w->raw.stop, 1);
  pthread_join(w->th, NULL);
  close(w->raw.lfd);
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
  struct shoal_status st;
  shoal_torrent_status(w->lt, &st);
  return st.banned_peers > 0 && atomic_load(&w->raw.closed);
}

static int raw_closed(void *ud) { return atomic_load(&((struct world *)ud)->raw.closed); }

Test(conn_bad_peers, corrupt_data_peer_is_banned, .timeout = 120)
{
  struct world w;
  struct shoal_settings set;
  th_settings(&set);
  world_up(&w, RAW_CORRUPT, &set);
  /* The liar alone first: every piece it completes fails, so it collects
   * sole-sender strikes and is banned after the second (SH_BAN_SOLE_STRIKES). */
  th_add_peer6(w.lt, w.raw.port);
  cr_assert(th_run_until(&w.loop, NULL, banned, &w, 30000), "the corrupt peer was banned");
  struct shoal_status st;
  shoal_torrent_status(w.lt, &st);
  cr_expect_geq(st.hash_failures, 2);
  cr_expect_eq(st.pieces_have, 0, "no bad piece was accepted");
  /* a banned address is not dialled again */
  th_add_peer6(w.lt, w.raw.port);
  /* then the real seed: the download completes with the right bytes */
  th_add_peer(w.lt, shoal_session_port(w.seed));
  cr_assert(th_run_until(&w.loop, &w.complete, NULL, NULL, 60000), "download completed");
  shoal_torrent_status(w.lt, &st);
  cr_expect_eq(st.banned_peers, 1);
  world_down(&w);
  cr_expect(th_content_equal(&w.tt, w.leech_dir), "byte-identical after the liar");
  world_free(&w);
}

Test(conn_bad_peers, corrupt_peer_alongside_real_seed, .timeout = 120)
{
  struct world w;
  struct shoal_settings set;
  th_settings(&set);
  world_up(&w, RAW_CORRUPT, &set);
  th_add_peer6(w.lt, w.raw.port);
  th_add_peer(w.lt, shoal_session_port(w.seed));
  cr_assert(th_run_until(&w.loop, &w.complete, NULL, NULL, 60000), "download completed");
  struct shoal_status st;
  shoal_torrent_status(w.lt, &st);
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
  set.request_timeout_ms = 1000;
  set.stall_timeout_ms = 3000;
  world_up(&w, RAW_SILENT, &set);
  th_add_peer6(w.lt, w.raw.port);
  cr_assert(th_run_until(&w.loop, NULL, raw_closed, &w, 30000),
            "the peer that never sends was dropped");
  cr_expect_gt(atomic_load(&w.raw.requests), 0);
  th_add_peer(w.lt, shoal_session_port(w.seed));
  cr_assert(th_run_until(&w.loop, &w.complete, NULL, NULL, 60000), "download completed");
  world_down(&w);
  cr_expect(th_content_equal(&w.tt, w.leech_dir));
  world_free(&w);
}
