/* The daemon's SQLite database; see store.h. */
#include "daemon/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "daemon/dpool.h"

struct sh_store {
  sqlite3 *db;
  sqlite3_stmt *ins, *upd, *res, *del, *dir, *stat_get, *stat_set;
  char path[512];
};

/* Each entry takes the schema from version i to i + 1. Never edit one that
 * has shipped: add the next. */
static const char *const migrations[] = {
    /* 1: torrents and counters */
    "CREATE TABLE torrents("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " info_hash BLOB NOT NULL UNIQUE,"
    " torrent BLOB,"
    " download_dir TEXT NOT NULL,"
    " added_date INTEGER NOT NULL,"
    " done_date INTEGER NOT NULL DEFAULT 0,"
    " queue_pos INTEGER NOT NULL DEFAULT 0,"
    " stopped INTEGER NOT NULL DEFAULT 0,"
    " resume BLOB,"
    " uploaded INTEGER NOT NULL DEFAULT 0,"
    " downloaded INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE stats(key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    /* 2: per-torrent settings a Transmission client sets */
    "ALTER TABLE torrents ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE torrents ADD COLUMN bandwidth_priority INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN ratio_mode INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN ratio_limit REAL NOT NULL DEFAULT 2.0;"
    "ALTER TABLE torrents ADD COLUMN idle_mode INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN idle_limit INTEGER NOT NULL DEFAULT 30;"
    "ALTER TABLE torrents ADD COLUMN up_limit INTEGER NOT NULL DEFAULT 100;"
    "ALTER TABLE torrents ADD COLUMN up_limited INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN down_limit INTEGER NOT NULL DEFAULT 100;"
    "ALTER TABLE torrents ADD COLUMN down_limited INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN honors_session INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE torrents ADD COLUMN peer_limit INTEGER NOT NULL DEFAULT 50;",
    /* 3: what torrent-get reports across restarts */
    "ALTER TABLE torrents ADD COLUMN activity_date INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN corrupt INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE torrents ADD COLUMN limit_stopped INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX torrents_queue ON torrents(queue_pos);",
    /* 4: a torrent added by magnet link: the link, until the metadata
     * comes (then `torrent` holds it too) */
    "ALTER TABLE torrents ADD COLUMN magnet TEXT;",
    /* 5: the trackers torrent-set chose (trackerList's text), NULL while
     * the torrent's own are used; the renames torrent-rename-path made, in
     * order (a JSON array of [path, name]) */
    ("ALTER TABLE torrents ADD COLUMN trackers TEXT;"
     "ALTER TABLE torrents ADD COLUMN renames TEXT;"),
    /* 6: every piece was verified when its resume data was saved: a seed
     * that may start dormant (dormant.c) */
    "ALTER TABLE torrents ADD COLUMN whole INTEGER NOT NULL DEFAULT 0;",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int sh_store_latest_version(void) { return NMIGRATIONS; }

static int fail(struct sh_store *s, char *err, size_t errlen, const char *what)
{
  return sh_errf(err, errlen, -EIO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(struct sh_store *s, const char *sql)
{
  char *msg = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) {
    sh_warn("%s: %s", s->path, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return -EIO;
  }
  return 0;
}

int sh_store_version(struct sh_store *s)
{
  sqlite3_stmt *st;
  int v = -1;
  if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  return v;
}

static int migrate(struct sh_store *s, int target, char *err, size_t errlen)
{
  int v = sh_store_version(s);
  if (v < 0)
    return fail(s, err, errlen, "cannot read the schema version");
  if (v > NMIGRATIONS)
    return sh_errf(err, errlen, -EPROTO,
                   "%s: schema version %d is newer than this shoal's (%d): refusing to touch it",
                   s->path, v, NMIGRATIONS);
  for (; v < target; v++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", v + 1);
    if (exec(s, "BEGIN IMMEDIATE") < 0)
      return fail(s, err, errlen, "cannot begin a migration");
    if (exec(s, migrations[v]) < 0 || exec(s, bump) < 0) {
      exec(s, "ROLLBACK");
      return sh_errf(err, errlen, -EIO, "%s: migration to schema version %d failed", s->path,
                     v + 1);
    }
    if (exec(s, "COMMIT") < 0)
      return fail(s, err, errlen, "cannot commit a migration");
    if (v > 0)
      sh_info("%s: schema migrated to version %d", s->path, v + 1);
  }
  return 0;
}

static int prepare(struct sh_store *s, sqlite3_stmt **st, const char *sql)
{
  return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
             ? 0
             : -EIO;
}

#define SETTINGS_COLS                                                                       \
  "labels, bandwidth_priority, ratio_mode, ratio_limit, idle_mode, idle_limit, up_limit,"   \
  " up_limited, down_limit, down_limited, honors_session, peer_limit, queue_pos, stopped,"  \
  " done_date, activity_date, corrupt, limit_stopped"

static int prepare_all(struct sh_store *s)
{
  int rc = 0;
  rc |= prepare(s, &s->ins,
                "INSERT INTO torrents(info_hash, torrent, download_dir, added_date, " SETTINGS_COLS
                ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,"
                "?21,?22)");
  rc |= prepare(s, &s->upd,
                "UPDATE torrents SET labels=?5, bandwidth_priority=?6, ratio_mode=?7,"
                " ratio_limit=?8, idle_mode=?9, idle_limit=?10, up_limit=?11, up_limited=?12,"
                " down_limit=?13, down_limited=?14, honors_session=?15, peer_limit=?16,"
                " queue_pos=?17, stopped=?18, done_date=?19, activity_date=?20, corrupt=?21,"
                " limit_stopped=?22 WHERE id=?1");
  rc |= prepare(s, &s->res,
                "UPDATE torrents SET resume=?2, uploaded=?3, downloaded=?4, whole=?5 WHERE id=?1");
  rc |= prepare(s, &s->del, "DELETE FROM torrents WHERE id=?1");
  rc |= prepare(s, &s->dir, "UPDATE torrents SET download_dir=?2 WHERE id=?1");
  rc |= prepare(s, &s->stat_get, "SELECT value FROM stats WHERE key=?1");
  rc |= prepare(s, &s->stat_set, "INSERT OR REPLACE INTO stats(key, value) VALUES(?1, ?2)");
  return rc ? -EIO : 0;
}

int sh_store_open(const char *path, int version, struct sh_store **out, char *err, size_t errlen)
{
  *out = NULL;
  struct sh_store *s = calloc(1, sizeof *s);
  if (!s)
    return -ENOMEM;
  snprintf(s->path, sizeof s->path, "%s", path);
  int rc = 0;
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
      SQLITE_OK)
    rc = fail(s, err, errlen, "cannot open the database");
  /* a crash after a commit keeps it: WAL, and the WAL synced each commit */
  if (rc == 0 && (exec(s, "PRAGMA journal_mode=WAL") < 0 || exec(s, "PRAGMA synchronous=FULL") < 0))
    rc = fail(s, err, errlen, "cannot set WAL mode");
  if (rc == 0)
    sqlite3_busy_timeout(s->db, 5000);
  if (rc == 0)
    rc = migrate(s, version > 0 && version < NMIGRATIONS ? version : NMIGRATIONS, err, errlen);
  if (rc == 0 && sh_store_version(s) == NMIGRATIONS && prepare_all(s) < 0)
    rc = fail(s, err, errlen, "cannot prepare statements");
  if (rc < 0) {
    sh_store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

void sh_store_release_memory(struct sh_store *s) { sqlite3_db_release_memory(s->db); }

void sh_store_close(struct sh_store *s)
{
  if (!s)
    return;
  sqlite3_stmt *all[] = {s->ins, s->upd, s->res, s->del, s->dir, s->stat_get, s->stat_set};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    sqlite3_finalize(all[i]);
  sqlite3_close(s->db);
  free(s);
}

static char *labels_json(const struct dtor *t)
{
  json_t *a = json_array();
  for (int i = 0; i < t->nlabels; i++)
    json_array_append_new(a, json_string(t->labels[i]));
  char *j = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  return j;
}

/* Binds ?5..?22, the settings columns, from t. */
static int bind_settings(sqlite3_stmt *st, const struct dtor *t)
{
  char *labels = labels_json(t);
  if (!labels)
    return -ENOMEM;
  sqlite3_bind_text(st, 5, labels, -1, SQLITE_TRANSIENT);
  free(labels);
  sqlite3_bind_int(st, 6, t->bandwidth_priority);
  sqlite3_bind_int(st, 7, t->ratio_mode);
  sqlite3_bind_double(st, 8, t->ratio_limit);
  sqlite3_bind_int(st, 9, t->idle_mode);
  sqlite3_bind_int(st, 10, t->idle_limit);
  sqlite3_bind_int(st, 11, t->up_limit);
  sqlite3_bind_int(st, 12, t->up_limited);
  sqlite3_bind_int(st, 13, t->down_limit);
  sqlite3_bind_int(st, 14, t->down_limited);
  sqlite3_bind_int(st, 15, t->honors_session);
  sqlite3_bind_int(st, 16, t->peer_limit);
  sqlite3_bind_int64(st, 17, t->queue_pos);
  sqlite3_bind_int(st, 18, t->stopped);
  sqlite3_bind_int64(st, 19, t->done_date);
  sqlite3_bind_int64(st, 20, t->activity_date);
  sqlite3_bind_int64(st, 21, (int64_t)t->corrupt);
  sqlite3_bind_int(st, 22, t->limit_stopped);
  return 0;
}

/* Runs a prepared statement to its end and resets it. */
static int run(struct sh_store *s, sqlite3_stmt *st)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    sh_warn("%s: %s", s->path, sqlite3_errmsg(s->db));
    return -EIO;
  }
  return 0;
}

int sh_store_insert(struct sh_store *s, struct dtor *t, const void *torrent, size_t tlen,
                    const char *dir)
{
  sqlite3_stmt *st = s->ins;
  sqlite3_bind_blob(st, 1, t->ih, 20, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, torrent, (int)tlen, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, dir, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, t->added_date);
  if (bind_settings(st, t) < 0) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return -ENOMEM;
  }
  int rc = run(s, st);
  if (rc == 0)
    t->rid = sqlite3_last_insert_rowid(s->db);
  return rc;
}

int sh_store_update(struct sh_store *s, const struct dtor *t)
{
  sqlite3_bind_int64(s->upd, 1, t->rid);
  if (bind_settings(s->upd, t) < 0) {
    sqlite3_reset(s->upd);
    return -ENOMEM;
  }
  return run(s, s->upd);
}

int sh_store_set_dir(struct sh_store *s, int64_t rid, const char *dir)
{
  sqlite3_bind_int64(s->dir, 1, rid);
  sqlite3_bind_text(s->dir, 2, dir, -1, SQLITE_STATIC);
  return run(s, s->dir);
}

int sh_store_set_resume(struct sh_store *s, int64_t rid, const void *resume, size_t len,
                        uint64_t up, uint64_t down, int whole)
{
  sqlite3_bind_int64(s->res, 1, rid);
  sqlite3_bind_int(s->res, 5, !!whole);
  sqlite3_bind_blob(s->res, 2, resume, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(s->res, 3, (int64_t)up);
  sqlite3_bind_int64(s->res, 4, (int64_t)down);
  return run(s, s->res);
}

int sh_store_delete(struct sh_store *s, int64_t rid)
{
  sqlite3_bind_int64(s->del, 1, rid);
  return run(s, s->del);
}

int sh_store_begin(struct sh_store *s) { return exec(s, "BEGIN IMMEDIATE"); }
int sh_store_commit(struct sh_store *s) { return exec(s, "COMMIT"); }

int64_t sh_store_stat(struct sh_store *s, const char *key)
{
  int64_t v = 0;
  sqlite3_bind_text(s->stat_get, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(s->stat_get) == SQLITE_ROW)
    v = sqlite3_column_int64(s->stat_get, 0);
  sqlite3_reset(s->stat_get);
  return v;
}

/* Rare (once per magnet link or tracker edit): a statement prepared per
 * call. */
static int set_column(struct sh_store *s, const char *sql, int64_t rid, const void *v,
                      size_t len, int text)
{
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
    return -EIO;
  if (text)
    sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_blob(st, 1, v, (int)len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, rid);
  int rc = run(s, st);
  sqlite3_finalize(st);
  return rc;
}

int sh_store_set_magnet(struct sh_store *s, int64_t rid, const char *link)
{
  return set_column(s, "UPDATE torrents SET magnet=?1 WHERE id=?2", rid, link, 0, 1);
}

int sh_store_set_trackers(struct sh_store *s, int64_t rid, const char *text)
{
  return set_column(s, "UPDATE torrents SET trackers=?1 WHERE id=?2", rid, text, 0, 1);
}

int sh_store_set_renames(struct sh_store *s, int64_t rid, const char *json)
{
  return set_column(s, "UPDATE torrents SET renames=?1 WHERE id=?2", rid, json, 0, 1);
}

int sh_store_set_torrent(struct sh_store *s, int64_t rid, const void *torrent, size_t len)
{
  return set_column(s, "UPDATE torrents SET torrent=?1 WHERE id=?2", rid, torrent, len, 0);
}

int sh_store_set_stat(struct sh_store *s, const char *key, int64_t v)
{
  sqlite3_bind_text(s->stat_set, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s->stat_set, 2, v);
  return run(s, s->stat_set);
}

static void row_labels(struct dtor *t, const char *j)
{
  json_t *a = json_loads(j ? j : "[]", 0, NULL);
  if (a)
    sh_daemon_set_labels(t, a);
  json_decref(a);
}

int sh_store_batch(struct sh_store *s, int64_t *after, int limit, sh_store_row_fn fn, void *ud)
{
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT id, info_hash, torrent, download_dir, added_date, resume, uploaded,"
                          " downloaded, " SETTINGS_COLS ", magnet, trackers, renames, whole"
                         " FROM torrents WHERE id > ?1 ORDER BY id LIMIT ?2",
                         -1, &st, NULL) != SQLITE_OK)
    return -EIO;
  sqlite3_bind_int64(st, 1, *after);
  sqlite3_bind_int(st, 2, limit);
  int rc = 0, n = 0;
  while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
    n++;
    struct dtor t;
    memset(&t, 0, sizeof t);
    t.rid = *after = sqlite3_column_int64(st, 0);
    if (sqlite3_column_bytes(st, 1) != 20)
      continue;
    memcpy(t.ih, sqlite3_column_blob(st, 1), 20);
    t.added_date = sqlite3_column_int64(st, 4);
    t.up_base = (uint64_t)sqlite3_column_int64(st, 6);
    t.down_base = (uint64_t)sqlite3_column_int64(st, 7);
    row_labels(&t, (const char *)sqlite3_column_text(st, 8));
    t.bandwidth_priority = sqlite3_column_int(st, 9);
    t.ratio_mode = sqlite3_column_int(st, 10);
    t.ratio_limit = sqlite3_column_double(st, 11);
    t.idle_mode = sqlite3_column_int(st, 12);
    t.idle_limit = sqlite3_column_int(st, 13);
    t.up_limit = sqlite3_column_int(st, 14);
    t.up_limited = sqlite3_column_int(st, 15);
    t.down_limit = sqlite3_column_int(st, 16);
    t.down_limited = sqlite3_column_int(st, 17);
    t.honors_session = sqlite3_column_int(st, 18);
    t.peer_limit = sqlite3_column_int(st, 19);
    t.queue_pos = sqlite3_column_int64(st, 20);
    t.stopped = sqlite3_column_int(st, 21);
    t.done_date = sqlite3_column_int64(st, 22);
    t.activity_date = sqlite3_column_int64(st, 23);
    t.corrupt = (uint64_t)sqlite3_column_int64(st, 24);
    t.limit_stopped = sqlite3_column_int(st, 25);
    const char *mag = (const char *)sqlite3_column_text(st, 26);
    t.magnet = sh_dp_strdup(mag);
    const char *trk = (const char *)sqlite3_column_text(st, 27);
    t.trackers = sh_dp_strdup(trk);
    const char *ren = (const char *)sqlite3_column_text(st, 28);
    t.renames = sh_dp_strdup(ren);
    t.whole = sqlite3_column_int(st, 29);
    rc = fn(ud, &t, sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
            sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5),
            (const char *)sqlite3_column_text(st, 3));
    for (int i = 0; i < t.nlabels; i++)
      sh_dp_free(t.labels[i]);
    sh_dp_free(t.labels);
    sh_dp_free(t.magnet);
    sh_dp_free(t.trackers);
    sh_dp_free(t.renames);
  }
  sqlite3_finalize(st);
  return rc < 0 ? rc : n;
}

int sh_store_each(struct sh_store *s, sh_store_row_fn fn, void *ud)
{
  int64_t after = 0;
  int rc = sh_store_batch(s, &after, -1, fn, ud);
  return rc < 0 ? rc : 0;
}
