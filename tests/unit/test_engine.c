/* The engine end to end, in one process: a seeding session and a leeching
 * session on one uv loop over 127.0.0.1, and the leecher's files must come
 * out byte-identical. */
#include "test_engine_harness.h"
#include "engine/torrent.h"

/* Seeds t from a fresh directory to a fresh leecher; checks the result. */
static void transfer(const struct th_torrent *tt, int leechers)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *seed_dir = th_tmpdir();
  th_write_content(tt, seed_dir);

  struct shoal_settings set;
  th_settings(&set);
  shoal_session *seed = th_session(&loop, &set);
  shoal_id st = th_add(seed, tt, seed_dir, 1);
  cr_assert(th_wait_event(&loop, seed, st, SHOAL_EVENT_FINISHED, 20000), "seed finished its check");
  struct shoal_status ss = th_status(seed, st);
  cr_assert_eq(ss.state, SHOAL_SEEDING, "seed state %d (%s)", ss.state, ss.error);

  shoal_session *ls[4] = {0};
  shoal_id lt[4];
  char *ldir[4];
  for (int i = 0; i < leechers; i++) {
    ldir[i] = th_tmpdir();
    ls[i] = th_session(&loop, &set);
    lt[i] = th_add(ls[i], tt, ldir[i], 0);
    th_add_peer(ls[i], lt[i], shoal_session_port(seed));
    /* leechers also know each other: they trade pieces among themselves */
    for (int j = 0; j < i; j++)
      th_add_peer(ls[i], lt[i], shoal_session_port(ls[j]));
  }
  for (int i = 0; i < leechers; i++) {
    cr_assert(th_wait_event(&loop, ls[i], lt[i], SHOAL_EVENT_FINISHED, 60000),
              "leecher %d completed (%s)", i, th_event_text(ls[i], lt[i], SHOAL_EVENT_ERROR));
    struct shoal_status ls_st = th_status(ls[i], lt[i]);
    cr_expect_eq(ls_st.state, SHOAL_SEEDING);
    cr_expect_eq(ls_st.pieces_have, ls_st.num_pieces);
    cr_expect_eq(ls_st.have_bytes, tt->total);
    cr_expect_eq(ls_st.hash_failures, 0);
    cr_expect_geq(ls_st.downloaded, tt->total ? 1 : 0);
    const struct shoal_torrent *t = sh_torrent_by_id(ls[i], lt[i]);
    cr_expect_null(t->bufs.base, "leecher %d gave its piece buffers back once complete", i);
    cr_expect_eq(t->bufs_held, 0);
  }
  /* pause one torrent by hand: SHOAL_EVENT_PAUSED when it is done */
  cr_assert_eq(shoal_torrent_pause(ls[0], lt[0]), 0);
  cr_assert(th_wait_event(&loop, ls[0], lt[0], SHOAL_EVENT_PAUSED, 10000), "paused");
  cr_expect_eq(th_status(ls[0], lt[0]).state, SHOAL_PAUSED);
  shoal_session *all[5] = {seed, ls[0], ls[1], ls[2], ls[3]};
  th_close(&loop, all, 1 + leechers);
  for (int i = 0; i < leechers; i++) {
    cr_expect(th_content_equal(tt, ldir[i]), "leecher %d has identical content", i);
    th_rmtree(ldir[i]);
  }
  th_rmtree(seed_dir);
  cr_expect_eq(uv_loop_close(&loop), 0, "every handle was closed");
}

Test(engine, single_file_odd_size, .timeout = 120)
{
  /* 3 MiB + 1234 bytes: the last piece is short and not block-aligned */
  static const struct th_file files[] = {{"single.bin", 3 * 1048576 + 1234, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "single.bin", files, 1, 0, 262144);
  transfer(&tt, 1);
  th_torrent_free(&tt);
}

Test(engine, multi_file_nested_and_empty, .timeout = 120)
{
  /* sizes that straddle pieces, a zero-length file, nested directories */
  static const struct th_file files[] = {
      {"a.txt", 100000, 0},
      {"empty.dat", 0, 0},
      {"dir/b.bin", 300001, 0},
      {"dir/sub/c.bin", 65536, 0},
      {"dir/sub/deeper/d", 777777, 0},
      {"z", 1, 0},
  };
  struct th_torrent tt;
  th_torrent_build(&tt, "multi", files, sizeof files / sizeof files[0], 1, 65536);
  transfer(&tt, 1);
  th_torrent_free(&tt);
}

Test(engine, three_leechers_one_seed, .timeout = 120)
{
  static const struct th_file files[] = {{"swarm.bin", 5 * 1048576 + 17, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "swarm.bin", files, 1, 0, 131072);
  transfer(&tt, 3);
  th_torrent_free(&tt);
}

Test(engine, seed_only_incomplete_data_is_an_error, .timeout = 120)
{
  static const struct th_file files[] = {{"part.bin", 1048576, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "part.bin", files, 1, 0, 65536);
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *dir = th_tmpdir();
  th_write_content(&tt, dir);
  /* damage one piece */
  char path[4096];
  snprintf(path, sizeof path, "%s/part.bin", dir);
  FILE *f = fopen(path, "r+b");
  fseek(f, 70000, SEEK_SET);
  fputc(tt.data[70000] ^ 0xff, f);
  fclose(f);
  struct shoal_settings set;
  th_settings(&set);
  shoal_session *s = th_session(&loop, &set);
  shoal_id t = th_add(s, &tt, dir, 1);
  cr_assert(th_wait_event(&loop, s, t, SHOAL_EVENT_ERROR, 20000));
  struct shoal_status ss = th_status(s, t);
  cr_expect_eq(ss.state, SHOAL_ERROR);
  cr_expect_str_eq(ss.error, "data incomplete: 15 of 16 pieces");
  cr_expect_str_eq(th_event_text(s, t, SHOAL_EVENT_ERROR), ss.error);
  cr_expect_eq(th_seen(s, t, SHOAL_EVENT_FINISHED), 0);
  th_close(&loop, &s, 1);
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(dir);
  th_torrent_free(&tt);
}

Test(engine, resume_data_skips_the_check, .timeout = 120)
{
  static const struct th_file files[] = {{"res.bin", 2 * 1048576 + 5, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "res.bin", files, 1, 0, 262144);
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *dir = th_tmpdir(), *rdir = th_tmpdir();
  th_write_content(&tt, dir);
  struct shoal_settings set;
  th_settings(&set);
  set.resume_dir = rdir;
  for (int round = 0; round < 2; round++) {
    shoal_session *s = th_session(&loop, &set);
    struct sh_metainfo *m = th_metainfo(&tt);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.resume", rdir, m->info_hash_hex);
    sh_metainfo_free(m);
    shoal_id t = th_add(s, &tt, dir, 1);
    struct shoal_status ss = th_status(s, t);
    /* the first start checks the data; the second trusts the resume file */
    cr_expect_eq(ss.state, round == 0 ? SHOAL_CHECKING : SHOAL_SEEDING, "round %d state %d", round,
                 ss.state);
    cr_assert(th_wait_event(&loop, s, t, SHOAL_EVENT_FINISHED, 20000), "round %d complete", round);
    th_close(&loop, &s, 1);
    struct stat sb;
    cr_expect_eq(stat(path, &sb), 0, "resume file written at stop (round %d)", round);
  }
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(dir);
  th_rmtree(rdir);
  th_torrent_free(&tt);
}

/* Rate limits: the transfer of SIZE bytes cannot beat SIZE / rate, minus
 * the bucket's initial burst (200 ms worth, at least 32 KiB). */
static double limited_transfer(int64_t up_rate, int64_t down_rate)
{
  static const struct th_file files[] = {{"slow.bin", 3 * 1048576, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "slow.bin", files, 1, 0, 262144);
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *sdir = th_tmpdir(), *ldir = th_tmpdir();
  th_write_content(&tt, sdir);
  struct shoal_settings set;
  th_settings(&set);
  set.upload_rate = up_rate;
  shoal_session *seed = th_session(&loop, &set);
  shoal_id st = th_add(seed, &tt, sdir, 1);
  cr_assert(th_wait_event(&loop, seed, st, SHOAL_EVENT_FINISHED, 20000));
  th_settings(&set);
  set.download_rate = down_rate;
  shoal_session *leech = th_session(&loop, &set);
  shoal_id lt = th_add(leech, &tt, ldir, 0);
  uv_update_time(&loop);
  uint64_t t0 = uv_now(&loop);
  th_add_peer(leech, lt, shoal_session_port(seed));
  cr_assert(th_wait_event(&loop, leech, lt, SHOAL_EVENT_FINISHED, 60000),
            "limited download completed");
  double secs = (double)(uv_now(&loop) - t0) / 1000.0;
  shoal_session *all[2] = {seed, leech};
  th_close(&loop, all, 2);
  cr_expect(th_content_equal(&tt, ldir));
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(sdir);
  th_rmtree(ldir);
  th_torrent_free(&tt);
  return secs;
}

Test(engine, upload_rate_limit, .timeout = 120)
{
  /* 3 MiB at 1 MiB/s: at least ~2.6 s (burst 200 KiB) */
  double s = limited_transfer(1 << 20, 0);
  cr_expect_geq(s, 2.5, "3 MiB at 1 MiB/s upload took %.2f s", s);
  cr_expect_leq(s, 30.0, "took %.2f s", s);
}

Test(engine, download_rate_limit, .timeout = 120)
{
  double s = limited_transfer(0, 1 << 20);
  cr_expect_geq(s, 2.5, "3 MiB at 1 MiB/s download took %.2f s", s);
  cr_expect_leq(s, 30.0, "took %.2f s", s);
}

Test(engine, write_error_names_the_file_and_spares_other_torrents, .timeout = 120)
{
  /* The leecher's target path is taken by a directory: writing fails, that
   * torrent goes to SHOAL_ERROR naming the file; a second torrent in the
   * same session still downloads. */
  static const struct th_file f1[] = {{"blocked.bin", 1048576, 0}};
  static const struct th_file f2[] = {{"fine.bin", 1048576 + 3, 0}};
  struct th_torrent t1, t2;
  th_torrent_build(&t1, "blocked.bin", f1, 1, 0, 65536);
  th_torrent_build(&t2, "fine.bin", f2, 1, 0, 65536);
  uv_loop_t loop;
  uv_loop_init(&loop);
  char *sdir = th_tmpdir(), *ldir = th_tmpdir();
  th_write_content(&t1, sdir);
  th_write_content(&t2, sdir);
  char path[4096];
  snprintf(path, sizeof path, "%s/blocked.bin", ldir);
  cr_assert_eq(mkdir(path, 0755), 0);
  struct shoal_settings set;
  th_settings(&set);
  shoal_session *seed = th_session(&loop, &set), *leech = th_session(&loop, &set);
  th_add(seed, &t1, sdir, 1);
  th_add(seed, &t2, sdir, 1);
  shoal_id lt1 = th_add(leech, &t1, ldir, 0), lt2 = th_add(leech, &t2, ldir, 0);
  th_add_peer(leech, lt1, shoal_session_port(seed));
  cr_assert(th_wait_event(&loop, leech, lt1, SHOAL_EVENT_ERROR, 30000),
            "the blocked torrent reported an error");
  th_add_peer(leech, lt2, shoal_session_port(seed));
  cr_assert(th_wait_event(&loop, leech, lt2, SHOAL_EVENT_FINISHED, 30000),
            "the other torrent completed");
  struct shoal_status st = th_status(leech, lt1);
  cr_expect_eq(st.state, SHOAL_ERROR);
  cr_expect(strstr(st.error, "blocked.bin") != NULL, "error names the file: '%s'", st.error);
  cr_expect_eq(th_seen(leech, lt1, SHOAL_EVENT_FINISHED), 0);
  shoal_session *all[2] = {seed, leech};
  th_close(&loop, all, 2);
  cr_expect(th_content_equal(&t2, ldir));
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(sdir);
  th_rmtree(ldir);
  th_torrent_free(&t1);
  th_torrent_free(&t2);
}
