/* ut_metadata (BEP 9) over the in-memory transport: a torrent added from a
 * magnet link fetches its metadata from a shoal seed and downloads; the
 * .torrent it builds keeps the link's trackers and travels in the resume
 * data, so a restart does not fetch again; a peer sending metadata that
 * does not hash is dropped and the next asked; sizes over the limit are
 * not asked for; pieces out of order are fine, duplicates ignored, wrong
 * lengths refused; serving answers data and rejects and stops a flood;
 * BEP 53's `so` selects files once the metadata is in. */
#include "test_ext_peer.h"

#include "disk/resume.h"
#include "meta/magnet.h"

#define PIECE 65536u

#define pair th_pair
#define pair_down th_pair_down

/* The leech adds the seed's torrent as a magnet link would. */
static shoal_id add_magnet(struct pair *p, shoal_session *s, const char *extra)
{
  char hex[41], uri[1024];
  for (int i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", p->ih[i]);
  snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=from+a+link%s", hex, extra ? extra : "");
  struct shoal_magnet *m;
  char err[256] = "";
  cr_assert_eq(shoal_magnet_parse(uri, &m, err, sizeof err), 0, "%s", err);
  struct shoal_add_params ap = {.save_dir = p->ldir};
  shoal_add_params_magnet(&ap, m);
  shoal_id id = 0;
  cr_assert_eq(shoal_torrent_add(s, &ap, &id, err, sizeof err), 0, "%s", err);
  shoal_magnet_free(m);
  return id;
}

/* The info dict's exact bytes. */
static struct sh_metainfo *meta_of(struct pair *p) { return th_metainfo(&p->tt); }

Test(ut_metadata, magnet_fetches_the_metadata_then_downloads_and_restarts_without_fetching,
     .timeout = 60)
{
  static const struct th_file f[] = {{"film.bin", 9 * PIECE + 4321, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, PIECE);
  shoal_id lt = add_magnet(&p, p.leech, "&tr=udp%3A%2F%2F127.0.0.1%3A9%2Fannounce");
  struct shoal_status ls = th_status(p.leech, lt);
  cr_expect_eq(ls.state, SHOAL_METADATA);
  cr_expect_str_eq(ls.name, "from a link");
  struct shoal_tracker_info ti[2];
  cr_assert_eq(shoal_torrent_trackers(p.leech, lt, ti, 2), 1, "the link's tracker, before the metadata");
  cr_expect_str_eq(ti[0].url, "udp://127.0.0.1:9/announce");
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_METADATA, 10000), "metadata");
  cr_expect_str_eq(th_status(p.leech, lt).name, "film.bin");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000), "downloaded");
  cr_expect(th_content_equal(&p.tt, p.ldir));
  /* the .torrent: the info dict as the seed has it, the link's tracker */
  void *bytes;
  size_t len;
  cr_assert_eq(shoal_torrent_file(p.leech, lt, &bytes, &len), 0);
  struct sh_metainfo *m;
  char err[256] = "";
  cr_assert_eq(sh_metainfo_parse(bytes, len, &m, err, sizeof err), 0, "%s", err);
  cr_expect_eq(memcmp(m->info_hash, p.ih, 20), 0);
  cr_assert_eq(m->num_tiers, 1);
  cr_expect_str_eq(m->tiers[0].urls[0], "udp://127.0.0.1:9/announce");
  sh_metainfo_free(m);
  free(bytes);
  cr_assert_eq(shoal_torrent_trackers(p.leech, lt, ti, 2), 1, "and after it");
  /* the resume data holds it */
  cr_assert_eq(shoal_torrent_resume_data(p.leech, lt, &bytes, &len), 0);
  struct sh_resume_info x;
  char *save = NULL;
  cr_assert_eq(sh_resume_read_info(bytes, len, &x, &save, err, sizeof err), 0, "%s", err);
  cr_expect_not_null(x.torrent, "resume data version 2 carries the .torrent");
  free(save);
  free(bytes);
  /* a restart: the same link, the same resume folder, no peer at all */
  shoal_session *old = p.leech;
  th_close(&p.loop, &old, 1);
  struct shoal_settings set;
  th_settings_mem(&set);
  set.resume_dir = p.rdir;
  p.leech = th_session(&p.loop, &set);
  th_nev = 0;
  lt = add_magnet(&p, p.leech, NULL);
  cr_expect_eq(th_status(p.leech, lt).has_metadata, 1, "the metadata came from the resume data");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 10000),
            "complete from the resume data, without a peer");
  cr_expect_eq(th_status(p.leech, lt).peers, 0);
  pair_down(&p);
}

/* The leech adds the seed's torrent from a magnet link and is dialled to
 * a raw peer x that claims the metadata's size; returns once x was asked
 * for piece 0. *m: the metadata, for the test to send or garble. */
static shoal_id raw_source(struct pair *p, struct xpeer *x, const char *peer_id,
                           struct sh_metainfo **m)
{
  *m = meta_of(p);
  shoal_id lt = add_magnet(p, p->leech, NULL);
  xp_dialled(x, &p->loop, p->leech, lt, "192.0.2.9");
  xp_hello(x, p->ih, peer_id, (int64_t)(*m)->info_len, 0);
  cr_assert(th_run_until(&p->loop, NULL, xp_asked, x, 5000), "the engine asks for the metadata");
  cr_expect_eq(x->requests[0], 1, "piece 0, once");
  return lt;
}

Test(ut_metadata, bad_metadata_drops_its_sender_and_the_next_peer_is_asked, .timeout = 60)
{
  static const struct th_file f[] = {{"bad.bin", 3 * PIECE, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, PIECE);
  struct sh_metainfo *m;
  struct xpeer liar;
  shoal_id lt = raw_source(&p, &liar, "-XX0000-liar00000001", &m);
  cr_expect_eq(th_status(p.leech, lt).metadata_asked, 1);
  cr_expect_eq(th_status(p.leech, lt).metadata_size, m->info_len);
  /* the right size, the wrong bytes */
  uint8_t *junk = calloc(1, m->info_len);
  xp_utm(&liar, SH_UTM_DATA, 0, (int64_t)m->info_len, junk, m->info_len);
  free(junk);
  cr_expect(th_run_until(&p.loop, NULL, th_mpeer_is_closed, &liar.m, 3000), "the liar is dropped");
  struct sh_addr who = th_addr("192.0.2.9", 6881);
  cr_expect_null(sh_peers_find(&sh_torrent_by_id(p.leech, lt)->plist, &who),
                 "and struck off the peer list");
  cr_expect_eq(th_status(p.leech, lt).state, SHOAL_METADATA, "still fetching");
  /* an honest peer comes: asked next, and the download goes on */
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000));
  cr_expect(th_content_equal(&p.tt, p.ldir));
  cr_expect_eq(th_status(p.leech, lt).metadata_asked, 0, "nothing to fetch any more");
  xp_close(&liar, &p.loop);
  sh_metainfo_free(m);
  pair_down(&p);
}

Test(ut_metadata, a_peer_claiming_a_gigabyte_of_metadata_is_not_asked, .timeout = 60)
{
  static const struct th_file f[] = {{"big.bin", 2 * PIECE, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, PIECE);
  shoal_id lt = add_magnet(&p, p.leech, NULL);
  struct xpeer big;
  xp_dialled(&big, &p.loop, p.leech, lt, "192.0.2.9");
  xp_hello(&big, p.ih, "-XX0000-bigbigbig001", (int64_t)1 << 30, 0);
  th_run_until(&p.loop, NULL, NULL, NULL, 500);
  cr_expect_eq(big.nrequests, 0, "never asked");
  cr_expect_not(big.m.closed, "but kept: it may have data once we have the metadata");
  cr_expect_eq(th_status(p.leech, lt).metadata_asked, 0);
  /* and its data message claiming as much is not taken either */
  xp_utm(&big, SH_UTM_DATA, 0, (int64_t)1 << 30, "x", 1);
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000));
  xp_close(&big, &p.loop);
  pair_down(&p);
}

Test(ut_metadata, pieces_out_of_order_are_fine_duplicates_ignored, .timeout = 60)
{
  /* 1500 pieces of 16 KiB: 30,000 bytes of hashes, so two metadata pieces */
  static const struct th_file f[] = {{"many.bin", 1500 * 16384 - 7, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, 16384);
  struct sh_metainfo *m;
  struct xpeer x;
  shoal_id lt = raw_source(&p, &x, "-XX0000-ooo000000001", &m);
  cr_assert_gt(m->info_len, SH_UTM_PIECE);
  cr_assert_leq(m->info_len, 2 * SH_UTM_PIECE);
  const uint8_t *info = m->raw + m->info_off;
  size_t tail = m->info_len - SH_UTM_PIECE;
  cr_expect_eq(x.requests[1], 1, "both pieces asked at once");
  xp_utm(&x, SH_UTM_DATA, 1, (int64_t)m->info_len, info + SH_UTM_PIECE, tail);
  xp_utm(&x, SH_UTM_DATA, 1, (int64_t)m->info_len, info + SH_UTM_PIECE, tail);
  th_run_until(&p.loop, NULL, NULL, NULL, 100);
  cr_expect_eq(th_status(p.leech, lt).metadata_have, tail, "the duplicate counted once");
  xp_utm(&x, SH_UTM_DATA, 0, (int64_t)m->info_len, info, SH_UTM_PIECE);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_METADATA, 5000));
  cr_expect_not(x.m.closed);
  /* data it was never asked for, over and over: it is dropped */
  for (int i = 0; i < SH_UTM_MAX_UNASKED + 1; i++)
    xp_utm(&x, SH_UTM_DATA, 0, (int64_t)m->info_len, info, SH_UTM_PIECE);
  cr_expect(th_run_until(&p.loop, NULL, th_mpeer_is_closed, &x.m, 3000),
            "more than 16 pieces it was not asked for");
  xp_close(&x, &p.loop);
  sh_metainfo_free(m);
  pair_down(&p);
}

/* A source that sends msg after being asked is dropped at once. */
static void refused_data(uint32_t piece, int64_t total, size_t len)
{
  static const struct th_file f[] = {{"r.bin", 3 * PIECE, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, PIECE);
  struct sh_metainfo *m;
  struct xpeer x;
  shoal_id lt = raw_source(&p, &x, "-XX0000-wrong0000001", &m);
  uint8_t *buf = calloc(1, len + 1);
  memcpy(buf, m->raw + m->info_off, len < m->info_len ? len : m->info_len);
  xp_utm(&x, SH_UTM_DATA, piece, total < 0 ? (int64_t)m->info_len : total, buf, len);
  free(buf);
  cr_expect(th_run_until(&p.loop, NULL, th_mpeer_is_closed, &x.m, 3000), "dropped");
  cr_expect_eq(th_status(p.leech, lt).state, SHOAL_METADATA);
  xp_close(&x, &p.loop);
  sh_metainfo_free(m);
  pair_down(&p);
}

Test(ut_metadata, a_piece_of_the_wrong_length_is_refused, .timeout = 60)
{
  refused_data(0, -1, 1);
}

Test(ut_metadata, a_total_size_that_changes_is_refused, .timeout = 60)
{
  refused_data(0, 12345, 12345);
}

Test(ut_metadata, a_reject_moves_on_to_the_next_peer, .timeout = 60)
{
  static const struct th_file f[] = {{"rej.bin", 2 * PIECE, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, PIECE);
  struct sh_metainfo *m;
  struct xpeer x;
  shoal_id lt = raw_source(&p, &x, "-XX0000-reject000001", &m);
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  th_run_until(&p.loop, NULL, NULL, NULL, 100);
  cr_expect_eq(th_status(p.leech, lt).state, SHOAL_METADATA, "the first source is waited for");
  xp_utm(&x, SH_UTM_REJECT, 0, -1, NULL, 0);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_METADATA, 5000), "from the seed");
  cr_expect_eq(th_status(p.leech, lt).metadata_asked, 0);
  cr_expect_not(x.m.closed, "a reject is no offence");
  xp_close(&x, &p.loop);
  sh_metainfo_free(m);
  pair_down(&p);
}

Test(ut_metadata, serving_data_rejects_and_a_flood, .timeout = 60)
{
  static const struct th_file f[] = {{"serve.bin", 2 * PIECE, 0}};
  struct pair p;
  th_pair_up(&p, f, 1, 0, PIECE);
  struct sh_metainfo *m = meta_of(&p);
  struct xpeer x;
  xp_accept(&x, &p.loop, p.seed, "192.0.2.9");
  xp_hello(&x, p.ih, "-XX0000-asker0000001", -1, 0);
  cr_assert(th_run_until(&p.loop, NULL, xp_has_ext_hs, &x, 3000));
  cr_expect_eq(x.eh.metadata_size, (int64_t)m->info_len, "metadata_size in its handshake");
  xp_utm(&x, SH_UTM_REQUEST, 0, -1, NULL, 0);
  xp_utm(&x, SH_UTM_REQUEST, 7, -1, NULL, 0);
  th_run_until(&p.loop, NULL, NULL, NULL, 200);
  cr_assert_eq(x.data, 1);
  cr_expect_eq(x.total_size, (int64_t)m->info_len);
  cr_assert_eq(x.meta.len, m->info_len);
  cr_expect_eq(memcmp(x.meta.data, m->raw + m->info_off, m->info_len), 0, "the info dict's bytes");
  cr_expect_eq(x.rejects, 1, "no piece 7");
  /* one piece: 4 x 1 + 16 = 20 answers, then rejects */
  for (int i = 0; i < 30; i++)
    xp_utm(&x, SH_UTM_REQUEST, 0, -1, NULL, 0);
  th_run_until(&p.loop, NULL, NULL, NULL, 300);
  cr_expect_eq(x.data, 20);
  cr_expect_eq(x.rejects, 1 + 11);
  cr_expect_not(x.m.closed);
  /* unknown message types are ignored (BEP 9) */
  uint8_t id = sh_wire_ext_id(&x.eh, "ut_metadata");
  const char *odd = "d8:msg_typei9e5:piecei0ee", *odder = "d8:msg_typei3e3:newi1eeXYZ";
  xp_send_ext(&x, id, odd, strlen(odd));
  xp_send_ext(&x, id, odder, strlen(odder));
  th_run_until(&p.loop, NULL, NULL, NULL, 100);
  cr_expect_not(x.m.closed);
  xp_close(&x, &p.loop);
  sh_metainfo_free(m);
  pair_down(&p);
}

Test(ut_metadata, so_selects_files_once_the_metadata_is_in, .timeout = 60)
{
  static const struct th_file f[] = {{"a.bin", 2 * PIECE, 0},
                                     {"b.bin", 3 * PIECE, 0},
                                     {"c.bin", PIECE + 5, 0}};
  struct pair p;
  th_pair_up(&p, f, 3, 1, PIECE);
  shoal_id lt = add_magnet(&p, p.leech, "&so=2");
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000));
  struct shoal_file_status fs[3];
  cr_assert_eq(shoal_torrent_files(p.leech, lt, fs, 3), 3);
  cr_expect_eq(fs[0].priority, SHOAL_PRIO_SKIP);
  cr_expect_eq(fs[1].priority, SHOAL_PRIO_SKIP);
  cr_expect_eq(fs[2].priority, SHOAL_PRIO_NORMAL);
  cr_expect_eq(fs[2].have_bytes, PIECE + 5);
  cr_expect_eq(fs[0].have_bytes, 0);
  struct shoal_status st = th_status(p.leech, lt);
  cr_expect_eq(st.wanted_bytes, PIECE + 5);
  /* BEP 53: the link again with so=0, for the torrent already there: file
   * 0 is wanted too */
  char hex[41], uri[256];
  for (int i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", p.ih[i]);
  snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&so=0", hex);
  struct shoal_magnet *m;
  char err[256];
  cr_assert_eq(shoal_magnet_parse(uri, &m, err, sizeof err), 0);
  struct shoal_add_params ap = {.save_dir = p.ldir};
  shoal_add_params_magnet(&ap, m);
  shoal_id again = 0;
  cr_expect_eq(shoal_torrent_add(p.leech, &ap, &again, err, sizeof err), -EEXIST);
  cr_expect_eq(again, lt);
  shoal_magnet_free(m);
  cr_assert_eq(shoal_torrent_files(p.leech, lt, fs, 3), 3);
  cr_expect_eq(fs[0].priority, SHOAL_PRIO_NORMAL, "selected now");
  cr_expect_eq(fs[1].priority, SHOAL_PRIO_SKIP, "still not");
  for (size_t k = 0; k < th_nev; k++)
    if (th_ev[k].e.id == lt && th_ev[k].e.type == SHOAL_EVENT_FINISHED)
      th_ev[k].e.type = 0;
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000), "a.bin arrived");
  cr_assert_eq(shoal_torrent_files(p.leech, lt, fs, 3), 3);
  cr_expect_eq(fs[0].have_bytes, 2 * PIECE);
  pair_down(&p);
}

Test(ut_metadata, resume_data_before_the_metadata_keeps_the_link, .timeout = 60)
{
  static const struct th_file f[] = {{"a.bin", PIECE, 0}, {"b.bin", PIECE + 9, 0}};
  struct pair p;
  th_pair_up(&p, f, 2, 1, PIECE);
  shoal_id lt = add_magnet(&p, p.leech, "&tr=http%3A%2F%2F127.0.0.1%3A9%2Fa&so=1");
  void *rd;
  size_t rlen;
  cr_assert_eq(shoal_torrent_resume_data(p.leech, lt, &rd, &rlen), 0);
  cr_assert_eq(shoal_torrent_remove(p.leech, lt, 0), 0);
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_REMOVED, 5000));
  /* back from the resume data alone, as a daemon restores it */
  struct shoal_add_params ap = {.resume = rd, .resume_len = rlen};
  char err[256] = "";
  cr_assert_eq(shoal_torrent_add(p.leech, &ap, &lt, err, sizeof err), 0, "%s", err);
  free(rd);
  struct shoal_status st = th_status(p.leech, lt);
  cr_expect_eq(st.state, SHOAL_METADATA);
  cr_expect_str_eq(st.name, "from a link", "the link's name");
  struct shoal_tracker_info ti[2];
  cr_assert_eq(shoal_torrent_trackers(p.leech, lt, ti, 2), 1, "the link's tracker");
  cr_expect_str_eq(ti[0].url, "http://127.0.0.1:9/a");
  th_link(&p.loop, p.leech, lt, "192.0.2.2", p.seed, "192.0.2.1");
  cr_assert(th_wait_event(&p.loop, p.leech, lt, SHOAL_EVENT_FINISHED, 30000));
  struct shoal_file_status fs[2];
  cr_assert_eq(shoal_torrent_files(p.leech, lt, fs, 2), 2);
  cr_expect_eq(fs[0].priority, SHOAL_PRIO_SKIP, "the link's so=1, remembered");
  cr_expect_eq(fs[1].have_bytes, PIECE + 9);
  pair_down(&p);
}
