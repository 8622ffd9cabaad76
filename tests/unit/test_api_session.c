/* The public API's event queue and resume data: the queue's bound, and
 * resume data that brings a torrent back alone (test_api_many.c holds the
 * thousand torrents). */
#include "test_engine_harness.h"

#include "engine/torrent.h"

#define PIECE 16384u

Test(api_session, the_event_queue_is_bounded, .timeout = 60)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  th_nev = 0;
  struct shoal_settings set;
  th_settings_mem(&set);
  set.event_queue_len = 8;
  set.on_event = NULL; /* nobody drains: the queue fills */
  shoal_session *s = NULL;
  char err[256];
  cr_assert_eq(shoal_session_new(&loop, &set, &s, err, sizeof err), 0);
  static const struct th_file f[] = {{"q.bin", 1000, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "q.bin", f, 1, 0, PIECE);
  char *dir = th_tmpdir();
  struct shoal_add_params p = {.torrent = tt.raw.data, .torrent_len = tt.raw.len,
                               .save_dir = dir, .paused = 1};
  shoal_id id;
  cr_assert_eq(shoal_torrent_add(s, &p, &id, err, sizeof err), 0);
  for (int i = 0; i < 10; i++) {
    cr_assert_eq(shoal_torrent_resume(s, id), 0);
    cr_assert_eq(shoal_torrent_pause(s, id), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  struct shoal_event ev[16];
  size_t n = shoal_session_events(s, ev, 16);
  cr_expect_eq(n, 8, "the queue holds 8");
  cr_expect_gt(shoal_session_events_dropped(s), 0, "and counts what it dropped");
  cr_expect_neq(ev[0].type, SHOAL_EVENT_ADDED, "the oldest went first");
  cr_expect_eq(shoal_session_events(s, ev, 16), 0);
  int done = 0;
  shoal_session_close(s, th_closed, &done);
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(dir);
  th_torrent_free(&tt);
}

Test(api_session, resume_data_brings_a_torrent_back, .timeout = 60)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  th_nev = 0;
  static const struct th_file f[] = {{"back.bin", 5 * PIECE + 77, 0}};
  struct th_torrent tt;
  th_torrent_build(&tt, "back.bin", f, 1, 0, PIECE);
  char *dir = th_tmpdir();
  th_write_content(&tt, dir);
  struct shoal_settings set;
  th_settings_mem(&set);
  shoal_session *s = th_session(&loop, &set);
  shoal_id id = th_add(s, &tt, dir, 0);
  cr_assert(th_wait_event(&loop, s, id, SHOAL_EVENT_FINISHED, 20000));
  cr_assert_eq(shoal_torrent_pause(s, id), 0);
  cr_assert(th_wait_event(&loop, s, id, SHOAL_EVENT_PAUSED, 20000));
  void *rd = NULL, *tf = NULL;
  size_t rlen = 0, tlen = 0;
  cr_assert_eq(shoal_torrent_resume_data(s, id, &rd, &rlen), 0);
  cr_assert_eq(shoal_torrent_file(s, id, &tf, &tlen), 0);
  cr_expect_eq(tlen, tt.raw.len);
  cr_expect_eq(memcmp(tf, tt.raw.data, tlen), 0, "the .torrent, as added");
  free(tf);
  th_close(&loop, &s, 1);
  /* a new session: the resume data alone adds it back, paused, in dir */
  s = th_session(&loop, &set);
  struct shoal_add_params p = {.resume = rd, .resume_len = rlen};
  char err[256] = "";
  shoal_id back = 0;
  cr_assert_eq(shoal_torrent_add(s, &p, &back, err, sizeof err), 0, "%s", err);
  struct shoal_status st = th_status(s, back);
  cr_expect_str_eq(st.name, "back.bin");
  cr_expect_eq(st.state, SHOAL_PAUSED, "it was paused when saved");
  cr_assert_eq(shoal_torrent_resume(s, back), 0);
  st = th_status(s, back);
  cr_expect_eq(st.state, SHOAL_SEEDING, "its pieces were trusted: no check");
  cr_expect_eq(st.pieces_have, 6);
  /* resume data of another torrent's bytes is refused */
  free(rd);
  th_close(&loop, &s, 1);
  cr_expect_eq(uv_loop_close(&loop), 0);
  th_rmtree(dir);
  th_torrent_free(&tt);
}
