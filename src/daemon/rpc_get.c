/* torrent-get: the fields Transmission's web client, transmission-remote
 * and automation tools ask for, as objects or as a table (`format:
 * table`: the names once, then one array per torrent). Each field is
 * resolved to a number once per request, so 10,000 torrents cost one
 * switch per field each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/b64.h"
#include "daemon/daemon.h"
#include "daemon/jsonw.h"

/* ---- which torrents ---- */

static int push(struct dtor ***v, size_t *n, size_t *cap, struct dtor *t)
{
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    struct dtor **nv = realloc(*v, c * sizeof *nv);
    if (!nv)
      return -ENOMEM;
    *v = nv;
    *cap = c;
  }
  (*v)[(*n)++] = t;
  return 0;
}

static struct dtor *by_key(struct shoal_daemon *d, json_t *k)
{
  if (json_is_integer(k))
    return sh_daemon_by_rid(d, json_integer_value(k));
  const char *s = json_string_value(k);
  if (!s || strlen(s) != 40)
    return NULL;
  uint8_t ih[20];
  for (int i = 0; i < 20; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return NULL;
    ih[i] = (uint8_t)v;
  }
  return sh_daemon_by_hash(d, ih);
}

int sh_rpc_select(struct shoal_daemon *d, json_t *ids, struct dtor ***v, size_t *n)
{
  size_t cap = 0;
  *v = NULL;
  *n = 0;
  int rc = 0;
  const char *s = json_string_value(ids);
  if (!ids) {
    for (size_t i = 0; i < d->ntor && rc == 0; i++)
      rc = push(v, n, &cap, d->tor[i]);
  } else if (s && !strcmp(s, "recently-active")) {
    int64_t since = sh_daemon_now() - 60;
    int all = sh_daemon_loaded_since(d, since);
    for (size_t i = 0; i < d->ntor && rc == 0; i++)
      if (all || d->tor[i]->activity_date >= since || d->tor[i]->changed_date >= since ||
          d->tor[i]->added_date >= since)
        rc = push(v, n, &cap, d->tor[i]);
  } else if (json_is_array(ids)) {
    for (size_t i = 0; i < json_array_size(ids) && rc == 0; i++) {
      struct dtor *t = by_key(d, json_array_get(ids, i));
      if (t)
        rc = push(v, n, &cap, t);
    }
  } else {
    struct dtor *t = by_key(d, ids);
    if (t)
      rc = push(v, n, &cap, t);
  }
  return rc;
}

/* ---- the fields ---- */

#define FIELDS(X)                                                                              \
  X(activityDate) X(addedDate) X(bandwidthPriority) X(comment) X(corruptEver) X(creator)     \
  X(dateCreated) X(desiredAvailable) X(doneDate) X(downloadDir) X(downloadedEver)           \
  X(downloadLimit) X(downloadLimited) X(editDate) X(error) X(errorString) X(eta) X(etaIdle)  \
  X(fileCount) X(files) X(fileStats) X(group) X(hashString) X(haveUnchecked) X(haveValid)    \
  X(honorsSessionLimits) X(id) X(isFinished) X(isPrivate) X(isStalled) X(labels)             \
  X(leftUntilDone) X(magnetLink) X(manualAnnounceTime) X(maxConnectedPeers)                  \
  X(metadataPercentComplete) X(name) X(peer_limit) X(peers) X(peersConnected) X(peersFrom)   \
  X(peersGettingFromUs) X(peersSendingToUs) X(percentComplete) X(percentDone) X(pieces)      \
  X(pieceCount) X(pieceSize) X(priorities) X(primary_mime_type) X(queuePosition)             \
  X(rateDownload) X(rateUpload) X(recheckProgress) X(secondsDownloading) X(secondsSeeding)   \
  X(seedIdleLimit) X(seedIdleMode) X(seedRatioLimit) X(seedRatioMode) X(sequentialDownload)  \
  X(sizeWhenDone) X(startDate) X(status) X(torrentFile) X(totalSize) X(trackerList)          \
  X(trackers) X(trackerStats) X(uploadedEver) X(uploadLimit) X(uploadLimited) X(uploadRatio) \
  X(wanted) X(webseeds) X(webseedsSendingToUs)

enum field {
#define X(n) F_##n,
  FIELDS(X)
#undef X
  F_COUNT
};

static const char *const field_names[] = {
#define X(n) #n,
    FIELDS(X)
#undef X
};

static int field_of(const char *name)
{
  for (int i = 0; i < F_COUNT; i++) {
    const char *f = field_names[i];
    /* C names cannot hold '-': peer-limit, primary-mime-type */
    if (!strcmp(f, name) || (!strcmp(f, "peer_limit") && !strcmp(name, "peer-limit")) ||
        (!strcmp(f, "primary_mime_type") && !strcmp(name, "primary-mime-type")))
      return i;
  }
  return -1;
}

/* What one torrent's fields are built from: the status, and lists fetched
 * only when a field needs them. */
struct ctx {
  struct shoal_daemon *d;
  struct dtor *t;
  struct shoal_status st;
  struct shoal_file_status *files;
  size_t nfiles;
  int have_files;
};

static void need_files(struct ctx *c)
{
  if (c->have_files)
    return;
  c->have_files = 1;
  size_t n = shoal_torrent_files(c->d->sess, c->t->eid, NULL, 0);
  c->files = n ? malloc(n * sizeof *c->files) : NULL;
  c->nfiles = c->files ? shoal_torrent_files(c->d->sess, c->t->eid, c->files, n) : 0;
  if (c->nfiles > n)
    c->nfiles = n;
}

static json_t *files_json(struct ctx *c, int stats)
{
  need_files(c);
  json_t *a = json_array();
  for (size_t i = 0; i < c->nfiles; i++) {
    const struct shoal_file_status *f = &c->files[i];
    json_t *o = stats ? json_pack("{s:I,s:b,s:i}", "bytesCompleted", (json_int_t)f->have_bytes,
                                  "wanted", f->priority != SHOAL_PRIO_SKIP, "priority",
                                  f->priority >= SHOAL_PRIO_HIGH ? 1
                                  : f->priority == SHOAL_PRIO_LOW ? -1 : 0)
                      : json_pack("{s:I,s:I,s:s}", "bytesCompleted", (json_int_t)f->have_bytes,
                                  "length", (json_int_t)f->length, "name", f->path);
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *per_file(struct ctx *c, int wanted)
{
  need_files(c);
  json_t *a = json_array();
  for (size_t i = 0; i < c->nfiles; i++) {
    int p = c->files[i].priority;
    json_array_append_new(a, wanted ? json_integer(p != SHOAL_PRIO_SKIP)
                                    : json_integer(p >= SHOAL_PRIO_HIGH ? 1
                                                   : p == SHOAL_PRIO_LOW ? -1 : 0));
  }
  return a;
}

static json_t *peers_json(struct ctx *c, int *sending, int *getting)
{
  size_t n = shoal_torrent_peers(c->d->sess, c->t->eid, NULL, 0);
  struct shoal_peer_info *p = n ? malloc(n * sizeof *p) : NULL;
  n = p ? shoal_torrent_peers(c->d->sess, c->t->eid, p, n) : 0;
  json_t *a = json_array();
  *sending = *getting = 0;
  for (size_t i = 0; i < n; i++) {
    char ip[64];
    snprintf(ip, sizeof ip, "%s", p[i].addr);
    char *colon = strrchr(ip, ':');
    int port = colon ? atoi(colon + 1) : 0;
    if (colon)
      *colon = 0;
    if (ip[0] == '[') {
      memmove(ip, ip + 1, strlen(ip));
      char *e = strchr(ip, ']');
      if (e)
        *e = 0;
    }
    char flags[16];
    int k = 0;
    if (p[i].down_rate) flags[k++] = 'D';
    else if (p[i].am_interested) flags[k++] = 'd';
    if (p[i].up_rate) flags[k++] = 'U';
    else if (p[i].peer_interested) flags[k++] = 'u';
    if (!p[i].peer_choking && !p[i].am_interested) flags[k++] = 'K';
    if (!p[i].am_choking && !p[i].peer_interested) flags[k++] = '?';
    if (p[i].optimistic) flags[k++] = 'O';
    if (p[i].incoming) flags[k++] = 'I';
    flags[k] = 0;
    *sending += p[i].down_rate > 0;
    *getting += p[i].up_rate > 0;
    json_array_append_new(
        a, json_pack("{s:s,s:s,s:b,s:b,s:s,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:i,s:f,s:I,s:I}",
                     "address", ip, "clientName", p[i].client, "clientIsChoked",
                     p[i].am_choking, "clientIsInterested", p[i].am_interested, "flagStr",
                     flags, "isDownloadingFrom", p[i].down_rate > 0, "isEncrypted", 0,
                     "isIncoming", p[i].incoming, "isUploadingTo", p[i].up_rate > 0, "isUTP",
                     0, "peerIsChoked", p[i].peer_choking, "peerIsInterested",
                     p[i].peer_interested, "port", port, "progress",
                     c->st.num_pieces ? (double)p[i].pieces / c->st.num_pieces : 0.0,
                     "rateToClient", (json_int_t)p[i].down_rate, "rateToPeer",
                     (json_int_t)p[i].up_rate));
  }
  free(p);
  return a;
}

static json_t *trackers_json(struct ctx *c, int stats, int list)
{
  struct shoal_tracker_info *tr = NULL;
  size_t n = 0;
  if (c->t->dormant) {
    n = sh_daemon_trackers_parse(c->t->trk, &tr);
  } else {
    n = shoal_torrent_trackers(c->d->sess, c->t->eid, NULL, 0);
    tr = n ? malloc(n * sizeof *tr) : NULL;
    n = tr ? shoal_torrent_trackers(c->d->sess, c->t->eid, tr, n) : 0;
  }
  if (list) {
    /* trackerList: one URL a line, a blank line between tiers */
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
      cap += strlen(tr[i].url) + 2;
    char *s = calloc(1, cap);
    size_t k = 0;
    for (size_t i = 0; s && i < n; i++) {
      if (i && tr[i].tier != tr[i - 1].tier)
        s[k++] = '\n';
      k += (size_t)snprintf(s + k, cap - k, "%s\n", tr[i].url);
    }
    json_t *j = json_string(s ? s : "");
    free(s);
    free(tr);
    return j;
  }
  json_t *a = json_array();
  int64_t now = sh_daemon_now();
  for (size_t i = 0; i < n; i++) {
    char host[512] = "";
    const char *h = strstr(tr[i].url, "://");
    snprintf(host, sizeof host, "%s", h ? h + 3 : tr[i].url);
    host[strcspn(host, "/")] = 0;
    json_t *o = json_pack("{s:s,s:I,s:i,s:s}", "announce", tr[i].url, "id", (json_int_t)i,
                          "tier", tr[i].tier, "scrape", "");
    if (stats) {
      json_object_set_new(o, "host", json_string(host));
      json_object_set_new(o, "sitename", json_string(host));
      json_object_set_new(o, "seederCount", json_integer(tr[i].seeders));
      json_object_set_new(o, "leecherCount", json_integer(tr[i].leechers));
      json_object_set_new(o, "downloadCount", json_integer(-1));
      json_object_set_new(o, "lastAnnounceSucceeded", json_boolean(!tr[i].last_error[0]));
      json_object_set_new(o, "lastAnnounceResult",
                          json_string(tr[i].last_error[0] ? tr[i].last_error : "Success"));
      int announced = c->t->last_announce && (tr[i].seeders >= 0 || tr[i].last_error[0]);
      json_object_set_new(o, "hasAnnounced", json_boolean(announced));
      json_object_set_new(o, "nextAnnounceTime",
                          json_integer(tr[i].next_announce_s ? now + tr[i].next_announce_s : 0));
      json_object_set_new(o, "announceState", json_integer(tr[i].next_announce_s ? 1 : 0));
      json_object_set_new(o, "isBackup", json_false());
      json_object_set_new(o, "lastScrapeSucceeded", json_false());
      json_object_set_new(o, "lastAnnounceTime", json_integer(announced ? c->t->last_announce : 0));
      json_object_set_new(o, "lastAnnounceStartTime", json_integer(announced ? c->t->last_announce : 0));
      json_object_set_new(o, "lastScrapeStartTime", json_integer(0));
      json_object_set_new(o, "lastAnnouncePeerCount",
                          json_integer(tr[i].seeders >= 0 ? tr[i].seeders + tr[i].leechers : 0));
      json_object_set_new(o, "lastAnnounceTimedOut", json_false());
      json_object_set_new(o, "scrapeState", json_integer(0));
      json_object_set_new(o, "lastScrapeResult", json_string(""));
      json_object_set_new(o, "lastScrapeTime", json_integer(0));
      json_object_set_new(o, "lastScrapeTimedOut", json_false());
      json_object_set_new(o, "nextScrapeTime", json_integer(0));
      json_object_set_new(o, "hasScraped", json_false());
    }
    json_array_append_new(a, o);
  }
  free(tr);
  return a;
}

static json_t *base64_json(const uint8_t *p, size_t n)
{
  char *s = sh_b64_encode(p, n);
  json_t *j = json_string(s ? s : "");
  free(s);
  return j;
}

static json_t *pieces_json(struct ctx *c)
{
  size_t n = (c->st.num_pieces + 7) / 8;
  uint8_t *bf = calloc(1, n ? n : 1);
  if (bf)
    shoal_torrent_pieces(c->d->sess, c->t->eid, bf, n);
  json_t *j = base64_json(bf ? bf : (const uint8_t *)"", bf ? n : 0);
  free(bf);
  return j;
}

static json_t *labels_json(const struct dtor *t)
{
  json_t *a = json_array();
  for (int i = 0; i < t->nlabels; i++)
    json_array_append_new(a, json_string(t->labels[i]));
  return a;
}

static double ratio(const struct dtor *t, const struct shoal_status *st)
{
  uint64_t up = t->up_base + st->uploaded, down = t->down_base + st->downloaded;
  uint64_t base = down ? down : st->have_bytes;
  return base ? (double)up / (double)base : up ? -2 : -1; /* Transmission: -1 n/a, -2 inf */
}

static json_t *eta(const struct shoal_status *st)
{
  uint64_t left = st->wanted_bytes > st->have_bytes ? st->wanted_bytes - st->have_bytes : 0;
  if (!left)
    return json_integer(-1); /* TR_ETA_NOT_AVAIL */
  if (!st->down_rate)
    return json_integer(-2); /* TR_ETA_UNKNOWN */
  return json_integer((json_int_t)(left / st->down_rate));
}

static json_t *field(struct ctx *c, enum field f)
{
  struct shoal_daemon *d = c->d;
  struct dtor *t = c->t;
  const struct shoal_status *st = &c->st;
  uint64_t left = st->wanted_bytes > st->have_bytes ? st->wanted_bytes - st->have_bytes : 0;
  int s, g;
  switch (f) {
  case F_activityDate: return json_integer(t->activity_date);
  case F_addedDate: return json_integer(t->added_date);
  case F_bandwidthPriority: return json_integer(t->bandwidth_priority);
  case F_comment: return json_string(t->comment ? t->comment : "");
  case F_corruptEver: return json_integer((json_int_t)t->corrupt);
  case F_creator: return json_string(t->creator ? t->creator : "");
  case F_dateCreated: return json_integer(t->date_created);
  case F_desiredAvailable: return json_integer((json_int_t)left);
  case F_doneDate: return json_integer(t->done_date);
  case F_downloadDir: return json_string(t->dir);
  case F_downloadedEver: return json_integer((json_int_t)(t->down_base + st->downloaded));
  case F_downloadLimit: return json_integer(t->down_limit);
  case F_downloadLimited: return json_boolean(t->down_limited);
  case F_editDate: return json_integer(t->changed_date);
  case F_error: return json_integer(t->error || st->state == SHOAL_ERROR ? 3 : st->tracker_msg[0] ? 2 : 0);
  case F_errorString:
    return json_string(t->error ? t->error : st->state == SHOAL_ERROR ? st->error : st->tracker_msg);
  case F_eta: return eta(st);
  case F_etaIdle: return json_integer(-1);
  case F_fileCount: need_files(c); return json_integer((json_int_t)c->nfiles);
  case F_files: return files_json(c, 0);
  case F_fileStats: return files_json(c, 1);
  case F_group: return json_string("");
  case F_hashString: return json_string(t->hash_hex);
  case F_haveUnchecked: return json_integer(0);
  case F_haveValid: return json_integer((json_int_t)st->have_bytes);
  case F_honorsSessionLimits: return json_boolean(t->honors_session);
  case F_id: return json_integer(t->rid);
  case F_isFinished: return json_boolean(t->limit_stopped);
  case F_isPrivate: return json_boolean(t->is_private);
  case F_isStalled:
    return json_boolean(t->stalled_since &&
                        sh_daemon_now() - t->stalled_since >= d->cfg.queue_stalled_minutes * 60);
  case F_labels: return labels_json(t);
  case F_leftUntilDone: return json_integer((json_int_t)left);
  case F_magnetLink: {
    char m[128];
    snprintf(m, sizeof m, "magnet:?xt=urn:btih:%s", t->hash_hex);
    return json_string(t->magnet ? t->magnet : m);
  }
  case F_manualAnnounceTime: return json_integer(0);
  case F_maxConnectedPeers: case F_peer_limit: return json_integer(t->peer_limit);
  case F_metadataPercentComplete: return json_real(st->has_metadata ? 1.0 : 0.0);
  case F_name: return json_string(st->name);
  case F_peers: return peers_json(c, &s, &g);
  case F_peersConnected: return json_integer(st->peers);
  case F_peersFrom:
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "fromCache", 0, "fromDht", 0,
                     "fromIncoming", 0, "fromLpd", 0, "fromLtep", 0, "fromPex", 0,
                     "fromTracker", st->peers);
  case F_peersGettingFromUs: json_decref(peers_json(c, &s, &g)); return json_integer(g);
  case F_peersSendingToUs: json_decref(peers_json(c, &s, &g)); return json_integer(s);
  case F_percentComplete:
    return json_real(st->total_bytes ? (double)st->have_bytes / (double)st->total_bytes : 0);
  case F_percentDone:
    return json_real(st->wanted_bytes ? (double)st->have_bytes / (double)st->wanted_bytes
                                      : st->has_metadata ? 1.0 : 0.0);
  case F_pieces: return pieces_json(c);
  case F_pieceCount: return json_integer(st->num_pieces);
  case F_pieceSize: return json_integer(t->piece_size);
  case F_priorities: return per_file(c, 0);
  case F_primary_mime_type: return json_string("application/octet-stream");
  case F_queuePosition: return json_integer(t->queue_pos);
  case F_rateDownload: return json_integer((json_int_t)st->down_rate);
  case F_rateUpload: return json_integer((json_int_t)st->up_rate);
  case F_recheckProgress:
    return json_real(st->state == SHOAL_CHECKING && st->num_pieces
                         ? (double)st->check_done / st->num_pieces : 0);
  case F_secondsDownloading: case F_secondsSeeding: return json_integer(0);
  case F_seedIdleLimit: return json_integer(t->idle_limit);
  case F_seedIdleMode: return json_integer(t->idle_mode);
  case F_seedRatioLimit: return json_real(t->ratio_limit);
  case F_seedRatioMode: return json_integer(t->ratio_mode);
  case F_sequentialDownload: return json_false();
  case F_sizeWhenDone: return json_integer((json_int_t)st->wanted_bytes);
  case F_startDate: return json_integer(t->start_date);
  case F_status: return json_integer(sh_daemon_status(d, t, st));
  case F_torrentFile: return json_string("");
  case F_totalSize: return json_integer((json_int_t)st->total_bytes);
  case F_trackerList: return trackers_json(c, 0, 1);
  case F_trackers: return trackers_json(c, 0, 0);
  case F_trackerStats: return trackers_json(c, 1, 0);
  case F_uploadedEver: return json_integer((json_int_t)(t->up_base + st->uploaded));
  case F_uploadLimit: return json_integer(t->up_limit);
  case F_uploadLimited: return json_boolean(t->up_limited);
  case F_uploadRatio: return json_real(ratio(t, st));
  case F_wanted: return per_file(c, 1);
  case F_webseeds: return json_array();
  case F_webseedsSendingToUs: return json_integer(0);
  case F_COUNT: break;
  }
  return json_null();
}

/* Scalars written straight into the reply (see jsonw.h); 0 for a field
 * that is built as a jansson value instead. */
static int emit_fast(struct ctx *c, enum field f, struct sh_buf *b)
{
  const struct dtor *t = c->t;
  const struct shoal_status *st = &c->st;
  uint64_t left = st->wanted_bytes > st->have_bytes ? st->wanted_bytes - st->have_bytes : 0;
  switch (f) {
  case F_id: sh_jw_int(b, t->rid); return 1;
  case F_addedDate: sh_jw_int(b, t->added_date); return 1;
  case F_activityDate: sh_jw_int(b, t->activity_date); return 1;
  case F_doneDate: sh_jw_int(b, t->done_date); return 1;
  case F_name: sh_jw_str(b, st->name); return 1;
  case F_hashString: sh_jw_str(b, t->hash_hex); return 1;
  case F_downloadDir: sh_jw_str(b, t->dir); return 1;
  case F_totalSize: sh_jw_int(b, (int64_t)st->total_bytes); return 1;
  case F_sizeWhenDone: sh_jw_int(b, (int64_t)st->wanted_bytes); return 1;
  case F_leftUntilDone: case F_desiredAvailable: sh_jw_int(b, (int64_t)left); return 1;
  case F_haveValid: sh_jw_int(b, (int64_t)st->have_bytes); return 1;
  case F_rateDownload: sh_jw_int(b, (int64_t)st->down_rate); return 1;
  case F_rateUpload: sh_jw_int(b, (int64_t)st->up_rate); return 1;
  case F_peersConnected: sh_jw_int(b, st->peers); return 1;
  case F_queuePosition: sh_jw_int(b, t->queue_pos); return 1;
  case F_status: sh_jw_int(b, sh_daemon_status(c->d, t, st)); return 1;
  case F_uploadedEver: sh_jw_int(b, (int64_t)(t->up_base + st->uploaded)); return 1;
  case F_downloadedEver: sh_jw_int(b, (int64_t)(t->down_base + st->downloaded)); return 1;
  case F_seedRatioMode: sh_jw_int(b, t->ratio_mode); return 1;
  case F_seedRatioLimit: sh_jw_real(b, t->ratio_limit); return 1;
  case F_uploadRatio: sh_jw_real(b, ratio(t, st)); return 1;
  case F_isFinished: sh_jw_bool(b, t->limit_stopped); return 1;
  case F_webseedsSendingToUs: sh_jw_int(b, 0); return 1;
  case F_metadataPercentComplete: sh_jw_int(b, st->has_metadata); return 1;
  case F_percentDone:
    sh_jw_real(b, st->wanted_bytes ? (double)st->have_bytes / (double)st->wanted_bytes
                                   : st->has_metadata);
    return 1;
  case F_error:
    sh_jw_int(b, t->error || st->state == SHOAL_ERROR ? 3 : st->tracker_msg[0] ? 2 : 0);
    return 1;
  case F_errorString:
    sh_jw_str(b, t->error ? t->error : st->state == SHOAL_ERROR ? st->error : st->tracker_msg);
    return 1;
  case F_eta:
    sh_jw_int(b, !left ? -1 : !st->down_rate ? -2 : (int64_t)(left / st->down_rate));
    return 1;
  case F_isStalled:
    sh_jw_bool(b, t->stalled_since && sh_daemon_now() - t->stalled_since >=
                                          c->d->cfg.queue_stalled_minutes * 60);
    return 1;
  case F_recheckProgress:
    sh_jw_real(b, st->state == SHOAL_CHECKING && st->num_pieces
                      ? (double)st->check_done / st->num_pieces : 0);
    return 1;
  case F_trackers: case F_trackerStats:
    if (t->dormant ? t->trk != NULL : shoal_torrent_trackers(c->d->sess, t->eid, NULL, 0) > 0)
      return 0;
    sh_buf_puts(b, "[]");
    return 1;
  case F_peersGettingFromUs: case F_peersSendingToUs:
    if (st->peers)
      return 0; /* counted from the peer list */
    sh_jw_int(b, 0);
    return 1;
  default: return 0;
  }
}

/* What goes before each field's value, written once per request: a
 * comma but for the first, and in an object the quoted name and a colon
 * (field names are plain ASCII, the longest 25 bytes). */
struct key {
  char text[32];
  size_t len;
};

static void make_key(struct key *key, const char *name, int first, int table)
{
  key->len = (size_t)snprintf(key->text, sizeof key->text, "%s%s%s%s", first ? "" : ",",
                              table ? "" : "\"", table ? "" : name, table ? "" : "\":");
}

/* One torrent's fields, as an object or a table row. */
static void emit_torrent(struct ctx *c, const int *fi, const struct key *key, size_t k, int table,
                         struct sh_buf *b)
{
  sh_jw_raw(b, table ? "[" : "{", 1);
  for (size_t j = 0; j < k; j++) {
    sh_jw_raw(b, key[j].text, key[j].len);
    if (emit_fast(c, (enum field)fi[j], b))
      continue;
    json_t *v = field(c, (enum field)fi[j]);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    sh_buf_puts(b, text ? text : "null");
    free(text);
    json_decref(v);
  }
  sh_jw_raw(b, table ? "]" : "}", 1);
}

const char *sh_rpc_torrent_get(struct shoal_daemon *d, json_t *args, json_t *out)
{
  json_t *fields = json_object_get(args, "fields");
  if (!json_is_array(fields))
    return "no fields specified";
  size_t nf = json_array_size(fields);
  int *fi = malloc((nf ? nf : 1) * sizeof *fi);
  const char **fn = malloc((nf ? nf : 1) * sizeof *fn);
  struct key *key = malloc((nf ? nf : 1) * sizeof *key);
  struct dtor **sel = NULL;
  size_t nsel = 0;
  if (!fi || !fn || !key || sh_rpc_select(d, json_object_get(args, "ids"), &sel, &nsel) < 0) {
    free(fi);
    free(fn);
    free(key);
    return "out of memory";
  }
  size_t k = 0;
  for (size_t i = 0; i < nf; i++) {
    const char *name = json_string_value(json_array_get(fields, i));
    int f = name ? field_of(name) : -1;
    if (f >= 0) {
      fi[k] = f;
      fn[k++] = name;
    }
  }
  const char *fmt = json_string_value(json_object_get(args, "format"));
  int table = fmt && !strcmp(fmt, "table");
  for (size_t j = 0; j < k; j++)
    make_key(&key[j], fn[j], j == 0, table);
  /* The arguments object is written as text (d->raw_args), not built,
   * after the reply's start (shoal_daemon_rpc writes the rest behind it
   * and hands the buffer on as it is). Room for all of it at once: about
   * 20 bytes a field (the web client's 28 fields are 530 bytes a torrent
   * here), so a 5 MB reply is not built by doubling and copying. */
  struct sh_buf *b = &d->raw_args;
  sh_buf_reset(b);
  sh_buf_reserve(b, 64 + nsel * (k * 20 + 4));
  sh_buf_puts(b, SH_RAW_PREFIX "{\"torrents\":[");
  if (table) {
    sh_buf_putc(b, '[');
    for (size_t i = 0; i < k; i++) {
      if (i)
        sh_buf_putc(b, ',');
      sh_jw_str(b, fn[i]);
    }
    sh_buf_putc(b, ']');
  }
  int first = !table;
  /* a dormant torrent answers from its record, but for what only the
   * engine knows: its files and pieces (it sleeps again later) */
  int engine = 0;
  for (size_t j = 0; j < k; j++)
    engine |= fi[j] == F_files || fi[j] == F_fileStats || fi[j] == F_fileCount ||
              fi[j] == F_priorities || fi[j] == F_wanted || fi[j] == F_pieces;
  for (size_t i = 0; i < nsel; i++) {
    struct ctx c = {.d = d, .t = sel[i]};
    if (engine)
      sh_daemon_wake(d, sel[i], "a request for its files or pieces");
    if (sh_daemon_status_of(d, sel[i], &c.st) < 0)
      continue;
    if (!first)
      sh_buf_putc(b, ',');
    first = 0;
    emit_torrent(&c, fi, key, k, table, b);
    free(c.files);
  }
  sh_buf_putc(b, ']');
  json_t *ids = json_object_get(args, "ids");
  if (json_is_string(ids) && !strcmp(json_string_value(ids), "recently-active")) {
    sh_buf_puts(b, ",\"removed\":[");
    int64_t since = sh_daemon_now() - 60;
    int n = 0;
    for (size_t i = 0; i < d->nremoved; i++)
      if (d->removed[i].at >= since) {
        if (n++)
          sh_buf_putc(b, ',');
        sh_jw_int(b, d->removed[i].rid);
      }
    sh_buf_putc(b, ']');
  }
  sh_buf_putc(b, '}');
  (void)out;
  free(sel);
  free(fi);
  free(fn);
  free(key);
  return NULL;
}
