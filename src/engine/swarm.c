/* The torrent's housekeeping, once per tick (1 s): per-peer timeouts and
 * rates, the choker (BEP 3: every 10 s, optimistic every 30 s), dialling
 * known peers up to the limits, periodic resume data, the announcer, and
 * the DHT (tdht.c). */
#include <stdlib.h>
#include <string.h>

#include "announce/announce.h"
#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "meta/metainfo.h"
#include "swarm/choker.h"
#include "swarm/picker.h"
#include "engine/torrent.h"

/* At most this many dials in flight per torrent: a tracker reply of 200
 * peers should not open 200 sockets in one tick. */
#define SH_MAX_CONNECTING 16
/* Resume data is saved this often while downloading (plus at stop). */
#define SH_RESUME_INTERVAL_MS 30000


void sh_torrent_dial(struct shoal_torrent *t, uint64_t now)
{
  struct shoal_session *s = t->sess;
  if ((!sh_torrent_running(t) && t->state != SHOAL_METADATA) || s->closing)
    return;
  int seeding = t->state == SHOAL_SEEDING;
  size_t total = s->npeers + s->nconnecting;
  while (t->npeers + (size_t)t->connecting < sh_torrent_max_peers(t) &&
         total < (size_t)s->set.max_peers_total && t->connecting < SH_MAX_CONNECTING) {
    struct sh_peer_entry *e = sh_peers_next(&t->plist, now, seeding);
    if (!e)
      break;
    struct sh_addr a = e->addr;
    if (sh_bans_is_banned(&s->bans, &a) || sh_session_is_self(s, &a)) {
      sh_peers_remove(&t->plist, &a);
      continue;
    }
    int rc = sh_session_dial(s, t, &a);
    if (rc < 0) {
      char name[64];
      sh_addr_str(&a, name, sizeof name);
      sh_info("peer %s: cannot dial: %s", name, uv_strerror(rc));
      sh_peers_done(&t->plist, &a, 1, now);
      continue;
    }
    total++;
  }
}

void sh_torrent_add_addr(struct shoal_torrent *t, const struct sockaddr *sa, int source)
{
  struct sh_addr a;
  if (sh_addr_from_sockaddr(&a, sa) < 0 || !a.port)
    return;
  if (sh_bans_is_banned(&t->sess->bans, &a) || sh_session_is_self(t->sess, &a))
    return;
  sh_peers_add(&t->plist, &a, source, sh_now(t->sess));
}

void sh_torrent_choke_round(struct shoal_torrent *t, uint64_t now)
{
  if (!t->npeers)
    return;
  struct sh_choke_peer *cp = calloc(t->npeers, sizeof *cp);
  if (!cp)
    return;
  for (size_t i = 0; i < t->npeers; i++) {
    const struct sh_peer *p = t->peers[i];
    cp[i] = (struct sh_choke_peer){p,
                                   sh_rate_get(&p->rate_down),
                                   sh_rate_get(&p->rate_up),
                                   p->attached_ms,
                                   p->unchoked_ms,
                                   p->peer_interested,
                                   p->snubbed,
                                   !p->am_choking,
                                   p->optimistic};
  }
  sh_choker_round(&t->choker, cp, t->npeers, t->state == SHOAL_SEEDING, now);
  size_t n = t->npeers;
  struct sh_peer **ps = malloc(n * sizeof *ps);
  if (ps) {
    memcpy(ps, t->peers, n * sizeof *ps);
    for (size_t i = 0; i < n; i++) {
      if (!sh_conn_active(ps[i]->c))
        continue;
      ps[i]->optimistic = cp[i].optimistic;
      sh_tpeer_set_choke(ps[i], !cp[i].unchoked);
    }
    free(ps);
  }
  free(cp);
  t->last_choke_ms = now;
}

void sh_torrent_maybe_unchoke(struct shoal_torrent *t, struct sh_peer *p)
{
  if (!p->am_choking || !p->peer_interested)
    return;
  int unchoked = 0;
  for (size_t i = 0; i < t->npeers; i++)
    unchoked += !t->peers[i]->am_choking;
  /* regular slots plus the optimistic one */
  if (unchoked < t->choker.slots + 1)
    sh_tpeer_set_choke(p, 0);
}

void sh_torrent_tick(struct shoal_torrent *t, uint64_t now, uint64_t dt)
{
  sh_torrent_dht_tick(t, now);
  if (!sh_torrent_running(t) && t->state != SHOAL_METADATA)
    return;
  if (dt == 0)
    dt = 1;
  sh_rate_tick(&t->rate_down, dt);
  sh_rate_tick(&t->rate_up, dt);
  if (t->m)
    sh_torrent_hash_flush(t);
  /* backwards: a peer that closes is swapped with the last one */
  for (size_t i = t->npeers; i-- > 0;) {
    if (i >= t->npeers)
      continue;
    sh_tpeer_tick(t->peers[i], now, dt);
    if (!sh_torrent_running(t) && t->state != SHOAL_METADATA)
      return;
  }
  sh_ext_tick(t, now);
  if (!sh_torrent_running(t) && t->state != SHOAL_METADATA)
    return;
  if (t->m && now - t->last_choke_ms >= SH_CHOKE_INTERVAL_MS)
    sh_torrent_choke_round(t, now);
  sh_torrent_dial(t, now);
  /* Nobody to talk to and nobody left to dial: ask the trackers early (the
   * announcer keeps to the tracker's min interval). */
  if (t->ann && t->state == SHOAL_DOWNLOADING && !t->npeers && !t->connecting &&
      !sh_peers_count_idle(&t->plist, now))
    sh_announcer_more_peers(t->ann);
  if (t->state == SHOAL_DOWNLOADING && t->resume_dirty && t->sess->set.resume_dir && t->disk &&
      now - t->last_resume_ms >= SH_RESUME_INTERVAL_MS) {
    t->last_resume_ms = now;
    sh_torrent_save_resume_async(t);
  }
}

/* ---- the announcer ---- */

/* Before the metadata we cannot say what is left; 16 KiB, as libtorrent
 * says then: non-zero, so a tracker does not take us for a seed and leave
 * the seeds out of its reply. */
#define SH_LEFT_UNKNOWN 16384

static void ann_stats(void *ud, uint64_t *up, uint64_t *down, uint64_t *left)
{
  struct shoal_torrent *t = ud;
  *up = t->uploaded;
  *down = t->downloaded;
  *left = !t->m ? SH_LEFT_UNKNOWN
          : t->wanted_bytes > t->have_bytes ? t->wanted_bytes - t->have_bytes : 0;
}

/* The app's tiers, else the metadata's, or before it a magnet link's
 * trackers. */
static const struct sh_tier *tiers_of(const struct shoal_torrent *t, size_t *n)
{
  if (t->otiers_set) {
    *n = t->notiers;
    return t->otiers;
  }
  *n = t->m ? t->m->num_tiers : t->nmtrackers;
  return t->m ? t->m->tiers : t->mtiers;
}

static void ann_peers(void *ud, const struct sockaddr_storage *addrs, size_t n)
{
  struct shoal_torrent *t = ud;
  for (size_t i = 0; i < n; i++)
    sh_torrent_add_addr(t, (const struct sockaddr *)&addrs[i], SH_SRC_TRACKER);
  sh_torrent_dial(t, sh_now(t->sess));
}

static struct sh_trk_state *trk_find(struct shoal_torrent *t, const char *url)
{
  for (size_t i = 0; url && i < t->ntrk; i++)
    if (!strcmp(t->trk[i].url, url))
      return &t->trk[i];
  return NULL;
}

/* A tracker failed (err < 0), or is silent for a while (stalled): it
 * counts as failing until it answers. msg is "URL: reason"; the reason
 * alone is what a progress line shows. */
static void trk_failing(struct shoal_torrent *t, const char *url, int err, const char *msg)
{
  const char *why = msg ? msg : "failed";
  size_t n = url ? strlen(url) : 0;
  if (n && !strncmp(why, url, n) && why[n] == ':' && why[n + 1] == ' ')
    why += n + 2;
  struct sh_trk_state *k = trk_find(t, url);
  for (size_t i = 0; i < t->ntrk; i++) {
    /* no URL: none of them can be used (no supported scheme) */
    if (k && &t->trk[i] != k)
      continue;
    t->trk[i].failing = 1;
    t->trk[i].err = err;
    snprintf(t->trk[i].error, sizeof t->trk[i].error, "%s", msg ? msg : "failed");
  }
  sh_torrent_set_text(&t->tracker_reason, why);
  sh_event(t->sess, SHOAL_EVENT_TRACKER_ERROR, t->id, err, "%s", msg ? msg : "failed");
}

static void ann_status(void *ud, const char *url, int err, const char *msg)
{
  struct shoal_torrent *t = ud;
  sh_torrent_set_text(&t->tracker_msg, msg);
  if (err < 0) {
    sh_info("%s: tracker %s: %s", t->name, url ? url : "?", msg ? msg : "failed");
    trk_failing(t, url, err, msg);
  }
}

static void ann_stalled(void *ud, const char *url, uint32_t tries, const char *msg)
{
  struct shoal_torrent *t = ud;
  sh_torrent_set_text(&t->tracker_msg, msg);
  sh_info("%s: tracker %s", t->name, msg);
  trk_failing(t, url, SH_ETIMEOUT, msg);
}

void sh_torrent_tracker_summary(const struct shoal_torrent *t, struct shoal_status *st)
{
  if (!t->ann)
    return; /* not announcing: no tracker to speak of */
  st->trackers = (int)t->ntrk;
  for (size_t i = 0; i < t->ntrk; i++)
    st->trackers_failing += t->trk[i].failing;
  if (st->trackers_failing)
    snprintf(st->tracker_error, sizeof st->tracker_error, "%s", sh_text(t->tracker_reason));
  uint64_t ms = sh_announcer_next_ms(t->ann);
  st->tracker_retry_s = (uint32_t)((ms + 999) / 1000);
}

static void ann_announced(void *ud, const struct sh_announce_info *info)
{
  struct shoal_torrent *t = ud;
  struct sh_trk_state *k = trk_find(t, info->url);
  if (k) {
    k->error[0] = 0;
    k->failing = k->err = 0;
    k->seeders = info->seeders;
    k->leechers = info->leechers;
    k->next_ms = sh_now(t->sess) + (uint64_t)info->interval * 1000;
  }
  sh_torrent_set_text(&t->tracker_msg, NULL);
  sh_torrent_set_text(&t->tracker_reason, NULL);
  sh_debug("%s: %s answered: %zu peers, next in %u s", t->name, info->url, info->num_peers,
           info->interval);
  sh_event(t->sess, SHOAL_EVENT_TRACKER_REPLY, t->id, 0, "%s: %zu peers, next in %u s", info->url,
           info->num_peers, info->interval);
}

void sh_torrent_announce_start(struct shoal_torrent *t)
{
  struct shoal_session *s = t->sess;
  size_t nt;
  const struct sh_tier *tiers = tiers_of(t, &nt);
  if (!s->set.announce || !s->http || !nt || t->ann)
    return;
  if (!t->trk) {
    size_t n = 0;
    for (size_t i = 0; i < nt; i++)
      n += tiers[i].n;
    if ((t->trk = calloc(n ? n : 1, sizeof *t->trk))) {
      for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < tiers[i].n; k++)
          t->trk[t->ntrk++] = (struct sh_trk_state){tiers[i].urls[k], (int)i, -1, -1, 0,
                                                    0, 0, ""};
    }
  }
  struct sh_announce_callbacks cb = {t, ann_stats, ann_peers, ann_status, ann_announced, NULL,
                                     ann_stalled};
  struct sh_announce_ctx ctx = {s->http, s->udp_trackers};
  t->ann = sh_announcer_new(s->loop, &ctx, tiers, nt, t->ih, s->peer_id, s->port, &cb, NULL);
  if (!t->ann) {
    sh_warn("%s: cannot start the tracker client: out of memory", t->name);
    return;
  }
  sh_announcer_start(t->ann);
}

size_t shoal_torrent_trackers(const shoal_session *s, shoal_id id, struct shoal_tracker_info *out,
                              size_t cap)
{
  const struct shoal_torrent *t = sh_torrent_by_id(s, id);
  if (!t || t->after_stop == SH_AFTER_REMOVE)
    return 0;
  size_t n = 0, nt;
  const struct sh_tier *tiers = tiers_of(t, &nt);
  uint64_t now = sh_now(s);
  for (size_t i = 0; i < nt; i++)
    for (size_t k = 0; k < tiers[i].n; k++, n++) {
      if (n >= cap)
        continue;
      const struct sh_trk_state *st = n < t->ntrk ? &t->trk[n] : NULL;
      struct shoal_tracker_info *o = &out[n];
      memset(o, 0, sizeof *o);
      snprintf(o->url, sizeof o->url, "%s", tiers[i].urls[k]);
      o->tier = (int)i;
      o->seeders = st ? st->seeders : -1;
      o->leechers = st ? st->leechers : -1;
      o->next_announce_s = st && st->next_ms > now && t->ann ? (uint32_t)((st->next_ms - now) / 1000) : 0;
      if (st) {
        snprintf(o->last_error, sizeof o->last_error, "%s", st->error);
        o->failing = st->failing;
        o->err = st->err;
      }
    }
  return n;
}
