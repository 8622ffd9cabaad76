/* Dormant seeds: 10,000 torrents that seed and that nobody asks for
 * should cost the daemon little more than their row in the list.
 *
 * A seed that has every piece verified, no peer, no transfer and no
 * announce due for cfg.dormant_after_s leaves the engine
 * (shoal_torrent_unload: the trackers are not told, the swarm still
 * counts on it); its record keeps what torrent-get shows (name, sizes,
 * trackers) and the time its next announce is due. It comes back, from
 * its stored row (the .torrent and resume data), when
 *  - a peer's handshake names it (the engine asks through
 *    settings.on_unknown_torrent, by info-hash or, encrypted, by
 *    HASH('req2', info-hash)); the handshake then goes on with it;
 *  - its announce falls due (the tick);
 *  - a request needs the engine (any torrent-* call but torrent-get, and
 *    torrent-get of files, priorities or pieces).
 * Coming back costs a row read and the resume data's check of the files'
 * sizes and times: well under a millisecond for a small torrent.
 *
 * A stored seed that was whole when its resume data was saved, is not
 * stopped and has no tracker starts dormant: it never enters the engine
 * until something needs it. Not with DHT or local discovery on: their
 * announces run inside the engine. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "base/log.h"
#include "base/sha1.h"
#include "daemon/daemon.h"
#include "daemon/dpool.h"
#include "daemon/store.h"
#include "daemon/tick.h"

#define DORMANT_SCAN_S 5       /* live seeds looked at this often */
#define DORMANT_MIN_SLEEP_S 60 /* an announce due sooner keeps it awake */

void sh_daemon_req2(const uint8_t ih[20], uint8_t out[20])
{
  uint8_t b[24];
  memcpy(b, "req2", 4);
  memcpy(b + 4, ih, 20);
  sh_sha1(b, sizeof b, out);
}

int sh_daemon_dormancy(const struct shoal_daemon *d)
{
  return d->cfg.dormant_after_s > 0 && !d->cfg.session.dht && !d->cfg.session.lsd;
}

int sh_daemon_status_of(const struct shoal_daemon *d, const struct dtor *t,
                        struct shoal_status *st)
{
  if (!t->dormant)
    return shoal_torrent_status(d->sess, t->eid, st);
  memset(st, 0, sizeof *st);
  memcpy(st->info_hash, t->ih, 20);
  snprintf(st->name, sizeof st->name, "%s", t->name ? t->name : t->hash_hex);
  st->state = SHOAL_SEEDING;
  st->has_metadata = 1;
  st->num_pieces = st->pieces_have = t->num_pieces;
  st->total_bytes = st->wanted_bytes = st->have_bytes = t->total_bytes;
  for (const char *p = t->trk; p && *p; p++)
    st->trackers += *p == '\n' && p[1] && p[1] != '\n';
  st->trackers += t->trk && *t->trk && *t->trk != '\n';
  return 0;
}

/* ---- waking ---- */

struct wake {
  struct shoal_daemon *d;
  struct dtor *t;
  int rc;
};

static int wake_row(void *ud, struct dtor *row, const void *torrent, size_t tlen,
                    const void *resume, size_t rlen, const char *dir)
{
  (void)dir;
  struct wake *w = ud;
  struct dtor *t = w->t;
  if (row->rid != t->rid)
    return 0;
  /* the resume data may say paused (the daemon adds paused and starts
   * through its queues): started here, at once */
  w->rc = sh_daemon_engine_add(w->d, t, row, torrent, tlen, resume, rlen, 1);
  if (w->rc == 0)
    shoal_torrent_resume(w->d->sess, t->eid);
  return 0;
}

int sh_daemon_wake(struct shoal_daemon *d, struct dtor *t, const char *why)
{
  if (!t->dormant)
    return 0;
  struct wake w = {d, t, -ENOENT};
  int64_t after = t->rid - 1;
  int n = sh_store_batch(d->db, &after, 1, wake_row, &w);
  if (n < 0 || w.rc < 0) {
    /* -EEXIST: the engine is still letting it go (a few milliseconds) */
    sh_warn("daemon: %s: cannot wake it (%s): %s", t->hash_hex, why,
            w.rc == -EEXIST ? "it is still being unloaded" : "its row or data is unusable");
    return w.rc == -EEXIST ? -EAGAIN : n < 0 ? n : w.rc;
  }
  if (sh_tab_put(&d->by_eid, t->eid, t) < 0) {
    shoal_torrent_remove(d->sess, t->eid, 0);
    t->eid = 0;
    return -ENOMEM;
  }
  t->dormant = 0;
  t->quiet_since = t->wake_at = 0;
  sh_dp_free(t->name);
  sh_dp_free(t->trk);
  t->name = t->trk = NULL;
  sh_daemon_poll(d, t);
  sh_info("daemon: %s: awake (%s)", t->hash_hex, why);
  return 0;
}

static int match_req2(const void *v, const void *ctx)
{
  return !memcmp(((const struct dtor *)v)->req2, ctx, 20);
}

int sh_daemon_on_unknown(void *ud, const uint8_t *ih, const uint8_t *req2)
{
  struct shoal_daemon *d = ud;
  struct dtor *t = ih ? sh_daemon_by_hash(d, ih)
                      : sh_tab_get(&d->by_req2, sh_tab_hash_key(req2), match_req2, req2);
  if (!t || !t->dormant || d->closing)
    return -ENOENT;
  return sh_daemon_wake(d, t, "a peer asked for it");
}

/* ---- sleeping ---- */

/* Nothing in the daemon's own flags keeps t awake. */
static int may_sleep(const struct dtor *t)
{
  return t->eid && !t->dormant && !t->stopped && !t->queued && !t->checking && !t->error &&
         !t->removing && !t->in_incomplete && t->resume_ok && t->complete;
}

/* ... nor in the engine's status. With no peer nothing moves (the
 * smoothed rates take a minute to decay to 0 after a transfer; the
 * upload counter, unchanged all the while, is what says idle). */
static int quiet(const struct shoal_status *st)
{
  return st->state == SHOAL_SEEDING && SH_WHOLE(st) && !st->peers && !st->trackers_failing &&
         (!st->trackers || st->tracker_retry_s >= DORMANT_MIN_SLEEP_S);
}

static void sleep_one(struct shoal_daemon *d, struct dtor *t, const struct shoal_status *st,
                      int64_t now)
{
  char *trk = sh_daemon_trackers_text(d, t);
  t->trk = sh_dp_strdup(trk); /* with the record, apart from the heap */
  free(trk);
  t->name = sh_dp_strdup(st->name);
  t->total_bytes = st->total_bytes;
  t->num_pieces = st->num_pieces;
  t->up_base += st->uploaded;
  t->down_base += st->downloaded;
  t->last_up = t->last_down = 0;
  t->wake_at = st->trackers ? now + (int64_t)st->tracker_retry_s : 0;
  shoal_torrent_unload(d->sess, t->eid);
  sh_tab_del(&d->by_eid, t->eid, t);
  t->eid = 0;
  t->dormant = 1;
  t->quiet_since = 0;
}

/* Saves the resume data (with `whole`) of those about to sleep, in one
 * transaction, then lets them go. */
static size_t sleep_quiet(struct shoal_daemon *d, int64_t now)
{
  size_t n = 0;
  int began = 0;
  struct shoal_status st;
  for (size_t i = 0; i < d->ntor; i++) {
    struct dtor *t = d->tor[i];
    if (!may_sleep(t) || sh_daemon_status_of(d, t, &st) < 0 || !quiet(&st)) {
      t->quiet_since = 0;
      continue;
    }
    if (!t->quiet_since || t->quiet_up != st.uploaded) {
      t->quiet_since = now; /* (the tick's last_up lags: it polls busy ones) */
      t->quiet_up = st.uploaded;
      continue;
    }
    if (now - t->quiet_since < (int64_t)d->cfg.dormant_after_s)
      continue;
    void *r;
    size_t len;
    if (shoal_torrent_resume_data(d->sess, t->eid, &r, &len) < 0)
      continue;
    if (!began && !(began = sh_store_begin(d->db) == 0)) {
      free(r);
      break;
    }
    int rc = sh_store_set_resume(d->db, t->rid, r, len, t->up_base + st.uploaded,
                                 t->down_base + st.downloaded, 1);
    free(r);
    if (rc < 0)
      continue;
    t->whole = 1;
    t->resume_dirty = 0;
    t->saved_have = st.pieces_have;
    sleep_one(d, t, &st, now);
    n++;
  }
  if (began && sh_store_commit(d->db) < 0)
    sh_warn("daemon: resume data of sleeping seeds not saved");
  return n;
}

void sh_daemon_dormant_tick(struct shoal_daemon *d, int64_t now)
{
  if (d->loading || d->closing)
    return;
  for (size_t i = 0; i < d->ntor; i++) {
    struct dtor *t = d->tor[i];
    if (t->dormant && t->wake_at && now >= t->wake_at)
      sh_daemon_wake(d, t, "an announce is due");
  }
  if (!sh_daemon_dormancy(d) || now - d->dormant_scan < DORMANT_SCAN_S)
    return;
  d->dormant_scan = now;
#ifdef __GLIBC__
  if (d->dormant_trim) /* what the last ones held is freed by now */
    malloc_trim(0);
#endif
  size_t n = sleep_quiet(d, now);
  d->dormant_trim = n > 0;
  if (n)
    sh_info("daemon: %zu idle seeds dormant", n);
}

int sh_daemon_sleep_at_load(struct shoal_daemon *d, struct dtor *t, const struct dtor *row,
                            const struct shoal_torrent_info *ti, int has_resume)
{
  if (!sh_daemon_dormancy(d) || !ti || !has_resume || !row->whole || row->stopped ||
      row->trackers || row->renames || ti->num_tiers || !t->done_date ||
      d->cfg.seed_queue_enabled)
    return 0;
  uint64_t total = 0;
  for (size_t i = 0; i < ti->num_files; i++)
    if (!(ti->files[i].attr & SHOAL_FILE_PAD))
      total += ti->files[i].length;
  if (!(t->name = sh_dp_strdup(ti->name)))
    return 0;
  t->total_bytes = total;
  t->num_pieces = ti->num_pieces;
  t->eid = 0;
  t->dormant = 1;
  t->whole = 1;
  t->saved_have = ti->num_pieces;
  return 1;
}
