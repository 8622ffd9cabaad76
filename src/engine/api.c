/* The public torrent API (include/shoal.h): torrents by id, added from
 * .torrent bytes, an info-hash or resume data; pause, resume, remove,
 * recheck, priorities, moves; status snapshots and lists. Each call checks
 * its arguments and leaves the work to the engine's modules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "announce/announce.h"
#include "base/sha1.h"
#include "disk/resume.h"
#include "disk/storage.h"
#include "engine/torrent.h"
#include "meta/magnet.h"
#include "meta/metainfo.h"
#include "swarm/picker.h"

/* A torrent the caller may still use: not on its way out. */
static struct shoal_torrent *live(const shoal_session *s, shoal_id id)
{
  struct shoal_torrent *t = sh_torrent_by_id(s, id);
  return t && t->after_stop != SH_AFTER_REMOVE ? t : NULL;
}

/* ---- adding ---- */

/* What an add takes from its parameters or its resume data. */
struct add {
  const uint8_t *raw, *prio;
  size_t raw_len, nprio;
  const char *save_dir;
  int paused, seed_only, super_seed;
  uint64_t uploaded, downloaded;
  uint8_t ih[20];
  int have_ih;
  struct sh_magnet *mag;        /* resume data's link, without a .torrent */
};

static int add_from_params(const struct shoal_add_params *p, struct add *a, char **rsave,
                           char *err, size_t errlen)
{
  *a = (struct add){.raw = p->torrent, .raw_len = p->torrent_len, .prio = p->priorities,
                    .nprio = p->num_priorities, .save_dir = p->save_dir, .paused = p->paused,
                    .seed_only = p->seed_only, .super_seed = p->super_seed};
  if (p->resume) {
    struct sh_resume_info x;
    int rc = sh_resume_read_info(p->resume, p->resume_len, &x, rsave, err, errlen);
    if (rc < 0)
      return rc;
    memcpy(a->ih, x.info_hash, 20);
    a->have_ih = 1;
    if (!a->raw) {
      a->raw = x.torrent;
      a->raw_len = x.torrent_len;
    }
    if (!a->prio) {
      a->prio = x.priorities;
      a->nprio = x.num_priorities;
    }
    if (!a->save_dir)
      a->save_dir = x.save_dir;
    a->paused |= x.paused;
    a->seed_only |= x.seed_only;
    if (x.magnet && !x.torrent) {
      /* a torrent saved before its metadata came: its link brings back its
       * trackers, name and selection */
      char *link = strndup(x.magnet, x.magnet_len);
      if (link && sh_magnet_parse(link, &a->mag, NULL, 0) < 0)
        sh_warn("resume data of %02x%02x%02x...: its magnet link is not readable", x.info_hash[0],
                x.info_hash[1], x.info_hash[2]);
      free(link);
    }
    a->uploaded = x.uploaded;
    a->downloaded = x.downloaded;
  } else if (p->info_hash && !p->torrent) {
    memcpy(a->ih, p->info_hash, 20);
    a->have_ih = 1;
  }
  if (!a->raw && !a->have_ih)
    return sh_errf(err, errlen, -EINVAL, "nothing to add: no torrent, info-hash or resume data");
  return 0;
}

/* An info-hash alone: the .torrent of an earlier fetch of its metadata,
 * from the resume data saved then (resume_dir/<info-hash>.resume), so a
 * restart does not fetch it again. Returns the file's bytes (a->raw
 * borrows from them) or NULL. */
static uint8_t *saved_torrent(const shoal_session *s, struct add *a)
{
  if (!s->set.resume_dir || a->raw || !a->have_ih)
    return NULL;
  char hex[41], path[4096];
  sh_hex(a->ih, 20, hex);
  snprintf(path, sizeof path, "%s/%s.resume", s->set.resume_dir, hex);
  uint8_t *buf;
  size_t len;
  /* the .torrent's own limit, and the rest of the resume data beside it */
  if (sh_read_file(path, 256u << 20, &buf, &len) < 0)
    return NULL;
  struct sh_resume_info x;
  char *rsave = NULL, err[200];
  if (sh_resume_read_info(buf, len, &x, &rsave, err, sizeof err) < 0 || !x.torrent ||
      memcmp(x.info_hash, a->ih, 20)) {
    free(rsave);
    free(buf);
    return NULL;
  }
  free(rsave);
  sh_info("%s: the metadata comes from the resume data saved before", hex);
  a->raw = x.torrent;
  a->raw_len = x.torrent_len;
  return buf;
}

static struct shoal_torrent *add_new(shoal_session *s, const struct shoal_add_params *p,
                                     const struct add *a, struct sh_metainfo *m)
{
  struct shoal_torrent *t = sh_torrent_new(s, a->ih, p->name, a->save_dir);
  if (!t)
    return NULL;
  if (sh_torrent_magnet_set(t, p, m != NULL) < 0) {
    t->after_stop = SH_AFTER_REMOVE;
    sh_torrent_free(t);
    return NULL;
  }
  t->seed_only = a->seed_only;
  t->super_seed = a->super_seed;
  t->uploaded = a->uploaded;
  t->downloaded = a->downloaded;
  if (a->prio && (t->pending_prio = malloc(a->nprio ? a->nprio : 1))) {
    memcpy(t->pending_prio, a->prio, a->nprio);
    t->npending_prio = a->nprio;
  }
  /* its pieces, if still true; kept at its size (a buffer grown by
   * doubling held 512 bytes for a daemon's usual 376, times 10,000) */
  if (p->resume && (t->resume.data = malloc(p->resume_len + 1))) {
    memcpy(t->resume.data, p->resume, p->resume_len);
    t->resume.data[p->resume_len] = 0;
    t->resume.len = p->resume_len;
    t->resume.cap = p->resume_len + 1;
  }
  if (m && sh_torrent_set_metadata(t, m, a->raw, a->raw_len) < 0) {
    t->after_stop = SH_AFTER_REMOVE;
    sh_torrent_free(t);
    return NULL;
  }
  return t;
}

/* The torrent's lock in the resume folder (disk/resume.h): -EBUSY when
 * another program holds it; a folder that cannot be used only costs the
 * lock (its resume data will fail to save, and says so then). */
static int add_lock(shoal_session *s, const uint8_t ih[20], char *err, size_t errlen)
{
  if (!s->set.resume_dir)
    return -1;
  char hex[41], why[512];
  sh_hex(ih, 20, hex);
  int fd = sh_resume_lock(s->set.resume_dir, hex, why, sizeof why);
  if (fd == -EBUSY)
    return sh_errf(err, errlen, fd, "%s", why);
  if (fd < 0)
    sh_warn("%s: no lock on its resume data: %s", hex, why);
  return fd;
}
static void select_more(struct shoal_torrent *t, const struct shoal_add_params *p);

int shoal_torrent_add(shoal_session *s, const struct shoal_add_params *p, shoal_id *id, char *err,
                      size_t errlen)
{
  if (id)
    *id = 0;
  if (s->closing)
    return sh_errf(err, errlen, -ECANCELED, "the session is closing");
  struct add a;
  char *rsave = NULL;
  struct sh_metainfo *m = NULL;
  int rc = add_from_params(p, &a, &rsave, err, errlen);
  uint8_t *saved = rc == 0 ? saved_torrent(s, &a) : NULL;
  if (rc == 0 && a.raw) {
    rc = sh_metainfo_parse(a.raw, a.raw_len, &m, err, errlen);
    if (rc == 0 && a.have_ih && memcmp(a.ih, m->info_hash, 20))
      rc = sh_errf(err, errlen, SH_EHASH, "the resume data belongs to another torrent");
    if (rc == 0)
      memcpy(a.ih, m->info_hash, 20);
  }
  if (rc == 0 && m && a.prio && a.nprio != m->num_files)
    rc = sh_errf(err, errlen, -EINVAL, "%zu file priorities for a torrent of %zu files", a.nprio,
                 m->num_files);
  struct shoal_torrent *t = rc == 0 ? sh_torrent_find(s, a.ih) : NULL;
  if (t) {
    if (id)
      *id = t->id;
    select_more(t, p);
    rc = sh_errf(err, errlen, -EEXIST, "%s: this torrent was already added", t->name);
  }
  int lock = rc == 0 ? add_lock(s, a.ih, err, errlen) : -1;
  if (lock == -EBUSY)
    rc = lock;
  struct shoal_add_params q = *p;
  if (a.mag) {
    /* what the caller gives wins over what the resume data remembers */
    if (!q.name)
      q.name = a.mag->name;
    if (!q.num_trackers) {
      q.trackers = (const char *const *)a.mag->trackers;
      q.num_trackers = a.mag->num_trackers;
    }
    if (!q.num_web_seeds) {
      q.web_seeds = (const char *const *)a.mag->web_seeds;
      q.num_web_seeds = a.mag->num_web_seeds;
    }
    if (!q.num_select) {
      q.select = (const struct shoal_file_range *)a.mag->select;
      q.num_select = a.mag->num_select;
    }
  }
  if (rc == 0 && !(t = add_new(s, &q, &a, m)))
    rc = sh_errf(err, errlen, -ENOMEM, "out of memory adding the torrent");
  free(rsave);
  free(saved);
  sh_magnet_free(a.mag);
  if (rc < 0) {
    if (m)
      sh_metainfo_free(m);
    if (lock >= 0)
      close(lock);
    return rc;
  }
  t->resume_lock = lock;
  sh_event(s, SHOAL_EVENT_ADDED, t->id, 0, "%s", t->name);
  if (a.paused) {
    t->user_paused = 1;
    t->state = SHOAL_PAUSED;
    t->stop_requested = SH_STOP_STARTED | SH_STOP_DONE;
    sh_torrent_show_resume(t);
  } else {
    sh_torrent_start(t);
  }
  if (id)
    *id = t->id;
  return 0;
}

/* ---- what a magnet link brings ---- */

static void priorities_changed(struct shoal_torrent *t);

/* BEP 53: a link with `so` for a torrent already added wants those files
 * too: skipped ones become NORMAL (a selection still pending grows). */
static void select_more(struct shoal_torrent *t, const struct shoal_add_params *p)
{
  if (!p->num_select || t->after_stop == SH_AFTER_REMOVE)
    return;
  if (!t->m) {
    struct shoal_file_range *n = realloc(t->select, (t->nselect + p->num_select) * sizeof *n);
    if (!n)
      return;
    memcpy(n + t->nselect, p->select, p->num_select * sizeof *n);
    t->select = n;
    t->nselect += p->num_select;
    return;
  }
  if (!t->prio)
    return; /* every file is wanted already */
  size_t nf = t->m->num_files;
  uint8_t *w = malloc(nf ? nf : 1);
  if (!w)
    return;
  sh_magnet_select((const struct sh_magnet_range *)p->select, p->num_select, nf, w);
  int changed = 0;
  for (size_t f = 0; f < nf; f++)
    if (w[f] && t->prio[f] == SHOAL_PRIO_SKIP) {
      t->prio[f] = SHOAL_PRIO_NORMAL;
      changed = 1;
    }
  free(w);
  if (changed) {
    priorities_changed(t);
    t->resume_dirty = 1;
  }
}

static int copy_strs(char ***out, size_t *nout, const char *const *in, size_t n)
{
  if (!n)
    return 0;
  if (!(*out = calloc(n, sizeof **out)))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++, (*nout)++)
    if (!in[i] || !((*out)[i] = strdup(in[i])))
      return in[i] ? -ENOMEM : -EINVAL;
  return 0;
}

/* "1.2.3.4:6881" or "[::1]:6881"; a host name is not resolved here. */
static int peer_literal(const char *spec, struct sh_addr *a)
{
  char host[64];
  const char *colon = strrchr(spec, ':');
  if (!colon)
    return -EINVAL;
  size_t hl = (size_t)(colon - spec);
  const char *h = spec;
  if (*spec == '[' && hl >= 2 && spec[hl - 1] == ']') {
    h = spec + 1;
    hl -= 2;
  }
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (hl >= sizeof host || *end || port < 1 || port > 65535)
    return -EINVAL;
  memcpy(host, h, hl);
  host[hl] = 0;
  struct sockaddr_storage ss;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) != 0)
    return -EINVAL;
  return sh_addr_from_sockaddr(a, (struct sockaddr *)&ss);
}

int sh_torrent_magnet_set(struct shoal_torrent *t, const struct shoal_add_params *p,
                          int has_metadata)
{
  if (!has_metadata) {
    int rc = copy_strs(&t->mtrackers, &t->nmtrackers, p->trackers, p->num_trackers);
    if (rc == 0)
      rc = copy_strs(&t->mweb, &t->nmweb, p->web_seeds, p->num_web_seeds);
    if (rc < 0)
      return rc;
    if (t->nmtrackers && !(t->mtiers = calloc(t->nmtrackers, sizeof *t->mtiers)))
      return -ENOMEM;
    for (size_t i = 0; i < t->nmtrackers; i++) /* BEP 12: one tier each, tried in order */
      t->mtiers[i] = (struct sh_tier){&t->mtrackers[i], 1};
  }
  if (p->num_select && !p->priorities) {
    if (!(t->select = malloc(p->num_select * sizeof *t->select)))
      return -ENOMEM;
    memcpy(t->select, p->select, p->num_select * sizeof *t->select);
    t->nselect = p->num_select;
  }
  for (size_t i = 0; i < p->num_peers; i++) {
    struct sh_addr a;
    if (!p->peers[i] || peer_literal(p->peers[i], &a) < 0)
      sh_info("%s: peer '%s' skipped: not an IP address and port", t->name,
              p->peers[i] ? p->peers[i] : "(null)");
    else
      sh_peers_add(&t->plist, &a, SH_SRC_MANUAL, sh_now(t->sess));
  }
  return 0;
}

void sh_torrent_magnet_free(struct shoal_torrent *t)
{
  for (size_t i = 0; i < t->nmtrackers; i++)
    free(t->mtrackers[i]);
  for (size_t i = 0; i < t->nmweb; i++)
    free(t->mweb[i]);
  free(t->mtrackers);
  free(t->mweb);
  free(t->mtiers);
  free(t->select);
}

int shoal_torrent_find(const shoal_session *s, const uint8_t info_hash[20], shoal_id *id)
{
  struct shoal_torrent *t = sh_torrent_find(s, info_hash);
  if (!t || t->after_stop == SH_AFTER_REMOVE)
    return -ENOENT;
  *id = t->id;
  return 0;
}

/* ---- pause, resume, remove, recheck, move ---- */

static int paused(const struct shoal_torrent *t)
{
  return (t->stop_requested & SH_STOP_DONE) && !t->moving;
}

int shoal_torrent_pause(shoal_session *s, shoal_id id)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  t->user_paused = 1;
  if (!paused(t))
    sh_torrent_stop(t, SH_AFTER_NONE);
  return 0;
}

int shoal_torrent_resume(shoal_session *s, shoal_id id)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (s->closing)
    return -ECANCELED;
  int was_error = t->state == SHOAL_ERROR;
  if (!t->user_paused && !was_error)
    return 0; /* running, or on its way back */
  t->user_paused = 0;
  if (was_error)
    t->state = SHOAL_STOPPING; /* the error is what we retry */
  if (paused(t)) {
    t->stop_requested = 0;
    t->flushed = 0;
    t->after_stop = SH_AFTER_NONE;
    sh_torrent_start(t);
  } else {
    sh_torrent_stop(t, SH_AFTER_RESTART);
  }
  sh_event(s, SHOAL_EVENT_RESUMED, t->id, 0, NULL);
  return 0;
}

int shoal_torrent_remove(shoal_session *s, shoal_id id, int delete_data)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  t->delete_data = !!delete_data;
  sh_torrent_stop(t, SH_AFTER_REMOVE);
  return 0;
}

int shoal_torrent_unload(shoal_session *s, shoal_id id)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  t->unload = 1;
  sh_torrent_stop(t, SH_AFTER_REMOVE);
  return 0;
}

int shoal_torrent_recheck(shoal_session *s, shoal_id id)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (!t->m)
    return -EAGAIN; /* no metadata yet */
  t->force_check = 1;
  if (paused(t)) {
    /* check, then pause again, as a paused torrent expects */
    t->pause_after_check = 1;
    t->stop_requested = 0;
    t->flushed = 0;
    sh_torrent_start(t);
  } else {
    sh_torrent_stop(t, SH_AFTER_RESTART);
  }
  return 0;
}

int shoal_torrent_move_storage(shoal_session *s, shoal_id id, const char *dir)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (!dir || !*dir)
    return -EINVAL;
  char *copy = strdup(dir);
  if (!copy)
    return -ENOMEM;
  if (!t->m) {
    /* nothing on disk yet: the folder is all there is to change */
    free(t->save_dir);
    t->save_dir = copy;
    sh_event(s, SHOAL_EVENT_STORAGE_MOVED, t->id, 0, "%s", dir);
    return 0;
  }
  free(t->move_to);
  t->move_to = copy;
  sh_torrent_stop(t, paused(t) ? SH_AFTER_NONE : SH_AFTER_RESTART);
  return 0;
}

/* ---- priorities ---- */

/* After the wanted files changed: what is wanted and had, and whether the
 * torrent now needs to download or has all it wants. */
static void priorities_changed(struct shoal_torrent *t)
{
  sh_torrent_recount(t);
  if (!t->picker)
    return; /* applied when it starts */
  sh_torrent_apply_priorities(t);
  int complete = sh_picker_complete(t->picker);
  if (t->state == SHOAL_SEEDING && !complete) {
    t->state = SHOAL_DOWNLOADING;
    sh_info("%s: more files wanted: downloading again", t->name);
  } else if (t->state == SHOAL_DOWNLOADING && complete) {
    sh_torrent_complete(t);
    return;
  }
  for (size_t i = t->npeers; i-- > 0;)
    sh_tpeer_update_interest(t->peers[i]);
}

int shoal_torrent_set_priorities(shoal_session *s, shoal_id id, const uint8_t *prio, size_t n)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (!t->m) {
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
      return -ENOMEM;
    memcpy(copy, prio, n);
    free(t->pending_prio);
    t->pending_prio = copy;
    t->npending_prio = n;
    return 0;
  }
  if (n != t->m->num_files)
    return -EINVAL;
  if (!t->prio && !(t->prio = malloc(n ? n : 1)))
    return -ENOMEM;
  memcpy(t->prio, prio, n);
  priorities_changed(t);
  t->resume_dirty = 1;
  return 0;
}

int shoal_torrent_set_rates(shoal_session *s, shoal_id id, int64_t upload, int64_t download)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  return sh_hub_group_set_rates(&s->hub, &t->rl, upload > 0 ? (uint64_t)upload : 0,
                                download > 0 ? (uint64_t)download : 0);
}

int shoal_torrent_honor_session_limits(shoal_session *s, shoal_id id, int honors)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  sh_hub_group_set_own_only(&s->hub, &t->rl, !honors);
  return 0;
}

size_t sh_torrent_max_peers(const struct shoal_torrent *t)
{
  return (size_t)(t->max_peers > 0 ? t->max_peers : t->sess->set.max_peers_per_torrent);
}

int shoal_torrent_set_peer_limit(shoal_session *s, shoal_id id, int max)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (max < 0)
    return -EINVAL;
  t->max_peers = max;
  /* over the new cap: the latest to attach go (they have given least) */
  for (size_t i = t->npeers; i-- > sh_torrent_max_peers(t);)
    sh_conn_close(t->peers[i]->c, "the torrent's peer limit was lowered");
  sh_torrent_dial(t, sh_now(s)); /* or raised: room for more */
  return 0;
}

int shoal_torrent_add_peer(shoal_session *s, shoal_id id, const struct sockaddr *addr)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  struct sh_addr a;
  int rc = sh_addr_from_sockaddr(&a, addr);
  if (rc < 0)
    return rc;
  if (!a.port)
    return -EINVAL;
  rc = sh_peers_add(&t->plist, &a, SH_SRC_MANUAL, sh_now(s));
  if (rc < 0)
    return rc;
  sh_torrent_dial(t, sh_now(s));
  return 0;
}

/* ---- status and lists ---- */

/* A text into a status's buffer, cut to fit; none: left empty. A daemon
 * copies 10,000 statuses for one torrent-get: no printf here. */
static void copy_text(char *dst, size_t cap, const char *src)
{
  if (!src)
    return;
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = 0;
}

static void status_of(const struct shoal_torrent *t, struct shoal_status *st)
{
  memset(st, 0, sizeof *st);
  st->id = t->id;
  memcpy(st->info_hash, t->ih, 20);
  copy_text(st->name, sizeof st->name, t->name);
  st->state = t->state;
  st->has_metadata = t->m != NULL;
  st->num_pieces = t->m ? t->m->num_pieces : 0;
  st->pieces_have = t->have_count;
  st->total_bytes = t->total_bytes;
  st->wanted_bytes = t->wanted_bytes;
  st->have_bytes = t->have_bytes;
  st->downloaded = t->downloaded;
  st->uploaded = t->uploaded;
  st->down_rate = sh_rate_get(&t->rate_down);
  st->up_rate = sh_rate_get(&t->rate_up);
  for (size_t i = 0; i < t->npeers; i++) {
    st->peers++;
    const struct sh_peer *p = t->peers[i];
    st->seeds += p->have_all || (t->m && p->have_count == t->m->num_pieces);
  }
  st->check_done = t->check_done;
  st->hash_failures = t->hash_failures;
  st->banned_peers = t->banned_peers;
  st->peers_closed_early = t->peers_closed_early;
  st->peers_all_close_early = sh_peers_all_closers(&t->plist);
  copy_text(st->error, sizeof st->error, t->error);
  copy_text(st->tracker_msg, sizeof st->tracker_msg, t->tracker_msg);
  sh_torrent_tracker_summary(t, st);
  sh_ext_status(t, st);
}

int shoal_torrent_status(const shoal_session *s, shoal_id id, struct shoal_status *st)
{
  const struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  status_of(t, st);
  return 0;
}

size_t shoal_torrent_status_all(const shoal_session *s, struct shoal_status *out, size_t cap)
{
  size_t n = 0;
  for (size_t i = 0; i < s->ntor; i++) {
    const struct shoal_torrent *t = s->tor[i];
    if (t->after_stop == SH_AFTER_REMOVE)
      continue;
    if (n < cap)
      status_of(t, &out[n]);
    n++;
  }
  return n;
}

static int busy(const struct shoal_torrent *t)
{
  switch (t->state) {
  case SHOAL_PAUSED:
  case SHOAL_ERROR: return 0;
  case SHOAL_SEEDING:
    return t->npeers || t->connecting || t->hashing || sh_rate_get(&t->rate_up) ||
           sh_rate_get(&t->rate_down);
  default: return 1;
  }
}

size_t shoal_session_busy(const shoal_session *s, shoal_id *out, size_t cap)
{
  size_t n = 0;
  for (size_t i = 0; i < s->ntor; i++) {
    const struct shoal_torrent *t = s->tor[i];
    if (t->after_stop == SH_AFTER_REMOVE || !busy(t))
      continue;
    if (n < cap)
      out[n] = t->id;
    n++;
  }
  return n;
}

size_t shoal_torrent_peers(const shoal_session *s, shoal_id id, struct shoal_peer_info *out,
                           size_t cap)
{
  const struct shoal_torrent *t = live(s, id);
  if (!t)
    return 0;
  for (size_t i = 0; i < t->npeers && i < cap; i++) {
    const struct sh_peer *p = t->peers[i];
    struct shoal_peer_info *o = &out[i];
    memset(o, 0, sizeof *o);
    snprintf(o->addr, sizeof o->addr, "%s", p->c->name);
    snprintf(o->client, sizeof o->client, "%s", p->client);
    o->downloaded = p->down_bytes;
    o->uploaded = p->up_bytes;
    o->down_rate = sh_rate_get(&p->rate_down);
    o->up_rate = sh_rate_get(&p->rate_up);
    o->pieces = p->have_count;
    o->incoming = !p->outgoing;
    o->utp = (unsigned)sh_conn_is_utp(p->c);
    o->seed = p->have_all || (t->m && p->have_count == t->m->num_pieces);
    o->am_choking = !!p->am_choking;
    o->am_interested = !!p->am_interested;
    o->peer_choking = !!p->peer_choking;
    o->peer_interested = !!p->peer_interested;
    o->snubbed = !!p->snubbed;
    o->optimistic = !!p->optimistic;
    o->encrypted = p->c->enc != SH_CONN_ENC_NONE;
    o->rc4 = p->c->enc == SH_CONN_ENC_RC4;
  }
  return t->npeers;
}

/* Verified bytes of file f: the parts of had pieces that fall in it. */
static uint64_t file_have(const struct shoal_torrent *t, size_t f)
{
  const struct sh_metainfo *m = t->m;
  const struct sh_file *fi = &m->files[f];
  if (!fi->length || !t->have)
    return 0;
  uint64_t sum = 0, end = fi->offset + fi->length;
  for (uint32_t i = (uint32_t)(fi->offset / m->piece_length);
       i < m->num_pieces && (uint64_t)i * m->piece_length < end; i++) {
    if (!sh_bf_get(t->have, i))
      continue;
    uint64_t lo = (uint64_t)i * m->piece_length, hi = lo + sh_piece_size(m, i);
    sum += (hi < end ? hi : end) - (lo > fi->offset ? lo : fi->offset);
  }
  return sum;
}

size_t shoal_torrent_files(const shoal_session *s, shoal_id id, struct shoal_file_status *out,
                           size_t cap)
{
  const struct shoal_torrent *t = live(s, id);
  if (!t || !t->m)
    return 0;
  const struct sh_metainfo *m = t->m;
  for (size_t f = 0; f < m->num_files && f < cap; f++) {
    const struct sh_file *fi = &m->files[f];
    out[f] = (struct shoal_file_status){.path = fi->path, .length = fi->length,
                                      .offset = fi->offset, .have_bytes = file_have(t, f),
                                      .priority = t->prio ? t->prio[f] : SHOAL_PRIO_NORMAL,
                                      .padding = !!(fi->attr & SH_FILE_PAD)};
    if (fi->attr & SH_FILE_PAD)
      out[f].priority = SHOAL_PRIO_SKIP;
  }
  return m->num_files;
}

static int copy_out(const void *p, size_t n, void **out, size_t *len)
{
  if (!(*out = malloc(n ? n : 1)))
    return -ENOMEM;
  memcpy(*out, p, n);
  *len = n;
  return 0;
}

int shoal_torrent_file(const shoal_session *s, shoal_id id, void **out, size_t *len)
{
  const struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (!t->raw)
    return -EAGAIN; /* the metadata is not known yet */
  return copy_out(t->raw, t->raw_len, out, len);
}

size_t shoal_torrent_pieces(const shoal_session *s, shoal_id id, uint8_t *bf, size_t cap)
{
  const struct shoal_torrent *t = live(s, id);
  if (!t || !t->m)
    return 0;
  size_t n = SH_BF_BYTES(t->m->num_pieces);
  if (t->have)
    memcpy(bf, t->have, n < cap ? n : cap);
  else
    memset(bf, 0, n < cap ? n : cap);
  return n;
}

int shoal_torrent_reannounce(shoal_session *s, shoal_id id)
{
  struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (!t->ann)
    return -EAGAIN; /* not running: it announces when it starts */
  sh_announcer_more_peers(t->ann);
  return 0;
}

int shoal_torrent_resume_data(const shoal_session *s, shoal_id id, void **out, size_t *len)
{
  const struct shoal_torrent *t = live(s, id);
  if (!t)
    return -ENOENT;
  if (t->resume.len && !t->resume_dirty)
    return copy_out(t->resume.data, t->resume.len, out, len);
  struct sh_buf b = SH_BUF_INIT;
  int rc = sh_torrent_encode_resume(t, &b);
  if (rc == 0)
    rc = copy_out(b.data, b.len, out, len);
  sh_buf_free(&b);
  return rc;
}
