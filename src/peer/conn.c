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
#include "peer/utp.h"

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

static void settle_enc(struct sh_conn *c);

static void set_addr(struct sh_conn *c, const struct sh_addr *a)
{
  c->addr = *a;
  if (a->family)
    sh_addr_str(a, c->name, sizeof c->name);
}

/* ---- the other dial (sh_conn.alt) ---- */

static void retired_closed(void *ud) { sh_conn_unref(ud); }
static void retired_alloc(void *ud, uint8_t **buf, size_t *len)
{
  (void)ud;
  *buf = NULL;
  *len = 0;
}
static void retired_read(void *ud, ssize_t n) { (void)ud, (void)n; }
static void retired_writable(void *ud) { (void)ud; }
static void retired_connect(void *ud, int status) { (void)ud, (void)status; }
/* A transport we are done with: it only reports that it closed. */
static const struct sh_transport_cb retired_cb = {retired_alloc, retired_read, retired_writable,
                                                  retired_connect, retired_closed};

static void retire(struct sh_transport *t)
{
  t->cb = &retired_cb;
  t->ops->close(t);
}

static void drop_alt(struct sh_conn *c)
{
  struct sh_transport *t = c->alt;
  c->alt = NULL;
  c->alt_connected = 0;
  if (t)
    retire(t);
}

static int is_utp(const struct sh_transport *t) { return t && !strcmp(t->ops->name, "utp"); }

/* c->tr may be MSE's wrapper: what it wraps was noted when it connected */
int sh_conn_is_utp(const struct sh_conn *c) { return c->over_utp || is_utp(c->tr); }

void sh_conn_close(struct sh_conn *c, const char *why)
{
  if (c->state == SH_CONN_CLOSING)
    return;
  c->hs_failed = c->state == SH_CONN_HANDSHAKE ||
                 (c->state == SH_CONN_CONNECTING && c->hs_failed_alt);
  settle_enc(c); /* MSE done, the BitTorrent handshake not: encryption worked */
  c->state = SH_CONN_CLOSING;
  sh_info("peer %s: closing: %s", c->name, why);
  if (c->ud)
    c->hub->cb->on_close(c->ud, c, why);
  sh_conn_limit_leave(c); /* out of every limit's queue, its group too */
  /* unsent messages are dropped, their pins released */
  sh_conn_write_free(c);
  drop_alt(c);
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
static int use_alt(struct sh_conn *c);
static int wrap_mse(struct sh_conn *c);

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
  if (n < 0 && c->enc == SH_CONN_ENC_PENDING && c->alt && use_alt(c))
    return; /* a peer that takes TCP and drops it may speak uTP */
  if (n < 0 && c->enc == SH_CONN_ENC_PENDING) {
    char why[160];
    const char *w = sh_mse_why(c->tr);
    snprintf(why, sizeof why, "encrypted handshake failed: %s", w ? w : sh_strerror((int)n));
    sh_conn_close(c, why);
    return;
  }
  if (n < 0) {
    if (c->state == SH_CONN_HANDSHAKE && c->rlen == 0 &&
        (n == SH_ECLOSED || n == -ECONNRESET))
      c->closed_early = 1;
    if (use_alt(c))
      return;
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
  if (status < 0 && is_utp(c->tr))
    c->utp_failed = 1;
  if (status < 0 && use_alt(c))
    return;
  if (status < 0) {
    char why[128];
    snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
    sh_conn_close(c, why);
    return;
  }
  c->state = SH_CONN_HANDSHAKE;
  c->connected_ms = c->last_recv_ms = uv_now(c->hub->loop);
  c->over_utp = is_utp(c->tr);
  if (c->enc_wanted && !c->enc && wrap_mse(c) < 0) {
    sh_conn_close(c, "out of memory for an encrypted handshake");
    return;
  }
  send_handshake(c, c->info_hash); /* held by MSE until its own is done */
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

/* The primary transport died before the peer's handshake: the other dial
 * takes over (from its connect, or at once if it connected already).
 * Returns 1 when it did. */
static int use_alt(struct sh_conn *c)
{
  if (!c->alt || c->state == SH_CONN_ACTIVE || c->state == SH_CONN_CLOSING)
    return 0;
  struct sh_transport *old = c->tr, *t = c->alt;
  c->alt = NULL;
  sh_info("peer %s: %s failed before the handshake, going on over %s", c->name,
          old ? old->ops->name : "?", t->ops->name);
  if (old) {
    c->tr = NULL;
    /* its on_closed must not clear c->tr (the new one), and drops its ref */
    retire(old);
  }
  t->cb = &sh_conn_transport_cb;
  c->tr = t;
  c->rlen = 0;
  c->reading = c->wpolling = 0;
  sh_conn_write_free(c); /* our handshake went to the old one */
  /* what the old one learnt counts if the new one fails too */
  c->hs_failed_alt |= c->state == SH_CONN_HANDSHAKE;
  /* The old one had connected, so the peer is there: a uTP (or TCP) that
   * would answer has had as long to answer as that took. It gets a short
   * grace, not the whole connect timeout, so a peer that refuses our
   * handshake is known as such in seconds. */
  if (c->state == SH_CONN_HANDSHAKE && !c->alt_connected)
    c->alt_deadline_ms = uv_now(c->hub->loop) + SH_CONN_ALT_GRACE_MS;
  if (c->enc == SH_CONN_ENC_PENDING) {
    c->mse_failed = 1;
    c->enc = SH_CONN_ENC_NONE; /* the new one is wrapped when it connects */
  }
  if (c->alt_connected) {
    c->alt_connected = 0;
    c->state = SH_CONN_CONNECTING;
    tr_on_connect(c, 0);
  } else {
    c->state = SH_CONN_CONNECTING;
  }
  return 1;
}

/* The other dial's callbacks: it connects (or not) and waits. */
static void alt_on_connect(void *ud, int status)
{
  struct sh_conn *c = ud;
  if (c->state == SH_CONN_CLOSING)
    return;
  if (status < 0) {
    if (is_utp(c->alt))
      c->utp_failed = 1;
    drop_alt(c);
    return;
  }
  if (c->state != SH_CONN_CONNECTING) {
    c->alt_connected = 1; /* the standby, should the first one die */
    return;
  }
  /* first to connect: it becomes the connection, the other the standby */
  struct sh_transport *t = c->alt, *other = c->tr;
  t->cb = &sh_conn_transport_cb;
  c->tr = t;
  c->alt = other;
  c->alt_connected = 0;
  if (other)
    other->cb = &sh_conn_alt_cb;
  tr_on_connect(c, 0);
}

static void alt_alloc(void *ud, uint8_t **buf, size_t *len) { retired_alloc(ud, buf, len); }

const struct sh_transport_cb sh_conn_alt_cb = {
    .alloc = alt_alloc,
    .on_read = retired_read,   /* it is never asked to read */
    .on_writable = retired_writable,
    .on_connect = alt_on_connect,
    .on_closed = retired_closed,
};

void sh_conn_read_start(struct sh_conn *c)
{
  if (c->reading || c->throttled || c->state == SH_CONN_CLOSING || !c->tr)
    return;
  if (c->tr->ops->read_start(c->tr) == 0)
    c->reading = 1;
}

/* ---- opening ---- */

int sh_conn_dial(struct sh_hub *h, const struct sh_addr *addr, const uint8_t info_hash[20],
                 unsigned tflags, const struct sh_conn_how *how, void *ud, struct sh_conn **out)
{
  struct sh_conn *c = conn_new(h);
  if (!c)
    return -ENOMEM;
  set_addr(c, addr);
  c->outgoing = 1;
  memcpy(c->info_hash, info_hash, 20);
  int rc = how->tcp ? sh_tcp_connect(h->loop, addr, tflags, &sh_conn_transport_cb, c, &c->tr)
                    : -EAFNOSUPPORT;
  if (how->utp) {
    /* with TCP under way, uTP dials beside it as the other dial */
    struct sh_transport *t = NULL;
    int urc = sh_utp_ep_dial(how->utp, addr, c->tr ? &sh_conn_alt_cb : &sh_conn_transport_cb, c,
                             &t);
    if (urc == 0 && c->tr) {
      c->alt = t;
      sh_conn_ref(c); /* each transport holds one */
    } else if (urc == 0) {
      c->tr = t;
      rc = 0;
    } else if (!c->tr) {
      rc = urc;
    }
  }
  if (rc < 0 && !c->tr) {
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
  c->over_utp = is_utp(tr);
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

/* ---- encryption ---- */

static int hub_find_skey(void *ud, const uint8_t req2[20], uint8_t skey[20])
{
  struct sh_hub *h = ud;
  return h->cb->find_skey ? h->cb->find_skey(h->ud, req2, skey) : -1;
}

static struct sh_mse_opts mse_opts(struct sh_hub *h)
{
  struct sh_mse_opts o = {.loop = h->loop,
                          .policy = h->o.encryption == SH_MSE_REQUIRE ? SH_MSE_REQUIRE
                                                                     : SH_MSE_PREFER,
                          .find_skey = hub_find_skey,
                          .ud = h};
  return o;
}

/* Wraps the connected transport in MSE, our handshake held until it is
 * done; reading restarts on the wrapper. */
static int wrap_mse(struct sh_conn *c)
{
  if (c->reading) {
    c->tr->ops->read_stop(c->tr);
    c->reading = 0;
  }
  struct sh_mse_opts o = mse_opts(c->hub);
  struct sh_transport *m;
  int rc = sh_mse_dial(c->tr, 1, c->info_hash, &o, &m);
  if (rc == 0) {
    c->tr = m;
    c->enc = SH_CONN_ENC_PENDING;
  }
  sh_conn_read_start(c);
  return rc;
}

int sh_conn_encrypt(struct sh_conn *c)
{
  if (!c->outgoing || c->enc || c->enc_wanted || !c->tr ||
      (c->state != SH_CONN_CONNECTING && c->state != SH_CONN_HANDSHAKE))
    return -EINVAL;
  c->enc_wanted = 1;
  return c->state == SH_CONN_HANDSHAKE ? wrap_mse(c) : 0;
}

/* An incoming connection's first bytes: a plaintext handshake starts with
 * 19 and "BitTorrent protocol"; anything else is taken for MSE's Ya (96
 * random bytes). Four bytes decide: a key starts with 19 "Bit" once in
 * 2^32, and a client whose protocol string is wrong further on is told so
 * at once ("bad handshake") rather than kept waiting for a key until the
 * handshake timeout. Returns 1 to go on with plaintext, 0 to wait (for
 * more bytes, or for MSE to finish: the bytes read so far are its), -1
 * once the connection is closing. */
static int sniff(struct sh_conn *c)
{
  static const uint8_t proto[4] = {19, 'B', 'i', 't'};
  size_t n = c->rlen < sizeof proto ? c->rlen : sizeof proto;
  enum sh_mse_policy policy = c->hub->o.encryption;
  if (!memcmp(c->rbuf, proto, n)) {
    if (n < sizeof proto)
      return 0;
    c->sniffed = 1;
    if (policy != SH_MSE_REQUIRE)
      return 1;
    sh_conn_close(c, "plaintext handshake refused: encryption is required");
    return -1;
  }
  c->sniffed = 1;
  if (policy == SH_MSE_OFF || !c->hub->cb->find_skey) {
    sh_conn_close(c, "bad handshake: not BitTorrent, and encrypted handshakes are off");
    return -1;
  }
  struct sh_mse_opts o = mse_opts(c->hub);
  struct sh_transport *m;
  const char *why = "out of memory";
  if (sh_mse_accept(c->tr, c->rbuf, c->rlen, &o, &m, &why) < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "encrypted handshake failed: %s", why);
    sh_conn_close(c, msg);
    return -1;
  }
  c->tr = m;
  c->rlen = 0;
  c->enc = SH_CONN_ENC_PENDING;
  return 0;
}

/* An encrypted connection whose MSE handshake is done: which method. */
static void settle_enc(struct sh_conn *c)
{
  uint32_t m = c->enc == SH_CONN_ENC_PENDING && c->tr ? sh_mse_method(c->tr) : 0;
  if (m)
    c->enc = m == SH_MSE_RC4 ? SH_CONN_ENC_RC4 : SH_CONN_ENC_HEADER;
}

/* The peer's handshake came through MSE: which method, and did the key
 * (SKEY) name the torrent the handshake names? */
static int encryption_done(struct sh_conn *c, const struct sh_handshake *hs)
{
  settle_enc(c);
  if (!c->outgoing && memcmp(hs->info_hash, sh_mse_info_hash(c->tr), 20)) {
    sh_conn_close(c, "encrypted handshake: the handshake names another torrent than the key");
    return -1;
  }
  sh_info("peer %s: encrypted (%s)", c->name,
          c->enc == SH_CONN_ENC_RC4 ? "RC4" : "the handshake only, then plaintext");
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
  if (c->enc == SH_CONN_ENC_PENDING && encryption_done(c, &hs) < 0)
    return -1;
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
  drop_alt(c); /* this one works: the other dial is not needed */
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
  if (c->state == SH_CONN_HANDSHAKE && !c->outgoing && !c->sniffed && sniff(c) <= 0)
    return;
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
