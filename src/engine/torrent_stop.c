/* A torrent's end: the graceful stop (peers, announcer `stopped`, pieces
 * still hashing, flush, resume data, disk jobs, storage) and the resume
 * data saves, plus freeing what a stopped torrent still holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce/announce.h"
#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "disk/resume.h"
#include "disk/storage.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"
#include "engine/torrent.h"

static void save_resume(struct shoal_torrent *t)
{
  if (!t->sess->set.resume_dir || !t->have)
    return;
  char path[4096];
  sh_torrent_resume_path(t, path, sizeof path);
  int rc = sh_resume_save(path, t->m, t->save_dir, t->have);
  if (rc < 0)
    sh_warn("%s: cannot save resume data to %s: %s", t->m->name, path, sh_strerror(rc));
  else
    t->resume_dirty = 0;
}

static void on_flushed_resume(void *ud, int rc)
{
  struct shoal_torrent *t = ud;
  if (rc < 0)
    sh_warn("%s: flushing the data failed: %s", t->m->name, sh_strerror(rc));
  else
    save_resume(t);
}

void sh_torrent_save_resume_async(struct shoal_torrent *t)
{
  if (t->disk && t->sess->set.resume_dir)
    sh_disk_flush(t->disk, on_flushed_resume, t);
}

static void on_flushed_stop(void *ud, int rc)
{
  struct shoal_torrent *t = ud;
  on_flushed_resume(ud, rc);
  t->flush_pending = 0;
  sh_torrent_stop_continue(t);
}

/* ---- stopping ----
 * 1. close the peers and stop the announcer (it sends `stopped`);
 * 2. wait for pieces being hashed, so what is written counts;
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
  t->ann_stopping = 0;
  sh_torrent_stop_continue(t);
}

void sh_torrent_stop_continue(struct shoal_torrent *t)
{
  if (!(t->stop_requested & SH_STOP_STARTED) || (t->stop_requested & SH_STOP_DONE))
    return;
  if (t->nhashq)
    sh_torrent_hash_flush(t); /* pieces waiting for a full hash group */
  if (t->hashing || t->flush_pending || t->finish_pending)
    return;
  if (t->disk && !t->flushed && t->sess->set.resume_dir && t->resume_dirty) {
    t->flushed = 1;
    if (sh_disk_flush(t->disk, on_flushed_stop, t) == 0) {
      t->flush_pending = 1;
      return;
    }
  }
  if (t->disk) {
    struct sh_disk *d = t->disk;
    t->disk = NULL;
    t->disk_closing = 1;
    sh_disk_close(d, on_disk_closed, t);
    return;
  }
  if (t->disk_closing || t->ann_stopping)
    return;
  if (t->st) {
    sh_storage_close(t->st);
    t->st = NULL;
  }
  t->stop_requested |= SH_STOP_DONE;
  if (t->state != SHOAL_ERROR)
    t->state = SHOAL_STOPPED; /* an error stays visible */
  if ((t->stop_requested & SH_STOP_USER) && t->cb.on_stopped)
    t->cb.on_stopped(t, t->cb.ud);
  sh_session_torrent_stopped(t->sess, t);
}

static void stop(struct shoal_torrent *t, int user)
{
  if (t->stop_requested & SH_STOP_STARTED)
    return;
  t->stop_requested |= SH_STOP_STARTED | (user ? SH_STOP_USER : 0);
  if (t->state != SHOAL_ERROR)
    t->state = SHOAL_STOPPING;
  while (t->npeers)
    sh_conn_close(t->peers[t->npeers - 1]->c, "torrent stopping");
  if (t->ann) {
    struct sh_announcer *a = t->ann;
    t->ann = NULL;
    t->ann_stopping = 1;
    sh_announcer_stop(a, on_ann_stopped, t);
  }
  sh_torrent_stop_continue(t);
}

void shoal_torrent_stop(shoal_torrent *t) { stop(t, 1); }
void sh_torrent_stop_internal(struct shoal_torrent *t)
{
  if (t->stop_requested & SH_STOP_DONE) {
    sh_session_torrent_stopped(t->sess, t);
    return;
  }
  stop(t, 0); /* when already on its way, it reports once done */
}

void sh_torrent_free(struct shoal_torrent *t)
{
  for (size_t i = 0; i < t->nparts; i++)
    if (!sh_slab_owns(&t->bufs, t->parts[i].mem))
      free(t->parts[i].mem);
  free(t->parts);
  sh_slab_free(&t->bufs);
  free(t->slot_of);
  free(t->hashq);
  free(t->have);
  free(t->check_state);
  free(t->wanted_files);
  free(t->peers);
  free(t->save_dir);
  if (t->picker)
    sh_picker_free(t->picker);
  sh_peers_free(&t->plist);
  sh_metainfo_free(t->m);
  free(t);
}
