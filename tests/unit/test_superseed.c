/* Super-seeding (BEP 16): the pure choice of the next piece to reveal,
 * and a super-seeding engine over the in-memory transport: it says it has
 * nothing (have_none), reveals four pieces, a new one each time the peer
 * announces one it was shown, never the same piece to two peers while
 * others are unshown; and real leechers still complete from it. */
#include "test_mem_peer.h"

#include "base/bitfield.h"
#include "swarm/superseed.h"

static uint32_t from_array(const void *ud, uint32_t i) { return ((const uint32_t *)ud)[i]; }

Test(superseed, picks_the_least_seen_piece_it_lacks)
{
  uint32_t avail[6] = {2, 0, 1, 0, 3, 0}, revealed[6] = {0, 1, 0, 0, 0, 2};
  uint8_t bf[1] = {0};
  uint64_t rng = 7;
  /* 3 is the only piece with nothing: neither held nor shown */
  cr_expect_eq(sh_superseed_pick(from_array, avail, revealed, 6, bf, NULL, 0, &rng), 3);
  /* the peer has 3: next best are 1 and 2 (score 1), at random */
  sh_bf_set(bf, 3);
  int seen1 = 0, seen2 = 0;
  for (int i = 0; i < 200; i++) {
    int64_t p = sh_superseed_pick(from_array, avail, revealed, 6, bf, NULL, 0, &rng);
    cr_assert(p == 1 || p == 2, "picked %lld", (long long)p);
    seen1 |= p == 1;
    seen2 |= p == 2;
  }
  cr_expect(seen1 && seen2, "ties are broken at random");
  int64_t skip[2] = {1, 2};
  int64_t p = sh_superseed_pick(from_array, avail, revealed, 6, bf, skip, 2, &rng);
  cr_expect(p == 0 || p == 5, "pieces already shown to this peer are skipped (%lld)",
            (long long)p);
  uint8_t all[1] = {0xfc};
  cr_expect_eq(sh_superseed_pick(from_array, avail, revealed, 6, all, NULL, 0, &rng), -1);
}

#define PIECE 65536u

struct fix {
  uv_loop_t loop;
  struct th_torrent tt;
  char *dir;
  shoal_session *seed;
  shoal_id st;
  uint8_t ih[20];
};

static void seed_up(struct fix *f)
{
  static const struct th_file files[] = {{"ss.bin", 12 * PIECE + 5, 0}};
  memset(f, 0, sizeof *f);
  th_nev = 0;
  uv_loop_init(&f->loop);
  th_torrent_build(&f->tt, "ss.bin", files, 1, 0, PIECE);
  f->dir = th_tmpdir();
  th_write_content(&f->tt, f->dir);
  struct shoal_settings set;
  th_settings_mem(&set);
  f->seed = th_session(&f->loop, &set);
  struct shoal_add_params ap = {.torrent = f->tt.raw.data, .torrent_len = f->tt.raw.len,
                                .save_dir = f->dir, .seed_only = 1, .super_seed = 1};
  char err[256];
  cr_assert_eq(shoal_torrent_add(f->seed, &ap, &f->st, err, sizeof err), 0, "%s", err);
  cr_assert(th_wait_event(&f->loop, f->seed, f->st, SHOAL_EVENT_FINISHED, 20000));
  memcpy(f->ih, th_status(f->seed, f->st).info_hash, 20);
}

static void seed_down(struct fix *f)
{
  th_close(&f->loop, &f->seed, 1);
  cr_expect_eq(uv_loop_close(&f->loop), 0);
  th_rmtree(f->dir);
  th_torrent_free(&f->tt);
}

/* What a raw peer heard: have_none and the HAVEs, in order. */
struct heard {
  int have_none, bitfield, have_all;
  uint32_t haves[64];
  int nhaves;
};

static void on_msg(struct th_mpeer *m, int id, const uint8_t *pl, uint32_t len)
{
  struct heard *h = m->ud;
  if (id == SH_MSG_HAVE_NONE)
    h->have_none++;
  else if (id == SH_MSG_BITFIELD)
    h->bitfield++;
  else if (id == SH_MSG_HAVE_ALL)
    h->have_all++;
  else if (id == SH_MSG_HAVE && len == 4 && h->nhaves < 64)
    h->haves[h->nhaves++] = sh_rd32(pl);
}

#define SLOTS SH_SUPERSEED_SLOTS
static int slots_haves(void *ud) { return ((struct heard *)ud)->nhaves >= SLOTS; }
static int one_more(void *ud) { return ((struct heard *)ud)->nhaves >= SLOTS + 1; }

static void raw_peer(struct fix *f, struct th_mpeer *m, struct heard *h, const char *ip,
                     const char *id)
{
  memset(h, 0, sizeof *h);
  th_mpeer_accept(m, &f->loop, f->seed, ip, 40000);
  m->on_msg = on_msg;
  m->ud = h;
  uint8_t hs[68];
  th_handshake(hs, f->ih, id, 1);
  th_mpeer_send(m, hs, 68);
  uint8_t none[5] = {0, 0, 0, 1, SH_MSG_HAVE_NONE};
  th_mpeer_send(m, none, 5);
}

Test(superseed, reveals_its_slots_then_one_per_have, .timeout = 60)
{
  struct fix f;
  seed_up(&f);
  struct th_mpeer a, b;
  struct heard ha, hb;
  raw_peer(&f, &a, &ha, "127.0.0.7", "-XX0000-superseed001");
  cr_assert(th_run_until(&f.loop, NULL, slots_haves, &ha, 5000), "%d pieces revealed", SLOTS);
  th_run_until(&f.loop, NULL, one_more, &ha, 300);
  cr_expect_eq(ha.nhaves, SLOTS, "and no more");
  cr_expect_eq(ha.have_none, 1, "it says it has nothing");
  cr_expect_eq(ha.bitfield + ha.have_all, 0, "and never shows its bitfield");
  for (int i = 0; i < SLOTS; i++)
    for (int k = 0; k < i; k++)
      cr_expect_neq(ha.haves[i], ha.haves[k]);
  /* a second peer is shown other pieces while unshown ones remain (12) */
  raw_peer(&f, &b, &hb, "127.0.0.8", "-XX0000-superseed002");
  cr_assert(th_run_until(&f.loop, NULL, slots_haves, &hb, 5000));
  for (int i = 0; i < SLOTS; i++)
    for (int k = 0; k < SLOTS; k++)
      cr_expect_neq(hb.haves[i], ha.haves[k], "piece %u shown to both", hb.haves[i]);
  /* a announces the first piece it was shown: the next one follows, one
   * of the four nobody was shown */
  uint8_t have[9] = {0, 0, 0, 5, SH_MSG_HAVE};
  sh_wr32(have + 5, ha.haves[0]);
  th_mpeer_send(&a, have, 9);
  cr_assert(th_run_until(&f.loop, NULL, one_more, &ha, 5000), "a new piece after a HAVE");
  for (int k = 0; k < SLOTS; k++) {
    cr_expect_neq(ha.haves[SLOTS], ha.haves[k]);
    cr_expect_neq(ha.haves[SLOTS], hb.haves[k]);
  }
  th_mpeer_close(&a, &f.loop);
  th_mpeer_close(&b, &f.loop);
  seed_down(&f);
}

static int all_done(void *ud)
{
  shoal_session **l = ud;
  for (int i = 0; i < 3; i++) {
    th_drain(l[i]);
    if (!th_seen(l[i], 1, SHOAL_EVENT_FINISHED))
      return 0;
  }
  return 1;
}

Test(superseed, leechers_complete_from_a_super_seed, .timeout = 120)
{
  struct fix f;
  seed_up(&f);
  struct shoal_settings set;
  th_settings_mem(&set);
  shoal_session *l[3];
  char *dirs[3];
  shoal_id lt[3];
  for (int i = 0; i < 3; i++) {
    char ip[32];
    snprintf(ip, sizeof ip, "192.0.2.%d", 30 + i);
    dirs[i] = th_tmpdir();
    l[i] = th_session(&f.loop, &set);
    lt[i] = th_add(l[i], &f.tt, dirs[i], 0);
    cr_assert_eq(lt[i], 1);
    th_link(&f.loop, l[i], lt[i], ip, f.seed, "192.0.2.1");
  }
  /* the leechers know only the seed: each piece they hold came from it */
  cr_assert(th_run_until(&f.loop, NULL, all_done, l, 60000), "every leecher completes");
  for (int i = 0; i < 3; i++) {
    cr_expect(th_content_equal(&f.tt, dirs[i]));
  }
  th_close(&f.loop, l, 3);
  for (int i = 0; i < 3; i++)
    th_rmtree(dirs[i]);
  seed_down(&f);
}
