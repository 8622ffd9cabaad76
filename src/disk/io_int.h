/* Inside the disk jobs: the disk itself, shared by io.c (the read cache,
 * reads, bookkeeping and close) and io_jobs.c (hash-then-write, the
 * start-up check, fsync). Private to those two files; the threads rule of
 * io.c holds for all of it. */
#ifndef SHOAL_DISK_IO_INT_H
#define SHOAL_DISK_IO_INT_H

#include <uv.h>

#include "disk/io.h"

struct hit;
struct check_job;

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

/* io.c: a job's callback has run (the disk may finish closing) */
void sh_disk_job_done(struct sh_disk *d);
/* io_jobs.c: stops the running start-up checks (on close) */
void sh_disk_cancel_checks(struct sh_disk *d);

#endif
