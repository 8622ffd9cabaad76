/* The daemon's life: the database, the session, adding and removing
 * torrents, the engine's events. The periodic work is in daemon_tick.c,
 * the RPC in rpc*.c, HTTP in web.c. See daemon.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/error.h"
#include "base/log.h"
#include "base/vec.h"
#include "daemon/daemon.h"
#include "daemon/dpool.h"
#include "daemon/store.h"
#include "daemon/tick.h"
#include "net/http_client.h"

int64_t sh_daemon_now(void) { return (int64_t)time(NULL); }

void shoal_daemon_config_default(struct shoal_daemon_config *c)
{
  memset(c, 0, sizeof *c);
  c->start_added_torrents = 1;
  c->rpc_bind = "127.0.0.1";
  c->rpc_port = 9091;
  c->rpc_whitelist_enabled = 1;
  c->rpc_whitelist = "127.0.0.1,::1";
  c->rpc_host_whitelist_enabled = 1;
  c->rpc_host_whitelist = "";
  c->rpc_max_body = 64u << 20;
  c->speed_limit_up = c->speed_limit_down = 100;
  c->alt_speed_up = c->alt_speed_down = 50;
  c->alt_speed_time_begin = 540;
  c->alt_speed_time_end = 1020;
  c->alt_speed_time_day = 127;
  c->download_queue_enabled = 1;
  c->download_queue_size = 5;
  c->seed_queue_size = 10;
  c->queue_stalled_enabled = 1;
  c->queue_stalled_minutes = 30;
  c->ratio_limit = 2.0;
  c->idle_seeding_limit = 30;
  c->resume_interval_s = 60;
  c->dormant_after_s = 30;
  c->tick_ms = 1000;
  shoal_settings_default(&c->session);
}

/* ---- the records ---- */

static int match_rid(const void *v, const void *ctx)
{
  return ((const struct dtor *)v)->rid == *(const int64_t *)ctx;
}

static int match_eid(const void *v, const void *ctx)
{
  return ((const struct dtor *)v)->eid == *(const shoal_id *)ctx;
}

struct dtor *sh_daemon_by_rid(const struct shoal_daemon *d, int64_t rid)
{
  return sh_tab_get(&d->by_rid, (uint64_t)rid, match_rid, &rid);
}

struct dtor *sh_daemon_by_eid(const struct shoal_daemon *d, shoal_id eid)
{
  return eid ? sh_tab_get(&d->by_eid, eid, match_eid, &eid) : NULL;
}

static int match_ih(const void *v, const void *ctx)
{
  return !memcmp(((const struct dtor *)v)->ih, ctx, 20);
}

struct dtor *sh_daemon_by_hash(const struct shoal_daemon *d, const uint8_t ih[20])
{
  return sh_tab_get(&d->by_ih, sh_tab_hash_key(ih), match_ih, ih);
}

int sh_daemon_set_labels(struct dtor *t, json_t *arr)
{
  if (!json_is_array(arr) || json_array_size(arr) > DT_MAX_LABELS)
    return -EINVAL;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const char *l = json_string_value(json_array_get(arr, i));
    if (!l || !*l || strlen(l) > 128 || strchr(l, ','))
      return -EINVAL; /* Transmission refuses commas: labels travel comma-joined */
  }
  const char *v[DT_MAX_LABELS];
  for (size_t i = 0; i < json_array_size(arr); i++)
    v[i] = json_string_value(json_array_get(arr, i));
  return sh_daemon_copy_labels(t, v, (int)json_array_size(arr));
}

static void labels_free(struct dtor *t)
{
  for (int i = 0; i < t->nlabels; i++)
    sh_dp_free(t->labels[i]);
  sh_dp_free(t->labels);
  t->labels = NULL;
  t->nlabels = 0;
}

int sh_daemon_copy_labels(struct dtor *t, const char *const *v, int n)
{
  labels_free(t);
  if (n > DT_MAX_LABELS)
    n = DT_MAX_LABELS;
  if (n <= 0)
    return 0;
  if (!(t->labels = sh_dp_alloc((size_t)n * sizeof *t->labels)))
    return -ENOMEM;
  for (int i = 0; i < n; i++)
    if ((t->labels[t->nlabels] = sh_dp_strdup(v[i])))
      t->nlabels++;
  return 0;
}

static void dtor_free(struct dtor *t)
{
  labels_free(t);
  sh_dp_free(t->error);
  sh_dp_free(t->comment);
  sh_dp_free(t->creator);
  sh_dp_free(t->magnet);
  sh_dp_free(t->renames);
  sh_dp_free(t->dir);
  sh_dp_free(t->name);
  sh_dp_free(t->trk);
  sh_dp_free(t);
}

/* Keeps tor[] in rid order: new rids are always the largest. */
static int track(struct shoal_daemon *d, struct dtor *t)
{
  if (sh_vec_reserve(d->tor, d->cap_tor, d->ntor + 1, 64, SIZE_MAX) < 0 ||
      sh_tab_put(&d->by_rid, (uint64_t)t->rid, t) < 0)
    return -ENOMEM;
  sh_daemon_req2(t->ih, t->req2);
  if ((t->eid && sh_tab_put(&d->by_eid, t->eid, t) < 0) ||
      sh_tab_put(&d->by_ih, sh_tab_hash_key(t->ih), t) < 0 ||
      sh_tab_put(&d->by_req2, sh_tab_hash_key(t->req2), t) < 0) {
    sh_tab_del(&d->by_rid, (uint64_t)t->rid, t);
    if (t->eid)
      sh_tab_del(&d->by_eid, t->eid, t);
    sh_tab_del(&d->by_ih, sh_tab_hash_key(t->ih), t);
    return -ENOMEM;
  }
  d->tor[d->ntor++] = t;
  return 0;
}

static void untrack(struct shoal_daemon *d, struct dtor *t)
{
  sh_tab_del(&d->by_rid, (uint64_t)t->rid, t);
  if (t->eid)
    sh_tab_del(&d->by_eid, t->eid, t);
  sh_tab_del(&d->by_ih, sh_tab_hash_key(t->ih), t);
  sh_tab_del(&d->by_req2, sh_tab_hash_key(t->req2), t);
  for (size_t i = 0; i < d->ntor; i++)
    if (d->tor[i] == t) {
      memmove(&d->tor[i], &d->tor[i + 1], (d->ntor - i - 1) * sizeof *d->tor);
      d->ntor--;
      break;
    }
}

/* What torrent-get shows that the engine does not keep: from the .torrent,
 * whose parsed view is returned (NULL if none), for the caller to free. */
static struct shoal_torrent_info *take_info(struct dtor *t, const void *torrent, size_t len)
{
  struct shoal_torrent_info *ti;
  if (!torrent || shoal_torrent_info_parse(torrent, len, &ti, NULL, 0) < 0)
    return NULL;
  memcpy(t->ih, ti->info_hash, 20);
  sh_dp_free(t->comment);
  sh_dp_free(t->creator);
  t->comment = sh_dp_strdup(ti->comment);
  t->creator = sh_dp_strdup(ti->created_by);
  t->date_created = ti->creation_date;
  t->is_private = ti->is_private;
  t->piece_size = ti->piece_length;
  return ti;
}

static void hex20(const uint8_t *ih, char *out)
{
  static const char x[] = "0123456789abcdef";
  for (int i = 0; i < 20; i++) {
    out[2 * i] = x[ih[i] >> 4];
    out[2 * i + 1] = x[ih[i] & 15];
  }
  out[40] = 0;
}

/* ---- adding ---- */

static void defaults(struct dtor *t)
{
  t->ratio_limit = 2.0;
  t->idle_limit = 30;
  t->up_limit = t->down_limit = 100;
  t->honors_session = 1;
  t->peer_limit = 50;
}

int sh_daemon_add(struct shoal_daemon *d, const struct dt_add *a, struct dtor **out, char *err,
                  size_t errlen)
{
  *out = NULL;
  sh_daemon_load_all(d); /* a row not back yet may be this torrent */
  const char *dir = a->download_dir ? a->download_dir : d->cfg.download_dir;
  struct dtor *t = sh_dp_alloc(sizeof *t);
  if (!t || !(t->dir = sh_dp_strdup(dir))) {
    sh_dp_free(t);
    return sh_errf(err, errlen, -ENOMEM, "out of memory");
  }
  defaults(t);
  if (d->cfg.session.max_peers_per_torrent > 0) /* Transmission's default for new ones */
    t->peer_limit = d->cfg.session.max_peers_per_torrent;
  shoal_torrent_info_free(take_info(t, a->torrent, a->len));
  t->bandwidth_priority = a->bandwidth_priority;
  t->added_date = t->activity_date = sh_daemon_now();
  t->queue_pos = d->ntor ? d->tor[d->ntor - 1]->queue_pos + 1 : 0;
  sh_daemon_copy_labels(t, a->labels, a->nlabels);
  t->stopped = a->paused;
  t->in_incomplete = d->cfg.incomplete_dir_enabled && d->cfg.incomplete_dir;
  /* into the engine paused: the queue decides when it runs */
  struct shoal_add_params p = {.torrent = a->torrent, .torrent_len = a->len,
                               .save_dir = t->in_incomplete ? d->cfg.incomplete_dir : dir,
                               .priorities = a->prio, .num_priorities = a->nprio, .paused = 1};
  struct shoal_magnet *mag = NULL;
  int rc = 0;
  if (a->magnet) {
    rc = shoal_magnet_parse(a->magnet, &mag, err, errlen);
    if (rc == 0 && !(t->magnet = sh_dp_strdup(a->magnet)))
      rc = sh_errf(err, errlen, -ENOMEM, "out of memory");
    if (rc == 0)
      shoal_add_params_magnet(&p, mag);
  }
  shoal_id eid = 0;
  if (rc == 0 && mag)
    memcpy(t->ih, mag->info_hash, 20);
  struct dtor *dup = rc == 0 && (a->torrent || mag) ? sh_daemon_by_hash(d, t->ih) : NULL;
  if (dup && dup->dormant && sh_daemon_wake(d, dup, "added again") < 0)
    rc = sh_errf(err, errlen, -EAGAIN, "%s: this torrent was already added", dup->hash_hex);
  if (rc == 0)
    rc = shoal_torrent_add(d->sess, &p, &eid, err, errlen);
  shoal_magnet_free(mag);
  if (rc == -EEXIST || (rc == -EAGAIN && dup)) {
    *out = dup ? dup : sh_daemon_by_eid(d, eid);
    dtor_free(t);
    return -EEXIST;
  }
  if (rc == 0) {
    struct shoal_status st;
    shoal_torrent_status(d->sess, eid, &st);
    memcpy(t->ih, st.info_hash, 20);
    hex20(t->ih, t->hash_hex);
    /* one transaction: a magnet's row is never there without its link */
    int began = t->magnet && sh_store_begin(d->db) == 0;
    rc = sh_store_insert(d->db, t, a->torrent, a->len, dir);
    if (rc == 0 && t->magnet)
      rc = sh_store_set_magnet(d->db, t->rid, t->magnet);
    if (began && (rc < 0 || sh_store_commit(d->db) < 0) && rc == 0)
      rc = -EIO;
    if (rc < 0)
      sh_errf(err, errlen, rc, "cannot save the torrent in the database");
  }
  if (rc == 0) {
    t->eid = eid;
    if ((rc = track(d, t)) < 0) {
      sh_store_delete(d->db, t->rid);
      sh_errf(err, errlen, rc, "out of memory");
    }
  }
  if (rc < 0) {
    if (eid)
      shoal_torrent_remove(d->sess, eid, 0);
    dtor_free(t);
    return rc;
  }
  d->files_added++;
  shoal_torrent_set_peer_limit(d->sess, t->eid, t->peer_limit);
  /* Checked first, still paused, as Transmission does: whether it is a
   * seed or a download is known before it takes a queue slot, so adding
   * many complete torrents does not wait on the download queue. */
  if (!t->stopped && shoal_torrent_recheck(d->sess, t->eid) == 0)
    t->checking = 1;
  if (!t->stopped)
    sh_daemon_start(d, t, 0);
  *out = t;
  return 0;
}

void sh_daemon_apply_limits(struct shoal_daemon *d, const struct dtor *t)
{
  /* kB/s as Transmission counts them; a limit of 0 means "nothing", which
   * the engine, where 0 is unlimited, gets as 1 byte/s */
  int64_t up = t->up_limited ? (int64_t)t->up_limit * 1000 : 0;
  int64_t down = t->down_limited ? (int64_t)t->down_limit * 1000 : 0;
  shoal_torrent_set_rates(d->sess, t->eid, t->up_limited && !up ? 1 : up,
                          t->down_limited && !down ? 1 : down);
  shoal_torrent_honor_session_limits(d->sess, t->eid, t->honors_session);
  shoal_torrent_set_peer_limit(d->sess, t->eid, t->peer_limit);
}

int sh_daemon_save(struct shoal_daemon *d, struct dtor *t)
{
  t->changed_date = sh_daemon_now();
  sh_daemon_poll(d, t); /* its limits may have changed */
  return sh_store_update(d->db, t);
}

/* ---- start, stop, remove ---- */

int sh_daemon_start(struct shoal_daemon *d, struct dtor *t, int now)
{
  if (t->dormant)
    return 0; /* a sleeping seed is running: it was never stopped */
  t->stopped = t->limit_stopped = 0;
  t->start_now = now;
  sh_dp_free(t->error);
  t->error = NULL;
  t->queued = 1; /* the queue starts it, at once when there is room */
  t->start_date = sh_daemon_now();
  sh_daemon_run_queues(d);
  return 0;
}

int sh_daemon_stop(struct shoal_daemon *d, struct dtor *t)
{
  sh_daemon_wake(d, t, "stopping");
  t->stopped = 1;
  t->queued = t->start_now = 0;
  return shoal_torrent_pause(d->sess, t->eid);
}

int sh_daemon_remove(struct shoal_daemon *d, struct dtor *t, int delete_data)
{
  if (delete_data)
    sh_daemon_wake(d, t, "deleting its data"); /* the engine knows its files */
  int rc = sh_store_delete(d->db, t->rid);
  if (rc < 0)
    return rc;
  if (t->eid)
    shoal_torrent_remove(d->sess, t->eid, delete_data);
  int64_t now = sh_daemon_now();
  size_t k = 0; /* forget removals older than a minute: nobody asks for them */
  for (size_t i = 0; i < d->nremoved; i++)
    if (d->removed[i].at >= now - 60)
      d->removed[k++] = d->removed[i];
  d->nremoved = k;
  if (sh_vec_reserve(d->removed, d->cap_removed, d->nremoved + 1, 16, SIZE_MAX) == 0)
    d->removed[d->nremoved++] = (struct dt_removed){t->rid, now};
  untrack(d, t);
  dtor_free(t);
  return 0;
}

int sh_daemon_status(const struct shoal_daemon *d, const struct dtor *t,
                     const struct shoal_status *st)
{
  (void)d;
  int done = t->complete || (st->has_metadata && st->have_bytes >= st->wanted_bytes);
  if (t->checking)
    return st->state == SHOAL_CHECKING ? TR_CHECK : TR_CHECK_WAIT;
  if (t->queued)
    return done ? TR_SEED_WAIT : TR_DOWNLOAD_WAIT;
  switch (st->state) {
  case SHOAL_CHECKING: return TR_CHECK;
  case SHOAL_METADATA:
  case SHOAL_DOWNLOADING: return TR_DOWNLOAD;
  case SHOAL_SEEDING: return TR_SEED;
  default: return TR_STOPPED;
  }
}

/* ---- events ---- */

static void on_finished(struct shoal_daemon *d, struct dtor *t)
{
  t->complete = 1;
  if (!t->done_date) {
    t->done_date = sh_daemon_now();
    sh_daemon_save(d, t);
  }
  if (t->in_incomplete) {
    t->in_incomplete = 0;
    shoal_torrent_move_storage(d->sess, t->eid, t->dir);
  }
}

/* A magnet's metadata came: the database keeps the .torrent, so a
 * restart does not fetch it again. */
static void on_metadata(struct shoal_daemon *d, struct dtor *t)
{
  void *raw;
  size_t len;
  if (shoal_torrent_file(d->sess, t->eid, &raw, &len) < 0)
    return;
  shoal_torrent_info_free(take_info(t, raw, len));
  if (sh_store_set_torrent(d->db, t->rid, raw, len) < 0)
    sh_warn("daemon: %s: the fetched metadata is not saved", t->hash_hex);
  free(raw);
}

static void handle_event(struct shoal_daemon *d, const struct shoal_event *e)
{
  struct dtor *t = sh_daemon_by_eid(d, e->id);
  if (!t)
    return;
  sh_daemon_poll(d, t);
  switch (e->type) {
  case SHOAL_EVENT_FINISHED: on_finished(d, t); break;
  case SHOAL_EVENT_ERROR:
    sh_dp_free(t->error);
    t->error = e->text[0] ? sh_dp_strdup(e->text) : NULL;
    sh_warn("%s: %s", t->hash_hex, e->text);
    break;
  case SHOAL_EVENT_RESUME_DATA: t->resume_dirty = 1; break;
  case SHOAL_EVENT_PEER_BANNED: t->corrupt += 16384; break;
  case SHOAL_EVENT_STORAGE_MOVED: t->resume_dirty = 1; break;
  case SHOAL_EVENT_TRACKER_REPLY: t->last_announce = sh_daemon_now(); break;
  case SHOAL_EVENT_METADATA: on_metadata(d, t); break;
  case SHOAL_EVENT_CHECKED:
    t->resume_ok = 1;
    if (t->checking) {
      struct shoal_status st;
      if (shoal_torrent_status(d->sess, t->eid, &st) == 0)
        t->complete = st.has_metadata && st.have_bytes >= st.wanted_bytes;
    }
    break;
  case SHOAL_EVENT_PAUSED:
    if (t->checking) {
      t->checking = 0; /* the check is over: the queue decides now */
      sh_daemon_run_queues(d);
    }
    break;
  default: break;
  }
}

static void on_engine_event(void *ud)
{
  struct shoal_daemon *d = ud;
  struct shoal_event ev[64];
  size_t n;
  while ((n = shoal_session_events(d->sess, ev, 64)) > 0)
    for (size_t i = 0; i < n; i++)
      handle_event(d, &ev[i]);
}

/* ---- loading the database ---- */

int sh_daemon_engine_add(struct shoal_daemon *d, struct dtor *t, const struct dtor *row,
                         const void *torrent, size_t tlen, const void *resume, size_t rlen,
                         int paused)
{
  struct shoal_add_params p = {.torrent = resume ? NULL : torrent, .torrent_len = tlen,
                               .resume = resume, .resume_len = rlen, .paused = paused,
                               .save_dir = resume ? NULL : t->dir};
  char err[256];
  struct shoal_magnet *mag = NULL;
  if (!torrent && !resume && t->magnet &&
      shoal_magnet_parse(t->magnet, &mag, err, sizeof err) == 0)
    shoal_add_params_magnet(&p, mag); /* its metadata never came */
  shoal_id eid = 0;
  int rc = t->dir ? shoal_torrent_add(d->sess, &p, &eid, err, sizeof err) : -ENOMEM;
  shoal_magnet_free(mag);
  if (rc < 0 && rc != -EEXIST && resume) {
    /* resume data the engine refuses: the .torrent, and a check */
    sh_warn("%s: resume data refused (%s): checking the data again", t->hash_hex, err);
    p = (struct shoal_add_params){.torrent = torrent, .torrent_len = tlen, .save_dir = t->dir,
                                  .paused = paused};
    rc = shoal_torrent_add(d->sess, &p, &eid, err, sizeof err);
    resume = NULL;
  }
  if (rc < 0) {
    if (rc != -EEXIST)
      sh_warn("%s: cannot bring the torrent back: %s", t->hash_hex, err);
    return rc;
  }
  t->eid = eid;
  struct shoal_status st;
  if (shoal_torrent_status(d->sess, t->eid, &st) == 0) {
    t->last_up = st.uploaded;
    t->last_down = st.downloaded;
    /* the engine counts from its resume data; the row counts since ever */
    t->up_base = t->up_base > st.uploaded ? t->up_base - st.uploaded : 0;
    t->down_base = t->down_base > st.downloaded ? t->down_base - st.downloaded : 0;
  }
  if (t->up_limited || t->down_limited || !t->honors_session)
    sh_daemon_apply_limits(d, t);
  shoal_torrent_set_peer_limit(d->sess, t->eid, t->peer_limit);
  if (row->trackers)
    sh_daemon_load_trackers(d, t, row->trackers);
  if (t->renames)
    sh_daemon_load_renames(d, t);
  t->resume_ok = resume != NULL;
  return 0;
}

int sh_daemon_load_row(void *ud, struct dtor *row, const void *torrent, size_t tlen,
                       const void *resume, size_t rlen, const char *dir)
{
  struct shoal_daemon *d = ud;
  struct dtor *t = sh_dp_alloc(sizeof *t);
  if (!t)
    return -ENOMEM;
  *t = *row;
  row->labels = NULL; /* the labels and the link are t's now */
  row->nlabels = 0;
  row->magnet = NULL;
  row->renames = NULL;
  t->trackers = NULL; /* row's, applied below */
  t->dir = sh_dp_strdup(dir ? dir : d->cfg.download_dir);
  uint8_t ih[20];
  memcpy(ih, t->ih, 20);
  struct shoal_torrent_info *ti = take_info(t, torrent, tlen);
  memcpy(t->ih, ih, 20); /* the row's: the key it is known by */
  hex20(t->ih, t->hash_hex);
  int asleep = sh_daemon_sleep_at_load(d, t, row, ti, resume != NULL);
  shoal_torrent_info_free(ti);
  int rc = asleep ? 0 : sh_daemon_engine_add(d, t, row, torrent, tlen, resume, rlen, 1);
  if (rc < 0 || track(d, t) < 0) {
    if (rc == 0) {
      sh_warn("%s: cannot bring the torrent back: out of memory", t->hash_hex);
      if (t->eid)
        shoal_torrent_remove(d->sess, t->eid, 0);
    }
    dtor_free(t);
    return 0; /* the others still come back */
  }
  t->queued = !t->stopped && !asleep;
  t->resume_ok = resume != NULL;
  /* finished before: a seed for the queues until it says otherwise */
  t->complete = t->done_date != 0;
  sh_daemon_run_unqueued(d, t);
  return 0;
}

/* ---- the public calls ---- */

static const char *keep(struct shoal_daemon *d, int i, const char *s)
{
  free(d->strs[i]);
  d->strs[i] = s ? strdup(s) : NULL;
  return d->strs[i];
}

/* cfg's strings, copied into d. */
static void copy_config(struct shoal_daemon *d, const struct shoal_daemon_config *c)
{
  struct shoal_session *sess = d->sess;
  d->cfg = *c;
  struct shoal_daemon_config *k = &d->cfg;
  int i = 0;
  k->state_dir = keep(d, i++, c->state_dir);
  k->download_dir = keep(d, i++, c->download_dir);
  k->incomplete_dir = keep(d, i++, c->incomplete_dir);
  k->watch_dir = keep(d, i++, c->watch_dir);
  k->rpc_bind = keep(d, i++, c->rpc_bind);
  k->rpc_username = keep(d, i++, c->rpc_username);
  k->rpc_password = keep(d, i++, c->rpc_password);
  k->rpc_whitelist = keep(d, i++, c->rpc_whitelist);
  k->rpc_host_whitelist = keep(d, i++, c->rpc_host_whitelist);
  k->web_root = keep(d, i++, c->web_root);
  k->settings_file = keep(d, i++, c->settings_file);
  k->session.resume_dir = NULL; /* resume data lives in the database */
  d->sess = sess;
}

static void make_session_id(struct shoal_daemon *d)
{
  static const char a[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  uint8_t r[48];
  uv_random(NULL, NULL, r, sizeof r, 0, NULL);
  for (int i = 0; i < 48; i++)
    d->session_id[i] = a[r[i] % (sizeof a - 1)];
  d->session_id[48] = 0;
}

static int open_state(struct shoal_daemon *d, char *err, size_t errlen)
{
  char path[4096];
  if (mkdir(d->cfg.state_dir, 0700) < 0 && errno != EEXIST)
    return sh_errf(err, errlen, -errno, "%s: cannot create the state folder", d->cfg.state_dir);
  snprintf(path, sizeof path, "%s/state.db", d->cfg.state_dir);
  int rc = sh_store_open(path, 0, &d->db, err, errlen);
  if (rc < 0)
    return rc;
  d->up_total = (uint64_t)sh_store_stat(d->db, "uploaded");
  d->down_total = (uint64_t)sh_store_stat(d->db, "downloaded");
  d->seconds_active = sh_store_stat(d->db, "seconds_active");
  d->files_added = (uint64_t)sh_store_stat(d->db, "files_added");
  d->sessions = (uint64_t)sh_store_stat(d->db, "sessions") + 1;
  sh_store_set_stat(d->db, "sessions", (int64_t)d->sessions);
  return 0;
}

int shoal_daemon_new(uv_loop_t *loop, const struct shoal_daemon_config *c, shoal_daemon **out,
                     char *err, size_t errlen)
{
  *out = NULL;
  if (!c->state_dir || !c->download_dir)
    return sh_errf(err, errlen, -EINVAL, "the daemon needs a state folder and a download folder");
  struct shoal_daemon *d = calloc(1, sizeof *d);
  if (!d)
    return sh_errf(err, errlen, -ENOMEM, "out of memory");
  d->loop = loop;
  copy_config(d, c);
  d->started_at = sh_daemon_now();
  make_session_id(d);
  d->cfg.session.on_event = on_engine_event;
  d->cfg.session.event_ud = d;
  d->cfg.session.on_unknown_torrent = sh_daemon_on_unknown;
  d->cfg.session.unknown_ud = d;
  if (d->cfg.session.event_queue_len < 4096)
    d->cfg.session.event_queue_len = 4096;
  int rc = open_state(d, err, errlen);
  if (rc == 0)
    rc = shoal_session_new(loop, &d->cfg.session, &d->sess, err, errlen);
  if (rc == 0)
    rc = sh_web_start(d, err, errlen);
  if (rc == 0 && !(d->fetch = sh_http_client_new(loop)))
    rc = sh_errf(err, errlen, -ENOMEM, "cannot start the HTTP client");
  if (rc < 0) {
    d->closing = 1;
    sh_web_close(d);
    sh_daemon_close_now(d);
    return rc;
  }
  sh_daemon_apply_speeds(d);
  sh_daemon_tick_start(d);
  /* the RPC answers from the next loop turn; the torrents follow in
   * batches, and the queues start them once all are back */
  sh_daemon_load_start(d);
  sh_info("daemon: RPC on %s port %u", d->cfg.rpc_bind, shoal_daemon_rpc_port(d));
  *out = d;
  return 0;
}

uint16_t shoal_daemon_rpc_port(const shoal_daemon *d)
{
  return d->http_up ? (uint16_t)http_server_port((struct http_server *)&d->http, 0) : 0;
}

shoal_session *shoal_daemon_session(shoal_daemon *d) { return d->sess; }

int shoal_daemon_reconfigure(shoal_daemon *d, const struct shoal_daemon_config *c, char *err,
                             size_t errlen)
{
  if (!c->download_dir)
    return sh_errf(err, errlen, -EINVAL, "no download folder");
  struct shoal_settings keep_session = d->cfg.session;
  uint16_t port = (uint16_t)d->cfg.rpc_port;
  copy_config(d, c);
  d->cfg.session = keep_session; /* ports and sockets stay */
  d->cfg.rpc_port = port;
  d->auth_failures = 0;
  d->idle_due = 1; /* limits may have changed: the tick looks at every torrent */
  sh_daemon_apply_speeds(d);
  sh_daemon_run_queues(d);
  sh_info("daemon: settings reloaded");
  return 0;
}

/* ---- closing ---- */

/* Frees d once the session and the HTTP server are both closed. */
void sh_daemon_maybe_free(struct shoal_daemon *d)
{
  if (!d->engine_closed || d->web_closing || d->loader_closing)
    return;
  for (size_t i = 0; i < d->ntor; i++)
    dtor_free(d->tor[i]);
  free(d->tor);
  sh_tab_free(&d->by_rid);
  sh_tab_free(&d->by_eid);
  sh_tab_free(&d->by_ih);
  sh_tab_free(&d->by_req2);
  free(d->removed);
  free(d->polls);
  free(d->busy);
  sh_buf_free(&d->raw_args);
  sh_store_close(d->db);
  for (size_t i = 0; i < sizeof d->strs / sizeof d->strs[0]; i++)
    free(d->strs[i]);
  void (*done)(void *) = d->done;
  void *ud = d->done_ud;
  free(d);
  if (done)
    done(ud);
}

static void on_session_closed(void *ud)
{
  struct shoal_daemon *d = ud;
  d->sess = NULL;
  d->engine_closed = 1;
  sh_daemon_maybe_free(d);
}

static void on_fetch_closed(void *ud)
{
  struct shoal_daemon *d = ud;
  d->fetch = NULL;
  if (d->sess)
    shoal_session_close(d->sess, on_session_closed, d);
  else
    on_session_closed(d);
}

void sh_daemon_close_now(struct shoal_daemon *d)
{
  d->loading = 0; /* the rows not back yet stay as they are */
  sh_daemon_load_stop(d);
  sh_daemon_tick_stop(d);
  if (d->db && d->sess)
    sh_daemon_flush_resume(d, 1);
  if (d->db)
    sh_daemon_save_stats(d);
  if (d->fetch)
    sh_http_client_close(d->fetch, on_fetch_closed, d);
  else
    on_fetch_closed(d);
}

void shoal_daemon_close(shoal_daemon *d, void (*done)(void *ud), void *ud)
{
  d->done = done;
  d->done_ud = ud;
  d->loading = 0; /* the rows not back yet stay as they are */
  sh_daemon_load_stop(d);
  sh_web_close(d);
  if (d->closing || !d->sess) {
    sh_daemon_close_now(d);
    return;
  }
  /* Pause everything first, so each torrent's last resume data (pieces
   * verified up to the end, files flushed) is in the database before the
   * session goes; the tick closes once all are paused, or after 15 s. */
  d->closing = 1;
  d->close_started_ms = uv_now(d->loop);
  for (size_t i = 0; i < d->ntor; i++)
    shoal_torrent_pause(d->sess, d->tor[i]->eid);
}
