/* Asynchronous disk jobs on the libuv thread pool: a read cache of whole
 * pieces for uploads here; hash-then-write of downloaded pieces, the
 * start-up check and fsync in io_jobs.c.
 *
 * Threads: every field of struct sh_disk and of the cache entries' headers is
 * touched only on the loop thread. A worker touches only its own job struct,
 * the bytes of the piece it reads or hashes, the storage (thread-safe across
 * pieces) and the metainfo (read-only). The hand-over is uv_queue_work's
 * after_work callback, which libuv runs on the loop thread.
 *
 * Why whole pieces in the cache: peers request 16 KiB blocks (BEP 3) in order
 * within a piece, so one read of a 1 MiB piece answers the next 63 requests
 * without touching the disk, and one large read is far cheaper than 64 small
 * ones. Entries never go stale: only verified pieces are ever read, and a
 * verified piece never changes. */
#include "disk/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "disk/io_int.h"

/* ---- the read cache ---------------------------------------------------- */

enum { ENTRY_LOADING = 0, ENTRY_READY = 1 };
/* What a ready entry holds: the piece's bytes, or leased descriptors of the
 * page-cache-resident files they lie in (served with sendfile). */
enum { KIND_MEM = 0, KIND_FILE = 1 };

struct waiter {
  uint32_t begin;
  sh_disk_read_cb cb;
  void *ud;
};

/* A cached piece; this is what a struct sh_disk_ref points to. Allocated with
 * its data in one block, owned by the disk's table until close; after close,
 * entries still pinned are orphaned (d == NULL) and freed by their last
 * release. */
struct sh_disk_ref {
  struct sh_disk *d;
  struct sh_disk_ref *hnext;      /* hash chain */
  struct sh_disk_ref *prev, *next; /* LRU list: only READY entries with pins == 0 */
  uint32_t piece, size;
  int state;
  int kind;                       /* KIND_*, final once READY */
  int may_file;                   /* loaded by sh_disk_serve_block */
  unsigned pins;                  /* refs handed out, +1 while loading */
  struct waiter *waiters;         /* LOADING: requests waiting for the read */
  size_t nwait, capwait;
  struct sh_extent ext[SH_DISK_MAX_EXTENTS]; /* KIND_FILE: the piece in order */
  int next_ext;
  uint8_t *data;                  /* KIND_MEM: the piece; inline or own_data */
  int own_data;                   /* data was allocated by the worker */
};

/* A request answered from a ready entry. Its callback still runs from the
 * loop, never from inside sh_disk_read_block, so callers need not be
 * reentrant; queued in one growable array so a hit allocates nothing. */
struct hit {
  struct sh_disk_ref *e;
  uint32_t begin;
  sh_disk_read_cb cb;
  void *ud;
};

static size_t bucket_of(const struct sh_disk *d, uint32_t piece)
{
  /* Fibonacci hashing spreads consecutive pieces over the table. */
  return (size_t)((piece * 2654435769u) & (uint32_t)(d->nbuckets - 1));
}

static struct sh_disk_ref *table_find(struct sh_disk *d, uint32_t piece)
{
  for (struct sh_disk_ref *e = d->buckets[bucket_of(d, piece)]; e; e = e->hnext)
    if (e->piece == piece)
      return e;
  return NULL;
}

static void table_remove(struct sh_disk *d, struct sh_disk_ref *e)
{
  struct sh_disk_ref **pp = &d->buckets[bucket_of(d, e->piece)];
  while (*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  d->entries--;
}

static void lru_unlink(struct sh_disk *d, struct sh_disk_ref *e)
{
  struct sh_disk_cache *c = d->cache;
  if (e->prev)
    e->prev->next = e->next;
  else
    c->lru_head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_append(struct sh_disk *d, struct sh_disk_ref *e)
{
  struct sh_disk_cache *c = d->cache;
  e->prev = c->lru_tail;
  e->next = NULL;
  if (c->lru_tail)
    c->lru_tail->next = e;
  else
    c->lru_head = e;
  c->lru_tail = e;
}

static void account(struct sh_disk *d, struct sh_disk_ref *e, int add)
{
  if (add) {
    d->cached_bytes += e->size;
    d->cache->used += e->size;
  } else {
    d->cached_bytes -= e->size;
    d->cache->used -= e->size;
  }
}

static void entry_free(struct sh_disk *d, struct sh_disk_ref *e)
{
  if (d)
    account(d, e, 0);
  sh_storage_lease_return(e->ext, e->next_ext);
  if (e->own_data)
    free(e->data);
  free(e->waiters);
  free(e);
}

/* Drops least recently used unpinned entries, of any disk sharing the
 * cache, until the cache fits its budget. Pinned entries are not in the
 * list, so they are never evicted; when everything is pinned the cache
 * stays over budget until releases. */
static void cache_trim(struct sh_disk *d)
{
  struct sh_disk_cache *c = d->cache;
  while (c->used > c->limit && c->lru_head) {
    struct sh_disk_ref *e = c->lru_head;
    struct sh_disk *owner = e->d;
    lru_unlink(owner, e);
    table_remove(owner, e);
    entry_free(owner, e);
  }
}

static void pin(struct sh_disk *d, struct sh_disk_ref *e)
{
  if (e->pins++ == 0) {
    lru_unlink(d, e);
    d->pinned++;
  }
}

void sh_disk_ref_release(struct sh_disk_ref *e)
{
  if (!e)
    return;
  struct sh_disk *d = e->d;
  if (--e->pins)
    return;
  if (!d) { /* orphaned by sh_disk_close */
    entry_free(NULL, e);
    return;
  }
  d->pinned--;
  lru_append(d, e);
  cache_trim(d);
}

/* ---- job bookkeeping and close ----------------------------------------- */

static void on_idle_closed(uv_handle_t *h)
{
  struct sh_disk *d = h->data;
  for (size_t b = 0; b < d->nbuckets; b++) {
    struct sh_disk_ref *e = d->buckets[b];
    while (e) {
      struct sh_disk_ref *next = e->hnext;
      account(d, e, 0); /* orphans no longer count against the budget */
      if (!e->pins)
        lru_unlink(d, e);
      if (e->pins) {
        e->d = NULL; /* a caller still holds data; its release frees it */
        e->hnext = NULL;
      } else {
        entry_free(NULL, e);
      }
      e = next;
    }
  }
  void (*done)(void *) = d->close_done;
  void *ud = d->close_ud;
  free(d->buckets);
  free(d->hits);
  free(d);
  if (done)
    done(ud);
}

static void maybe_finish(struct sh_disk *d)
{
  if (!d->closing || d->finishing || d->inflight || d->nhits)
    return;
  d->finishing = 1;
  uv_close((uv_handle_t *)&d->idle, on_idle_closed);
}

void sh_disk_job_done(struct sh_disk *d)
{
  d->inflight--;
  maybe_finish(d);
}

static void run_hits(uv_idle_t *h)
{
  struct sh_disk *d = h->data;
  /* Only the hits queued before this turn: a callback that asks again is
   * answered on the next turn, so a chatty caller cannot starve the loop. */
  size_t n = d->nhits;
  for (size_t i = 0; i < n; i++) {
    struct hit x = d->hits[i]; /* by value: callbacks may grow d->hits */
    x.cb(x.ud, 0, x.e->kind == KIND_MEM ? x.e->data + x.begin : NULL, x.e);
  }
  memmove(d->hits, d->hits + n, (d->nhits - n) * sizeof *d->hits);
  d->nhits -= n;
  if (!d->nhits) {
    uv_idle_stop(&d->idle);
    maybe_finish(d);
  }
}

int sh_disk_new(uv_loop_t *loop, struct sh_storage *st, const struct sh_metainfo *m,
                struct sh_disk_cache *cache, struct sh_disk **out)
{
  *out = NULL;
  struct sh_disk *d = calloc(1, sizeof *d);
  if (!d)
    return -ENOMEM;
  d->loop = loop;
  d->st = st;
  d->m = m;
  d->cache = cache;
  /* About two buckets per piece the budget holds, so chains stay short
   * even when pinned entries push the cache past its budget; but no more
   * than two per piece of the torrent, which is all it can fill: 10,000
   * small torrents each paid 32 KiB here for a 32 MiB budget. */
  size_t want = m->piece_length ? 2 * (cache->limit / m->piece_length) : 0;
  if (want > 2 * (size_t)m->num_pieces)
    want = 2 * (size_t)m->num_pieces;
  d->nbuckets = 4;
  while (d->nbuckets < want && d->nbuckets < ((size_t)1 << 20))
    d->nbuckets <<= 1;
  d->buckets = calloc(d->nbuckets, sizeof *d->buckets);
  if (!d->buckets) {
    free(d);
    return -ENOMEM;
  }
  int rc = uv_idle_init(loop, &d->idle);
  if (rc < 0) {
    free(d->buckets);
    free(d);
    return rc;
  }
  d->idle.data = d;
  /* Opened once per cache, not per job or per disk: workers splice pieces
   * into it. Without it every piece is served from memory. */
  if (cache->devnull < 0)
    cache->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  d->devnull = cache->devnull;
  *out = d;
  return 0;
}

void sh_disk_cache_free(struct sh_disk_cache *c)
{
  if (c->devnull >= 0)
    close(c->devnull);
  c->devnull = -1;
}

void sh_disk_close(struct sh_disk *d, void (*done)(void *ud), void *ud)
{
  if (d->closing)
    return;
  d->closing = 1;
  d->close_done = done;
  d->close_ud = ud;
  for (struct check_job *j = d->checks; j; j = j->next)
    j->cancel = 1; /* the checks see it between pieces */
  maybe_finish(d);
}

void sh_disk_stats(const struct sh_disk *d, struct sh_disk_stats *out)
{
  *out = d->stats;
  out->cached_bytes = d->cached_bytes;
  out->entries = d->entries;
  out->pinned = d->pinned;
  out->jobs_in_flight = d->inflight;
}

/* ---- reads ------------------------------------------------------------- */

struct read_job {
  uv_work_t req;
  struct sh_disk_ref *e;
  struct sh_storage *st;
  int devnull;            /* >= 0: try to serve the piece with sendfile */
  int rc;
  size_t bad_file;
  int warm_failed;        /* tried sendfile and fell back to memory */
};

#ifndef __NR_cachestat
#define __NR_cachestat 451 /* Linux 6.5, one number on every architecture */
#endif
struct cachestat_range_ { uint64_t off, len; };
struct cachestat_ { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

/* Brings an extent into the page cache and confirms it stays there, so the
 * loop thread's sendfile finds every page resident and never waits on the
 * disk. Splicing into /dev/null reads the pages (waiting until they are up
 * to date, as the loop must not) without copying them anywhere, unlike a
 * pread; cachestat(2) then counts the resident pages. Returns 0 when the
 * whole extent is cached. */
static int warm_extent(int devnull, const struct sh_extent *x)
{
  off_t off = (off_t)x->off;
  size_t left = x->len;
  while (left) {
    ssize_t n = sendfile(devnull, x->fd, &off, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? -errno : SH_EINCOMPLETE;
    left -= (size_t)n;
  }
  long pg = sysconf(_SC_PAGESIZE);
  uint64_t first = x->off / (uint64_t)pg, last = (x->off + x->len - 1) / (uint64_t)pg;
  struct cachestat_range_ r = {first * (uint64_t)pg, (last - first + 1) * (uint64_t)pg};
  struct cachestat_ cs;
  if (syscall(__NR_cachestat, x->fd, &r, &cs, 0) < 0)
    return errno == ENOSYS ? 0 : -errno; /* older kernel: the splice has to do */
  return cs.nr_cache >= last - first + 1 ? 0 : -EAGAIN;
}

static void read_work(uv_work_t *req)
{
  struct read_job *j = req->data;
  struct sh_disk_ref *e = j->e;
  if (j->devnull >= 0) {
    int n = sh_storage_lease(j->st, e->piece, 0, e->size, e->ext, SH_DISK_MAX_EXTENTS, NULL);
    int rc = n > 0 ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++)
      if (e->ext[i].fd >= 0)
        rc = warm_extent(j->devnull, &e->ext[i]);
    if (rc == 0) {
      e->next_ext = n;
      e->kind = KIND_FILE;
      j->rc = 0;
      return;
    }
    /* too many files, a missing one, a file system that cannot splice, or
     * memory too tight to keep the pages: the copy path below decides */
    if (n > 0)
      sh_storage_lease_return(e->ext, n);
    j->warm_failed = 1;
    e->data = malloc(e->size ? e->size : 1);
    if (!e->data) {
      j->rc = -ENOMEM;
      return;
    }
    e->own_data = 1;
  }
  e->kind = KIND_MEM;
  j->rc = sh_storage_read(j->st, e->piece, 0, e->data, e->size, &j->bad_file);
}

static void read_after(uv_work_t *req, int status)
{
  struct read_job *j = req->data;
  struct sh_disk_ref *e = j->e;
  struct sh_disk *d = e->d;
  int rc = status < 0 ? status : j->rc;
  if (rc == 0 && e->kind == KIND_FILE)
    d->stats.file_entries++;
  else if (j->warm_failed)
    d->stats.file_fallbacks++;
  free(j);
  /* Detach the waiters first: callbacks may ask for this piece again. */
  struct waiter *w = e->waiters;
  size_t n = e->nwait;
  e->waiters = NULL;
  e->nwait = e->capwait = 0;
  if (rc < 0) {
    table_remove(d, e);
    d->pinned--;
    entry_free(d, e);
    for (size_t i = 0; i < n; i++)
      w[i].cb(w[i].ud, rc, NULL, NULL);
  } else {
    e->state = ENTRY_READY;
    /* the loading pin becomes one pin per waiter, all taken before any
     * callback runs so an early release cannot evict the entry */
    e->pins = (unsigned)n;
    if (!n) {
      d->pinned--;
      lru_append(d, e);
    }
    for (size_t i = 0; i < n; i++)
      w[i].cb(w[i].ud, 0, e->kind == KIND_MEM ? e->data + w[i].begin : NULL, e);
    cache_trim(d);
  }
  free(w);
  sh_disk_job_done(d);
}

static int add_waiter(struct sh_disk_ref *e, uint32_t begin, sh_disk_read_cb cb, void *ud)
{
  if (e->nwait == e->capwait) {
    size_t cap = e->capwait ? 2 * e->capwait : 4;
    struct waiter *w = realloc(e->waiters, cap * sizeof *w);
    if (!w)
      return -ENOMEM;
    e->waiters = w;
    e->capwait = cap;
  }
  e->waiters[e->nwait++] = (struct waiter){begin, cb, ud};
  return 0;
}

/* may_file: a new entry may be kept for sendfile. share_file: an entry
 * already kept for sendfile and in use answers with its extents (data NULL)
 * rather than -EBUSY. */
static int read_block(struct sh_disk *d, uint32_t piece, uint32_t begin, uint32_t len,
                      sh_disk_read_cb cb, void *ud, int may_file, int share_file)
{
  if (d->closing)
    return -ECANCELED;
  if (piece >= d->m->num_pieces || !cb)
    return -EINVAL;
  uint32_t size = sh_piece_size(d->m, piece);
  if (len == 0 || begin >= size || len > size - begin)
    return -EINVAL;

  struct sh_disk_ref *e = table_find(d, piece);
  if (e && !may_file && (e->state == ENTRY_READY ? e->kind == KIND_FILE : e->may_file)) {
    /* a memory read meets a piece kept for sendfile: an idle entry makes
     * way; one in use cannot lend bytes it does not hold, but can share its
     * extents with an upload */
    if (e->state == ENTRY_LOADING || e->pins) {
      if (!share_file)
        return -EBUSY;
    } else {
      lru_unlink(d, e);
      table_remove(d, e);
      entry_free(d, e);
      e = NULL;
    }
  }
  if (e && e->state == ENTRY_READY) {
    if (d->nhits == d->caphits) {
      size_t cap = d->caphits ? 2 * d->caphits : 64;
      struct hit *h = realloc(d->hits, cap * sizeof *h);
      if (!h)
        return -ENOMEM;
      d->hits = h;
      d->caphits = cap;
    }
    pin(d, e);
    d->hits[d->nhits++] = (struct hit){e, begin, cb, ud};
    if (d->nhits == 1)
      uv_idle_start(&d->idle, run_hits);
    d->stats.cache_hits++;
    return 0;
  }
  if (e) { /* LOADING: join the read in flight */
    int rc = add_waiter(e, begin, cb, ud);
    if (rc == 0)
      d->stats.coalesced++;
    return rc;
  }

  /* a piece that may go out with sendfile gets its memory only if the
   * worker falls back to reading it */
  e = malloc(sizeof *e + (may_file ? 0 : size));
  struct read_job *j = malloc(sizeof *j);
  if (!e || !j) {
    free(e);
    free(j);
    return -ENOMEM;
  }
  *e = (struct sh_disk_ref){.d = d, .piece = piece, .size = size, .state = ENTRY_LOADING,
                            .pins = 1, .may_file = may_file};
  if (!may_file)
    e->data = (uint8_t *)(e + 1);
  if (add_waiter(e, begin, cb, ud) < 0) {
    free(e);
    free(j);
    return -ENOMEM;
  }
  *j = (struct read_job){.e = e, .st = d->st, .devnull = may_file ? d->devnull : -1,
                         .bad_file = (size_t)-1};
  j->req.data = j;
  int rc = uv_queue_work(d->loop, &j->req, read_work, read_after);
  if (rc < 0) {
    free(e->waiters);
    free(e);
    free(j);
    return rc;
  }
  size_t b = bucket_of(d, piece);
  e->hnext = d->buckets[b];
  d->buckets[b] = e;
  d->entries++;
  d->pinned++;
  d->cached_bytes += size;
  d->cache->used += size;
  d->inflight++;
  d->stats.disk_reads++;
  d->stats.read_bytes += size;
  cache_trim(d); /* the new entry may push older unpinned ones out */
  return 0;
}

int sh_disk_read_block(struct sh_disk *d, uint32_t piece, uint32_t begin, uint32_t len,
                       sh_disk_read_cb cb, void *ud)
{
  return read_block(d, piece, begin, len, cb, ud, 0, 0);
}

int sh_disk_serve_block(struct sh_disk *d, uint32_t piece, uint32_t begin, uint32_t len,
                        int sendfile, sh_disk_read_cb cb, void *ud)
{
  if (!sendfile)
    return read_block(d, piece, begin, len, cb, ud, 0, 1);
  int may_file = !d->no_sendfile && d->devnull >= 0;
  return read_block(d, piece, begin, len, cb, ud, may_file, may_file);
}

void sh_disk_no_sendfile(struct sh_disk *d) { d->no_sendfile = 1; }

int sh_disk_ref_extents(const struct sh_disk_ref *ref, uint32_t begin, uint32_t len,
                        struct sh_extent *out, int max)
{
  if (ref->kind != KIND_FILE || (uint64_t)begin + len > ref->size)
    return -EINVAL;
  int n = 0;
  uint32_t pos = 0, end = begin + len;
  for (int i = 0; i < ref->next_ext && begin < end; i++) {
    const struct sh_extent *x = &ref->ext[i];
    uint32_t xend = pos + x->len;
    if (xend > begin) {
      if (n == max)
        return -E2BIG;
      uint32_t take = (xend < end ? xend : end) - begin;
      out[n++] = (struct sh_extent){x->fd, x->fd >= 0 ? x->off + (begin - pos) : 0, take};
      begin += take;
    }
    pos = xend;
  }
  return n;
}
