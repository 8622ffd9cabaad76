/* Peer connections, the writing half: batches of small messages and
 * blocks, written to the socket in order by conn.c's own sendmsg/sendfile
 * calls (see conn.h for why the uv_tcp_t only reads). */
#include "peer/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "disk/io.h"
#include "session_int.h"
#include "torrent.h"

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

static void on_wpoll_close(uv_handle_t *h)
{
  struct sh_peer *p = h->data;
  uv_os_fd_t fd;
  if (uv_fileno(h, &fd) == 0)
    close(fd);
  free(h);
  sh_conn_unref(p);
}

void sh_conn_write_free(struct sh_peer *p)
{
  batch_free(p->cur);
  p->cur = NULL;
  wq_clear(p);
}

void sh_conn_write_stop(struct sh_peer *p)
{
  sh_conn_write_free(p);
  if (p->wpoll) {
    /* the duplicate descriptor is closed in on_wpoll_close */
    uv_close((uv_handle_t *)p->wpoll, on_wpoll_close);
    p->wpoll = NULL;
    p->wpolling = 0;
  }
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

ssize_t (*sh_conn_sendfile)(int out_fd, int in_fd, off_t *offset, size_t count) = sendfile;

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
    ssize_t n = sh_conn_sendfile(fd, sg->fd, &off, sg->len - b->done);
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
