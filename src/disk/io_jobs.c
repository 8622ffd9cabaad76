/* Disk jobs on the libuv thread pool other than reads: hash-then-write of
 * downloaded pieces, the start-up check, and fsync (io.c has the read
 * cache and the rules on threads). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/sha1.h"
#include "base/sha1_mb.h"
#include "disk/io_int.h"

/* ---- hash + write ------------------------------------------------------ */

/* One pool job hashes a group of completed pieces and writes those that
 * match. A group is hashed with multi-buffer SHA-1 when it is large enough
 * to pay: on the reference VM one 1 MiB piece takes 0.45 ms with OpenSSL
 * (SHA-NI) while AVX-512 hashes up to 16 pieces side by side in 2.5 ms, so
 * the multi-buffer pass wins from about 6 pieces on.
 *
 * With O_DIRECT the verified pieces are then written by one pool job each
 * (split_writes): a synchronous 1 MiB direct write waits about a
 * millisecond for the device, so sixteen in a row held the group's buffers
 * for 20 ms, and with both hash jobs writing the leecher ran out of piece
 * buffers and stopped asking for blocks (both ends idle a third of the
 * time on loopback). One job a piece frees each buffer as soon as its piece
 * is on disk, and lets the pool's threads write side by side. Buffered
 * writes stay in the group's job: through the page cache, writers of one
 * file only spin on its inode lock. */
#define MB_MIN_GROUP 6

struct write_job {
  uv_work_t req;
  struct sh_disk *d;
  unsigned n;
  int split_writes;          /* hash only; write each match in a piece_job */
  uint32_t piece[SH_DISK_HASH_GROUP];
  uint8_t *buf[SH_DISK_HASH_GROUP];
  int rc[SH_DISK_HASH_GROUP];
  size_t bad_file[SH_DISK_HASH_GROUP];
  sh_disk_write_cb cb;
  void *ud;
};

/* The write of one verified piece (split_writes). */
struct piece_job {
  uv_work_t req;
  struct sh_disk *d;
  uint32_t piece;
  uint8_t *buf;
  int rc;
  size_t bad_file;
  sh_disk_write_cb cb;
  void *ud;
};

static void write_work(uv_work_t *req)
{
  struct write_job *j = req->data;
  const struct sh_metainfo *m = j->d->m;
  uint8_t md[SH_DISK_HASH_GROUP][SH_SHA1_LEN];
  /* Hash the buffers we already hold: re-reading from disk after the write
   * would double the I/O and could be fooled by the page cache anyway. */
  if (j->n >= MB_MIN_GROUP && sh_sha1_mb_lanes(SH_SHA1_MB_AUTO) >= MB_MIN_GROUP) {
    const uint8_t *msgs[SH_DISK_HASH_GROUP];
    size_t lens[SH_DISK_HASH_GROUP];
    for (unsigned i = 0; i < j->n; i++) {
      msgs[i] = j->buf[i];
      lens[i] = sh_piece_size(m, j->piece[i]);
    }
    sh_sha1_mb(msgs, lens, j->n, md);
  } else {
    for (unsigned i = 0; i < j->n; i++)
      sh_sha1(j->buf[i], sh_piece_size(m, j->piece[i]), md[i]);
  }
  for (unsigned i = 0; i < j->n; i++) {
    if (memcmp(md[i], m->piece_hashes + (size_t)j->piece[i] * SH_SHA1_LEN, SH_SHA1_LEN))
      j->rc[i] = SH_EHASH;
    else if (j->split_writes)
      j->rc[i] = 0; /* written by its own piece_job */
    else
      j->rc[i] = sh_storage_write_piece(j->d->st, j->piece[i], j->buf[i], &j->bad_file[i]);
  }
}

static void piece_work(uv_work_t *req)
{
  struct piece_job *j = req->data;
  j->rc = sh_storage_write_piece(j->d->st, j->piece, j->buf, &j->bad_file);
}

static void write_done(struct sh_disk *d, int rc)
{
  if (rc == 0)
    d->stats.pieces_written++;
  else if (rc == SH_EHASH)
    d->stats.hash_failures++;
}

static void piece_after(uv_work_t *req, int status)
{
  struct piece_job *j = req->data;
  struct sh_disk *d = j->d;
  int rc = status < 0 ? status : j->rc;
  write_done(d, rc);
  j->cb(j->ud, j->piece, rc, j->bad_file, j->buf);
  free(j);
  sh_disk_job_done(d);
}

/* Queues the write of a verified piece; 0, or a negative code (then the
 * caller reports the piece). Runs even while the disk closes: the piece is
 * verified, and close waits for it. */
static int queue_piece_write(struct write_job *g, unsigned i)
{
  struct piece_job *j = malloc(sizeof *j);
  if (!j)
    return -ENOMEM;
  *j = (struct piece_job){.d = g->d, .piece = g->piece[i], .buf = g->buf[i],
                          .bad_file = (size_t)-1, .cb = g->cb, .ud = g->ud};
  j->req.data = j;
  int rc = uv_queue_work(g->d->loop, &j->req, piece_work, piece_after);
  if (rc < 0) {
    free(j);
    return rc;
  }
  g->d->inflight++;
  return 0;
}

static void write_after(uv_work_t *req, int status)
{
  struct write_job *j = req->data;
  struct sh_disk *d = j->d;
  /* writes first, so a callback's new jobs queue behind them */
  int queued[SH_DISK_HASH_GROUP] = {0};
  for (unsigned i = 0; i < j->n && j->split_writes && status >= 0; i++)
    if (j->rc[i] == 0 && (j->rc[i] = queue_piece_write(j, i)) == 0)
      queued[i] = 1; /* its piece_job reports it */
  for (unsigned i = 0; i < j->n; i++) {
    if (queued[i])
      continue;
    int rc = status < 0 ? status : j->rc[i];
    write_done(d, rc);
    j->cb(j->ud, j->piece[i], rc, j->bad_file[i], j->buf[i]);
  }
  free(j);
  sh_disk_job_done(d);
}

int sh_disk_hash_write_group(struct sh_disk *d, unsigned n, const uint32_t *piece, uint8_t **buf,
                             sh_disk_write_cb cb, void *ud)
{
  if (d->closing)
    return -ECANCELED;
  if (!n || n > SH_DISK_HASH_GROUP || !cb)
    return -EINVAL;
  for (unsigned i = 0; i < n; i++)
    if (piece[i] >= d->m->num_pieces || !buf[i])
      return -EINVAL;
  struct write_job *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  j->d = d;
  j->n = n;
  j->split_writes = sh_storage_is_direct(d->st);
  j->cb = cb;
  j->ud = ud;
  for (unsigned i = 0; i < n; i++) {
    j->piece[i] = piece[i];
    j->buf[i] = buf[i];
    j->bad_file[i] = (size_t)-1;
  }
  j->req.data = j;
  int rc = uv_queue_work(d->loop, &j->req, write_work, write_after);
  if (rc < 0) {
    free(j);
    return rc;
  }
  d->inflight++;
  return 0;
}

int sh_disk_hash_write(struct sh_disk *d, uint32_t piece, uint8_t *buf, sh_disk_write_cb cb,
                       void *ud)
{
  return sh_disk_hash_write_group(d, 1, &piece, &buf, cb, ud);
}

/* ---- the start-up check ------------------------------------------------ */


static void check_progress_worker(void *ud, uint32_t done, uint32_t total, uint64_t bytes)
{
  struct check_job *j = ud;
  atomic_store(&j->total, total);
  atomic_store(&j->done, done);
  /* uv_async_send coalesces: many calls before the loop wakes cost one
   * callback, so the loop sees at most one progress call per turn. */
  uv_async_send(&j->async);
}

static void check_relay(struct check_job *j)
{
  uint32_t done = (uint32_t)atomic_load(&j->done);
  uint32_t total = (uint32_t)atomic_load(&j->total);
  if (j->progress && done != j->relayed) {
    j->relayed = done;
    j->progress(j->ud, done, total);
  }
}

static void check_on_async(uv_async_t *a) { check_relay(a->data); }

static void check_work(uv_work_t *req)
{
  struct check_job *j = req->data;
  struct sh_check_opts o = {.threads = j->threads, .progress = check_progress_worker, .ud = j,
                            .cancel = &j->cancel};
  j->rc = sh_check_run(j->d->m, j->d->st, j->state, &o);
}

static void check_closed(uv_handle_t *h)
{
  struct check_job *j = h->data;
  struct sh_disk *d = j->d;
  free(j);
  sh_disk_job_done(d);
}

static void check_unlink(struct check_job *j)
{
  struct check_job **pp = &j->d->checks;
  while (*pp && *pp != j)
    pp = &(*pp)->next;
  if (*pp)
    *pp = j->next;
}

static void check_after(uv_work_t *req, int status)
{
  struct check_job *j = req->data;
  check_unlink(j);
  int rc = status < 0 ? status : j->rc;
  if (j->cancel && rc == SH_ETIMEOUT)
    rc = -ECANCELED;
  if (rc == 0)
    check_relay(j); /* the last update may still be queued in the async */
  j->cb(j->ud, rc, j->state);
  /* the job (and the disk's close) waits for the async handle to close */
  uv_close((uv_handle_t *)&j->async, check_closed);
}

int sh_disk_check(struct sh_disk *d, int threads, uint8_t *state,
                  void (*progress)(void *ud, uint32_t done, uint32_t total),
                  sh_disk_check_cb cb, void *ud)
{
  if (d->closing)
    return -ECANCELED;
  if (!state || !cb)
    return -EINVAL;
  struct check_job *j = calloc(1, sizeof *j);
  if (!j)
    return -ENOMEM;
  j->d = d;
  j->state = state;
  j->threads = threads;
  j->progress = progress;
  j->cb = cb;
  j->ud = ud;
  atomic_init(&j->done, 0);
  atomic_init(&j->total, d->m->num_pieces);
  int rc = uv_async_init(d->loop, &j->async, check_on_async);
  if (rc < 0) {
    free(j);
    return rc;
  }
  j->async.data = j;
  j->req.data = j;
  rc = uv_queue_work(d->loop, &j->req, check_work, check_after);
  d->inflight++; /* until check_closed, on either path */
  if (rc < 0) {
    /* the callback is never called; the handle still needs its close */
    uv_close((uv_handle_t *)&j->async, check_closed);
    return rc;
  }
  j->next = d->checks;
  d->checks = j;
  return 0;
}

/* ---- flush ------------------------------------------------------------- */

struct flush_job {
  uv_work_t req;
  struct sh_disk *d;
  void (*cb)(void *ud, int rc);
  void *ud;
  int rc;
};

static void flush_work(uv_work_t *req)
{
  struct flush_job *j = req->data;
  j->rc = sh_storage_flush(j->d->st);
}

static void flush_after(uv_work_t *req, int status)
{
  struct flush_job *j = req->data;
  struct sh_disk *d = j->d;
  j->cb(j->ud, status < 0 ? status : j->rc);
  free(j);
  sh_disk_job_done(d);
}

int sh_disk_flush(struct sh_disk *d, void (*cb)(void *ud, int rc), void *ud)
{
  if (d->closing)
    return -ECANCELED;
  if (!cb)
    return -EINVAL;
  struct flush_job *j = malloc(sizeof *j);
  if (!j)
    return -ENOMEM;
  *j = (struct flush_job){.d = d, .cb = cb, .ud = ud};
  j->req.data = j;
  int rc = uv_queue_work(d->loop, &j->req, flush_work, flush_after);
  if (rc < 0) {
    free(j);
    return rc;
  }
  d->inflight++;
  return 0;
}
