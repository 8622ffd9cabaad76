/* The checker: threads pull piece indices from one atomic counter, so the
 * work balances itself however uneven the disk is. Each thread collects a
 * group of sh_sha1_mb_lanes() pieces (16 with AVX-512, base/sha1_mb.h),
 * reads them slice by slice and hashes the group's slices together with
 * multi-buffer SHA-1: one SHA-1 stream per core runs at ~2.2 GB/s here,
 * sixteen in the lanes of AVX-512 at ~6.6 GB/s.
 *
 * Memory: 1 MiB of slice buffers per thread (sh_sha1_mb_slice_len) whatever
 * the lane count or piece length (16 lanes x 64 KiB; 256 KiB for one lane),
 * so a group's slices are still in the 2 MiB L2 when the hash reads them
 * back; the copy out of the page cache then costs one cheap pass.
 *
 * Why slices rather than mmap or O_DIRECT (measured before multi-buffer, per
 * GiB of warm, cached 1 MiB pieces, one thread, CPU seconds): SHA-1 alone
 * 0.50-0.54; pread slices of 16 KiB to 512 KiB 0.67-0.72; mmap of each
 * piece with MAP_POPULATE 1.03, mmap of 16-128 MiB windows 0.96-1.07
 * (page-table set-up costs more than the copy on this VM); O_DIRECT reads
 * cost only 0.03 CPU s but the device gave 0.8-1.4 GB/s per stream, far
 * below what the hash consumes. So the copy stays.
 *
 * Result (bench/create.sh, 2 GiB warm, 1 MiB pieces, 2 threads, median of
 * 5): verify 3.32 GB/s = 80 % of `openssl speed -multi 2 sha1` (4.15 GB/s)
 * with one OpenSSL stream per thread; 7.14 GB/s = 173 % of it (4.14 GB/s in
 * the same minute) with AVX-512 multi-buffer. */
#include "disk/check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bitfield.h"
#include "base/error.h"
#include "base/sha1.h"
#include "base/sha1_mb.h"

#define CHECK_MAX_THREADS 64

struct job {
  const struct sh_metainfo *m;
  struct sh_storage *s;
  uint8_t *state;
  const struct sh_check_opts *o;
  const uint8_t *absent; /* pieces whose files are missing or short, or NULL */
  unsigned lanes;  /* pieces hashed together */
  uint32_t chunk;  /* slice length, a multiple of 64 */
  atomic_uint next;
  atomic_int stop;
  pthread_mutex_t mu; /* serialises progress calls and their counters */
  uint32_t done, total;
  uint64_t bytes;
  int err;
};

/* Hashes pieces p[0..k) together: slice `off` of every piece still going is
 * read, then all full slices go through one multi-buffer update. A piece's
 * last slice (any length) is kept in its buffer as the lane's tail for the
 * final call; a piece that cannot be read drops out as missing. */
static void check_group(struct job *j, const uint32_t *p, unsigned k, uint8_t *buf,
                        struct sh_sha1_mb *c)
{
  enum { GOING, TAIL, FAILED } st[SH_SHA1_MB_MAX];
  uint32_t size[SH_SHA1_MB_MAX], maxsize = 0;
  /* lanes k.. of the context stay idle: NULL updates, empty tails */
  const uint8_t *up[SH_SHA1_MB_MAX] = {0}, *tail[SH_SHA1_MB_MAX] = {0};
  size_t tl[SH_SHA1_MB_MAX] = {0};
  for (unsigned i = 0; i < k; i++) {
    st[i] = GOING;
    size[i] = sh_piece_size(j->m, p[i]);
    maxsize = size[i] > maxsize ? size[i] : maxsize;
    tail[i] = buf + (size_t)i * j->chunk;
    tl[i] = 0;
  }
  for (uint32_t off = 0; off < maxsize; off += j->chunk) {
    int any = 0;
    for (unsigned i = 0; i < k; i++) {
      up[i] = NULL;
      if (st[i] != GOING)
        continue;
      uint32_t n = size[i] - off < j->chunk ? size[i] - off : j->chunk;
      uint8_t *b = buf + (size_t)i * j->chunk;
      /* missing, short, unreadable: all mean the data is not there */
      if (sh_storage_read(j->s, p[i], off, b, n, NULL)) {
        st[i] = FAILED;
        tl[i] = 0;
      } else if (size[i] - off > j->chunk) {
        up[i] = b;
        any = 1;
      } else {
        st[i] = TAIL;
        tl[i] = n;
      }
    }
    if (any)
      sh_sha1_mb_update(c, up, j->chunk);
  }
  uint8_t md[SH_SHA1_MB_MAX][SH_SHA1_LEN];
  sh_sha1_mb_final(c, tail, tl, md);
  for (unsigned i = 0; i < k; i++)
    j->state[p[i]] = st[i] == FAILED ? SH_PIECE_MISSING
                     : memcmp(md[i], j->m->piece_hashes + (size_t)p[i] * SH_SHA1_LEN, SH_SHA1_LEN)
                         ? SH_PIECE_CORRUPT
                         : SH_PIECE_OK;
}

static void *worker(void *arg)
{
  struct job *j = arg;
  uint8_t *buf = malloc((size_t)j->lanes * j->chunk);
  struct sh_sha1_mb c;
  int rc = buf ? sh_sha1_mb_init(&c, SH_SHA1_MB_AUTO, j->lanes) : -ENOMEM;
  if (rc) {
    pthread_mutex_lock(&j->mu);
    j->err = rc;
    pthread_mutex_unlock(&j->mu);
    atomic_store(&j->stop, 1);
  }
  while (!atomic_load(&j->stop)) {
    if (j->o && j->o->cancel && *j->o->cancel) {
      atomic_store(&j->stop, 1);
      break;
    }
    /* pieces one at a time from the shared counter, so threads stay
     * balanced and `only` never leaves a group short while pieces remain */
    uint32_t p[SH_SHA1_MB_MAX];
    unsigned k = 0;
    while (k < j->lanes) {
      uint32_t i = atomic_fetch_add(&j->next, 1);
      if (i >= j->m->num_pieces)
        break;
      if ((j->o && j->o->only && !sh_bf_get(j->o->only, i)) ||
          (j->absent && sh_bf_get(j->absent, i)))
        continue;
      p[k++] = i;
    }
    if (!k)
      break;
    check_group(j, p, k, buf, &c);
    if (j->o && j->o->progress) {
      pthread_mutex_lock(&j->mu);
      for (unsigned i = 0; i < k; i++) {
        j->done++;
        j->bytes += sh_piece_size(j->m, p[i]);
        j->o->progress(j->o->ud, j->done, j->total, j->bytes);
      }
      pthread_mutex_unlock(&j->mu);
    }
  }
  if (!rc)
    sh_sha1_mb_free(&c);
  free(buf);
  return NULL;
}

/* Pieces that cannot be there because a file they lie in is missing or
 * shorter than their part of it: one stat per file instead of an open per
 * piece, so checking a fresh download (nothing on disk yet) takes about no
 * time whatever its piece count (300 files, 2 GiB: 0.4 ms instead of
 * 4.3 ms). Returns a bitfield of them, counted in j->done and j->bytes as
 * checked, or NULL when there are none (or no memory: then every piece is
 * read, which is only slower). */
static uint8_t *absent_pieces(struct job *j)
{
  const struct sh_metainfo *m = j->m;
  const uint8_t *only = j->o ? j->o->only : NULL;
  uint64_t *size = malloc((m->num_files ? m->num_files : 1) * sizeof *size);
  if (!size)
    return NULL;
  int short_file = 0;
  sh_storage_file_sizes(j->s, size);
  for (size_t i = 0; i < m->num_files; i++) {
    const struct sh_file *f = &m->files[i];
    if ((f->attr & SH_FILE_PAD) || !f->length)
      size[i] = UINT64_MAX; /* never on disk, never needed */
    else
      short_file |= size[i] < f->length;
  }
  uint8_t *absent = short_file ? calloc(1, SH_BF_BYTES(m->num_pieces) + 1) : NULL;
  for (uint32_t p = 0; absent && p < m->num_pieces; p++) {
    if (only && !sh_bf_get(only, p))
      continue;
    uint64_t end = (uint64_t)p * m->piece_length + sh_piece_size(m, p);
    size_t first, last;
    sh_storage_piece_files(m, p, &first, &last);
    for (size_t i = first; i <= last; i++) {
      const struct sh_file *f = &m->files[i];
      /* bytes of file i up to the piece's end (every file in the range but
       * the empty ones, marked above, holds some of the piece) */
      uint64_t need = (f->offset + f->length < end ? f->offset + f->length : end) - f->offset;
      if (size[i] != UINT64_MAX && size[i] < need) {
        sh_bf_set(absent, p);
        j->done++;
        j->bytes += sh_piece_size(m, p);
        break;
      }
    }
  }
  free(size);
  return absent;
}

int sh_check_run(const struct sh_metainfo *m, struct sh_storage *s, uint8_t *state,
                 const struct sh_check_opts *opts)
{
  struct job j = {.m = m, .s = s, .state = state, .o = opts};
  j.lanes = sh_sha1_mb_lanes(SH_SHA1_MB_AUTO);
  j.chunk = sh_sha1_mb_slice_len(j.lanes);
  atomic_init(&j.next, 0);
  atomic_init(&j.stop, 0);
  pthread_mutex_init(&j.mu, NULL);
  /* pieces excluded by `only` keep whatever state the caller gave them;
   * the others start as missing so a cancelled run never reports OK */
  j.total = m->num_pieces;
  if (opts && opts->only)
    j.total = sh_bf_count(opts->only, m->num_pieces);
  for (uint32_t p = 0; p < m->num_pieces; p++)
    if (!opts || !opts->only || sh_bf_get(opts->only, p))
      state[p] = SH_PIECE_MISSING;
  uint8_t *absent = absent_pieces(&j);
  j.absent = absent;
  if (j.done && opts && opts->progress)
    opts->progress(opts->ud, j.done, j.total, j.bytes);

  long n = opts && opts->threads > 0 ? opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1)
    n = 1;
  if (n > CHECK_MAX_THREADS)
    n = CHECK_MAX_THREADS;
  if ((uint32_t)n > m->num_pieces)
    n = m->num_pieces ? m->num_pieces : 1;

  pthread_t tid[CHECK_MAX_THREADS];
  long started = 0;
  /* the calling thread is one of the workers: one fewer thread to create */
  for (long i = 1; i < n; i++) {
    if (pthread_create(&tid[started], NULL, worker, &j))
      break; /* fewer threads is slower, not wrong */
    started++;
  }
  worker(&j);
  for (long i = 0; i < started; i++)
    pthread_join(tid[i], NULL);
  pthread_mutex_destroy(&j.mu);
  free(absent);
  if (j.err)
    return j.err;
  if (atomic_load(&j.stop))
    return SH_ETIMEOUT; /* only cancellation sets stop without err */
  return 0;
}
