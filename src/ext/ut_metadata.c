/* ut_metadata (BEP 9): fetching a magnet link's metadata and serving ours.
 * See ut_metadata.h. */
#include "ext/ut_metadata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bencode.h"
#include "base/error.h"
#include "base/log.h"
#include "base/sha1.h"
#include "engine/ext.h"
#include "engine/torrent.h"
#include "meta/magnet.h"
#include "meta/metainfo.h"

/* ---- the codec ---- */

int sh_utm_parse(const uint8_t *p, size_t n, struct sh_utm_msg *m, const char **why)
{
  memset(m, 0, sizeof *m);
  m->total_size = -1;
  struct be_doc d;
  /* a flat dictionary of three integers: depth 2 and 16 values are plenty */
  struct be_opts o = {.max_depth = 2, .max_tokens = 16, .strict = 0, .allow_trailing = 1};
  int rc = be_parse(&d, p, n, &o);
  if (rc < 0 || d.tok[0].type != BE_DICT) {
    be_free(&d);
    *why = "ut_metadata message is not a bencoded dictionary";
    return SH_EPROTO;
  }
  int64_t type = -1, piece = 0, size = 0;
  int ti = be_dict_get_type(&d, 0, "msg_type", BE_INT);
  int pi = be_dict_get_type(&d, 0, "piece", BE_INT);
  int si = be_dict_get_type(&d, 0, "total_size", BE_INT);
  *why = NULL;
  if (ti < 0 || be_int(&d, ti, &type) < 0)
    *why = "ut_metadata message without msg_type";
  else if (type < SH_UTM_REQUEST || type > SH_UTM_REJECT)
    ; /* a type of a later revision: the caller ignores it (BEP 9) */
  else if (pi < 0 || be_int(&d, pi, &piece) < 0 || piece < 0 ||
           piece >= SH_UTM_MAX_SIZE / SH_UTM_PIECE)
    *why = "ut_metadata message without a valid piece";
  else if (type == SH_UTM_DATA && (si < 0 || be_int(&d, si, &size) < 0 || size <= 0))
    *why = "ut_metadata data without total_size";
  if (*why) {
    be_free(&d);
    return SH_EPROTO;
  }
  m->type = type;
  m->piece = (uint32_t)piece;
  if (type == SH_UTM_DATA) {
    m->total_size = size;
    m->data = p + d.used;
    m->len = n - d.used;
  }
  be_free(&d);
  return 0;
}

void sh_utm_put(struct sh_buf *b, enum sh_utm_type type, uint32_t piece, int64_t total_size)
{
  be_put_dict(b);
  be_put_cstr(b, "msg_type");
  be_put_int(b, type);
  be_put_cstr(b, "piece");
  be_put_int(b, piece);
  if (type == SH_UTM_DATA && total_size >= 0) {
    be_put_cstr(b, "total_size");
    be_put_int(b, total_size);
  }
  be_put_end(b);
}

/* ---- state ---- */

struct um {
  int id;                  /* our local id for ut_metadata */
};

struct um_peer {
  int64_t size;            /* its metadata_size; -1 when it gave none */
  uint64_t retry_ms;       /* not asked before this loop time */
  uint32_t served;         /* its requests we answered with data */
  uint32_t unasked;        /* data it sent that we did not ask for */
  uint8_t asked, refused;  /* counted among the peers asked; its size was over the limit */
};

/* A torrent's metadata being fetched (only while it has none). */
struct um_fetch {
  struct sh_peer *src;     /* the peer asked now, or NULL */
  uint32_t size, npieces;  /* size 0: unknown, piece 0 tells */
  uint8_t *buf;            /* size bytes, from the first data on */
  uint8_t *state;          /* per piece: 0 to ask, 1 asked, 2 received */
  uint32_t next, got, inflight;
  uint32_t have;           /* bytes received */
  uint64_t last_ms;        /* when the source last answered (or was asked) */
  uint32_t asked;          /* distinct peers asked so far */
};

enum { P_TODO = 0, P_ASKED, P_GOT };

static struct um_peer *peer_of(const struct um *u, struct sh_peer *p)
{
  return *sh_ext_peer_slot(p, u->id);
}

static struct um_fetch *fetch_of(const struct um *u, struct shoal_torrent *t)
{
  return *sh_ext_torrent_slot(t, u->id);
}

static uint32_t piece_len(uint32_t size, uint32_t piece)
{
  uint32_t off = piece * SH_UTM_PIECE;
  return size - off < SH_UTM_PIECE ? size - off : SH_UTM_PIECE;
}

static void send_msg(const struct um *u, struct sh_peer *p, enum sh_utm_type type, uint32_t piece,
                     int64_t total, const uint8_t *data, size_t len)
{
  struct sh_buf b = SH_BUF_INIT;
  sh_utm_put(&b, type, piece, total);
  sh_buf_append(&b, data, len);
  if (!b.oom)
    sh_ext_send(p, u->id, b.data, b.len);
  sh_buf_free(&b);
}

/* Forgets what the source sent: the next source starts afresh. */
static void fetch_reset(struct um_fetch *f)
{
  free(f->buf);
  free(f->state);
  f->buf = f->state = NULL;
  f->src = NULL;
  f->size = f->npieces = f->next = f->got = f->inflight = f->have = 0;
}

static void fetch_free(struct um *u, struct shoal_torrent *t)
{
  void **slot = sh_ext_torrent_slot(t, u->id);
  struct um_fetch *f = *slot;
  if (!f)
    return;
  fetch_reset(f);
  free(f);
  *slot = NULL;
}

/* ---- fetching ---- */

static int fetch_size(struct um_fetch *f, uint32_t size)
{
  f->size = size;
  f->npieces = (size + SH_UTM_PIECE - 1) / SH_UTM_PIECE;
  free(f->state);
  return (f->state = calloc(f->npieces, 1)) ? 0 : -ENOMEM;
}

static void ask_more(struct um *u, struct um_fetch *f)
{
  /* an unknown size: piece 0 alone, whose total_size tells the rest */
  uint32_t limit = f->size ? f->npieces : 1;
  while (f->inflight < SH_UTM_WINDOW && f->next < limit) {
    if (f->state && f->state[f->next] != P_TODO) {
      f->next++;
      continue;
    }
    if (f->state)
      f->state[f->next] = P_ASKED;
    send_msg(u, f->src, SH_UTM_REQUEST, f->next++, -1, NULL, 0);
    f->inflight++;
  }
}

static int candidate(const struct um *u, struct sh_peer *p, uint64_t now, int size_known)
{
  const struct um_peer *q = peer_of(u, p);
  if (!q || p->closing || !sh_ext_peer_supports(p, u->id) || q->retry_ms > now || q->refused)
    return 0;
  return size_known ? q->size > 0 : q->size < 0;
}

/* Picks the next peer to ask: one that gave its metadata_size first, then
 * one that gave none (it may still have the metadata). */
static void next_source(struct um *u, struct shoal_torrent *t, uint64_t now)
{
  struct um_fetch *f = fetch_of(u, t);
  if (!f || f->src || t->m || t->state != SHOAL_METADATA)
    return;
  struct sh_peer *best = NULL;
  for (int known = 1; known >= 0 && !best; known--)
    for (size_t i = 0; i < t->npeers && !best; i++)
      if (candidate(u, t->peers[i], now, known))
        best = t->peers[i];
  if (!best)
    return;
  struct um_peer *q = peer_of(u, best);
  if (q->size > 0 && fetch_size(f, (uint32_t)q->size) < 0)
    return;
  f->src = best;
  f->last_ms = now;
  if (!q->asked) {
    q->asked = 1;
    f->asked++;
  }
  sh_debug("%s: asking peer %s for the metadata (%lld bytes)", t->name, best->c->name,
           (long long)q->size);
  ask_more(u, f);
}

/* The source will not do: rejected, silent, or gone. */
static void source_failed(struct um *u, struct shoal_torrent *t, const char *why, uint64_t now)
{
  struct um_fetch *f = fetch_of(u, t);
  struct sh_peer *p = f->src;
  struct um_peer *q = peer_of(u, p);
  sh_info("%s: peer %s: no metadata from it (%s); asking another peer", t->name, p->c->name, why);
  if (q)
    q->retry_ms = now + SH_UTM_RETRY_MS;
  fetch_reset(f);
  next_source(u, t, now);
}

/* The whole metadata is in: the .torrent, then the torrent starts. */
static int metadata_done(struct um *u, struct shoal_torrent *t, struct sh_peer *p,
                         const char **why)
{
  struct um_fetch *f = fetch_of(u, t);
  uint8_t h[20];
  sh_sha1(f->buf, f->size, h);
  if (memcmp(h, t->ih, 20)) {
    /* it alone sent every piece: it is to blame, and never asked again */
    sh_warn("%s: peer %s sent metadata that does not match the info-hash: dropped", t->name,
            p->c->name);
    struct sh_addr who = sh_peer_identity(p);
    sh_peers_remove(&t->plist, &p->c->addr);
    if (sh_bans_strike(&t->sess->bans, &who, 1)) {
      char name[64];
      sh_addr_str(&who, name, sizeof name);
      sh_event(t->sess, SHOAL_EVENT_PEER_BANNED, t->id, 0, "%s", name);
      t->banned_peers++;
    }
    peer_of(u, p)->refused = 1;
    fetch_reset(f);
    next_source(u, t, sh_now(p->sess));
    *why = "sent metadata that does not match the info-hash";
    return SH_EHASH;
  }
  struct sh_buf b = SH_BUF_INIT;
  sh_magnet_torrent(&b, f->buf, f->size, (const char *const *)t->mtrackers, t->nmtrackers,
                    (const char *const *)t->mweb, t->nmweb);
  uint32_t asked = f->asked;
  fetch_free(u, t);
  struct sh_metainfo *m = NULL;
  char err[256] = "";
  int rc = b.oom ? -ENOMEM : sh_metainfo_parse(b.data, b.len, &m, err, sizeof err);
  if (rc == 0 && (rc = sh_torrent_set_metadata(t, m, b.data, b.len)) < 0) {
    sh_metainfo_free(m);
    snprintf(err, sizeof err, "%s", sh_strerror(rc));
  }
  sh_buf_free(&b);
  if (rc < 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "the metadata is not a torrent we can use: %s",
             err[0] ? err : sh_strerror(rc));
    sh_torrent_fail(t, rc, msg);
    return 0;
  }
  sh_info("%s: metadata received from %s (%zu bytes; %u peers asked)", t->name, p->c->name,
          t->m->info_len, asked);
  sh_torrent_start(t);
  return 0;
}

static int on_data(struct um *u, struct sh_peer *p, const struct sh_utm_msg *m, const char **why)
{
  struct shoal_torrent *t = p->tor;
  struct um_fetch *f = fetch_of(u, t);
  struct um_peer *q = peer_of(u, p);
  if (!q)
    return 0; /* it never said it speaks ut_metadata: nothing was asked */
  int asked = f && f->src == p && (f->size ? m->piece < f->npieces && f->state[m->piece] == P_ASKED
                                           : m->piece == 0);
  if (!asked) {
    /* a late answer to a source given up, or a duplicate: harmless in
     * small numbers */
    sh_debug("peer %s: ignoring metadata piece %u it was not asked for", p->c->name, m->piece);
    if (++q->unasked > SH_UTM_MAX_UNASKED) {
      *why = "sent more than 16 metadata pieces we did not ask for";
      return SH_EPROTO;
    }
    return 0;
  }
  if (!f->size) {
    if (m->total_size > SH_UTM_MAX_SIZE) {
      q->refused = 1;
      source_failed(u, t, "its metadata is over the 16 MiB limit", sh_now(p->sess));
      return 0;
    }
    if (fetch_size(f, (uint32_t)m->total_size) < 0) {
      *why = "out of memory";
      return -ENOMEM;
    }
    f->state[0] = P_ASKED;
  }
  if (m->total_size != f->size) {
    *why = "its metadata pieces disagree about the metadata's size";
    return SH_EPROTO;
  }
  if (m->len != piece_len(f->size, m->piece)) {
    *why = "a metadata piece of the wrong length";
    return SH_EPROTO;
  }
  if (!f->buf && !(f->buf = malloc(f->size))) {
    *why = "out of memory";
    return -ENOMEM;
  }
  memcpy(f->buf + (size_t)m->piece * SH_UTM_PIECE, m->data, m->len);
  f->state[m->piece] = P_GOT;
  f->got++;
  f->have += (uint32_t)m->len;
  f->inflight--;
  f->last_ms = sh_now(p->sess);
  if (f->got == f->npieces)
    return metadata_done(u, t, p, why);
  ask_more(u, f);
  return 0;
}

/* ---- serving ---- */

static void serve(struct um *u, struct sh_peer *p, uint32_t piece)
{
  const struct sh_metainfo *m = p->tor->m;
  struct um_peer *q = peer_of(u, p);
  if (!m || !q) {
    send_msg(u, p, SH_UTM_REJECT, piece, -1, NULL, 0);
    return;
  }
  uint32_t size = (uint32_t)m->info_len, n = (size + SH_UTM_PIECE - 1) / SH_UTM_PIECE;
  if (piece < n && q->served >= 4 * n + 16 && q->served++ == 4 * n + 16)
    sh_info("peer %s: asked for the metadata's %u pieces %u times: rejected from now on",
            p->c->name, n, 4 * n + 16);
  if (piece >= n || q->served > 4 * n + 16) {
    send_msg(u, p, SH_UTM_REJECT, piece, -1, NULL, 0);
    return;
  }
  q->served++;
  send_msg(u, p, SH_UTM_DATA, piece, size, m->raw + m->info_off + (size_t)piece * SH_UTM_PIECE,
           piece_len(size, piece));
}

/* ---- the registry's hooks ---- */

static void um_fill_handshake(void *ud, struct sh_peer *p, struct sh_ext_handshake *eh)
{
  (void)ud;
  if (p->tor->m)
    eh->metadata_size = (int64_t)p->tor->m->info_len;
}

static void um_on_handshake(void *ud, struct sh_peer *p, const struct sh_ext_handshake *eh)
{
  struct um *u = ud;
  if (!sh_ext_peer_supports(p, u->id))
    return;
  void **slot = sh_ext_peer_slot(p, u->id);
  struct um_peer *q = *slot;
  if (!q) {
    if (!(q = calloc(1, sizeof *q)))
      return;
    *slot = q;
  }
  q->size = eh->metadata_size > 0 ? eh->metadata_size : -1;
  q->refused = eh->metadata_size > SH_UTM_MAX_SIZE;
  if (q->refused)
    sh_info("peer %s: says the metadata is %lld bytes, over the 16 MiB limit: not asked",
            p->c->name, (long long)eh->metadata_size);
  struct shoal_torrent *t = p->tor;
  if (t->m || t->state != SHOAL_METADATA)
    return;
  void **ts = sh_ext_torrent_slot(t, u->id);
  if (!*ts && !(*ts = calloc(1, sizeof(struct um_fetch))))
    return;
  next_source(u, t, sh_now(p->sess));
}

static int um_on_message(void *ud, struct sh_peer *p, const uint8_t *data, size_t len,
                         const char **why)
{
  struct um *u = ud;
  struct sh_utm_msg m;
  int rc = sh_utm_parse(data, len, &m, why);
  if (rc < 0)
    return rc;
  struct shoal_torrent *t = p->tor;
  struct um_fetch *f = fetch_of(u, t);
  switch (m.type) {
  case SH_UTM_REQUEST:
    serve(u, p, m.piece);
    return 0;
  case SH_UTM_DATA:
    return on_data(u, p, &m, why);
  case SH_UTM_REJECT:
    if (f && f->src == p && !t->m)
      source_failed(u, t, "it rejected the request", sh_now(p->sess));
    return 0;
  default:
    return 0; /* BEP 9: unknown message types are ignored */
  }
}

static void um_on_peer_gone(void *ud, struct sh_peer *p)
{
  struct um *u = ud;
  void **slot = sh_ext_peer_slot(p, u->id);
  struct um_fetch *f = fetch_of(u, p->tor);
  free(*slot);
  *slot = NULL;
  if (f && f->src == p) {
    fetch_reset(f);
    next_source(u, p->tor, sh_now(p->sess));
  }
}

static void um_on_tick(void *ud, struct shoal_torrent *t, uint64_t now)
{
  struct um *u = ud;
  struct um_fetch *f = fetch_of(u, t);
  if (!f)
    return;
  if (t->m) {
    fetch_free(u, t); /* the metadata came another way (given by the app) */
    return;
  }
  if (f->src && now - f->last_ms > SH_UTM_TIMEOUT_MS)
    source_failed(u, t, "it did not answer for 15 s", now);
  else if (!f->src)
    next_source(u, t, now);
}

static void um_on_torrent_gone(void *ud, struct shoal_torrent *t)
{
  fetch_free(ud, t);
}

static void um_on_status(void *ud, const struct shoal_torrent *t, struct shoal_status *st)
{
  const struct um_fetch *f = fetch_of(ud, (struct shoal_torrent *)t);
  if (!f || t->m)
    return;
  st->metadata_asked = f->asked;
  st->metadata_size = f->size;
  st->metadata_have = f->have;
}

int sh_ut_metadata_register(struct shoal_session *s)
{
  struct um *u = calloc(1, sizeof *u);
  if (!u)
    return -1;
  struct sh_ext_def d = {.name = "ut_metadata",
                         .fill_handshake = um_fill_handshake,
                         .on_handshake = um_on_handshake,
                         .on_message = um_on_message,
                         .on_peer_gone = um_on_peer_gone,
                         .on_tick = um_on_tick,
                         .on_torrent_gone = um_on_torrent_gone,
                         .on_status = um_on_status,
                         .on_free = free,
                         .ud = u};
  if ((u->id = sh_ext_register(s, &d)) < 0) {
    free(u);
    return -1;
  }
  return u->id;
}
