/* The app's tracker list for a torrent (shoal_torrent_set_trackers): a
 * daemon's trackerAdd, trackerRemove and trackerReplace. swarm.c's
 * announcer reads it through tiers_of(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "announce/announce.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"

void sh_torrent_trackers_free(struct shoal_torrent *t)
{
  for (size_t i = 0; i < t->notrackers; i++)
    free(t->otrackers[i]);
  free(t->otrackers);
  free(t->otiers);
  t->otrackers = NULL;
  t->otiers = NULL;
  t->notrackers = t->notiers = 0;
  t->otiers_set = 0;
}

/* The old announcer's event=stopped is out: a stop waiting for it may go
 * on (torrent_stop.c counts them in ann_stopping). */
static void on_old_stopped(void *ud)
{
  struct shoal_torrent *t = ud;
  t->ann_stopping--;
  sh_torrent_stop_continue(t);
}

/* Copies tiers into t's own arrays (empty tiers dropped). */
static int copy_tiers(struct shoal_torrent *t, const struct shoal_tracker_tier *tiers, size_t n)
{
  size_t nu = 0, nt = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < tiers[i].num_urls; k++)
      if (!tiers[i].urls[k] || !tiers[i].urls[k][0])
        return -EINVAL;
    nu += tiers[i].num_urls;
    nt += tiers[i].num_urls > 0;
  }
  char **urls = calloc(nu ? nu : 1, sizeof *urls);
  struct sh_tier *ot = calloc(nt ? nt : 1, sizeof *ot);
  size_t u = 0, j = 0;
  int ok = urls && ot;
  for (size_t i = 0; ok && i < n; i++) {
    if (!tiers[i].num_urls)
      continue;
    ot[j++] = (struct sh_tier){&urls[u], tiers[i].num_urls};
    for (size_t k = 0; ok && k < tiers[i].num_urls; k++)
      ok = (urls[u++] = strdup(tiers[i].urls[k])) != NULL;
  }
  if (!ok) {
    for (size_t i = 0; urls && i < nu; i++)
      free(urls[i]);
    free(urls);
    free(ot);
    return -ENOMEM;
  }
  sh_torrent_trackers_free(t);
  t->otrackers = urls;
  t->notrackers = nu;
  t->otiers = ot;
  t->notiers = nt;
  t->otiers_set = 1;
  return 0;
}

int shoal_torrent_set_trackers(shoal_session *s, shoal_id id,
                               const struct shoal_tracker_tier *tiers, size_t n)
{
  struct shoal_torrent *t = sh_torrent_by_id(s, id);
  if (!t || t->after_stop == SH_AFTER_REMOVE)
    return -ENOENT;
  /* announcing now, or would be if it had a tracker */
  int active = t->ann || (!t->stop_requested &&
                          (t->state == SHOAL_METADATA || t->state == SHOAL_DOWNLOADING ||
                           t->state == SHOAL_SEEDING));
  if (tiers) {
    int rc = copy_tiers(t, tiers, n);
    if (rc < 0)
      return rc;
  } else {
    sh_torrent_trackers_free(t);
  }
  if (t->ann) {
    struct sh_announcer *a = t->ann;
    t->ann = NULL;
    t->ann_stopping++;
    sh_announcer_stop(a, on_old_stopped, t);
  }
  free(t->trk); /* its URLs were the old list's */
  t->trk = NULL;
  t->ntrk = 0;
  if (active)
    sh_torrent_announce_start(t);
  return 0;
}
