/* One attached peer: what each message means for the torrent (BEP 3, BEP 6
 * fast extension, BEP 10 extension handshake), the request pipeline and the
 * upload queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "disk/storage.h"
#include "meta/metainfo.h"
#include "peer/conn.h"
#include "swarm/picker.h"
#include "engine/ext.h"
#include "engine/torrent.h"
#include "base/vec.h"

static int peer_is_seed(const struct sh_peer *p, const struct shoal_torrent *t)
{
  return p->have_all || (t->m && p->have_count == t->m->num_pieces);
}

static void send_simple(struct sh_peer *p, int id)
{
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (b)
    sh_wire_put_simple(b, id);
}

static void send_ext_handshake(struct sh_peer *p)
{
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (!b)
    return;
  struct sh_ext_handshake eh;
  memset(&eh, 0, sizeof eh);
  snprintf(eh.client, sizeof eh.client, "shoal %s", SHOAL_VERSION);
  eh.listen_port = p->sess->port;
  eh.reqq = SH_PEER_REQQ;
  eh.metadata_size = -1;
  eh.yourip_len = p->c->addr.family == 4 ? 4 : 16;
  memcpy(eh.yourip, p->c->addr.ip, eh.yourip_len);
  sh_ext_fill_handshake(p, &eh); /* `m` and the extensions' own keys */
  struct sh_buf payload = SH_BUF_INIT;
  sh_wire_ext_handshake_encode(&payload, &eh);
  if (!payload.oom)
    sh_wire_put_extended(b, 0, payload.data, payload.len);
  sh_buf_free(&payload);
}

/* The frames a peer may send: its bitfield, once we know how long that is;
 * until then the longest one a torrent may have. */
static void set_max_frame(struct sh_peer *p)
{
  uint32_t np = p->tor->m ? p->tor->m->num_pieces : SH_METAINFO_MAX_PIECES;
  sh_conn_set_max_frame(p->c, 1 + (uint32_t)SH_BF_BYTES(np));
}

/* Two peers that dial each other at once (each found the other by LSD or
 * PEX) hold two connections; if each side kept its first, both would
 * close the one the other kept. Both keep the one dialled by the side
 * whose peer id is lower. Is that second, p? */
static int keep_second(const struct sh_peer *first, const struct sh_peer *p)
{
  if (first->outgoing == p->outgoing)
    return 0; /* the same way twice: the first stays */
  int ours_lower = memcmp(p->sess->peer_id, p->peer_id, 20) < 0;
  return p->outgoing == ours_lower;
}

int sh_tpeer_attach(struct shoal_torrent *t, struct sh_peer *p, const char **why)
{
  struct shoal_session *s = t->sess;
  /* While checking we take peers too (a leecher that dials a seed still
   * verifying its data should not be turned away and wait for a retry);
   * our bitfield follows when the check is done. */
  if (!sh_torrent_running(t) && t->state != SHOAL_CHECKING && t->state != SHOAL_METADATA) {
    *why = "the torrent is not running";
    return SH_ELIMIT;
  }
  for (size_t i = 0; i < t->npeers; i++)
    if (!memcmp(t->peers[i]->peer_id, p->peer_id, 20)) {
      if (!keep_second(t->peers[i], p)) {
        *why = "already connected to this peer id";
        return SH_ELIMIT;
      }
      sh_conn_close(t->peers[i]->c, "connected twice: the other connection stays");
      break;
    }
  if (t->npeers >= sh_torrent_max_peers(t)) {
    *why = "connection limit of the torrent reached";
    return SH_ELIMIT;
  }
  if (t->m && !(p->bf = calloc(1, SH_BF_BYTES(t->m->num_pieces) + 1))) {
    *why = "out of memory";
    return -ENOMEM;
  }
  set_max_frame(p);
  if (sh_vec_reserve(t->peers, t->cap_peers, t->npeers + 1, 16, SIZE_MAX) < 0) {
    *why = "out of memory";
    return -ENOMEM;
  }
  /* Start deep on this host: on loopback a 2 MiB window (128 blocks) is
   * what 1 GB/s needs at ~2 ms of queueing. Elsewhere start at 256 KiB:
   * 2 MiB asked of a peer that sends 0.5 MiB/s (a 4 MiB/s uplink shared
   * by seven) is 4 s before the pieces in it complete and can be passed
   * on. The tick adapts both to the measured rate. */
  p->depth = p->c->tr && (p->c->tr->flags & SH_TRANSPORT_LOCAL) ? 128 : 16;
  p->tor_idx = t->npeers;
  p->attached = 1;
  sh_conn_set_group(p->c, &t->rl); /* the torrent's limits apply too */
  t->peers[t->npeers++] = p;
  s->npeers++;
  p->attached_ms = sh_now(s);
  if (p->outgoing) {
    t->connecting--;
    s->nconnecting--;
    struct sh_peer_entry *e = sh_peers_find(&t->plist, &p->c->addr);
    if (e) {
      e->state = SH_PE_CONNECTED;
      e->closed_early = 0; /* it talks to us after all */
    }
  }
  if (p->extended)
    send_ext_handshake(p);
  if (p->dht && sh_session_dht_wants_port(s, t)) {
    struct sh_buf *b = sh_conn_msgbuf(p->c); /* BEP 5: our DHT node's port */
    if (b)
      sh_wire_put_port(b, s->port);
  }
  if (sh_torrent_running(t) || t->state == SHOAL_METADATA)
    sh_tpeer_send_bitfield(p);
  sh_debug("peer %s: attached to %s", p->c->name, t->name);
  return 0;
}

void sh_tpeer_send_bitfield(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  /* BEP 6: have_all / have_none replace the bitfield when both sides
   * support the fast extension; BEP 3 lets a peer with nothing skip it. */
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (!b)
    return;
  if (!t->m || sh_superseed_on(t)) {
    /* a super-seed too says it has nothing, then reveals piece by piece */
    if (p->fast)
      sh_wire_put_simple(b, SH_MSG_HAVE_NONE);
    sh_superseed_update(p);
    return;
  }
  uint32_t n = t->m->num_pieces;
  if (p->fast && t->have_count == n)
    sh_wire_put_simple(b, SH_MSG_HAVE_ALL);
  else if (p->fast && t->have_count == 0)
    sh_wire_put_simple(b, SH_MSG_HAVE_NONE);
  else if (t->have_count)
    sh_wire_put_bitfield(b, t->have, n);
  /* BEP 6 allowed-fast set (k = 10, the BEP's suggestion) for IPv4 peers:
   * pieces a new peer may fetch while still choked, so it soon has
   * something to trade. Only pieces we have are offered. */
  if (p->fast && p->c->addr.family == 4 && t->have_count) {
    uint32_t set[10];
    int k = sh_wire_allowed_fast(p->c->addr.ip, t->ih, n, set, 10);
    p->n_allowed_out = 0;
    for (int i = 0; i < k; i++)
      if (sh_torrent_have(t, set[i])) {
        p->allowed_out[p->n_allowed_out++] = set[i];
        sh_wire_put_index(b, SH_MSG_ALLOWED_FAST, set[i]);
      }
  }
}

void sh_tpeer_abort_all(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  for (size_t i = 0; i < p->n_out; i++)
    sh_torrent_req_abort(t, p->out[i].piece, p->out[i].begin);
  p->n_out = 0;
}

void sh_tpeer_detach(struct shoal_torrent *t, struct sh_peer *p)
{
  if (p->tor_idx < t->npeers && t->peers[p->tor_idx] == p) {
    struct sh_peer *last = t->peers[--t->npeers];
    t->sess->npeers--;
    t->peers[p->tor_idx] = last;
    last->tor_idx = p->tor_idx;
    if (!t->npeers && t->st)
      sh_storage_release(t->st); /* idle: no descriptors held (torrent.c) */
  }
  sh_superseed_gone(p);
  if (t->picker) {
    sh_tpeer_abort_all(p);
    if (p->got_bitfield || p->have_count)
      sh_picker_peer_lost(t->picker, p->bf, p->have_all);
  }
  /* its address (where it listens, for one that dialled us) may be
   * dialled again later */
  if (p->outgoing || p->listen_port) {
    struct sh_addr a = sh_peer_identity(p);
    struct sh_peer_entry *e = sh_peers_find(&t->plist, &a);
    if (e)
      e->seed = (uint8_t)peer_is_seed(p, t);
    if (e && (p->outgoing || e->state == SH_PE_CONNECTED))
      sh_peers_done(&t->plist, &a, 0, sh_now(t->sess));
  }
}

int sh_tpeer_is_seed(const struct sh_peer *p) { return p->got_bitfield && peer_is_seed(p, p->tor); }

void sh_tpeer_update_interest(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  int want = t->state == SHOAL_DOWNLOADING && t->picker &&
             sh_picker_interesting(t->picker, p->have_all ? NULL : p->bf);
  if (want == p->am_interested)
    return;
  p->am_interested = want;
  send_simple(p, want ? SH_MSG_INTERESTED : SH_MSG_NOT_INTERESTED);
}

void sh_tpeer_have(struct sh_peer *p, uint32_t piece)
{
  /* A peer that said it has every piece learns nothing from it. One that
   * only told us it has this piece may be a super-seed (BEP 16) waiting
   * for our HAVE to show us the next piece: it gets it (as libtorrent's
   * send_redundant_have does). */
  if (p->have_all)
    return;
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (b)
    sh_wire_put_have(b, piece);
}

/* Requests a peer may hold in endgame: 64 KiB, a few milliseconds of a
 * 4 MiB/s uplink, so a peer whose queue empties takes over the blocks
 * still waiting elsewhere a few at a time (libtorrent asks for one busy
 * block at a time). */
#define SH_ENDGAME_DEPTH 4u

static int skip_requested(void *ud, uint32_t piece, uint32_t begin)
{
  const struct sh_peer *p = ud;
  for (size_t i = 0; i < p->n_out; i++)
    if (p->out[i].piece == piece && p->out[i].begin == begin)
      return 1;
  return 0;
}

static int out_reserve(struct sh_peer *p, size_t n)
{
  return sh_vec_reserve(p->out, p->cap_out, p->n_out + n, 64, SIZE_MAX);
}

static int allowed_fast_in(const struct sh_peer *p, uint32_t piece)
{
  for (int i = 0; i < p->n_allowed_in; i++)
    if (p->allowed_in[i] == piece)
      return 1;
  return 0;
}

void sh_tpeer_fill(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  if (!sh_conn_active(p->c) || !p->am_interested || t->state != SHOAL_DOWNLOADING)
    return;
  int choked_fast = p->peer_choking && p->fast && p->n_allowed_in > 0;
  if (p->peer_choking && !choked_fast)
    return;
  uint32_t cap = p->reqq < SH_PEER_REQQ ? p->reqq : SH_PEER_REQQ;
  uint32_t depth = p->depth < cap ? p->depth : cap;
  if (p->snubbed)
    depth = 1;
  /* In endgame every block we ask for is one already asked of another
   * peer: worth it only where the pipeline ran dry, to steal what waits
   * deep in a slower peer's queue. Filled to the usual 2 s of rate, both
   * copies were sent nearly every time (the cancel came too late): in
   * bench/swarm.sh scenario (a) 3.5 % of all upload was such duplicates. */
  if (depth > SH_ENDGAME_DEPTH && sh_picker_in_endgame(t->picker))
    depth = SH_ENDGAME_DEPTH;
  if (p->n_out >= depth)
    return;
  uint32_t want = depth - (uint32_t)p->n_out;
  /* Top up in batches of an eighth of the window so one read of 16 blocks
   * produces one pick and one write, not sixteen. */
  uint32_t batch = depth / 8 ? depth / 8 : 1;
  if (p->n_out && want < batch)
    return;
  uint8_t *bf = p->have_all ? NULL : p->bf;
  uint8_t *tmp = NULL;
  if (p->peer_choking) {
    /* BEP 6: while choked only allowed-fast pieces may be requested */
    tmp = calloc(1, SH_BF_BYTES(t->m->num_pieces));
    if (!tmp)
      return;
    for (int i = 0; i < p->n_allowed_in; i++)
      if (p->have_all || sh_bf_get(p->bf, p->allowed_in[i]))
        sh_bf_set(tmp, p->allowed_in[i]);
    bf = tmp;
  }
  if (out_reserve(p, want) < 0) {
    free(tmp);
    return;
  }
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (!b) {
    free(tmp);
    return;
  }
  uint64_t now = sh_now(p->sess);
  struct sh_block blk[64];
  uint32_t got_total = 0;
  while (want > 0) {
    int ask = want < 64 ? (int)want : 64;
    int got = sh_picker_pick(t->picker, bf, blk, ask, skip_requested, p);
    for (int i = 0; i < got; i++) {
      if (!sh_torrent_piece_buf(t, blk[i].piece)) {
        for (int j = i; j < got; j++)
          sh_picker_abort(t->picker, blk[j].piece, blk[j].begin);
        got = i;
        want = (uint32_t)got; /* stop after this batch */
        break;
      }
      sh_torrent_req_add(t, blk[i].piece);
      sh_wire_put_request(b, SH_MSG_REQUEST, blk[i].piece, blk[i].begin, blk[i].length);
      p->out[p->n_out++] = (struct sh_req){blk[i].piece, blk[i].begin, blk[i].length, now};
    }
    got_total += (uint32_t)got;
    want -= (uint32_t)got;
    if (got < ask)
      break;
  }
  free(tmp);
  if (got_total && p->n_out == got_total && !p->stall_since_ms)
    p->stall_since_ms = now;
  /* Nothing to ask this peer for: are we still interested? (Checked here,
   * when the pipeline runs dry, rather than after every piece we finish.) */
  if (!got_total && !p->n_out && !p->peer_choking)
    sh_tpeer_update_interest(p);
}

void sh_tpeer_set_choke(struct sh_peer *p, int choke)
{
  if (p->am_choking == choke || !sh_conn_active(p->c))
    return;
  p->am_choking = choke;
  send_simple(p, choke ? SH_MSG_CHOKE : SH_MSG_UNCHOKE);
  if (!choke) {
    p->unchoked_ms = sh_now(p->sess);
    return;
  }
  sh_tpeer_choke_uploads(p);
  p->optimistic = 0;
}

static ssize_t out_find(const struct sh_peer *p, uint32_t piece, uint32_t begin)
{
  /* blocks come back in request order, so this almost always stops at 0 */
  for (size_t i = 0; i < p->n_out; i++)
    if (p->out[i].piece == piece && p->out[i].begin == begin)
      return (ssize_t)i;
  return -1;
}

static void out_remove(struct sh_peer *p, size_t i)
{
  memmove(&p->out[i], &p->out[i + 1], (p->n_out - i - 1) * sizeof *p->out);
  p->n_out--;
}

static int was_cancelled(const struct sh_peer *p, uint32_t piece, uint32_t begin)
{
  unsigned n = p->n_cancelled < 32 ? p->n_cancelled : 32;
  for (unsigned i = 0; i < n; i++)
    if (p->cancelled[i].piece == piece && p->cancelled[i].begin == begin)
      return 1;
  return 0;
}

void sh_tpeer_cancel_dup(struct sh_peer *p, uint32_t piece, uint32_t begin)
{
  ssize_t i = out_find(p, piece, begin);
  if (i < 0)
    return;
  struct sh_req r = p->out[i];
  out_remove(p, (size_t)i);
  sh_torrent_req_cancelled(p->tor, r.piece);
  p->cancels_sent++;
  p->cancelled[p->n_cancelled++ % 32] = (struct sh_block){r.piece, r.begin, r.length};
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (b)
    sh_wire_put_request(b, SH_MSG_CANCEL, r.piece, r.begin, r.length);
}

static int on_piece(struct sh_peer *p, const struct sh_msg *m, const char **why)
{
  struct shoal_torrent *t = p->tor;
  ssize_t i = out_find(p, m->index, m->begin);
  if (i < 0 || p->out[i].length != m->data_len) {
    if (was_cancelled(p, m->index, m->begin)) {
      /* a late answer to a request we gave up on: still useful if the
       * block is still missing (the picker decides) */
      sh_torrent_block(t, p, m->index, m->begin, m->data, m->data_len, 0);
      return 0;
    }
    /* every cancel we sent may cross a block already on the wire, so only
     * blocks beyond those count against the peer */
    if ((uint32_t)++p->unexpected > SH_PEER_MAX_UNEXPECTED + p->cancels_sent) {
      *why = "sent more than 64 blocks we never asked for";
      return SH_EPROTO;
    }
    sh_debug("peer %s: dropped an unrequested block (piece %u offset %u)", p->c->name, m->index,
             m->begin);
    return 0;
  }
  out_remove(p, (size_t)i);
  uint64_t now = sh_now(p->sess);
  p->last_block_ms = now;
  p->stall_since_ms = p->n_out ? now : 0;
  p->snubbed = 0;
  p->down_bytes += m->data_len;
  sh_rate_add(&p->rate_down, m->data_len);
  t->downloaded += m->data_len;
  sh_rate_add(&t->rate_down, m->data_len);
  sh_torrent_block(t, p, m->index, m->begin, m->data, m->data_len, 1);
  return 0;
}

static int on_ext(struct sh_peer *p, const struct sh_msg *m, const char **why)
{
  if (m->ext_id != 0)
    return sh_ext_dispatch(p, m->ext_id, m->data, m->data_len, why);
  struct sh_ext_handshake eh;
  const char *w = NULL;
  if (sh_wire_ext_handshake_decode(m->data, m->data_len, &eh, &w) < 0) {
    sh_debug("peer %s: ignoring a bad extension handshake: %s", p->c->name, w ? w : "?");
    return 0;
  }
  snprintf(p->client, sizeof p->client, "%s", eh.client);
  if (eh.reqq)
    p->reqq = eh.reqq;
  p->listen_port = eh.listen_port;
  struct sh_addr who = sh_peer_identity(p);
  if (sh_bans_is_banned(&p->sess->bans, &who)) {
    *why = "banned peer (identified by its listen port)";
    return SH_EBANNED;
  }
  /* A peer that dialled us, now known by where it listens: the tracker
   * lists that address, and dialling it would only open a second
   * connection to the same peer. */
  if (!p->outgoing && p->listen_port && p->attached) {
    struct sh_peer_entry *e = sh_peers_find(&p->tor->plist, &who);
    if (!e && sh_peers_add(&p->tor->plist, &who, SH_SRC_INCOMING, sh_now(p->sess)) == 1)
      e = sh_peers_find(&p->tor->plist, &who);
    if (e && e->state == SH_PE_IDLE)
      e->state = SH_PE_CONNECTED;
  }
  sh_ext_on_handshake(p, &eh);
  return 0;
}

int sh_tpeer_msg(struct sh_peer *p, const struct sh_msg *m, const char **why)
{
  struct shoal_torrent *t = p->tor;
  const struct sh_metainfo *mi = t->m;
  if (m->id == SH_MSG_KEEPALIVE)
    return 0;
  int rc = mi ? sh_wire_validate(m, mi->num_pieces, mi->piece_length, mi->total_length, why)
              : sh_wire_validate(m, 0, 0, 0, why);
  if (rc < 0)
    return rc;
  int fast_only = m->id == SH_MSG_HAVE_ALL || m->id == SH_MSG_HAVE_NONE ||
                  m->id == SH_MSG_REJECT || m->id == SH_MSG_ALLOWED_FAST ||
                  m->id == SH_MSG_SUGGEST;
  if (fast_only && !p->fast) {
    *why = "fast-extension message without the fast extension (BEP 6)";
    return SH_EPROTO;
  }
  if (m->id == SH_MSG_PORT) { /* with or without metadata */
    sh_session_dht_port(p->sess, t, &p->c->addr, m->port);
    return 0;
  }
  if (m->id == SH_MSG_EXTENDED) /* a magnet's metadata comes this way */
    return on_ext(p, m, why);
  if (!mi)
    return sh_tpeer_msg_early(p, m, why);
  int first = m->id == SH_MSG_BITFIELD || m->id == SH_MSG_HAVE_ALL || m->id == SH_MSG_HAVE_NONE;
  if (first && (p->got_bitfield || p->have_count)) {
    /* BEP 3 allows the bitfield only as the first message, but aria2 sends
     * have_none followed by a bitfield. Harmless: the newest one wins. */
    sh_debug("peer %s: replacing its earlier bitfield", p->c->name);
    if (t->picker && (p->got_bitfield || p->have_count))
      sh_picker_peer_lost(t->picker, p->bf, p->have_all);
    memset(p->bf, 0, SH_BF_BYTES(mi->num_pieces));
    p->have_all = 0;
    p->have_count = 0;
    p->got_bitfield = 0;
  }
  switch (m->id) {
  case SH_MSG_CHOKE:
    p->peer_choking = 1;
    /* BEP 6: with the fast extension the peer rejects what it drops;
     * without it a choke silently discards every request. */
    if (!p->fast)
      sh_tpeer_abort_all(p);
    return 0;
  case SH_MSG_UNCHOKE:
    p->peer_choking = 0;
    sh_tpeer_fill(p);
    return 0;
  case SH_MSG_INTERESTED:
    p->peer_interested = 1;
    sh_torrent_maybe_unchoke(t, p);
    return 0;
  case SH_MSG_NOT_INTERESTED:
    p->peer_interested = 0;
    return 0;
  case SH_MSG_HAVE:
    if (p->have_all || sh_bf_get(p->bf, m->index))
      return 0;
    sh_bf_set(p->bf, m->index);
    p->have_count++;
    if (t->picker)
      sh_picker_peer_have(t->picker, m->index);
    if (!p->am_interested && !sh_torrent_have(t, m->index))
      sh_tpeer_update_interest(p);
    sh_superseed_update(p);
    return 0;
  case SH_MSG_BITFIELD:
    p->got_bitfield = 1;
    memcpy(p->bf, m->data, SH_BF_BYTES(mi->num_pieces));
    p->have_count = sh_bf_count(p->bf, mi->num_pieces);
    if (t->picker)
      sh_picker_peer_bitfield(t->picker, p->bf);
    sh_tpeer_update_interest(p);
    sh_superseed_update(p);
    return 0;
  case SH_MSG_HAVE_ALL:
    p->got_bitfield = 1;
    p->have_all = 1;
    p->have_count = mi->num_pieces;
    memset(p->bf, 0xff, SH_BF_BYTES(mi->num_pieces));
    if (mi->num_pieces & 7)
      p->bf[SH_BF_BYTES(mi->num_pieces) - 1] &= (uint8_t)(0xff00 >> (mi->num_pieces & 7));
    if (t->picker)
      sh_picker_peer_have_all(t->picker);
    sh_tpeer_update_interest(p);
    return 0;
  case SH_MSG_HAVE_NONE:
    p->got_bitfield = 1;
    sh_superseed_update(p);
    return 0;
  case SH_MSG_REQUEST:
    return sh_tpeer_on_request(p, m, why);
  case SH_MSG_PIECE:
    return on_piece(p, m, why);
  case SH_MSG_CANCEL:
    sh_tpeer_on_cancel(p, m);
    return 0;
  case SH_MSG_REJECT: {
    ssize_t i = out_find(p, m->index, m->begin);
    if (i >= 0) {
      out_remove(p, (size_t)i);
      sh_torrent_req_abort(t, m->index, m->begin);
    }
    return 0;
  }
  case SH_MSG_ALLOWED_FAST:
    if (p->n_allowed_in < (int)(sizeof p->allowed_in / sizeof p->allowed_in[0]) &&
        !allowed_fast_in(p, m->index)) {
      p->allowed_in[p->n_allowed_in++] = m->index;
      sh_tpeer_fill(p);
    }
    return 0;
  case SH_MSG_EXTENDED:
    return on_ext(p, m, why);
  default:
    return 0; /* suggest and unknown messages: nothing to do (BEP 3) */
  }
}

int sh_tpeer_tick(struct sh_peer *p, uint64_t now, uint64_t dt)
{
  struct shoal_torrent *t = p->tor;
  const struct shoal_settings *set = &p->sess->set;
  if (dt == 0)
    dt = 1;
  sh_rate_tick(&p->rate_down, dt);
  sh_rate_tick(&p->rate_up, dt);

  /* Pipeline depth: the bandwidth-delay product. We aim at 2 s of data at
   * the measured rate (libtorrent's default queue time is 3 s), at least 4
   * blocks, at most min(reqq, SH_PEER_REQQ). It grows at once; it shrinks
   * only once the rate has had 3 s to settle, and at most by half per
   * tick, so one slow second does not collapse a fast pipeline. */
  if (!p->peer_choking) {
    uint64_t want = sh_rate_get(&p->rate_down) * 2 / SH_BLOCK_SIZE;
    if (want < 4)
      want = 4;
    if (want > SH_PEER_REQQ)
      want = SH_PEER_REQQ;
    if (want < p->depth / 2)
      want = p->depth / 2;
    if (want > p->depth || now - p->attached_ms >= 3000)
      p->depth = (uint32_t)want;
  }

  if (now - p->c->last_recv_ms > set->idle_timeout_ms) {
    char why[96];
    snprintf(why, sizeof why, "idle for %llu s",
             (unsigned long long)(now - p->c->last_recv_ms) / 1000);
    sh_conn_close(p->c, why);
    return 1;
  }
  /* A request unanswered for request_timeout_ms (60 s by default) snubs
   * the peer: its requests go back to the picker for other peers, and it
   * gets one block at a time until it delivers again. A peer that delivers
   * nothing for stall_timeout_ms (3 min) is dropped. */
  if (p->n_out && p->stall_since_ms && now - p->stall_since_ms > set->request_timeout_ms) {
    if (!p->snubbed)
      sh_info("peer %s: no block for %u s: snubbed, its requests go to other peers", p->c->name,
              set->request_timeout_ms / 1000);
    p->snubbed = 1;
    struct sh_buf *b = sh_conn_msgbuf(p->c);
    for (size_t i = 0; i < p->n_out; i++) {
      if (b)
        sh_wire_put_request(b, SH_MSG_CANCEL, p->out[i].piece, p->out[i].begin, p->out[i].length);
      p->cancelled[p->n_cancelled++ % 32] =
          (struct sh_block){p->out[i].piece, p->out[i].begin, p->out[i].length};
      p->cancels_sent++;
    }
    sh_tpeer_abort_all(p);
    p->stall_since_ms = 0;
    p->depth = 4;
  }
  if (!p->am_interested || t->state != SHOAL_DOWNLOADING)
    p->snubbed = 0; /* we want nothing from it: no longer a debt to collect */
  if (p->snubbed &&
      now - (p->last_block_ms ? p->last_block_ms : p->attached_ms) > set->stall_timeout_ms) {
    sh_conn_close(p->c, "stalled: requested blocks never arrive");
    return 1;
  }
  /* BEP 3: keep-alives every 2 minutes keep idle connections open */
  if (now - p->c->last_send_ms >= 120000) {
    struct sh_buf *b = sh_conn_msgbuf(p->c);
    if (b)
      sh_wire_put_keepalive(b);
  }
  /* Two seeds have nothing to say to each other (unless we skipped files
   * we may want later). */
  if (t->state == SHOAL_SEEDING && t->have_count == t->m->num_pieces && sh_tpeer_is_seed(p)) {
    sh_conn_close(p->c, "both sides are seeds");
    return 1;
  }
  sh_tpeer_fill(p);
  sh_tpeer_serve(p);
  return 0;
}
