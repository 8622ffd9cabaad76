/* Peer connections: sockets, handshake, framing, batched writes.
 *
 * Reads land in one reused 256 KiB buffer; the codec splits frames in place
 * and the handlers copy a block straight into its piece buffer, so payload
 * is copied once between the kernel and the hash. Writes are collected per
 * connection and submitted once per loop iteration (the session's prepare
 * handle), so the ~16 HAVE/REQUEST messages a read produces leave in one
 * sendmsg, and a block leaves as a 13-byte header plus either a sendfile(2)
 * of its bytes from the page cache (the disk pool has made them resident) or
 * the pinned cache entry, without a copy in this process either way.
 *
 * Why the socket is written here (conn_write.c), not by libuv: a libuv
 * stream cannot sendfile, and a 1 GiB upload through pread + write cost the
 * seed two copies per byte (~30 % of its CPU). The uv_tcp_t keeps reading
 * (and connect/accept/close); writes go out in order, as far as the socket
 * takes them, and a uv_poll_t on a dup() of the descriptor reports when a
 * full socket drains. The duplicate has its own epoll registration, so the
 * two handles never share a watcher, and libuv's stream never writes. */
#include "peer/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "meta/metainfo.h"
#include "session_int.h"
#include "torrent.h"

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static struct sh_peer *peer_new(struct shoal_session *s)
{
  struct sh_peer *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->rbuf = malloc(SH_CONN_RBUF);
  if (!p->rbuf) {
    free(p);
    return NULL;
  }
  p->rcap = SH_CONN_RBUF;
  if (uv_tcp_init(s->loop, &p->tcp) < 0) {
    free(p->rbuf);
    free(p);
    return NULL;
  }
  p->tcp.data = p;
  p->sess = s;
  p->refs = 1; /* the handle's own reference, dropped in its close callback */
  p->am_choking = p->peer_choking = 1;
  p->reqq = 250; /* BEP 10: libtorrent's default when `reqq` is absent */
  /* Start deep: on loopback a 2 MiB window (128 blocks) is what 1 GB/s
   * needs at ~2 ms of queueing; the tick adapts it to the measured rate. */
  p->depth = 128;
  p->connected_ms = p->last_recv_ms = p->last_send_ms = sh_now(s);
  sh_session_peer_add(s, p);
  return p;
}

static void peer_free(struct sh_peer *p)
{
  sh_conn_write_free(p);
  free(p->rbuf);
  free(p->bf);
  free(p->out);
  free(p->in);
  sh_session_peer_remove(p->sess, p);
  free(p);
}

void sh_conn_ref(struct sh_peer *p) { p->refs++; }

struct sh_addr sh_conn_identity(const struct sh_peer *p)
{
  struct sh_addr a = p->addr;
  if (!p->outgoing && p->listen_port)
    a.port = p->listen_port;
  return a;
}

void sh_conn_unref(struct sh_peer *p)
{
  if (--p->refs == 0)
    peer_free(p);
}

static void on_close(uv_handle_t *h)
{
  struct sh_peer *p = h->data;
  p->handle_closed = 1;
  sh_conn_unref(p);
}

void sh_conn_close(struct sh_peer *p, const char *why)
{
  if (p->state == SH_CONN_CLOSING)
    return;
  enum sh_conn_state was = p->state;
  p->state = SH_CONN_CLOSING;
  sh_info("peer %s: closing: %s", p->name, why);
  struct shoal_torrent *t = p->tor;
  if (t && was == SH_CONN_ACTIVE) {
    sh_tpeer_detach(t, p);
  } else if (t && p->outgoing) {
    /* a dial that never reached the handshake */
    t->connecting--;
    sh_peers_done(&t->plist, &p->addr, 1, sh_now(p->sess));
  }
  /* Upload reads still in flight finish into the void (their callbacks
   * release the cache pins); unsent messages are dropped. */
  for (int i = 0; i < SH_CONN_MAX_READS; i++)
    if (p->up[i].in_use)
      p->up[i].cancelled = 1;
  sh_conn_write_stop(p); /* before the socket closes */
  p->n_in = 0;
  if (p->reading)
    uv_read_stop((uv_stream_t *)&p->tcp);
  p->reading = 0;
  uv_close((uv_handle_t *)&p->tcp, on_close);
}

static void start_reading(struct sh_peer *p)
{
  if (p->reading || p->throttled || p->state == SH_CONN_CLOSING)
    return;
  if (uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, on_read) == 0)
    p->reading = 1;
}

void sh_conn_pause(struct sh_peer *p)
{
  p->throttled = 1;
  if (p->reading)
    uv_read_stop((uv_stream_t *)&p->tcp);
  p->reading = 0;
}

void sh_conn_resume(struct sh_peer *p)
{
  p->throttled = 0;
  start_reading(p);
}

static void on_connect(uv_connect_t *req, int status)
{
  struct sh_peer *p = req->data;
  if (p->state == SH_CONN_CLOSING) {
    sh_conn_unref(p);
    return;
  }
  if (status < 0) {
    char why[128];
    snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
    sh_conn_close(p, why);
    sh_conn_unref(p);
    return;
  }
  p->state = SH_CONN_HANDSHAKE;
  p->connected_ms = p->last_recv_ms = sh_now(p->sess);
  uv_tcp_nodelay(&p->tcp, 1);
  sh_conn_send_handshake(p);
  start_reading(p);
  sh_conn_unref(p);
}

int sh_conn_connect(struct shoal_session *s, struct shoal_torrent *t, const struct sh_addr *addr,
                    struct sh_peer **out)
{
  struct sh_peer *p = peer_new(s);
  if (!p)
    return -ENOMEM;
  p->tor = t;
  p->addr = *addr;
  p->outgoing = 1;
  sh_addr_str(addr, p->name, sizeof p->name);
  struct sockaddr_storage ss;
  sh_addr_to_sockaddr(addr, &ss);
  p->connect_req.data = p;
  int rc = uv_tcp_connect(&p->connect_req, &p->tcp, (const struct sockaddr *)&ss, on_connect);
  if (rc < 0) {
    /* not yet counted as a dial: close quietly */
    p->tor = NULL;
    p->state = SH_CONN_CLOSING;
    uv_close((uv_handle_t *)&p->tcp, on_close);
    return rc;
  }
  sh_conn_ref(p); /* held by the connect request */
  t->connecting++;
  if (out)
    *out = p;
  return 0;
}

int sh_conn_accept(struct shoal_session *s, uv_stream_t *server)
{
  struct sh_peer *p = peer_new(s);
  if (!p) {
    sh_warn("cannot accept a connection: out of memory");
    return -ENOMEM;
  }
  strcpy(p->name, "incoming");
  int rc = uv_accept(server, (uv_stream_t *)&p->tcp);
  if (rc < 0) {
    sh_conn_close(p, uv_strerror(rc));
    return rc;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) == 0 &&
      sh_addr_from_sockaddr(&p->addr, (struct sockaddr *)&ss) == 0)
    sh_addr_str(&p->addr, p->name, sizeof p->name);
  p->state = SH_CONN_HANDSHAKE;
  if (sh_bans_is_banned(&s->bans, &p->addr)) {
    sh_conn_close(p, "banned address");
    return SH_EBANNED;
  }
  if (s->closing) {
    sh_conn_close(p, "session is closing");
    return -ECANCELED;
  }
  /* Connections still in their handshake count too: a flood of silent
   * sockets would otherwise hold memory (256 KiB each) for 20 s apiece. */
  if (s->npeers > 2 * (size_t)s->set.max_peers_total) {
    sh_conn_close(p, "too many connections");
    return SH_ELIMIT;
  }
  uv_tcp_nodelay(&p->tcp, 1);
  start_reading(p);
  return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  struct sh_peer *p = h->data;
  if (p->rlen == p->rcap) {
    /* A frame larger than the buffer: its length was checked against the
     * limit before we got here, so growing to hold it is bounded. */
    size_t need = p->rcap * 2;
    if (p->rlen >= 4) {
      size_t frame = 4 + (size_t)sh_rd32(p->rbuf);
      if (frame > need)
        need = frame;
    }
    uint8_t *nb = realloc(p->rbuf, need);
    if (!nb) {
      buf->base = NULL;
      buf->len = 0;
      return;
    }
    p->rbuf = nb;
    p->rcap = need;
  }
  /* The download limit bounds what one read may take; the unused part is
   * refunded in on_read. Unlimited, this grants the whole space. */
  struct shoal_session *s = p->sess;
  size_t space = p->rcap - p->rlen;
  size_t grant = (size_t)sh_ratelimit_take(&s->down, sh_now(s), space);
  if (!grant)
    grant = 1; /* another peer drained the bucket in this iteration */
  p->rl_grant = grant;
  buf->base = (char *)p->rbuf + p->rlen;
  buf->len = grant;
}

/* The largest frame a peer may send us: a 16 KiB block (we never ask for
 * more) plus its 9-byte header, the bitfield, or a 64 KiB extension message
 * (BEP 10 handshakes are a few hundred bytes; BEP 9 pieces 16 KiB). */
static uint32_t max_frame(const struct sh_peer *p)
{
  uint32_t m = SH_BLOCK_SIZE + 9;
  if (p->tor) {
    uint32_t bf = 1 + (uint32_t)SH_BF_BYTES(p->tor->m->num_pieces);
    if (bf > m)
      m = bf;
  }
  return m > 65536 ? m : 65536;
}

/* A peer on this host: a loopback address, or our own address at the other
 * end (a connection to the machine's own IP runs over loopback too). */
static int on_this_host(struct sh_peer *p)
{
  if (sh_addr_is_loopback(&p->addr))
    return 1;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  struct sh_addr me;
  return uv_tcp_getsockname(&p->tcp, (struct sockaddr *)&ss, &len) == 0 &&
         sh_addr_from_sockaddr(&me, (struct sockaddr *)&ss) == 0 && sh_addr_same_ip(&me, &p->addr);
}

static int process_handshake(struct sh_peer *p, size_t *off)
{
  struct sh_handshake hs;
  const char *why = NULL;
  int rc = sh_wire_handshake_decode(p->rbuf, p->rlen, &hs, &why);
  if (rc == 0)
    return 0;
  if (rc < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "bad handshake: %s", why ? why : "malformed");
    sh_conn_close(p, msg);
    return -1;
  }
  *off = (size_t)rc;
  memcpy(p->peer_id, hs.peer_id, 20);
  p->fast = !!(hs.reserved[SH_RESERVED_FAST_BYTE] & SH_RESERVED_FAST_BIT);
  p->extended = !!(hs.reserved[SH_RESERVED_EXTENDED_BYTE] & SH_RESERVED_EXTENDED_BIT);
  if (!memcmp(hs.peer_id, p->sess->peer_id, 20)) {
    if (p->tor && p->outgoing)
      sh_peers_remove(&p->tor->plist, &p->addr);
    sh_conn_close(p, "connected to ourselves");
    return -1;
  }
  if (p->outgoing) {
    if (memcmp(hs.info_hash, p->tor->m->info_hash, 20)) {
      sh_conn_close(p, "handshake names another torrent (wrong info-hash)");
      return -1;
    }
  } else {
    struct shoal_torrent *t = sh_torrent_find(p->sess, hs.info_hash);
    if (!t) {
      sh_conn_close(p, "handshake names an unknown info-hash");
      return -1;
    }
    p->tor = t;
    const char *rwhy = NULL;
    if (sh_session_route(p->sess, p, &rwhy) < 0) {
      p->tor = NULL;
      sh_conn_close(p, rwhy ? rwhy : "refused");
      return -1;
    }
    sh_conn_send_handshake(p);
  }
  const char *awhy = NULL;
  if (sh_tpeer_attach(p->tor, p, &awhy) < 0) {
    if (!p->outgoing)
      p->tor = NULL;
    sh_conn_close(p, awhy ? awhy : "refused by the torrent");
    return -1;
  }
  p->local = on_this_host(p);
  p->state = SH_CONN_ACTIVE;
  return 1;
}

static void process(struct sh_peer *p)
{
  size_t off = 0;
  if (p->state == SH_CONN_HANDSHAKE) {
    int rc = process_handshake(p, &off);
    if (rc <= 0)
      return;
  }
  uint32_t maxlen = max_frame(p);
  while (p->state == SH_CONN_ACTIVE) {
    size_t avail = p->rlen - off;
    if (avail >= 4 && sh_rd32(p->rbuf + off) > maxlen) {
      char msg[128];
      snprintf(msg, sizeof msg, "message of %u bytes exceeds the %u-byte limit",
               sh_rd32(p->rbuf + off), maxlen);
      sh_conn_close(p, msg);
      return;
    }
    struct sh_msg m;
    const char *why = NULL;
    int rc = sh_wire_decode(p->rbuf + off, avail, maxlen, &m, &why);
    if (rc == 0)
      break;
    if (rc < 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "protocol error: %s", why ? why : "malformed message");
      sh_conn_close(p, msg);
      return;
    }
    off += (size_t)rc;
    why = NULL;
    if (sh_tpeer_msg(p, &m, &why) < 0) {
      sh_conn_close(p, why ? why : "protocol error");
      return;
    }
  }
  if (p->state == SH_CONN_CLOSING)
    return;
  if (off) {
    memmove(p->rbuf, p->rbuf + off, p->rlen - off);
    p->rlen -= off;
  }
  /* A grown buffer (one huge bitfield) shrinks back once it is empty. */
  if (p->rcap > SH_CONN_RBUF && p->rlen <= SH_CONN_RBUF) {
    uint8_t *nb = realloc(p->rbuf, SH_CONN_RBUF);
    if (nb) {
      p->rbuf = nb;
      p->rcap = SH_CONN_RBUF;
    }
  }
  if (p->tor && p->state == SH_CONN_ACTIVE)
    sh_tpeer_fill(p);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  struct sh_peer *p = st->data;
  struct shoal_session *s = p->sess;
  size_t used = nread > 0 ? (size_t)nread : 0;
  if (p->rl_grant > used)
    sh_ratelimit_refund(&s->down, p->rl_grant - used);
  p->rl_grant = 0;
  if (p->state == SH_CONN_CLOSING)
    return;
  if (nread == UV_ENOBUFS) {
    sh_conn_close(p, "out of memory for the read buffer");
    return;
  }
  if (nread < 0) {
    sh_conn_close(p, nread == UV_EOF ? "connection closed by the peer" : uv_strerror((int)nread));
    return;
  }
  if (nread == 0)
    return;
  p->rlen += (size_t)nread;
  p->last_recv_ms = sh_now(p->sess);
  sh_conn_ref(p);
  process(p);
  /* Out of download tokens: stop reading until at least a block's worth
   * has refilled, so the kernel's receive window does the throttling. */
  if (p->state != SH_CONN_CLOSING && s->down.rate &&
      sh_ratelimit_wait_ms(&s->down, sh_now(s), SH_BLOCK_SIZE) > 0) {
    sh_conn_pause(p);
    sh_session_rl_wait(s, p, 0);
  }
  sh_conn_unref(p);
}

void sh_conn_send_handshake(struct sh_peer *p)
{
  struct sh_buf *b = sh_conn_msgbuf(p);
  if (!b)
    return;
  struct sh_handshake hs;
  memset(&hs, 0, sizeof hs);
  hs.reserved[SH_RESERVED_EXTENDED_BYTE] |= SH_RESERVED_EXTENDED_BIT;
  hs.reserved[SH_RESERVED_FAST_BYTE] |= SH_RESERVED_FAST_BIT;
  memcpy(hs.info_hash, p->tor->m->info_hash, 20);
  memcpy(hs.peer_id, p->sess->peer_id, 20);
  uint8_t out[SH_HANDSHAKE_LEN];
  sh_wire_handshake_encode(out, &hs);
  sh_buf_append(b, out, sizeof out);
}
