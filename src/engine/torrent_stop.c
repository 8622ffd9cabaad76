/* A torrent's stops and what follows them: the graceful stop (peers,
 * announcer `stopped`, pieces still hashing, flush, resume data, disk jobs,
 * storage), then staying paused, starting again (recheck, move, retry), or
 * removal with or without the data; and the resume data saves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "announce/announce.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "disk/io.h"
#include "disk/relocate.h"
#include "disk/resume.h"
#include "disk/storage.h"
#include "engine/torrent.h"
#include "meta/magnet.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"

/* ---- resume data ---- */

int sh_torrent_encode_resume(const struct shoal_torrent *t, struct sh_buf *b)
{
  struct sh_resume_info x = {.torrent = t->raw, .torrent_len = t->raw_len,
                             .save_dir = t->save_dir, .priorities = t->prio,
                             .num_priorities = t->prio && t->m ? t->m->num_files : 0,
                             .paused = t->user_paused, .seed_only = t->seed_only,
                             .uploaded = t->uploaded, .downloaded = t->downloaded};
  memcpy(x.info_hash, t->ih, 20);
  /* without the metadata, the link it was added with: its trackers, name
   * and selection come back with it */
  struct sh_buf link = SH_BUF_INIT;
  if (!t->raw) {
    sh_magnet_format(&link, t->ih, strcmp(t->name, t->ih_hex) ? t->name : NULL, t->mtiers,
                     t->nmtrackers, t->mweb, t->nmweb);
    sh_magnet_format_select(&link, (const struct sh_magnet_range *)t->select, t->nselect);
    x.magnet = (const char *)link.data;
    x.magnet_len = link.len;
  }
  /* without the pieces (a torrent never started, or still checking) only
   * the settings count */
  const struct sh_metainfo *m =
      t->m && t->have && t->check_done == t->m->num_pieces && !t->check_state ? t->m : NULL;
  int rc = link.oom ? -ENOMEM : sh_resume_encode(b, &x, m, t->save_dir, t->have);
  sh_buf_free(&link);
  return rc;
}

static void save_resume(struct shoal_torrent *t)
{
  struct sh_buf b = SH_BUF_INIT;
  int rc = sh_torrent_encode_resume(t, &b);
  if (rc < 0) {
    sh_buf_free(&b);
    sh_warn("%s: cannot encode resume data: %s", t->name, sh_strerror(rc));
    return;
  }
  sh_buf_free(&t->resume);
  t->resume = b;
  t->resume_dirty = 0;
  if (t->sess->set.resume_dir) {
    char path[4096];
    sh_torrent_resume_path(t, path, sizeof path);
    rc = sh_mkdir_p(t->sess->set.resume_dir, 0777);
    if (rc == 0)
      rc = sh_resume_write(path, b.data, b.len);
    if (rc < 0)
      sh_warn("%s: cannot save resume data to %s: %s", t->name, path, sh_strerror(rc));
  }
  sh_event(t->sess, SHOAL_EVENT_RESUME_DATA, t->id, 0, NULL);
}

static void on_flushed_resume(void *ud, int rc)
{
  struct shoal_torrent *t = ud;
  if (rc < 0)
    sh_warn("%s: flushing the data failed: %s", t->name, sh_strerror(rc));
  else
    save_resume(t);
}

void sh_torrent_save_resume_async(struct shoal_torrent *t)
{
  if (!t->disk)
    save_resume(t);
  else if (sh_disk_flush(t->disk, on_flushed_resume, t) < 0)
    sh_warn("%s: cannot flush the data for resume data", t->name);
}

static void on_flushed_stop(void *ud, int rc)
{
  struct shoal_torrent *t = ud;
  on_flushed_resume(ud, rc);
  t->flush_pending = 0;
  sh_torrent_stop_continue(t);
}

/* ---- after the stop ---- */

static void stopped(struct shoal_torrent *t);

/* Deleting the data or moving it runs in a worker: thousands of files. */
struct files_job {
  uv_work_t req;
  struct shoal_torrent *t;
  const struct sh_metainfo *m;
  char *from, *to;              /* to NULL: delete */
  int rc;
  char err[512];
};

static void files_work(uv_work_t *req)
{
  struct files_job *j = req->data;
  if (j->to)
    j->rc = sh_relocate_move(j->m, j->from, j->to, j->err, sizeof j->err);
  else
    j->rc = sh_relocate_delete(j->m, j->from, j->err, sizeof j->err);
}

static void finish_remove(struct shoal_torrent *t)
{
  struct shoal_session *s = t->sess;
  if (s->set.resume_dir && !t->unload) {
    char path[4096];
    sh_torrent_resume_path(t, path, sizeof path);
    unlink(path);
  }
  sh_info("%s: %s", t->name, t->unload ? "unloaded" : "removed");
  sh_event(s, SHOAL_EVENT_REMOVED, t->id, 0, "%s", t->name);
  sh_torrent_free(t);
  sh_session_torrent_stopped(s, NULL);
}

static void files_after(uv_work_t *req, int status)
{
  struct files_job *j = req->data;
  struct shoal_torrent *t = j->t;
  t->moving = 0;
  if (!j->to) {
    if (j->rc < 0)
      sh_warn("%s: deleting the data: %s", t->name, j->err);
    finish_remove(t);
  } else if (status < 0 || j->rc < 0) {
    sh_torrent_fail(t, j->rc < 0 ? j->rc : status, j->err[0] ? j->err : "moving the data failed");
    stopped(t);
  } else {
    sh_info("%s: data moved to %s", t->name, j->to);
    free(t->save_dir);
    t->save_dir = j->to;
    j->to = NULL;
    sh_buf_free(&t->resume); /* its stamps name the old place */
    sh_event(t->sess, SHOAL_EVENT_STORAGE_MOVED, t->id, 0, "%s", t->save_dir);
    stopped(t);
  }
  free(j->from);
  free(j->to);
  free(j);
}

static int files_start(struct shoal_torrent *t, char *to)
{
  struct files_job *j = calloc(1, sizeof *j);
  if (!j || !(j->from = strdup(t->save_dir))) {
    free(j);
    return -ENOMEM;
  }
  j->req.data = j;
  j->t = t;
  j->m = t->m;
  j->to = to;
  int rc = uv_queue_work(t->sess->loop, &j->req, files_work, files_after);
  if (rc < 0) {
    free(j->from);
    free(j);
    return rc;
  }
  t->moving = 1;
  return 0;
}

/* Every handle is closed: stay paused, start again, move or remove. */
static void stopped(struct shoal_torrent *t)
{
  struct shoal_session *s = t->sess;
  sh_torrent_runtime_free(t);
  if (t->after_stop == SH_AFTER_REMOVE) {
    if (t->delete_data && t->m) {
      t->delete_data = 0;
      if (files_start(t, NULL) == 0)
        return;
    }
    finish_remove(t);
    return;
  }
  sh_torrent_paths_pending(t);
  if (t->move_to && t->m) {
    char *to = t->move_to;
    t->move_to = NULL;
    if (files_start(t, to) == 0)
      return;
    free(to);
    sh_torrent_fail(t, -ENOMEM, "cannot start moving the data");
  }
  if (t->after_stop == SH_AFTER_RESTART && !t->user_paused && !s->closing &&
      t->state != SHOAL_ERROR) {
    t->after_stop = SH_AFTER_NONE;
    t->stop_requested = 0;
    t->flushed = 0;
    sh_torrent_start(t);
    return;
  }
  t->after_stop = SH_AFTER_NONE;
  t->stop_requested |= SH_STOP_DONE;
  if (t->state != SHOAL_ERROR) {
    t->state = SHOAL_PAUSED;
    sh_event(s, SHOAL_EVENT_PAUSED, t->id, 0, NULL);
  }
  sh_session_torrent_stopped(s, t);
}

/* ---- stopping ----
 * 1. close the peers and stop the announcer (it sends `stopped`);
 * 2. wait for pieces being hashed (and a check being cancelled), so what
 *    is written counts;
 * 3. flush the files, then save resume data (mtimes are final then);
 * 4. close the disk jobs and the storage. */

static void on_disk_closed(void *ud)
{
  struct shoal_torrent *t = ud;
  if (t->st)
    sh_storage_close(t->st);
  t->st = NULL;
  t->disk_closing = 0;
  sh_torrent_stop_continue(t);
}

static void on_ann_stopped(void *ud)
{
  struct shoal_torrent *t = ud;
  t->ann_stopping--;
  sh_torrent_stop_continue(t);
}

void sh_torrent_stop_continue(struct shoal_torrent *t)
{
  if (!(t->stop_requested & SH_STOP_STARTED) || (t->stop_requested & SH_STOP_DONE) || t->moving)
    return;
  if (t->nhashq)
    sh_torrent_hash_flush(t); /* pieces waiting for a full hash group */
  if (t->hashing || t->flush_pending || t->finish_pending)
    return;
  if (t->disk && !t->flushed && (t->resume_dirty || !t->resume.len)) {
    t->flushed = 1;
    if (sh_disk_flush(t->disk, on_flushed_stop, t) == 0) {
      t->flush_pending = 1;
      return;
    }
  }
  if (!t->disk && !t->flushed && t->after_stop != SH_AFTER_REMOVE) {
    t->flushed = 1;
    save_resume(t); /* never started: the settings alone */
  }
  if (t->disk) {
    struct sh_disk *d = t->disk;
    t->disk = NULL;
    t->disk_closing = 1;
    sh_disk_close(d, on_disk_closed, t); /* cancels a running check */
    return;
  }
  if (t->disk_closing || t->ann_stopping)
    return;
  if (t->st) {
    sh_storage_close(t->st);
    t->st = NULL;
  }
  stopped(t);
}

void sh_torrent_stop(struct shoal_torrent *t, enum sh_after_stop after)
{
  if (after > t->after_stop)
    t->after_stop = after;
  if (t->stop_requested & SH_STOP_STARTED) {
    if ((t->stop_requested & SH_STOP_DONE) && !t->moving) {
      /* already paused: the new wish applies at once */
      t->stop_requested = SH_STOP_STARTED;
      stopped(t);
    }
    return;
  }
  t->stop_requested = SH_STOP_STARTED;
  if (t->state != SHOAL_ERROR)
    t->state = SHOAL_STOPPING;
  sh_session_close_torrent(t->sess, t, "torrent stopping");
  if (t->ann) {
    struct sh_announcer *a = t->ann;
    t->ann = NULL;
    t->ann_stopping++;
    if (t->unload && t->after_stop == SH_AFTER_REMOVE)
      sh_announcer_drop(a, on_ann_stopped, t);
    else
      sh_announcer_stop(a, on_ann_stopped, t);
  }
  sh_torrent_stop_continue(t);
}
