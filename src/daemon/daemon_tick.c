/* The daemon's tick: once a second, the queues, ratio and idle limits,
 * the alt-speed schedule, activity dates and totals; resume data in
 * batches; the watch folder. See tick.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/vec.h"
#include "daemon/store.h"
#include "daemon/tick.h"

/* ---- speeds ---- */

int sh_daemon_schedule_on(const struct shoal_daemon_config *c, int weekday, int minute)
{
  int b = c->alt_speed_time_begin, e = c->alt_speed_time_end;
  /* a window past midnight (begin > end) belongs to the day it began */
  if (b <= e)
    return (c->alt_speed_time_day & (1 << weekday)) && minute >= b && minute < e;
  if (minute >= b)
    return !!(c->alt_speed_time_day & (1 << weekday));
  return minute < e && (c->alt_speed_time_day & (1 << ((weekday + 6) % 7)));
}

void sh_daemon_apply_speeds(struct shoal_daemon *d)
{
  const struct shoal_daemon_config *c = &d->cfg;
  int64_t up, down;
  if (c->alt_speed_enabled) {
    up = (int64_t)c->alt_speed_up * 1000;
    down = (int64_t)c->alt_speed_down * 1000;
  } else {
    up = c->speed_limit_up_enabled ? (int64_t)c->speed_limit_up * 1000 : 0;
    down = c->speed_limit_down_enabled ? (int64_t)c->speed_limit_down * 1000 : 0;
  }
  /* 0 kB/s means "nothing" in Transmission, 0 unlimited in the session */
  if (d->sess)
    shoal_session_set_rates(d->sess, up || !(c->alt_speed_enabled || c->speed_limit_up_enabled) ? up : 1,
                            down || !(c->alt_speed_enabled || c->speed_limit_down_enabled) ? down : 1);
}

static void run_schedule(struct shoal_daemon *d)
{
  if (!d->cfg.alt_speed_time_enabled)
    return;
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  int on = sh_daemon_schedule_on(&d->cfg, tm.tm_wday, tm.tm_hour * 60 + tm.tm_min);
  if (on != d->sched_active) {
    d->sched_active = on;
    d->cfg.alt_speed_enabled = on;
    sh_daemon_apply_speeds(d);
    sh_info("daemon: alternative speed limits %s by the schedule", on ? "on" : "off");
  }
}

/* ---- queues ---- */

static int by_queue_pos(const void *a, const void *b)
{
  const struct dtor *x = *(struct dtor *const *)a, *y = *(struct dtor *const *)b;
  return x->queue_pos < y->queue_pos ? -1 : x->queue_pos > y->queue_pos;
}

/* Is t taking a queue slot? Stalled downloads do not (Transmission).
 * From the daemon's own flags, so a pass over 10,000 torrents asks the
 * engine nothing. */
static int active(const struct shoal_daemon *d, const struct dtor *t, int64_t now)
{
  if (t->queued || t->stopped || t->start_now)
    return 0;
  int64_t stall = (int64_t)d->cfg.queue_stalled_minutes * 60;
  return t->complete || !(d->cfg.queue_stalled_enabled && t->stalled_since &&
                          now - t->stalled_since >= stall);
}

static void run(struct shoal_daemon *d, struct dtor *t)
{
  t->queued = 0;
  t->stalled_since = t->idle_since = 0;
  shoal_torrent_resume(d->sess, t->eid);
}

int sh_daemon_run_unqueued(struct shoal_daemon *d, struct dtor *t)
{
  const struct shoal_daemon_config *c = &d->cfg;
  if (d->closing || !t->queued || t->checking ||
      (t->complete ? c->seed_queue_enabled : c->download_queue_enabled))
    return 0;
  run(d, t);
  return 1;
}

void sh_daemon_run_queues(struct shoal_daemon *d)
{
  if (d->closing || !d->sess || d->loading)
    return; /* loading: in queue order once every torrent is back */
  int dl = 0, seed = 0;
  size_t nq = 0;
  int64_t now = sh_daemon_now();
  for (size_t i = 0; i < d->ntor; i++) {
    struct dtor *t = d->tor[i];
    if (t->queued && !t->checking)
      nq++;
    else if (active(d, t, now))
      t->complete ? seed++ : dl++;
  }
  if (!nq)
    return;
  struct dtor **q = malloc(nq * sizeof *q);
  if (!q)
    return;
  nq = 0;
  for (size_t i = 0; i < d->ntor; i++)
    if (d->tor[i]->queued && !d->tor[i]->checking)
      q[nq++] = d->tor[i];
  qsort(q, nq, sizeof *q, by_queue_pos);
  const struct shoal_daemon_config *c = &d->cfg;
  for (size_t i = 0; i < nq; i++) {
    struct dtor *t = q[i];
    int room = t->complete ? !c->seed_queue_enabled || seed < c->seed_queue_size
                           : !c->download_queue_enabled || dl < c->download_queue_size;
    if (!room && !t->start_now)
      continue;
    if (!t->start_now)
      t->complete ? seed++ : dl++;
    run(d, t);
  }
  free(q);
}

/* ---- limits, activity ---- */

static double ratio_of(const struct dtor *t, const struct shoal_status *st)
{
  uint64_t up = t->up_base + st->uploaded, down = t->down_base + st->downloaded;
  uint64_t base = down ? down : st->have_bytes;
  return base ? (double)up / (double)base : 0;
}

static void limit_stop(struct shoal_daemon *d, struct dtor *t, const char *why)
{
  sh_info("daemon: %s: %s reached, stopping", t->hash_hex, why);
  sh_daemon_stop(d, t);
  t->limit_stopped = 1;
  sh_daemon_save(d, t);
}

static void check_torrent(struct shoal_daemon *d, struct dtor *t, const struct shoal_status *st,
                          int64_t now)
{
  const struct shoal_daemon_config *c = &d->cfg;
  if (st->uploaded != t->last_up || st->downloaded != t->last_down) {
    d->up_total += st->uploaded - t->last_up;
    d->down_total += st->downloaded - t->last_down;
    t->activity_date = now;
  }
  /* what the queues go by: known once it runs (a paused torrent's pieces
   * are not loaded, so its status says nothing) */
  if ((st->state == SHOAL_DOWNLOADING || st->state == SHOAL_SEEDING) && !t->queued)
    t->complete = st->state == SHOAL_SEEDING;
  if (st->state == SHOAL_DOWNLOADING)
    t->stalled_since = st->down_rate ? 0 : t->stalled_since ? t->stalled_since : now;
  if (st->state != SHOAL_SEEDING || t->stopped) {
    t->idle_since = 0;
  } else {
    double lim = t->ratio_mode == TR_MODE_SINGLE ? t->ratio_limit
                 : t->ratio_mode == TR_MODE_GLOBAL && c->ratio_limit_enabled ? c->ratio_limit
                                                                              : -1;
    int idle = t->idle_mode == TR_MODE_SINGLE ? t->idle_limit
               : t->idle_mode == TR_MODE_GLOBAL && c->idle_seeding_limit_enabled
                   ? c->idle_seeding_limit
                   : -1;
    if (st->uploaded != t->last_up || !t->idle_since)
      t->idle_since = now;
    if (lim >= 0 && ratio_of(t, st) >= lim)
      limit_stop(d, t, "the seed ratio limit");
    else if (idle >= 0 && now - t->idle_since >= (int64_t)idle * 60)
      limit_stop(d, t, "the idle seeding limit");
    else if (idle >= 0 && (!d->idle_due || t->idle_since + (int64_t)idle * 60 < d->idle_due))
      d->idle_due = t->idle_since + (int64_t)idle * 60; /* an idle seed is not polled */
  }
  t->last_up = st->uploaded;
  t->last_down = st->downloaded;
  if (st->pieces_have != t->saved_have)
    t->resume_dirty = 1;
}

/* ---- resume data ---- */

void sh_daemon_flush_resume(struct shoal_daemon *d, int all)
{
  int began = 0;
  struct shoal_status st;
  for (size_t i = 0; i < d->ntor; i++) {
    struct dtor *t = d->tor[i];
    if ((!all && !t->resume_dirty) || !t->resume_ok)
      continue;
    if (shoal_torrent_status(d->sess, t->eid, &st) < 0)
      continue;
    if (all && !t->resume_dirty && st.pieces_have == t->saved_have && t->saved_have)
      continue;
    void *r;
    size_t len;
    if (shoal_torrent_resume_data(d->sess, t->eid, &r, &len) < 0)
      continue;
    if (!began)
      began = sh_store_begin(d->db) == 0;
    sh_store_set_resume(d->db, t->rid, r, len, t->up_base + st.uploaded,
                        t->down_base + st.downloaded, SH_WHOLE(&st));
    free(r);
    t->resume_dirty = 0;
    t->saved_have = st.pieces_have;
  }
  if (began && sh_store_commit(d->db) < 0)
    sh_warn("daemon: resume data not saved");
  d->last_resume_flush = sh_daemon_now();
}

void sh_daemon_save_stats(struct shoal_daemon *d)
{
  int64_t now = sh_daemon_now();
  sh_store_set_stat(d->db, "uploaded", (int64_t)d->up_total);
  sh_store_set_stat(d->db, "downloaded", (int64_t)d->down_total);
  sh_store_set_stat(d->db, "seconds_active", d->seconds_active + (now - d->started_at));
  sh_store_set_stat(d->db, "files_added", (int64_t)d->files_added);
}

/* ---- the watch folder ---- */

static void watch_one(struct shoal_daemon *d, const char *dir, const char *name)
{
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return;
  struct shoal_torrent_info *ti;
  char err[256];
  if (shoal_torrent_info_load(path, &ti, err, sizeof err) < 0) {
    sh_warn("daemon: watch folder: %s", err);
    char bad[4200];
    snprintf(bad, sizeof bad, "%s.invalid", path);
    rename(path, bad); /* once, not every tick */
    return;
  }
  struct dt_add a = {.torrent = ti->raw, .len = ti->raw_len, .paused = !d->cfg.start_added_torrents};
  struct dtor *t;
  int rc = sh_daemon_add(d, &a, &t, err, sizeof err);
  shoal_torrent_info_free(ti);
  if (rc < 0 && rc != -EEXIST) {
    sh_warn("daemon: watch folder: %s: %s", path, err);
    return;
  }
  sh_info("daemon: watch folder: %s %s", name, rc == 0 ? "added" : "already there");
  if (d->cfg.trash_original) {
    unlink(path);
  } else {
    char added[4200];
    snprintf(added, sizeof added, "%s.added", path);
    rename(path, added);
  }
}

void sh_daemon_scan_watch(struct shoal_daemon *d)
{
  const char *dir = d->cfg.watch_dir;
  if (!d->cfg.watch_dir_enabled || !dir)
    return;
  DIR *dh = opendir(dir);
  if (!dh)
    return;
  struct dirent *e;
  char names[16][256];
  int n = 0;
  while (n < 16 && (e = readdir(dh))) {
    size_t l = strlen(e->d_name);
    if (l > 8 && l < 256 && !strcmp(e->d_name + l - 8, ".torrent"))
      memcpy(names[n++], e->d_name, l + 1);
  }
  closedir(dh);
  for (int i = 0; i < n; i++)
    watch_one(d, dir, names[i]);
}

/* ---- the tick ---- */

static int all_paused(struct shoal_daemon *d)
{
  struct shoal_status st;
  for (size_t i = 0; i < d->ntor; i++)
    if (shoal_torrent_status(d->sess, d->tor[i]->eid, &st) == 0 && st.state != SHOAL_PAUSED &&
        st.state != SHOAL_ERROR)
      return 0;
  return 1;
}

void sh_daemon_poll(struct shoal_daemon *d, const struct dtor *t)
{
  if (t->eid && sh_vec_reserve(d->polls, d->cap_polls, d->npolls + 1, 64, SIZE_MAX) == 0)
    d->polls[d->npolls++] = t->eid;
}

static void poll_one(struct shoal_daemon *d, struct dtor *t, int64_t now)
{
  struct shoal_status st;
  if (!t || t->polled == d->ticks)
    return;
  t->polled = d->ticks;
  if (sh_daemon_status_of(d, t, &st) == 0)
    check_torrent(d, t, &st, now);
}

/* Looks at the torrents that may have changed: the engine's busy ones and
 * those an event named. An idle seed's counters, state and pieces stay
 * as they are, and only its idle limit can fall due: then, and after
 * lost events, every torrent is looked at. 10,000 idle seeds cost a pass
 * over the engine's flags, not 10,000 status copies a second. */
static void poll_torrents(struct shoal_daemon *d, int64_t now)
{
  d->ticks++;
  uint64_t dropped = shoal_session_events_dropped(d->sess);
  if (dropped != d->events_dropped || (d->idle_due && now >= d->idle_due)) {
    d->events_dropped = dropped;
    d->idle_due = 0;
    for (size_t i = 0; i < d->ntor; i++)
      poll_one(d, d->tor[i], now);
    d->npolls = 0;
    return;
  }
  size_t n = shoal_session_busy(d->sess, d->busy, d->cap_busy);
  if (n > d->cap_busy) {
    shoal_id *b = realloc(d->busy, n * 2 * sizeof *b);
    if (b) {
      d->busy = b;
      d->cap_busy = n * 2;
      n = shoal_session_busy(d->sess, d->busy, d->cap_busy);
    }
    n = n < d->cap_busy ? n : d->cap_busy;
  }
  for (size_t i = 0; i < n; i++)
    poll_one(d, sh_daemon_by_eid(d, d->busy[i]), now);
  /* check_torrent may stop a torrent, whose events add to polls */
  for (size_t i = 0; i < d->npolls; i++)
    poll_one(d, sh_daemon_by_eid(d, d->polls[i]), now);
  d->npolls = 0;
}

static void on_tick(uv_timer_t *h)
{
  struct shoal_daemon *d = h->data;
  if (d->closing) {
    if (all_paused(d) || uv_now(d->loop) - d->close_started_ms > 15000)
      sh_daemon_close_now(d);
    return;
  }
  int64_t now = sh_daemon_now();
  poll_torrents(d, now);
  sh_daemon_dormant_tick(d, now);
  run_schedule(d);
  sh_daemon_run_queues(d);
  sh_daemon_scan_watch(d);
  if (now - d->last_resume_flush >= (int64_t)d->cfg.resume_interval_s) {
    sh_daemon_flush_resume(d, 0);
    sh_daemon_save_stats(d);
  }
}

void sh_daemon_tick_start(struct shoal_daemon *d)
{
  if (!(d->tick = malloc(sizeof *d->tick)))
    return; /* no queues or batches: the RPC still works */
  uv_timer_init(d->loop, d->tick);
  d->tick->data = d;
  d->last_resume_flush = sh_daemon_now();
  uint64_t ms = d->cfg.tick_ms ? d->cfg.tick_ms : 1000;
  uv_timer_start(d->tick, on_tick, ms, ms);
}

static void on_tick_closed(uv_handle_t *h) { free(h); }

void sh_daemon_tick_stop(struct shoal_daemon *d)
{
  if (d->tick) {
    uv_close((uv_handle_t *)d->tick, on_tick_closed);
    d->tick = NULL;
  }
}

/* ---- queue order ---- */

void sh_daemon_queue_changed(struct shoal_daemon *d)
{
  size_t n = d->ntor;
  struct dtor **q = malloc((n ? n : 1) * sizeof *q);
  if (!q)
    return;
  memcpy(q, d->tor, n * sizeof *q);
  qsort(q, n, sizeof *q, by_queue_pos);
  sh_store_begin(d->db);
  for (size_t i = 0; i < n; i++)
    if (q[i]->queue_pos != (int64_t)i) {
      q[i]->queue_pos = (int64_t)i;
      sh_store_update(d->db, q[i]);
    }
  sh_store_commit(d->db);
  free(q);
  sh_daemon_run_queues(d);
}
