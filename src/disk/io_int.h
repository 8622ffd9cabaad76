/* Inside the disk jobs: the disk itself, shared by io.c (the read cache,
 * reads, bookkeeping and close) and io_jobs.c (hash-then-write, the
 * start-up check, fsync). Private to those two files; the threads rule of
 * io.c holds for all of it. */
#ifndef SHOAL_DISK_IO_INT_H
#define SHOAL_DISK_IO_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "disk/io.h"

struct hit;

struct sh_disk {
  uv_loop_t *loop;
  struct sh_storage *st;
  const struct sh_metainfo *m;
  struct sh_disk_cache *cache;    /* the budget and LRU list shared by disks */
  size_t cached_bytes;            /* this disk's part of cache->used */
  struct sh_disk_ref **buckets;   /* power-of-two hash table by piece */
  size_t nbuckets, entries, pinned;
  struct hit *hits;
  size_t nhits, caphits;
  uv_idle_t idle;                 /* runs queued hits on the next loop turn */
  int devnull;                    /* sink that warms the page cache, or -1 */
  int no_sendfile;                /* serve from memory only */
  struct check_job *checks;       /* running checks, to cancel on close */
  int inflight;                   /* jobs whose callbacks have not yet run */
  int closing, finishing;
  void (*close_done)(void *ud);
  void *close_ud;
  struct sh_disk_stats stats;
};

/* A running start-up check (io_jobs.c); the disk's close sets cancel. */
struct check_job {
  uv_work_t req;
  uv_async_t async;       /* wakes the loop to relay progress */
  struct sh_disk *d;
  struct check_job *next; /* d->checks */
  uint8_t *state;
  int threads;
  void (*progress)(void *ud, uint32_t done, uint32_t total);
  sh_disk_check_cb cb;
  void *ud;
  atomic_uint_fast32_t done, total;
  uint32_t relayed;
  volatile int cancel;
  int rc;
};

/* io.c: a job's callback has run (the disk may finish closing) */
void sh_disk_job_done(struct sh_disk *d);

#endif
