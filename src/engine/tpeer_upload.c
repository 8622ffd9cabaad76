/* One attached peer's requests to us: queued in order, read from disk on
 * the thread pool (or the read cache), and sent in the order they were
 * asked for, within the send watermark and the upload rate limit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "engine/peer.h"
#include "engine/torrent.h"
#include "meta/metainfo.h"

static void release_ref(void *pin) { sh_disk_ref_release(pin); }

/* A block whose read finished: from memory, or where it lies on disk. */
static void send_block(struct sh_peer *p, struct sh_upload *u)
{
  struct sh_conn_extent ext[SH_DISK_MAX_EXTENTS];
  struct sh_conn_block b = {.data = u->data, .ext = ext, .release = u->ref ? release_ref : NULL,
                            .pin = u->ref};
  if (!u->data) {
    struct sh_extent de[SH_DISK_MAX_EXTENTS];
    b.next = u->ref ? sh_disk_ref_extents(u->ref, u->begin, u->length, de, SH_DISK_MAX_EXTENTS)
                    : -EINVAL;
    if (b.next <= 0) {
      if (u->ref)
        sh_disk_ref_release(u->ref);
      sh_conn_close(p->c, "internal error: a block with no bytes to send");
      return;
    }
    for (int i = 0; i < b.next; i++)
      ext[i] = (struct sh_conn_extent){de[i].fd, de[i].off, de[i].len};
  }
  sh_conn_send_block(p->c, u->piece, u->begin, u->length, &b);
}

int sh_tpeer_allowed_fast_out(const struct sh_peer *p, uint32_t piece)
{
  for (int i = 0; i < p->n_allowed_out; i++)
    if (p->allowed_out[i] == piece)
      return 1;
  return 0;
}

void sh_tpeer_send_reject(struct sh_peer *p, uint32_t piece, uint32_t begin, uint32_t len)
{
  if (!p->fast)
    return;
  struct sh_buf *b = sh_conn_msgbuf(p->c);
  if (b)
    sh_wire_put_request(b, SH_MSG_REJECT, piece, begin, len);
}

/* Sends the finished reads at the front of the ring, in request order.
 * Peers match blocks against their request queue front to back (libtorrent
 * among them), and take a block that overtook others as a sign that those
 * were skipped; a piece loading from disk must not let cached ones pass. */
static void upload_drain(struct sh_peer *p)
{
  int sent = 0;
  sh_conn_ref(p->c); /* the slots' references go one by one below */
  while (p->n_reads) {
    struct sh_upload *u = &p->up[p->up_tail];
    if (!u->ready)
      break;
    p->up_tail = (p->up_tail + 1) % SH_PEER_MAX_READS;
    p->n_reads--;
    u->in_use = u->ready = 0;
    if (u->cancelled || !sh_conn_active(p->c)) {
      if (u->ref)
        sh_disk_ref_release(u->ref);
    } else if (u->rc < 0) {
      sh_warn("%s: cannot read piece %u for upload: %s", p->tor->name, u->piece,
              sh_strerror(u->rc));
      sh_tpeer_send_reject(p, u->piece, u->begin, u->length);
    } else {
      send_block(p, u);
      p->up_bytes += u->length;
      sh_rate_add(&p->rate_up, u->length);
      p->tor->uploaded += u->length;
      sh_rate_add(&p->tor->rate_up, u->length);
      sent = 1;
    }
    sh_conn_unref(p->c);
  }
  if (sent && sh_conn_active(p->c))
    sh_tpeer_serve(p);
  sh_conn_unref(p->c);
}

static void on_block_read(void *ud, int rc, const uint8_t *data, struct sh_disk_ref *ref)
{
  struct sh_upload *u = ud;
  u->ready = 1;
  u->rc = rc;
  u->data = data;
  u->ref = ref;
  upload_drain(u->p);
}

/* How much may wait in the send queue: what the connection took in the
 * last one or two windows of 250 ms (see SH_PEER_SEND_WATERMARK). */
static size_t send_watermark(struct sh_peer *p)
{
  uint64_t now = sh_now(p->sess), w = p->c->written;
  uint64_t dt = now - p->wm_ms;
  if (dt >= SH_PEER_SEND_WINDOW_MS) {
    uint64_t took = w - p->wm_mark;
    /* a long silence: the bytes of the last window's length, on average */
    p->wm_prev = dt >= 2 * SH_PEER_SEND_WINDOW_MS ? took * SH_PEER_SEND_WINDOW_MS / dt : took;
    p->wm_mark = w;
    p->wm_ms = now;
  }
  uint64_t recent = p->wm_prev + (w - p->wm_mark);
  return recent < SH_PEER_SEND_MIN        ? SH_PEER_SEND_MIN
         : recent > SH_PEER_SEND_WATERMARK ? SH_PEER_SEND_WATERMARK
                                           : (size_t)recent;
}

void sh_tpeer_serve(struct sh_peer *p)
{
  struct shoal_torrent *t = p->tor;
  if (p->c->up_waiting)
    return;
  size_t mark = send_watermark(p);
  while (p->n_in && sh_conn_active(p->c) && p->n_reads < SH_PEER_MAX_READS &&
         sh_conn_backlog(p->c) < mark && t->disk) {
    struct sh_block r = p->in[p->in_head];
    /* the block and its 13-byte header, all or nothing */
    if (!sh_conn_upload_allowed(p->c, (uint64_t)r.length + 13))
      return;
    p->in_head = (p->in_head + 1) % p->cap_in;
    p->n_in--;
    struct sh_upload *u = &p->up[(p->up_tail + p->n_reads) % SH_PEER_MAX_READS];
    *u = (struct sh_upload){.p = p, .piece = r.piece, .begin = r.begin, .length = r.length,
                            .in_use = 1};
    /* The transport says whether sendfile pays (not to a peer on this
     * host, see peer/transport.h); a piece another peer holds for
     * sendfile goes out by sendfile anyway. */
    int rc = sh_disk_serve_block(t->disk, r.piece, r.begin, r.length,
                                 sh_conn_can_sendfile(p->c), on_block_read, u);
    if (rc < 0) {
      u->in_use = 0;
      sh_tpeer_send_reject(p, r.piece, r.begin, r.length);
      continue;
    }
    p->n_reads++;
    sh_conn_ref(p->c);
  }
}

static int in_push(struct sh_peer *p, const struct sh_msg *m)
{
  if (p->n_in == p->cap_in) {
    size_t cap = p->cap_in ? p->cap_in * 2 : 64;
    struct sh_block *ni = malloc(cap * sizeof *ni);
    if (!ni)
      return -ENOMEM;
    for (size_t i = 0; i < p->n_in; i++)
      ni[i] = p->in[(p->in_head + i) % p->cap_in];
    free(p->in);
    p->in = ni;
    p->cap_in = cap;
    p->in_head = 0;
  }
  p->in[(p->in_head + p->n_in) % p->cap_in] = (struct sh_block){m->index, m->begin, m->length};
  p->n_in++;
  return 0;
}

int sh_tpeer_on_request(struct sh_peer *p, const struct sh_msg *m, const char **why)
{
  struct shoal_torrent *t = p->tor;
  /* Only data that was verified and written is ever uploaded; a choked
   * peer gets only its allowed-fast pieces (BEP 6). */
  if (!sh_torrent_have(t, m->index) || (p->am_choking && !sh_tpeer_allowed_fast_out(p, m->index))) {
    sh_tpeer_send_reject(p, m->index, m->begin, m->length);
    return 0;
  }
  if (p->n_in >= SH_PEER_MAX_INREQ) {
    *why = "request flood: more than twice the reqq we advertise queued";
    return SH_EPROTO;
  }
  if (in_push(p, m) < 0) {
    *why = "out of memory";
    return -ENOMEM;
  }
  sh_tpeer_serve(p);
  return 0;
}

void sh_tpeer_on_cancel(struct sh_peer *p, const struct sh_msg *m)
{
  for (size_t i = 0; i < p->n_in; i++) {
    struct sh_block *r = &p->in[(p->in_head + i) % p->cap_in];
    if (r->piece == m->index && r->begin == m->begin && r->length == m->length) {
      /* close the gap, keeping the order */
      for (size_t j = i; j + 1 < p->n_in; j++)
        p->in[(p->in_head + j) % p->cap_in] = p->in[(p->in_head + j + 1) % p->cap_in];
      p->n_in--;
      sh_tpeer_send_reject(p, m->index, m->begin, m->length);
      return;
    }
  }
  for (int i = 0; i < SH_PEER_MAX_READS; i++) {
    struct sh_upload *u = &p->up[i];
    if (u->in_use && !u->cancelled && u->piece == m->index && u->begin == m->begin) {
      u->cancelled = 1;
      sh_tpeer_send_reject(p, m->index, m->begin, m->length);
      return;
    }
  }
}

void sh_tpeer_choke_uploads(struct sh_peer *p)
{
  /* BEP 3: a choke discards the peer's pending requests; BEP 6 wants an
   * explicit reject for each of them. */
  size_t keep = 0, n = p->n_in;
  for (size_t i = 0; i < n; i++) {
    struct sh_block r = p->in[(p->in_head + i) % p->cap_in];
    if (sh_tpeer_allowed_fast_out(p, r.piece))
      p->in[(p->in_head + keep++) % p->cap_in] = r; /* still served */
    else
      sh_tpeer_send_reject(p, r.piece, r.begin, r.length);
  }
  p->n_in = keep;
  for (int i = 0; i < SH_PEER_MAX_READS; i++)
    if (p->up[i].in_use && !p->up[i].cancelled && !sh_tpeer_allowed_fast_out(p, p->up[i].piece)) {
      p->up[i].cancelled = 1;
      sh_tpeer_send_reject(p, p->up[i].piece, p->up[i].begin, p->up[i].length);
    }
}

void sh_tpeer_cancel_uploads(struct sh_peer *p)
{
  for (int i = 0; i < SH_PEER_MAX_READS; i++)
    if (p->up[i].in_use)
      p->up[i].cancelled = 1;
  p->n_in = 0;
}
