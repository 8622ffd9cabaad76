/* The daemon's SQLite store: a fresh database gets the latest schema; a
 * database of every older version migrates to the latest keeping its
 * rows; a newer one is refused; rows round-trip; a batch of resume data
 * is one transaction; the alt-speed schedule's windows. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/store.h"

static char dir[] = "/tmp/shoal-store-XXXXXX";
static char path[256];

static void setup(void)
{
  cr_assert(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/state.db", dir);
}

static void teardown(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert(system(cmd) == 0);
  strcpy(dir, "/tmp/shoal-store-XXXXXX");
}

TestSuite(daemon_store, .init = setup, .fini = teardown);

static int count_rows(void *ud, struct dtor *t, const void *tor, size_t tlen, const void *res,
                      size_t rlen, const char *d)
{
  struct dtor *out = ud;
  (void)tor;
  (void)res;
  (void)rlen;
  (void)d;
  cr_assert_eq(tlen, 5);
  out[0].rid++; /* the count */
  out[t->rid] = *t;
  out[t->rid].nlabels = 0;
  out[t->rid].trackers = t->trackers ? strdup(t->trackers) : NULL; /* t's are freed */
  out[t->rid].renames = t->renames ? strdup(t->renames) : NULL;
  return 0;
}

Test(daemon_store, fresh_is_latest)
{
  struct sh_store *s;
  char err[256];
  cr_assert_eq(sh_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
  cr_assert_eq(sh_store_version(s), sh_store_latest_version());
  sh_store_close(s);
}

/* Every older version, with a row written by that version's own SQL, comes
 * up to the latest with the row intact and the new columns at defaults. */
Test(daemon_store, migrates_from_each_version)
{
  for (int v = 1; v < sh_store_latest_version(); v++) {
    unlink(path);
    struct sh_store *s;
    char err[256];
    cr_assert_eq(sh_store_open(path, v, &s, err, sizeof err), 0, "v%d: %s", v, err);
    cr_assert_eq(sh_store_version(s), v);
    sh_store_close(s);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "INSERT INTO torrents(info_hash, torrent, download_dir, added_date,"
                              " stopped, uploaded) VALUES(zeroblob(20), x'6431323a65', '/dl', 1234,"
                              " 1, 99)",
                              NULL, NULL, NULL),
                 SQLITE_OK, "v%d: %s", v, sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(sh_store_open(path, 0, &s, err, sizeof err), 0, "v%d -> latest: %s", v, err);
    cr_assert_eq(sh_store_version(s), sh_store_latest_version());
    struct dtor rows[4];
    memset(rows, 0, sizeof rows);
    cr_assert_eq(sh_store_each(s, count_rows, rows), 0);
    cr_assert_eq(rows[0].rid, 1, "v%d: one row", v);
    cr_assert_eq(rows[1].added_date, 1234);
    cr_assert_eq(rows[1].stopped, 1);
    cr_assert_eq(rows[1].up_base, 99);
    cr_assert_eq(rows[1].honors_session, 1, "new columns take their defaults");
    cr_assert_eq(rows[1].peer_limit, 50);
    cr_assert_null(rows[1].trackers, "the torrent's own trackers");
    cr_assert_null(rows[1].renames, "no renames");
    cr_assert_eq(rows[1].whole, 0, "not known whole: it does not start dormant");
    sh_store_close(s);
  }
}

Test(daemon_store, newer_is_refused)
{
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  struct sh_store *s;
  char err[256];
  cr_assert_lt(sh_store_open(path, 0, &s, err, sizeof err), 0);
  cr_assert(strstr(err, "newer"), "%s", err);
}

Test(daemon_store, rows_round_trip)
{
  struct sh_store *s;
  char err[256];
  cr_assert_eq(sh_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
  struct dtor t;
  memset(&t, 0, sizeof t);
  memset(t.ih, 7, 20);
  t.added_date = 42;
  t.ratio_limit = 1.5;
  t.ratio_mode = TR_MODE_SINGLE;
  t.peer_limit = 60;
  t.honors_session = 1;
  char *labels[] = {"tv"};
  t.labels = labels;
  t.nlabels = 1;
  cr_assert_eq(sh_store_insert(s, &t, "d1:ae", 5, "/x"), 0);
  cr_assert_eq(t.rid, 1);
  cr_assert_lt(sh_store_insert(s, &t, "d1:ae", 5, "/x"), 0, "one row per info-hash");
  t.queue_pos = 5;
  t.stopped = 1;
  cr_assert_eq(sh_store_update(s, &t), 0);
  cr_assert_eq(sh_store_begin(s), 0);
  cr_assert_eq(sh_store_set_resume(s, t.rid, "resume", 6, 10, 20, 1), 0);
  cr_assert_eq(sh_store_commit(s), 0);
  cr_assert_eq(sh_store_set_trackers(s, t.rid, "http://a/announce\n\nudp://b:1\n"), 0);
  cr_assert_eq(sh_store_set_renames(s, t.rid, "[[\"a\",\"b\"]]"), 0);
  sh_store_close(s);
  cr_assert_eq(sh_store_open(path, 0, &s, err, sizeof err), 0, "%s", err);
  struct dtor rows[4];
  memset(rows, 0, sizeof rows);
  cr_assert_eq(sh_store_each(s, count_rows, rows), 0);
  cr_assert_eq(rows[0].rid, 1);
  cr_assert_eq(rows[1].queue_pos, 5);
  cr_assert_eq(rows[1].stopped, 1);
  cr_assert_eq(rows[1].ratio_mode, TR_MODE_SINGLE);
  cr_assert_float_eq(rows[1].ratio_limit, 1.5, 1e-9);
  cr_assert_eq(rows[1].up_base, 10);
  cr_assert_eq(rows[1].down_base, 20);
  cr_assert_eq(rows[1].whole, 1, "every piece verified, as saved");
  cr_assert_str_eq(rows[1].trackers, "http://a/announce\n\nudp://b:1\n");
  cr_assert_str_eq(rows[1].renames, "[[\"a\",\"b\"]]");
  free(rows[1].trackers);
  free(rows[1].renames);
  cr_assert_eq(sh_store_delete(s, 1), 0);
  memset(rows, 0, sizeof rows);
  cr_assert_eq(sh_store_each(s, count_rows, rows), 0);
  cr_assert_eq(rows[0].rid, 0, "deleted");
  cr_assert_eq(sh_store_set_stat(s, "uploaded", 77), 0);
  cr_assert_eq(sh_store_stat(s, "uploaded"), 77);
  cr_assert_eq(sh_store_stat(s, "nothing"), 0);
  sh_store_close(s);
}

Test(daemon_store, alt_speed_schedule)
{
  struct shoal_daemon_config c;
  shoal_daemon_config_default(&c);
  c.alt_speed_time_begin = 9 * 60;
  c.alt_speed_time_end = 17 * 60;
  c.alt_speed_time_day = 2 | 4 | 8 | 16 | 32; /* weekdays */
  cr_assert(sh_daemon_schedule_on(&c, 1, 10 * 60), "Monday 10:00");
  cr_assert(!sh_daemon_schedule_on(&c, 1, 17 * 60), "Monday 17:00: the end is out");
  cr_assert(!sh_daemon_schedule_on(&c, 0, 10 * 60), "Sunday");
  /* past midnight: Friday 22:00 to Saturday 06:00 belongs to Friday */
  c.alt_speed_time_begin = 22 * 60;
  c.alt_speed_time_end = 6 * 60;
  c.alt_speed_time_day = 32; /* Friday */
  cr_assert(sh_daemon_schedule_on(&c, 5, 23 * 60), "Friday 23:00");
  cr_assert(sh_daemon_schedule_on(&c, 6, 5 * 60), "Saturday 05:00, from Friday");
  cr_assert(!sh_daemon_schedule_on(&c, 5, 5 * 60), "Friday 05:00 began on Thursday");
}
