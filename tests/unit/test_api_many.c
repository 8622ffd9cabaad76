/* The public API as a daemon uses it: a thousand small torrents in one
 * session (no sockets), added, paused, resumed, rechecked and removed with
 * and without their data by id, every step followed through the event
 * queue. Under ASan this also shows that adding and removing leaks
 * nothing. (A file of its own: Criterion's runner leaks a little when a
 * test this long shares a binary with quick ones.) */
#include "test_engine_harness.h"

#include "engine/torrent.h"

#define NTOR 1000
#define PIECE 16384u

struct many {
  uv_loop_t loop;
  shoal_session *s;
  char *dir, *rdir;
  struct th_torrent tt[NTOR];
  struct th_file files[NTOR];
  char names[NTOR][16];
  shoal_id id[NTOR];
};

static int count_seen(struct many *m, enum shoal_event_type type, int from, int to)
{
  int n = 0;
  for (int i = from; i < to; i++)
    n += th_seen(m->s, m->id[i], type) > 0;
  return n;
}

struct count_wait {
  struct many *m;
  enum shoal_event_type type;
  int from, to, want;
};

static int counted(void *ud)
{
  struct count_wait *w = ud;
  th_drain(w->m->s);
  return count_seen(w->m, w->type, w->from, w->to) >= w->want;
}

/* Torrent i: one piece of content of its own; the even ones have their
 * data on disk (they seed), the odd ones do not (they wait for peers). */
static void many_up(struct many *m)
{
  memset(m, 0, sizeof *m);
  th_nev = 0;
  uv_loop_init(&m->loop);
  m->dir = th_tmpdir();
  m->rdir = th_tmpdir();
  struct shoal_settings set;
  th_settings_mem(&set);
  set.resume_dir = m->rdir;
  set.event_queue_len = 4 * NTOR;
  m->s = th_session(&m->loop, &set);
  for (int i = 0; i < NTOR; i++) {
    snprintf(m->names[i], sizeof m->names[i], "t%04d.bin", i);
    m->files[i] = (struct th_file){m->names[i], PIECE - (uint64_t)i % 100, 0};
    th_torrent_build(&m->tt[i], m->names[i], &m->files[i], 1, 0, PIECE);
    if (i % 2 == 0)
      th_write_content(&m->tt[i], m->dir);
    m->id[i] = th_add(m->s, &m->tt[i], m->dir, 0);
  }
  struct count_wait w = {m, SHOAL_EVENT_CHECKED, 0, NTOR, NTOR};
  cr_assert(th_run_until(&m->loop, NULL, counted, &w, 60000), "every torrent checked");
}

static void many_down(struct many *m)
{
  th_close(&m->loop, &m->s, 1);
  cr_expect_eq(uv_loop_close(&m->loop), 0);
  for (int i = 0; i < NTOR; i++)
    th_torrent_free(&m->tt[i]);
  th_rmtree(m->dir);
  th_rmtree(m->rdir);
}

static int file_exists(const char *dir, const char *name)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct stat sb;
  return stat(path, &sb) == 0;
}

Test(api_many, a_thousand_torrents_by_id, .timeout = 120)
{
  struct many *m = calloc(1, sizeof *m);
  many_up(m);
  shoal_session *s = m->s;
  /* ids are distinct, lookups by info-hash go through the hash table */
  struct shoal_status *all = calloc(NTOR + 1, sizeof *all);
  cr_assert_eq(shoal_torrent_status_all(s, all, NTOR + 1), NTOR);
  for (int i = 0; i < NTOR; i++) {
    cr_assert_eq(all[i].id, m->id[i], "listed in the order added");
    shoal_id found = 0;
    cr_assert_eq(shoal_torrent_find(s, all[i].info_hash, &found), 0);
    cr_assert_eq(found, m->id[i]);
    cr_assert_eq(all[i].state, i % 2 ? SHOAL_DOWNLOADING : SHOAL_SEEDING, "torrent %d", i);
  }
  cr_expect_eq(s->by_hash.n, NTOR);
  cr_expect_geq(s->by_hash.cap, 2 * NTOR, "the table stays at most half full");
  /* adding one again names the first */
  shoal_id again = 0;
  struct shoal_add_params p = {.torrent = m->tt[7].raw.data, .torrent_len = m->tt[7].raw.len,
                               .save_dir = m->dir};
  char err[256];
  cr_expect_eq(shoal_torrent_add(s, &p, &again, err, sizeof err), -EEXIST);
  cr_expect_eq(again, m->id[7]);

  /* pause every other one */
  for (int i = 0; i < NTOR; i += 2)
    cr_assert_eq(shoal_torrent_pause(s, m->id[i]), 0);
  struct count_wait paused = {m, SHOAL_EVENT_PAUSED, 0, NTOR, NTOR / 2};
  cr_assert(th_run_until(&m->loop, NULL, counted, &paused, 30000), "paused");
  cr_expect_eq(th_status(s, m->id[0]).state, SHOAL_PAUSED);
  cr_expect_eq(th_status(s, m->id[1]).state, SHOAL_DOWNLOADING);
  /* resume a quarter: their resume data is trusted, no check */
  size_t checked_before = (size_t)th_seen(s, 0, SHOAL_EVENT_CHECKED);
  for (int i = 0; i < NTOR / 2; i += 2)
    cr_assert_eq(shoal_torrent_resume(s, m->id[i]), 0);
  cr_expect_eq(th_status(s, m->id[0]).state, SHOAL_SEEDING, "resume data: seeding at once");
  cr_expect_eq(th_status(s, m->id[NTOR - 2]).state, SHOAL_PAUSED);
  th_drain(s);
  cr_expect_eq((size_t)th_seen(s, 0, SHOAL_EVENT_CHECKED), checked_before + NTOR / 4);
  cr_expect_eq(th_seen(s, m->id[0], SHOAL_EVENT_RESUMED), 1);

  /* recheck 50 seeding ones: they check again and seed again */
  for (int i = 0; i < 100; i += 2)
    cr_assert_eq(shoal_torrent_recheck(s, m->id[i]), 0);
  struct count_wait rechecked = {m, SHOAL_EVENT_CHECKED, 0, 100, 50};
  for (int i = 0; i < 100; i++)
    for (size_t k = 0; k < th_nev; k++)
      if (th_ev[k].e.id == m->id[i] && th_ev[k].e.type == SHOAL_EVENT_CHECKED)
        th_ev[k].e.type = 0; /* count only checks from now on */
  cr_assert(th_run_until(&m->loop, NULL, counted, &rechecked, 30000), "rechecked");
  for (int i = 0; i < 100; i += 2)
    cr_expect_eq(th_status(s, m->id[i]).state, SHOAL_SEEDING, "rechecked %d: state %d", i,
                 th_status(s, m->id[i]).state);

  /* remove 200 (seeding and paused) keeping their data, 200 deleting it */
  char rpath[4096], hex[41];
  struct shoal_status gone = th_status(s, m->id[150]);
  for (int k = 0; k < 20; k++)
    snprintf(hex + 2 * k, 3, "%02x", gone.info_hash[k]);
  snprintf(rpath, sizeof rpath, "%s/%s.resume", m->rdir, hex);
  for (int i = 100; i < 300; i++)
    cr_assert_eq(shoal_torrent_remove(s, m->id[i], 0), 0);
  for (int i = 300; i < 500; i++)
    cr_assert_eq(shoal_torrent_remove(s, m->id[i], 1), 0);
  cr_expect_eq(shoal_torrent_pause(s, m->id[100]), -ENOENT, "the id is gone at once");
  struct count_wait removed = {m, SHOAL_EVENT_REMOVED, 100, 500, 400};
  cr_assert(th_run_until(&m->loop, NULL, counted, &removed, 30000), "removed");
  cr_expect_eq(shoal_torrent_status_all(s, all, NTOR), NTOR - 400);
  struct shoal_status st;
  cr_expect_eq(shoal_torrent_status(s, m->id[150], &st), -ENOENT);
  cr_expect(file_exists(m->dir, m->names[100]), "kept: its data");
  cr_expect_not(file_exists(m->dir, m->names[300]), "deleted: its data");
  struct stat sb;
  cr_expect_neq(stat(rpath, &sb), 0, "a removed torrent's resume file goes too");
  cr_expect_eq(s->by_hash.n, NTOR - 400, "the table forgot them");
  /* the queue never overflowed */
  cr_expect_eq(shoal_session_events_dropped(s), 0);
  free(all);
  many_down(m);
  free(m);
}

