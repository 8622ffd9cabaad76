/* A torrent's life in the engine: created with or without its metadata,
 * the metadata step (which builds storage and picker), the start (resume
 * data or a check of the data on disk), completion, errors and freeing.
 *
 * States (enum shoal_state): METADATA until the metadata is known; then
 * CHECKING -> DOWNLOADING -> SEEDING; STOPPING on the way to PAUSED, to a
 * restart (recheck, move, retry after an error) or to removal
 * (torrent_stop.c); ERROR from anywhere, with the reason kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/announce.h"
#include "base/bitfield.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "disk/check.h"
#include "disk/io.h"
#include "disk/paths.h"
#include "disk/resume.h"
#include "disk/storage.h"
#include "engine/torrent.h"
#include "meta/magnet.h"
#include "meta/metainfo.h"
#include "peer/mse_hs.h"
#include "swarm/picker.h"
#include "base/vec.h"

static int same_hash(const void *val, const void *ih)
{
  return !memcmp(((const struct shoal_torrent *)val)->ih, ih, 20);
}

struct shoal_torrent *sh_torrent_find(const struct shoal_session *s, const uint8_t info_hash[20])
{
  return sh_tab_get(&s->by_hash, sh_tab_hash_key(info_hash), same_hash, info_hash);
}

static int same_req2(const void *val, const void *req2)
{
  return !memcmp(((const struct shoal_torrent *)val)->req2, req2, 20);
}

struct shoal_torrent *sh_torrent_find_req2(const struct shoal_session *s, const uint8_t req2[20])
{
  return sh_tab_get(&s->by_req2, sh_tab_hash_key(req2), same_req2, req2);
}

struct shoal_torrent *sh_torrent_by_id(const struct shoal_session *s, shoal_id id)
{
  return id ? sh_tab_get(&s->by_id, id, NULL, NULL) : NULL;
}

int sh_torrent_running(const struct shoal_torrent *t)
{
  return t->state == SHOAL_DOWNLOADING || t->state == SHOAL_SEEDING;
}

int sh_torrent_have(const struct shoal_torrent *t, uint32_t piece)
{
  return t->m && t->have && piece < t->m->num_pieces && sh_bf_get(t->have, piece);
}

int sh_torrent_file_wanted(const struct shoal_torrent *t, size_t f)
{
  return !(t->m->files[f].attr & SH_FILE_PAD) && (!t->prio || t->prio[f] != SHOAL_PRIO_SKIP);
}

/* Bytes of piece that belong to wanted (non-padding) files. */
static uint64_t piece_wanted_bytes(const struct shoal_torrent *t, uint32_t piece)
{
  const struct sh_metainfo *m = t->m;
  size_t first, last;
  sh_storage_piece_files(m, piece, &first, &last);
  uint64_t lo = (uint64_t)piece * m->piece_length, hi = lo + sh_piece_size(m, piece), sum = 0;
  for (size_t f = first; f <= last && f < m->num_files; f++) {
    const struct sh_file *fi = &m->files[f];
    if (!sh_torrent_file_wanted(t, f))
      continue;
    uint64_t a = fi->offset > lo ? fi->offset : lo;
    uint64_t b = fi->offset + fi->length < hi ? fi->offset + fi->length : hi;
    if (b > a)
      sum += b - a;
  }
  return sum;
}

void sh_torrent_mark_have(struct shoal_torrent *t, uint32_t piece)
{
  if (sh_bf_get(t->have, piece))
    return;
  sh_bf_set(t->have, piece);
  t->have_count++;
  t->have_bytes += piece_wanted_bytes(t, piece);
  if (t->picker)
    sh_picker_have(t->picker, piece);
}

void sh_torrent_recount(struct shoal_torrent *t)
{
  const struct sh_metainfo *m = t->m;
  t->wanted_bytes = t->have_bytes = 0;
  for (size_t f = 0; f < m->num_files; f++)
    if (sh_torrent_file_wanted(t, f))
      t->wanted_bytes += m->files[f].length;
  for (uint32_t i = 0; i < m->num_pieces; i++)
    if (sh_bf_get(t->have, i))
      t->have_bytes += piece_wanted_bytes(t, i);
}

/* ---- errors and completion ---- */

void sh_torrent_set_text(char **field, const char *s)
{
  free(*field);
  *field = s && *s ? strdup(s) : NULL;
}

void sh_torrent_set_name(struct shoal_torrent *t, const char *name)
{
  char *n = name ? strdup(name) : NULL;
  if (name && !n)
    return;
  if (t->name != t->ih_hex)
    free(t->name);
  t->name = n ? n : t->ih_hex;
}

void sh_torrent_fail(struct shoal_torrent *t, int err, const char *msg)
{
  if (t->state == SHOAL_ERROR)
    return;
  /* info, not error: the app hears of it through SHOAL_EVENT_ERROR and the
   * status, and says it once in its own words (shoal get printed every
   * fatal error twice while this was an error line) */
  sh_info("%s: stopped by an error: %s", t->name, msg);
  sh_torrent_set_text(&t->error, msg);
  t->state = SHOAL_ERROR;
  while (t->npeers)
    sh_conn_close(t->peers[t->npeers - 1]->c, "torrent stopped by an error");
  if (t->ann) {
    sh_announcer_stop(t->ann, NULL, NULL);
    t->ann = NULL;
  }
  sh_event(t->sess, SHOAL_EVENT_ERROR, t->id, err, "%s", msg);
}

/* sh_storage_finish (zero-length files, symlinks, fsync) in a worker. */
struct finish_job {
  uv_work_t req;
  struct shoal_torrent *t;
  struct sh_storage *st;
  int rc;
  size_t bad;
};

static void finish_work(uv_work_t *req)
{
  struct finish_job *j = req->data;
  j->rc = sh_storage_finish(j->st, &j->bad);
}

static void finish_after(uv_work_t *req, int status)
{
  struct finish_job *j = req->data;
  struct shoal_torrent *t = j->t;
  t->finish_pending = 0;
  if (status == 0 && j->rc < 0 && t->st) {
    char msg[512];
    const char *file = sh_storage_file_path(t->st, j->bad);
    snprintf(msg, sizeof msg, "cannot create %s: %s", file ? file : "a file", sh_strerror(j->rc));
    sh_torrent_fail(t, j->rc, msg);
  }
  free(j);
  sh_torrent_stop_continue(t);
}


void sh_torrent_complete(struct shoal_torrent *t)
{
  t->state = SHOAL_SEEDING;
  sh_torrent_bufs_maybe_free(t);
  if (!t->seed_only && t->st && !t->finish_pending) {
    struct finish_job *j = calloc(1, sizeof *j);
    if (j) {
      j->req.data = j;
      j->t = t;
      j->st = t->st;
      if (uv_queue_work(t->sess->loop, &j->req, finish_work, finish_after) == 0)
        t->finish_pending = 1;
      else
        free(j);
    }
  }
  sh_info("%s: download complete, seeding", t->name);
  /* With every piece, seeds have nothing more to give us or take from
   * us: hang up now rather than at the next tick, so their slots go to
   * leechers. (Files skipped by priority may be wanted later: then we
   * keep them.) */
  int full = t->m && t->have_count == t->m->num_pieces;
  for (size_t i = t->npeers; i-- > 0;) {
    if (i >= t->npeers)
      continue;
    if (full && sh_tpeer_is_seed(t->peers[i]))
      sh_conn_close(t->peers[i]->c, "both sides are seeds");
    else
      sh_tpeer_update_interest(t->peers[i]);
  }
  if (t->ann)
    sh_announcer_completed(t->ann);
  if (t->disk && t->resume_dirty)
    sh_torrent_save_resume_async(t);
  sh_event(t->sess, SHOAL_EVENT_FINISHED, t->id, 0, NULL);
}

/* ---- starting: resume data or a check ---- */

static void startup_done(struct shoal_torrent *t)
{
  const struct sh_metainfo *m = t->m;
  sh_event(t->sess, SHOAL_EVENT_CHECKED, t->id, 0, "%u of %u pieces", t->have_count,
           m->num_pieces);
  /* the check opened every file: a torrent nobody talks to keeps none
   * open (10,000 seeding torrents would take 10,000 descriptors) */
  if (!t->npeers)
    sh_storage_release(t->st);
  if (t->pause_after_check) {
    /* a recheck of a paused torrent: back to paused, result saved */
    t->pause_after_check = 0;
    t->user_paused = 1;
    t->resume_dirty = 1;
    sh_torrent_stop(t, SH_AFTER_NONE);
    return;
  }
  if (t->seed_only && !sh_picker_complete(t->picker)) {
    char msg[128];
    snprintf(msg, sizeof msg, "data incomplete: %u of %u pieces", t->have_count, m->num_pieces);
    sh_torrent_fail(t, SH_EINCOMPLETE, msg);
    return;
  }
  t->state = SHOAL_DOWNLOADING;
  t->started_ms = sh_now(t->sess);
  sh_info("%s: %u of %u pieces present", t->name, t->have_count, m->num_pieces);
  if (sh_picker_complete(t->picker))
    sh_torrent_complete(t);
  /* peers that connected while we were checking learn what we have */
  for (size_t i = t->npeers; i-- > 0;) {
    sh_tpeer_send_bitfield(t->peers[i]);
    sh_tpeer_update_interest(t->peers[i]);
  }
  sh_torrent_announce_start(t);
  sh_torrent_dial(t, sh_now(t->sess));
}

static void on_check_progress(void *ud, uint32_t done, uint32_t total)
{
  struct shoal_torrent *t = ud;
  t->check_done = done;
  (void)total;
}

static void on_checked(void *ud, int rc, uint8_t *state)
{
  struct shoal_torrent *t = ud;
  if (t->state == SHOAL_CHECKING && rc == 0) {
    t->check_done = t->m->num_pieces;
    for (uint32_t i = 0; i < t->m->num_pieces; i++)
      if (state[i] == SH_PIECE_OK)
        sh_torrent_mark_have(t, i);
  }
  free(t->check_state); /* state is this */
  t->check_state = NULL;
  if (t->state != SHOAL_CHECKING) {
    sh_torrent_stop_continue(t); /* stopped while checking */
    return;
  }
  if (rc < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "checking the data failed: %s", sh_strerror(rc));
    sh_torrent_fail(t, rc, msg);
    return;
  }
  t->resume_dirty = 1; /* the check's result is worth keeping */
  startup_done(t);
}

void sh_torrent_resume_path(const struct shoal_torrent *t, char *out, size_t n)
{
  snprintf(out, n, "%s/%s.resume", t->sess->set.resume_dir, t->ih_hex);
}

/* Resume data that still matches the files: the latest in memory, else
 * the resume file. Returns 0 with the pieces marked. quiet: say nothing
 * (a paused torrent only showing its progress; the start says it). */
static int load_resume_as(struct shoal_torrent *t, int quiet)
{
  const struct sh_metainfo *m = t->m;
  uint8_t *bf = calloc(1, SH_BF_BYTES(m->num_pieces) + 1);
  if (!bf)
    return -ENOMEM;
  char err[256] = "";
  int rc = -ENOENT;
  if (t->resume.len)
    rc = sh_resume_parse(t->resume.data, t->resume.len, m, t->save_dir, bf, err, sizeof err);
  else if (t->sess->set.resume_dir) {
    char path[4096];
    sh_torrent_resume_path(t, path, sizeof path);
    rc = sh_resume_load(path, m, t->save_dir, bf, err, sizeof err);
  }
  if (rc == 0) {
    for (uint32_t i = 0; i < m->num_pieces; i++)
      if (sh_bf_get(bf, i))
        sh_torrent_mark_have(t, i);
    if (!quiet)
      sh_info("%s: resume data accepted (%u pieces)", t->name, t->have_count);
  } else if (quiet) {
  } else if (rc == -ESTALE) {
    /* a file was written since: the usual reason, nothing to warn about */
    sh_info("%s: resume data not used (%s), checking the data", t->name, err);
  } else if (rc != -ENOENT) {
    /* damaged, edited, foreign or from before checksums: said at the
     * default level, since the user may wonder why a check runs */
    sh_warn("%s: resume data not used (%s), checking the data", t->name,
            err[0] ? err : sh_strerror(rc));
  }
  free(bf);
  return rc;
}

static int load_resume(struct shoal_torrent *t) { return load_resume_as(t, 0); }

void sh_torrent_show_resume(struct shoal_torrent *t)
{
  if (!t->m || load_resume_as(t, 1) < 0)
    return;
  sh_torrent_recount(t);
}

static void check(struct shoal_torrent *t)
{
  const struct sh_metainfo *m = t->m;
  t->check_state = malloc(m->num_pieces ? m->num_pieces : 1);
  if (!t->check_state) {
    sh_torrent_fail(t, -ENOMEM, "out of memory for the start-up check");
    return;
  }
  int rc = sh_disk_check(t->disk, t->sess->set.hash_threads, t->check_state, on_check_progress,
                         on_checked, t);
  if (rc < 0) {
    free(t->check_state);
    t->check_state = NULL;
    char msg[200];
    snprintf(msg, sizeof msg, "cannot start checking the data: %s", sh_strerror(rc));
    sh_torrent_fail(t, rc, msg);
  }
}

/* The picker, the piece bookkeeping and the file handles of a started
 * torrent; freed again by sh_torrent_runtime_free once it stops. */
static int runtime_open(struct shoal_torrent *t, char *err, size_t n)
{
  struct shoal_session *s = t->sess;
  const struct sh_metainfo *m = t->m;
  uint32_t np = m->num_pieces;
  memset(t->have, 0, SH_BF_BYTES(np) + 1);
  t->have_count = 0;
  t->have_bytes = t->wanted_bytes = 0;
  t->check_done = 0;
  for (uint32_t i = 0; i < np; i++)
    t->slot_of[i] = -1;
  struct sh_picker_opts po = {np, m->piece_length, m->total_length,
                              (uint32_t)s->set.max_pieces_in_flight, 0, sh_session_rand(s)};
  if (!(t->picker = sh_picker_new(&po)))
    return sh_errf(err, n, -ENOMEM, "out of memory for the piece picker");
  /* peers that came while the metadata was being fetched */
  for (size_t i = 0; i < t->npeers; i++) {
    const struct sh_peer *p = t->peers[i];
    if (p->have_all)
      sh_picker_peer_have_all(t->picker);
    else if (p->have_count)
      sh_picker_peer_bitfield(t->picker, p->bf);
  }
  sh_torrent_recount(t);
  sh_torrent_apply_priorities(t);
  /* a symlink or a folder in a file's way is said now, naming it, not by
   * a piece write after other files were partly downloaded */
  int rc = t->seed_only ? 0 : sh_paths_check(m, t->save_dir, err, n);
  if (rc < 0)
    return rc;
  rc = t->seed_only ? 0 : sh_mkdir_p(t->save_dir, 0777);
  if (rc < 0)
    return sh_errf(err, n, rc, "cannot create the folder %s: %s", t->save_dir, sh_strerror(rc));
  int sflags = (t->seed_only ? SH_STORAGE_READONLY : 0) |
               (s->set.buffered_writes ? SH_STORAGE_BUFFERED : 0);
  rc = sh_storage_open(m, t->save_dir, sflags, &t->st);
  if (rc < 0)
    return sh_errf(err, n, rc, "cannot open the storage under %s: %s", t->save_dir,
                   sh_strerror(rc));
  rc = sh_disk_new(s->loop, t->st, m, &s->cache, &t->disk);
  if (rc < 0)
    return sh_errf(err, n, rc, "cannot start disk I/O: %s", sh_strerror(rc));
  return 0;
}

void sh_torrent_runtime_free(struct shoal_torrent *t)
{
  if (t->picker)
    sh_picker_free(t->picker);
  t->picker = NULL;
  free(t->ss_revealed);
  t->ss_revealed = NULL;
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].used && !sh_slab_owns(&t->bufs, t->parts[i].mem))
      free(t->parts[i].mem);
  free(t->parts);
  t->parts = NULL;
  t->nparts = 0;
  sh_slab_free(&t->bufs);
  t->sess->bufs_used -= t->bufs_held;
  t->bufs_held = 0;
  t->nhashq = 0;
}

void sh_torrent_start(struct shoal_torrent *t)
{
  sh_torrent_set_text(&t->error, NULL);
  if (!t->m) {
    /* peers come from a magnet's trackers and peers, PEX, LSD and the
     * DHT; the metadata from them (BEP 9, src/ext/ut_metadata.c) */
    t->state = SHOAL_METADATA;
    sh_torrent_announce_start(t);
    sh_torrent_dial(t, sh_now(t->sess));
    return;
  }
  t->state = SHOAL_CHECKING;
  char err[300] = "";
  int rc = runtime_open(t, err, sizeof err);
  if (rc < 0) {
    sh_torrent_fail(t, rc, err);
    return;
  }
  if (!t->force_check && load_resume(t) == 0) {
    t->check_done = t->m->num_pieces;
    startup_done(t);
    return;
  }
  t->force_check = 0;
  check(t);
}

/* ---- the metadata ---- */

static int set_priorities(struct shoal_torrent *t, const uint8_t *prio, size_t n)
{
  if (!prio)
    return 0;
  if (n != t->m->num_files)
    return SH_EMETAINFO;
  if (!t->prio && !(t->prio = malloc(n ? n : 1)))
    return -ENOMEM;
  memcpy(t->prio, prio, n);
  return 0;
}

/* BEP 53: a magnet's `so` as priorities: the files it names NORMAL, the
 * others SKIP (indices count the info dict's files, padding included). */
static void select_files(struct shoal_torrent *t)
{
  size_t n = t->m->num_files;
  if (!(t->pending_prio = malloc(n ? n : 1)))
    return;
  t->npending_prio = n;
  size_t picked = sh_magnet_select((const struct sh_magnet_range *)t->select, t->nselect, n,
                                   t->pending_prio);
  if (!picked) {
    sh_warn("%s: the file selection names none of its %zu files: all are wanted", t->name, n);
    free(t->pending_prio);
    t->pending_prio = NULL;
    return;
  }
  for (size_t f = 0; f < n; f++)
    t->pending_prio[f] = t->pending_prio[f] ? SHOAL_PRIO_NORMAL : SHOAL_PRIO_SKIP;
  sh_info("%s: the file selection wants %zu of %zu files", t->name, picked, n);
}

int sh_torrent_set_metadata(struct shoal_torrent *t, struct sh_metainfo *m, const void *raw,
                            size_t len)
{
  if (t->m)
    return -EEXIST;
  if (memcmp(m->info_hash, t->ih, 20))
    return SH_EHASH;
  uint32_t np = m->num_pieces;
  uint8_t *copy = malloc(len ? len : 1);
  uint8_t *have = calloc(1, SH_BF_BYTES(np) + 1);
  int32_t *slot_of = malloc(((size_t)np + 1) * sizeof *slot_of);
  if (!copy || !have || !slot_of) {
    free(copy);
    free(have);
    free(slot_of);
    return -ENOMEM;
  }
  memcpy(copy, raw, len);
  t->m = m;
  t->raw = copy;
  t->raw_len = len;
  t->have = have;
  t->slot_of = slot_of;
  for (size_t f = 0; f < m->num_files; f++)
    if (!(m->files[f].attr & SH_FILE_PAD))
      t->total_bytes += m->files[f].length;
  sh_torrent_set_name(t, m->name);
  if (!t->pending_prio && t->select)
    select_files(t);
  if (t->pending_prio && set_priorities(t, t->pending_prio, t->npending_prio) < 0)
    sh_warn("%s: the file selection given before the metadata does not fit its %zu files",
            t->name, m->num_files);
  free(t->pending_prio);
  t->pending_prio = NULL;
  /* Slots ration upload bandwidth. Without an upload limit the link, not
   * the slots, is the constraint, so take at least 8 (libtorrent's default
   * unchoke_slots_limit): one seed then feeds 8 leechers at once instead of
   * leaving 3 of them waiting 10 s for the next round. */
  struct shoal_session *s = t->sess;
  int slots = s->set.upload_slots;
  if (!s->set.upload_rate && slots < 8)
    slots = 8;
  sh_choker_init(&t->choker, slots, sh_session_rand(s));
  /* peers that sent a bitfield or haves before we knew the piece count */
  for (size_t i = t->npeers; i-- > 0;)
    if (i < t->npeers)
      sh_tpeer_metadata_known(t->peers[i]);
  sh_event(s, SHOAL_EVENT_METADATA, t->id, 0, "%s", t->name);
  return 0;
}

/* ---- creating and freeing ---- */

struct shoal_torrent *sh_torrent_new(struct shoal_session *s, const uint8_t ih[20],
                                     const char *name, const char *save_dir)
{
  if (sh_vec_reserve(s->tor, s->cap_tor, s->ntor + 1, 8, SIZE_MAX) < 0)
    return NULL;
  struct shoal_torrent *t = calloc(1, sizeof *t);
  if (!t || !(t->save_dir = strdup(save_dir ? save_dir : "."))) {
    free(t);
    return NULL;
  }
  t->sess = s;
  t->resume_lock = -1;
  t->id = ++s->next_id;
  memcpy(t->ih, ih, 20);
  for (int i = 0; i < 20; i++)
    snprintf(t->ih_hex + 2 * i, 3, "%02x", ih[i]);
  t->name = t->ih_hex;
  sh_peers_init(&t->plist);
  sh_hub_group_init(&t->rl, sh_now(s));
  if (sh_tab_put(&s->by_id, t->id, t) < 0) {
    free(t->save_dir);
    free(t);
    return NULL;
  }
  sh_mse_req2(ih, t->req2);
  if (sh_tab_put(&s->by_hash, sh_tab_hash_key(ih), t) < 0 ||
      sh_tab_put(&s->by_req2, sh_tab_hash_key(t->req2), t) < 0) {
    sh_tab_del(&s->by_hash, sh_tab_hash_key(ih), t);
    sh_tab_del(&s->by_id, t->id, t);
    free(t->save_dir);
    free(t);
    return NULL;
  }
  if (name && *name)
    sh_torrent_set_name(t, name);
  t->sess_idx = s->ntor;
  s->tor[s->ntor++] = t;
  return t;
}

void sh_torrent_free(struct shoal_torrent *t)
{
  struct shoal_session *s = t->sess;
  sh_resume_unlock(t->resume_lock, s->set.resume_dir, t->ih_hex,
                   t->after_stop == SH_AFTER_REMOVE);
  sh_ext_torrent_gone(t);
  sh_tab_del(&s->by_id, t->id, t);
  sh_tab_del(&s->by_hash, sh_tab_hash_key(t->ih), t);
  sh_tab_del(&s->by_req2, sh_tab_hash_key(t->req2), t);
  if (t->sess_idx < s->ntor && s->tor[t->sess_idx] == t) {
    /* keep the order torrents were added in: lists show it */
    memmove(s->tor + t->sess_idx, s->tor + t->sess_idx + 1,
            (s->ntor - t->sess_idx - 1) * sizeof *s->tor);
    s->ntor--;
    for (size_t i = t->sess_idx; i < s->ntor; i++)
      s->tor[i]->sess_idx = i;
  }
  sh_torrent_runtime_free(t);
  sh_hub_group_remove(&s->hub, &t->rl);
  free(t->slot_of);
  free(t->hashq);
  free(t->have);
  free(t->check_state);
  free(t->prio);
  free(t->pending_prio);
  free(t->peers);
  free(t->save_dir);
  free(t->move_to);
  free(t->rename_path);
  free(t->rename_name);
  free(t->locate_to);
  free(t->raw);
  free(t->trk);
  sh_torrent_set_name(t, NULL);
  free(t->error);
  free(t->tracker_msg);
  free(t->tracker_reason);
  sh_torrent_trackers_free(t);
  sh_torrent_magnet_free(t);
  sh_buf_free(&t->resume);
  sh_peers_free(&t->plist);
  if (t->m)
    sh_metainfo_free(t->m);
  free(t);
}
