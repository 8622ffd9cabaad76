/* Peer connections: life, reading, the handshake and framing.
 *
 * Reads land in one reused 256 KiB buffer; the codec splits frames in place
 * and the upper layer copies a block straight into its piece buffer, so
 * payload is copied once between the transport and the hash. Writes are
 * batched (conn_write.c) and submitted once per loop iteration by the hub. */
#include "peer/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "peer/tcp.h"

static struct sh_conn *conn_new(struct sh_hub *h)
{
  if (h->closing)
    return NULL;
  struct sh_conn *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->rbuf = malloc(SH_CONN_RBUF);
  if (!c->rbuf || sh_hub_add(h, c) < 0) {
    free(c->rbuf);
    free(c);
    return NULL;
  }
  c->rcap = SH_CONN_RBUF;
  c->hub = h;
  c->refs = 1; /* the transport's, dropped in its close callback */
  c->max_frame = SH_CONN_DEFAULT_MAX_FRAME;
  c->connected_ms = c->last_recv_ms = c->last_send_ms = uv_now(h->loop);
  strcpy(c->name, "incoming");
  return c;
}

static void conn_free(struct sh_conn *c)
{
  struct sh_hub *h = c->hub;
  if (c->ud)
    h->cb->on_free(c->ud, c);
  sh_conn_write_free(c);
  sh_conn_limit_leave(c);
  free(c->rbuf);
  sh_hub_remove(h, c);
  free(c);
}

void sh_conn_ref(struct sh_conn *c) { c->refs++; }

void sh_conn_unref(struct sh_conn *c)
{
  if (--c->refs == 0)
    conn_free(c);
}

static void set_addr(struct sh_conn *c, const struct sh_addr *a)
{
  c->addr = *a;
  if (a->family)
    sh_addr_str(a, c->name, sizeof c->name);
}

void sh_conn_close(struct sh_conn *c, const char *why)
{
  if (c->state == SH_CONN_CLOSING)
    return;
  c->state = SH_CONN_CLOSING;
  sh_info("peer %s: closing: %s", c->name, why);
  if (c->ud)
    c->hub->cb->on_close(c->ud, c, why);
  sh_conn_limit_leave(c); /* out of every limit's queue, its group too */
  /* unsent messages are dropped, their pins released */
  sh_conn_write_free(c);
  if (c->tr)
    c->tr->ops->close(c->tr);
}

/* ---- transport callbacks ---- */

static void tr_alloc(void *ud, uint8_t **buf, size_t *len)
{
  struct sh_conn *c = ud;
  if (c->rlen == c->rcap) {
    /* A frame larger than the buffer: its length was checked against the
     * limit before we got here, so growing to hold it is bounded. */
    size_t need = c->rcap * 2;
    if (c->rlen >= 4 && 4 + (size_t)sh_rd32(c->rbuf) > need)
      need = 4 + (size_t)sh_rd32(c->rbuf);
    uint8_t *nb = realloc(c->rbuf, need);
    if (!nb) {
      *buf = NULL;
      *len = 0;
      return;
    }
    c->rbuf = nb;
    c->rcap = need;
  }
  /* The download limits bound what one read may take; the unused part is
   * refunded in tr_on_read. Unlimited, this grants the whole space. */
  *buf = c->rbuf + c->rlen;
  *len = sh_conn_read_grant(c, c->rcap - c->rlen);
}

static void process(struct sh_conn *c);

static void tr_on_read(void *ud, ssize_t n)
{
  struct sh_conn *c = ud;
  struct sh_hub *h = c->hub;
  sh_conn_read_settle(c, n > 0 ? (size_t)n : 0);
  if (c->state == SH_CONN_CLOSING)
    return;
  if (n == -ENOMEM) {
    sh_conn_close(c, "out of memory for the read buffer");
    return;
  }
  if (n < 0) {
    sh_conn_close(c, n == SH_ECLOSED ? "connection closed by the peer" : sh_strerror((int)n));
    return;
  }
  if (n == 0)
    return;
  c->rlen += (size_t)n;
  c->last_recv_ms = uv_now(h->loop);
  sh_conn_ref(c);
  process(c);
  /* Out of download allowance: stop reading until this connection's turn,
   * so the kernel's receive window does the throttling. */
  sh_conn_read_throttle(c);
  sh_conn_unref(c);
}

/* One-shot: the transport stopped waiting before it called. */
static void tr_on_writable(void *ud)
{
  struct sh_conn *c = ud;
  c->wpolling = 0;
  sh_conn_pump(c);
}

static void send_handshake(struct sh_conn *c, const uint8_t info_hash[20])
{
  struct sh_buf *b = sh_conn_msgbuf(c);
  if (!b)
    return;
  struct sh_handshake hs;
  memcpy(hs.reserved, c->hub->o.reserved, 8);
  memcpy(hs.info_hash, info_hash, 20);
  memcpy(hs.peer_id, c->hub->o.peer_id, 20);
  uint8_t out[SH_HANDSHAKE_LEN];
  sh_wire_handshake_encode(out, &hs);
  sh_buf_append(b, out, sizeof out);
}

static void tr_on_connect(void *ud, int status)
{
  struct sh_conn *c = ud;
  if (c->state == SH_CONN_CLOSING)
    return;
  if (status < 0) {
    char why[128];
    snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
    sh_conn_close(c, why);
    return;
  }
  c->state = SH_CONN_HANDSHAKE;
  c->connected_ms = c->last_recv_ms = uv_now(c->hub->loop);
  send_handshake(c, c->info_hash);
  sh_conn_read_start(c);
}

static void tr_on_closed(void *ud)
{
  struct sh_conn *c = ud;
  c->tr = NULL;
  sh_conn_unref(c);
}

const struct sh_transport_cb sh_conn_transport_cb = {
    .alloc = tr_alloc,
    .on_read = tr_on_read,
    .on_writable = tr_on_writable,
    .on_connect = tr_on_connect,
    .on_closed = tr_on_closed,
};

void sh_conn_read_start(struct sh_conn *c)
{
  if (c->reading || c->throttled || c->state == SH_CONN_CLOSING || !c->tr)
    return;
  if (c->tr->ops->read_start(c->tr) == 0)
    c->reading = 1;
}

/* ---- opening ---- */

int sh_conn_dial_tcp(struct sh_hub *h, const struct sh_addr *addr, const uint8_t info_hash[20],
                     unsigned tflags, void *ud, struct sh_conn **out)
{
  struct sh_conn *c = conn_new(h);
  if (!c)
    return -ENOMEM;
  set_addr(c, addr);
  c->outgoing = 1;
  memcpy(c->info_hash, info_hash, 20);
  int rc = sh_tcp_connect(h->loop, addr, tflags, &sh_conn_transport_cb, c, &c->tr);
  if (rc < 0) {
    c->state = SH_CONN_CLOSING;
    sh_conn_unref(c); /* no transport: freed now, without callbacks */
    return rc;
  }
  c->ud = ud;
  if (out)
    *out = c;
  return 0;
}

static struct sh_conn *adopt(struct sh_hub *h, struct sh_transport *tr)
{
  struct sh_conn *c = conn_new(h);
  if (!c) {
    tr->cb = NULL;
    tr->ops->close(tr);
    return NULL;
  }
  tr->cb = &sh_conn_transport_cb;
  tr->ud = c;
  c->tr = tr;
  set_addr(c, &tr->remote);
  c->state = SH_CONN_HANDSHAKE;
  return c;
}

int sh_conn_accept(struct sh_hub *h, struct sh_transport *tr, struct sh_conn **out)
{
  struct sh_conn *c = adopt(h, tr);
  if (!c)
    return -ENOMEM;
  sh_conn_read_start(c);
  if (out)
    *out = c;
  return 0;
}

int sh_conn_start(struct sh_hub *h, struct sh_transport *tr, const uint8_t info_hash[20], void *ud,
                  struct sh_conn **out)
{
  struct sh_conn *c = adopt(h, tr);
  if (!c)
    return -ENOMEM;
  c->outgoing = 1;
  c->ud = ud;
  memcpy(c->info_hash, info_hash, 20);
  send_handshake(c, info_hash);
  sh_conn_read_start(c);
  if (out)
    *out = c;
  return 0;
}

/* ---- the handshake and framing ---- */

static int process_handshake(struct sh_conn *c, size_t *off)
{
  struct sh_handshake hs;
  const char *why = NULL;
  int rc = sh_wire_handshake_decode(c->rbuf, c->rlen, &hs, &why);
  if (rc == 0)
    return 0;
  if (rc < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "bad handshake: %s", why ? why : "malformed");
    sh_conn_close(c, msg);
    return -1;
  }
  *off = (size_t)rc;
  c->peer_hs = hs;
  if (c->outgoing && memcmp(hs.info_hash, c->info_hash, 20)) {
    sh_conn_close(c, "handshake names another torrent (wrong info-hash)");
    return -1;
  }
  if (!c->outgoing) {
    memcpy(c->info_hash, hs.info_hash, 20);
    send_handshake(c, hs.info_hash); /* sent only if the upper layer agrees */
  }
  why = NULL;
  if (c->hub->cb->on_handshake(c->hub->ud, c, &hs, &why) < 0) {
    sh_conn_close(c, why ? why : "refused");
    return -1;
  }
  if (c->state == SH_CONN_CLOSING)
    return -1;
  c->state = SH_CONN_ACTIVE;
  return 1;
}

static int process_frames(struct sh_conn *c, size_t *off)
{
  while (c->state == SH_CONN_ACTIVE) {
    size_t avail = c->rlen - *off;
    if (avail >= 4 && sh_rd32(c->rbuf + *off) > c->max_frame) {
      char msg[128];
      snprintf(msg, sizeof msg, "message of %u bytes exceeds the %u-byte limit",
               sh_rd32(c->rbuf + *off), c->max_frame);
      sh_conn_close(c, msg);
      return -1;
    }
    struct sh_msg m;
    const char *why = NULL;
    int rc = sh_wire_decode(c->rbuf + *off, avail, c->max_frame, &m, &why);
    if (rc == 0)
      break;
    if (rc < 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "protocol error: %s", why ? why : "malformed message");
      sh_conn_close(c, msg);
      return -1;
    }
    *off += (size_t)rc;
    why = NULL;
    if (c->hub->cb->on_message(c->ud, c, &m, &why) < 0) {
      sh_conn_close(c, why ? why : "protocol error");
      return -1;
    }
  }
  return c->state == SH_CONN_CLOSING ? -1 : 0;
}

static void process(struct sh_conn *c)
{
  size_t off = 0;
  if (c->state == SH_CONN_HANDSHAKE && process_handshake(c, &off) <= 0)
    return;
  if (process_frames(c, &off) < 0)
    return;
  if (off) {
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
  }
  /* A grown buffer (one huge bitfield) shrinks back once it is empty. */
  if (c->rcap > SH_CONN_RBUF && c->rlen <= SH_CONN_RBUF) {
    uint8_t *nb = realloc(c->rbuf, SH_CONN_RBUF);
    if (nb) {
      c->rbuf = nb;
      c->rcap = SH_CONN_RBUF;
    }
  }
  if (c->state == SH_CONN_ACTIVE && c->ud)
    c->hub->cb->on_read_done(c->ud, c);
}
