/* Peer connections, the writing half: batches of small messages and
 * blocks, written to the transport in order, as far as it takes them.
 * A block leaves as a 13-byte header plus either a sendfile of its bytes
 * from the page cache or the pinned memory it lives in, without a copy in
 * this process either way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "peer/conn.h"
#include "base/vec.h"

static void batch_free(struct sh_wbatch *b)
{
  if (!b)
    return;
  for (size_t i = 0; i < b->nsegs; i++) {
    if (b->segs[i].release)
      b->segs[i].release(b->segs[i].pin);
    free(b->segs[i].own);
  }
  sh_buf_free(&b->small);
  free(b->segs);
  free(b);
}

void sh_conn_write_free(struct sh_conn *c)
{
  batch_free(c->cur);
  c->cur = NULL;
  while (c->wq_head) {
    struct sh_wbatch *b = c->wq_head;
    c->wq_head = b->next;
    batch_free(b);
  }
  c->wq_tail = NULL;
  c->queued = 0;
}

static struct sh_wbatch *batch_get(struct sh_conn *c)
{
  if (c->cur)
    return c->cur;
  struct sh_wbatch *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  c->cur = b;
  return b;
}

static struct sh_seg *seg_push(struct sh_wbatch *b)
{
  if (sh_vec_reserve(b->segs, b->cap, b->nsegs + 1, 16, SIZE_MAX) < 0)
    return NULL;
  struct sh_seg *sg = &b->segs[b->nsegs++];
  memset(sg, 0, sizeof *sg);
  sg->fd = -1;
  return sg;
}

/* The small bytes appended since the last segment become one segment. */
static int seg_small(struct sh_wbatch *b)
{
  if (b->small.len == b->small_mark)
    return 0;
  struct sh_seg *sg = b->small.oom ? NULL : seg_push(b);
  if (!sg)
    return -ENOMEM;
  sg->off = (uint32_t)b->small_mark;
  sg->len = (uint32_t)(b->small.len - b->small_mark);
  b->small_mark = b->small.len;
  return 0;
}

static void mark_dirty(struct sh_conn *c)
{
  if (c->dirty)
    return;
  c->dirty = 1;
  if (sh_hub_mark_dirty(c->hub, c) < 0) {
    c->dirty = 0;
    sh_conn_flush(c); /* cannot batch: send now */
  }
}

struct sh_buf *sh_conn_msgbuf(struct sh_conn *c)
{
  if (c->state == SH_CONN_CLOSING || c->state == SH_CONN_CONNECTING)
    return NULL;
  struct sh_wbatch *b = batch_get(c);
  if (!b)
    return NULL;
  mark_dirty(c);
  return &b->small;
}

/* A static run of zeros for the parts of blocks in BEP 47 padding files,
 * which are never on disk. */
static const uint8_t zeros[16384];

static int push_extents(struct sh_wbatch *b, const struct sh_conn_block *blk)
{
  for (int i = 0; i < blk->next; i++) {
    const struct sh_conn_extent *e = &blk->ext[i];
    if (e->fd >= 0) {
      struct sh_seg *sg = seg_push(b);
      if (!sg)
        return -ENOMEM;
      sg->fd = e->fd;
      sg->foff = e->off;
      sg->len = e->len;
      continue;
    }
    for (uint32_t z = 0; z < e->len; z += sizeof zeros) {
      struct sh_seg *sg = seg_push(b);
      if (!sg)
        return -ENOMEM;
      sg->data = zeros;
      sg->len = e->len - z < sizeof zeros ? e->len - z : (uint32_t)sizeof zeros;
    }
  }
  return 0;
}

void sh_conn_send_block(struct sh_conn *c, uint32_t piece, uint32_t begin, uint32_t len,
                        const struct sh_conn_block *blk)
{
  struct sh_wbatch *b = c->state == SH_CONN_ACTIVE ? batch_get(c) : NULL;
  if (!b) {
    if (blk->release)
      blk->release(blk->pin);
    return;
  }
  uint8_t hdr[13];
  sh_wire_piece_header(hdr, piece, begin, len);
  sh_buf_append(&b->small, hdr, sizeof hdr);
  int rc = seg_small(b);
  if (rc == 0 && blk->data) {
    struct sh_seg *sg = seg_push(b);
    if (sg) {
      sg->data = blk->data;
      sg->len = len;
    } else {
      rc = -ENOMEM;
    }
  } else if (rc == 0) {
    rc = push_extents(b, blk);
  }
  if (rc < 0) {
    if (blk->release)
      blk->release(blk->pin);
    sh_conn_close(c, "out of memory queueing a block");
    return;
  }
  /* the last segment pins the memory or the descriptors until written */
  b->segs[b->nsegs - 1].release = blk->release;
  b->segs[b->nsegs - 1].pin = blk->pin;
  b->bytes += len;
  mark_dirty(c);
}

/* sendfile cannot send this file (EINVAL: a file system without splice
 * support; ENOSYS), or the transport has no sendfile: the rest of the
 * segment is read into memory, which does not wait on the disk since the
 * pool made the pages resident. */
static int seg_to_memory(struct sh_conn *c, struct sh_seg *sg, uint32_t done, int failed)
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
  sg->fd = -1;
  if (failed) {
    sh_info("peer %s: sendfile unsupported for this file, sending from memory", c->name);
    if (c->ud && c->hub->cb->on_sendfile_failed)
      c->hub->cb->on_sendfile_failed(c->ud, c);
  }
  return 0;
}

/* One transport call's worth: a sendfile for a file segment, else one
 * writev of up to 64 consecutive memory segments. Returns bytes written,
 * -EAGAIN, or another negative code. */
static ssize_t write_some(struct sh_conn *c, struct sh_wbatch *b)
{
  struct sh_transport *tr = c->tr;
  struct sh_seg *sg = &b->segs[b->pos];
  if (sg->fd >= 0) {
    if (!tr->ops->sendfile) {
      int rc = seg_to_memory(c, sg, b->done, 0);
      return rc < 0 ? rc : write_some(c, b);
    }
    ssize_t n = tr->ops->sendfile(tr, sg->fd, sg->foff + b->done, sg->len - b->done);
    if (n == -EINVAL || n == -ENOSYS) {
      int rc = seg_to_memory(c, sg, b->done, 1);
      return rc < 0 ? rc : write_some(c, b);
    }
    return n;
  }
  struct iovec iov[64];
  int cnt = 0;
  size_t i;
  for (i = b->pos; i < b->nsegs && cnt < 64 && b->segs[i].fd < 0; i++) {
    const struct sh_seg *x = &b->segs[i];
    const uint8_t *base = x->data ? x->data : b->small.data + x->off;
    uint32_t skip = i == b->pos ? b->done : 0;
    iov[cnt].iov_base = (void *)(base + skip);
    iov[cnt].iov_len = x->len - skip;
    cnt++;
  }
  /* a piece header right before a sendfile leaves with its payload */
  int more = i < b->nsegs && b->segs[i].fd >= 0;
  return tr->ops->writev(tr, iov, cnt, more);
}

static void advance(struct sh_wbatch *b, size_t n)
{
  while (n) {
    uint32_t rest = b->segs[b->pos].len - b->done;
    if (n < rest) {
      b->done += (uint32_t)n;
      return;
    }
    n -= rest;
    b->pos++;
    b->done = 0;
  }
}

/* Writes queued batches in order until the transport is full or all is
 * sent. A fully written batch releases its pins, and then the upper layer
 * may queue more (on_drained). */
void sh_conn_pump(struct sh_conn *c)
{
  if (c->pumping || c->state == SH_CONN_CLOSING || !c->tr)
    return;
  c->pumping = 1;
  sh_conn_ref(c);
  int completed = 0, full = 0;
  while (c->wq_head && c->state != SH_CONN_CLOSING) {
    struct sh_wbatch *b = c->wq_head;
    if (b->pos == b->nsegs) {
      c->wq_head = b->next;
      if (!c->wq_head)
        c->wq_tail = NULL;
      c->queued -= b->total;
      batch_free(b);
      completed = 1;
      continue;
    }
    if (b->segs[b->pos].len == b->done) {
      b->pos++;
      b->done = 0;
      continue;
    }
    ssize_t n = write_some(c, b);
    if (n == -EAGAIN) {
      full = 1;
      break;
    }
    if (n < 0) {
      char why[128];
      snprintf(why, sizeof why, "write failed: %s", sh_strerror((int)n));
      sh_conn_close(c, why);
      break;
    }
    c->last_send_ms = uv_now(c->hub->loop);
    c->written += (uint64_t)n;
    advance(b, (size_t)n);
  }
  c->pumping = 0;
  if (c->state != SH_CONN_CLOSING && full != c->wpolling) {
    int rc = c->tr->ops->poll_writable(c->tr, full);
    if (rc < 0) {
      char why[128];
      snprintf(why, sizeof why, "cannot wait for the transport: %s", sh_strerror(rc));
      sh_conn_close(c, why);
    }
    c->wpolling = full;
  }
  if (completed && c->state == SH_CONN_ACTIVE && c->ud)
    c->hub->cb->on_drained(c->ud, c);
  sh_conn_unref(c);
}

void sh_conn_flush(struct sh_conn *c)
{
  struct sh_wbatch *b = c->cur;
  if (!b || c->state == SH_CONN_CLOSING || c->state == SH_CONN_CONNECTING)
    return;
  c->cur = NULL;
  if (seg_small(b) < 0 || b->small.oom) {
    batch_free(b);
    sh_conn_close(c, "out of memory queueing messages");
    return;
  }
  if (!b->nsegs) {
    batch_free(b);
    return;
  }
  b->total = 0;
  for (size_t i = 0; i < b->nsegs; i++)
    b->total += b->segs[i].len;
  if (c->wq_tail)
    c->wq_tail->next = b;
  else
    c->wq_head = b;
  c->wq_tail = b;
  c->queued += b->total;
  c->last_send_ms = uv_now(c->hub->loop);
  sh_conn_pump(c);
}

size_t sh_conn_backlog(const struct sh_conn *c)
{
  size_t n = c->queued;
  if (c->cur)
    n += c->cur->bytes + c->cur->small.len;
  return n;
}
