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
 * Why conn.c writes the socket itself: a libuv stream copies nothing but
 * cannot sendfile, and a 1 GiB upload through pread + write cost the seed
 * two copies per byte (~30 % of its CPU). The uv_tcp_t keeps reading (and
 * connect/accept/close); writes go out here, in order, as far as the socket
 * takes them, and a uv_poll_t on a dup() of the descriptor reports when a
 * full socket drains. The duplicate has its own epoll registration, so the
 * two handles never share a watcher, and libuv's stream never writes. */
#include "peer/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

static void batch_free(struct sh_wbatch *b)
{
  if (!b)
    return;
  for (size_t i = 0; i < b->nsegs; i++) {
    if (b->segs[i].ref)
      sh_disk_ref_release(b->segs[i].ref);
    free(b->segs[i].own);
  }
  sh_buf_free(&b->small);
  free(b->segs);
  free(b);
}

/* Drops everything flushed but not written (the peer is going away). */
static void wq_clear(struct sh_peer *p)
{
  while (p->wq_head) {
    struct sh_wbatch *b = p->wq_head;
    p->wq_head = b->next;
    batch_free(b);
  }
  p->wq_tail = NULL;
  p->queued = 0;
}

static void peer_free(struct sh_peer *p)
{
  batch_free(p->cur);
  wq_clear(p);
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

static void on_wpoll_close(uv_handle_t *h)
{
  struct sh_peer *p = h->data;
  uv_os_fd_t fd;
  if (uv_fileno(h, &fd) == 0)
    close(fd);
  free(h);
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
  batch_free(p->cur);
  p->cur = NULL;
  wq_clear(p);
  p->n_in = 0;
  if (p->reading)
    uv_read_stop((uv_stream_t *)&p->tcp);
  p->reading = 0;
  if (p->wpoll) {
    /* before the socket closes: the duplicate is closed in on_wpoll_close */
    uv_close((uv_handle_t *)p->wpoll, on_wpoll_close);
    p->wpoll = NULL;
    p->wpolling = 0;
  }
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

/* ---- writing ---- */

static struct sh_wbatch *batch_get(struct sh_peer *p)
{
  if (p->cur)
    return p->cur;
  struct sh_wbatch *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  p->cur = b;
  return b;
}

static int seg_push(struct sh_wbatch *b, const uint8_t *data, struct sh_disk_ref *ref,
                    uint32_t off, uint32_t len)
{
  if (b->nsegs == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    struct sh_seg *ns = realloc(b->segs, cap * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    b->segs = ns;
    b->cap = cap;
  }
  b->segs[b->nsegs++] = (struct sh_seg){.data = data, .ref = ref, .off = off, .len = len};
  return 0;
}

static void mark_dirty(struct sh_peer *p)
{
  if (!p->dirty) {
    p->dirty = 1;
    sh_session_mark_dirty(p->sess, p);
  }
}

struct sh_buf *sh_conn_msgbuf(struct sh_peer *p)
{
  if (p->state == SH_CONN_CLOSING || p->state == SH_CONN_CONNECTING)
    return NULL;
  struct sh_wbatch *b = batch_get(p);
  if (!b)
    return NULL;
  mark_dirty(p);
  return &b->small;
}

/* A static run of zeros for the parts of blocks in BEP 47 padding files,
 * which are never on disk. */
static const uint8_t zeros[16384];

void sh_conn_send_block(struct sh_peer *p, uint32_t piece, uint32_t begin, uint32_t len,
                        const uint8_t *data, struct sh_disk_ref *ref)
{
  struct sh_wbatch *b = p->state == SH_CONN_ACTIVE ? batch_get(p) : NULL;
  if (!b) {
    if (ref)
      sh_disk_ref_release(ref);
    return;
  }
  /* A block of a piece kept for sendfile: where its bytes lie on disk. */
  struct sh_extent ext[SH_DISK_MAX_EXTENTS];
  int next = 0;
  if (!data) {
    next = ref ? sh_disk_ref_extents(ref, begin, len, ext, SH_DISK_MAX_EXTENTS) : -EINVAL;
    if (next <= 0) {
      if (ref)
        sh_disk_ref_release(ref);
      sh_conn_close(p, "internal error: a block with no bytes to send");
      return;
    }
  }
  uint8_t hdr[13];
  sh_wire_piece_header(hdr, piece, begin, len);
  sh_buf_append(&b->small, hdr, sizeof hdr);
  int rc = b->small.oom ? -ENOMEM
                        : seg_push(b, NULL, NULL, (uint32_t)b->small_mark,
                                   (uint32_t)(b->small.len - b->small_mark));
  if (data && rc == 0)
    rc = seg_push(b, data, ref, 0, len);
  for (int i = 0; i < next && rc == 0; i++) {
    if (ext[i].fd >= 0) {
      rc = seg_push(b, NULL, NULL, 0, ext[i].len);
      if (rc == 0) {
        struct sh_seg *sg = &b->segs[b->nsegs - 1];
        sg->file = 1;
        b->files++;
        sg->fd = ext[i].fd;
        sg->foff = ext[i].off;
      }
    } else {
      for (uint32_t z = 0; z < ext[i].len && rc == 0; z += sizeof zeros) {
        uint32_t n = ext[i].len - z < sizeof zeros ? ext[i].len - z : (uint32_t)sizeof zeros;
        rc = seg_push(b, zeros, NULL, 0, n);
      }
    }
  }
  if (rc < 0) {
    if (ref)
      sh_disk_ref_release(ref);
    sh_conn_close(p, "out of memory queueing a block");
    return;
  }
  if (!data)
    b->segs[b->nsegs - 1].ref = ref; /* pins the descriptors until written */
  b->small_mark = b->small.len;
  b->bytes += len;
  mark_dirty(p);
}

static void pump(struct sh_peer *p);

static void on_writable(uv_poll_t *h, int status, int events)
{
  struct sh_peer *p = h->data;
  (void)events;
  if (p->state == SH_CONN_CLOSING)
    return;
  if (status < 0) {
    char why[128];
    snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
    sh_conn_close(p, why);
    return;
  }
  pump(p);
}

/* Waits for the socket to take more (on), or stops waiting. */
static int want_writable(struct sh_peer *p, int on)
{
  if (on == p->wpolling)
    return 0;
  if (on && !p->wpoll) {
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)&p->tcp, &fd);
    if (rc < 0)
      return rc;
    int dfd = dup(fd);
    if (dfd < 0)
      return -errno;
    uv_poll_t *h = malloc(sizeof *h);
    if (!h) {
      close(dfd);
      return -ENOMEM;
    }
    rc = uv_poll_init_socket(p->sess->loop, h, dfd);
    if (rc < 0) {
      free(h);
      close(dfd);
      return rc;
    }
    h->data = p;
    p->wpoll = h;
    sh_conn_ref(p); /* dropped in on_wpoll_close */
  }
  int rc = on ? uv_poll_start(p->wpoll, UV_WRITABLE, on_writable) : uv_poll_stop(p->wpoll);
  if (rc == 0)
    p->wpolling = on;
  return rc;
}

/* sendfile cannot send this file (EINVAL: a file system without splice
 * support; ENOSYS): the rest of the segment is read into memory, which
 * does not wait on the disk since the pool made the pages resident, and
 * the torrent serves new pieces from memory from now on. */
static int seg_to_memory(struct sh_peer *p, struct sh_seg *sg, uint32_t done)
{
  uint8_t *m = malloc(sg->len);
  if (!m)
    return -ENOMEM;
  size_t got = done;
  while (got < sg->len) {
    ssize_t r = pread(sg->fd, m + got, sg->len - got, (off_t)(sg->foff + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      free(m);
      return r < 0 ? -errno : SH_EINCOMPLETE;
    }
    got += (size_t)r;
  }
  sg->own = m;
  sg->data = m;
  sg->file = 0;
  if (p->tor && p->tor->disk)
    sh_disk_no_sendfile(p->tor->disk);
  sh_info("peer %s: sendfile unsupported for this file, sending from memory", p->name);
  return 0;
}

/* One system call's worth: a sendfile for a file segment, else one
 * sendmsg of up to 64 consecutive memory segments. Returns bytes written or
 * -errno. */
static ssize_t write_some(struct sh_peer *p, int fd, struct sh_wbatch *b)
{
  struct sh_seg *sg = &b->segs[b->pos];
  if (sg->file) {
    off_t off = (off_t)(sg->foff + b->done);
    ssize_t n = sendfile(fd, sg->fd, &off, sg->len - b->done);
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
      int rc = seg_to_memory(p, sg, b->done);
      if (rc < 0)
        return rc;
      return write_some(p, fd, b);
    }
    if (n == 0)
      return SH_EINCOMPLETE; /* the file shrank under us */
    return n < 0 ? -errno : n;
  }
  struct iovec iov[64];
  int cnt = 0, more = 0;
  size_t i;
  for (i = b->pos; i < b->nsegs && cnt < 64 && !b->segs[i].file; i++) {
    const struct sh_seg *x = &b->segs[i];
    const uint8_t *base = x->data ? x->data : b->small.data + x->off;
    uint32_t skip = i == b->pos ? b->done : 0;
    iov[cnt].iov_base = (void *)(base + skip);
    iov[cnt].iov_len = x->len - skip;
    cnt++;
  }
  /* A piece header right before a sendfile: MSG_MORE holds it back so it
   * leaves in one packet with its payload, not as a 13-byte packet of its
   * own (TCP_NODELAY is on). */
  more = i < b->nsegs && b->segs[i].file;
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
  /* MSG_NOSIGNAL: a peer that hung up gets EPIPE, not a process-wide signal */
  ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
  return n < 0 ? -errno : n;
}

/* Writes queued batches in order until the socket is full or all is sent.
 * A fully written batch releases its cache pins, and then the torrent may
 * serve more requests (the watermark has room again). */
static void pump(struct sh_peer *p)
{
  if (p->pumping || p->state == SH_CONN_CLOSING)
    return;
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&p->tcp, &fd) < 0)
    return;
  p->pumping = 1;
  sh_conn_ref(p);
  int completed = 0, full = 0;
  while (p->wq_head && p->state != SH_CONN_CLOSING) {
    struct sh_wbatch *b = p->wq_head;
    if (b->pos == b->nsegs) {
      p->wq_head = b->next;
      if (!p->wq_head)
        p->wq_tail = NULL;
      p->queued -= b->total;
      batch_free(b);
      completed = 1;
      continue;
    }
    if (b->segs[b->pos].len == b->done) {
      b->pos++;
      b->done = 0;
      continue;
    }
    ssize_t n = write_some(p, fd, b);
    if (n == -EINTR)
      continue;
    if (n == -EAGAIN || n == -EWOULDBLOCK) {
      full = 1;
      break;
    }
    if (n < 0) {
      char why[128];
      snprintf(why, sizeof why, "write failed: %s", sh_strerror((int)n));
      sh_conn_close(p, why);
      break;
    }
    p->last_send_ms = sh_now(p->sess);
    size_t left = (size_t)n;
    while (left) {
      uint32_t rest = b->segs[b->pos].len - b->done;
      if (left < rest) {
        b->done += (uint32_t)left;
        break;
      }
      left -= rest;
      b->pos++;
      b->done = 0;
    }
  }
  p->pumping = 0;
  if (p->state != SH_CONN_CLOSING) {
    int rc = want_writable(p, full);
    if (rc < 0) {
      char why[128];
      snprintf(why, sizeof why, "cannot wait for the socket: %s", sh_strerror(rc));
      sh_conn_close(p, why);
    } else if (completed && p->state == SH_CONN_ACTIVE && p->tor) {
      sh_tpeer_serve(p);
    }
  }
  sh_conn_unref(p);
}

void sh_conn_flush(struct sh_peer *p)
{
  struct sh_wbatch *b = p->cur;
  if (!b || p->state == SH_CONN_CLOSING || p->state == SH_CONN_CONNECTING)
    return;
  p->cur = NULL;
  if (b->small.len > b->small_mark &&
      seg_push(b, NULL, NULL, (uint32_t)b->small_mark, (uint32_t)(b->small.len - b->small_mark)) <
          0) {
    batch_free(b);
    sh_conn_close(p, "out of memory queueing messages");
    return;
  }
  if (b->small.oom) {
    batch_free(b);
    sh_conn_close(p, "out of memory queueing messages");
    return;
  }
  if (!b->nsegs) {
    batch_free(b);
    return;
  }
  b->total = 0;
  for (size_t i = 0; i < b->nsegs; i++)
    b->total += b->segs[i].len;
  if (p->wq_tail)
    p->wq_tail->next = b;
  else
    p->wq_head = b;
  p->wq_tail = b;
  p->queued += b->total;
  p->last_send_ms = sh_now(p->sess);
  pump(p);
}

size_t sh_conn_backlog(const struct sh_peer *p)
{
  size_t n = p->queued;
  if (p->cur)
    n += p->cur->bytes + p->cur->small.len;
  return n;
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
