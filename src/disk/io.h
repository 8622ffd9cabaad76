/* Asynchronous disk jobs for one torrent, run on the libuv thread pool so
 * the loop thread never waits on the disk (or on SHA-1).
 *
 * Ownership: the torrent creates one sh_disk over its storage and closes it
 * when it stops. Every job's callback runs on the loop thread exactly once,
 * even if the caller no longer cares (its peer left): the caller must keep
 * `ud` valid until then or use a token it can invalidate. If a submit call
 * returns an error, its callback is never called. */
#ifndef SHOAL_DISK_IO_H
#define SHOAL_DISK_IO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "disk/check.h"
#include "disk/storage.h"

struct sh_disk;
struct sh_disk_ref; /* a pinned cache entry; see sh_disk_read_block */

/* The read cache's budget, shared by every disk of a session: one LRU list
 * over all their entries, so a torrent being uploaded takes the memory an
 * idle one no longer uses. The caller embeds it (the session) and keeps it
 * until the last disk using it is closed. */
struct sh_disk_cache {
  size_t limit, used;                      /* bytes */
  struct sh_disk_ref *lru_head, *lru_tail; /* head = least recently used */
  int devnull; /* /dev/null for every disk's page-cache warming (one
                  descriptor, not one per torrent), opened by the first
                  sh_disk_new; -1 before, or when it failed */
};
static inline void sh_disk_cache_init(struct sh_disk_cache *c, size_t limit)
{
  c->limit = limit;
  c->used = 0;
  c->lru_head = c->lru_tail = NULL;
  c->devnull = -1;
}
/* Closes the cache's descriptor; call after the last disk using it closed. */
void sh_disk_cache_free(struct sh_disk_cache *c);

int sh_disk_new(uv_loop_t *loop, struct sh_storage *st, const struct sh_metainfo *m,
                struct sh_disk_cache *cache, struct sh_disk **out);
/* Waits (asynchronously) for jobs in flight, frees everything, then calls
 * done. No callbacks of pending jobs are lost: they run before done. A check
 * in progress is cancelled (its callback gets -ECANCELED) rather than waited
 * for, since it may have minutes left. Submissions after close return
 * -ECANCELED. Refs still held by callers stay valid after close: the entry
 * is freed by its last sh_disk_ref_release(). */
void sh_disk_close(struct sh_disk *d, void (*done)(void *ud), void *ud);

/* Hashes a complete piece held in buf (sh_piece_size bytes) and, only when
 * the hash matches, writes it to storage. rc: 0 written, SH_EHASH mismatch
 * (nothing written), -errno write failure (bad_file names the file). The
 * buffer is lent to the job and handed back in cb for reuse or free. */
typedef void (*sh_disk_write_cb)(void *ud, uint32_t piece, int rc, size_t bad_file, uint8_t *buf);
int sh_disk_hash_write(struct sh_disk *d, uint32_t piece, uint8_t *buf, sh_disk_write_cb cb,
                       void *ud);
/* The same for n (1..SH_DISK_HASH_GROUP) pieces in one pool job: large
 * groups are hashed side by side with multi-buffer SHA-1 (base/sha1_mb.h),
 * which costs a third of the CPU of one piece at a time. cb runs once per
 * piece: for a mismatch once the group is hashed, for a match once it is
 * written. With O_DIRECT each matching piece is written by a pool job of
 * its own, so those callbacks come in any order; through the page cache
 * the group's job writes them in order. On an error return no cb runs. */
#define SH_DISK_HASH_GROUP 16
int sh_disk_hash_write_group(struct sh_disk *d, unsigned n, const uint32_t *piece, uint8_t **buf,
                             sh_disk_write_cb cb, void *ud);

/* Reads a block for upload. Whole pieces are read and kept in a bounded LRU
 * cache (the shared sh_disk_cache), so the next blocks of the piece are served without
 * another read; concurrent requests for one piece share a single read. On
 * success data points into a cache entry pinned by ref: the caller keeps it
 * until its socket write completes, then calls sh_disk_ref_release(). On
 * failure data and ref are NULL. */
typedef void (*sh_disk_read_cb)(void *ud, int rc, const uint8_t *data, struct sh_disk_ref *ref);
int sh_disk_read_block(struct sh_disk *d, uint32_t piece, uint32_t begin, uint32_t len,
                       sh_disk_read_cb cb, void *ud);
void sh_disk_ref_release(struct sh_disk_ref *ref);

/* Like sh_disk_read_block, for uploads that can go out with sendfile: a
 * worker leases the piece's file descriptors and brings its pages into the
 * page cache, confirming with cachestat(2) that all are resident; the
 * callback then gets data NULL and a ref whose extents
 * (sh_disk_ref_extents) name the bytes on disk, pinned (descriptors open)
 * until released. Pieces spanning more than SH_DISK_MAX_EXTENTS files, or
 * whose pages cannot be confirmed resident, or after sh_disk_no_sendfile,
 * are read into memory as sh_disk_read_block does (data non-NULL). A memory
 * read (sh_disk_read_block) of a piece held for sendfile and in use gets
 * -EBUSY: use one of the two per disk. With sendfile 0 (an upload to a peer
 * on this host) new pieces are read into memory, but a piece held for
 * sendfile by another upload is shared (data NULL) rather than refused. */
#define SH_DISK_MAX_EXTENTS 4
int sh_disk_serve_block(struct sh_disk *d, uint32_t piece, uint32_t begin, uint32_t len,
                        int sendfile, sh_disk_read_cb cb, void *ud);
/* Where bytes [begin, begin+len) of a sendfile ref's piece lie: fills up to
 * max extents (fds borrowed from the ref; fd -1 = zeros) and returns their
 * count, or -EINVAL for a memory ref or a range outside the piece. */
int sh_disk_ref_extents(const struct sh_disk_ref *ref, uint32_t begin, uint32_t len,
                        struct sh_extent *out, int max);
/* From now on serve every new piece from memory (sendfile failed). */
void sh_disk_no_sendfile(struct sh_disk *d);

/* Checks existing data (the checker, in a worker) into state[num_pieces].
 * progress is called on the loop thread from time to time. */
typedef void (*sh_disk_check_cb)(void *ud, int rc, uint8_t *state);
int sh_disk_check(struct sh_disk *d, int threads, uint8_t *state,
                  void (*progress)(void *ud, uint32_t done, uint32_t total),
                  sh_disk_check_cb cb, void *ud);

/* fsyncs written files (sh_storage_flush) in a worker. */
int sh_disk_flush(struct sh_disk *d, void (*cb)(void *ud, int rc), void *ud);

/* Counters for status displays and tests (e.g. that N concurrent requests
 * for one piece cost one disk read). Loop thread only. */
struct sh_disk_stats {
  uint64_t disk_reads;     /* whole-piece reads issued to storage */
  uint64_t read_bytes;     /* bytes those reads asked for */
  uint64_t cache_hits;     /* requests served from a ready entry */
  uint64_t coalesced;      /* requests that joined a read already in flight */
  uint64_t pieces_written; /* hash_write jobs that matched and were written */
  uint64_t hash_failures;  /* hash_write jobs that did not match */
  uint64_t file_entries;   /* pieces made ready for sendfile */
  uint64_t file_fallbacks; /* pieces that could not be, read into memory */
  size_t cached_bytes;     /* memory held by cache entries, pinned included */
  size_t entries, pinned;  /* cache entries; those pinned by refs or a read */
  int jobs_in_flight;
};
void sh_disk_stats(const struct sh_disk *d, struct sh_disk_stats *out);

#endif
