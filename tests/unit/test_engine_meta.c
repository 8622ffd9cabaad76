/* Engine features the coming issues stand on, over the in-memory
 * transport: a torrent added by info-hash alone that gets its metadata
 * later (peers' bitfields held until then, checked against it), the BEP 10
 * extension registry, file priorities changed while running, and moving
 * the data to another folder. */
#include "test_mem_peer.h"

#include "engine/ext.h"
#include "meta/metainfo.h"

#define PIECE 65536u

struct pair {
  uv_loop_t loop;
  struct th_torrent tt;
  char *sdir, *ldir;
  shoal_session *seed, *leech;
  shoal_id st;
};

static void pair_up(struct pair *p, const struct th_file *files, size_t n, int multi)
{
  memset(p, 0, sizeof *p);
  th_nev = 0;
  uv_loop_init(&p->loop);
  th_torrent_build(&p->tt, multi ? "pack" : files[0].path, files, n, multi, PIECE);
  p->sdir = th_tmpdir();
  p->ldir = th_tmpdir();
  th_write_content(&p->tt, p->sdir);
  struct shoal_settings set;
  th_settings_mem(&set);
  p->seed = th_session(&p->loop, &set);
  /* the leech dials raw peers (test_mem_peer.h), which speak plaintext
   * only: an encrypted dial would never reach them */
  set.encryption = SHOAL_ENC_OFF;
  p->leech = th_session(&p->loop, &set);
  p->st = th_add(p->seed, &p->tt, p->sdir, 1);
  cr_assert(th_wait_event(&p->loop, p->seed, p->st, SHOAL_EVENT_FINISHED, 20000));
}

static void pair_down(struct pair *p)
{
  shoal_session *all[2] = {p->seed, p->leech};
  th_close(&p->loop, all, 2);
  cr_expect_eq(uv_loop_close(&p->loop), 0);
  th_rmtree(p->sdir);
  th_rmtree(p->ldir);
  th_torrent_free(&p->tt);
}

/* ---- metadata later ---- */

Test(engine_meta, torrent_without_metadata_gets_it_later, .timeout = 60)
{
  static const struct th_file f[] = {{"later.bin", 9 * PIECE + 123, 0}};
  struct pair p;
  pair_up(&p, f, 1, 0);
  struct shoal_status ss = th_status(p.seed, p.st);
  struct shoal_add_params ap = {.info_hash = ss.info_hash, .name = "a magnet's name",
                                .save_dir = p.ldir};
  shoal_id lt = 0;
  char err[256] = "";
  cr_assert_eq(shoal_torrent_add(p.leech, &ap, &lt, err, sizeof err), 0, "%s", err);
  struct shoal_status ls = th_status(p.leech, lt);
  cr_expect_eq(ls.state, SHOAL_METADATA);
  cr_expect_eq(ls.has_metadata, 0);
  cr_expect_str_eq(ls.name, "a magnet's name");
  cr_expect_eq(memcmp(ls.info_hash, ss.info_hash, 20), 0);
  cr_expect_eq(shoal_torrent_files(p.leech, lt, NULL, 0), 0, "no files known yet");
  /* a peer connects before the metadata: its have_all is held */
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  th_run_until(&p.loop, NULL, NULL, NULL, 200);
  struct shoal_torrent *t = sh_torrent_by_id(p.leech, lt);
  cr_assert_eq(t->npeers, 1, "a torrent without metadata takes peers");
  cr_expect(t->peers[0]->held_all, "what the seed has is held");
  cr_expect_null(t->peers[0]->bf);
  /* the metadata arrives (as ut_metadata will bring it) */
  struct sh_metainfo *m = th_metainfo(&p.tt);
  cr_assert_eq(sh_torrent_set_metadata(t, m, p.tt.raw.data, p.tt.raw.len), 0);
  cr_expect_eq(th_seen(p.leech, lt, SHOAL_EVENT_METADATA), 0, "not drained yet");
  th_drain(p.leech);
  cr_expect_eq(th_seen(p.leech, lt, SHOAL_EVENT_METADATA), 1);
  cr_expect_str_eq(th_status(p.leech, lt).name, "later.bin");
  cr_expect(t->peers[0]->have_all, "the held have_all now counts");
  sh_torrent_start(t);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000), "downloaded");
  /* the torrent can be saved now that its metadata is known */
  void *bytes;
  size_t len;
  cr_assert_eq(shoal_torrent_file(p.leech, lt, &bytes, &len), 0);
  cr_expect_eq(len, p.tt.raw.len);
  free(bytes);
  cr_expect(th_content_equal(&p.tt, p.ldir));
  pair_down(&p);
}

/* The leech adds the seed's torrent by info-hash alone and dials a raw
 * peer, which has sent its handshake. Returns the leech's torrent. */
static shoal_id magnet_with_raw_peer(struct pair *p, struct th_mpeer *raw)
{
  struct shoal_status ss = th_status(p->seed, p->st);
  struct shoal_add_params ap = {.info_hash = ss.info_hash, .save_dir = p->ldir};
  shoal_id lt = 0;
  char err[256];
  cr_assert_eq(shoal_torrent_add(p->leech, &ap, &lt, err, sizeof err), 0, "%s", err);
  th_mpeer_dialled(raw, &p->loop, p->leech, lt, "192.0.2.9", 6881);
  uint8_t hs[68];
  th_handshake(hs, ss.info_hash, "-XX0000-heldpeer0001", 0);
  th_mpeer_send(raw, hs, 68);
  return lt;
}

/* A raw peer's bitfield that does not fit the metadata closes it once the
 * metadata is known; haves past the last piece too. */
static void held_refused(const uint8_t *msg, size_t len)
{
  static const struct th_file f[] = {{"held.bin", 9 * PIECE + 123, 0}}; /* 10 pieces */
  struct pair p;
  pair_up(&p, f, 1, 0);
  struct th_mpeer raw;
  shoal_id lt = magnet_with_raw_peer(&p, &raw);
  th_mpeer_send(&raw, msg, len);
  th_run_until(&p.loop, NULL, NULL, NULL, 100);
  cr_expect_not(raw.closed, "nothing to check it against yet");
  struct shoal_torrent *t = sh_torrent_by_id(p.leech, lt);
  cr_assert_eq(sh_torrent_set_metadata(t, th_metainfo(&p.tt), p.tt.raw.data, p.tt.raw.len), 0);
  cr_expect(th_run_until(&p.loop, NULL, th_mpeer_is_closed, &raw, 2000),
            "closed once the metadata showed it wrong");
  th_mpeer_close(&raw, &p.loop);
  pair_down(&p);
}

Test(engine_meta, held_bitfield_of_the_wrong_size_closes, .timeout = 60)
{
  uint8_t msg[8] = {0, 0, 0, 4, 5, 0xff, 0xc0, 0}; /* 3 bytes: 24 pieces */
  held_refused(msg, 8);
}

Test(engine_meta, held_have_past_the_last_piece_closes, .timeout = 60)
{
  uint8_t msg[9] = {0, 0, 0, 5, 4, 0, 0, 0, 10}; /* have 10 of pieces 0-9 */
  held_refused(msg, 9);
}

Test(engine_meta, held_bitfield_is_bounded, .timeout = 60)
{
  /* a bitfield longer than any torrent's is refused at once */
  static const struct th_file f[] = {{"big.bin", PIECE, 0}};
  struct pair p;
  pair_up(&p, f, 1, 0);
  struct th_mpeer raw;
  magnet_with_raw_peer(&p, &raw);
  uint8_t hdr[5];
  uint32_t n = SH_METAINFO_MAX_PIECES / 8 + 2;
  sh_wr32(hdr, n + 1);
  hdr[4] = 5;
  th_mpeer_send(&raw, hdr, 5);
  cr_expect(th_run_until(&p.loop, NULL, th_mpeer_is_closed, &raw, 2000),
            "a frame beyond the largest bitfield is refused before it is read");
  th_mpeer_close(&raw, &p.loop);
  pair_down(&p);
}

/* ---- the extension registry ---- */

struct echo {
  int id;             /* our local id */
  int handshakes, messages;
  char got[64];
};

static void echo_handshake(void *ud, struct sh_peer *p, const struct sh_ext_handshake *eh)
{
  struct echo *e = ud;
  (void)eh;
  e->handshakes++;
  if (sh_ext_peer_supports(p, e->id))
    sh_ext_send(p, e->id, "hello", 5);
}

static int echo_message(void *ud, struct sh_peer *p, const uint8_t *data, size_t len,
                        const char **why)
{
  struct echo *e = ud;
  (void)p;
  if (len > 32) {
    *why = "echo message too long";
    return SH_EPROTO;
  }
  e->messages++;
  memcpy(e->got, data, len);
  e->got[len] = 0;
  return 0;
}

static int echoed(void *ud) { return ((struct echo *)ud)->messages > 0; }

Test(engine_meta, extensions_register_and_talk, .timeout = 60)
{
  static const struct th_file f[] = {{"ext.bin", PIECE, 0}};
  struct pair p;
  pair_up(&p, f, 1, 0);
  struct echo se = {0}, le = {0};
  struct sh_ext_def d = {.name = "x_echo", .on_handshake = echo_handshake,
                         .on_message = echo_message};
  /* a filler first on the leech side, so the two sides' ids differ */
  struct sh_ext_def filler = {.name = "x_filler", .on_message = echo_message, .ud = &le};
  cr_assert_eq(sh_ext_register(p.leech, &filler), 1);
  d.ud = &le;
  cr_assert_eq(le.id = sh_ext_register(p.leech, &d), 2);
  d.ud = &se;
  cr_assert_eq(se.id = sh_ext_register(p.seed, &d), 1);
  cr_expect_eq(sh_ext_register(p.seed, &d), -1, "a name registers once");
  shoal_id lt = th_add(p.leech, &p.tt, p.ldir, 0);
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_run_until(&p.loop, NULL, echoed, &le, 5000), "the seed's hello arrived");
  cr_assert(th_run_until(&p.loop, NULL, echoed, &se, 5000), "the leech's hello arrived");
  cr_expect_str_eq(le.got, "hello");
  cr_expect_str_eq(se.got, "hello");
  /* each side sent under the id the other advertised */
  struct shoal_torrent *t = sh_torrent_by_id(p.leech, lt);
  cr_assert_eq(t->npeers, 1);
  cr_expect_eq(t->peers[0]->ext_ids[le.id - 1], 1, "the seed calls x_echo 1");
  cr_expect_eq(t->peers[0]->ext_ids[0], 0, "the seed has no x_filler");
  cr_expect_eq(sh_ext_send(t->peers[0], 1, "x", 1), -ENOTSUP);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000));
  pair_down(&p);
}

/* ---- priorities and moves ---- */

static int file_size(const char *dir, const char *rel, off_t *size)
{
  char path[8192];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  struct stat sb;
  if (stat(path, &sb) < 0)
    return -1;
  *size = sb.st_size;
  return 0;
}

Test(engine_meta, priorities_change_while_running_and_storage_moves, .timeout = 90)
{
  /* three files, each starting on a piece boundary thanks to the sizes */
  static const struct th_file f[] = {{"a.bin", 2 * PIECE, 0},
                                     {"b.bin", 3 * PIECE, 0},
                                     {"c.bin", PIECE + 5, 0}};
  struct pair p;
  pair_up(&p, f, 3, 1);
  uint8_t prio[3] = {SHOAL_PRIO_NORMAL, SHOAL_PRIO_SKIP, SHOAL_PRIO_HIGH};
  struct shoal_add_params ap = {.torrent = p.tt.raw.data, .torrent_len = p.tt.raw.len,
                                .save_dir = p.ldir, .priorities = prio, .num_priorities = 3};
  shoal_id lt = 0;
  char err[256];
  cr_assert_eq(shoal_torrent_add(p.leech, &ap, &lt, err, sizeof err), 0, "%s", err);
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000));
  struct shoal_status st = th_status(p.leech, lt);
  cr_expect_eq(st.wanted_bytes, 3 * PIECE + 5, "a and c");
  cr_expect_eq(st.have_bytes, st.wanted_bytes);
  struct shoal_file_status fs[3];
  cr_assert_eq(shoal_torrent_files(p.leech, lt, fs, 3), 3);
  cr_expect_eq(fs[1].have_bytes, 0, "b was skipped");
  cr_expect_eq(fs[2].priority, SHOAL_PRIO_HIGH);
  /* want b too: downloading again, then finished again */
  prio[1] = SHOAL_PRIO_LOW;
  cr_assert_eq(shoal_torrent_set_priorities(p.leech, lt, prio, 3), 0);
  cr_expect_eq(th_status(p.leech, lt).state, SHOAL_DOWNLOADING);
  cr_expect_eq(shoal_torrent_set_priorities(p.leech, lt, prio, 2), -EINVAL);
  th_ev[th_nev - 1].e.type = 0;
  for (size_t k = 0; k < th_nev; k++)
    if (th_ev[k].e.id == lt && th_ev[k].e.type == SHOAL_EVENT_FINISHED)
      th_ev[k].e.type = 0;
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000), "b arrived");
  cr_expect_eq(th_status(p.leech, lt).have_bytes, p.tt.total);
  /* move the finished data: it goes to the new folder and keeps seeding */
  char *to = th_tmpdir();
  char dest[4096];
  snprintf(dest, sizeof dest, "%s/moved/here", to);
  cr_assert_eq(shoal_torrent_move_storage(p.leech, lt, dest), 0);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_STORAGE_MOVED, 20000), "moved");
  off_t size;
  cr_expect_eq(file_size(dest, "pack/b.bin", &size), 0, "b.bin is in the new folder");
  cr_expect_eq(size, 3 * PIECE);
  cr_expect_neq(file_size(p.ldir, "pack/b.bin", &size), 0, "and no longer in the old one");
  cr_expect_neq(file_size(p.ldir, "pack", &size), 0, "the emptied folder went too");
  cr_expect(th_content_equal(&p.tt, dest));
  th_run_until(&p.loop, NULL, NULL, NULL, 300);
  cr_expect_eq(th_status(p.leech, lt).state, SHOAL_SEEDING, "seeding from the new place");
  cr_expect_eq(th_seen(p.leech, lt, SHOAL_EVENT_ERROR), 0);
  pair_down(&p);
  th_rmtree(to);
}

Test(engine_meta, a_move_onto_existing_files_is_refused, .timeout = 60)
{
  static const struct th_file f[] = {{"m.bin", 2 * PIECE + 1, 0}};
  struct pair p;
  pair_up(&p, f, 1, 0);
  char *to = th_tmpdir();
  char clash[4096];
  snprintf(clash, sizeof clash, "%s/m.bin", to);
  FILE *c = fopen(clash, "w");
  fputs("someone else's", c);
  fclose(c);
  cr_assert_eq(shoal_torrent_move_storage(p.seed, p.st, to), 0);
  cr_assert(th_wait_event(&p.loop, p.seed, p.st, SHOAL_EVENT_ERROR, 20000));
  struct shoal_status st = th_status(p.seed, p.st);
  cr_expect(strstr(st.error, "m.bin") != NULL, "names the file: %s", st.error);
  cr_expect(th_content_equal(&p.tt, p.sdir), "the data stayed where it was");
  off_t size;
  cr_expect_eq(file_size(to, "m.bin", &size), 0);
  cr_expect_eq(size, 14, "the other file is untouched");
  /* the error clears on resume, where the data is */
  cr_assert_eq(shoal_torrent_resume(p.seed, p.st), 0);
  th_run_until(&p.loop, NULL, NULL, NULL, 500);
  cr_expect_eq(th_status(p.seed, p.st).state, SHOAL_SEEDING);
  pair_down(&p);
  th_rmtree(to);
}

/* A torrent removed while a connection of its own is still in its
 * handshake: that connection closes with it, and nothing is left pointing
 * at the freed torrent (ASan would say). */
Test(engine_meta, removal_closes_connections_still_in_the_handshake, .timeout = 60)
{
  static const struct th_file f[] = {{"gone.bin", PIECE, 0}};
  struct pair p;
  pair_up(&p, f, 1, 0);
  shoal_id lt = th_add(p.leech, &p.tt, p.ldir, 0);
  struct th_mpeer silent;
  th_mpeer_dialled(&silent, &p.loop, p.leech, lt, "192.0.2.9", 6881); /* never answers */
  th_run_until(&p.loop, NULL, NULL, NULL, 50);
  cr_assert_eq(sh_torrent_by_id(p.leech, lt)->connecting, 1);
  cr_assert_eq(shoal_torrent_remove(p.leech, lt, 0), 0);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_REMOVED, 5000));
  cr_expect(th_run_until(&p.loop, NULL, th_mpeer_is_closed, &silent, 2000),
            "the dial in its handshake was closed");
  th_mpeer_close(&silent, &p.loop);
  pair_down(&p);
}
